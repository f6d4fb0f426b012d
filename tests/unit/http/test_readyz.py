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


class _Redis:
    async def ping(self) -> bool:
        return True


async def _fine(resources: ServiceResources) -> object:
    return None


def _ready_app(tmp_path: Path, checks: list[Readiness]) -> TestClient:
    settings = Settings(home=tmp_path)
    app = create_service_app("widget", checks=checks, settings=settings)
    resources = ServiceResources("widget", settings)
    resources.redis = _Redis()  # type: ignore[assignment]
    app.state.resources = resources
    return TestClient(app)


def test_an_optional_dependency_down_leaves_the_replica_ready_and_says_degraded(tmp_path: Path) -> None:
    """A helper outage must not take chat out of rotation: chat answers without guidance. The
    operator still sees it in /readyz."""
    client = _ready_app(tmp_path, [Readiness("helper", _leaky_dependency, required=False), Readiness("model", _fine)])

    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.json() == {
        "status": "degraded",
        "service": "widget",
        "checks": {"redis": "ok", "helper": "unavailable", "model": "ok"},
        "degraded": ["helper"],
    }
    assert "hunter2" not in response.text


def test_a_required_dependency_down_is_not_ready_even_beside_an_optional_one(tmp_path: Path) -> None:
    client = _ready_app(tmp_path, [Readiness("helper", _fine, required=False), Readiness("model", _leaky_dependency)])

    response = client.get("/readyz")

    assert response.status_code == 503
    assert response.json()["error"]["details"]["checks"] == {"redis": "ok", "helper": "ok", "model": "unavailable"}


def test_every_dependency_up_is_ready(tmp_path: Path) -> None:
    response = _ready_app(tmp_path, [Readiness("helper", _fine, required=False)]).get("/readyz")

    assert response.status_code == 200
    assert response.json() == {"status": "ready", "service": "widget", "checks": {"redis": "ok", "helper": "ok"}}
