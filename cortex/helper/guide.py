"""The helper's guidance for a live conversation: every turn analysed, a strategy picked from what the
bot's patterns, experiments and statistics say, what it saw and advised logged for the owner.

Core embeds the visitor's question once per turn and asks the Guide concurrently with knowledge,
with a timeout (`CORTEX_GUIDANCE_TIMEOUT_S`). Per turn the Guide

1. reads the conversation's previous analysis from Redis (50 ms at most);
2. takes the bot's `Advisor` from its per-replica cache (`BotCache`): the bot's settings (on or off,
   its goal), its patterns in scope, the running experiments covering it, and a bandit built from
   the statistics credited for its goal. A copy older than `CORTEX_HELPER_REFRESH_S` still answers
   while one background read replaces it; a failed read keeps the last good copy. Only a bot's first
   turn on a replica waits for the read (and a turn core gave up on leaves it running for the next);
3. analyses the turn and decides (`Advisor.advise`: no model, no network, well under a millisecond);
4. writes the analysis back to Redis with an expiry (`CORTEX_HELPER_ANALYSIS_TTL_S`), and queues
   the turn's analysis and guidance for the advice log (written in batches, off the turn:
   `advice_log.AdviceLog`).

No query runs in a turn once the bot is cached. A Redis that fails or is slow costs the turn its
previous analysis (or its cached copy), never its answer. A Postgres that fails costs nothing while
a copy is cached; with none (the bot's first turn on this replica) `advise` raises
`HelperUnavailable`, and core answers without guidance, marked degraded (`helper_failed`).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import asyncpg
import numpy as np
import orjson
import redis.asyncio as aioredis

from cortex.contracts.guidance import Guidance, HistoryTurn
from cortex.helper.advice_log import AdviceLog, plain
from cortex.helper.advisor import Advisor, Experiment, Pattern, bandit_state
from cortex.helper.analysis import Analyser, Analysis
from cortex.helper.bandit import Bandit
from cortex.helper.store.loading import BotGuidance, load_bot_guidance
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

    async def put(self, conversation_id: uuid.UUID | str, analysis: Analysis | dict[str, Any]) -> None:
        """Keep the analysis (or `plain(analysis)`, its fields) as the conversation's latest."""
        fields = analysis if isinstance(analysis, dict) else plain(analysis)
        await self.redis.set(analysis_key(conversation_id), orjson.dumps(fields), ex=self.ttl_s)

    async def forget(self, conversation_ids: Iterable[uuid.UUID | str]) -> int:
        """Delete these conversations' analyses (a visitor's erasure); how many there were."""
        keys = [analysis_key(conversation_id) for conversation_id in conversation_ids]
        return int(await self.redis.delete(*keys)) if keys else 0


# A bot's state, read from Postgres: past this the read is abandoned (and retried on a later turn).
LOAD_TIMEOUT_S = 5.0
# Bots whose state one replica keeps (least recently advised dropped first): ~50 patterns each, a few MB.
MAX_BOTS = 5_000
# The Guide's own pool: it reads each bot's state once per refresh and writes the advice log in batches.
POOL_MAX = 4

Load = Callable[[uuid.UUID, uuid.UUID], Awaitable[BotGuidance]]


class HelperUnavailable(RuntimeError):
    """The bot's patterns could not be read and no copy of them is cached: the turn goes without guidance."""


def build_advisor(state: BotGuidance, *, analyser: Analyser, rng: np.random.Generator) -> Advisor:
    """The live decision for one bot, from its state as the store reads it: its patterns in scope and
    those its experiments' arms still name, its running experiments (oldest first), and a bandit whose
    posteriors count the successes of the bot's goal."""
    patterns = [_pattern(row) for row in [*state.patterns, *state.arm_patterns]]
    experiments = [
        Experiment.from_arms(str(row["id"]), row["arms"], intent=row["intent"], stage=row["stage"])
        for row in state.experiments
    ]
    bandit = Bandit(rng=rng, state=bandit_state(state.stats, state.goal))
    return Advisor(patterns=patterns, experiments=experiments, analyser=analyser, bandit=bandit, enabled=state.enabled)


def _pattern(row: Any) -> Pattern:
    return Pattern(
        pattern_id=str(row["id"]),
        instruction=row["instruction"],
        status=row["status"],
        intent=row["intent"],
        stage=row["stage"],
    )


@dataclass
class _Entry:
    advisor: Advisor
    loaded_at: float  # monotonic
    refreshing: asyncio.Task[None] | None = None


class BotCache:
    """Per bot, its `Advisor` as of its last read, kept `refresh_s`; past that the stale copy answers
    while one background read replaces it. A failed read keeps the copy (and is tried again after
    another `refresh_s`); a bot with no copy waits for its first read, which one task makes for all
    the turns that ask meanwhile, and a failed first read is not tried again for `refresh_s`
    (every turn in between raises `HelperUnavailable` at once)."""

    def __init__(
        self,
        load: Load,
        build: Callable[[BotGuidance], Advisor],
        *,
        refresh_s: float,
        max_bots: int = MAX_BOTS,
        load_timeout_s: float = LOAD_TIMEOUT_S,
    ) -> None:
        self._load = load
        self._build = build
        self.refresh_s = refresh_s
        self.max_bots = max_bots
        self.load_timeout_s = load_timeout_s
        self._entries: OrderedDict[tuple[uuid.UUID, uuid.UUID], _Entry] = OrderedDict()
        self._first: dict[tuple[uuid.UUID, uuid.UUID], asyncio.Task[Advisor]] = {}
        self._failed_at: dict[tuple[uuid.UUID, uuid.UUID], float] = {}
        self.reads = 0
        self.failures = 0

    async def get(self, workspace_id: uuid.UUID, bot_id: uuid.UUID) -> Advisor:
        key = (workspace_id, bot_id)
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
            if time.monotonic() - entry.loaded_at >= self.refresh_s and entry.refreshing is None:
                entry.refreshing = asyncio.get_running_loop().create_task(self._refresh(key, entry))
            return entry.advisor
        task = self._first.get(key)
        if task is None:
            failed_at = self._failed_at.get(key)
            if failed_at is not None and time.monotonic() - failed_at < self.refresh_s:
                raise HelperUnavailable("the helper could not read this bot's patterns")
            task = asyncio.get_running_loop().create_task(self._read_first(key))
            # Its failure is logged in _read_first; a turn that gave up on it never retrieves it.
            task.add_done_callback(lambda done: done.cancelled() or done.exception())
            self._first[key] = task
        # Shielded: a turn that core stops waiting for leaves the read running for the next turns.
        return await asyncio.shield(task)

    async def _read(self, key: tuple[uuid.UUID, uuid.UUID]) -> Advisor:
        self.reads += 1
        state = await asyncio.wait_for(self._load(*key), timeout=self.load_timeout_s)
        return self._build(state)

    async def _read_first(self, key: tuple[uuid.UUID, uuid.UUID]) -> Advisor:
        try:
            advisor = await self._read(key)
        except Exception as exc:
            self.failures += 1
            self._failed_at[key] = time.monotonic()
            log.warning("helper: reading bot %s's patterns failed: %r", key[1], exc)
            raise HelperUnavailable("the helper could not read this bot's patterns") from exc
        finally:
            self._first.pop(key, None)
        self._failed_at.pop(key, None)
        self._keep(key, _Entry(advisor, time.monotonic()))
        return advisor

    async def _refresh(self, key: tuple[uuid.UUID, uuid.UUID], entry: _Entry) -> None:
        try:
            advisor = await self._read(key)
        except Exception as exc:  # noqa: BLE001 - the last good copy keeps answering
            self.failures += 1
            entry.loaded_at = time.monotonic()  # tried again after another refresh_s, not on every turn
            log.warning("helper: refreshing bot %s's patterns failed, the last copy answers: %r", key[1], exc)
            return
        finally:
            entry.refreshing = None
        if self._entries.get(key) is entry:
            self._keep(key, _Entry(advisor, time.monotonic()))

    def _keep(self, key: tuple[uuid.UUID, uuid.UUID], entry: _Entry) -> None:
        self._entries[key] = entry
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_bots:
            self._entries.popitem(last=False)


class Guide:
    """One replica's live guidance: the analyser (the classifier's weights, loaded once), the bots'
    advisors (cached), the analysis cache, the advice log.

    `load` replaces the read of a bot's state from Postgres (tests; a stand-in for a helper with no
    database), `redis` and `pool` the connections the Guide otherwise makes on first use."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        redis: aioredis.Redis | None = None,
        analyser: Analyser | None = None,
        pool: asyncpg.Pool | None = None,
        load: Load | None = None,
        rng: np.random.Generator | None = None,
    ) -> None:
        self.settings = settings or get_settings()
        self.analyser = analyser or Analyser()
        self.rng = rng or np.random.default_rng()
        self._redis = redis
        self._pool = pool
        self._pool_lock: asyncio.Lock | None = None
        self.bots = BotCache(
            load or self._load_from_db,
            lambda state: build_advisor(state, analyser=self.analyser, rng=self.rng),
            refresh_s=self.settings.helper_refresh_s,
        )
        self.advice_log = AdviceLog(self.pool)

    @property
    def cache(self) -> AnalysisCache:
        if self._redis is None:  # made on first use: constructors run before the replica's event loop
            self._redis = aioredis.Redis.from_url(
                self.settings.resolved_redis_url(),
                socket_connect_timeout=CACHE_TIMEOUT_S * 5,
                socket_timeout=CACHE_TIMEOUT_S * 5,
            )
        return AnalysisCache(self._redis, ttl_s=self.settings.helper_analysis_ttl_s)

    async def pool(self) -> asyncpg.Pool:
        """The helper's pool (its service role, schema `helper`), opened on first use."""
        if self._pool is None:
            if self._pool_lock is None:
                self._pool_lock = asyncio.Lock()
            async with self._pool_lock:
                if self._pool is None:
                    from cortex.db.pool import create_pool

                    settings = self.settings.model_copy(
                        update={"db_pool_min": 0, "db_pool_max": min(POOL_MAX, self.settings.db_pool_max)}
                    )
                    self._pool = await create_pool(settings.service_database_url("helper"), settings, schema="helper")
        return self._pool

    async def _load_from_db(self, workspace_id: uuid.UUID, bot_id: uuid.UUID) -> BotGuidance:
        pool = await self.pool()
        async with pool.acquire(timeout=LOAD_TIMEOUT_S) as conn:
            return await load_bot_guidance(cast(asyncpg.Connection, conn), workspace_id=workspace_id, bot_id=bot_id)

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
        """The guidance for the bot's next reply (empty, with its reason, when nothing applies), the
        turn's analysis cached for the conversation's next one and logged with the guidance for the
        owner. Without the question's embedding there is nothing to analyse it with: no guidance.
        Experiments assign the visitor (a member's conversation, with no visitor: the conversation).
        Raises `HelperUnavailable` when the bot's patterns cannot be known (see the module's notes)."""
        if embedding is None:
            return Guidance(reason="no_pattern")
        advisor = await self.bots.get(workspace_id, bot_id)  # from the cache: no I/O once the bot is known
        cache = self.cache
        previous = await self._previous(cache, conversation_id)
        advice = advisor.advise(
            message,
            embedding=embedding,
            history=history,
            visitor_id=visitor_id or str(conversation_id),
            previous=previous,
        )
        analysis = plain(advice.analysis)  # one dict for both the cache and the log
        self.advice_log.put(
            workspace_id=workspace_id,
            bot_id=bot_id,
            conversation_id=conversation_id,
            analysis=analysis,
            guidance=advice.guidance,
        )
        await self._keep(cache, conversation_id, analysis)
        return advice.guidance

    async def analysis(self, conversation_id: uuid.UUID | str) -> Analysis | None:
        """The conversation's latest cached analysis (None: none, or it expired)."""
        return await self._previous(self.cache, conversation_id)

    async def forget(self, conversation_ids: Iterable[uuid.UUID | str]) -> int:
        return await self.cache.forget(conversation_ids)

    async def close(self) -> None:
        """Write the advice log's queue and close the connections the Guide opened."""
        await self.advice_log.close()
        if self._pool is not None:
            await self._pool.close()

    # asyncio.timeout rather than wait_for: no task per call (two per turn otherwise).
    @staticmethod
    async def _previous(cache: AnalysisCache, conversation_id: uuid.UUID | str) -> Analysis | None:
        try:
            async with asyncio.timeout(CACHE_TIMEOUT_S):
                return await cache.get(conversation_id)
        except Exception as exc:  # noqa: BLE001 - the turn is analysed without its history of analyses
            log.warning("helper cache read failed: %r", exc)
            return None

    @staticmethod
    async def _keep(cache: AnalysisCache, conversation_id: uuid.UUID, analysis: dict[str, Any]) -> None:
        try:
            async with asyncio.timeout(CACHE_TIMEOUT_S):
                await cache.put(conversation_id, analysis)
        except Exception as exc:  # noqa: BLE001 - the next turn starts a fresh analysis
            log.warning("helper cache write failed: %r", exc)
