"""SQL of the connected calendars (`workflows.calendars`) and of the external ids a booking was written
under (`workflows.appointments.external`). Every query takes `workspace_id`."""

from __future__ import annotations

import uuid
from typing import Any, TypeAlias

import asyncpg

#: A connection (inside a caller's transaction, say) or the pool.
Executor: TypeAlias = "asyncpg.Connection | asyncpg.Pool"

_COLUMNS = (
    "id, workspace_id, kind, name, resource_id, config, credentials_sealed, write_bookings, status, "
    "last_error, last_checked_at, created_at"
)


async def list_calendars(conn: Executor, *, workspace_id: uuid.UUID) -> list[asyncpg.Record]:
    """The workspace's connected calendars, oldest first."""
    return list(
        await conn.fetch(
            f"SELECT {_COLUMNS} FROM calendars WHERE workspace_id = $1 ORDER BY created_at, id", workspace_id
        )
    )


async def get_calendar(conn: Executor, *, workspace_id: uuid.UUID, calendar_id: uuid.UUID) -> asyncpg.Record | None:
    """One calendar of the workspace (None: not there, or another workspace's)."""
    return await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM calendars WHERE id = $1 AND workspace_id = $2", calendar_id, workspace_id
    )


async def insert_calendar(
    conn: Executor,
    *,
    workspace_id: uuid.UUID,
    kind: str,
    name: str,
    resource_id: uuid.UUID | None,
    config: dict[str, Any],
    credentials_sealed: bytes,
    write_bookings: bool,
) -> asyncpg.Record:
    """Record a new connection (its first check succeeded: status ok)."""
    row = await conn.fetchrow(
        f"""
        INSERT INTO calendars (id, workspace_id, kind, name, resource_id, config, credentials_sealed,
                               write_bookings, status, last_checked_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'ok', now())
        RETURNING {_COLUMNS}
        """,
        uuid.uuid4(),
        workspace_id,
        kind,
        name,
        resource_id,
        config,
        credentials_sealed,
        write_bookings,
    )
    assert row is not None
    return row


async def update_calendar(
    conn: Executor,
    *,
    workspace_id: uuid.UUID,
    calendar_id: uuid.UUID,
    name: str | None = None,
    resource_id: uuid.UUID | None = None,
    clear_resource: bool = False,
    write_bookings: bool | None = None,
) -> asyncpg.Record | None:
    """Change what the owner may change: the name, the resource it blocks, whether bookings are written."""
    return await conn.fetchrow(
        f"""
        UPDATE calendars
           SET name = coalesce($3, name),
               resource_id = CASE WHEN $5 THEN NULL ELSE coalesce($4, resource_id) END,
               write_bookings = coalesce($6, write_bookings)
         WHERE id = $1 AND workspace_id = $2
        RETURNING {_COLUMNS}
        """,
        calendar_id,
        workspace_id,
        name,
        resource_id,
        clear_resource,
        write_bookings,
    )


async def delete_calendar(conn: Executor, *, workspace_id: uuid.UUID, calendar_id: uuid.UUID) -> bool:
    """Forget a connection and its sealed credentials; False when there was none."""
    result = await conn.execute("DELETE FROM calendars WHERE id = $1 AND workspace_id = $2", calendar_id, workspace_id)
    return bool(result.endswith(" 1"))


async def resource_in_workspace(conn: Executor, *, workspace_id: uuid.UUID, resource_id: uuid.UUID) -> bool:
    """Whether the resource is the workspace's (a calendar may only block the workspace's own)."""
    return bool(
        await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM resources WHERE id = $1 AND workspace_id = $2)", resource_id, workspace_id
        )
    )


async def business_time_zone(conn: Executor, *, workspace_id: uuid.UUID, resource_id: uuid.UUID | None) -> str:
    """The booking time zone a calendar's all-day events belong to: the resource's bot's, else the one
    every bot of the workspace books in, else UTC."""
    zones = await conn.fetch(
        """
        SELECT DISTINCT s.time_zone
          FROM booking_settings s
         WHERE s.workspace_id = $1
           AND ($2::uuid IS NULL OR s.bot_id = (SELECT bot_id FROM resources WHERE id = $2 AND workspace_id = $1))
        """,
        workspace_id,
        resource_id,
    )
    return str(zones[0]["time_zone"]) if len(zones) == 1 else "UTC"


async def record_checks(
    conn: Executor,
    *,
    workspace_id: uuid.UUID,
    checks: list[tuple[uuid.UUID, str, str | None, bytes | None]],
    only_changes: bool = False,
) -> None:
    """Store each calendar's (id, status, last_error, new sealed credentials or None) after asking it.
    `only_changes`: touch a row only when its status or credentials change (inside a caller's
    transaction, so concurrent bookings do not queue on the calendar rows)."""
    for calendar_id, status, last_error, sealed in sorted(checks, key=lambda check: check[0]):
        await conn.execute(
            """
            UPDATE calendars
               SET status = $3, last_error = $4, last_checked_at = now(),
                   credentials_sealed = coalesce($5, credentials_sealed)
             WHERE id = $1 AND workspace_id = $2
               AND (NOT $6 OR status <> $3 OR $5::bytea IS NOT NULL)
            """,
            calendar_id,
            workspace_id,
            status,
            last_error,
            sealed,
            only_changes,
        )


async def set_external_id(
    conn: Executor, *, workspace_id: uuid.UUID, appointment_id: uuid.UUID, calendar_id: uuid.UUID, external_id: str
) -> None:
    """Remember the event's id in a connected calendar on the appointment (merged: other calendars' stay)."""
    await conn.execute(
        """
        UPDATE appointments SET external = external || jsonb_build_object($3::text, $4::text)
         WHERE id = $1 AND workspace_id = $2
        """,
        appointment_id,
        workspace_id,
        str(calendar_id),
        external_id,
    )


async def drop_external_id(
    conn: Executor, *, workspace_id: uuid.UUID, appointment_id: uuid.UUID, calendar_id: uuid.UUID
) -> None:
    """Forget the event's id in a calendar it was removed from."""
    await conn.execute(
        "UPDATE appointments SET external = external - $3::text WHERE id = $1 AND workspace_id = $2",
        appointment_id,
        workspace_id,
        str(calendar_id),
    )


async def external_ids(conn: Executor, *, workspace_id: uuid.UUID, appointment_id: uuid.UUID) -> dict[str, str]:
    """{calendar id: event id} the appointment was written under (read fresh: another writer may have added)."""
    value = await conn.fetchval(
        "SELECT external FROM appointments WHERE id = $1 AND workspace_id = $2", appointment_id, workspace_id
    )
    return dict(value or {})
