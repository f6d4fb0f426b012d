"""SQL of the marketing service. Every query takes `workspace_id` as a keyword."""

from __future__ import annotations

import uuid

import asyncpg


async def record_consent(
    conn: asyncpg.Connection,
    *,
    workspace_id: uuid.UUID,
    email: str,
    user_id: uuid.UUID | None,
    source: str,
    source_event: uuid.UUID | None,
) -> None:
    await conn.execute(
        "INSERT INTO consents (workspace_id, email, user_id, source, source_event) VALUES ($1, lower($2), $3, $4, $5) "
        "ON CONFLICT (workspace_id, email) DO NOTHING",
        workspace_id,
        email,
        user_id,
        source,
        source_event,
    )


async def get_consent(conn: asyncpg.Connection, *, workspace_id: uuid.UUID, email: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT email, user_id, source, source_event, consented_at FROM consents "
        "WHERE workspace_id = $1 AND email = lower($2)",
        workspace_id,
        email,
    )
