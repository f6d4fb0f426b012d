"""A route without an explicit access policy is a defect: this walk finds it."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from cortex.errors import Forbidden
from cortex.http.security import Principal, policy_of
from cortex.routes import Route, all_routes


def test_every_route_of_every_application_declares_a_policy() -> None:
    routes = list(all_routes())
    assert len(routes) > 30, "the walk must see the real routes"
    missing = [f"{r.method} {r.path}" for r in routes if r.policy is None]
    assert not missing, f"routes without Depends(public) or Depends(require(...)): {missing}"


def test_only_entry_points_are_public() -> None:
    public = {f"{r.method} {r.path}" for r in all_routes() if r.policy == "public"}
    allowed_public_suffixes = (
        "/healthz",
        "/readyz",
        "/register",
        "/login",
        "/refresh",
        "/jwks.json",
        "/visitor-token",
        "/oidc/providers",
        "/login",
        "/callback",
        "/password-reset",  # mails a link to the address; answers alike for every address
        "/password-reset/confirm",  # the mailed single-use token is the credential
        "/oidc/exchange",  # trades a one-time login code, bound to the browser's OIDC cookie
        "/schedule/links/{token}",  # a booking's mailed link: the signed, expiring token is the credential
    )
    # The widget application serves static pages and files only: public by nature, no data.
    pages = ("/", "/dashboard", "/demo", "/embed.js", "/preview", "/widget", "/static/{version}/{path:path}")
    static_pages = {f"{method} {page}" for page in pages for method in ("GET", "HEAD")}
    unexpected = sorted(p for p in public - static_pages if not p.endswith(allowed_public_suffixes))
    assert not unexpected, f"public routes that should require a role: {unexpected}"


# -- every route x every role and API-key scope -----------------------------------------------------

WORKSPACE = uuid.uuid4()
BOT = uuid.uuid4()
CALLERS: dict[str, Principal] = {
    **{
        role: Principal(kind="user", workspace_id=WORKSPACE, subject=str(uuid.uuid4()), role=role)
        for role in ("owner", "admin", "agent", "viewer")
    },
    **{
        f"key:{scope}": Principal(
            kind="api_key", workspace_id=WORKSPACE, subject=str(uuid.uuid4()), permissions=frozenset({scope})
        )
        for scope in ("read", "reply", "manage")
    },
    "key:read+reply+manage": Principal(
        kind="api_key",
        workspace_id=WORKSPACE,
        subject=str(uuid.uuid4()),
        permissions=frozenset({"read", "reply", "manage"}),
    ),
    "visitor": Principal(kind="visitor", workspace_id=WORKSPACE, subject="v_1", bot_id=BOT),
}
# The rank each caller acts with: a member's role; an API key's scopes (read: viewer, reply: agent,
# manage: admin; never owner).
RANK = {"viewer": 1, "agent": 2, "admin": 3, "owner": 4}
CALLER_RANK = {
    "owner": 4,
    "admin": 3,
    "agent": 2,
    "viewer": 1,
    "key:read": 1,
    "key:reply": 2,
    "key:manage": 3,
    "key:read+reply+manage": 3,
}
# What only a widget visitor says; nobody writes it in their name.
VISITOR_ONLY = {"POST /api/chat/feedback", "POST /api/chat/lead", "POST /api/chat/handoff"}
# Everything a visitor token may reach.
VISITOR_ROUTES = VISITOR_ONLY | {
    "POST /api/chat",
    "GET /api/chat/config",
    "GET /api/chat/conversations/{conversation_id}",
    "GET /api/live/conversations/{conversation_id}/stream",
}
# Routes that start a conversation: they need a reply permission (an agent), not a read one.
CHATS = {"POST /api/chat", "POST /v1/chat/completions"}
# A POST that only reads (the helper's previews analyse and decide, and record nothing).
READING_POSTS = {"POST /api/knowledge/search", "POST /api/helper/analyze", "POST /api/helper/guidance"}


def expected(policy: str, caller: str) -> bool:
    """Who each policy admits, as docs/api.md describes it."""
    if policy == "visitor":
        return caller == "visitor"
    kind, _, role = policy.partition(":")
    if caller == "visitor":
        return kind == "visitor-or"
    if kind == "user" and caller.startswith("key:"):
        return False
    return CALLER_RANK[caller] >= RANK[role]


def _dependency(route: Route) -> Callable[..., Awaitable[Any]]:
    def find(dependant: Any) -> Any:
        for dependency in dependant.dependencies:
            if policy_of(dependency.call):
                return dependency.call
            found = find(dependency)
            if found:
                return found
        return None

    found = find(route.route.dependant)
    assert found is not None, f"{route.method} {route.path} has no policy"
    return found


async def _admits(route: Route, principal: Principal) -> bool:
    try:
        await _dependency(route)(principal)
    except Forbidden:
        return False
    return True


ROUTES = [r for r in all_routes() if r.policy != "public"]


@pytest.mark.parametrize("caller", list(CALLERS))
async def test_every_route_admits_exactly_the_roles_and_key_scopes_its_policy_names(caller: str) -> None:
    wrong = []
    for route in ROUTES:
        admitted = await _admits(route, CALLERS[caller])
        assert route.policy is not None
        if admitted != expected(route.policy, caller):
            wrong.append(f"{route.method} {route.path} ({route.policy}): {'admitted' if admitted else 'refused'}")
    assert not wrong, f"{caller}: {wrong}"


@pytest.mark.parametrize("caller", ["viewer", "key:read"])
async def test_viewers_and_read_keys_write_nothing_in_the_workspace(caller: str) -> None:
    writes = []
    for route in ROUTES:
        name = f"{route.method} {route.path}"
        if route.method in ("GET", "HEAD") or name in READING_POSTS or route.policy == "user:viewer":
            continue  # reads, and a member's own account (password, sessions, sign-out)
        if await _admits(route, CALLERS[caller]):
            writes.append(name)
    assert not writes, f"a {caller} may write through {writes}"


async def test_only_the_visitor_leaves_leads_and_feedback_and_asks_for_a_person() -> None:
    routes = {f"{r.method} {r.path}": r for r in ROUTES}
    for name in VISITOR_ONLY:
        admitted = [caller for caller, principal in CALLERS.items() if await _admits(routes[name], principal)]
        assert admitted == ["visitor"], f"{name} admits {admitted}"


async def test_starting_a_conversation_takes_a_reply_permission() -> None:
    routes = {f"{r.method} {r.path}": r for r in ROUTES}
    for name in CHATS:
        admitted = {caller for caller, principal in CALLERS.items() if await _admits(routes[name], principal)}
        refused = set(CALLERS) - admitted
        assert {"viewer", "key:read"} <= refused, f"{name} admits a read-only caller: {admitted}"
        assert {"agent", "key:reply"} <= admitted, f"{name} refuses a replier: {refused}"


async def test_a_visitor_reaches_only_the_widget_routes() -> None:
    reached = {f"{r.method} {r.path}" for r in ROUTES if await _admits(r, CALLERS["visitor"])}
    assert reached == VISITOR_ROUTES


def test_only_admin_members_switch_identity_verification_and_see_its_secret() -> None:
    policies = {f"{r.method} {r.path}": r.policy for r in all_routes()}
    assert policies["POST /api/auth/widget-keys/{key_id}/identity-secret"] == "user:admin"
    assert policies["PUT /api/auth/widget-keys/{key_id}/identity-verification"] == "user:admin"
