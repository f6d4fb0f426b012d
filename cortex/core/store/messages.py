"""SQL of core's messages: recording, history, replay cursors, feedback and erasure."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import asyncpg

_MESSAGE_COLUMNS = "id, role, content, citations, actions, direct_answer, degraded, interrupted, feedback, created_at"
# What owners see besides: the guidance applied to a bot message (never selected for a visitor's view).
_GUIDANCE_COLUMNS = "pattern_id, experiment_id, arm, situation, no_guidance"


async def add_message(
    conn: asyncpg.Connection,
    *,
    workspace_id: uuid.UUID,
    conversation_id: uuid.UUID,
    message_id: uuid.UUID,
    role: str,
    content: str,
    citations: list[dict[str, Any]] | None = None,
    actions: list[dict[str, Any]] | None = None,
    direct_answer: bool = False,
    degraded: bool = False,
    interrupted: bool = False,
    tokens_in: int = 0,
    tokens_out: int = 0,
    author_id: uuid.UUID | None = None,
    answered: bool | None = None,
    pattern_id: uuid.UUID | None = None,
    experiment_id: uuid.UUID | None = None,
    arm: str | None = None,
    situation: str | None = None,
    no_guidance: str | None = None,
) -> asyncpg.Record:
    """`answered` and the guidance columns are a bot message's (cortex.core.applied)."""
    # One round trip: the message, and the conversation's count and last activity.
    return await conn.fetchrow(
        "WITH counted AS (UPDATE conversations SET message_count = message_count + 1, last_message_at = now() "
        "WHERE id = $3 AND workspace_id = $2) "
        "INSERT INTO messages (id, workspace_id, conversation_id, role, content, citations, actions, direct_answer, "
        "degraded, interrupted, tokens_in, tokens_out, author_id, answered, pattern_id, experiment_id, arm, "
        "situation, no_guidance) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19) "
        f"RETURNING {_MESSAGE_COLUMNS}",
        message_id,
        workspace_id,
        conversation_id,
        role,
        content,
        citations or [],
        actions or [],
        direct_answer,
        degraded,
        interrupted,
        tokens_in,
        tokens_out,
        author_id,
        answered,
        pattern_id,
        experiment_id,
        arm,
        situation,
        no_guidance,
    )


async def list_messages(
    conn: asyncpg.Connection, *, workspace_id: uuid.UUID, conversation_id: uuid.UUID, limit: int = 1000
) -> list[asyncpg.Record]:
    """A conversation's messages for its workspace's members, with the guidance applied to each."""
    return await conn.fetch(
        f"SELECT {_MESSAGE_COLUMNS}, {_GUIDANCE_COLUMNS} FROM messages "
        "WHERE conversation_id = $1 AND workspace_id = $2 ORDER BY created_at LIMIT $3",
        conversation_id,
        workspace_id,
        limit,
    )


async def get_message(conn: asyncpg.Connection, *, workspace_id: uuid.UUID, message_id: uuid.UUID) -> asyncpg.Record:
    return await conn.fetchrow(
        f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE id = $1 AND workspace_id = $2", message_id, workspace_id
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


async def recent_message_rows(
    conn: asyncpg.Connection, *, workspace_id: uuid.UUID, conversation_id: uuid.UUID, limit: int
) -> list[asyncpg.Record]:
    """The last `limit` messages of a conversation, oldest first."""
    return await conn.fetch(
        f"SELECT * FROM (SELECT {_MESSAGE_COLUMNS} FROM messages WHERE conversation_id = $1 AND workspace_id = $2 "
        "ORDER BY created_at DESC, id DESC LIMIT $3) latest ORDER BY created_at, id",
        conversation_id,
        workspace_id,
        limit,
    )


async def message_position(
    conn: asyncpg.Connection, *, workspace_id: uuid.UUID, conversation_id: uuid.UUID, message_id: uuid.UUID
) -> tuple[datetime, uuid.UUID] | None:
    """Where a message sits in its conversation's order (created_at, id): a replay cursor."""
    row = await conn.fetchrow(
        "SELECT created_at, id FROM messages WHERE id = $1 AND conversation_id = $2 AND workspace_id = $3",
        message_id,
        conversation_id,
        workspace_id,
    )
    return (row["created_at"], row["id"]) if row else None


async def last_message_position(
    conn: asyncpg.Connection, *, workspace_id: uuid.UUID, conversation_id: uuid.UUID
) -> tuple[datetime, uuid.UUID] | None:
    row = await conn.fetchrow(
        "SELECT created_at, id FROM messages WHERE conversation_id = $1 AND workspace_id = $2 "
        "ORDER BY created_at DESC, id DESC LIMIT 1",
        conversation_id,
        workspace_id,
    )
    return (row["created_at"], row["id"]) if row else None


async def messages_after(
    conn: asyncpg.Connection,
    *,
    workspace_id: uuid.UUID,
    conversation_id: uuid.UUID,
    after: tuple[datetime, uuid.UUID],
    limit: int,
) -> list[asyncpg.Record]:
    """Messages ordered after the cursor (created_at, id), oldest first."""
    return await conn.fetch(
        f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE conversation_id = $1 AND workspace_id = $2 "
        "AND (created_at, id) > ($3, $4) ORDER BY created_at, id LIMIT $5",
        conversation_id,
        workspace_id,
        after[0],
        after[1],
        limit,
    )


async def message_for_event(
    conn: asyncpg.Connection, *, workspace_id: uuid.UUID, message_id: uuid.UUID
) -> asyncpg.Record | None:
    """A message with what its consumers need: its conversation, the visitor's profile, the bot's language."""
    return await conn.fetchrow(
        "SELECT m.id, m.role, m.content, m.citations, m.actions, m.direct_answer, m.degraded, m.interrupted, "
        "m.created_at, m.conversation_id, c.profile_id, b.language FROM messages m "
        "JOIN conversations c ON c.id = m.conversation_id AND c.workspace_id = m.workspace_id "
        "JOIN bots b ON b.id = c.bot_id AND b.workspace_id = c.workspace_id "
        "WHERE m.id = $1 AND m.workspace_id = $2",
        message_id,
        workspace_id,
    )


async def set_message_feedback(
    conn: asyncpg.Connection,
    *,
    workspace_id: uuid.UUID,
    message_id: uuid.UUID,
    rating: int | None,
    visitor_id: str | None,
    bot_id: uuid.UUID | None,
) -> asyncpg.Record | None:
    """Rate a bot or agent reply; with `visitor_id`/`bot_id`, only in that visitor's conversation."""
    return await conn.fetchrow(
        "UPDATE messages m SET feedback = $3, feedback_at = now() FROM conversations c "
        "WHERE m.id = $1 AND m.workspace_id = $2 AND c.id = m.conversation_id AND m.role IN ('bot', 'agent') "
        "AND ($4::text IS NULL OR c.visitor_id = $4) AND ($5::uuid IS NULL OR c.bot_id = $5) "
        "RETURNING m.id, m.conversation_id, c.bot_id, m.feedback",
        message_id,
        workspace_id,
        rating,
        visitor_id,
        bot_id,
    )


async def erase_visitor_messages(
    conn: asyncpg.Connection, *, workspace_id: uuid.UUID, conversation_ids: list[uuid.UUID], replacement: str
) -> int:
    """Replace the content of every visitor message in these conversations; drop the visitors' feedback."""
    status = await conn.execute(
        "UPDATE messages SET content = $3 WHERE workspace_id = $1 AND conversation_id = ANY($2::uuid[]) "
        "AND role = 'visitor' AND content <> $3",
        workspace_id,
        conversation_ids,
        replacement,
    )
    await conn.execute(
        "UPDATE conversations SET feedback = NULL WHERE workspace_id = $1 AND id = ANY($2::uuid[])",
        workspace_id,
        conversation_ids,
    )
    return int(status.split()[-1])


async def messages_of_conversations(
    conn: asyncpg.Connection, *, workspace_id: uuid.UUID, conversation_ids: list[uuid.UUID], roles: list[str]
) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT id, role, content FROM messages WHERE workspace_id = $1 AND conversation_id = ANY($2::uuid[]) "
        "AND role = ANY($3::text[]) ORDER BY created_at",
        workspace_id,
        conversation_ids,
        roles,
    )


async def set_message_content(
    conn: asyncpg.Connection, *, workspace_id: uuid.UUID, message_id: uuid.UUID, content: str
) -> None:
    await conn.execute(
        "UPDATE messages SET content = $3 WHERE id = $1 AND workspace_id = $2", message_id, workspace_id, content
    )
