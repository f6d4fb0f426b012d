"""The widget's HTTP side: how its files are served (size, caching, framing, paths), the token
exchange any site may call, and the visitor endpoints (config cache, history, feedback, lead
form, asking for a person) with their validation and who may see what."""

from __future__ import annotations

import re

import httpx
import redis.asyncio as aioredis

from .accounts import register
from .chatting import ORIGIN, eventually, make_bot, visitor_of

EMBED_BUDGET_BYTES = 15 * 1024


async def test_the_loader_is_small_cacheable_and_revalidates(http: httpx.AsyncClient) -> None:
    async with http.stream("GET", "/embed.js", headers={"Accept-Encoding": "gzip"}) as response:
        wire = b"".join([chunk async for chunk in response.aiter_raw()])
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/javascript")
    assert response.headers["content-encoding"] == "gzip"
    assert len(wire) < EMBED_BUDGET_BYTES, f"embed.js is {len(wire)} bytes gzipped"
    assert "max-age=300" in response.headers["cache-control"]
    again = await http.get("/embed.js", headers={"If-None-Match": response.headers["etag"]})
    assert again.status_code == 304 and again.content == b""


async def test_versioned_files_are_cached_for_a_year_and_nothing_outside_web_is_served(http: httpx.AsyncClient) -> None:
    page = await http.get("/widget")
    assert page.status_code == 200
    assert "frame-ancestors *" in page.headers["content-security-policy"], "any site may frame the chat"
    assert "x-frame-options" not in page.headers
    script = re.search(r'src="(/static/[0-9a-f]{10}/widget/widget\.js)"', page.text).group(1)
    versioned = await http.get(script)
    assert versioned.status_code == 200 and "immutable" in versioned.headers["cache-control"]
    stale = await http.get(script.replace(script.split("/")[2], "0000000000"))
    assert stale.status_code == 200 and stale.headers["cache-control"] == "no-cache"
    for path in ("/static/x/../../cortex/settings.py", "/static/x/%2e%2e/%2e%2e/pyproject.toml", "/static/x/nope.js"):
        response = await http.get(path)
        assert response.status_code == 404, path
        assert response.headers["content-type"].startswith("application/json")
    dashboard = await http.get("/dashboard")
    assert dashboard.headers["x-frame-options"] == "SAMEORIGIN", "owner pages are not frameable by other sites"
    assert (await http.get("/", follow_redirects=False)).headers["location"] == "/dashboard"


async def test_any_site_may_ask_for_a_visitor_token_but_not_call_the_owner_apis(http: httpx.AsyncClient) -> None:
    preflight = {"Origin": "https://anyone.example", "Access-Control-Request-Method": "POST"}
    preflight["Access-Control-Request-Headers"] = "content-type"
    token = await http.options("/api/auth/visitor-token", headers=preflight)
    assert token.status_code == 200 and token.headers["access-control-allow-origin"] == "*"
    owner_api = await http.options("/api/bots", headers=preflight)
    assert "access-control-allow-origin" not in owner_api.headers


async def test_the_widget_config_is_cached_and_dropped_when_the_bot_changes(
    http: httpx.AsyncClient, redis_client: aioredis.Redis
) -> None:
    owner = await register(http)
    bot = await make_bot(http, owner, appearance={"primary_color": "#112233", "suggested_questions": ["Hours?"]})
    visitor = await visitor_of(http, owner, bot)
    first = await http.get("/api/chat/config", headers=visitor.headers)
    assert first.status_code == 200, first.text
    assert first.json()["appearance"]["primary_color"] == "#112233"
    assert first.json()["appearance"]["suggested_questions"] == ["Hours?"]
    assert "system_prompt" not in first.json() and "llm" not in first.json(), "nothing private reaches visitors"
    assert await redis_client.exists(f"cortex:widget-config:{bot['id']}")

    changed = await http.patch(
        f"/api/bots/{bot['id']}", json={"appearance": {"primary_color": "#445566"}}, headers=owner.headers
    )
    assert changed.status_code == 200
    assert (await http.get("/api/chat/config", headers=visitor.headers)).json()["appearance"]["primary_color"] == (
        "#445566"
    )
    too_many = await http.patch(
        f"/api/bots/{bot['id']}",
        json={"appearance": {"suggested_questions": ["a", "b", "c", "d", "e"]}},
        headers=owner.headers,
    )
    assert too_many.status_code == 422

    other_bot = await make_bot(http, owner)
    foreign = await http.get("/api/chat/config", params={"bot_id": other_bot["id"]}, headers=visitor.headers)
    assert foreign.status_code == 404, "a visitor token opens its own bot only"
    stranger = await register(http)
    cached_elsewhere = await http.get("/api/chat/config", params={"bot_id": bot["id"]}, headers=stranger.headers)
    assert cached_elsewhere.status_code == 404, "another workspace never gets the cached config"


async def test_visitors_see_rate_and_escalate_only_their_own_conversation(http: httpx.AsyncClient) -> None:
    owner = await register(http)
    bot = await make_bot(http, owner, lead_fields=["email", "phone"])
    visitor = await visitor_of(http, owner, bot)
    other = await visitor_of(http, owner, bot)
    answer = await visitor.say("Do you sell wedding cakes?")  # nothing known: the bot offers ways on
    conversation_id, message_id = answer["conversation_id"], answer["message_id"]
    assert [a["type"] for a in answer["actions"]] == ["lead_form", "handoff"]
    assert answer["actions"][0]["fields"] == ["email", "phone"]

    mine = await http.get(f"/api/chat/conversations/{conversation_id}", headers=visitor.headers)
    assert mine.status_code == 200
    assert [m["role"] for m in mine.json()["messages"]] == ["visitor", "bot"]
    assert mine.json()["messages"][1]["actions"][1]["type"] == "handoff", "history keeps the buttons"
    assert (await http.get(f"/api/chat/conversations/{conversation_id}", headers=other.headers)).status_code == 404

    rate = {"message_id": message_id, "rating": -1}
    assert (await http.post("/api/chat/feedback", json=rate, headers=other.headers)).status_code == 404
    rated = await http.post("/api/chat/feedback", json=rate, headers=visitor.headers)
    assert rated.status_code == 200 and rated.json()["feedback"] == -1
    own_message = mine.json()["messages"][0]["id"]
    refused = await http.post(
        "/api/chat/feedback", json={"message_id": own_message, "rating": 1}, headers=visitor.headers
    )
    assert refused.status_code == 404, "a visitor rates replies, not their own words"
    bad = await http.post("/api/chat/feedback", json={"message_id": message_id, "rating": 5}, headers=visitor.headers)
    assert bad.status_code == 422

    lead = {"conversation_id": conversation_id, "email": "nope", "phone": "12"}
    invalid = await http.post("/api/chat/lead", json=lead, headers=visitor.headers)
    assert invalid.status_code == 422
    assert {d["field"] for d in invalid.json()["error"]["details"]} == {"body.email", "body.phone"}
    empty = await http.post("/api/chat/lead", json={"conversation_id": conversation_id}, headers=visitor.headers)
    assert empty.status_code == 422
    lead = {"conversation_id": conversation_id, "email": "Ada@Example.com", "phone": "+44 20 7946 0958"}
    assert (await http.post("/api/chat/lead", json=lead, headers=other.headers)).status_code == 404
    saved = await http.post("/api/chat/lead", json=lead, headers=visitor.headers)
    assert saved.status_code == 200, saved.text
    assert saved.json()["saved"] == ["email", "phone"]
    profile = (await http.get(f"/api/user-profiles/{saved.json()['profile_id']}", headers=owner.headers)).json()
    assert (profile["email"], profile["phone"]) == ("Ada@example.com", "+442079460958"), "domain lower-cased"

    escalated = await http.post("/api/chat/handoff", json={"conversation_id": conversation_id}, headers=visitor.headers)
    assert escalated.status_code == 200 and "a person from the team" in escalated.json()["content"]
    record = (await http.get(f"/api/conversations/{conversation_id}", headers=owner.headers)).json()
    assert set(record["outcomes"]) == {"lead_captured", "escalated"}
    assert [m["role"] for m in record["messages"]] == ["visitor", "bot", "system", "bot"]

    async def listed(**params: object) -> list[str]:
        response = await http.get("/api/conversations", params={"bot_id": bot["id"], **params}, headers=owner.headers)
        assert response.status_code == 200, response.text
        return [c["id"] for c in response.json()]

    await other.say("Hello?")
    assert len(await listed()) == 2
    assert await listed(has_lead="true") == [conversation_id], "only the visitor who left details"
    assert conversation_id not in await listed(has_lead="false")
    assert await listed(outcome="escalated") == [conversation_id]
    assert await listed(outcome="booked") == []
    assert (await http.get("/api/conversations", params={"outcome": "won"}, headers=owner.headers)).status_code == 422


async def test_a_deleted_bots_widget_keys_stop_issuing_tokens(http: httpx.AsyncClient) -> None:
    owner = await register(http)
    bot, other_bot = await make_bot(http, owner), await make_bot(http, owner)
    await visitor_of(http, owner, bot)
    await visitor_of(http, owner, other_bot)
    keys = await http.get("/api/auth/widget-keys", params={"bot_id": bot["id"]}, headers=owner.headers)
    assert [k["bot_id"] for k in keys.json()] == [bot["id"]], "filtered to the bot"
    public_key = keys.json()[0]["public_key"]

    assert (await http.delete(f"/api/bots/{bot['id']}", headers=owner.headers)).status_code == 204

    async def refused() -> bool:
        token = await http.post("/api/auth/visitor-token", json={"public_key": public_key}, headers={"Origin": ORIGIN})
        return token.status_code == 404

    await eventually(refused, within_s=30, what="the deleted bot's key to be revoked")
    survivors = (await http.get("/api/auth/widget-keys", headers=owner.headers)).json()
    assert [k["bot_id"] for k in survivors if k["revoked_at"] is None] == [other_bot["id"]]
