"""SQL of core's conversations: status, handoff, outcomes."""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg

_CONVERSATION_COLUMNS = (
    "id, bot_id, visitor_id, profile_id, status, assigned_agent, outcomes, rating, feedback, message_count, "
    "started_at, last_message_at, closed_at, closed_by, booking_active"
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
    conn: asyncpg.Connection, *, workspace_id: uuid.UUID, conversation_id: uuid.UUID, for_update: bool = False
) -> asyncpg.Record | None:
    """The conversation; with `for_update`, locked until the caller's transaction ends (handoff changes
    are serialised)."""
    lock = " FOR UPDATE" if for_update else ""
    return await conn.fetchrow(
        f"SELECT {_CONVERSATION_COLUMNS} FROM conversations WHERE id = $1 AND workspace_id = $2{lock}",
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
    outcome: str | None = None,
    has_lead: bool | None = None,
) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"SELECT {_CONVERSATION_COLUMNS} FROM conversations c WHERE workspace_id = $1 "
        "AND ($2::uuid IS NULL OR bot_id = $2) AND ($3::text IS NULL OR status = $3) "
        "AND ($4::timestamptz IS NULL OR last_message_at >= $4) AND ($5::timestamptz IS NULL OR started_at < $5) "
        "AND ($6::int IS NULL OR rating = $6) "
        "AND ($7::text IS NULL OR EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = c.id "
        "AND m.workspace_id = $1 AND m.search @@ plainto_tsquery('simple', $7))) "
        "AND ($10::text IS NULL OR $10 = ANY (outcomes)) "
        "AND ($11::boolean IS NULL OR $11 = EXISTS (SELECT 1 FROM visitor_profiles p WHERE p.id = c.profile_id "
        "AND p.workspace_id = $1 AND (p.email IS NOT NULL OR p.phone IS NOT NULL))) "
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
        outcome,
        has_lead,
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


async def set_handoff(
    conn: asyncpg.Connection,
    *,
    workspace_id: uuid.UUID,
    conversation_id: uuid.UUID,
    status: str,
    assigned_agent: uuid.UUID | None,
) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "UPDATE conversations SET status = $3, assigned_agent = $4 WHERE id = $1 AND workspace_id = $2 "
        f"RETURNING {_CONVERSATION_COLUMNS}",
        conversation_id,
        workspace_id,
        status,
        assigned_agent,
    )


async def set_booking_active(
    conn: asyncpg.Connection, *, workspace_id: uuid.UUID, conversation_id: uuid.UUID, active: bool
) -> None:
    """Whether the conversation's scheduling run waits for the visitor's next message."""
    await conn.execute(
        "UPDATE conversations SET booking_active = $3 WHERE id = $1 AND workspace_id = $2",
        conversation_id,
        workspace_id,
        active,
    )


async def booking_known(
    conn: asyncpg.Connection, *, workspace_id: uuid.UUID, conversation_id: uuid.UUID
) -> dict[str, str]:
    """What the conversation's visitor profile holds that a booking asks for: name and e-mail (those set)."""
    row = await conn.fetchrow(
        "SELECT p.name, p.email FROM conversations c JOIN visitor_profiles p ON p.id = c.profile_id "
        "AND p.workspace_id = c.workspace_id WHERE c.id = $1 AND c.workspace_id = $2 AND p.erased_at IS NULL",
        conversation_id,
        workspace_id,
    )
    if row is None:
        return {}
    return {name: row[name] for name in ("name", "email") if row[name]}


async def delete_conversation(conn: asyncpg.Connection, *, workspace_id: uuid.UUID, conversation_id: uuid.UUID) -> bool:
    status = await conn.execute(
        "DELETE FROM conversations WHERE id = $1 AND workspace_id = $2", conversation_id, workspace_id
    )
    return status.endswith(" 1")


async def add_outcome(
    conn: asyncpg.Connection, *, workspace_id: uuid.UUID, conversation_id: uuid.UUID, outcome: str
) -> bool:
    """Label a conversation with an outcome once; False when it already had it."""
    status = await conn.execute(
        "UPDATE conversations SET outcomes = array_append(outcomes, $3) "
        "WHERE id = $1 AND workspace_id = $2 AND NOT ($3 = ANY (outcomes))",
        conversation_id,
        workspace_id,
        outcome,
    )
    return status.endswith(" 1")


async def claim_idle_conversations(conn: asyncpg.Connection, *, idle_s: float, limit: int) -> list[asyncpg.Record]:
    """Open or handed-off conversations without a message for `idle_s`, oldest first, each with its
    last bot reply; locked for the caller's transaction. The closer's own scan across every
    workspace (each row carries its `workspace_id`): rows another replica holds are skipped, so
    several closers never close one conversation twice."""
    return await conn.fetch(
        "SELECT c.id, c.workspace_id, c.bot_id, c.visitor_id, c.outcomes, r.answered, r.degraded, r.interrupted, "
        "r.feedback, r.id IS NOT NULL AS has_reply FROM conversations c "
        "LEFT JOIN LATERAL (SELECT m.id, m.answered, m.degraded, m.interrupted, m.feedback FROM messages m "
        "WHERE m.conversation_id = c.id AND m.role = 'bot' ORDER BY m.created_at DESC LIMIT 1) r ON true "
        "WHERE c.status IN ('open', 'handoff') AND c.last_message_at < now() - make_interval(secs => $1) "
        "ORDER BY c.last_message_at LIMIT $2 FOR UPDATE OF c SKIP LOCKED",
        float(idle_s),
        limit,
    )


async def last_reply(
    conn: asyncpg.Connection, *, workspace_id: uuid.UUID, conversation_id: uuid.UUID
) -> asyncpg.Record | None:
    """The conversation's last bot message, as closing judges it."""
    return await conn.fetchrow(
        "SELECT answered, degraded, interrupted, feedback FROM messages "
        "WHERE conversation_id = $1 AND workspace_id = $2 AND role = 'bot' ORDER BY created_at DESC LIMIT 1",
        conversation_id,
        workspace_id,
    )


async def close_conversation(
    conn: asyncpg.Connection,
    *,
    workspace_id: uuid.UUID,
    conversation_id: uuid.UUID,
    outcomes: list[str],
    by: str,
) -> asyncpg.Record | None:
    """Close it now, with these labels (`by`: idle or member)."""
    return await conn.fetchrow(
        "UPDATE conversations SET status = 'closed', closed_at = now(), closed_by = $4, outcomes = $3 "
        f"WHERE id = $1 AND workspace_id = $2 RETURNING {_CONVERSATION_COLUMNS}",
        conversation_id,
        workspace_id,
        outcomes,
        by,
    )


async def reopen_conversation(
    conn: asyncpg.Connection, *, workspace_id: uuid.UUID, conversation_id: uuid.UUID, status: str, outcomes: list[str]
) -> asyncpg.Record | None:
    """A closed conversation open again (`status` open, or handoff when a member says so)."""
    return await conn.fetchrow(
        "UPDATE conversations SET status = $3, outcomes = $4, closed_at = NULL, closed_by = NULL, "
        "assigned_agent = CASE WHEN $3 = 'handoff' THEN assigned_agent END "
        f"WHERE id = $1 AND workspace_id = $2 RETURNING {_CONVERSATION_COLUMNS}",
        conversation_id,
        workspace_id,
        status,
        outcomes,
    )


async def set_outcomes(
    conn: asyncpg.Connection, *, workspace_id: uuid.UUID, conversation_id: uuid.UUID, outcomes: list[str]
) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"UPDATE conversations SET outcomes = $3 WHERE id = $1 AND workspace_id = $2 RETURNING {_CONVERSATION_COLUMNS}",
        conversation_id,
        workspace_id,
        outcomes,
    )
