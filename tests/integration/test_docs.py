"""Every runnable sample of README.md and docs/*.md, run as written against the session's stack.

The docs are written for a newcomer's machine (`http://127.0.0.1:8000`, the Ray dashboard on
8265, a site at `https://www.example.com`); here those addresses become the test stack's and a
small local site's, and the variables the docs ask the reader to set (`CORTEX_API_KEY`, `BOT_ID`,
…) come from an account made for the purpose. Shell samples run in bash (`-eu -o pipefail`),
Python samples in this interpreter, both in a scratch copy of the checkout's layout. Which block
is run, and how, is said by its marker (tests/doc_samples.py); tests/unit/test_docs.py checks
that every block has one.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from cortex.settings import APPLICATIONS
from tests.doc_samples import ROOT, Sample, all_samples
from tests.pages import serve_pages
from tests.stack_fixtures import RunningStack

from .accounts import PASSWORD, register
from .chatting import eventually, make_bot

SAMPLES = all_samples()
RUN = [sample for sample in SAMPLES if sample.action == "run"]
SNIPPETS = [sample for sample in SAMPLES if sample.action == "snippet"]
# A crawl, a Ray job submitted by hand, an ingestion followed to the end: minutes on 2 busy cores.
SAMPLE_TIMEOUT_S = 900

SITE = {
    "/": b"<html><head><title>Northwind</title></head><body><h1>Northwind Coffee Roasters</h1>"
    b'<p>We roast every Tuesday in small batches.</p><a href="/shipping.html">Shipping</a></body></html>',
    "/shipping.html": b"<html><head><title>Shipping</title></head><body><h1>Shipping</h1>"
    b"<p>Orders ship on Wednesday, to the EU and the UK, in 3 to 5 days.</p></body></html>",
}


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    """A two-page website on 127.0.0.1, standing in for the docs' https://www.example.com."""
    with serve_pages(SITE) as origin:
        yield origin


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The checkout's layout (`.venv/`, `docs/`, …) in a scratch dir, so files a sample writes land there."""
    path = tmp_path_factory.mktemp("docs-samples")
    for entry in ROOT.iterdir():
        if entry.name == ".venv" or not entry.name.startswith("."):
            (path / entry.name).symlink_to(entry)
    return path


@pytest.fixture(scope="module")
async def doc_env(http: httpx.AsyncClient, running_stack: RunningStack, site: str) -> dict[str, str]:
    """What the docs ask the reader to set: a login, an access token, an admin API key, a bot, a file, a key."""
    owner = await register(http, workspace="Docs")
    # Extractive, as on a fresh `make run`: the stand-in endpoint's fixed answer is about a bakery,
    # so a model-written answer would cite nothing from the docs' file.
    bot = await make_bot(http, owner, name="Docs", llm={"backend": "extractive"})
    api_key = await http.post(
        "/api/auth/api-keys", json={"name": "docs", "permissions": ["manage"]}, headers=owner.headers
    )
    assert api_key.status_code == 201, api_key.text
    widget_key = await http.post(
        "/api/auth/widget-keys", json={"bot_id": bot["id"], "allowed_origins": [site]}, headers=owner.headers
    )
    assert widget_key.status_code == 201, widget_key.text
    upload = await http.post(
        "/api/knowledge/files",
        data={"bot_id": bot["id"]},
        files={"file": ("quickstart.md", (ROOT / "docs" / "quickstart.md").read_bytes(), "text/markdown")},
        headers=owner.headers,
    )
    assert upload.status_code == 202, upload.text
    source_id = upload.json()["id"]

    async def ready() -> bool:
        record = (await http.get(f"/api/knowledge/files/{source_id}", headers=owner.headers)).json()
        assert record["status"] not in ("failed", "cancelled"), record
        return record["status"] == "ready"

    await eventually(ready, within_s=SAMPLE_TIMEOUT_S, what="docs/quickstart.md to be indexed")
    return {
        **os.environ,
        "EMAIL": owner.email,
        "PASSWORD": PASSWORD,
        "ACCESS_TOKEN": owner.access_token,
        "CORTEX_API_KEY": api_key.json()["secret"],
        "BOT_ID": bot["id"],
        "SOURCE_ID": source_id,
        "PUBLIC_KEY": widget_key.json()["public_key"],
    }


def _localise(code: str, running_stack: RunningStack, site: str) -> str:
    """The newcomer's addresses in a sample, replaced by the test stack's and the local site's."""
    return (
        code.replace("http://127.0.0.1:8000", running_stack.url)
        .replace("http://127.0.0.1:8265", running_stack.stack.dashboard_url)
        .replace("https://www.example.com", site)
    )


@pytest.mark.parametrize("sample", RUN, ids=lambda sample: sample.id)
async def test_a_doc_sample_runs_as_written(
    sample: Sample, doc_env: dict[str, str], workdir: Path, running_stack: RunningStack, site: str
) -> None:
    code = _localise(sample.code, running_stack, site)
    if sample.language == "python":
        argv = [sys.executable, "-c", code]
    else:
        argv = ["bash", "-eu", "-o", "pipefail", "-c", code]
    result = await asyncio.to_thread(
        subprocess.run, argv, cwd=workdir, env=doc_env, capture_output=True, text=True, timeout=SAMPLE_TIMEOUT_S
    )
    output = result.stdout + result.stderr
    print(output[-2000:])  # shown by `pytest -rP`: what the reader would see
    assert result.returncode == 0, f"{sample.id} exited with {result.returncode}:\n{output[-3000:]}"
    assert sample.argument in output, f"{sample.id}: {sample.argument!r} not in its output:\n{output[-3000:]}"


@pytest.mark.parametrize("sample", SNIPPETS, ids=lambda sample: sample.id)
async def test_a_doc_snippet_loads_the_widget_loader(
    sample: Sample, http: httpx.AsyncClient, running_stack: RunningStack, site: str
) -> None:
    code = _localise(sample.code, running_stack, site)
    sources = re.findall(r'<script src="([^"]+)"', code)
    assert sources and 'data-bot-key="pk_' in code and " async" in code
    for source in sources:
        loader = await http.get(source)
        assert loader.status_code == 200 and loader.headers["content-type"].startswith("text/javascript")
        assert 'getAttribute("data-bot-key")' in loader.text


def test_the_cluster_manifest_the_operators_doc_applies_is_a_rayservice_of_every_application() -> None:
    # `kubectl apply -k cluster/base` needs a cluster; what it would apply is checked instead.
    cortex = Path(sys.executable).parent / "cortex"
    rendered = subprocess.run([str(cortex), "render-cluster"], capture_output=True, text=True, check=True, cwd=ROOT)
    manifest = yaml.safe_load(rendered.stdout)
    assert manifest["apiVersion"] == "ray.io/v1" and manifest["kind"] == "RayService"
    serve = yaml.safe_load(manifest["spec"]["serveConfigV2"])
    assert {app["name"] for app in serve["applications"]} == set(APPLICATIONS)
    head = manifest["spec"]["rayClusterConfig"]["headGroupSpec"]["template"]["spec"]["containers"][0]
    secrets = {var["valueFrom"]["secretKeyRef"]["key"] for var in head["env"] if "valueFrom" in var}
    # As docs/operators.md lists; the admin DSN (database-url) is in no pod.
    assert secrets == {"secret-key", "redis-url", "smtp-url", "llm-api-key", "oidc-providers"}
    kustomization = yaml.safe_load((ROOT / "cluster" / "base" / "kustomization.yaml").read_text())
    assert all((ROOT / "cluster" / "base" / resource).is_file() for resource in kustomization["resources"])
