"""Everything the Guide needs to steer one bot, read in one transaction (the Guide caches it per bot
for `CORTEX_HELPER_REFRESH_S`; `/api/helper/guidance` reads it fresh)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import asyncpg

from cortex.helper.store.experiments import running_experiments_in_scope
from cortex.helper.store.patterns import patterns_in_scope, stats_of_patterns
from cortex.helper.store.settings import DEFAULT_GOAL, Goal, get_bot_settings


@dataclass(frozen=True)
class BotGuidance:
    """One bot's helper state: on or off, its goal, its patterns in scope (candidate and active, with
    the example embedding), the running experiments covering it, the statistics of those patterns, and
    the patterns its experiments' arms name that are not in scope any more (retired meanwhile: an arm
    still advises its pattern until the experiment stops)."""

    enabled: bool
    goal: Goal
    patterns: list[asyncpg.Record]
    experiments: list[asyncpg.Record]
    stats: list[asyncpg.Record]
    arm_patterns: list[asyncpg.Record]


async def load_bot_guidance(conn: asyncpg.Connection, *, workspace_id: uuid.UUID, bot_id: uuid.UUID) -> BotGuidance:
    """One consistent snapshot of the bot's helper state (a transaction of its own unless in one already)."""
    if conn.is_in_transaction():
        return await _load(conn, workspace_id=workspace_id, bot_id=bot_id)
    async with conn.transaction(readonly=True, isolation="repeatable_read"):
        return await _load(conn, workspace_id=workspace_id, bot_id=bot_id)


async def _load(conn: asyncpg.Connection, *, workspace_id: uuid.UUID, bot_id: uuid.UUID) -> BotGuidance:
    settings = await get_bot_settings(conn, workspace_id=workspace_id, bot_id=bot_id)
    patterns = await patterns_in_scope(conn, workspace_id=workspace_id, bot_id=bot_id)
    experiments = await running_experiments_in_scope(conn, workspace_id=workspace_id, bot_id=bot_id)
    in_scope = {row["id"] for row in patterns}
    named = {
        uuid.UUID(arm["pattern_id"]) for row in experiments for arm in row["arms"] if arm.get("pattern_id") is not None
    }
    arm_patterns = (
        await patterns_in_scope(
            conn, workspace_id=workspace_id, bot_id=bot_id, statuses=("candidate", "active", "retired")
        )
        if named - in_scope
        else []
    )
    stats = await stats_of_patterns(conn, workspace_id=workspace_id, pattern_ids=sorted(in_scope))
    return BotGuidance(
        enabled=settings["enabled"] if settings else True,
        goal=settings["goal"] if settings else DEFAULT_GOAL,
        patterns=patterns,
        experiments=experiments,
        stats=stats,
        arm_patterns=[row for row in arm_patterns if row["id"] in named - in_scope],
    )
