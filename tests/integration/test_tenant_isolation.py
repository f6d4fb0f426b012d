"""Walk every route of every application with another workspace's token: nothing leaks.

Another tenant's object answers 404 (not 403, not 200), lists never show it, and a route with
a path parameter this walk does not know is a failure: teach the walk before shipping it.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from cortex.core import store as core_store
from cortex.devtools.calendar_servers import CALDAV_PASSWORD, CALDAV_USER
from cortex.errors import Forbidden
from cortex.http.security import Principal, policy_of
from cortex.routes import Route, all_routes
from cortex.settings import Settings
from tests.stack_fixtures import RunningStack

from .accounts import Account, login, member_of, register
from .chatting import ORIGIN, make_bot, visitor_of
from .db import service_conn

BODIES = {
    "/api/auth/members/{user_id}": {"role": "viewer"},
    "/api/auth/widget-keys/{key_id}": {"allowed_origins": []},
    "/api/auth/widget-keys/{key_id}/identity-verification": {"required": True},
    "/api/bots/{bot_id}": {"name": "hijacked"},
    "/api/conversations/{conversation_id}": {"status": "closed"},
    "/api/conversations/{conversation_id}/messages": {"content": "hijacked"},
    "/api/user-profiles/{profile_id}": {"name": "hijacked"},
    "/api/knowledge/faqs/{faq_id}": {"answer": "hijacked"},
    "/api/knowledge/crawl/{source_id}": {"schedule": "daily"},
    "/api/helper/patterns/{pattern_id}": {"name": "hijacked"},
    "/api/helper/bots/{bot_id}/settings": {"enabled": False, "goal": "lead"},
    "/api/helper/experiments/{experiment_id}/promote": {"arm": "B"},
    "/api/langgraph/calendars/{calendar_id}": {"name": "hijacked", "write_bookings": False},
    "/api/langgraph/schedule/settings/{bot_id}": {"time_zone": "UTC", "hours": {"1": [["00:00", "23:00"]]}},
    "/api/langgraph/schedule/services/{service_id}": {"name": "hijacked"},
    "/api/langgraph/schedule/resources/{resource_id}": {"active": False},
    "/api/langgraph/schedule/closures/{closure_id}": {"reason": "hijacked"},
    "/api/langgraph/schedule/busy/{block_id}": {"title": "hijacked"},
    "/api/langgraph/schedule/bookings/{appointment_id}/reschedule": {"start": "2030-01-07T10:00:00+00:00"},
    "/api/langgraph/workflows/runs/{run_id}/resume": {"message": "Ada Lovelace"},
}


@pytest.fixture(scope="module")
async def tenants(http: httpx.AsyncClient, settings: Settings, running_stack: RunningStack) -> dict:
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
    pattern = await http.post(
        "/api/helper/patterns",
        json={"name": "A-SECRET-PATTERN", "bot_id": bot["id"], "instruction": "Offer tenant A's secret discount."},
        headers=owner_a.headers,
    )
    assert pattern.status_code == 201, pattern.text
    experiment = await http.post(
        "/api/helper/experiments",
        json={
            "name": "A-SECRET-EXPERIMENT",
            "bot_id": bot["id"],
            "metric": "lead",
            "arms": [{"name": "A", "weight": 1}, {"name": "B", "weight": 1, "pattern_id": pattern.json()["id"]}],
        },
        headers=owner_a.headers,
    )
    assert experiment.status_code == 201, experiment.text
    mining_run = await http.post("/api/helper/mining/runs", headers=owner_a.headers)
    assert mining_run.status_code == 202, mining_run.text
    radicale = running_stack.calendars.radicale
    calendar = await http.post(
        "/api/langgraph/calendars",
        json={
            "name": "A-SECRET-CALENDAR",
            "url": radicale.make_calendar(CALDAV_USER, f"tenant-a-{uuid.uuid4().hex[:8]}"),
            "username": CALDAV_USER,
            "password": CALDAV_PASSWORD,
        },
        headers=owner_a.headers,
    )
    assert calendar.status_code == 201, calendar.text
    schedule = await _schedule_of(http, owner_a, bot["id"])
    sessions = (await http.get("/api/auth/sessions", headers=second_device.headers)).json()
    session_id = next(s["id"] for s in sessions if s["current"])
    invited = f"invitee-{uuid.uuid4().hex[:8]}@a.example"
    invite = await http.post("/api/auth/members", json={"email": invited, "role": "agent"}, headers=owner_a.headers)
    assert invite.status_code == 202, invite.text
    invitation = (await http.get("/api/auth/invitations", headers=owner_a.headers)).json()[0]
    owner_b = await register(http, workspace="Tenant B")
    bot_b = await make_bot(http, owner_b, name="B's bot")
    widget_b = await http.post(
        "/api/auth/widget-keys", json={"bot_id": bot_b["id"], "allowed_origins": [ORIGIN]}, headers=owner_b.headers
    )
    callers_b = {"owner": owner_b.headers}
    for role in ("agent", "viewer"):
        callers_b[role] = (await member_of(http, owner_b, role)).headers
    for scope in ("read", "reply", "manage"):
        key = await http.post(
            "/api/auth/api-keys", json={"name": scope, "permissions": [scope]}, headers=owner_b.headers
        )
        callers_b[f"key:{scope}"] = {"Authorization": f"Bearer {key.json()['secret']}"}
    return {
        "callers_b": callers_b,
        "widget_key_b": widget_b.json()["public_key"],
        "a": owner_a,
        "agent_a": agent_a,
        "b": owner_b,
        "api_key": api_key,
        "widget_key": widget_key,
        "session_id": session_id,
        "invitation": invitation,
        "second_device": second_device,
        "bot": bot,
        "conversation_id": conversation_id,
        "profile": profile,
        "file": upload.json(),
        "crawl": crawl.json(),
        "faq": faq.json(),
        "faq_import": faq_import.json(),
        "pattern": pattern.json(),
        "experiment": experiment.json(),
        "mining_run": mining_run.json(),
        "calendar": calendar.json(),
        "schedule": schedule,
    }


async def _schedule_of(http: httpx.AsyncClient, owner: Account, bot_id: str) -> dict:
    """A's bot books: its settings, a service, its resource, a closure, a busy block and an appointment."""
    s = "/api/langgraph/schedule"
    every_day = {str(day): [["08:00", "18:00"]] for day in range(1, 8)}
    put = await http.put(f"{s}/settings/{bot_id}", json={"time_zone": "UTC", "hours": every_day}, headers=owner.headers)
    assert put.status_code == 200, put.text
    service = await http.post(
        f"{s}/services", json={"bot_id": bot_id, "name": "A-SECRET-SERVICE", "duration_min": 30}, headers=owner.headers
    )
    assert service.status_code == 201, service.text
    resource = (await http.get(f"{s}/resources", params={"bot_id": bot_id}, headers=owner.headers)).json()[0]
    day = (datetime.now(UTC) + timedelta(days=3)).date()
    closure = await http.post(
        f"{s}/closures",
        json={
            "bot_id": bot_id,
            "starts_on": str(day + timedelta(days=1)),
            "ends_on": str(day + timedelta(days=1)),
            "reason": "A-SECRET-CLOSURE",
        },
        headers=owner.headers,
    )
    assert closure.status_code == 201, closure.text
    block = await http.post(
        f"{s}/busy",
        json={
            "bot_id": bot_id,
            "starts_at": f"{day}T08:00:00+00:00",
            "ends_at": f"{day}T09:00:00+00:00",
            "title": "A-SECRET-BLOCK",
        },
        headers=owner.headers,
    )
    assert block.status_code == 201, block.text
    appointment = await http.post(
        f"{s}/bookings",
        json={
            "bot_id": bot_id,
            "service_id": service.json()["id"],
            "start": f"{day}T10:00:00+00:00",
            "name": "A-SECRET-VISITOR",
            "email": "a-secret-visitor@a.example",
        },
        headers=owner.headers,
    )
    assert appointment.status_code == 201, appointment.text
    # The booking's reminder: a task of A's workspace, due a day before.
    reminders = await http.get(
        "/api/langgraph/tasks",
        params={"appointment_id": appointment.json()["id"], "kind": "reminder"},
        headers=owner.headers,
    )
    [task] = reminders.json()
    # A scheduling run of A's bot, waiting for the visitor's name.
    run = await http.post(
        "/api/langgraph/workflows/runs",
        json={"bot_id": bot_id, "message": f"Book me in on {day + timedelta(days=2)} at 11:00", "time_zone": "UTC"},
        headers=owner.headers,
    )
    assert run.status_code == 201 and run.json()["turn"]["waiting"], run.text
    return {
        "run": run.json()["run"],
        "service": service.json(),
        "resource": resource,
        "closure": closure.json(),
        "block": block.json(),
        "appointment": appointment.json(),
        "task": task,
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
    if param == "pattern_id":
        return tenants["pattern"]["id"]
    if param == "experiment_id":
        return tenants["experiment"]["id"]
    if param == "run_id" and "/mining/" in path:
        return tenants["mining_run"]["id"]
    if param == "run_id" and "/workflows/runs/" in path:
        return tenants["schedule"]["run"]["id"]
    if "/api/langgraph/schedule/" in path and param in SCHEDULE_OBJECTS:
        return tenants["schedule"][SCHEDULE_OBJECTS[param]]["id"]
    if param == "calendar_id":
        return tenants["calendar"]["id"]
    if param == "task_id":
        return tenants["schedule"]["task"]["id"]
    if param == "session_id":
        return tenants["session_id"]
    if param == "invitation_id":
        return tenants["invitation"]["id"]
    if param == "user_id":
        return tenants["agent_a"].user_id
    if param == "key_id" and "/api-keys/" in path:
        return tenants["api_key"]["id"]
    if param == "key_id" and "/widget-keys/" in path:
        return tenants["widget_key"]["id"]
    raise AssertionError(f"the isolation walk does not know {{{param}}} in {path}: add A's object for it")


# The path parameters of /api/langgraph/schedule, and which of A's scheduling objects each names.
SCHEDULE_OBJECTS = {
    "service_id": "service",
    "resource_id": "resource",
    "closure_id": "closure",
    "block_id": "block",
    "appointment_id": "appointment",
}


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
        tenants["invitation"]["id"],
        tenants["invitation"]["email"],
        tenants["profile"]["email"],
        tenants["file"]["id"],
        tenants["crawl"]["id"],
        tenants["faq_import"]["id"],
        "A-SECRET-CODE",
        "a-faqs.csv",
        "A-SECRET-PATTERN",
        "A-SECRET-EXPERIMENT",
        tenants["pattern"]["id"],
        tenants["experiment"]["id"],
        tenants["mining_run"]["id"],
        "A-SECRET-SERVICE",
        "A-SECRET-CLOSURE",
        "A-SECRET-BLOCK",
        "A-SECRET-VISITOR",
        "a-secret-visitor@a.example",
        *(obj["id"] for obj in tenants["schedule"].values()),
        tenants["calendar"]["id"],
        "A-SECRET-CALENDAR",
    ]


QUERY_OBJECTS = {
    "/api/chat/config": ("bot_id",),
    "/api/langgraph/schedule/availability": ("bot_id", "service_id"),
}


# B's callers, as the policy dependencies see them: every role and API-key scope, and a visitor.
CALLERS_B: dict[str, dict] = {
    "owner": {"kind": "user", "role": "owner"},
    "agent": {"kind": "user", "role": "agent"},
    "viewer": {"kind": "user", "role": "viewer"},
    "key:read": {"kind": "api_key", "permissions": frozenset({"read"})},
    "key:reply": {"kind": "api_key", "permissions": frozenset({"reply"})},
    "key:manage": {"kind": "api_key", "permissions": frozenset({"manage"})},
    "visitor": {"kind": "visitor", "bot_id": uuid.uuid4()},
}


async def _policy_admits(route: Route, caller: str) -> bool:
    """Whether the route's own policy dependency lets this kind of caller in."""
    dependency = next(d.call for d in _walk_dependencies(route.route.dependant) if policy_of(d.call))
    principal = Principal(workspace_id=uuid.uuid4(), subject="v_walk", **CALLERS_B[caller])
    try:
        await dependency(principal)
    except Forbidden:
        return False
    return True


def _walk_dependencies(dependant: Any) -> list[Any]:
    return [d for dependency in dependant.dependencies for d in (dependency, *_walk_dependencies(dependency))]


async def _headers_of(http: httpx.AsyncClient, tenants: dict, caller: str) -> dict[str, str]:
    if caller != "visitor":
        return tenants["callers_b"][caller]
    # A fresh visitor of B's bot for each request: one visitor's own limit is 20 requests a minute.
    token = await http.post(
        "/api/auth/visitor-token", json={"public_key": tenants["widget_key_b"]}, headers={"Origin": ORIGIN}
    )
    assert token.status_code == 200, token.text
    return {"Authorization": f"Bearer {token.json()['visitor_token']}", "Origin": ORIGIN}


async def _request_within_limits(http: httpx.AsyncClient, method: str, path: str, **kwargs: Any) -> httpx.Response:
    """One request of the walk, waiting out B's rate limit when the walk reaches it: B's seven callers
    share its workspace's 600 requests a minute, and the walk makes more than that. A 429 says nothing
    about isolation; what the route answers once admitted does."""
    for _ in range(4):
        response = await http.request(method, path, **kwargs)
        if response.status_code != 429:
            return response
        await asyncio.sleep(min(float(response.headers.get("Retry-After", "5")), 30.0))
    return response


@pytest.mark.parametrize("caller", list(CALLERS_B))
async def test_no_route_of_any_application_reaches_another_workspace(
    http: httpx.AsyncClient, tenants: dict, caller: str
) -> None:
    a_messages = (
        await http.get(f"/api/conversations/{tenants['conversation_id']}", headers=tenants["a"].headers)
    ).json()
    a_reply = next(m["id"] for m in a_messages["messages"] if m["role"] == "bot")
    # Visitor actions that name tenant A's conversation or message in their body.
    body_objects = {
        "/api/chat/feedback": {"message_id": a_reply, "rating": 1},
        "/api/chat/lead": {"conversation_id": tenants["conversation_id"], "email": "b@example.com"},
        "/api/chat/handoff": {"conversation_id": tenants["conversation_id"]},
        # The helper's previews of A's bot.
        "/api/helper/analyze": {"bot_id": tenants["bot"]["id"], "message": "What does it cost?"},
        "/api/helper/guidance": {"bot_id": tenants["bot"]["id"], "message": "What does it cost?"},
    }
    walked = 0
    for route in all_routes():
        # Public routes name no tenant's object. POST /api/auth/oidc/exchange hands a login's tokens
        # only to the browser that started it: test_oidc.py::test_a_login_code_opens_only_in_the_browser_that_logged_in.
        if route.policy == "public" or "{provider}" in route.path:
            continue
        params = re.findall(r"{(\w+)}", route.path)
        if not params and route.method != "GET" and route.path not in body_objects:
            continue  # creates act in the caller's own workspace
        path = route.path
        for param in params:
            path = path.replace(f"{{{param}}}", _object_of_a(route.path, param, tenants))
        # Routes that name their object in the query instead of the path: ask for tenant A's.
        query = {name: _object_of_a(route.path, name, tenants) for name in QUERY_OBJECTS.get(route.path, ())}
        response = await _request_within_limits(
            http,
            route.method,
            path,
            headers=await _headers_of(http, tenants, caller),
            json=body_objects.get(route.path, BODIES.get(route.path)),
            params=query or None,
        )
        walked += 1
        where = f"{caller}: {route.method} {route.path} ({route.policy})"
        if not await _policy_admits(route, caller):
            assert response.status_code == 403, f"{where} -> {response.status_code}"
        elif params or query or route.path in body_objects:
            assert response.status_code == 404, f"{where} -> {response.status_code}"
        else:
            assert response.status_code == 200, f"{where} -> {response.status_code}"
        for secret in _secrets_of_a(tenants):
            assert secret not in response.text, f"{where} shows tenant A's {secret}"
    assert walked >= 10

    # And tenant A's objects are untouched by the attempts.
    a: Account = tenants["a"]
    assert (await http.get("/api/auth/verify", headers=tenants["second_device"].headers)).status_code == 200
    members = (await http.get("/api/auth/members", headers=a.headers)).json()
    assert tenants["agent_a"].email in [m["email"] for m in members]
    keys = (await http.get("/api/auth/api-keys", headers=a.headers)).json()
    assert keys[0]["revoked_at"] is None
    invitations = (await http.get("/api/auth/invitations", headers=a.headers)).json()
    assert [i["id"] for i in invitations] == [tenants["invitation"]["id"]], "A's invitation is still open"
    widget = (await http.get("/api/auth/widget-keys", headers=a.headers)).json()
    assert widget[0]["allowed_origins"] == ["https://a.example"]
    assert not widget[0]["has_identity_secret"] and not widget[0]["identity_required"], "nor its identity option"
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
    pattern = (await http.get(f"/api/helper/patterns/{tenants['pattern']['id']}", headers=a.headers)).json()
    assert (pattern["name"], pattern["status"]) == ("A-SECRET-PATTERN", "active")
    experiment = (await http.get(f"/api/helper/experiments/{tenants['experiment']['id']}", headers=a.headers)).json()
    assert (experiment["status"], experiment["winner"]) == ("running", None)
    helper_settings = (await http.get(f"/api/helper/bots/{tenants['bot']['id']}/settings", headers=a.headers)).json()
    assert (helper_settings["enabled"], helper_settings["goal"]) == (True, "resolution")
    calendars = (await http.get("/api/langgraph/calendars", headers=a.headers)).json()
    assert [(c["name"], c["write_bookings"]) for c in calendars] == [("A-SECRET-CALENDAR", True)]
    schedule = "/api/langgraph/schedule"
    booking_settings = (await http.get(f"{schedule}/settings/{tenants['bot']['id']}", headers=a.headers)).json()
    assert booking_settings["hours"]["1"] == [["08:00", "18:00"]]
    appointment_id = tenants["schedule"]["appointment"]["id"]
    appointment = (await http.get(f"{schedule}/bookings/{appointment_id}", headers=a.headers)).json()
    assert (appointment["status"], appointment["sequence"]) == ("booked", 0), "not cancelled, not moved"
    for kind, field, value in (
        ("services", "name", "A-SECRET-SERVICE"),
        ("closures", "reason", "A-SECRET-CLOSURE"),
        ("busy", "title", "A-SECRET-BLOCK"),
        ("resources", "active", True),
    ):
        key = {"services": "service", "closures": "closure", "busy": "block", "resources": "resource"}[kind]
        found = await http.get(f"{schedule}/{kind}/{tenants['schedule'][key]['id']}", headers=a.headers)
        assert found.status_code == 200 and found.json()[field] == value, f"A's {kind} untouched"
    run = await http.get(f"/api/langgraph/workflows/runs/{tenants['schedule']['run']['id']}", headers=a.headers)
    assert run.status_code == 200 and run.json()["run"]["status"] == "active", "A's run neither resumed nor cancelled"
    assert run.json()["state"]["awaiting"] == "name"
    task = await http.get(f"/api/langgraph/tasks/{tenants['schedule']['task']['id']}", headers=a.headers)
    assert task.status_code == 200 and task.json()["status"] == "queued", "A's reminder neither cancelled nor retried"


async def test_an_api_key_is_confined_to_its_workspace(http: httpx.AsyncClient, tenants: dict) -> None:
    b: Account = tenants["b"]
    key = (
        await http.post(
            "/api/auth/api-keys", json={"name": "b-key", "permissions": ["read", "manage"]}, headers=b.headers
        )
    ).json()
    as_key = {"Authorization": f"Bearer {key['secret']}"}
    members = await http.get("/api/auth/members", headers=as_key)
    emails = [m["email"] for m in members.json()]
    assert b.email in emails and tenants["a"].email not in emails and tenants["agent_a"].email not in emails
    widget_keys = await http.get("/api/auth/widget-keys", headers=as_key)
    assert widget_keys.status_code == 200
    assert [k["public_key"] for k in widget_keys.json()] == [tenants["widget_key_b"]], "B's own widget key only"


async def test_viewers_and_read_keys_cannot_chat_or_write_in_a_visitors_name(
    http: httpx.AsyncClient, tenants: dict
) -> None:
    a: Account = tenants["a"]
    viewer = await member_of(http, a, "viewer")
    read_key = {"Authorization": f"Bearer {tenants['api_key']['secret']}"}
    reply_key = (
        await http.post("/api/auth/api-keys", json={"name": "replies", "permissions": ["reply"]}, headers=a.headers)
    ).json()
    bot = await make_bot(http, a, name="Permissions")
    visitor = await visitor_of(http, a, bot)
    answer = await visitor.say("Do you sell wedding cakes?")
    conversation_id, reply_id = answer["conversation_id"], answer["message_id"]
    chat = {"bot_id": bot["id"], "message": "hello", "stream": False}
    completion = {"model": bot["id"], "messages": [{"role": "user", "content": "hello"}]}
    lead = {"conversation_id": conversation_id, "email": "someone@example.com"}
    handoff = {"conversation_id": conversation_id}
    feedback = {"message_id": reply_id, "rating": 1}
    read_only = {"viewer": viewer.headers, "read key": read_key}
    for who, headers in read_only.items():
        for path, body in (
            ("/api/chat", chat),
            ("/api/chat", {**chat, "conversation_id": conversation_id}),
            ("/v1/chat/completions", completion),
            ("/api/chat/lead", lead),
            ("/api/chat/handoff", handoff),
            ("/api/chat/feedback", feedback),
        ):
            response = await http.post(path, json=body, headers=headers)
            assert response.status_code == 403, f"a {who} -> {path}: {response.status_code}"
    # Only the visitor leaves a lead, rates a reply or asks for a person: not even the owner, in their name.
    for who, headers in {"owner": a.headers, "agent": tenants["agent_a"].headers}.items():
        for path, body in (("/api/chat/lead", lead), ("/api/chat/handoff", handoff), ("/api/chat/feedback", feedback)):
            response = await http.post(path, json=body, headers=headers)
            assert response.status_code == 403, f"the {who} -> {path}: {response.status_code}"
        # Nor posts into the visitor's conversation as if they were the visitor (agents reply through handoff).
        posing = await http.post("/api/chat", json={**chat, "conversation_id": conversation_id}, headers=headers)
        assert posing.status_code == 404, f"the {who} posed as the visitor: {posing.status_code}"
    transcript = (await http.get(f"/api/conversations/{conversation_id}", headers=a.headers)).json()
    assert [m["role"] for m in transcript["messages"]] == ["visitor", "bot"], "nothing was written"

    # The visitor still can, and a key with `reply` (and the agent) may start conversations of their own.
    assert (await http.post("/api/chat/feedback", json=feedback, headers=visitor.headers)).status_code == 200
    assert (await http.post("/api/chat/lead", json=lead, headers=visitor.headers)).status_code == 200
    assert (await http.post("/api/chat/handoff", json=handoff, headers=visitor.headers)).status_code == 200
    as_reply_key = {"Authorization": f"Bearer {reply_key['secret']}"}
    completed = await http.post("/v1/chat/completions", json=completion, headers=as_reply_key, timeout=120)
    assert completed.status_code == 200, completed.text
    own = await http.post("/api/chat", json=chat, headers=tenants["agent_a"].headers, timeout=120)
    assert own.status_code == 200, own.text
    again = {**chat, "conversation_id": own.json()["conversation_id"]}
    continued = await http.post("/api/chat", json=again, headers=tenants["agent_a"].headers, timeout=120)
    assert continued.status_code == 200, continued.text
