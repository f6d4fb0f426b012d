"""SQL of core's bots and their monthly token usage."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

_BOT_COLUMNS = (
    "id, name, system_prompt, persona, welcome_message, language, appearance, lead_fields, llm, "
    "direct_answer_threshold, created_at, updated_at"
)
_BOT_FIELDS = (
    "name",
    "system_prompt",
    "persona",
    "welcome_message",
    "language",
    "appearance",
    "lead_fields",
    "llm",
    "direct_answer_threshold",
)


async def create_bot(
    conn: asyncpg.Connection, *, workspace_id: uuid.UUID, bot_id: uuid.UUID, fields: dict[str, Any]
) -> asyncpg.Record:
    columns = ", ".join(_BOT_FIELDS)
    placeholders = ", ".join(f"${i + 3}" for i in range(len(_BOT_FIELDS)))
    return await conn.fetchrow(
        f"INSERT INTO bots (id, workspace_id, {columns}) VALUES ($1, $2, {placeholders}) RETURNING {_BOT_COLUMNS}",
        bot_id,
        workspace_id,
        *(fields[name] for name in _BOT_FIELDS),
    )


async def get_bot(conn: asyncpg.Connection, *, workspace_id: uuid.UUID, bot_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {_BOT_COLUMNS} FROM bots WHERE id = $1 AND workspace_id = $2", bot_id, workspace_id
    )


async def list_bots(conn: asyncpg.Connection, *, workspace_id: uuid.UUID) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"SELECT {_BOT_COLUMNS} FROM bots WHERE workspace_id = $1 ORDER BY created_at", workspace_id
    )


async def update_bot(
    conn: asyncpg.Connection, *, workspace_id: uuid.UUID, bot_id: uuid.UUID, changes: dict[str, Any]
) -> asyncpg.Record | None:
    names = [name for name in _BOT_FIELDS if name in changes]
    if not names:
        return await get_bot(conn, workspace_id=workspace_id, bot_id=bot_id)
    assignments = ", ".join(f"{name} = ${i + 3}" for i, name in enumerate(names))
    return await conn.fetchrow(
        f"UPDATE bots SET {assignments}, updated_at = now() WHERE id = $1 AND workspace_id = $2 "
        f"RETURNING {_BOT_COLUMNS}",
        bot_id,
        workspace_id,
        *(changes[name] for name in names),
    )


async def delete_bot(conn: asyncpg.Connection, *, workspace_id: uuid.UUID, bot_id: uuid.UUID) -> bool:
    status = await conn.execute("DELETE FROM bots WHERE id = $1 AND workspace_id = $2", bot_id, workspace_id)
    return status.endswith(" 1")


async def get_chat_bot(
    conn: asyncpg.Connection, *, workspace_id: uuid.UUID, bot_id: uuid.UUID
) -> asyncpg.Record | None:
    """The bot, with the tokens it (`tokens_used`) and its whole workspace (`workspace_tokens_used`)
    have used this month, in one round trip."""
    return await conn.fetchrow(
        f"SELECT {_BOT_COLUMNS}, (SELECT coalesce(sum(u.tokens), 0) FROM bot_usage u WHERE u.workspace_id = $2 "
        "AND u.bot_id = $1 AND u.month = date_trunc('month', now())::date) AS tokens_used, "
        "(SELECT coalesce(sum(w.tokens), 0) FROM workspace_usage w WHERE w.workspace_id = $2 "
        "AND w.month = date_trunc('month', now())::date) AS workspace_tokens_used "
        "FROM bots WHERE id = $1 AND workspace_id = $2",
        bot_id,
        workspace_id,
    )


async def add_usage(conn: asyncpg.Connection, *, workspace_id: uuid.UUID, bot_id: uuid.UUID, tokens: int) -> None:
    """Count tokens against the bot's month and its workspace's (which outlives the bot)."""
    await conn.execute(
        "INSERT INTO workspace_usage (workspace_id, month, tokens) VALUES ($1, date_trunc('month', now())::date, $2) "
        "ON CONFLICT (workspace_id, month) DO UPDATE SET tokens = workspace_usage.tokens + excluded.tokens",
        workspace_id,
        tokens,
    )
    await conn.execute(
        "INSERT INTO bot_usage (workspace_id, bot_id, month, tokens) "
        "VALUES ($1, $2, date_trunc('month', now())::date, $3) "
        "ON CONFLICT (bot_id, month) DO UPDATE SET tokens = bot_usage.tokens + excluded.tokens",
        workspace_id,
        bot_id,
        tokens,
    )
