"""The bots knowledge knows of (from core's `bot.*` events), and forgetting one with all it was taught.

Only the events fill the table: knowledge never asks core (the comment in migration 002 that says it does
predates that, and a checksummed migration is not edited).
"""

from __future__ import annotations

import uuid

import asyncpg


async def add_bot(conn: asyncpg.Connection, *, workspace_id: uuid.UUID, bot_id: uuid.UUID) -> None:
    await conn.execute(
        "INSERT INTO bots (id, workspace_id) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING", bot_id, workspace_id
    )


async def bot_exists(conn: asyncpg.Connection, *, workspace_id: uuid.UUID, bot_id: uuid.UUID) -> bool:
    return bool(await conn.fetchval("SELECT 1 FROM bots WHERE id = $1 AND workspace_id = $2", bot_id, workspace_id))


async def object_keys_of_bot(conn: asyncpg.Connection, *, workspace_id: uuid.UUID, bot_id: uuid.UUID) -> list[str]:
    rows = await conn.fetch(
        "SELECT object_key FROM sources WHERE bot_id = $1 AND workspace_id = $2 AND object_key IS NOT NULL",
        bot_id,
        workspace_id,
    )
    return [row["object_key"] for row in rows]


async def remove_bot(conn: asyncpg.Connection, *, workspace_id: uuid.UUID, bot_id: uuid.UUID) -> None:
    """Everything the bot was taught goes with it (chunks and pages cascade from sources)."""
    await conn.execute("DELETE FROM sources WHERE bot_id = $1 AND workspace_id = $2", bot_id, workspace_id)
    await conn.execute("DELETE FROM faqs WHERE bot_id = $1 AND workspace_id = $2", bot_id, workspace_id)
    await conn.execute("DELETE FROM bot_index_stats WHERE bot_id = $1", bot_id)
    await conn.execute("DELETE FROM bots WHERE id = $1 AND workspace_id = $2", bot_id, workspace_id)
