"""A bot's booking rules as availability and booking read them: its settings row, active services,
active resources and the closures not yet over."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time, timedelta
from typing import Any

import asyncpg

from cortex.workflows.scheduling import store
from cortex.workflows.scheduling.models import BookingSettings, Rules, Service


def parse_hours(raw: dict[str, Any]) -> dict[int, list[tuple[time, time]]]:
    """booking_settings.hours ({"1": [["09:00", "17:00"]], …}) as ISO weekday → opening spans."""
    return {
        int(day): [(time.fromisoformat(opens), time.fromisoformat(closes)) for opens, closes in spans]
        for day, spans in raw.items()
    }


def format_hours(hours: dict[int, list[tuple[time, time]]]) -> dict[str, list[list[str]]]:
    """The stored form of `parse_hours`'s answer."""
    return {
        str(day): [[opens.strftime("%H:%M"), closes.strftime("%H:%M")] for opens, closes in spans]
        for day, spans in sorted(hours.items())
    }


def booking_settings_of(row: asyncpg.Record) -> BookingSettings:
    return BookingSettings(
        workspace_id=row["workspace_id"],
        bot_id=row["bot_id"],
        time_zone=row["time_zone"],
        hours=parse_hours(row["hours"]),
        buffer_min=row["buffer_min"],
        min_notice_min=row["min_notice_min"],
        horizon_days=row["horizon_days"],
        slot_step_min=row["slot_step_min"],
        reminder_hours=list(row["reminder_hours"]),
        follow_up_hours=row["follow_up_hours"],
        notify=dict(row["notify"] or {}),
    )


def service_of(row: asyncpg.Record) -> Service:
    return Service(id=row["id"], name=row["name"], duration_min=row["duration_min"], description=row["description"])


async def load_booking_settings(
    conn: asyncpg.Connection, *, workspace_id: uuid.UUID, bot_id: uuid.UUID
) -> BookingSettings | None:
    """The bot's settings (None: it has none); switched-off settings are returned too."""
    row = await store.get_settings(conn, workspace_id=workspace_id, bot_id=bot_id)
    return booking_settings_of(row) if row else None


async def load_rules(conn: asyncpg.Connection, *, workspace_id: uuid.UUID, bot_id: uuid.UUID) -> Rules | None:
    """Everything availability needs for the bot; None when the bot does not book (no settings, or
    switched off)."""
    row = await store.get_settings(conn, workspace_id=workspace_id, bot_id=bot_id)
    if row is None or not row["enabled"]:
        return None
    services = await store.list_services(conn, workspace_id=workspace_id, bot_id=bot_id, active_only=True)
    resources = await store.list_resources(conn, workspace_id=workspace_id, bot_id=bot_id, active_only=True)
    # Closures that end before yesterday (UTC) cannot touch a bookable day in any time zone.
    since = (datetime.now(UTC) - timedelta(days=1)).date()
    closures = await store.list_closures(conn, workspace_id=workspace_id, bot_id=bot_id, from_day=since)
    return Rules(
        settings=booking_settings_of(row),
        services=[service_of(service) for service in services],
        resource_ids=[resource["id"] for resource in resources],
        closures=[(closure["starts_on"], closure["ends_on"]) for closure in closures],
    )
