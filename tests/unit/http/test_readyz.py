"""/readyz is public: it names the dependency that is down, never the exception that said so."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from fastapi.testclient import TestClient

from cortex.http.app import Readiness, ServiceResources, create_service_app
from cortex.settings import Settings

LEAKY = "password authentication failed for user cortex_core at postgresql://cortex_core:hunter2@10.0.0.7:5432/cortex"


async def _leaky_dependency(resources: ServiceResources) -> object:
    raise RuntimeError(LEAKY)


async def _hanging_dependency(resources: ServiceResources) -> object:
    await asyncio.sleep(10)
    return None


def test_a_failing_dependency_is_named_with_a_generic_reason_and_its_text_only_logged(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    settings = Settings(home=tmp_path, redis_url="redis://127.0.0.1:1/0")
    app = create_service_app(
        "widget",
        checks=[Readiness("chroma", _leaky_dependency), Readiness("model", _hanging_dependency)],
        settings=settings,
    )
    resources = ServiceResources("widget", settings)
    # Nothing listens on port 1: the client's own error names the address it tried.
    resources.redis = aioredis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    app.state.resources = resources

    response = TestClient(app).get("/readyz")

    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "not_ready"
    assert error["details"]["checks"] == {"redis": "unavailable", "chroma": "unavailable", "model": "timed out"}
    assert error["message"] == "not ready: redis (unavailable), chroma (unavailable), model (timed out)"
    for secret in ("hunter2", "cortex_core", "10.0.0.7", "RuntimeError", "127.0.0.1:1", "Error"):
        assert secret not in response.text
    assert LEAKY in capsys.readouterr().err, "the operator still finds the reason in the replica's log"
