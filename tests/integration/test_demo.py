"""The demo `make run` opens, built on the session's stack through the same function `cortex up` calls.

Built once for the module (`reset=True`: from scratch even when the stack already has one), then
checked as a newcomer meets it: the demo page, the key's origins, the bot's answer to the first
suggested question, and a second run that changes nothing.
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import datetime, timedelta
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import httpx
import pytest
import redis.asyncio as aioredis

from cortex.demo import (
    FAQS,
    OWNER_EMAIL,
    SUGGESTED_QUESTIONS,
    Demo,
    demo_file,
    ensure_demo,
    local_time_zone,
    sections_of_docs,
)
from cortex.widget.demo_page import REDIS_KEY
from tests.stack_fixtures import RunningStack


@pytest.fixture(scope="module")
def built(demo_build: tuple[Demo, list[str]]) -> tuple[Demo, list[str]]:
    return demo_build


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


async def _owner_headers(http: httpx.AsyncClient, demo: Demo) -> dict[str, str]:
    response = await http.post("/api/auth/login", json={"email": OWNER_EMAIL, "password": demo.password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def test_the_demo_is_recorded_without_its_password_and_its_docs_are_indexed(
    built: tuple[Demo, list[str]], running_stack: RunningStack, redis_client: aioredis.Redis
) -> None:
    demo, lines = built
    assert demo.password and demo.page_url == running_stack.url + "/demo"
    assert demo.doc_sections == len(sections_of_docs())
    recorded = json.loads(demo_file(running_stack.settings).read_text())
    assert recorded == demo.record() and demo.password not in json.dumps(recorded)
    assert await redis_client.get(REDIS_KEY) == demo.public_key.encode()
    assert any("sections ready" in line for line in lines), lines


async def test_the_demo_page_embeds_the_widget_with_the_demo_key(
    built: tuple[Demo, list[str]], http: httpx.AsyncClient, running_stack: RunningStack
) -> None:
    demo, _ = built
    page = await http.get("/demo")
    assert page.status_code == 200, page.text[:300]
    tag = f'<script src="{running_stack.url}/embed.js" data-bot-key="{demo.public_key}" async></script>'
    assert tag in page.text


async def test_the_demo_key_allows_the_stack_origin_and_the_bot_answers_how_to_embed_the_widget(
    built: tuple[Demo, list[str]], http: httpx.AsyncClient, running_stack: RunningStack
) -> None:
    demo, _ = built
    headers = await _owner_headers(http, demo)
    keys = (await http.get("/api/auth/widget-keys", headers=headers)).json()
    (key,) = [key for key in keys if key["public_key"] == demo.public_key]
    assert _origin(running_stack.url) in key["allowed_origins"]
    bot = (await http.get(f"/api/bots/{demo.bot_id}", headers=headers)).json()
    assert bot["appearance"]["suggested_questions"] == SUGGESTED_QUESTIONS

    # A visitor on the demo page, as the loader would be: its Origin, the key, a token.
    origin = {"Origin": _origin(running_stack.url)}
    token = await http.post("/api/auth/visitor-token", json={"public_key": demo.public_key}, headers=origin)
    assert token.status_code == 200, token.text
    visitor = {**origin, "Authorization": f"Bearer {token.json()['visitor_token']}"}
    body = {"bot_id": demo.bot_id, "message": "How do I embed the widget?", "stream": False}
    answer = (await http.post("/api/chat", json=body, headers=visitor, timeout=120)).json()
    assert answer["direct_answer"] is True and "/embed.js" in answer["content"], answer
    assert answer["citations"] and answer["citations"][0]["title"] == "How do I embed the widget?"

    # A question no FAQ answers is answered from the docs, citing their sections. (On a busy
    # machine retrieval can miss its deadline: the answer says so, `degraded`; ask again, for up
    # to a minute. A failure says how each try went; conftest adds what the replicas logged.)
    body["message"] = "How do I swap the embedding model?"
    tries: list[str] = []
    deadline = time.monotonic() + 60
    while True:
        started = time.monotonic()
        answer = (await http.post("/api/chat", json=body, headers=visitor, timeout=120)).json()
        tries.append(f"{'degraded' if answer['degraded'] else 'answered'} in {time.monotonic() - started:.2f}s")
        if not answer["degraded"] or time.monotonic() > deadline:
            break
        await asyncio.sleep(2)
    titles = [citation["title"] for citation in answer["citations"]]
    if not any("Swapping the embedding model" in title for title in titles):
        pytest.fail(
            f"the docs' section was not cited; tries: {tries}; last answer {answer['content'][:120]!r} citing {titles}"
        )


async def test_building_the_demo_again_changes_nothing(
    built: tuple[Demo, list[str]], http: httpx.AsyncClient, running_stack: RunningStack
) -> None:
    demo, _ = built
    lines: list[str] = []
    again = await asyncio.to_thread(ensure_demo, running_stack.settings, echo=lines.append, base_url=running_stack.url)
    assert again.password is None and again.record() == demo.record()
    assert lines == []  # nothing built, nothing wrong
    headers = await _owner_headers(http, demo)
    bots = (await http.get("/api/bots", headers=headers)).json()
    assert [bot["id"] for bot in bots] == [demo.bot_id]
    faqs = (await http.get("/api/knowledge/faqs", params={"bot_id": demo.bot_id}, headers=headers)).json()
    assert len(faqs) == len(FAQS)


async def test_the_demo_bot_books_a_demo_call_for_tomorrow_at_ten(
    built: tuple[Demo, list[str]], http: httpx.AsyncClient, running_stack: RunningStack
) -> None:
    """What a newcomer asks first of a bot that books, on a fresh clone: it books, in this machine's zone."""
    demo, lines = built
    headers = await _owner_headers(http, demo)
    zone = local_time_zone()
    booking = (await http.get(f"/api/langgraph/schedule/settings/{demo.bot_id}", headers=headers)).json()
    assert booking["configured"] and booking["enabled"] and booking["time_zone"] == zone, booking
    services = (
        await http.get("/api/langgraph/schedule/services", params={"bot_id": demo.bot_id}, headers=headers)
    ).json()
    assert [(s["name"], s["duration_min"]) for s in services] == [("Demo call", 30)]
    assert any("bookings open" in line for line in lines), lines

    origin = {"Origin": _origin(running_stack.url)}
    token = await http.post("/api/auth/visitor-token", json={"public_key": demo.public_key}, headers=origin)
    visitor = {**origin, "Authorization": f"Bearer {token.json()['visitor_token']}"}
    conversation_id = None
    for message, expected in (
        ("Can I book an appointment for tomorrow at 10?", "name"),
        ("Ada Lovelace", "e-mail"),
        ("ada@example.com", "booked"),
    ):
        body = {"bot_id": demo.bot_id, "message": message, "conversation_id": conversation_id, "stream": False}
        answer = (await http.post("/api/chat", json={**body, "time_zone": zone}, headers=visitor, timeout=60)).json()
        conversation_id = answer["conversation_id"]
        assert expected in answer["content"].lower(), (message, answer)
    bookings = (
        await http.get("/api/langgraph/schedule/bookings", params={"bot_id": demo.bot_id}, headers=headers)
    ).json()
    [booked] = [b for b in bookings if b["conversation_id"] == conversation_id]
    starts = datetime.fromisoformat(booked["starts_at"]).astimezone(ZoneInfo(zone))
    tomorrow = (datetime.now(ZoneInfo(zone)) + timedelta(days=1)).date()
    assert (starts.date(), starts.hour, starts.minute, booked["service_name"]) == (tomorrow, 10, 0, "Demo call")
    # Free the slot again: the demo's browser test books the same one.
    cancelled = await http.post(f"/api/langgraph/schedule/bookings/{booked['id']}/cancel", headers=headers)
    assert cancelled.status_code == 200, cancelled.text
