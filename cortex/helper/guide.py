"""The helper's guidance for a live conversation: every turn analysed, the analysis cached per conversation.

Core embeds the visitor's question once per turn and asks the Guide concurrently with knowledge,
with a timeout (`CORTEX_GUIDANCE_TIMEOUT_S`). Per turn the Guide reads the conversation's previous
analysis from Redis, analyses the turn (`Advisor.advise`: no model, no network, < 1 ms), writes the
analysis back with an expiry (`CORTEX_HELPER_ANALYSIS_TTL_S`) and returns the guidance. Until the
helper has patterns and experiments (a later step: its schema and routes) the guidance is empty:
the turn is analysed and cached, and the bot is told nothing. A Redis that fails or is slow costs
the turn its previous analysis (or its cached copy), never its answer.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Iterable, Sequence

import redis.asyncio as aioredis

from cortex.contracts.guidance import NO_GUIDANCE, Guidance, HistoryTurn
from cortex.helper.advisor import Advisor
from cortex.helper.analysis import Analyser, Analysis
from cortex.settings import Settings, get_settings

log = logging.getLogger("cortex.helper")

ANALYSIS_PREFIX = "cortex:helper:analysis:"
# Redis answers in well under a millisecond; past this the turn goes on without the cache (the
# whole call has core's 0.3 s guidance timeout, and a hung Redis must not use it up).
CACHE_TIMEOUT_S = 0.05


def analysis_key(conversation_id: uuid.UUID | str) -> str:
    """The Redis key of a conversation's latest analysis."""
    return f"{ANALYSIS_PREFIX}{conversation_id}"


class AnalysisCache:
    """A conversation's latest `Analysis` in Redis (its JSON form: intents, scores and the names of
    facts, never the visitor's words), expiring after the conversation's idle time."""

    def __init__(self, redis: aioredis.Redis, *, ttl_s: int) -> None:
        self.redis = redis
        self.ttl_s = ttl_s

    async def get(self, conversation_id: uuid.UUID | str) -> Analysis | None:
        raw = await self.redis.get(analysis_key(conversation_id))
        if raw is None:
            return None
        try:
            return Analysis.from_json(raw.decode() if isinstance(raw, bytes) else raw)
        except (ValueError, TypeError, KeyError):  # written by another version: start afresh
            log.warning("unreadable cached analysis for conversation %s", conversation_id)
            return None

    async def put(self, conversation_id: uuid.UUID | str, analysis: Analysis) -> None:
        await self.redis.set(analysis_key(conversation_id), analysis.to_json(), ex=self.ttl_s)

    async def forget(self, conversation_ids: Iterable[uuid.UUID | str]) -> int:
        """Delete these conversations' analyses (a visitor's erasure); how many there were."""
        keys = [analysis_key(conversation_id) for conversation_id in conversation_ids]
        return int(await self.redis.delete(*keys)) if keys else 0


class Guide:
    """One replica's live guidance: the analyser (the classifier's weights, loaded once), the advisor, the cache."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        redis: aioredis.Redis | None = None,
        analyser: Analyser | None = None,
    ) -> None:
        self.settings = settings or get_settings()
        self.analyser = analyser or Analyser()
        # No patterns nor experiments yet (the helper's schema and routes come later): every turn is
        # analysed and its guidance is empty.
        self.advisor = Advisor(patterns=(), analyser=self.analyser)
        self._redis = redis

    @property
    def cache(self) -> AnalysisCache:
        if self._redis is None:  # made on first use: constructors run before the replica's event loop
            self._redis = aioredis.Redis.from_url(
                self.settings.resolved_redis_url(),
                socket_connect_timeout=CACHE_TIMEOUT_S * 5,
                socket_timeout=CACHE_TIMEOUT_S * 5,
            )
        return AnalysisCache(self._redis, ttl_s=self.settings.helper_analysis_ttl_s)

    async def advise(
        self,
        *,
        workspace_id: uuid.UUID,
        bot_id: uuid.UUID,
        conversation_id: uuid.UUID,
        message: str,
        visitor_id: str | None = None,
        history: Sequence[HistoryTurn] = (),
        embedding: Sequence[float] | None = None,
    ) -> Guidance:
        """The guidance for the bot's next reply (NO_GUIDANCE when nothing applies), the turn's
        analysis cached for the conversation's next one. Without the question's embedding there is
        nothing to analyse it with: no guidance."""
        if embedding is None:
            return NO_GUIDANCE
        cache = self.cache
        previous = await self._previous(cache, conversation_id)
        advice = self.advisor.advise(
            message, embedding=embedding, history=history, visitor_id=visitor_id, previous=previous
        )
        await self._keep(cache, conversation_id, advice.analysis)
        return advice.guidance

    async def analysis(self, conversation_id: uuid.UUID | str) -> Analysis | None:
        """The conversation's latest cached analysis (None: none, or it expired)."""
        return await self._previous(self.cache, conversation_id)

    async def forget(self, conversation_ids: Iterable[uuid.UUID | str]) -> int:
        return await self.cache.forget(conversation_ids)

    @staticmethod
    async def _previous(cache: AnalysisCache, conversation_id: uuid.UUID | str) -> Analysis | None:
        try:
            return await asyncio.wait_for(cache.get(conversation_id), timeout=CACHE_TIMEOUT_S)
        except Exception as exc:  # noqa: BLE001 - the turn is analysed without its history of analyses
            log.warning("helper cache read failed: %r", exc)
            return None

    @staticmethod
    async def _keep(cache: AnalysisCache, conversation_id: uuid.UUID, analysis: Analysis) -> None:
        try:
            await asyncio.wait_for(cache.put(conversation_id, analysis), timeout=CACHE_TIMEOUT_S)
        except Exception as exc:  # noqa: BLE001 - the next turn starts a fresh analysis
            log.warning("helper cache write failed: %r", exc)
