"""The nine Serve applications answer through one gateway (Serve's HAProxy ingress)."""

from __future__ import annotations

import httpx
import pytest

from cortex.settings import APPLICATIONS
from tests.stack_fixtures import RunningStack

PREFIXES = {app: ("" if prefix == "/" else prefix) for app, prefix in APPLICATIONS.items()}


@pytest.mark.parametrize("app", list(APPLICATIONS))
async def test_every_application_is_live_ready_and_documented(http: httpx.AsyncClient, app: str) -> None:
    prefix = PREFIXES[app]
    health = await http.get(f"{prefix}/healthz")
    assert health.status_code == 200
    assert health.json() == {"status": "ok", "service": app}

    ready = await http.get(f"{prefix}/readyz")
    assert ready.status_code == 200, ready.text
    checks = ready.json()["checks"]
    assert set(checks.values()) == {"ok"}
    assert "redis" in checks
    assert ("postgres" in checks) == (app != "widget"), "openai works in core's schema, so it checks Postgres"

    docs = await http.get(f"{prefix}/docs")
    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()
    spec = (await http.get(f"{prefix}/openapi.json")).json()
    assert spec["info"]["title"] == f"Cortex {app}"


async def test_knowledge_readiness_covers_chroma(http: httpx.AsyncClient) -> None:
    checks = (await http.get("/api/knowledge/readyz")).json()["checks"]
    assert checks["chroma"] == "ok"


@pytest.mark.parametrize("app", ["core", "openai"])
async def test_chat_readiness_covers_knowledge_the_helper_and_the_scheduler(http: httpx.AsyncClient, app: str) -> None:
    """An operator sees a knowledge, helper or workflows outage in chat's /readyz (where it shows as
    `degraded`, still 200, since chat answers without them): here all three answer."""
    ready = await http.get(f"{PREFIXES[app]}/readyz")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"
    assert ready.json()["checks"]["knowledge"] == "ok"
    assert ready.json()["checks"]["helper"] == "ok"
    assert ready.json()["checks"]["workflows"] == "ok"


async def test_unknown_route_gets_the_json_error_envelope_with_our_request_id(http: httpx.AsyncClient) -> None:
    response = await http.get("/api/no-such-thing", headers={"X-Request-ID": "gw-test-1"})
    assert response.status_code == 404
    assert response.json() == {"error": {"code": "not_found", "message": "Not Found", "request_id": "gw-test-1"}}
    assert response.headers["x-request-id"] == "gw-test-1"


async def test_a_request_without_an_id_gets_one_that_matches_the_error_body(http: httpx.AsyncClient) -> None:
    response = await http.get("/api/auth/missing")
    request_id = response.headers["x-request-id"]
    assert request_id
    assert response.json()["error"]["request_id"] == request_id


async def test_oversized_body_is_refused_before_it_reaches_a_route(http: httpx.AsyncClient) -> None:
    response = await http.post("/api/auth/healthz", content=b"x" * (11 * 1024 * 1024))
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


async def test_longest_prefix_routes_to_the_owning_application(http: httpx.AsyncClient) -> None:
    assert (await http.get("/api/langgraph/healthz")).json()["service"] == "workflows"
    assert (await http.get("/api/healthz")).json()["service"] == "core"
    assert (await http.get("/healthz")).json()["service"] == "widget"
    assert (await http.get("/v1/healthz")).json()["service"] == "openai"


async def test_a_client_cannot_steer_serves_timeout_or_disconnect_handling(
    http: httpx.AsyncClient, running_stack: RunningStack
) -> None:
    # Serve's replicas obey x-request-timeout-seconds (a tiny value fails the request, 0 switches
    # the timeout off) and x-request-disconnect-disabled: both meant for callers inside the cluster.
    # HAProxy takes them off every request that comes in (cortex/haproxy_guard.py).
    steering = {"x-request-timeout-seconds": "0.000001", "x-request-disconnect-disabled": "?1"}
    response = await http.get("/api/auth/readyz", headers=steering)
    assert response.status_code == 200, response.text
    configs = [path.read_text() for path in running_stack.stack.haproxy_dir.glob("**/haproxy.cfg")]
    assert configs and all(f"http-request del-header {h}" in c for h in steering for c in configs)
