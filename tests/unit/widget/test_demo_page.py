"""`GET /demo`: the sample business page embeds the demo bot's key exactly as a customer would."""

from __future__ import annotations

import html
from types import SimpleNamespace

from fastapi.testclient import TestClient

from cortex.settings import Settings
from cortex.widget.api import create_app
from cortex.widget.demo_page import REDIS_KEY, embed_snippet


class FakeRedis:
    def __init__(self, values: dict[str, bytes]) -> None:
        self.values = values

    async def get(self, key: str) -> bytes | None:
        return self.values.get(key)


def _client(values: dict[str, bytes]) -> TestClient:
    app = create_app()
    # The page needs only Redis and the settings; no lifespan, so no real servers.
    settings = Settings(http_host="127.0.0.1", http_port=8000)
    app.state.resources = SimpleNamespace(redis=FakeRedis(values), settings=settings)
    return TestClient(app)


def test_the_demo_page_embeds_the_demo_key_with_the_one_line_loader() -> None:
    response = _client({REDIS_KEY: b"pk_demo123"}).get("/demo")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    tag = '<script src="http://127.0.0.1:8000/embed.js" data-bot-key="pk_demo123" async></script>'
    assert tag in response.text
    assert html.escape(tag) in response.text  # also shown to the reader as text
    assert "{{" not in response.text
    assert "script-src 'self' http://127.0.0.1:8000" in response.headers["content-security-policy"]


def test_a_hostile_key_in_redis_cannot_inject_markup() -> None:
    response = _client({REDIS_KEY: b'pk_x" onload="alert(1)'}).get("/demo")
    assert response.status_code == 200
    assert 'onload="alert(1)"' not in response.text
    assert "pk_x&quot; onload=&quot;alert(1)" in response.text
    assert embed_snippet("http://h:1", "<b>").count("<") == 2


def test_without_a_demo_the_page_says_how_to_make_one() -> None:
    response = _client({}).get("/demo")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "No demo yet" in response.text and "cortex demo" in response.text
