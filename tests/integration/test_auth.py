"""The auth application through the Serve gateway: accounts, tokens, roles, keys, limits."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import statistics
import time
import uuid

import asyncpg
import httpx
import pytest
import redis.asyncio as aioredis

from cortex.auth import signing_keys
from cortex.auth.service import TokenService, devices
from cortex.db import create_pool
from cortex.http.security import ACCESS_TOKEN_TYPE
from cortex.settings import Settings
from tests.stack_fixtures import RunningStack

from .accounts import PASSWORD, Account, login, member_of, register
from .mailbox import mail_to, text_of

# -- registration and login ------------------------------------------------------------------


async def test_register_creates_the_account_and_its_workspace_and_the_owner_logs_in(
    http: httpx.AsyncClient, running_stack: RunningStack
) -> None:
    email = f"new-{uuid.uuid4().hex[:8]}@Example.com"
    response = await http.post(
        "/api/auth/register", json={"email": email, "password": PASSWORD, "workspace_name": "Bakery"}
    )
    assert response.status_code == 202, response.text
    assert "access_token" not in response.json()
    body = (await http.post("/api/auth/login", json={"email": email, "password": PASSWORD})).json()
    assert body["token_type"] == "bearer" and body["expires_in"] == 900
    assert body["user"]["email"] == email
    assert body["workspace"]["name"] == "Bakery" and body["workspace"]["role"] == "owner"
    verified = await http.get("/api/auth/verify", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert verified.status_code == 200
    assert verified.json()["role"] == "owner"
    assert verified.json()["workspace_id"] == body["workspace"]["id"]
    [welcome] = await mail_to(running_stack.home, email)
    assert welcome["Subject"] == "Your Cortex account" and "/dashboard" in text_of(welcome)


async def _signed_up(http: httpx.AsyncClient, workspace: str = "Acme") -> Account:
    """A new account, signed in, whatever sign-up answers (the tests below compare its answers)."""
    email = f"owner-{uuid.uuid4().hex[:10]}@example.com"
    await http.post("/api/auth/register", json={"email": email, "password": PASSWORD, "workspace_name": workspace})
    return await login(http, email)


async def test_registering_a_known_address_answers_as_a_new_one_and_mails_its_owner(
    http: httpx.AsyncClient, running_stack: RunningStack
) -> None:
    """Sign-up tells nobody which addresses have an account: same status, same body, about the
    same time; the owner of the address learns by mail, and their account is unchanged."""
    owner = await _signed_up(http)
    new_answers, known_answers, new_times, known_times = [], [], [], []
    for _ in range(3):
        fresh = f"fresh-{uuid.uuid4().hex[:8]}@example.com"
        started = time.perf_counter()
        new_answers.append(
            await http.post("/api/auth/register", json={"email": fresh, "password": PASSWORD, "workspace_name": "Shop"})
        )
        new_times.append(time.perf_counter() - started)
        started = time.perf_counter()
        known_answers.append(
            await http.post(
                "/api/auth/register",
                json={"email": owner.email.upper(), "password": "another passphrase 77", "workspace_name": "Dup"},
            )
        )
        known_times.append(time.perf_counter() - started)
    for new, known in zip(new_answers, known_answers, strict=True):
        assert new.status_code == known.status_code == 202
        assert new.json().keys() == known.json().keys()
        assert new.json()["message"] == known.json()["message"]
    ratio = statistics.median(known_times) / statistics.median(new_times)
    assert 0.33 < ratio < 3, (known_times, new_times)

    mails = await mail_to(running_stack.home, owner.email, count=4)  # the welcome, then one per attempt
    assert [m["Subject"] for m in mails[1:]] == ["Someone tried to sign up with your address"] * 3
    assert "nothing was created and nothing changed" in text_of(mails[-1])
    # Nothing changed: the old password still signs in, the one typed at sign-up does not.
    assert (await login(http, owner.email)).workspace_id == owner.workspace_id
    intruder = await http.post("/api/auth/login", json={"email": owner.email, "password": "another passphrase 77"})
    assert intruder.status_code == 401
    audit = (await http.get("/api/auth/audit-log", headers=owner.headers)).json()
    assert [e["event"] for e in audit].count("register.existing_address") == 3


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("short1!", "at least 10"),
        ("password123", "breached"),
        ("qwertyuiop", "breached"),
        ("aaaaaaaaaaaa", "different"),
    ],
)
async def test_weak_passwords_are_refused_with_a_reason(http: httpx.AsyncClient, password: str, reason: str) -> None:
    response = await http.post(
        "/api/auth/register",
        json={"email": f"weak-{uuid.uuid4().hex[:8]}@example.com", "password": password, "workspace_name": "W"},
    )
    assert response.status_code == 422
    assert reason in response.json()["error"]["message"]
    assert password not in response.text


@pytest.mark.parametrize(
    "body",
    [
        {"email": "not-an-email", "password": PASSWORD, "workspace_name": "W"},
        {"email": "a@b.co", "password": PASSWORD},
        {"email": "a@b.co", "password": PASSWORD, "workspace_name": "W", "role": "owner"},
        {"email": ["a@b.co"], "password": PASSWORD, "workspace_name": "W"},
    ],
)
async def test_malformed_registration_is_a_422_naming_the_field(http: httpx.AsyncClient, body: dict) -> None:
    response = await http.post("/api/auth/register", json=body)
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["field"].startswith("body")


async def test_login_fails_the_same_way_for_unknown_email_and_wrong_password(http: httpx.AsyncClient) -> None:
    account = await register(http)
    wrong_password, unknown_email = [], []
    for _ in range(3):
        started = time.perf_counter()
        a = await http.post("/api/auth/login", json={"email": account.email, "password": "Wrong-password-1"})
        wrong_password.append(time.perf_counter() - started)
        started = time.perf_counter()
        b = await http.post(
            "/api/auth/login", json={"email": f"nobody-{uuid.uuid4().hex}@example.com", "password": "Wrong-1x"}
        )
        unknown_email.append(time.perf_counter() - started)
        assert a.status_code == b.status_code == 401
        assert a.json()["error"]["message"] == b.json()["error"]["message"] == "invalid email or password"
    # Both paths verify an argon2 hash: neither may be several times faster than the other.
    ratio = statistics.median(wrong_password) / statistics.median(unknown_email)
    assert 0.33 < ratio < 3, (wrong_password, unknown_email)
    assert (await login(http, account.email)).workspace_id == account.workspace_id


def _an_ip() -> dict[str, str]:
    """One client IP, as the gateway derives it (the test stack trusts one X-Forwarded-For hop)."""
    return {"X-Forwarded-For": f"198.51.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250 + 1}"}


async def test_login_brute_force_is_rate_limited_long_before_a_guess(http: httpx.AsyncClient) -> None:
    account = await register(http)
    attacker = _an_ip()
    statuses = []
    for attempt in range(8):
        response = await http.post(
            "/api/auth/login", json={"email": account.email, "password": f"guess-number-{attempt}"}, headers=attacker
        )
        statuses.append(response.status_code)
    assert statuses[:5] == [401] * 5
    assert statuses[5:] == [429] * 3
    limited = await http.post("/api/auth/login", json={"email": account.email, "password": PASSWORD}, headers=attacker)
    assert limited.status_code == 429, "even the right password waits out the limit"
    assert int(limited.headers["retry-after"]) >= 1
    assert limited.headers["ratelimit-remaining"] == "0"
    assert limited.json()["error"]["code"] == "rate_limited"


async def test_nobody_can_lock_an_account_out_by_failing_its_logins(
    http: httpx.AsyncClient, running_stack: RunningStack, settings: Settings
) -> None:
    """Per account and IP; then a looser limit per account shared by every machine that has never
    logged in to it. The owner's own browser (its device cookie) is never held by that one."""
    account = await register(http)  # logs in: `http` is now a browser that knows this account
    assert devices.COOKIE in http.cookies
    async with httpx.AsyncClient(base_url=running_stack.url, timeout=30) as attacker:
        guesser = _an_ip()
        for attempt in range(30):
            await attacker.post(
                "/api/auth/login", json={"email": account.email, "password": f"guess-{attempt}"}, headers=guesser
            )
        async with httpx.AsyncClient(base_url=running_stack.url, timeout=30) as laptop:
            elsewhere = await laptop.post(
                "/api/auth/login", json={"email": account.email, "password": PASSWORD}, headers=_an_ip()
            )
        assert elsewhere.status_code == 200, "failing from one IP locks no other out"

        # Guessing from many addresses meets the account's shared limit, for every stranger's machine...
        statuses = [
            (
                await attacker.post(
                    "/api/auth/login", json={"email": account.email, "password": f"spread-{n}"}, headers=_an_ip()
                )
            ).status_code
            for n in range(settings.login_per_account_per_min)
        ]
        assert statuses.count(429) >= 1, statuses
        stranger = await attacker.post(
            "/api/auth/login", json={"email": account.email, "password": PASSWORD}, headers=_an_ip()
        )
        assert stranger.status_code == 429 and "for this account;" in stranger.json()["error"]["message"]

        # ...but not for the owner's browser, which has logged in before: it has a limit of its own.
        owner = await http.post(
            "/api/auth/login", json={"email": account.email, "password": PASSWORD}, headers=_an_ip()
        )
        assert owner.status_code == 200, owner.text

        # A device cookie copied to another account, or forged, buys nothing.
        owners_entry = http.cookies[devices.COOKIE].split("~")[0]  # the newest login's
        tampered = owners_entry[:-4] + ("AAAA" if not owners_entry.endswith("AAAA") else "BBBB")
        forged = await attacker.post(
            "/api/auth/login",
            json={"email": account.email, "password": PASSWORD},
            headers={**_an_ip(), "Cookie": f"{devices.COOKIE}={tampered}"},
        )
        assert forged.status_code == 429


async def test_per_ip_limit_stops_one_client_spraying_many_accounts(http: httpx.AsyncClient) -> None:
    ip = {"X-Forwarded-For": f"192.0.2.{uuid.uuid4().int % 250 + 1}"}
    statuses = []
    for _ in range(45):
        response = await http.post(
            "/api/auth/login",
            json={"email": f"spray-{uuid.uuid4().hex[:8]}@example.com", "password": "Spray-password-1"},
            headers=ip,
        )
        statuses.append(response.status_code)
    assert statuses.count(429) >= 10 and set(statuses) == {401, 429}


# -- tokens: refresh rotation, logout, verification per RFC 8725 -----------------------------


async def test_refresh_rotates_and_the_old_refresh_token_is_spent(http: httpx.AsyncClient) -> None:
    account = await register(http)
    first = await http.post("/api/auth/refresh", json={"refresh_token": account.refresh_token})
    assert first.status_code == 200
    pair = first.json()
    assert pair["refresh_token"] != account.refresh_token
    assert (
        await http.get("/api/auth/verify", headers={"Authorization": f"Bearer {pair['access_token']}"})
    ).status_code == 200
    garbage = await http.post("/api/auth/refresh", json={"refresh_token": "rt_not-a-real-token"})
    assert garbage.status_code == 401


async def test_refresh_token_reuse_revokes_the_whole_family(http: httpx.AsyncClient) -> None:
    account = await register(http)
    rotated = (await http.post("/api/auth/refresh", json={"refresh_token": account.refresh_token})).json()
    reuse = await http.post("/api/auth/refresh", json={"refresh_token": account.refresh_token})
    assert reuse.status_code == 401
    assert "revoked" in reuse.json()["error"]["message"]
    # The attacker's (or victim's) newer tokens of that family die too.
    assert (await http.post("/api/auth/refresh", json={"refresh_token": rotated["refresh_token"]})).status_code == 401
    newer = {"Authorization": f"Bearer {rotated['access_token']}"}
    assert (await http.get("/api/auth/verify", headers=newer)).status_code == 401
    owner = await login(http, account.email)
    audit = (await http.get("/api/auth/audit-log", headers=owner.headers)).json()
    assert "refresh.reuse_detected" in [entry["event"] for entry in audit]


async def test_logout_stops_the_access_and_refresh_tokens_at_once(http: httpx.AsyncClient) -> None:
    account = await register(http)
    other_device = await login(http, account.email)
    assert (await http.post("/api/auth/logout", headers=account.headers, json={})).status_code == 204
    assert (await http.get("/api/auth/verify", headers=account.headers)).status_code == 401
    assert (await http.get("/api/auth/me", headers=account.headers)).status_code == 401
    assert (await http.post("/api/auth/refresh", json={"refresh_token": account.refresh_token})).status_code == 401
    assert (await http.get("/api/auth/verify", headers=other_device.headers)).status_code == 200


async def test_sessions_can_be_listed_and_revoked(http: httpx.AsyncClient) -> None:
    account = await register(http)
    laptop = await login(http, account.email)
    sessions = (await http.get("/api/auth/sessions", headers=account.headers)).json()
    assert len(sessions) == 2 and sum(s["current"] for s in sessions) == 1
    laptop_session = next(s for s in sessions if not s["current"])
    revoked = await http.delete(f"/api/auth/sessions/{laptop_session['id']}", headers=account.headers)
    assert revoked.status_code == 204
    assert (await http.get("/api/auth/verify", headers=laptop.headers)).status_code == 401
    assert len((await http.get("/api/auth/sessions", headers=account.headers)).json()) == 1


@pytest.fixture
async def auth_conn(settings: Settings):
    conn = await asyncpg.connect(settings.service_database_url("auth"), server_settings={"search_path": "auth"})
    yield conn
    await conn.close()


def _claims(account: Account, **overrides: object) -> dict:
    verified = json.loads(base64.urlsafe_b64decode(account.access_token.split(".")[1] + "=="))
    now = int(time.time())
    claims = {**verified, "iat": now, "nbf": now, "exp": now + 600, "jti": uuid.uuid4().hex}
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


async def test_forged_and_misused_tokens_are_refused(
    http: httpx.AsyncClient, settings: Settings, auth_conn: asyncpg.Connection
) -> None:
    account = await register(http)
    key = await signing_keys.current_key(auth_conn, settings)

    def sign(typ: str = ACCESS_TOKEN_TYPE, **overrides: object) -> str:
        return key.sign(_claims(account, **overrides), token_type=typ)

    good = sign()
    assert (await http.get("/api/auth/verify", headers={"Authorization": f"Bearer {good}"})).status_code == 200

    header, payload, signature = good.split(".")
    tampered_payload = _b64(json.dumps(_claims(account, role="owner", wid=str(uuid.uuid4()))).encode())
    jwks = (await http.get("/api/auth/.well-known/jwks.json")).json()
    public_key = base64.urlsafe_b64decode(jwks["keys"][0]["x"] + "==")
    hs_header = _b64(json.dumps({"alg": "HS256", "typ": ACCESS_TOKEN_TYPE, "kid": key.kid}).encode())
    hs_signature = _b64(hmac.new(public_key, f"{hs_header}.{payload}".encode(), hashlib.sha256).digest())
    none_header = _b64(json.dumps({"alg": "none", "typ": ACCESS_TOKEN_TYPE, "kid": key.kid}).encode())

    forged = {
        "tampered payload": f"{header}.{tampered_payload}.{signature}",
        "tampered signature": f"{header}.{payload}.{signature[:-4]}AAAA",
        "expired": sign(exp=int(time.time()) - 60, iat=int(time.time()) - 960, nbf=int(time.time()) - 960),
        "not yet valid": sign(nbf=int(time.time()) + 300),
        "wrong audience": sign(aud="someone-else"),
        "wrong issuer": sign(iss="https://evil.example"),
        "wrong token type": sign(typ="JWT"),
        "visitor type for a member route": sign(typ="visitor+jwt"),
        "missing jti": sign(jti=None),
        "alg none": f"{none_header}.{payload}.",
        "HS256 keyed with the public key": f"{hs_header}.{payload}.{hs_signature}",
        "garbage": "not.a.token",
    }
    for name, token in forged.items():
        response = await http.get("/api/auth/verify", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401, name
        assert response.json()["error"]["code"] == "unauthorized", name
    for header_value in ("", "Basic dXNlcjpwYXNz", "Bearer", f"Token {good}"):
        assert (await http.get("/api/auth/verify", headers={"Authorization": header_value})).status_code == 401


async def test_key_rotation_keeps_old_tokens_valid_and_publishes_both_keys(
    http: httpx.AsyncClient, settings: Settings, redis_client: aioredis.Redis
) -> None:
    account = await register(http)
    pool = await create_pool(settings.service_database_url("auth"), settings, schema="auth")
    try:
        new_kid = await TokenService(db=pool, redis=redis_client, settings=settings).rotate_signing_key()
    finally:
        await pool.close()
    kids = [key["kid"] for key in (await http.get("/api/auth/.well-known/jwks.json")).json()["keys"]]
    assert new_kid in kids and len(kids) >= 2
    assert (await http.get("/api/auth/verify", headers=account.headers)).status_code == 200
    await asyncio.sleep(2.5)  # a verifier re-reads keys for an unknown kid at most every 2 s
    fresh = await login(http, account.email)
    header = json.loads(base64.urlsafe_b64decode(fresh.access_token.split(".")[0] + "=="))
    assert header["kid"] == new_kid and header["alg"] == "EdDSA" and header["typ"] == ACCESS_TOKEN_TYPE
    assert (await http.get("/api/auth/verify", headers=fresh.headers)).status_code == 200


# -- roles and members ----------------------------------------------------------------------------


async def test_roles_gate_what_members_may_do(http: httpx.AsyncClient) -> None:
    owner = await register(http)
    viewer = await member_of(http, owner, "viewer")
    admin = await member_of(http, owner, "admin")
    assert (await http.get("/api/auth/members", headers=viewer.headers)).status_code == 200
    denied = await http.post("/api/auth/api-keys", json={"name": "x", "permissions": ["read"]}, headers=viewer.headers)
    assert denied.status_code == 403 and denied.json()["error"]["code"] == "forbidden"
    assert (await http.get("/api/auth/audit-log", headers=admin.headers)).status_code == 403
    make_owner = await http.patch(f"/api/auth/members/{viewer.user_id}", json={"role": "owner"}, headers=admin.headers)
    assert make_owner.status_code == 403
    promote = await http.patch(f"/api/auth/members/{viewer.user_id}", json={"role": "agent"}, headers=admin.headers)
    assert promote.status_code == 200 and promote.json()["role"] == "agent"
    # A role change ends the member's sessions, so the new role applies at once.
    assert (await http.get("/api/auth/verify", headers=viewer.headers)).status_code == 401
    relogged = await login(http, viewer.email, workspace_id=owner.workspace_id)
    assert (await http.get("/api/auth/verify", headers=relogged.headers)).json()["role"] == "agent"


async def test_inviting_answers_alike_for_addresses_with_and_without_an_account_and_mails_each(
    http: httpx.AsyncClient, running_stack: RunningStack
) -> None:
    """Neither the answer nor the mail's link depends on the address having an account; the account
    joins only by accepting (tests/integration/test_email_ownership.py)."""
    owner = await register(http, workspace="Corner Bakery")
    known = await register(http)
    stranger = f"stranger-{uuid.uuid4().hex[:8]}@example.com"
    answers = [
        await http.post("/api/auth/members", json={"email": email, "role": "agent"}, headers=owner.headers)
        for email in (known.email, stranger)
    ]
    assert [a.status_code for a in answers] == [202, 202], [a.text for a in answers]
    assert answers[0].json().keys() == answers[1].json().keys()
    assert answers[0].json()["message"] == answers[1].json()["message"]
    invited = (await mail_to(running_stack.home, known.email, count=2))[-1]
    assert invited["Subject"] == "You are invited to a Cortex workspace" and "Corner Bakery" in text_of(invited)
    [to_stranger] = await mail_to(running_stack.home, stranger)
    assert "no Cortex account yet" in text_of(to_stranger) and "Corner Bakery" in text_of(to_stranger)
    not_yet = await http.post(
        "/api/auth/login", json={"email": known.email, "password": PASSWORD, "workspace_id": owner.workspace_id}
    )
    assert not_yet.status_code == 401, "not a member before accepting"


async def test_the_last_owner_cannot_be_demoted_or_removed(http: httpx.AsyncClient) -> None:
    owner = await register(http)
    demote = await http.patch(f"/api/auth/members/{owner.user_id}", json={"role": "admin"}, headers=owner.headers)
    assert demote.status_code == 409
    assert (await http.delete(f"/api/auth/members/{owner.user_id}", headers=owner.headers)).status_code == 409


async def test_a_removed_member_loses_access_immediately(http: httpx.AsyncClient) -> None:
    owner = await register(http)
    agent = await member_of(http, owner, "agent")
    assert (await http.delete(f"/api/auth/members/{agent.user_id}", headers=owner.headers)).status_code == 204
    assert (await http.get("/api/auth/members", headers=agent.headers)).status_code == 401
    emails = [m["email"] for m in (await http.get("/api/auth/members", headers=owner.headers)).json()]
    assert agent.email not in emails


async def test_me_lists_every_workspace_and_switching_issues_a_scoped_token(http: httpx.AsyncClient) -> None:
    owner = await register(http)
    agent = await member_of(http, owner, "agent")
    me = (await http.get("/api/auth/me", headers=agent.headers)).json()
    assert me["workspace"]["id"] == owner.workspace_id and me["role"] == "agent"
    assert len(me["workspaces"]) == 2
    home = next(w for w in me["workspaces"] if w["id"] != owner.workspace_id)
    switched = await http.post("/api/auth/switch-workspace", json={"workspace_id": home["id"]}, headers=agent.headers)
    assert switched.status_code == 200 and switched.json()["workspace"]["role"] == "owner"
    stranger = await http.post(
        "/api/auth/switch-workspace", json={"workspace_id": str(uuid.uuid4())}, headers=agent.headers
    )
    assert stranger.status_code == 404


# -- API keys and widget keys -------------------------------------------------------------------


async def test_api_keys_authenticate_within_their_permissions_until_revoked(http: httpx.AsyncClient) -> None:
    owner = await register(http)
    created = await http.post(
        "/api/auth/api-keys", json={"name": "CRM sync", "permissions": ["read"]}, headers=owner.headers
    )
    assert created.status_code == 201
    key = created.json()
    secret = key["secret"]
    listed = (await http.get("/api/auth/api-keys", headers=owner.headers)).json()
    assert [k["name"] for k in listed] == ["CRM sync"] and "secret" not in listed[0]
    as_key = {"Authorization": f"Bearer {secret}"}
    assert (await http.get("/api/auth/members", headers=as_key)).status_code == 200
    used = (await http.get("/api/auth/api-keys", headers=owner.headers)).json()[0]
    assert used["last_used_at"] is not None
    assert (await http.get("/api/auth/widget-keys", headers=as_key)).status_code == 403, "read is not manage"
    assert (await http.get("/api/auth/api-keys", headers=as_key)).status_code == 403, "keys never manage keys"
    wrong = secret[:-3] + ("aaa" if not secret.endswith("aaa") else "bbb")
    assert (await http.get("/api/auth/members", headers={"Authorization": f"Bearer {wrong}"})).status_code == 401
    assert (await http.delete(f"/api/auth/api-keys/{key['id']}", headers=owner.headers)).status_code == 204
    assert (await http.get("/api/auth/members", headers=as_key)).status_code == 401
    events = [e["event"] for e in (await http.get("/api/auth/audit-log", headers=owner.headers)).json()]
    assert {"api_key.created", "api_key.revoked"} <= set(events)


async def test_widget_key_is_deny_by_default_and_binds_visitor_tokens_to_origins(http: httpx.AsyncClient) -> None:
    owner = await register(http)
    bot_id = str(uuid.uuid4())
    bare = (await http.post("/api/auth/widget-keys", json={"bot_id": bot_id}, headers=owner.headers)).json()
    assert bare["allowed_origins"] == []
    nobody = await http.post(
        "/api/auth/visitor-token", json={"public_key": bare["public_key"]}, headers={"Origin": "https://shop.example"}
    )
    assert nobody.status_code == 403
    preview = await http.post(
        "/api/auth/visitor-token", json={"public_key": bare["public_key"], "preview": True}, headers=owner.headers
    )
    assert preview.status_code == 200

    listed = await http.post(
        "/api/auth/widget-keys",
        json={"bot_id": bot_id, "allowed_origins": ["https://Shop.example/", "http://localhost:3000"]},
        headers=owner.headers,
    )
    assert listed.json()["allowed_origins"] == ["http://localhost:3000", "https://shop.example"]
    key = listed.json()["public_key"]
    ok = await http.post(
        "/api/auth/visitor-token", json={"public_key": key}, headers={"Origin": "https://shop.example"}
    )
    assert ok.status_code == 200
    token = ok.json()
    assert token["bot_id"] == bot_id and token["expires_in"] == 3600 and token["visitor_id"].startswith("v_")
    for origin in ("https://evil.example", "https://shop.example.evil.example", "http://shop.example", None):
        headers = {"Origin": origin} if origin else {}
        refused = await http.post("/api/auth/visitor-token", json={"public_key": key}, headers=headers)
        assert refused.status_code == 403, origin
    # A visitor token is not a member token.
    visitor = {"Authorization": f"Bearer {token['visitor_token']}"}
    assert (await http.get("/api/auth/members", headers=visitor)).status_code in (401, 403)
    assert (await http.get("/api/auth/verify", headers=visitor)).status_code in (401, 403)
    bad_origin = await http.post(
        "/api/auth/widget-keys", json={"bot_id": bot_id, "allowed_origins": ["*"]}, headers=owner.headers
    )
    assert bad_origin.status_code == 422
    assert (await http.delete(f"/api/auth/widget-keys/{listed.json()['id']}", headers=owner.headers)).status_code == 204
    gone = await http.post(
        "/api/auth/visitor-token", json={"public_key": key}, headers={"Origin": "https://shop.example"}
    )
    assert gone.status_code == 404


# -- signup saga -----------------------------------------------------------------------------------


async def test_registration_publishes_user_registered(http: httpx.AsyncClient, redis_client: aioredis.Redis) -> None:
    account = await register(http)
    deadline = time.monotonic() + 15
    while True:
        entries = await redis_client.xrevrange("cortex:events:user", count=200)
        payloads = [json.loads(fields[b"payload"]) for _, fields in entries]
        if any(p["user_id"] == account.user_id for p in payloads):
            break
        assert time.monotonic() < deadline, "user.registered never reached the stream"
        await asyncio.sleep(0.2)
    event = next(p for p in payloads if p["user_id"] == account.user_id)
    assert event["workspace_id"] == account.workspace_id and event["email"] == account.email


async def _eventually(read, what: str):  # noqa: ANN001, ANN202
    deadline = time.monotonic() + 20
    while (value := await read()) is None:
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.2)
    return value


async def test_signup_saga_core_creates_the_profile_and_marketing_records_consent(
    http: httpx.AsyncClient, settings: Settings, redis_client: aioredis.Redis
) -> None:
    """user.registered → core's and marketing's consumers (in their Serve replicas) do their steps."""
    from cortex.core import store as core_store
    from cortex.marketing import store as marketing_store

    from .db import service_conn

    email = f"consenting-{uuid.uuid4().hex[:8]}@example.com"
    registered = await http.post(
        "/api/auth/register",
        json={
            "email": email,
            "password": PASSWORD,
            "workspace_name": "Shop",
            "marketing_consent": True,
        },
    )
    assert registered.status_code == 202, registered.text
    consenting = await login(http, email)
    silent = await register(http)
    workspace_id, user_id = uuid.UUID(consenting.workspace_id), consenting.user_id
    async with service_conn(settings, "core") as core, service_conn(settings, "marketing") as marketing:
        profile = await _eventually(
            lambda: core_store.get_profile(core, workspace_id=workspace_id, visitor_id=f"member:{user_id}"),
            "core never created the profile",
        )
        assert profile["email"] == email
        consent = await _eventually(
            lambda: marketing_store.get_consent(marketing, workspace_id=workspace_id, email=email),
            "marketing never recorded the consent",
        )
        assert consent["source"] == "signup" and str(consent["user_id"]) == user_id
        await _eventually(
            lambda: core_store.get_profile(
                core, workspace_id=uuid.UUID(silent.workspace_id), visitor_id=f"member:{silent.user_id}"
            ),
            "core never created the second profile",
        )
        # Once marketing has handled the second signup's event, it must have recorded nothing.
        entries = await redis_client.xrange("cortex:events:user")
        silent_event = next(
            uuid.UUID(fields[b"event_id"].decode())
            for _, fields in entries
            if json.loads(fields[b"payload"])["user_id"] == silent.user_id
        )
        await _eventually(
            lambda: marketing.fetchval(
                "SELECT true FROM processed_events WHERE consumer_group = 'marketing' AND event_id = $1",
                silent_event,
            ),
            "marketing never handled the second signup",
        )
        assert (
            await marketing_store.get_consent(
                marketing, workspace_id=uuid.UUID(silent.workspace_id), email=silent.email
            )
            is None
        )


async def test_a_member_changes_their_password_and_every_other_session_ends(http: httpx.AsyncClient) -> None:
    owner = await register(http)
    laptop = await login(http, owner.email)
    wrong = await http.post(
        "/api/auth/password", json={"current_password": "not it at all 123", "new_password": "x"}, headers=owner.headers
    )
    assert wrong.status_code == 422
    assert [d["field"] for d in wrong.json()["error"]["details"]] == ["body.current_password"]
    weak = await http.post(
        "/api/auth/password", json={"current_password": PASSWORD, "new_password": "password1"}, headers=owner.headers
    )
    assert weak.status_code == 422 and {d["field"] for d in weak.json()["error"]["details"]} == {"body.new_password"}

    new_password = "a brand new passphrase 77"
    changed = await http.post(
        "/api/auth/password", json={"current_password": PASSWORD, "new_password": new_password}, headers=owner.headers
    )
    assert changed.status_code == 200, changed.text
    fresh = {"Authorization": f"Bearer {changed.json()['access_token']}"}
    assert (await http.get("/api/auth/me", headers=fresh)).status_code == 200
    assert (await http.get("/api/auth/me", headers=owner.headers)).status_code == 401, "the old token is spent"
    stale = await http.post("/api/auth/refresh", json={"refresh_token": laptop.refresh_token})
    assert stale.status_code == 401, "the other device is signed out"
    assert (await http.post("/api/auth/login", json={"email": owner.email, "password": PASSWORD})).status_code == 401
    assert (await login(http, owner.email, new_password)).access_token
