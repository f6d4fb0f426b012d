"""The KubeRay manifests are valid against the CRD schemas and deploy what serve_config.yaml says."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from cortex.devtools.shared_data import SHARED
from cortex.secret_settings import is_secret_setting

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = SHARED / "schemas" / "kuberay"


def _rayservice() -> dict:
    return yaml.safe_load((ROOT / "cluster" / "base" / "rayservice.yaml").read_text())


def _containers() -> list[tuple[str, dict]]:
    """(group, container) for the head and every worker group."""
    cluster = _rayservice()["spec"]["rayClusterConfig"]
    groups = [("head", cluster["headGroupSpec"])] + [(g["groupName"], g) for g in cluster["workerGroupSpecs"]]
    return [(name, c) for name, group in groups for c in group["template"]["spec"]["containers"]]


def _secrets() -> dict[str, dict[str, str]]:
    """The Secrets the operator creates (cluster/secrets.example.yaml): name -> their keys."""
    documents = yaml.safe_load_all((ROOT / "cluster" / "secrets.example.yaml").read_text())
    return {d["metadata"]["name"]: {**d.get("data", {}), **d.get("stringData", {})} for d in documents if d}


@pytest.mark.skipif(not SCHEMAS.exists(), reason="shared/ schemas not beside the checkout")
def test_rayservice_is_valid_against_the_kuberay_crd() -> None:
    schema = json.loads((SCHEMAS / "rayservice_v1.json").read_text())
    jsonschema.validate(_rayservice(), schema)


def test_the_committed_manifest_is_the_rendered_one() -> None:
    from cortex.cluster import render_rayservice

    committed = (ROOT / "cluster" / "base" / "rayservice.yaml").read_text()
    assert committed == render_rayservice(), "run: cortex render-cluster > cluster/base/rayservice.yaml"


def test_rayservice_serves_the_same_applications_as_serve_config() -> None:
    local = yaml.safe_load((ROOT / "serve_config.yaml").read_text())
    cluster = yaml.safe_load(_rayservice()["spec"]["serveConfigV2"])
    assert cluster["applications"] == local["applications"]
    assert cluster["http_options"]["host"] == "0.0.0.0"
    ray_version = _rayservice()["spec"]["rayClusterConfig"]["rayVersion"]
    import ray

    assert ray_version == ray.__version__


def test_no_ray_pod_gets_the_admin_dsn_and_every_secret_comes_from_a_secret_key_the_secret_defines() -> None:
    secrets = _secrets()
    containers = _containers()
    assert {group for group, _ in containers} == {"head", "cpu"}
    for group, container in containers:
        env = {variable["name"]: variable for variable in container["env"]}
        # Migrations run outside the cluster (`cortex migrate`): no Ray pod holds the admin DSN.
        assert "CORTEX_DATABASE_URL" not in env, group
        assert not any(ref["key"] == "database-url" for ref in _secret_refs(container)), group
        assert "CORTEX_SERVICES_DATABASE_URL" in env and "@" not in env["CORTEX_SERVICES_DATABASE_URL"]["value"]
        for name, variable in env.items():
            if is_secret_setting(name):
                assert "value" not in variable, f"{group}: {name} is written into the manifest"
        for ref in _secret_refs(container):
            assert ref["name"] in secrets, f"{group}: no Secret {ref['name']}"
            assert ref["key"] in secrets[ref["name"]], f"{group}: Secret {ref['name']} has no key {ref['key']}"
        # What the replicas need, each value from the Secret: the root secret and the stores' passwords.
        for name in ("CORTEX_SECRET_KEY", "CORTEX_REDIS_URL", "CORTEX_SMTP_URL"):
            assert env[name]["valueFrom"]["secretKeyRef"].get("optional") is not True, (group, name)
    # Nothing the pods read is missing from the Secret, and the Secret holds nothing they do not read.
    read = {(ref["name"], ref["key"]) for _, container in containers for ref in _secret_refs(container)}
    assert read == {(name, key) for name, keys in secrets.items() for key in keys}


def test_rays_job_api_in_the_cluster_asks_for_kuberays_token() -> None:
    assert _rayservice()["spec"]["rayClusterConfig"]["authOptions"] == {"mode": "token"}


def _secret_refs(container: dict) -> list[dict]:
    return [
        variable["valueFrom"]["secretKeyRef"]
        for variable in container.get("env", [])
        if "secretKeyRef" in variable.get("valueFrom", {})
    ]
