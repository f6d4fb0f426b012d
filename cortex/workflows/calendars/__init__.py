"""Connected calendars (CalDAV, Google Calendar, Outlook): one interface, several backends.

The built-in calendar is the appointments and busy blocks in Postgres (availability reads them);
this package asks the calendars a workspace connected for their busy time, and writes bookings into
the ones that take them. A calendar that does not answer never fails the caller: it is reported in
`BusyResult.failed` (or in `write_event`'s return) and its row shows the error to the owner.

    calendars = await connected(conn, settings, workspace_id=workspace_id)
    result = await busy_everywhere(pool, calendars, start, end, timeout_s=settings.calendar_timeout_s)
    failed_names = await write_event(pool, settings, appointment, action="create")
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import asyncpg
import httpx
import orjson

from cortex import secrets_box
from cortex.settings import Settings
from cortex.workflows.calendars import store
from cortex.workflows.calendars.base import (
    Calendar,
    CalendarUnavailable,
    ConnectedCalendar,
    EventSpec,
    Interval,
    merge_intervals,
)
from cortex.workflows.scheduling.models import Appointment

__all__ = [
    "BusyResult",
    "Calendar",
    "CalendarUnavailable",
    "EventSpec",
    "Interval",
    "busy_everywhere",
    "connected",
    "event_for",
    "open_calendar",
    "write_event",
]

log = logging.getLogger(__name__)

#: The secrets_box purpose of calendar passwords and OAuth tokens.
CREDENTIALS_PURPOSE = "calendar-credentials"
# A provider's error text can be long (an HTML error page): the owner sees the start of it.
_MAX_ERROR_CHARS = 500


@dataclass
class BusyResult:
    """Busy time per resource (None: it blocks every resource) from the calendars that answered, and
    the calendars that did not."""

    busy: dict[uuid.UUID | None, list[Interval]] = field(default_factory=dict)
    failed: list[Calendar] = field(default_factory=list)


def seal_credentials(settings: Settings, credentials: dict[str, Any]) -> bytes:
    """Credentials as stored in `calendars.credentials_sealed`."""
    return secrets_box.seal_bytes(settings, orjson.dumps(credentials), purpose=CREDENTIALS_PURPOSE)


def open_credentials(settings: Settings, sealed: bytes | None) -> dict[str, Any]:
    """The credentials a row holds ({} when none)."""
    if not sealed:
        return {}
    value = orjson.loads(secrets_box.open_bytes(settings, sealed, purpose=CREDENTIALS_PURPOSE))
    return value if isinstance(value, dict) else {}


def open_calendar(
    row: asyncpg.Record | dict[str, Any], settings: Settings, *, http: httpx.AsyncClient | None = None
) -> ConnectedCalendar:
    """The backend for one `calendars` row, its credentials opened."""
    common: dict[str, Any] = {
        "id": row["id"],
        "workspace_id": row["workspace_id"],
        "settings": settings,
        "name": row["name"],
        "resource_id": row["resource_id"],
        "write_bookings": row["write_bookings"],
        "config": dict(row["config"] or {}),
        "credentials": open_credentials(settings, row["credentials_sealed"]),
        "timeout_s": settings.calendar_timeout_s,
    }
    kind = row["kind"]
    if kind == "caldav":
        from cortex.workflows.calendars.caldav import CalDAVCalendar

        return CalDAVCalendar(**common)
    if kind == "google":
        from cortex.workflows.calendars.google import GoogleCalendar

        return GoogleCalendar(http=http, **common)
    if kind == "outlook":
        from cortex.workflows.calendars.outlook import OutlookCalendar

        return OutlookCalendar(http=http, **common)
    raise ValueError(f"unknown calendar kind {kind!r}")


async def connected(
    conn: store.Executor,
    settings: Settings,
    *,
    workspace_id: uuid.UUID,
    http: httpx.AsyncClient | None = None,
    write_only: bool = False,
) -> list[Calendar]:
    """The workspace's connected calendars, ready to ask (`write_only`: those that take bookings).
    A row whose credentials cannot be opened (another root secret) comes as a calendar that fails."""
    calendars: list[Calendar] = []
    for row in await store.list_calendars(conn, workspace_id=workspace_id):
        if write_only and not row["write_bookings"]:
            continue
        try:
            calendars.append(open_calendar(row, settings, http=http))
        except secrets_box.SealedSecretError:
            log.warning("calendar %s: its credentials cannot be opened under this CORTEX_SECRET_KEY", row["id"])
            calendars.append(Unopenable(row, settings))
    return calendars


class Unopenable(ConnectedCalendar):
    """A calendar whose stored credentials this installation cannot open (sealed under another root
    secret): asked, it fails like a calendar that is down, so the owner sees why and reconnects it."""

    kind = "unopenable"
    _REASON = "its stored credentials cannot be opened (the installation's secret key changed): connect it again"

    def __init__(self, row: asyncpg.Record | dict[str, Any], settings: Settings) -> None:
        super().__init__(
            id=row["id"],
            workspace_id=row["workspace_id"],
            settings=settings,
            name=row["name"],
            resource_id=row["resource_id"],
            write_bookings=row["write_bookings"],
            config={},
            credentials={},
            timeout_s=settings.calendar_timeout_s,
        )
        self.kind = row["kind"]

    async def busy(self, start: datetime, end: datetime) -> list[Interval]:
        raise CalendarUnavailable(self._REASON)

    async def create(self, event: EventSpec) -> str:
        raise CalendarUnavailable(self._REASON)

    async def update(self, external_id: str, event: EventSpec) -> None:
        raise CalendarUnavailable(self._REASON)

    async def delete(self, external_id: str) -> None:
        raise CalendarUnavailable(self._REASON)

    async def describe(self) -> dict[str, Any]:
        raise CalendarUnavailable(self._REASON)


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    text = str(exc) or type(exc).__name__
    return text[:_MAX_ERROR_CHARS]


async def _record(
    conn_or_pool: store.Executor,
    outcomes: list[tuple[Calendar, BaseException | None]],
) -> None:
    """Store status, last_error, last_checked_at (and refreshed tokens) on each asked calendar's row."""
    by_workspace: dict[uuid.UUID, list[tuple[uuid.UUID, str, str | None, bytes | None]]] = {}
    for calendar, error in outcomes:
        if not isinstance(calendar, ConnectedCalendar):
            continue
        workspace_id = calendar.workspace_id
        sealed = None
        if calendar.credentials_changed:
            sealed = seal_credentials(calendar.settings, calendar.credentials)
            calendar.credentials_changed = False
        check = (calendar.id, "ok" if error is None else "error", None if error is None else _error_text(error), sealed)
        by_workspace.setdefault(workspace_id, []).append(check)
    # Inside a caller's transaction (a booking's re-check) only changes are written: the rows are
    # not locked by every concurrent booking until it commits.
    in_transaction = isinstance(conn_or_pool, asyncpg.Connection) and conn_or_pool.is_in_transaction()
    for workspace_id, checks in by_workspace.items():
        try:
            await store.record_checks(
                conn_or_pool, workspace_id=workspace_id, checks=checks, only_changes=in_transaction
            )
        except (asyncpg.PostgresError, OSError):
            log.warning("could not record the calendars' status", exc_info=True)
            if in_transaction:
                raise


async def busy_everywhere(
    conn_or_pool: store.Executor,
    calendars: Sequence[Calendar],
    start: datetime,
    end: datetime,
    *,
    timeout_s: float,
) -> BusyResult:
    """Ask every calendar for its busy time in [start, end) at once, each within `timeout_s`.
    A calendar that fails or times out is in `failed` (never an exception); each row records how the
    ask went, and keeps any OAuth token refreshed meanwhile (sealed)."""

    async def ask(calendar: Calendar) -> list[Interval]:
        return await asyncio.wait_for(calendar.busy(start, end), timeout_s)

    answers = await asyncio.gather(*(ask(calendar) for calendar in calendars), return_exceptions=True)
    result = BusyResult()
    outcomes: list[tuple[Calendar, BaseException | None]] = []
    for calendar, answer in zip(calendars, answers, strict=True):
        if isinstance(answer, BaseException):
            if not isinstance(answer, CalendarUnavailable | TimeoutError):
                # A bug of ours or a provider answer we did not expect: logged with its trace, and
                # still only this calendar is out.
                log.warning("calendar %s failed unexpectedly", calendar.id, exc_info=answer)
            if isinstance(answer, asyncio.CancelledError):
                raise answer
            result.failed.append(calendar)
            outcomes.append((calendar, answer))
            continue
        spans = result.busy.setdefault(calendar.resource_id, [])
        spans.extend(answer)
        outcomes.append((calendar, None))
    for resource_id, spans in result.busy.items():
        result.busy[resource_id] = merge_intervals(spans)
    await _record(conn_or_pool, outcomes)
    return result


def event_for(appointment: Appointment, *, status: Literal["CONFIRMED", "CANCELLED"] = "CONFIRMED") -> EventSpec:
    """The calendar event of a booking: the service and who booked it, their address in the notes."""
    who = appointment.name or "a visitor"
    lines = [f"{appointment.service_name} booked by {who}."]
    if appointment.email:
        lines.append(f"E-mail: {appointment.email}")
    if appointment.notes:
        lines.append("")
        lines.append(appointment.notes)
    return EventSpec(
        uid=appointment.uid,
        sequence=appointment.sequence,
        summary=f"{appointment.service_name}: {who}",
        description="\n".join(lines),
        start=appointment.starts_at,
        end=appointment.ends_at,
        time_zone=appointment.time_zone,
        attendee_name=appointment.name,
        attendee_email=appointment.email,
        status=status,
    )


async def write_event(
    pool: asyncpg.Pool,
    settings: Settings,
    appointment: Appointment,
    *,
    action: Literal["create", "update", "delete"],
    http: httpx.AsyncClient | None = None,
) -> list[str]:
    """Write the booking into every calendar that takes bookings (those of its resource, and those that
    block every resource), keeping the events' ids in `appointments.external`. A calendar that holds the
    event but should not any more (the booking moved to another resource, the calendar stopped taking
    bookings, the booking was cancelled) has it removed. Returns the names of the calendars that could not
    be written; the booking stands in the built-in calendar regardless."""
    workspace_id, appointment_id = appointment.workspace_id, appointment.id
    written = await store.external_ids(pool, workspace_id=workspace_id, appointment_id=appointment_id)
    plans: list[tuple[Calendar, Literal["create", "update", "delete"], str | None]] = []
    for calendar in await connected(pool, settings, workspace_id=workspace_id, http=http):
        external_id = written.get(str(calendar.id))
        wanted = (
            action != "delete" and calendar.write_bookings and calendar.resource_id in (None, appointment.resource_id)
        )
        if wanted:
            # An id already there: an update, or a create retried after it reached the calendar.
            plans.append((calendar, "create" if external_id is None else "update", external_id))
        elif external_id is not None:
            plans.append((calendar, "delete", external_id))
    event = event_for(appointment)
    timeout_s = settings.calendar_timeout_s

    async def write(calendar: Calendar, step: str, external_id: str | None) -> None:
        if step == "delete":
            assert external_id is not None
            await asyncio.wait_for(calendar.delete(external_id), timeout_s)
            await store.drop_external_id(
                pool, workspace_id=workspace_id, appointment_id=appointment_id, calendar_id=calendar.id
            )
        elif step == "update":
            assert external_id is not None
            await asyncio.wait_for(calendar.update(external_id, event), timeout_s)
        else:
            new_id = await asyncio.wait_for(calendar.create(event), timeout_s)
            await store.set_external_id(
                pool,
                workspace_id=workspace_id,
                appointment_id=appointment_id,
                calendar_id=calendar.id,
                external_id=new_id,
            )

    answers = await asyncio.gather(*(write(*plan) for plan in plans), return_exceptions=True)
    outcomes: list[tuple[Calendar, BaseException | None]] = []
    failed: list[str] = []
    for (calendar, _, _), answer in zip(plans, answers, strict=True):
        if isinstance(answer, BaseException):
            if isinstance(answer, asyncio.CancelledError):
                raise answer
            if not isinstance(answer, CalendarUnavailable | TimeoutError):
                log.warning("writing into calendar %s failed unexpectedly", calendar.id, exc_info=answer)
            failed.append(calendar.name)
            outcomes.append((calendar, answer))
        else:
            outcomes.append((calendar, None))
    await _record(pool, outcomes)
    return failed
