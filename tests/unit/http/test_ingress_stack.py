"""The shared ingress middleware, exercised in-process (no stack needed)."""

from __future__ import annotations

import json

import httpx
import pytest
from fastapi import APIRouter
from pydantic import BaseModel, Field

from cortex.errors import Conflict, NotFound
from cortex.http import create_service_app
from cortex.settings import Settings


class Widget(BaseModel):
    name: str = Field(min_length=1)
    size: int


router = APIRouter()


@router.post("/widgets")
async def create_widget(widget: Widget) -> dict:
    return widget.model_dump()


@router.get("/missing")
async def missing() -> dict:
    raise NotFound("bot not found")


@router.get("/taken")
async def taken() -> dict:
    raise Conflict("name already taken")


@router.get("/boom")
async def boom() -> dict:
    raise RuntimeError("secret internal detail")


@router.post("/echo")
async def echo(body: dict) -> dict:
    return body


@pytest.fixture
def client() -> httpx.AsyncClient:
    settings = Settings(max_body_bytes=1000, cors_origins=["https://owner.example"])
    app = create_service_app("core", routers=[router], settings=settings)
    # raise_app_exceptions=False: see what a real client sees after the error handlers ran.
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://test")


async def test_validation_error_lists_field_paths(client: httpx.AsyncClient) -> None:
    response = await client.post("/widgets", json={"name": "", "size": "big"})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert {detail["field"] for detail in error["details"]} == {"body.name", "body.size"}
    assert error["request_id"] == response.headers["x-request-id"]


async def test_domain_errors_map_to_their_status(client: httpx.AsyncClient) -> None:
    missing = await client.get("/missing")
    assert missing.status_code == 404
    assert missing.json()["error"] == {
        "code": "not_found",
        "message": "bot not found",
        "request_id": missing.headers["x-request-id"],
    }
    assert (await client.get("/taken")).status_code == 409


async def test_unhandled_error_is_a_500_envelope_without_a_stack_trace(client: httpx.AsyncClient) -> None:
    response = await client.get("/boom")
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal_error"
    assert "secret internal detail" not in response.text
    assert "Traceback" not in response.text


async def test_unknown_route_and_method_use_the_envelope(client: httpx.AsyncClient) -> None:
    assert (await client.get("/nope")).json()["error"]["code"] == "not_found"
    wrong_method = await client.delete("/widgets")
    assert wrong_method.status_code == 405
    assert wrong_method.json()["error"]["code"] == "method_not_allowed"


async def test_malformed_json_is_a_422_not_a_500(client: httpx.AsyncClient) -> None:
    response = await client.post("/widgets", content=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 422


async def test_request_id_is_accepted_or_generated_and_echoed(client: httpx.AsyncClient) -> None:
    given = await client.get("/healthz", headers={"X-Request-ID": "trace-42"})
    assert given.headers["x-request-id"] == "trace-42"
    generated = await client.get("/healthz")
    assert len(generated.headers["x-request-id"]) == 32
    hostile = await client.get("/healthz", headers={"X-Request-ID": 'x" injected=1' + "a" * 300})
    assert hostile.headers["x-request-id"] != 'x" injected=1' + "a" * 300


async def test_body_over_the_limit_is_refused_with_413(client: httpx.AsyncClient) -> None:
    declared = await client.post("/echo", json={"text": "x" * 2000})
    assert declared.status_code == 413
    assert declared.json()["error"]["code"] == "payload_too_large"

    async def chunks():  # no Content-Length: the limit is enforced while reading
        for _ in range(5):
            yield b" " * 400

    streamed = await client.post("/echo", content=chunks(), headers={"content-type": "application/json"})
    assert streamed.status_code == 413
    small = await client.post("/echo", json={"text": "hi"})
    assert small.status_code == 200


async def test_cors_allows_only_configured_origins(client: httpx.AsyncClient) -> None:
    preflight = {"Access-Control-Request-Method": "POST"}
    allowed = await client.options("/widgets", headers={"Origin": "https://owner.example", **preflight})
    assert allowed.headers.get("access-control-allow-origin") == "https://owner.example"
    refused = await client.options("/widgets", headers={"Origin": "https://evil.example", **preflight})
    assert "access-control-allow-origin" not in refused.headers


async def test_log_lines_are_json_with_the_request_id(
    client: httpx.AsyncClient, capsys: pytest.CaptureFixture[str]
) -> None:
    await client.get("/boom", headers={"X-Request-ID": "log-me"})
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    assert any(line["request_id"] == "log-me" and line["level"] == "ERROR" for line in lines)
