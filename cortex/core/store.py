"""SQL of the core service. Every query takes `workspace_id` as a keyword."""

from __future__ import annotations

import uuid
from datetime import datetime
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


# -- visitor profiles -------------------------------------------------------------------------


async def ensure_profile(conn: asyncpg.Connection, *, workspace_id: uuid.UUID, visitor_id: str) -> uuid.UUID:
    """The visitor's profile in this workspace, created on first contact."""
    return await conn.fetchval(
        "INSERT INTO visitor_profiles (id, workspace_id, visitor_id) VALUES ($1, $2, $3) "
        "ON CONFLICT (workspace_id, visitor_id) DO UPDATE SET updated_at = now() RETURNING id",
        uuid.uuid4(),
        workspace_id,
        visitor_id,
    )


async def upsert_member_profile(
    conn: asyncpg.Connection, *, workspace_id: uuid.UUID, visitor_id: str, name: str | None, email: str
) -> uuid.UUID:
    return await conn.fetchval(
        "INSERT INTO visitor_profiles (id, workspace_id, visitor_id, name, email) VALUES ($1, $2, $3, $4, $5) "
        "ON CONFLICT (workspace_id, visitor_id) DO UPDATE SET name = coalesce(excluded.name, visitor_profiles.name), "
        "email = excluded.email, updated_at = now() RETURNING id",
        uuid.uuid4(),
        workspace_id,
        visitor_id,
        name,
        email,
    )


async def get_profile(conn: asyncpg.Connection, *, workspace_id: uuid.UUID, visitor_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT id, visitor_id, name, email, phone, company, created_at FROM visitor_profiles "
        "WHERE workspace_id = $1 AND visitor_id = $2",
        workspace_id,
        visitor_id,
    )


# -- conversations and messages -----------------------------------------------------------------

_CONVERSATION_COLUMNS = (
    "id, bot_id, visitor_id, status, outcomes, rating, feedback, message_count, started_at, last_message_at"
)


async def create_conversation(
    conn: asyncpg.Connection,
    *,
    workspace_id: uuid.UUID,
    conversation_id: uuid.UUID,
    bot_id: uuid.UUID,
    visitor_id: str | None,
    profile_id: uuid.UUID | None,
) -> asyncpg.Record:
    return await conn.fetchrow(
        "INSERT INTO conversations (id, workspace_id, bot_id, visitor_id, profile_id) VALUES ($1, $2, $3, $4, $5) "
        f"RETURNING {_CONVERSATION_COLUMNS}",
        conversation_id,
        workspace_id,
        bot_id,
        visitor_id,
        profile_id,
    )


async def get_conversation(
    conn: asyncpg.Connection, *, workspace_id: uuid.UUID, conversation_id: uuid.UUID
) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {_CONVERSATION_COLUMNS} FROM conversations WHERE id = $1 AND workspace_id = $2",
        conversation_id,
        workspace_id,
    )


async def list_conversations(
    conn: asyncpg.Connection,
    *,
    workspace_id: uuid.UUID,
    bot_id: uuid.UUID | None,
    status: str | None,
    since: datetime | None,
    until: datetime | None,
    rating: int | None,
    text: str | None,
    limit: int,
    offset: int,
) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"SELECT {_CONVERSATION_COLUMNS} FROM conversations c WHERE workspace_id = $1 "
        "AND ($2::uuid IS NULL OR bot_id = $2) AND ($3::text IS NULL OR status = $3) "
        "AND ($4::timestamptz IS NULL OR last_message_at >= $4) AND ($5::timestamptz IS NULL OR started_at < $5) "
        "AND ($6::int IS NULL OR rating = $6) "
        "AND ($7::text IS NULL OR EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = c.id "
        "AND m.workspace_id = $1 AND m.search @@ plainto_tsquery('simple', $7))) "
        "ORDER BY last_message_at DESC LIMIT $8 OFFSET $9",
        workspace_id,
        bot_id,
        status,
        since,
        until,
        rating,
        text,
        limit,
        offset,
    )


async def update_conversation(
    conn: asyncpg.Connection,
    *,
    workspace_id: uuid.UUID,
    conversation_id: uuid.UUID,
    status: str | None,
    outcomes: list[str] | None,
) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "UPDATE conversations SET status = coalesce($3, status), outcomes = coalesce($4, outcomes) "
        f"WHERE id = $1 AND workspace_id = $2 RETURNING {_CONVERSATION_COLUMNS}",
        conversation_id,
        workspace_id,
        status,
        outcomes,
    )


async def delete_conversation(conn: asyncpg.Connection, *, workspace_id: uuid.UUID, conversation_id: uuid.UUID) -> bool:
    status = await conn.execute(
        "DELETE FROM conversations WHERE id = $1 AND workspace_id = $2", conversation_id, workspace_id
    )
    return status.endswith(" 1")


_MESSAGE_COLUMNS = "id, role, content, citations, direct_answer, degraded, created_at"


async def add_message(
    conn: asyncpg.Connection,
    *,
    workspace_id: uuid.UUID,
    conversation_id: uuid.UUID,
    message_id: uuid.UUID,
    role: str,
    content: str,
    citations: list[dict[str, Any]] | None = None,
    direct_answer: bool = False,
    degraded: bool = False,
    tokens_in: int = 0,
    tokens_out: int = 0,
    author_id: uuid.UUID | None = None,
) -> asyncpg.Record:
    row = await conn.fetchrow(
        "INSERT INTO messages (id, workspace_id, conversation_id, role, content, citations, direct_answer, degraded, "
        f"tokens_in, tokens_out, author_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) "
        f"RETURNING {_MESSAGE_COLUMNS}",
        message_id,
        workspace_id,
        conversation_id,
        role,
        content,
        citations or [],
        direct_answer,
        degraded,
        tokens_in,
        tokens_out,
        author_id,
    )
    await conn.execute(
        "UPDATE conversations SET message_count = message_count + 1, last_message_at = now() "
        "WHERE id = $1 AND workspace_id = $2",
        conversation_id,
        workspace_id,
    )
    return row


async def list_messages(
    conn: asyncpg.Connection, *, workspace_id: uuid.UUID, conversation_id: uuid.UUID, limit: int = 1000
) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE conversation_id = $1 AND workspace_id = $2 "
        "ORDER BY created_at LIMIT $3",
        conversation_id,
        workspace_id,
        limit,
    )


async def recent_messages(
    conn: asyncpg.Connection, *, workspace_id: uuid.UUID, conversation_id: uuid.UUID, limit: int
) -> list[asyncpg.Record]:
    """The history window for a chat turn, oldest first."""
    rows = await conn.fetch(
        "SELECT role, content FROM messages WHERE conversation_id = $1 AND workspace_id = $2 "
        "ORDER BY created_at DESC LIMIT $3",
        conversation_id,
        workspace_id,
        limit,
    )
    return list(reversed(rows))


async def tokens_used_this_month(conn: asyncpg.Connection, *, workspace_id: uuid.UUID, bot_id: uuid.UUID) -> int:
    return await conn.fetchval(
        "SELECT coalesce(sum(tokens), 0) FROM bot_usage WHERE workspace_id = $1 AND bot_id = $2 "
        "AND month = date_trunc('month', now())::date",
        workspace_id,
        bot_id,
    )


async def add_usage(conn: asyncpg.Connection, *, workspace_id: uuid.UUID, bot_id: uuid.UUID, tokens: int) -> None:
    await conn.execute(
        "INSERT INTO bot_usage (workspace_id, bot_id, month, tokens) "
        "VALUES ($1, $2, date_trunc('month', now())::date, $3) "
        "ON CONFLICT (bot_id, month) DO UPDATE SET tokens = bot_usage.tokens + excluded.tokens",
        workspace_id,
        bot_id,
        tokens,
    )
