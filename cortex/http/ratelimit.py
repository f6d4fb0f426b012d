"""Rate limits in Redis: GCRA in one Lua script, so check-and-update is atomic across replicas."""

from __future__ import annotations

import math
from dataclasses import dataclass

import redis.asyncio as aioredis

from cortex.errors import RateLimited

# GCRA (generic cell rate algorithm): one key per limited subject holding its "theoretical
# arrival time". Redis' own clock is used so replicas with skewed clocks agree.
_GCRA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval
local allow_at = new_tat - interval * burst
if allow_at > now then
  return {0, allow_at - now, 0, tat - now}
end
redis.call('SET', KEYS[1], new_tat, 'PX', math.ceil(new_tat - now) + 1000)
return {1, 0, math.floor((now - allow_at) / interval), new_tat - now}
"""


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    remaining: int
    retry_after_s: float
    reset_s: float

    def headers(self) -> dict[str, str]:
        headers = {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(math.ceil(self.reset_s)),
        }
        if not self.allowed:
            headers["Retry-After"] = str(max(1, math.ceil(self.retry_after_s)))
        return headers


class RateLimiter:
    """`per_minute` requests per minute for each key, with a burst of the same size."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis = redis
        self._script = redis.register_script(_GCRA)

    async def hit(self, key: str, per_minute: int) -> Decision:
        interval_ms = 60_000 / max(per_minute, 1)
        allowed, retry_ms, remaining, reset_ms = await self._script(
            keys=[f"cortex:rl:{key}"], args=[interval_ms, per_minute]
        )
        return Decision(bool(allowed), per_minute, int(remaining), float(retry_ms) / 1000, float(reset_ms) / 1000)

    async def check(self, key: str, per_minute: int, what: str) -> Decision:
        """Count one request; raise RateLimited (429 with Retry-After) when over the limit."""
        decision = await self.hit(key, per_minute)
        if not decision.allowed:
            raise RateLimited(
                f"too many requests for this {what}; retry in {max(1, math.ceil(decision.retry_after_s))} s",
                headers=decision.headers(),
            )
        return decision
