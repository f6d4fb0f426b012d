"""Visitor profiles: filled in from what visitors tell the bot, edited by members, exported and erased."""

from __future__ import annotations

import hashlib

import httpx
import orjson
import redis.asyncio as aioredis

from cortex.email_address import email_digest
from cortex.settings import Settings

from .accounts import Account, member_of, register
from .chatting import Visitor, eventually, make_bot, visitor_of


async def _profile_of(http: httpx.AsyncClient, owner: Account, visitor: Visitor, conversation_id: str) -> dict:
    conversation = (await http.get(f"/api/conversations/{conversation_id}", headers=owner.headers)).json()
    assert conversation["profile_id"], "a visitor's first chat creates their profile"
    response = await http.get(f"/api/user-profiles/{conversation['profile_id']}", headers=owner.headers)
    assert response.status_code == 200, response.text
    return response.json()


async def _wait_for(http: httpx.AsyncClient, owner: Account, profile_id: str, field: str, value: str) -> dict:
    async def read() -> dict | None:
        profile = (await http.get(f"/api/user-profiles/{profile_id}", headers=owner.headers)).json()
        return profile if profile[field] == value else None

    return await eventually(read, what=f"profile {field} == {value!r}")


async def test_a_visitors_profile_fills_in_from_what_they_tell_the_bot(http: httpx.AsyncClient) -> None:
    owner = await register(http)
    bot = await make_bot(http, owner)
    visitor = await visitor_of(http, owner, bot)
    first = await visitor.say(
        "Hi, my name is maria lopez. Please email me at Maria.Lopez@Example.COM or call me on +1 415-555-0134. "
        "I work at Acme Bakery Supplies."
    )
    conversation_id = first["conversation_id"]
    profile_id = (await _profile_of(http, owner, visitor, conversation_id))["id"]
    profile = await _wait_for(http, owner, profile_id, "company", "Acme Bakery Supplies")
    assert (profile["name"], profile["email"], profile["phone"]) == (
        "Maria Lopez",
        "Maria.Lopez@example.com",
        "+14155550134",
    )
    assert profile["sources"] == dict.fromkeys(("name", "email", "phone", "company"), "visitor")
    assert profile["conversation_count"] == 1

    found = await http.get("/api/user-profiles", params={"has_email": "true", "q": "lopez"}, headers=owner.headers)
    assert [p["id"] for p in found.json()] == [profile_id]
    # Not every profile has an e-mail (the owner's own member profile has; a silent visitor not).
    silent = await visitor_of(http, owner, bot)
    await silent.say("What are your opening hours?")
    without = (await http.get("/api/user-profiles", params={"has_email": "false"}, headers=owner.headers)).json()
    assert profile_id not in {p["id"] for p in without} and len(without) == 1

    # A weaker guess ("this is Bob") does not replace the stated name; markup is never taken;
    # a stated correction (a new employer) is. Messages are read in order, so the last one syncs.
    await visitor.say("this is Bob speaking", conversation_id)
    await visitor.say("my email is <b>evil@attacker.example</b>", conversation_id)
    await visitor.say("I work at Initech now", conversation_id)
    profile = await _wait_for(http, owner, profile_id, "company", "Initech")
    assert profile["name"] == "Maria Lopez" and profile["email"] == "Maria.Lopez@example.com"

    # A member's edit wins over anything the visitor says later.
    edited = await http.patch(f"/api/user-profiles/{profile_id}", json={"name": "Maria L."}, headers=owner.headers)
    assert edited.status_code == 200 and edited.json()["sources"]["name"] == "member"
    await visitor.say("Sorry, my name is Mary. My phone is +1 415-555-0199", conversation_id)
    profile = await _wait_for(http, owner, profile_id, "phone", "+14155550199")
    assert profile["name"] == "Maria L."


async def test_members_manage_profiles_with_validation_and_roles(http: httpx.AsyncClient) -> None:
    owner = await register(http)
    viewer = await member_of(http, owner, "viewer")
    created = await http.post(
        "/api/user-profiles",
        json={
            "visitor_id": "crm:4711",
            "name": "  Jane Roe ",
            "email": "JANE@Example.org",
            "phone": "+44 20 7946 0958",
            "consent": {"marketing_email": True},
            "attributes": {"plan": "gold", "visits": 3},
        },
        headers=owner.headers,
    )
    assert created.status_code == 201, created.text
    profile = created.json()
    assert (profile["name"], profile["email"], profile["phone"]) == ("Jane Roe", "JANE@example.org", "+442079460958")
    assert profile["sources"] == dict.fromkeys(("name", "email", "phone"), "member")
    path = f"/api/user-profiles/{profile['id']}"

    again = await http.post("/api/user-profiles", json={"visitor_id": "crm:4711"}, headers=owner.headers)
    assert again.status_code == 409
    for bad in (
        {"email": "jane@"},
        {"phone": "12345"},
        {"name": "<script>alert(1)</script>"},
        {"name": ""},
        {"company": "x" * 121},
        {"consent": {"Bad Key": True}},
        {"attributes": {"k": "x" * 501}},
        {"unknown": 1},
    ):
        response = await http.patch(path, json=bad, headers=owner.headers)
        assert response.status_code == 422, (bad, response.text)
        assert response.json()["error"]["code"] == "validation_error"
    assert (
        await http.post("/api/user-profiles", json={"visitor_id": "no spaces"}, headers=owner.headers)
    ).status_code == 422

    patched = await http.patch(
        path,
        json={"phone": None, "company": "Roe & Co", "consent": {"analytics": False}, "attributes": {"visits": None}},
        headers=owner.headers,
    )
    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert body["phone"] is None and "phone" not in body["sources"] and body["company"] == "Roe & Co"
    assert body["consent"] == {"marketing_email": True, "analytics": False}
    assert body["attributes"] == {"plan": "gold"}

    # Viewers read; only admins write, export or erase.
    assert (await http.get(path, headers=viewer.headers)).status_code == 200
    assert (await http.get("/api/user-profiles", headers=viewer.headers)).status_code == 200
    assert (await http.patch(path, json={"name": "X"}, headers=viewer.headers)).status_code == 403
    assert (await http.get(f"{path}/export", headers=viewer.headers)).status_code == 403
    assert (await http.post(f"{path}/erase", headers=viewer.headers)).status_code == 403
    assert (await http.delete(path, headers=viewer.headers)).status_code == 403
    # Another workspace sees nothing.
    stranger = await register(http)
    assert (await http.get(path, headers=stranger.headers)).status_code == 404
    assert (await http.get("/api/user-profiles/not-a-uuid", headers=owner.headers)).status_code == 422
    assert (await http.get("/api/user-profiles", params={"limit": 0}, headers=owner.headers)).status_code == 422

    assert (await http.delete(path, headers=owner.headers)).status_code == 204
    assert (await http.get(path, headers=owner.headers)).status_code == 404


async def test_export_then_erase_removes_the_visitors_personal_data_everywhere(
    http: httpx.AsyncClient, redis_client: aioredis.Redis, settings: Settings
) -> None:
    owner = await register(http)
    agent = await member_of(http, owner, "agent")
    bot = await make_bot(http, owner)
    visitor = await visitor_of(http, owner, bot)
    said = "Hello, my name is Maria Lopez, my email is maria.lopez@example.com and my phone is +1 415-555-0134"
    conversation_id = (await visitor.say(said))["conversation_id"]
    profile_id = (await _profile_of(http, owner, visitor, conversation_id))["id"]
    await _wait_for(http, owner, profile_id, "phone", "+14155550134")
    assert (await http.post(f"/api/conversations/{conversation_id}/takeover", headers=agent.headers)).status_code == 200
    reply = "Thanks Maria! We will call you at (415) 555-0134 and write to maria.lopez@example.com today."
    posted = await http.post(
        f"/api/conversations/{conversation_id}/messages", json={"content": reply}, headers=agent.headers
    )
    assert posted.status_code == 201, posted.text

    export = await http.get(f"/api/user-profiles/{profile_id}/export", headers=owner.headers)
    assert export.status_code == 200
    assert export.headers["content-disposition"].startswith("attachment;")
    data = export.json()
    assert data["profile"]["email"] == "maria.lopez@example.com"
    assert [c["id"] for c in data["conversations"]] == [conversation_id]
    assert [m["content"] for m in data["conversations"][0]["messages"] if m["role"] == "visitor"] == [said]

    erased = await http.post(f"/api/user-profiles/{profile_id}/erase", headers=owner.headers)
    assert erased.status_code == 200, erased.text
    assert erased.json()["conversations"] == 1 and erased.json()["visitor_messages_erased"] == 1
    assert erased.json()["messages_redacted"] == 1

    profile = (await http.get(f"/api/user-profiles/{profile_id}", headers=owner.headers)).json()
    assert [profile[f] for f in ("name", "email", "phone", "company")] == [None] * 4
    assert profile["erased_at"] and profile["consent"] == {} and profile["attributes"] == {}
    transcript = (await http.get(f"/api/conversations/{conversation_id}", headers=owner.headers)).json()
    contents = {m["role"]: m["content"] for m in transcript["messages"]}
    assert contents["visitor"] == "[erased]"
    for secret in ("Maria", "maria.lopez@example.com", "555-0134"):
        assert secret not in orjson.dumps(transcript).decode()
    assert contents["agent"].startswith("Thanks [erased]! We will call you at")
    after = (await http.get(f"/api/user-profiles/{profile_id}/export", headers=owner.headers)).text
    assert "maria" not in after.lower()
    # Text search no longer finds the visitor by what they said.
    found = await http.get("/api/conversations", params={"q": "lopez"}, headers=owner.headers)
    assert found.json() == []

    # Other services learn of the erasure through the bus, without the values themselves.
    async def erased_event() -> dict | None:
        for _, fields in await redis_client.xrange("cortex:events:visitor"):
            if fields[b"event_type"] == b"visitor.erased":
                payload = orjson.loads(fields[b"payload"])
                if payload["profile_id"] == profile_id:
                    return payload
        return None

    payload = await eventually(erased_event, what="visitor.erased on the bus")
    assert payload["email_digest"] == email_digest(settings, "maria.lopez@example.com")
    assert hashlib.sha256(b"maria.lopez@example.com").hexdigest() not in orjson.dumps(payload).decode()
    assert "maria" not in orjson.dumps(payload).decode().lower()
