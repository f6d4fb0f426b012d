"""Who a widget visitor is (#18 finding 8): the visitor id is issued by Cortex with a signed
credential bound to the widget key, never taken from the browser; a member's preview gets a
visitor of its own; and with identity verification, the business vouches for its signed-in user
with an HMAC and unverified visitors are refused."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import uuid

import httpx
import jwt
import redis.asyncio as aioredis

from cortex.auth.service import WidgetKeyService
from cortex.db import create_pool
from cortex.http.security import IDENTITY_REQUIRED
from cortex.settings import Settings

from .accounts import Account, member_of, register
from .chatting import ORIGIN, make_bot

VISITOR_TOKEN = "/api/auth/visitor-token"


async def _widget_key(http: httpx.AsyncClient, owner: Account, bot: dict) -> dict:
    response = await http.post(
        "/api/auth/widget-keys", json={"bot_id": bot["id"], "allowed_origins": [ORIGIN]}, headers=owner.headers
    )
    assert response.status_code == 201, response.text
    return response.json()


async def _exchange(http: httpx.AsyncClient, public_key: str, **body: object) -> httpx.Response:
    return await http.post(VISITOR_TOKEN, json={"public_key": public_key, **body}, headers={"Origin": ORIGIN})


def _credential_expiry(credential: str) -> int:
    """The expiry a visitor credential (`vc1.<claims>.<mac>`) names."""
    claims = credential.split(".")[1]
    return int(json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)))["exp"])


def _claims(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def _as(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Origin": ORIGIN}


async def _say(http: httpx.AsyncClient, token: str, bot: dict, text: str, conversation_id: str | None = None):
    body = {"bot_id": bot["id"], "message": text, "conversation_id": conversation_id, "stream": False}
    return await http.post("/api/chat", json=body, headers=_as(token), timeout=120)


async def test_a_copied_visitor_id_does_not_open_that_visitors_conversation(http: httpx.AsyncClient) -> None:
    owner = await register(http)
    bot = await make_bot(http, owner)
    key = await _widget_key(http, owner, bot)
    first = await _exchange(http, key["public_key"])
    assert first.status_code == 200, first.text
    victim = first.json()
    assert victim["visitor_id"].startswith("v_")
    said = await _say(http, victim["visitor_token"], bot, "My order number is 4711, where is it?")
    assert said.status_code == 200, said.text
    conversation_id = said.json()["conversation_id"]

    # Someone who read the victim's id (a host-page script, a shared computer) asks for it.
    copied = await _exchange(http, key["public_key"], visitor_id=victim["visitor_id"])
    assert copied.status_code == 200, "an old widget sending its id keeps working, as a new visitor"
    assert copied.json()["visitor_id"] != victim["visitor_id"]
    assert _claims(copied.json()["visitor_token"])["sub"] != victim["visitor_id"]
    history = await http.get(f"/api/chat/conversations/{conversation_id}", headers=_as(copied.json()["visitor_token"]))
    assert history.status_code == 404, "the copied id opens nothing of the visitor's"

    # The visitor's own credential keeps them, and renews itself (its expiry counts from this use:
    # a second later, so the renewal shows even on a fast machine).
    assert victim["visitor_credential"]
    await asyncio.sleep(1.1)
    again = await _exchange(http, key["public_key"], visitor_credential=victim["visitor_credential"])
    assert again.status_code == 200
    assert again.json()["visitor_id"] == victim["visitor_id"]
    renewed = _credential_expiry(again.json()["visitor_credential"])
    assert renewed > _credential_expiry(victim["visitor_credential"]), "a renewed credential"
    mine = await http.get(f"/api/chat/conversations/{conversation_id}", headers=_as(again.json()["visitor_token"]))
    assert mine.status_code == 200


async def test_a_credential_works_only_with_its_own_widget_key_and_only_unaltered(http: httpx.AsyncClient) -> None:
    owner = await register(http)
    bot = await make_bot(http, owner)
    key_a, key_b = await _widget_key(http, owner, bot), await _widget_key(http, owner, bot)
    issued = (await _exchange(http, key_a["public_key"])).json()
    credential = issued["visitor_credential"]

    elsewhere = await _exchange(http, key_b["public_key"], visitor_credential=credential)
    assert elsewhere.status_code == 200
    assert elsewhere.json()["visitor_id"] != issued["visitor_id"], "key B issues a new visitor"

    version, claims, mac = credential.split(".")
    forged_claims = claims[:-2] + ("AA" if not claims.endswith("AA") else "BB")
    for tampered in (f"{version}.{forged_claims}.{mac}", f"{version}.{claims}.{mac[:-2]}xx", "vc1.e30.AAAA", "junk"):
        response = await _exchange(http, key_a["public_key"], visitor_credential=tampered)
        assert response.status_code == 200, response.text
        assert response.json()["visitor_id"] != issued["visitor_id"], tampered


async def test_the_embedding_site_reported_by_the_widget_frame_counts_only_from_cortexs_own_pages(
    http: httpx.AsyncClient,
) -> None:
    owner = await register(http)
    bot = await make_bot(http, owner)
    key = await _widget_key(http, owner, bot)
    body = {"public_key": key["public_key"], "site_origin": ORIGIN}
    elsewhere = await http.post(VISITOR_TOKEN, json=body, headers={"Origin": "https://evil.example"})
    assert elsewhere.status_code == 403, "another site cannot claim to be an allowed one"
    own_origin = str(http.base_url).rstrip("/")
    framed = await http.post(VISITOR_TOKEN, json=body, headers={"Origin": own_origin})
    assert framed.status_code == 200, framed.text
    refused = await http.post(
        VISITOR_TOKEN, json={**body, "site_origin": "https://evil.example"}, headers={"Origin": own_origin}
    )
    assert refused.status_code == 403


async def test_a_preview_token_never_carries_an_existing_visitors_id(http: httpx.AsyncClient) -> None:
    owner = await register(http)
    bot = await make_bot(http, owner)
    key = await _widget_key(http, owner, bot)
    visitor = (await _exchange(http, key["public_key"])).json()
    said = await _say(http, visitor["visitor_token"], bot, "Private question about my account")
    conversation_id = said.json()["conversation_id"]

    viewer = await member_of(http, owner, "viewer")
    for member in (owner, viewer):
        preview = await http.post(
            VISITOR_TOKEN,
            json={"public_key": key["public_key"], "preview": True, "visitor_id": visitor["visitor_id"]},
            headers=member.headers,
        )
        assert preview.status_code == 200, preview.text
        issued = preview.json()
        assert issued["visitor_id"].startswith("p_") and issued["visitor_id"] != visitor["visitor_id"]
        assert _claims(issued["visitor_token"])["sub"] == issued["visitor_id"]
        peek = await http.get(f"/api/chat/conversations/{conversation_id}", headers=_as(issued["visitor_token"]))
        assert peek.status_code == 404, "a preview does not open a visitor's conversation"
    owners_preview = await http.post(
        VISITOR_TOKEN, json={"public_key": key["public_key"], "preview": True}, headers=owner.headers
    )
    viewers_preview = await http.post(
        VISITOR_TOKEN, json={"public_key": key["public_key"], "preview": True}, headers=viewer.headers
    )
    assert owners_preview.json()["visitor_id"] != viewers_preview.json()["visitor_id"], "each member their own"


def _user_hash(secret: str, user_id: str) -> str:
    return hmac.new(secret.encode(), user_id.encode(), hashlib.sha256).hexdigest()


async def test_with_identity_verification_only_vouched_for_visitors_chat(
    http: httpx.AsyncClient, redis_client: aioredis.Redis
) -> None:
    owner = await register(http)
    bot = await make_bot(http, owner)
    key = await _widget_key(http, owner, bot)
    # A visitor who came before the option was turned on, mid-conversation.
    before = (await _exchange(http, key["public_key"])).json()
    started = await _say(http, before["visitor_token"], bot, "Hello?")
    assert started.status_code == 200

    agent = await member_of(http, owner, "agent")
    routes = (
        f"/api/auth/widget-keys/{key['id']}/identity-secret",
        f"/api/auth/widget-keys/{key['id']}/identity-verification",
    )
    assert (await http.post(routes[0], headers=agent.headers)).status_code == 403, "admins only"
    too_early = await http.put(routes[1], json={"required": True}, headers=owner.headers)
    assert too_early.status_code == 409, "no secret yet"
    created = await http.post(routes[0], headers=owner.headers)
    assert created.status_code == 201, created.text
    secret = created.json()["identity_secret"]
    listed = (await http.get("/api/auth/widget-keys", params={"bot_id": bot["id"]}, headers=owner.headers)).json()
    assert secret not in str(listed), "the secret is shown once"
    assert (await http.put(routes[1], json={"required": True}, headers=agent.headers)).status_code == 403
    turned_on = await http.put(routes[1], json={"required": True}, headers=owner.headers)
    assert turned_on.status_code == 200 and turned_on.json()["identity_required"] is True

    missing = await _exchange(http, key["public_key"])
    assert missing.status_code == 403
    assert missing.json()["error"]["code"] == "identity_required" and "user_hash" in missing.json()["error"]["message"]
    wrong = await _exchange(
        http, key["public_key"], user_id="customer-42", user_hash=_user_hash("guess", "customer-42")
    )
    assert wrong.status_code == 403 and wrong.json()["error"]["code"] == "identity_not_verified"
    other_user = await _exchange(
        http, key["public_key"], user_id="customer-43", user_hash=_user_hash(secret, "customer-42")
    )
    assert other_user.status_code == 403
    half = await _exchange(http, key["public_key"], user_id="customer-42")
    assert half.status_code == 422

    right = await _exchange(http, key["public_key"], user_id="customer-42", user_hash=_user_hash(secret, "customer-42"))
    assert right.status_code == 200, right.text
    verified = right.json()
    assert verified["user_id"] == "customer-42" and _claims(verified["visitor_token"])["vuid"] == "customer-42"
    assert verified["visitor_id"].startswith("u_")
    said = await _say(http, verified["visitor_token"], bot, "Where is my order?")
    assert said.status_code == 200, said.text
    # The same user on another device is the same visitor, with the same conversations.
    second_device = await _exchange(
        http, key["public_key"], user_id="customer-42", user_hash=_user_hash(secret, "customer-42").upper()
    )
    assert second_device.json()["visitor_id"] == verified["visitor_id"]
    history = await http.get(
        f"/api/chat/conversations/{said.json()['conversation_id']}", headers=_as(second_device.json()["visitor_token"])
    )
    assert history.status_code == 200

    # The token minted before the option: its messages are refused now.
    refused = await _say(http, before["visitor_token"], bot, "Still there?", started.json()["conversation_id"])
    assert refused.status_code == 401, refused.text
    assert "verified visitor" in refused.json()["error"]["message"]
    # An owner's preview still works (it is a member, not a visitor).
    preview = await http.post(
        VISITOR_TOKEN, json={"public_key": key["public_key"], "preview": True}, headers=owner.headers
    )
    assert (await _say(http, preview.json()["visitor_token"], bot, "Preview question")).status_code == 200

    # What every verifier checks, in the same Redis round trip as the rate limits.
    assert await redis_client.exists(f"cortex:auth:identity-required:{key['id']}")

    # Off again: anonymous visitors chat as before, and the old token works again.
    turned_off = await http.put(routes[1], json={"required": False}, headers=owner.headers)
    assert turned_off.status_code == 200 and turned_off.json()["identity_required"] is False
    anonymous = await _exchange(http, key["public_key"])
    assert anonymous.status_code == 200 and anonymous.json()["visitor_id"].startswith("v_")
    assert (await _say(http, anonymous.json()["visitor_token"], bot, "Hi")).status_code == 200
    assert (await _say(http, before["visitor_token"], bot, "Back?")).status_code == 200

    events = [e["event"] for e in (await http.get("/api/auth/audit-log", headers=owner.headers)).json()]
    assert {
        "widget_key.identity_secret_created",
        "widget_key.identity_verification_on",
        "widget_key.identity_verification_off",
    } <= set(events)
    rotated = await http.post(routes[0], headers=owner.headers)
    assert rotated.json()["identity_secret"] != secret
    stale = await _exchange(http, key["public_key"], user_id="customer-42", user_hash=_user_hash(secret, "customer-42"))
    assert stale.status_code == 403, "a rotated secret's hashes stop verifying"
    assert "widget_key.identity_secret_rotated" in [
        e["event"] for e in (await http.get("/api/auth/audit-log", headers=owner.headers)).json()
    ]


async def test_without_identity_verification_anonymous_visitors_chat_as_before(http: httpx.AsyncClient) -> None:
    owner = await register(http)
    bot = await make_bot(http, owner)
    key = await _widget_key(http, owner, bot)
    issued = await _exchange(http, key["public_key"])
    assert issued.status_code == 200 and issued.json()["user_id"] is None
    said = await _say(http, issued.json()["visitor_token"], bot, "Do you ship abroad?")
    assert said.status_code == 200, said.text
    no_secret = await _exchange(http, key["public_key"], user_id="customer-1", user_hash="0" * 64)
    assert no_secret.status_code == 403, "a hash this key cannot check is refused, not ignored"
    assert (
        await http.put(
            f"/api/auth/widget-keys/{uuid.uuid4()}/identity-verification",
            json={"required": False},
            headers=owner.headers,
        )
    ).status_code == 404


async def test_a_lost_redis_marker_comes_back_and_unverified_tokens_stay_refused(
    http: httpx.AsyncClient, redis_client: aioredis.Redis, settings: Settings
) -> None:
    owner = await register(http)
    bot = await make_bot(http, owner)
    key = await _widget_key(http, owner, bot)
    anonymous = (await _exchange(http, key["public_key"])).json()
    assert (await http.post(f"/api/auth/widget-keys/{key['id']}/identity-secret", headers=owner.headers)).is_success
    required = await http.put(
        f"/api/auth/widget-keys/{key['id']}/identity-verification", json={"required": True}, headers=owner.headers
    )
    assert required.status_code == 200
    marker = f"{IDENTITY_REQUIRED}{key['id']}"
    stale = f"{IDENTITY_REQUIRED}{uuid.uuid4()}"
    await redis_client.delete(marker)  # a flushed or replaced Redis
    await redis_client.set(stale, b"1")  # and a marker of a key that no longer requires it
    pool = await create_pool(settings.service_database_url("auth"), settings, schema="auth")
    try:
        # What the auth service's republish loop runs every minute.
        await WidgetKeyService(db=pool, redis=redis_client, settings=settings).sync_identity_markers()
    finally:
        await pool.close()
    assert await redis_client.exists(marker) and not await redis_client.exists(stale)
    refused = await _say(http, anonymous["visitor_token"], bot, "Hello?")
    assert refused.status_code == 401
