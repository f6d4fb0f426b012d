"""The GCRA limiter on the real Redis: atomic admission, Retry-After, no charge on refusal."""

from __future__ import annotations

import asyncio
import random
import uuid

import httpx
import redis.asyncio as aioredis

from cortex.http.ratelimit import RateLimiter

from .accounts import register
from .chatting import ORIGIN, make_bot, visitor_of


async def test_a_burst_is_admitted_then_refused_with_a_retry_time(redis_client: aioredis.Redis) -> None:
    limiter = RateLimiter(redis_client)
    key = f"test:{uuid.uuid4().hex}"
    decisions = [await limiter.hit(key, per_minute=6) for _ in range(8)]
    assert [d.allowed for d in decisions] == [True] * 6 + [False] * 2
    assert [d.remaining for d in decisions[:6]] == [5, 4, 3, 2, 1, 0]
    refused = decisions[-1]
    assert 9 <= refused.retry_after_s <= 10.5, "one request per 10 s refills"
    assert refused.headers()["Retry-After"] == "10"


async def test_concurrent_callers_never_exceed_the_limit(redis_client: aioredis.Redis) -> None:
    limiter = RateLimiter(redis_client)
    key = f"test:{uuid.uuid4().hex}"
    decisions = await asyncio.gather(*(limiter.hit(key, per_minute=20) for _ in range(60)))
    # The burst of 20, plus at most one refilled if the 60 calls took over 3 s on a busy machine.
    assert 20 <= sum(d.allowed for d in decisions) <= 21


async def test_admission_checks_the_denylist_and_every_limit_before_charging(redis_client: aioredis.Redis) -> None:
    limiter = RateLimiter(redis_client)
    tight, loose = f"tight:{uuid.uuid4().hex}", f"loose:{uuid.uuid4().hex}"
    checks = [(tight, 2, "visitor"), (loose, 100, "workspace")]
    results = [await limiter.admit(None, checks) for _ in range(3)]
    assert [decision.allowed for _, decision, _ in results] == [True, True, False]
    assert results[2][2] == "visitor"
    # The refused request did not use up the workspace's budget: 2 charged, 98 left.
    _, loose_only, _ = await limiter.admit(None, [(loose, 100, "workspace")])
    assert loose_only.remaining == 97

    revoked = f"cortex:test:revoked:{uuid.uuid4().hex}"
    await redis_client.set(revoked, b"1", ex=60)
    is_revoked, _, _ = await limiter.admit(revoked, [(f"x:{uuid.uuid4().hex}", 10, "workspace")])
    assert is_revoked


async def test_admission_stamps_the_last_use_of_an_api_key(redis_client: aioredis.Redis) -> None:
    limiter = RateLimiter(redis_client)
    stamp_hash, key_id = f"cortex:test:used:{uuid.uuid4().hex}", str(uuid.uuid4())
    await limiter.admit(None, [(f"k:{key_id}", 10, "API key")], last_used=(stamp_hash, key_id))
    assert await redis_client.hget(stamp_hash, key_id) is not None


async def test_a_visitor_flood_through_the_widget_key_never_locks_the_team_out(http: httpx.AsyncClient) -> None:
    owner = await register(http)
    bot, other_bot = await make_bot(http, owner), await make_bot(http, owner, name="Other")
    visitors = [await visitor_of(http, owner, bot) for _ in range(40)]
    config = {"bot_id": bot["id"]}

    # One request per visitor a round (each stays under its own limit), until the visitor path says 429.
    limited: httpx.Response | None = None
    for _ in range(20):
        round_ = await asyncio.gather(
            *(http.get("/api/chat/config", params=config, headers=v.headers) for v in visitors)
        )
        limited = next((r for r in round_ if r.status_code == 429), None)
        if limited is not None:
            break
    assert limited is not None, "the visitor path was never limited"
    assert "bot" in limited.json()["error"]["message"], limited.text
    assert int(limited.headers["Retry-After"]) >= 1

    # The team works on, and another bot's visitors are untouched.
    dashboard = await http.get("/api/bots", headers=owner.headers)
    assert dashboard.status_code == 200, dashboard.text
    assert (await http.get("/api/conversations", headers=owner.headers)).status_code == 200
    elsewhere = await visitor_of(http, owner, other_bot)
    answer = await http.get("/api/chat/config", params={"bot_id": other_bot["id"]}, headers=elsewhere.headers)
    assert answer.status_code == 200, answer.text


async def _widget_key(http: httpx.AsyncClient) -> str:
    """The public key of a new workspace's widget key for a new bot, allowed on ORIGIN."""
    owner = await register(http)
    bot = await make_bot(http, owner)
    key = await http.post(
        "/api/auth/widget-keys", json={"bot_id": bot["id"], "allowed_origins": [ORIGIN]}, headers=owner.headers
    )
    assert key.status_code == 201, key.text
    return str(key.json()["public_key"])


async def test_minting_visitor_tokens_is_limited_per_real_client_ip(http: httpx.AsyncClient) -> None:
    public_key = await _widget_key(http)
    real_ip = f"198.51.100.{random.randrange(1, 255)}"

    async def mint(client: str) -> int:
        # The client forges a new leftmost entry each time; the proxy in front appends its real address.
        forged = f"10.{random.randrange(256)}.{random.randrange(256)}.{random.randrange(1, 255)}"
        headers = {"Origin": ORIGIN, "X-Forwarded-For": f"{forged}, {client}"}
        response = await http.post("/api/auth/visitor-token", json={"public_key": public_key}, headers=headers)
        return response.status_code

    statuses = [await mint(real_ip) for _ in range(70)]
    assert statuses[:55] == [200] * 55, "a burst of 60 tokens a minute from one address is allowed"
    assert statuses[-5:] == [429] * 5, "forged X-Forwarded-For entries do not escape the per-IP limit"
    assert await mint(f"203.0.113.{random.randrange(1, 255)}") == 200, "another address mints on"


async def test_an_ipv6_client_cannot_escape_the_visitor_token_limit_by_rotating_its_addresses(
    http: httpx.AsyncClient,
) -> None:
    """An IPv6 customer network (a /64) picks any of 2^64 addresses: the limit counts the network."""
    public_key = await _widget_key(http)
    network = f"2001:db8:{random.randrange(1, 0xFFFF):x}:{random.randrange(1, 0xFFFF):x}"

    async def mint(client: str) -> int:
        headers = {"Origin": ORIGIN, "X-Forwarded-For": client}
        response = await http.post("/api/auth/visitor-token", json={"public_key": public_key}, headers=headers)
        return response.status_code

    statuses = [await mint(f"{network}::{index + 1:x}") for index in range(70)]
    assert statuses[-5:] == [429] * 5, "a new address in the same /64 is the same client"
    assert await mint(f"2001:db8:ffff:{random.randrange(1, 0xFFFF):x}::1") == 200, "another network mints on"
