"""SQL of core's visitor profiles: what core knows about a visitor, and its erasure."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg


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


async def drop_address_from_lead_events(
    conn: asyncpg.Connection, *, workspace_id: uuid.UUID, profile_id: uuid.UUID
) -> None:
    """Remove the address from the profile's `lead.captured` outbox rows written while the event carried it."""
    await conn.execute(
        "UPDATE outbox SET payload = payload - 'email' WHERE workspace_id = $1 AND event_type = 'lead.captured' "
        "AND payload->>'profile_id' = $2 AND payload ? 'email'",
        workspace_id,
        str(profile_id),
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
