"""A dependency that cannot be reached is a 503 with Retry-After, not a 500 that reads as a bug."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from fastapi.testclient import TestClient
from redis.exceptions import ConnectionError as RedisConnectionError

from cortex.http.errors import install_error_handlers
from cortex.http.middleware import RequestContextMiddleware


def _app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)
    app.add_middleware(RequestContextMiddleware, max_body_bytes=1024)

    @app.get("/chroma-down")
    async def chroma_down() -> None:
        try:
            raise httpx.ConnectError("All connection attempts failed")
        except httpx.ConnectError as exc:
            raise RuntimeError("could not write the vectors") from exc

    @app.get("/redis-down")
    async def redis_down() -> None:
        raise RedisConnectionError("Connection refused")

    @app.get("/bug")
    async def bug() -> None:
        raise ValueError("a real bug")

    return app


def test_unreachable_dependencies_answer_503_with_retry_after_and_bugs_stay_500() -> None:
    client = TestClient(_app(), raise_server_exceptions=False)
    for path in ("/chroma-down", "/redis-down"):
        response = client.get(path)
        assert response.status_code == 503, path
        assert response.headers["retry-after"] == "5"
        assert response.json()["error"]["code"] == "unavailable"
        assert "Traceback" not in response.text
    bug = client.get("/bug")
    assert bug.status_code == 500 and bug.json()["error"]["code"] == "internal_error"
