"""Walk every route of every application with another workspace's token: nothing leaks.

Another tenant's object answers 404 (not 403, not 200), lists never show it, and a route with
a path parameter this walk does not know is a failure: teach the walk before shipping it.
"""

from __future__ import annotations

import re
import uuid

import httpx
import pytest

from cortex.core import store as core_store
from cortex.routes import all_routes
from cortex.settings import Settings

from .accounts import Account, login, member_of, register
from .db import service_conn

BODIES = {
    "/api/auth/members/{user_id}": {"role": "viewer"},
    "/api/auth/widget-keys/{key_id}": {"allowed_origins": []},
    "/api/bots/{bot_id}": {"name": "hijacked"},
    "/api/conversations/{conversation_id}": {"status": "closed"},
    "/api/conversations/{conversation_id}/messages": {"content": "hijacked"},
    "/api/user-profiles/{profile_id}": {"name": "hijacked"},
    "/api/knowledge/faqs/{faq_id}": {"answer": "hijacked"},
    "/api/knowledge/crawl/{source_id}": {"schedule": "daily"},
}


@pytest.fixture(scope="module")
async def tenants(http: httpx.AsyncClient, settings: Settings) -> dict:
    owner_a = await register(http, workspace="Tenant A")
    second_device = await login(http, owner_a.email)
    agent_a = await member_of(http, owner_a, "agent")
    api_key = (
        await http.post("/api/auth/api-keys", json={"name": "a-key", "permissions": ["read"]}, headers=owner_a.headers)
    ).json()
    widget_key = (
        await http.post(
            "/api/auth/widget-keys",
            json={"bot_id": str(uuid.uuid4()), "allowed_origins": ["https://a.example"]},
            headers=owner_a.headers,
        )
    ).json()
    bot = (await http.post("/api/bots", json={"name": "A's bot"}, headers=owner_a.headers)).json()
    conversation_id = await _conversation_of(settings, owner_a.workspace_id, bot["id"])
    profile = (
        await http.post(
            "/api/user-profiles",
            json={"name": "Tenant A Visitor", "email": f"visitor-{uuid.uuid4().hex[:8]}@a.example"},
            headers=owner_a.headers,
        )
    ).json()
    upload = await http.post(
        "/api/knowledge/files",
        data={"bot_id": bot["id"]},
        files={"file": ("a-secrets.txt", b"Tenant A's private price list: widgets cost 42 euros.", "text/plain")},
        headers=owner_a.headers,
    )
    assert upload.status_code == 202, upload.text
    crawl = await http.post(
        "/api/knowledge/crawl",
        json={"bot_id": bot["id"], "start_url": "http://127.0.0.1:9/a-private-site", "max_pages": 1},
        headers=owner_a.headers,
    )
    assert crawl.status_code == 202, crawl.text
    faq = await http.post(
        "/api/knowledge/faqs",
        json={"bot_id": bot["id"], "question": "What is tenant A's discount code?", "answer": "A-SECRET-CODE"},
        headers=owner_a.headers,
    )
    assert faq.status_code == 201, faq.text
    faq_import = await http.post(
        "/api/knowledge/faqs/import",
        data={"bot_id": bot["id"]},
        files={"file": ("a-faqs.csv", b"question,answer\nWhat is tenant A's VIP code?,A-VIP-CODE\n", "text/csv")},
        headers=owner_a.headers,
    )
    assert faq_import.status_code == 202, faq_import.text
    sessions = (await http.get("/api/auth/sessions", headers=second_device.headers)).json()
    session_id = next(s["id"] for s in sessions if s["current"])
    owner_b = await register(http, workspace="Tenant B")
    return {
        "a": owner_a,
        "agent_a": agent_a,
        "b": owner_b,
        "api_key": api_key,
        "widget_key": widget_key,
        "session_id": session_id,
        "second_device": second_device,
        "bot": bot,
        "conversation_id": conversation_id,
        "profile": profile,
        "file": upload.json(),
        "crawl": crawl.json(),
        "faq": faq.json(),
        "faq_import": faq_import.json(),
    }


async def _conversation_of(settings: Settings, workspace_id: str, bot_id: str) -> str:
    """A conversation with a message in A's workspace (written as the core service would)."""
    async with service_conn(settings, "core") as conn:
        conversation = await core_store.create_conversation(
            conn,
            workspace_id=uuid.UUID(workspace_id),
            conversation_id=uuid.uuid4(),
            bot_id=uuid.UUID(bot_id),
            visitor_id="v_tenant_a_visitor",
            profile_id=None,
        )
        for role, content in (("visitor", "tenant A secret question"), ("bot", "tenant A secret answer")):
            await core_store.add_message(
                conn,
                workspace_id=uuid.UUID(workspace_id),
                conversation_id=conversation["id"],
                message_id=uuid.uuid4(),
                role=role,
                content=content,
            )
    return str(conversation["id"])


def _object_of_a(path: str, param: str, tenants: dict) -> str:
    if param == "bot_id":
        return tenants["bot"]["id"]
    if param == "conversation_id":
        return tenants["conversation_id"]
    if param == "profile_id":
        return tenants["profile"]["id"]
    if param == "model":  # /v1/models/{model}: a model is a bot
        return tenants["bot"]["id"]
    if param == "source_id" and "/crawl/" in path:
        return tenants["crawl"]["id"]
    if param == "source_id" and "/files/" in path:
        return tenants["file"]["id"]
    if param == "source_id" and "/faqs/imports/" in path:
        return tenants["faq_import"]["id"]
    if param == "faq_id":
        return tenants["faq"]["id"]
    if param == "session_id":
        return tenants["session_id"]
    if param == "user_id":
        return tenants["agent_a"].user_id
    if param == "key_id" and "/api-keys/" in path:
        return tenants["api_key"]["id"]
    if param == "key_id" and "/widget-keys/" in path:
        return tenants["widget_key"]["id"]
    raise AssertionError(f"the isolation walk does not know {{{param}}} in {path}: add A's object for it")


def _secrets_of_a(tenants: dict) -> list[str]:
    a: Account = tenants["a"]
    return [
        a.workspace_id,
        a.email,
        tenants["agent_a"].email,
        tenants["api_key"]["id"],
        tenants["widget_key"]["id"],
        tenants["widget_key"]["public_key"],
        tenants["session_id"],
        tenants["profile"]["email"],
        tenants["file"]["id"],
        tenants["crawl"]["id"],
        tenants["faq_import"]["id"],
        "A-SECRET-CODE",
        "a-faqs.csv",
    ]


QUERY_OBJECTS = {"/api/chat/config": ("bot_id",)}


async def test_no_route_of_any_application_reaches_another_workspace(http: httpx.AsyncClient, tenants: dict) -> None:
    b: Account = tenants["b"]
    a_messages = (
        await http.get(f"/api/conversations/{tenants['conversation_id']}", headers=tenants["a"].headers)
    ).json()
    a_reply = next(m["id"] for m in a_messages["messages"] if m["role"] == "bot")
    # Visitor actions that name tenant A's conversation or message in their body.
    body_objects = {
        "/api/chat/feedback": {"message_id": a_reply, "rating": 1},
        "/api/chat/lead": {"conversation_id": tenants["conversation_id"], "email": "b@example.com"},
        "/api/chat/handoff": {"conversation_id": tenants["conversation_id"]},
    }
    walked = 0
    for route in all_routes():
        if route.policy == "public" or "{provider}" in route.path:
            continue
        params = re.findall(r"{(\w+)}", route.path)
        if route.path in body_objects:
            response = await http.request(route.method, route.path, headers=b.headers, json=body_objects[route.path])
            assert response.status_code == 404, f"{route.method} {route.path} -> {response.status_code}"
            walked += 1
            continue
        if not params and route.method != "GET":
            continue  # creates act in the caller's own workspace
        path = route.path
        for param in params:
            path = path.replace(f"{{{param}}}", _object_of_a(route.path, param, tenants))
        # Routes that name their object in the query instead of the path: ask for tenant A's.
        query = {name: _object_of_a(route.path, name, tenants) for name in QUERY_OBJECTS.get(route.path, ())}
        response = await http.request(
            route.method, path, headers=b.headers, json=BODIES.get(route.path), params=query or None
        )
        walked += 1
        if params or query:
            assert response.status_code == 404, f"{route.method} {route.path} -> {response.status_code}"
        else:
            assert response.status_code in (200, 403), f"{route.method} {route.path} -> {response.status_code}"
            for secret in _secrets_of_a(tenants):
                assert secret not in response.text, f"{route.method} {route.path} shows tenant A's {secret}"
    assert walked >= 10

    # And tenant A's objects are untouched by the attempts.
    a: Account = tenants["a"]
    assert (await http.get("/api/auth/verify", headers=tenants["second_device"].headers)).status_code == 200
    members = (await http.get("/api/auth/members", headers=a.headers)).json()
    assert tenants["agent_a"].email in [m["email"] for m in members]
    keys = (await http.get("/api/auth/api-keys", headers=a.headers)).json()
    assert keys[0]["revoked_at"] is None
    widget = (await http.get("/api/auth/widget-keys", headers=a.headers)).json()
    assert widget[0]["allowed_origins"] == ["https://a.example"]
    assert (await http.get(f"/api/bots/{tenants['bot']['id']}", headers=a.headers)).json()["name"] == "A's bot"
    conversation = (await http.get(f"/api/conversations/{tenants['conversation_id']}", headers=a.headers)).json()
    assert conversation["status"] == "open" and conversation["messages"][0]["content"] == "tenant A secret question"
    assert len(conversation["messages"]) == 2, "no message added (agent reply, handoff request, lead)"
    profile = (await http.get(f"/api/user-profiles/{tenants['profile']['id']}", headers=a.headers)).json()
    assert profile["name"] == "Tenant A Visitor" and profile["erased_at"] is None
    faq = (await http.get(f"/api/knowledge/faqs/{tenants['faq']['id']}", headers=a.headers)).json()
    assert faq["answer"] == "A-SECRET-CODE"
    assert (await http.get(f"/api/knowledge/files/{tenants['file']['id']}", headers=a.headers)).status_code == 200
    crawl = (await http.get(f"/api/knowledge/crawl/{tenants['crawl']['id']}", headers=a.headers)).json()
    assert crawl["schedule_s"] is None
    faq_import = await http.get(f"/api/knowledge/faqs/imports/{tenants['faq_import']['id']}", headers=a.headers)
    assert faq_import.status_code == 200 and faq_import.json()["name"] == "a-faqs.csv"


async def test_an_api_key_is_confined_to_its_workspace(http: httpx.AsyncClient, tenants: dict) -> None:
    b: Account = tenants["b"]
    key = (
        await http.post(
            "/api/auth/api-keys", json={"name": "b-key", "permissions": ["read", "manage"]}, headers=b.headers
        )
    ).json()
    as_key = {"Authorization": f"Bearer {key['secret']}"}
    members = await http.get("/api/auth/members", headers=as_key)
    assert [m["email"] for m in members.json()] == [b.email]
    widget_keys = await http.get("/api/auth/widget-keys", headers=as_key)
    assert widget_keys.status_code == 200 and widget_keys.json() == []
