"""What the helper knows of a conversation, what it saw and advised per turn, and the guidance it carried."""

from __future__ import annotations

import uuid

import asyncpg


async def get_conversation(
    conn: asyncpg.Connection, *, workspace_id: uuid.UUID, conversation_id: uuid.UUID
) -> asyncpg.Record | None:
    return await conn.fetchrow(
        """
        SELECT conversation_id, bot_id, visitor_id, started_at, outcomes, outcome, closed_at, credited_outcomes
          FROM conversations WHERE conversation_id = $1 AND workspace_id = $2
        """,
        conversation_id,
        workspace_id,
    )


async def advice_of_conversation(
    conn: asyncpg.Connection, *, workspace_id: uuid.UUID, conversation_id: uuid.UUID, limit: int
) -> list[asyncpg.Record]:
    """The helper's analysis and guidance per turn, oldest first (at most `limit` turns)."""
    return await conn.fetch(
        """
        SELECT id, bot_id, analysis, guidance, created_at FROM advice_log
         WHERE conversation_id = $1 AND workspace_id = $2
         ORDER BY created_at, id LIMIT $3
        """,
        conversation_id,
        workspace_id,
        limit,
    )


async def applications_of_conversation(
    conn: asyncpg.Connection, *, workspace_id: uuid.UUID, conversation_id: uuid.UUID
) -> list[asyncpg.Record]:
    """The guidance each bot message of the conversation carried (from `message.created`), oldest first."""
    return await conn.fetch(
        """
        SELECT message_id, bot_id, pattern_id, experiment_id, arm, situation, rating, created_at
          FROM applications WHERE conversation_id = $1 AND workspace_id = $2
         ORDER BY created_at, message_id
        """,
        conversation_id,
        workspace_id,
    )
