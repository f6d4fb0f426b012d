"""The semantic answer cache: a bot's recent grounded answers, found again by question meaning.

Keyed by bot and by the normalised question embedding: locality-sensitive hashing (random
hyperplanes, several tables) puts a question in one bucket per table; a lookup reads the
buckets of the new question and keeps the closest cached question if its cosine similarity
clears the threshold. One Lua call per lookup. Each bot has a generation number in its keys;
when its knowledge or settings change the generation moves on, and every older entry is
unreachable at once (and expires with its TTL).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

import numpy as np
import redis.asyncio as aioredis

from cortex.models.embedder import DIMENSIONS

# The version moves on when what an answer is made of changes, so no reply written the old way is replayed.
PREFIX = "cortex:answers:v2"
# 4 tables of 6 bits: a paraphrase at cosine 0.95 shares a bucket in at least one table with
# probability ~0.95 (per bit 1 - acos(0.95)/pi = 0.90; 1 - (1 - 0.90^6)^4), and a bucket holds
# ~1/64 of a bot's entries, so a lookup compares a handful of vectors.
TABLES = 4
BITS = 6
# Hyperplanes from a fixed seed: every replica hashes the same question to the same buckets.
_PLANES = np.random.default_rng(20261128).standard_normal((TABLES, BITS, DIMENSIONS)).astype(np.float32)
MAX_CANDIDATES = 64  # per lookup: a bucket that fills with stale ids stays cheap

_LOOKUP = """
local generation = redis.call('GET', KEYS[1]) or '0'
local base = ARGV[1] .. ':' .. generation
local limit = tonumber(ARGV[2])
local ids = {}
local seen = {}
for i = 3, #ARGV do
  for _, id in ipairs(redis.call('SMEMBERS', base .. ':t' .. (i - 3) .. ':' .. ARGV[i])) do
    if not seen[id] and #ids < limit then
      seen[id] = true
      table.insert(ids, id)
    end
  end
end
local out = {generation}
for _, id in ipairs(ids) do
  local entry = redis.call('GET', base .. ':e:' .. id)
  if entry then table.insert(out, entry) end
end
return out
"""


@dataclass(frozen=True)
class CachedAnswer:
    answer: str
    citations: list[dict[str, Any]]
    similarity: float


def buckets(vector: np.ndarray) -> list[str]:
    """The question's bucket in each table: the signs of its projections on that table's hyperplanes."""
    signs = np.einsum("tbd,d->tb", _PLANES, vector) > 0
    return ["".join("1" if bit else "0" for bit in row) for row in signs]


class AnswerCache:
    """Per-bot cache of grounded first-turn answers in Redis."""

    def __init__(self, redis: aioredis.Redis, *, similarity: float, ttl_s: int) -> None:
        self.redis = redis
        self.similarity = similarity
        self.ttl_s = ttl_s
        self._lookup = redis.register_script(_LOOKUP)

    @staticmethod
    def _base(bot_id: uuid.UUID) -> str:
        return f"{PREFIX}:{bot_id}"

    async def get(self, bot_id: uuid.UUID, vector: list[float]) -> CachedAnswer | None:
        query = np.asarray(vector, dtype=np.float32)
        result = await self._lookup(
            keys=[f"{self._base(bot_id)}:gen"], args=[self._base(bot_id), MAX_CANDIDATES, *buckets(query)]
        )
        best: CachedAnswer | None = None
        for raw in result[1:]:
            entry = json.loads(raw)
            similarity = float(np.dot(query, np.asarray(entry["v"], dtype=np.float32)))
            if similarity >= self.similarity and (best is None or similarity > best.similarity):
                best = CachedAnswer(entry["a"], entry["c"], round(similarity, 4))
        return best

    async def put(
        self, bot_id: uuid.UUID, vector: list[float], *, answer: str, citations: list[dict[str, Any]]
    ) -> None:
        """Cache a grounded answer under its question's embedding. Not the question's words: a visitor's
        question can hold their name, and an erasure could not find it here."""
        base = self._base(bot_id)
        generation = (await self.redis.get(f"{base}:gen")) or b"0"
        prefix = f"{base}:{generation.decode() if isinstance(generation, bytes) else generation}"
        entry_id = uuid.uuid4().hex[:16]
        entry = {"a": answer, "c": citations, "v": [round(x, 5) for x in vector]}
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.set(f"{prefix}:e:{entry_id}", json.dumps(entry), ex=self.ttl_s)
            for table, bucket in enumerate(buckets(np.asarray(vector, dtype=np.float32))):
                key = f"{prefix}:t{table}:{bucket}"
                pipe.sadd(key, entry_id)
                pipe.expire(key, self.ttl_s)
            await pipe.execute()

    async def invalidate(self, bot_id: uuid.UUID) -> None:
        await invalidate(self.redis, bot_id)


async def invalidate(redis: aioredis.Redis, bot_id: uuid.UUID | str) -> None:
    """Everything cached for the bot becomes unreachable (its knowledge or settings changed)."""
    await redis.incr(f"{PREFIX}:{bot_id}:gen")
