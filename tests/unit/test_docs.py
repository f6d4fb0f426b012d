"""The docs stay true without a stack: every sample is marked, and what they name exists.

Running the samples is tests/integration/test_docs.py; here: markers, quoted excerpts, links,
the settings table, and every `CORTEX_*` variable, `cortex` command and endpoint they mention.
"""

from __future__ import annotations

import re

import pytest

from cortex import settings_doc
from cortex.cli import build_parser, summary
from cortex.demo import Demo
from cortex.routes import all_routes
from cortex.settings import APPLICATIONS, Settings
from tests.doc_samples import DOCS, ROOT, Sample, all_samples

SAMPLES = all_samples()
RUNNABLE_LANGUAGES = {"bash", "sh", "python"}
# Variables the docs name that are not settings: read by `cortex ingest`/`crawl`, and by the benchmarks.
OTHER_VARIABLES = {"CORTEX_API_KEY", "CORTEX_SHARED_DIR"}


def _text(path: object) -> str:
    return ROOT.joinpath(str(path)).read_text()


def _code(path: object) -> str:
    """Code blocks and inline code spans of a doc: where commands and endpoints are written."""
    text = _text(path)
    spans = re.findall(r"`([^`\n]+)`", text)
    blocks = [sample.code for sample in SAMPLES if sample.path == ROOT / str(path)]
    return "\n".join(spans + blocks)


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda sample: sample.id)
def test_every_code_block_in_the_docs_says_how_it_is_tested(sample: Sample) -> None:
    assert sample.action is not None, f"{sample.id}: add a <!-- doc-test: … --> marker before the block"
    if sample.action == "skip":
        assert len(sample.argument) >= 15, f"{sample.id}: say why it cannot run in the tests"
    if sample.action == "run":
        assert sample.language in RUNNABLE_LANGUAGES, f"{sample.id}: only bash and python blocks run"
    if sample.action == "snippet":
        assert sample.language == "html" and "<script" in sample.code


def test_quoted_excerpts_are_still_in_the_files_they_quote() -> None:
    excerpts = [sample for sample in SAMPLES if sample.action == "excerpt"]
    assert excerpts
    for sample in excerpts:
        source = (ROOT / sample.argument).read_text()
        assert sample.code in source, f"{sample.id}: no longer in {sample.argument}"


def test_the_first_run_output_in_the_quickstart_is_what_up_prints() -> None:
    (shown,) = [s for s in SAMPLES if s.path.name == "quickstart.md" and s.argument.startswith("sample output")]
    demo = Demo(
        workspace_id="w",
        owner_email="demo@cortex.local",
        bot_id="b",
        widget_key_id="k",
        public_key="pk_x",
        page_url="http://127.0.0.1:8000/demo",
        dashboard_url="http://127.0.0.1:8000/dashboard",
        password="3sV9…",
    )
    printed = summary("http://127.0.0.1:8000", "http://127.0.0.1:8265", demo)
    for line in shown.code.splitlines():
        if line.strip() != "…":
            assert line in printed, f"quickstart.md shows {line!r}, which `cortex up` does not print"


def test_every_setting_is_in_the_operators_table_and_the_table_is_current() -> None:
    committed = settings_doc.DOC.read_text()
    assert settings_doc.update(committed) == committed, "run: python -m cortex.settings_doc --write"
    for name in Settings.model_fields:
        assert f"`CORTEX_{name.upper()}`" in committed


def test_every_doc_is_linked_from_the_readme_and_relative_links_resolve() -> None:
    readme = _text("README.md")
    for path in DOCS[1:]:
        assert f"(docs/{path.name})" in readme, f"README.md does not link docs/{path.name}"
    for path in DOCS:
        for target in re.findall(r"\]\(([^)\s]+)\)", path.read_text()):
            if target.startswith(("http://", "https://", "#")):
                continue
            resolved = (path.parent / target.split("#")[0]).resolve()
            if not resolved.is_relative_to(ROOT.resolve()):
                continue  # outside the checkout (the shared design notes beside it): not ours to check
            assert resolved.exists(), f"{path.name}: broken link {target}"


def test_the_docs_name_only_settings_that_exist() -> None:
    known = {f"CORTEX_{name.upper()}" for name in Settings.model_fields} | OTHER_VARIABLES
    for path in DOCS:
        named = set(re.findall(r"\bCORTEX_[A-Z0-9_]*[A-Z0-9]", path.read_text()))
        assert not named - known, f"{path.name} names settings that do not exist: {sorted(named - known)}"


def test_the_docs_name_only_cortex_commands_that_exist() -> None:
    subparsers = next(a for a in build_parser()._actions if a.dest == "command")
    commands = set(subparsers.choices)  # type: ignore[arg-type]
    seen: set[str] = set()
    for path in DOCS:
        used = set(re.findall(r"(?:^|[\s/])cortex ([a-z][a-z-]*)", _code(path.relative_to(ROOT)), re.M))
        assert not used - commands, f"{path.name} uses unknown commands: {sorted(used - commands)}"
        seen |= used
    assert {"demo", "ingest", "crawl", "migrate", "status", "render-cluster"} <= seen


def _route_patterns() -> list[re.Pattern[str]]:
    patterns = []
    for route in all_routes():
        regex = re.sub(r"\{[^}:]+:path\}", ".+", route.path)
        regex = re.sub(r"\{[^}]+\}", "[^/]+", regex)
        patterns.append(re.compile(regex))
    return patterns


def test_the_docs_name_only_endpoints_that_exist() -> None:
    patterns = _route_patterns()
    prefixes = set(APPLICATIONS.values())
    found = 0
    for path in DOCS:
        code = _code(path.relative_to(ROOT))
        text = path.read_text()
        mentioned = set(re.findall(r"(?:GET|POST|PATCH|PUT|DELETE) (/[^\s`\"'),]*)", text))
        mentioned |= set(re.findall(r"http://127\.0\.0\.1:8000(/[^\s`\"'),]*)", text))
        mentioned |= set(re.findall(r"(?:^|\s)(/(?:api|v1)/[^\s`\"'),]*)", code, re.M))
        for endpoint in mentioned:
            endpoint = endpoint.split("?")[0].rstrip(".:")
            # Placeholders a reader fills in: {bot_id}, $BOT_ID, <id>.
            concrete = re.sub(r"\{[^}]*\}|\$[A-Z_]+|<[^>]*>", "x", endpoint)
            if concrete in prefixes or concrete.endswith(("/docs", "/openapi.json")):
                continue
            found += 1
            assert any(p.fullmatch(concrete) for p in patterns), f"{path.name}: no route {endpoint}"
    assert found > 20, "the walk must see the docs' endpoints"
