"""Experiments (A/B tests of guidance) and the visitors their results count."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

EXPERIMENT_COLUMNS = (
    "id, workspace_id, bot_id, name, intent, stage, metric, arms, status, auto_promote, winner, "
    "created_at, started_at, stopped_at, stopped_reason"
)
# Whether a closed conversation reached the experiment's metric (design: resolution counts a lead or a
# booking too, since the visitor's need was met; lead and booking count only themselves).
METRIC_REACHED = {
    "resolution": "c.outcome IN ('resolved', 'lead_captured', 'booked')",
    "lead": "'lead_captured' = ANY(c.outcomes)",
    "booking": "'booked' = ANY(c.outcomes)",
}


async def insert_experiment(
    conn: asyncpg.Connection,
    *,
    workspace_id: uuid.UUID,
    experiment_id: uuid.UUID,
    bot_id: uuid.UUID | None,
    name: str,
    intent: str | None,
    stage: str | None,
    metric: str,
    arms: Sequence[dict[str, Any]],
    auto_promote: bool,
) -> asyncpg.Record:
    """A new experiment, running from now."""
    return await conn.fetchrow(
        f"""
        INSERT INTO experiments (id, workspace_id, bot_id, name, intent, stage, metric, arms, auto_promote)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
        RETURNING {EXPERIMENT_COLUMNS}
        """,
        experiment_id,
        workspace_id,
        bot_id,
        name,
        intent,
        stage,
        metric,
        list(arms),
        auto_promote,
    )


async def get_experiment(
    conn: asyncpg.Connection, *, workspace_id: uuid.UUID, experiment_id: uuid.UUID, for_update: bool = False
) -> asyncpg.Record | None:
    lock = " FOR UPDATE" if for_update else ""
    return await conn.fetchrow(
        f"SELECT {EXPERIMENT_COLUMNS} FROM experiments WHERE id = $1 AND workspace_id = $2{lock}",
        experiment_id,
        workspace_id,
    )


async def list_experiments(
    conn: asyncpg.Connection, *, workspace_id: uuid.UUID, status: str | None = None, bot_id: uuid.UUID | None = None
) -> list[asyncpg.Record]:
    """The workspace's experiments, newest first; `bot_id` keeps those that cover that bot."""
    return await conn.fetch(
        f"""
        SELECT {EXPERIMENT_COLUMNS} FROM experiments
         WHERE workspace_id = $1 AND ($2::text IS NULL OR status = $2)
           AND ($3::uuid IS NULL OR bot_id IS NULL OR bot_id = $3)
         ORDER BY created_at DESC, id
        """,
        workspace_id,
        status,
        bot_id,
    )


async def running_experiments_in_scope(
    conn: asyncpg.Connection, *, workspace_id: uuid.UUID, bot_id: uuid.UUID
) -> list[asyncpg.Record]:
    """The running experiments that cover this bot (its own and the workspace-wide ones), oldest first:
    when two cover one situation, the older one decides."""
    return await conn.fetch(
        f"""
        SELECT {EXPERIMENT_COLUMNS} FROM experiments
         WHERE workspace_id = $1 AND status = 'running' AND (bot_id IS NULL OR bot_id = $2)
         ORDER BY started_at, id
        """,
        workspace_id,
        bot_id,
    )


async def experiments_using_pattern(
    conn: asyncpg.Connection, *, workspace_id: uuid.UUID, pattern_id: uuid.UUID
) -> list[asyncpg.Record]:
    """The running experiments with an arm that advises this pattern."""
    return await conn.fetch(
        f"""
        SELECT {EXPERIMENT_COLUMNS} FROM experiments
         WHERE workspace_id = $1 AND status = 'running'
           AND EXISTS (SELECT 1 FROM jsonb_array_elements(arms) arm WHERE arm ->> 'pattern_id' = $2)
         ORDER BY started_at, id
        """,
        workspace_id,
        str(pattern_id),
    )


async def stop_experiment(
    conn: asyncpg.Connection,
    *,
    workspace_id: uuid.UUID,
    experiment_id: uuid.UUID,
    reason: str,
    winner: str | None = None,
) -> asyncpg.Record | None:
    """Stop a running experiment (None when it is not running, or not the workspace's)."""
    return await conn.fetchrow(
        f"""
        UPDATE experiments SET status = 'stopped', stopped_at = now(), stopped_reason = $3, winner = $4
         WHERE id = $1 AND workspace_id = $2 AND status = 'running'
        RETURNING {EXPERIMENT_COLUMNS}
        """,
        experiment_id,
        workspace_id,
        reason,
        winner,
    )


async def set_experiment_winner(
    conn: asyncpg.Connection, *, workspace_id: uuid.UUID, experiment_id: uuid.UUID, winner: str
) -> asyncpg.Record | None:
    """Record the winner of a stopped experiment promoted after it stopped."""
    return await conn.fetchrow(
        f"""
        UPDATE experiments SET winner = $3 WHERE id = $1 AND workspace_id = $2
        RETURNING {EXPERIMENT_COLUMNS}
        """,
        experiment_id,
        workspace_id,
        winner,
    )


async def running_auto_promote_experiments(conn: asyncpg.Connection, *, limit: int) -> list[asyncpg.Record]:
    """Running experiments of every workspace that promote their winner themselves (the helper's
    promotion loop; each row carries its workspace id, and every later step filters by it)."""
    return await conn.fetch(
        f"""
        SELECT {EXPERIMENT_COLUMNS} FROM experiments
         WHERE status = 'running' AND auto_promote
         ORDER BY started_at, id LIMIT $1
        """,
        limit,
    )


@dataclass(frozen=True)
class ExperimentUnit:
    """One unit of an experiment: a visitor (or a conversation without one), the arm it was shown, when its
    first conversation closed, and whether any of its closed conversations reached the metric."""

    unit: str
    arm: str
    first_closed_at: datetime
    converted: bool


async def experiment_units(
    conn: asyncpg.Connection, *, workspace_id: uuid.UUID, experiment_id: uuid.UUID, metric: str
) -> list[ExperimentUnit]:
    """The experiment's units, in the order their first conversation closed: the visitors whose
    conversations carried one of its applications and have closed."""
    reached = METRIC_REACHED[metric]
    rows = await conn.fetch(
        f"""
        WITH applied AS (
            SELECT conversation_id, (array_agg(arm ORDER BY created_at, message_id))[1] AS arm
              FROM applications
             WHERE workspace_id = $1 AND experiment_id = $2 AND arm IS NOT NULL
             GROUP BY conversation_id
        )
        SELECT COALESCE(c.visitor_id, c.conversation_id::text) AS unit,
               (array_agg(a.arm ORDER BY c.closed_at, c.conversation_id))[1] AS arm,
               min(c.closed_at) AS first_closed_at,
               bool_or({reached}) AS converted
          FROM applied a
          JOIN conversations c ON c.conversation_id = a.conversation_id AND c.workspace_id = $1
         WHERE c.closed_at IS NOT NULL
         GROUP BY 1
         ORDER BY first_closed_at, unit
        """,
        workspace_id,
        experiment_id,
    )
    return [ExperimentUnit(row["unit"], row["arm"], row["first_closed_at"], bool(row["converted"])) for row in rows]
