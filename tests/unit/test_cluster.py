"""The KubeRay manifests are valid against the CRD schemas and deploy what serve_config.yaml says."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from cortex.devtools.shared_data import SHARED

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = SHARED / "schemas" / "kuberay"


def _rayservice() -> dict:
    return yaml.safe_load((ROOT / "cluster" / "base" / "rayservice.yaml").read_text())


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
