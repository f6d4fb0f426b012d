"""Patterns (a strategy for a situation, in a workspace or for one bot) and their statistics per situation."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import asyncpg

# example_embedding is left out: 384 floats nobody reads in a listing (the Guide loads it itself).
PATTERN_COLUMNS = (
    "id, workspace_id, bot_id, name, intent, stage, example, instruction, status, origin, retired_reason, "
    "created_at, updated_at"
)
# Columns a member may change (PATCH); the rest are the pattern's identity and record.
UPDATABLE = frozenset(
    {"name", "bot_id", "intent", "stage", "example", "example_embedding", "instruction", "status", "retired_reason"}
)
STAT_COLUMNS = "pattern_id, situation, uses, resolutions, leads, bookings, escalations, thumbs_up, thumbs_down"


async def get_pattern(
    conn: asyncpg.Connection, *, workspace_id: uuid.UUID, pattern_id: uuid.UUID, for_update: bool = False
) -> asyncpg.Record | None:
    lock = " FOR UPDATE" if for_update else ""
    return await conn.fetchrow(
        f"SELECT {PATTERN_COLUMNS} FROM patterns WHERE id = $1 AND workspace_id = $2{lock}", pattern_id, workspace_id
    )


async def patterns_by_ids(
    conn: asyncpg.Connection, *, workspace_id: uuid.UUID, pattern_ids: Sequence[uuid.UUID], for_update: bool = False
) -> list[asyncpg.Record]:
    """These patterns of the workspace (ids of other workspaces are simply absent)."""
    lock = " FOR UPDATE" if for_update else ""
    return await conn.fetch(
        f"SELECT {PATTERN_COLUMNS} FROM patterns WHERE workspace_id = $1 AND id = ANY($2::uuid[]) ORDER BY id{lock}",
        workspace_id,
        list(pattern_ids),
    )


async def list_patterns(
    conn: asyncpg.Connection,
    *,
    workspace_id: uuid.UUID,
    status: str | None = None,
    bot_id: uuid.UUID | None = None,
    intent: str | None = None,
    stage: str | None = None,
) -> list[asyncpg.Record]:
    """The workspace's patterns, filtered: `bot_id` keeps those that apply to that bot (its own and the
    workspace-wide ones); `intent`/`stage` keep those for that situation (and those for any)."""
    return await conn.fetch(
        f"""
        SELECT {PATTERN_COLUMNS} FROM patterns
         WHERE workspace_id = $1
           AND ($2::text IS NULL OR status = $2)
           AND ($3::uuid IS NULL OR bot_id IS NULL OR bot_id = $3)
           AND ($4::text IS NULL OR intent IS NULL OR intent = $4)
           AND ($5::text IS NULL OR stage IS NULL OR stage = $5)
         ORDER BY created_at, id
        """,
        workspace_id,
        status,
        bot_id,
        intent,
        stage,
    )


async def patterns_in_scope(
    conn: asyncpg.Connection,
    *,
    workspace_id: uuid.UUID,
    bot_id: uuid.UUID,
    statuses: Sequence[str] = ("candidate", "active"),
) -> list[asyncpg.Record]:
    """The patterns the Guide may advise to this bot (its own and the workspace-wide ones), with the
    example's embedding."""
    return await conn.fetch(
        f"""
        SELECT {PATTERN_COLUMNS}, example_embedding FROM patterns
         WHERE workspace_id = $1 AND (bot_id IS NULL OR bot_id = $2) AND status = ANY($3::text[])
         ORDER BY created_at, id
        """,
        workspace_id,
        bot_id,
        list(statuses),
    )


async def stats_of_patterns(
    conn: asyncpg.Connection, *, workspace_id: uuid.UUID, pattern_ids: Sequence[uuid.UUID]
) -> list[asyncpg.Record]:
    """The statistics rows (one per situation) of these patterns."""
    return await conn.fetch(
        f"""
        SELECT {STAT_COLUMNS} FROM pattern_stats
         WHERE workspace_id = $1 AND pattern_id = ANY($2::uuid[])
         ORDER BY pattern_id, situation
        """,
        workspace_id,
        list(pattern_ids),
    )


async def insert_patterns(
    conn: asyncpg.Connection, *, workspace_id: uuid.UUID, rows: Sequence[Mapping[str, Any]]
) -> list[asyncpg.Record]:
    """Insert these patterns (each a mapping of the columns below), in order, in one statement."""
    columns = ("id", "bot_id", "name", "intent", "stage", "example", "example_embedding", "instruction", "status")
    values = {column: [row.get(column) for row in rows] for column in columns}
    origins = [row.get("origin", "owner") for row in rows]
    return await conn.fetch(
        f"""
        INSERT INTO patterns (workspace_id, id, bot_id, name, intent, stage, example, example_embedding,
                              instruction, status, origin)
        SELECT $1, r.id, r.bot_id, r.name, r.intent, r.stage, r.example,
               CASE WHEN r.embedding IS NULL THEN NULL ELSE r.embedding::real[] END, r.instruction, r.status, r.origin
          FROM unnest($2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
                      $9::text[], $10::text[], $11::text[])
            AS r(id, bot_id, name, intent, stage, example, embedding, instruction, status, origin)
        RETURNING {PATTERN_COLUMNS}
        """,
        workspace_id,
        values["id"],
        values["bot_id"],
        values["name"],
        values["intent"],
        values["stage"],
        values["example"],
        [_pg_array(vector) for vector in values["example_embedding"]],
        values["instruction"],
        values["status"],
        origins,
    )


def _pg_array(vector: Sequence[float] | None) -> str | None:
    """A float vector as a Postgres array literal (unnest takes no array of arrays of varying presence)."""
    if vector is None:
        return None
    return "{" + ",".join(repr(float(x)) for x in vector) + "}"


async def update_pattern(
    conn: asyncpg.Connection, *, workspace_id: uuid.UUID, pattern_id: uuid.UUID, fields: Mapping[str, Any]
) -> asyncpg.Record | None:
    """Change these columns (of UPDATABLE); None when the pattern is not the workspace's."""
    unknown = set(fields) - UPDATABLE
    if unknown:
        raise ValueError(f"not updatable: {sorted(unknown)}")
    names = sorted(fields)
    assignments = ", ".join(f"{name} = ${index}" for index, name in enumerate(names, start=3))
    return await conn.fetchrow(
        f"""
        UPDATE patterns SET {assignments}{", " if names else ""}updated_at = now()
         WHERE id = $1 AND workspace_id = $2
        RETURNING {PATTERN_COLUMNS}
        """,
        pattern_id,
        workspace_id,
        *[fields[name] for name in names],
    )


async def set_pattern_status(
    conn: asyncpg.Connection,
    *,
    workspace_id: uuid.UUID,
    pattern_ids: Sequence[uuid.UUID],
    status: str,
    retired_reason: str | None = None,
) -> None:
    """Move these patterns to `status` (a promotion: the winner active, the losers retired)."""
    await conn.execute(
        """
        UPDATE patterns SET status = $3, retired_reason = $4, updated_at = now()
         WHERE workspace_id = $1 AND id = ANY($2::uuid[])
        """,
        workspace_id,
        list(pattern_ids),
        status,
        retired_reason if status == "retired" else None,
    )


async def delete_pattern(conn: asyncpg.Connection, *, workspace_id: uuid.UUID, pattern_id: uuid.UUID) -> bool:
    """Delete the pattern and its statistics (they cascade); False when it is not the workspace's."""
    deleted = await conn.fetchval(
        "DELETE FROM patterns WHERE id = $1 AND workspace_id = $2 RETURNING id", pattern_id, workspace_id
    )
    return deleted is not None
