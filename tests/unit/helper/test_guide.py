"""The Guide's live turn on its own: the analysis cached per conversation with an expiry, read back on
the next turn, and a cache that fails or holds an unreadable form costing the turn nothing."""

from __future__ import annotations

import uuid
from typing import Any

import numpy as np

from cortex.contracts.guidance import NO_GUIDANCE, HistoryTurn
from cortex.helper.guide import Guide, analysis_key
from cortex.settings import Settings


class _Redis:
    """The three Redis commands the Guide uses, in a dict (the real one is in the integration tests)."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}
        self.expiries: dict[str, int] = {}

    async def get(self, key: str) -> bytes | None:
        value = self.values.get(key)
        return value.encode() if value is not None else None

    async def set(self, key: str, value: str, ex: int) -> None:
        self.values[key] = value
        self.expiries[key] = ex

    async def delete(self, *keys: str) -> int:
        return sum(self.values.pop(key, None) is not None for key in keys)


class _BrokenRedis:
    async def get(self, key: str) -> Any:
        raise ConnectionError("redis is down")

    async def set(self, key: str, value: str, ex: int) -> None:
        raise ConnectionError("redis is down")


def _embedding(seed: int = 0) -> list[float]:
    vector = np.random.default_rng(seed).normal(size=384)
    return list(vector / np.linalg.norm(vector))


def _guide(redis: Any) -> Guide:
    return Guide(Settings(helper_analysis_ttl_s=600), redis=redis)


async def _advise(guide: Guide, conversation_id: uuid.UUID, message: str, **extra: Any) -> Any:
    return await guide.advise(
        workspace_id=uuid.uuid4(),
        bot_id=uuid.uuid4(),
        conversation_id=conversation_id,
        message=message,
        embedding=extra.pop("embedding", _embedding()),
        **extra,
    )


async def test_each_turn_is_cached_with_the_expiry_and_read_back_on_the_next() -> None:
    redis = _Redis()
    guide = _guide(redis)
    conversation = uuid.uuid4()
    assert await _advise(guide, conversation, "How much is the Pro plan? I am at ana@example.com") == NO_GUIDANCE
    key = analysis_key(conversation)
    assert redis.expiries[key] == 600
    assert "ana" not in redis.values[key] and "example" not in redis.values[key]
    history = [HistoryTurn("visitor", "How much is the Pro plan? I am at ana@example.com"), HistoryTurn("bot", "30 €")]
    await _advise(guide, conversation, "And yearly?", history=history, visitor_id="v-1")
    cached = await guide.analysis(conversation)
    assert cached is not None and cached.visitor_turns == 2 and "email" in cached.collected
    assert await guide.forget([conversation, uuid.uuid4()]) == 1 and await guide.analysis(conversation) is None


async def test_an_unreadable_cached_form_starts_a_fresh_analysis() -> None:
    redis = _Redis()
    conversation = uuid.uuid4()
    redis.values[analysis_key(conversation)] = '{"intent": "pricing", "from": "another version"}'
    guide = _guide(redis)
    assert await _advise(guide, conversation, "How much is it?") == NO_GUIDANCE
    cached = await guide.analysis(conversation)
    assert cached is not None and cached.visitor_turns == 1


async def test_a_failing_cache_or_no_embedding_costs_the_turn_nothing() -> None:
    assert await _advise(_guide(_BrokenRedis()), uuid.uuid4(), "How much is it?") == NO_GUIDANCE
    redis = _Redis()
    assert await _advise(_guide(redis), uuid.uuid4(), "How much is it?", embedding=None) == NO_GUIDANCE
    assert redis.values == {}, "without the question's embedding nothing is analysed"
