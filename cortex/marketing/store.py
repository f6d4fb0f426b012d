"""SQL of the marketing service. Every query takes `workspace_id` as a keyword."""

from __future__ import annotations

import uuid
from collections.abc import Callable

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
        "ON CONFLICT (workspace_id, email) WHERE email IS NOT NULL DO NOTHING",
        workspace_id,
        email,
        user_id,
        source,
        source_event,
    )


async def record_visitor_consent(
    conn: asyncpg.Connection, *, workspace_id: uuid.UUID, profile_id: uuid.UUID, source_event: uuid.UUID | None
) -> None:
    """A visitor's consent, by their profile in core: the address stays there (and goes with an erasure).
    Never for an erased visitor: a lead event redelivered after the erasure records nothing."""
    await conn.execute(
        "INSERT INTO consents (workspace_id, profile_id, source, source_event) "
        "SELECT $1, $2, 'widget', $3 WHERE NOT EXISTS "
        "(SELECT 1 FROM erased_profiles WHERE workspace_id = $1 AND profile_id = $2) "
        "ON CONFLICT (workspace_id, profile_id) WHERE profile_id IS NOT NULL DO NOTHING",
        workspace_id,
        profile_id,
        source_event,
    )


async def get_visitor_consent(
    conn: asyncpg.Connection, *, workspace_id: uuid.UUID, profile_id: uuid.UUID
) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT profile_id, source, source_event, consented_at FROM consents "
        "WHERE workspace_id = $1 AND profile_id = $2",
        workspace_id,
        profile_id,
    )


async def forget_visitor(
    conn: asyncpg.Connection,
    *,
    workspace_id: uuid.UUID,
    profile_id: uuid.UUID,
    email_digest: str | None,
    digest: Callable[[str], str | None],
) -> int:
    """Drop an erased visitor's consents: by profile, and any kept by an address whose `digest` is
    `email_digest` (consents recorded while lead.captured still carried the address); remember the
    profile as erased. Returns how many consents went."""
    await conn.execute(
        "INSERT INTO erased_profiles (workspace_id, profile_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        workspace_id,
        profile_id,
    )
    doomed = []
    if email_digest:
        # Visitors' addresses (no account): few per workspace, and the key lives outside the database.
        rows = await conn.fetch(
            "SELECT email FROM consents WHERE workspace_id = $1 AND user_id IS NULL AND email IS NOT NULL",
            workspace_id,
        )
        doomed = [row["email"] for row in rows if digest(row["email"]) == email_digest]
    result = await conn.execute(
        "DELETE FROM consents WHERE workspace_id = $1 AND (profile_id = $2 OR (user_id IS NULL AND email = ANY($3)))",
        workspace_id,
        profile_id,
        doomed,
    )
    return int(result.rsplit(" ", 1)[-1])


async def get_consent(conn: asyncpg.Connection, *, workspace_id: uuid.UUID, email: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT email, user_id, source, source_event, consented_at FROM consents "
        "WHERE workspace_id = $1 AND email = lower($2)",
        workspace_id,
        email,
    )
