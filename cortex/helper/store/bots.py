"""The bots the helper knows of (from core's `bot.created` / `bot.deleted`), and what a deleted bot leaves.

Only the events fill the table: the helper never reads core's schema.
"""

from __future__ import annotations

import uuid

import asyncpg

BOT_DELETED = "bot deleted"


async def add_bot(conn: asyncpg.Connection, *, workspace_id: uuid.UUID, bot_id: uuid.UUID) -> None:
    await conn.execute(
        "INSERT INTO bots (id, workspace_id) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING", bot_id, workspace_id
    )


async def bot_exists(conn: asyncpg.Connection, *, workspace_id: uuid.UUID, bot_id: uuid.UUID) -> bool:
    return bool(await conn.fetchval("SELECT 1 FROM bots WHERE id = $1 AND workspace_id = $2", bot_id, workspace_id))


async def workspace_of_bot(conn: asyncpg.Connection, *, bot_id: uuid.UUID) -> uuid.UUID | None:
    """The workspace the bot belongs to (None: not known, yet or any more). For the bot check only:
    a bot of another workspace is a 404 at once, without waiting for its `bot.created`."""
    return await conn.fetchval("SELECT workspace_id FROM bots WHERE id = $1", bot_id)


async def remove_bot(conn: asyncpg.Connection, *, workspace_id: uuid.UUID, bot_id: uuid.UUID) -> None:
    """A deleted bot: its settings go, its own patterns retire and its running experiments stop (their
    rows and statistics stay, for the record). Idempotent: a redelivery changes nothing more."""
    await conn.execute("DELETE FROM bot_settings WHERE bot_id = $1 AND workspace_id = $2", bot_id, workspace_id)
    await conn.execute(
        """
        UPDATE patterns SET status = 'retired', retired_reason = $3, updated_at = now()
         WHERE workspace_id = $1 AND bot_id = $2 AND status <> 'retired'
        """,
        workspace_id,
        bot_id,
        BOT_DELETED,
    )
    await conn.execute(
        """
        UPDATE experiments SET status = 'stopped', stopped_at = now(), stopped_reason = $3
         WHERE workspace_id = $1 AND bot_id = $2 AND status = 'running'
        """,
        workspace_id,
        bot_id,
        BOT_DELETED,
    )
    await conn.execute("DELETE FROM bots WHERE id = $1 AND workspace_id = $2", bot_id, workspace_id)
