"""Rate limits in Redis: GCRA in one Lua script, so check-and-update is atomic across replicas."""

from __future__ import annotations

import math
from dataclasses import dataclass

import redis.asyncio as aioredis

from cortex.errors import RateLimited

# GCRA (generic cell rate algorithm): one key per limited subject holding its "theoretical
# arrival time"; Redis' own clock is used so replicas with skewed clocks agree.
# Admission of a request in one round trip. KEYS[1]: the session's denylist key
# (or "" for none); KEYS[2..]: GCRA keys; ARGV: per GCRA key (interval_ms, burst), then an
# optional hash and field to stamp with the time of use. All limits are checked before any is
# charged, so a request refused by one limit does not use up another.
_ADMIT = """
if KEYS[1] ~= '' and redis.call('EXISTS', KEYS[1]) == 1 then
  return {-1, 0, 0, 0, 0}
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local n = #KEYS - 1
local new_tats = {}
local best_remaining, best_reset = -1, 0
for i = 1, n do
  local interval = tonumber(ARGV[2 * i - 1])
  local burst = tonumber(ARGV[2 * i])
  local tat = tonumber(redis.call('GET', KEYS[i + 1]) or now)
  if tat < now then tat = now end
  local new_tat = tat + interval
  local allow_at = new_tat - interval * burst
  if allow_at > now then
    return {0, allow_at - now, 0, tat - now, i}
  end
  new_tats[i] = new_tat
  local remaining = math.floor((now - allow_at) / interval)
  if best_remaining < 0 or remaining < best_remaining then
    best_remaining, best_reset = remaining, new_tat - now
  end
end
for i = 1, n do
  redis.call('SET', KEYS[i + 1], new_tats[i], 'PX', math.ceil(new_tats[i] - now) + 1000)
end
if ARGV[2 * n + 1] then
  redis.call('HSET', ARGV[2 * n + 1], ARGV[2 * n + 2], tonumber(t[1]))
end
return {1, 0, best_remaining, best_reset, 0}
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
        self._admit = redis.register_script(_ADMIT)

    async def admit(
        self,
        revoked_key: str | None,
        checks: list[tuple[str, int, str]],
        *,
        last_used: tuple[str, str] | None = None,
    ) -> tuple[bool, Decision, str]:
        """(revoked, decision, what was limited) for limits given as (key, per_minute, what)."""
        args: list[float | str] = []
        for _, per_minute, _ in checks:
            args += [60_000 / max(per_minute, 1), per_minute]
        if last_used:
            args += list(last_used)
        code, retry_ms, remaining, reset_ms, index = await self._admit(
            keys=[revoked_key or "", *(f"cortex:rl:{key}" for key, _, _ in checks)], args=args
        )
        if code == -1:
            return True, Decision(False, 0, 0, 0, 0), ""
        limited = checks[int(index) - 1] if code == 0 else min(checks, key=lambda check: check[1])
        decision = Decision(bool(code), limited[1], int(remaining), float(retry_ms) / 1000, float(reset_ms) / 1000)
        return False, decision, limited[2]

    async def hit(self, key: str, per_minute: int) -> Decision:
        _, decision, _ = await self.admit(None, [(key, per_minute, "")])
        return decision

    async def check(self, key: str, per_minute: int, what: str) -> Decision:
        """Count one request; raise RateLimited (429 with Retry-After) when over the limit."""
        decision = await self.hit(key, per_minute)
        if not decision.allowed:
            raise RateLimited(
                f"too many requests for this {what}; retry in {max(1, math.ceil(decision.retry_after_s))} s",
                headers=decision.headers(),
            )
        return decision
