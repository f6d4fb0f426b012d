"""The GCRA limiter on the real Redis: atomic admission, Retry-After, no charge on refusal."""

from __future__ import annotations

import asyncio
import uuid

import redis.asyncio as aioredis

from cortex.http.ratelimit import RateLimiter


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
