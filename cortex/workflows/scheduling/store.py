"""The scheduling part's SQL (schema `workflows`): the bots it knows of, each bot's booking settings,
services, resources, closures and busy blocks, and the appointments.

Keyword-only functions taking a connection; every tenant-owned query takes `workspace_id`.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

import asyncpg

from cortex.workflows.scheduling.models import Appointment

# -- bots (from core's bot.created / bot.deleted) ------------------------------------------------------


async def add_bot(conn: asyncpg.Connection, *, workspace_id: uuid.UUID, bot_id: uuid.UUID) -> None:
    await conn.execute(
        "INSERT INTO bots (id, workspace_id) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING", bot_id, workspace_id
    )


async def workspace_of_bot(conn: asyncpg.Connection, *, bot_id: uuid.UUID) -> uuid.UUID | None:
    """The bot's workspace (None: not known, yet or any more). For the bot check only."""
    return await conn.fetchval("SELECT workspace_id FROM bots WHERE id = $1", bot_id)


async def remove_bot(conn: asyncpg.Connection, *, workspace_id: uuid.UUID, bot_id: uuid.UUID) -> None:
    """A deleted bot stops booking: its settings, closures and busy blocks go, its services and resources
    are switched off. Its appointments stay (the business still has them, and the list shows them)."""
    await conn.execute("DELETE FROM booking_settings WHERE workspace_id = $1 AND bot_id = $2", workspace_id, bot_id)
    await conn.execute("DELETE FROM closures WHERE workspace_id = $1 AND bot_id = $2", workspace_id, bot_id)
    await conn.execute("DELETE FROM busy_blocks WHERE workspace_id = $1 AND bot_id = $2", workspace_id, bot_id)
    await conn.execute(
        "UPDATE services SET active = false WHERE workspace_id = $1 AND bot_id = $2", workspace_id, bot_id
    )
    await conn.execute(
        "UPDATE resources SET active = false WHERE workspace_id = $1 AND bot_id = $2", workspace_id, bot_id
    )
    await conn.execute("DELETE FROM bots WHERE id = $1 AND workspace_id = $2", bot_id, workspace_id)


# -- booking settings ----------------------------------------------------------------------------------

#: The secrets_box purpose of a bot's webhook signing secret (`webhook_secret_sealed`).
WEBHOOK_SECRET_PURPOSE = "booking-webhook"

SETTINGS_COLUMNS = (
    "workspace_id, bot_id, enabled, time_zone, hours, buffer_min, min_notice_min, horizon_days, slot_step_min,"
    " reminder_hours, follow_up_hours, notify, webhook_secret_sealed IS NOT NULL AS has_webhook_secret, updated_at"
)


async def get_settings(
    conn: asyncpg.Connection, *, workspace_id: uuid.UUID, bot_id: uuid.UUID
) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {SETTINGS_COLUMNS} FROM booking_settings WHERE workspace_id = $1 AND bot_id = $2",
        workspace_id,
        bot_id,
    )


async def put_settings(
    conn: asyncpg.Connection,
    *,
    workspace_id: uuid.UUID,
    bot_id: uuid.UUID,
    fields: dict[str, Any],
    webhook_secret_sealed: bytes | None = None,
    drop_webhook_secret: bool = False,
) -> asyncpg.Record:
    """Create or replace the bot's settings with `fields` (column → value); a new sealed webhook secret
    replaces the old one, `drop_webhook_secret` removes it."""
    columns = list(fields)
    values = [fields[c] for c in columns]
    placeholders = ", ".join(f"${i + 3}" for i in range(len(columns)))
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in columns)
    secret_index = len(columns) + 3
    secret_update = (
        f"webhook_secret_sealed = COALESCE(${secret_index}, booking_settings.webhook_secret_sealed)"
        if not drop_webhook_secret
        else "webhook_secret_sealed = NULL"
    )
    return await conn.fetchrow(
        f"""
        INSERT INTO booking_settings (workspace_id, bot_id, {", ".join(columns)}, webhook_secret_sealed)
        VALUES ($1, $2, {placeholders}, ${secret_index})
        ON CONFLICT (workspace_id, bot_id) DO UPDATE SET {updates}, {secret_update}, updated_at = now()
        RETURNING {SETTINGS_COLUMNS}
        """,
        workspace_id,
        bot_id,
        *values,
        webhook_secret_sealed,
    )


async def webhook_secret_sealed(
    conn: asyncpg.Connection, *, workspace_id: uuid.UUID, bot_id: uuid.UUID
) -> bytes | None:
    """The bot's sealed webhook secret (purpose `booking-webhook`), for whoever signs owner webhooks."""
    return await conn.fetchval(
        "SELECT webhook_secret_sealed FROM booking_settings WHERE workspace_id = $1 AND bot_id = $2",
        workspace_id,
        bot_id,
    )


# -- services, resources, closures, busy blocks ---------------------------------------------------------


async def list_services(
    conn: asyncpg.Connection, *, workspace_id: uuid.UUID, bot_id: uuid.UUID | None = None, active_only: bool = False
) -> list[asyncpg.Record]:
    return await conn.fetch(
        """
        SELECT * FROM services
         WHERE workspace_id = $1 AND ($2::uuid IS NULL OR bot_id = $2) AND (active OR NOT $3)
         ORDER BY bot_id, position, name
        """,
        workspace_id,
        bot_id,
        active_only,
    )


async def get_service(
    conn: asyncpg.Connection, *, workspace_id: uuid.UUID, service_id: uuid.UUID
) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM services WHERE id = $1 AND workspace_id = $2", service_id, workspace_id)


async def create_service(
    conn: asyncpg.Connection, *, workspace_id: uuid.UUID, bot_id: uuid.UUID, fields: dict[str, Any]
) -> asyncpg.Record:
    columns = list(fields)
    placeholders = ", ".join(f"${i + 4}" for i in range(len(columns)))
    return await conn.fetchrow(
        f"""
        INSERT INTO services (id, workspace_id, bot_id, {", ".join(columns)}) VALUES ($1, $2, $3, {placeholders})
        RETURNING *
        """,
        uuid.uuid4(),
        workspace_id,
        bot_id,
        *(fields[c] for c in columns),
    )


async def update_row(
    conn: asyncpg.Connection, *, table: str, workspace_id: uuid.UUID, row_id: uuid.UUID, fields: dict[str, Any]
) -> asyncpg.Record | None:
    """Change some columns of a services, resources, closures or busy_blocks row of the workspace."""
    assert table in ("services", "resources", "closures", "busy_blocks")
    if not fields:
        return await conn.fetchrow(f"SELECT * FROM {table} WHERE id = $1 AND workspace_id = $2", row_id, workspace_id)
    columns = list(fields)
    sets = ", ".join(f"{c} = ${i + 3}" for i, c in enumerate(columns))
    return await conn.fetchrow(
        f"UPDATE {table} SET {sets} WHERE id = $1 AND workspace_id = $2 RETURNING *",
        row_id,
        workspace_id,
        *(fields[c] for c in columns),
    )


async def delete_row(conn: asyncpg.Connection, *, table: str, workspace_id: uuid.UUID, row_id: uuid.UUID) -> bool:
    assert table in ("services", "resources", "closures", "busy_blocks")
    deleted = await conn.fetchval(
        f"DELETE FROM {table} WHERE id = $1 AND workspace_id = $2 RETURNING 1", row_id, workspace_id
    )
    return bool(deleted)


async def list_resources(
    conn: asyncpg.Connection, *, workspace_id: uuid.UUID, bot_id: uuid.UUID | None = None, active_only: bool = False
) -> list[asyncpg.Record]:
    return await conn.fetch(
        """
        SELECT * FROM resources
         WHERE workspace_id = $1 AND ($2::uuid IS NULL OR bot_id = $2) AND (active OR NOT $3)
         ORDER BY bot_id, created_at, name
        """,
        workspace_id,
        bot_id,
        active_only,
    )


async def get_resource(
    conn: asyncpg.Connection, *, workspace_id: uuid.UUID, resource_id: uuid.UUID
) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM resources WHERE id = $1 AND workspace_id = $2", resource_id, workspace_id)


async def create_resource(
    conn: asyncpg.Connection, *, workspace_id: uuid.UUID, bot_id: uuid.UUID, name: str, active: bool = True
) -> asyncpg.Record:
    return await conn.fetchrow(
        "INSERT INTO resources (id, workspace_id, bot_id, name, active) VALUES ($1, $2, $3, $4, $5) RETURNING *",
        uuid.uuid4(),
        workspace_id,
        bot_id,
        name,
        active,
    )


async def resource_has_appointments(
    conn: asyncpg.Connection, *, workspace_id: uuid.UUID, resource_id: uuid.UUID
) -> bool:
    return bool(
        await conn.fetchval(
            "SELECT 1 FROM appointments WHERE resource_id = $1 AND workspace_id = $2 LIMIT 1", resource_id, workspace_id
        )
    )


async def list_closures(
    conn: asyncpg.Connection,
    *,
    workspace_id: uuid.UUID,
    bot_id: uuid.UUID | None = None,
    from_day: date | None = None,
) -> list[asyncpg.Record]:
    return await conn.fetch(
        """
        SELECT * FROM closures
         WHERE workspace_id = $1 AND ($2::uuid IS NULL OR bot_id = $2) AND ($3::date IS NULL OR ends_on >= $3)
         ORDER BY starts_on, ends_on
        """,
        workspace_id,
        bot_id,
        from_day,
    )


async def get_closure(
    conn: asyncpg.Connection, *, workspace_id: uuid.UUID, closure_id: uuid.UUID
) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM closures WHERE id = $1 AND workspace_id = $2", closure_id, workspace_id)


async def create_closure(
    conn: asyncpg.Connection, *, workspace_id: uuid.UUID, bot_id: uuid.UUID, starts_on: date, ends_on: date, reason: str
) -> asyncpg.Record:
    return await conn.fetchrow(
        """
        INSERT INTO closures (id, workspace_id, bot_id, starts_on, ends_on, reason) VALUES ($1, $2, $3, $4, $5, $6)
        RETURNING *
        """,
        uuid.uuid4(),
        workspace_id,
        bot_id,
        starts_on,
        ends_on,
        reason,
    )


BLOCK_COLUMNS = "id, workspace_id, bot_id, resource_id, lower(during) AS starts_at, upper(during) AS ends_at, title"


async def list_busy_blocks(
    conn: asyncpg.Connection,
    *,
    workspace_id: uuid.UUID,
    bot_id: uuid.UUID | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"""
        SELECT {BLOCK_COLUMNS} FROM busy_blocks
         WHERE workspace_id = $1 AND ($2::uuid IS NULL OR bot_id = $2)
           AND during && tstzrange($3::timestamptz, $4::timestamptz)
         ORDER BY lower(during)
        """,
        workspace_id,
        bot_id,
        start,
        end,
    )


async def get_busy_block(
    conn: asyncpg.Connection, *, workspace_id: uuid.UUID, block_id: uuid.UUID
) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {BLOCK_COLUMNS} FROM busy_blocks WHERE id = $1 AND workspace_id = $2", block_id, workspace_id
    )


async def put_busy_block(
    conn: asyncpg.Connection,
    *,
    workspace_id: uuid.UUID,
    block_id: uuid.UUID,
    bot_id: uuid.UUID,
    resource_id: uuid.UUID | None,
    start: datetime,
    end: datetime,
    title: str,
) -> asyncpg.Record | None:
    """Create the block, or replace the workspace's block with this id (None: it is not the workspace's)."""
    return await conn.fetchrow(
        f"""
        INSERT INTO busy_blocks (id, workspace_id, bot_id, resource_id, during, title)
        VALUES ($1, $2, $3, $4, tstzrange($5, $6), $7)
        ON CONFLICT (id) DO UPDATE SET resource_id = EXCLUDED.resource_id, during = EXCLUDED.during,
                                       title = EXCLUDED.title
         WHERE busy_blocks.workspace_id = EXCLUDED.workspace_id
        RETURNING {BLOCK_COLUMNS}
        """,
        block_id,
        workspace_id,
        bot_id,
        resource_id,
        start,
        end,
        title,
    )


async def busy_ranges(
    conn: asyncpg.Connection,
    *,
    workspace_id: uuid.UUID,
    bot_id: uuid.UUID,
    start: datetime,
    end: datetime,
    except_appointment_id: uuid.UUID | None = None,
) -> list[tuple[uuid.UUID | None, datetime, datetime]]:
    """The built-in calendar's busy time over [start, end): booked appointments' blocked ranges (with
    their buffer) per resource, but for the one being moved, and busy blocks (resource None: every
    resource of the bot)."""
    rows = await conn.fetch(
        """
        SELECT resource_id, lower(blocked) AS lo, upper(blocked) AS hi FROM appointments
         WHERE workspace_id = $1 AND bot_id = $2 AND status = 'booked' AND blocked && tstzrange($3, $4)
           AND id IS DISTINCT FROM $5
        UNION ALL
        SELECT resource_id, lower(during), upper(during) FROM busy_blocks
         WHERE workspace_id = $1 AND bot_id = $2 AND during && tstzrange($3, $4)
        """,
        workspace_id,
        bot_id,
        start,
        end,
        except_appointment_id,
    )
    return [(row["resource_id"], row["lo"], row["hi"]) for row in rows]


async def blocked_resources(
    conn: asyncpg.Connection, *, workspace_id: uuid.UUID, bot_id: uuid.UUID, start: datetime, end: datetime
) -> set[uuid.UUID | None]:
    """Resources with a busy block over [start, end) (None among them: a block of every resource)."""
    rows = await conn.fetch(
        """
        SELECT DISTINCT resource_id FROM busy_blocks
         WHERE workspace_id = $1 AND bot_id = $2 AND during && tstzrange($3, $4)
        """,
        workspace_id,
        bot_id,
        start,
        end,
    )
    return {row["resource_id"] for row in rows}


# -- appointments ---------------------------------------------------------------------------------------

APPOINTMENT_COLUMNS = (
    "id, workspace_id, bot_id, resource_id, service_id, service_name, conversation_id, visitor_id, name, email,"
    " notes, starts_at, ends_at, time_zone, language, status, source, uid, sequence, external, created_at,"
    " updated_at, cancelled_at"
)


def uid_of(appointment_id: uuid.UUID) -> str:
    """The appointment's iCalendar UID, the same in every invitation and connected calendar."""
    return f"{appointment_id}@cortex"


def appointment_of(row: asyncpg.Record) -> Appointment:
    return Appointment(**{key: row[key] for key in APPOINTMENT_COLUMNS.replace(" ", "").split(",")})


async def insert_appointment(
    conn: asyncpg.Connection,
    *,
    workspace_id: uuid.UUID,
    appointment_id: uuid.UUID,
    bot_id: uuid.UUID,
    resource_id: uuid.UUID,
    service_id: uuid.UUID,
    service_name: str,
    starts_at: datetime,
    ends_at: datetime,
    blocked_until: datetime,
    fields: dict[str, Any],
) -> Appointment:
    """Insert a booked appointment; the exclusion constraint raises ExclusionViolationError when its
    resource is taken over [starts_at, blocked_until)."""
    columns = list(fields)
    placeholders = ", ".join(f"${i + 11}" for i in range(len(columns)))
    row = await conn.fetchrow(
        f"""
        INSERT INTO appointments (id, workspace_id, bot_id, resource_id, service_id, service_name, starts_at,
                                  ends_at, blocked, uid, {", ".join(columns)})
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, tstzrange($7, $9), $10, {placeholders})
        RETURNING {APPOINTMENT_COLUMNS}
        """,
        appointment_id,
        workspace_id,
        bot_id,
        resource_id,
        service_id,
        service_name,
        starts_at,
        ends_at,
        blocked_until,
        uid_of(appointment_id),
        *(fields[c] for c in columns),
    )
    return appointment_of(row)


async def get_appointment(
    conn: asyncpg.Connection, *, workspace_id: uuid.UUID, appointment_id: uuid.UUID, for_update: bool = False
) -> Appointment | None:
    row = await conn.fetchrow(
        f"SELECT {APPOINTMENT_COLUMNS} FROM appointments WHERE id = $1 AND workspace_id = $2"
        + (" FOR UPDATE" if for_update else ""),
        appointment_id,
        workspace_id,
    )
    return appointment_of(row) if row else None


async def move_appointment(
    conn: asyncpg.Connection,
    *,
    workspace_id: uuid.UUID,
    appointment_id: uuid.UUID,
    resource_id: uuid.UUID,
    starts_at: datetime,
    ends_at: datetime,
    blocked_until: datetime,
) -> Appointment:
    """Move a booked appointment (sequence + 1); ExclusionViolationError when the resource is taken."""
    row = await conn.fetchrow(
        f"""
        UPDATE appointments SET resource_id = $3, starts_at = $4, ends_at = $5, blocked = tstzrange($4, $6),
                                sequence = sequence + 1, updated_at = now()
         WHERE id = $1 AND workspace_id = $2
        RETURNING {APPOINTMENT_COLUMNS}
        """,
        appointment_id,
        workspace_id,
        resource_id,
        starts_at,
        ends_at,
        blocked_until,
    )
    return appointment_of(row)


async def cancel_appointment(
    conn: asyncpg.Connection, *, workspace_id: uuid.UUID, appointment_id: uuid.UUID
) -> Appointment:
    row = await conn.fetchrow(
        f"""
        UPDATE appointments SET status = 'cancelled', cancelled_at = now(), sequence = sequence + 1, updated_at = now()
         WHERE id = $1 AND workspace_id = $2
        RETURNING {APPOINTMENT_COLUMNS}
        """,
        appointment_id,
        workspace_id,
    )
    return appointment_of(row)


async def list_appointments(
    conn: asyncpg.Connection,
    *,
    workspace_id: uuid.UUID,
    bot_id: uuid.UUID | None = None,
    status: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[Appointment]:
    """The workspace's appointments starting in [start, end), earliest first."""
    rows = await conn.fetch(
        f"""
        SELECT {APPOINTMENT_COLUMNS} FROM appointments
         WHERE workspace_id = $1 AND ($2::uuid IS NULL OR bot_id = $2) AND ($3::text IS NULL OR status = $3)
           AND ($4::timestamptz IS NULL OR starts_at >= $4) AND ($5::timestamptz IS NULL OR starts_at < $5)
         ORDER BY starts_at, id
         LIMIT $6 OFFSET $7
        """,
        workspace_id,
        bot_id,
        status,
        start,
        end,
        limit,
        offset,
    )
    return [appointment_of(row) for row in rows]


async def upcoming_for_visitor(
    conn: asyncpg.Connection,
    *,
    workspace_id: uuid.UUID,
    bot_id: uuid.UUID,
    visitor_id: str | None,
    conversation_id: uuid.UUID | None,
) -> list[Appointment]:
    """The booked appointments not yet started that the visitor (or the conversation) made with the bot."""
    if visitor_id is None and conversation_id is None:
        return []
    rows = await conn.fetch(
        f"""
        SELECT {APPOINTMENT_COLUMNS} FROM appointments
         WHERE workspace_id = $1 AND bot_id = $2 AND status = 'booked' AND starts_at > now()
           AND ((visitor_id IS NOT NULL AND visitor_id = $3) OR (conversation_id IS NOT NULL AND conversation_id = $4))
         ORDER BY starts_at
        """,
        workspace_id,
        bot_id,
        visitor_id,
        conversation_id,
    )
    return [appointment_of(row) for row in rows]
