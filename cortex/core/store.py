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


_PROFILE_COLUMNS = (
    "p.id, p.visitor_id, p.name, p.email, p.phone, p.company, p.consent, p.attributes, p.field_sources, "
    "p.created_at, p.updated_at, p.erased_at"
)
_PROFILE_CONVERSATIONS = (
    "(SELECT count(*) FROM conversations c WHERE c.workspace_id = p.workspace_id "
    "AND (c.profile_id = p.id OR c.visitor_id = p.visitor_id))::int AS conversation_count"
)
PROFILE_FIELDS = ("name", "email", "phone", "company")


async def get_profile_by_id(
    conn: asyncpg.Connection, *, workspace_id: uuid.UUID, profile_id: uuid.UUID, for_update: bool = False
) -> asyncpg.Record | None:
    """One profile with its conversation count; `for_update` locks it for the caller's transaction."""
    if for_update:
        return await conn.fetchrow(
            f"SELECT {_PROFILE_COLUMNS}, 0 AS conversation_count FROM visitor_profiles p "
            "WHERE p.id = $1 AND p.workspace_id = $2 FOR UPDATE",
            profile_id,
            workspace_id,
        )
    return await conn.fetchrow(
        f"SELECT {_PROFILE_COLUMNS}, {_PROFILE_CONVERSATIONS} FROM visitor_profiles p "
        "WHERE p.id = $1 AND p.workspace_id = $2",
        profile_id,
        workspace_id,
    )


async def list_profiles(
    conn: asyncpg.Connection,
    *,
    workspace_id: uuid.UUID,
    has_email: bool | None,
    text: str | None,
    limit: int,
    offset: int,
) -> list[asyncpg.Record]:
    """Newest-updated first; `text` matches name, e-mail, phone, company or visitor id (substring)."""
    pattern = None if text is None else "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    return await conn.fetch(
        f"SELECT {_PROFILE_COLUMNS}, {_PROFILE_CONVERSATIONS} FROM visitor_profiles p WHERE p.workspace_id = $1 "
        "AND ($2::boolean IS NULL OR (p.email IS NOT NULL) = $2) "
        "AND ($3::text IS NULL OR p.name ILIKE $3 OR p.email ILIKE $3 OR p.phone ILIKE $3 OR p.company ILIKE $3 "
        "OR p.visitor_id ILIKE $3) "
        "ORDER BY p.updated_at DESC, p.id LIMIT $4 OFFSET $5",
        workspace_id,
        has_email,
        pattern,
        limit,
        offset,
    )


async def create_profile(
    conn: asyncpg.Connection,
    *,
    workspace_id: uuid.UUID,
    profile_id: uuid.UUID,
    visitor_id: str,
    fields: dict[str, Any],
    consent: dict[str, bool],
    attributes: dict[str, Any],
    field_sources: dict[str, str],
) -> asyncpg.Record | None:
    """A new profile, or None when the visitor already has one in this workspace."""
    return await conn.fetchrow(
        "INSERT INTO visitor_profiles AS p (id, workspace_id, visitor_id, name, email, phone, company, consent, "
        "attributes, field_sources) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) "
        f"ON CONFLICT (workspace_id, visitor_id) DO NOTHING RETURNING {_PROFILE_COLUMNS}, 0 AS conversation_count",
        profile_id,
        workspace_id,
        visitor_id,
        *(fields.get(name) for name in PROFILE_FIELDS),
        consent,
        attributes,
        field_sources,
    )


async def update_profile(
    conn: asyncpg.Connection,
    *,
    workspace_id: uuid.UUID,
    profile_id: uuid.UUID,
    fields: dict[str, str | None],
    field_sources: dict[str, str],
    consent: dict[str, bool] | None = None,
    attributes: dict[str, Any] | None = None,
) -> None:
    """Set the given personal fields (others untouched), their sources, and consent/attributes if given."""
    names = [name for name in PROFILE_FIELDS if name in fields]
    assignments = "".join(f", {name} = ${i + 6}" for i, name in enumerate(names))
    await conn.execute(
        "UPDATE visitor_profiles SET field_sources = $3, consent = coalesce($4, consent), "
        f"attributes = coalesce($5, attributes), updated_at = now(){assignments} "
        "WHERE id = $1 AND workspace_id = $2",
        profile_id,
        workspace_id,
        field_sources,
        consent,
        attributes,
        *(fields[name] for name in names),
    )


async def delete_profile(conn: asyncpg.Connection, *, workspace_id: uuid.UUID, profile_id: uuid.UUID) -> bool:
    status = await conn.execute(
        "DELETE FROM visitor_profiles WHERE id = $1 AND workspace_id = $2", profile_id, workspace_id
    )
    return status.endswith(" 1")


async def erase_profile_fields(conn: asyncpg.Connection, *, workspace_id: uuid.UUID, profile_id: uuid.UUID) -> None:
    """Clear every personal field of the profile and mark it erased (the row stays, pseudonymous)."""
    await conn.execute(
        "UPDATE visitor_profiles SET name = NULL, email = NULL, phone = NULL, company = NULL, consent = '{}', "
        "attributes = '{}', field_sources = '{}', erased_at = now(), updated_at = now() "
        "WHERE id = $1 AND workspace_id = $2",
        profile_id,
        workspace_id,
    )


async def profile_conversation_ids(
    conn: asyncpg.Connection, *, workspace_id: uuid.UUID, profile_id: uuid.UUID, visitor_id: str
) -> list[uuid.UUID]:
    """The profile's conversations: linked to it, or held by its visitor (also after a re-created profile)."""
    rows = await conn.fetch(
        "SELECT id FROM conversations WHERE workspace_id = $1 AND (profile_id = $2 OR visitor_id = $3) "
        "ORDER BY started_at",
        workspace_id,
        profile_id,
        visitor_id,
    )
    return [row["id"] for row in rows]


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


# -- conversations and messages -----------------------------------------------------------------

_CONVERSATION_COLUMNS = (
    "id, bot_id, visitor_id, profile_id, status, assigned_agent, outcomes, rating, feedback, message_count, "
    "started_at, last_message_at"
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


async def lock_conversation(
    conn: asyncpg.Connection, *, workspace_id: uuid.UUID, conversation_id: uuid.UUID
) -> asyncpg.Record | None:
    """The conversation, locked until the caller's transaction ends (handoff changes are serialised)."""
    return await conn.fetchrow(
        f"SELECT {_CONVERSATION_COLUMNS} FROM conversations WHERE id = $1 AND workspace_id = $2 FOR UPDATE",
        conversation_id,
        workspace_id,
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


async def delete_conversation(conn: asyncpg.Connection, *, workspace_id: uuid.UUID, conversation_id: uuid.UUID) -> bool:
    status = await conn.execute(
        "DELETE FROM conversations WHERE id = $1 AND workspace_id = $2", conversation_id, workspace_id
    )
    return status.endswith(" 1")


_MESSAGE_COLUMNS = "id, role, content, citations, actions, direct_answer, degraded, interrupted, feedback, created_at"


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
) -> asyncpg.Record:
    # One round trip: the message, and the conversation's count and last activity.
    return await conn.fetchrow(
        "WITH counted AS (UPDATE conversations SET message_count = message_count + 1, last_message_at = now() "
        "WHERE id = $3 AND workspace_id = $2) "
        "INSERT INTO messages (id, workspace_id, conversation_id, role, content, citations, actions, direct_answer, "
        "degraded, interrupted, tokens_in, tokens_out, author_id) "
        f"VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING {_MESSAGE_COLUMNS}",
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
    )


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


async def get_chat_bot(
    conn: asyncpg.Connection, *, workspace_id: uuid.UUID, bot_id: uuid.UUID
) -> asyncpg.Record | None:
    """The bot, with the tokens it has used this month (`tokens_used`), in one round trip."""
    return await conn.fetchrow(
        f"SELECT {_BOT_COLUMNS}, (SELECT coalesce(sum(u.tokens), 0) FROM bot_usage u WHERE u.workspace_id = $2 "
        "AND u.bot_id = $1 AND u.month = date_trunc('month', now())::date) AS tokens_used "
        "FROM bots WHERE id = $1 AND workspace_id = $2",
        bot_id,
        workspace_id,
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


async def get_message(conn: asyncpg.Connection, *, workspace_id: uuid.UUID, message_id: uuid.UUID) -> asyncpg.Record:
    return await conn.fetchrow(
        f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE id = $1 AND workspace_id = $2", message_id, workspace_id
    )


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
