"""Booking, moving and cancelling appointments: never two on one resource at once.

Each change is one transaction: the rules are checked, the connected calendars are asked again about
that very time (busy: the slot is taken), the row is written and the database's exclusion constraint
decides between concurrent bookers (`appointments_no_double_booking`, SQLSTATE 23P01: the loser tries
the next free resource, then gets `SlotTaken` with free slots near the time it wanted), the event goes
to the outbox, and the notifications (mails, reminders, the owner's notice) are queued by
`cortex.workflows.notify`, all committed together. Writing the booking into the connected calendars
that take bookings comes after the commit: a calendar that fails then leaves the booking in the
built-in calendar, and the owner is told.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Literal

import asyncpg

from cortex import bus
from cortex.contracts.events import AppointmentBooked, AppointmentCancelled, AppointmentRescheduled
from cortex.settings import Settings
from cortex.time_zones import check_time_zone
from cortex.workflows import calendars as connected_calendars
from cortex.workflows import notify
from cortex.workflows.scheduling import store
from cortex.workflows.scheduling.availability import (
    find_slots,
    moved_service,
    nearest,
    rule_breach,
    without,
)
from cortex.workflows.scheduling.models import (
    AlreadyCancelled,
    Appointment,
    AppointmentNotFound,
    BookingError,
    BookingSettings,
    Interval,
    NotBookable,
    Slot,
    SlotTaken,
)
from cortex.workflows.scheduling.rules import load_booking_settings, load_rules

__all__ = [
    "AlreadyCancelled",
    "AppointmentNotFound",
    "BookingError",
    "SlotTaken",
    "book",
    "cancel",
    "get_appointment",
    "reschedule",
    "upcoming_for_visitor",
]

log = logging.getLogger("cortex.workflows")

SCHEMA = "workflows"
#: Free slots offered instead of a taken one: as many as the chat shows as buttons.
ALTERNATIVES = 5
# Alternatives are looked for from half a day before the wanted time to two weeks after it: the
# visitor wanted that day, so the nearest free times around it are what they can use.
ALTERNATIVES_BEFORE = timedelta(hours=12)
ALTERNATIVES_AFTER = timedelta(days=14)
# Slots read to pick the nearest from: two weeks of a busy day's 30-minute steps.
ALTERNATIVES_SCAN = 400

NO_RESOURCE = "the bot has no active resource to book (switch one on)"

Source = Literal["chat", "api", "dashboard"]
By = Literal["visitor", "member"]


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise BookingError("a time needs its time zone")
    return moment.astimezone(UTC)


def _check_time_zone(name: str) -> None:
    try:
        check_time_zone(name)
    except ValueError as exc:
        raise BookingError(str(exc)) from None


async def _calendars_busy(
    conn: asyncpg.Connection,
    settings: Settings,
    *,
    workspace_id: uuid.UUID,
    start: datetime,
    end: datetime,
) -> tuple[dict[uuid.UUID | None, list[Interval]], list[str]]:
    """The connected calendars' busy time over [start, end) now, and the names of those that did not answer."""
    calendars = await connected_calendars.connected(conn, settings, workspace_id=workspace_id)
    if not calendars:
        return {}, []
    # On the booking's own connection: with the pool, concurrent bookings holding every connection
    # would wait for one more to record the calendars' status.
    result = await connected_calendars.busy_everywhere(
        conn, calendars, start, end, timeout_s=settings.calendar_timeout_s
    )
    return dict(result.busy), [calendar.name for calendar in result.failed]


def _free_of(
    resource_ids: Sequence[uuid.UUID], busy: dict[uuid.UUID | None, list[Interval]], start: datetime, end: datetime
) -> list[uuid.UUID]:
    """The resources none of `busy` overlaps over [start, end) (busy under None takes them all)."""

    def taken(resource: uuid.UUID | None) -> bool:
        return any(span.start < end and start < span.end for span in busy.get(resource, ()))

    if taken(None):
        return []
    return [resource for resource in resource_ids if not taken(resource)]


async def _alternatives(
    pool: asyncpg.Pool,
    settings: Settings,
    *,
    workspace_id: uuid.UUID,
    bot_id: uuid.UUID,
    service_id: uuid.UUID,
    wanted: datetime,
    moving: Appointment | None = None,
) -> list[Slot]:
    """Free slots near the wanted time, read after the failed attempt rolled back."""
    try:
        search = await find_slots(
            pool,
            settings,
            workspace_id=workspace_id,
            bot_id=bot_id,
            service_id=service_id,
            after=wanted - ALTERNATIVES_BEFORE,
            before=wanted + ALTERNATIVES_AFTER,
            limit=ALTERNATIVES_SCAN,
            moving=moving,
        )
    except NotBookable:
        return []
    return nearest([slot for slot in search.slots if slot.start != wanted], wanted, count=ALTERNATIVES)


async def _tell_owner_calendars_failed(
    pool: asyncpg.Pool, settings: Settings, appointment: Appointment, names: list[str], *, during: str
) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await notify.calendar_failed(
            conn,
            settings,
            workspace_id=appointment.workspace_id,
            bot_id=appointment.bot_id,
            calendar_names=names,
            during=during,
            appointment_id=appointment.id,
        )


async def _write_to_calendars(
    pool: asyncpg.Pool, settings: Settings, appointment: Appointment, *, action: Literal["create", "update", "delete"]
) -> Appointment:
    """After commit: the change into every connected calendar that takes bookings; a failure is the
    owner's to hear about, never the visitor's (the booking stands in the built-in calendar)."""
    try:
        failed = await connected_calendars.write_event(pool, settings, appointment, action=action)
    except Exception:  # noqa: BLE001 - the booking is committed; a calendar write must not undo the answer
        log.warning("writing appointment %s into the calendars failed", appointment.id, exc_info=True)
        return appointment
    if failed:
        during = {"create": "writing a booking", "update": "moving a booking", "delete": "removing a booking"}[action]
        try:
            await _tell_owner_calendars_failed(pool, settings, appointment, failed, during=during)
        except Exception:  # noqa: BLE001 - as above: logged, the booking stands
            log.warning("could not tell the owner that calendars %s failed", failed, exc_info=True)
    async with pool.acquire() as conn:
        fresh = await store.get_appointment(conn, workspace_id=appointment.workspace_id, appointment_id=appointment.id)
    return fresh or appointment


async def book(
    pool: asyncpg.Pool,
    settings: Settings,
    *,
    workspace_id: uuid.UUID,
    bot_id: uuid.UUID,
    service_id: uuid.UUID,
    start: datetime,
    name: str,
    email: str,
    time_zone: str,
    language: str,
    conversation_id: uuid.UUID | None = None,
    visitor_id: str | None = None,
    source: Source = "chat",
    notes: str = "",
) -> Appointment:
    """Book the service at `start` on a free resource of the bot. A visitor (`source` chat) keeps the
    minimum notice; a member may book at short notice. SlotTaken (with alternatives) when the time is
    taken, BookingError when the rules do not allow it."""
    start = _utc(start)
    _check_time_zone(time_zone)
    now = datetime.now(UTC)
    failed_calendars: list[str] = []
    appointment: Appointment | None = None
    async with pool.acquire() as conn:
        async with conn.transaction():
            rules = await load_rules(conn, workspace_id=workspace_id, bot_id=bot_id)
            if rules is None:
                raise NotBookable("this bot does not take bookings")
            service = rules.service(service_id)
            if service is None:
                raise NotBookable("no such service")
            if not rules.resource_ids:
                raise NotBookable(NO_RESOURCE)
            breach = rule_breach(rules, service, start, now=now, notice=source == "chat")
            if breach is not None:
                raise BookingError(breach)
            end = start + timedelta(minutes=service.duration_min)
            blocked_until = end + timedelta(minutes=rules.settings.buffer_min)
            blocked = await store.blocked_resources(
                conn, workspace_id=workspace_id, bot_id=bot_id, start=start, end=blocked_until
            )
            candidates = [] if None in blocked else [r for r in rules.resource_ids if r not in blocked]
            if candidates:
                external, failed_calendars = await _calendars_busy(
                    conn, settings, workspace_id=workspace_id, start=start, end=blocked_until
                )
                candidates = _free_of(candidates, external, start, blocked_until)
            appointment_id = uuid.uuid4()
            for resource_id in candidates:
                try:
                    async with conn.transaction():  # a savepoint: a refused insert leaves the rest intact
                        appointment = await store.insert_appointment(
                            conn,
                            workspace_id=workspace_id,
                            appointment_id=appointment_id,
                            bot_id=bot_id,
                            resource_id=resource_id,
                            service_id=service.id,
                            service_name=service.name,
                            starts_at=start,
                            ends_at=end,
                            blocked_until=blocked_until,
                            fields={
                                "conversation_id": conversation_id,
                                "visitor_id": visitor_id,
                                "name": name,
                                "email": email,
                                "notes": notes,
                                "time_zone": time_zone,
                                "language": language,
                                "source": source,
                            },
                        )
                    break
                except asyncpg.exceptions.ExclusionViolationError:
                    continue
            if appointment is not None:
                await bus.emit(
                    conn,
                    schema=SCHEMA,
                    event_type="appointment.booked",
                    payload=AppointmentBooked(
                        appointment_id=appointment.id,
                        bot_id=bot_id,
                        conversation_id=conversation_id,
                        visitor_id=visitor_id,
                        service=service.name,
                        starts_at=appointment.starts_at,
                        ends_at=appointment.ends_at,
                        time_zone=time_zone,
                    ).model_dump(mode="json"),
                    workspace_id=workspace_id,
                )
                await notify.on_booked(conn, settings, appointment, rules.settings)
                if failed_calendars:
                    await notify.calendar_failed(
                        conn,
                        settings,
                        workspace_id=workspace_id,
                        bot_id=bot_id,
                        calendar_names=failed_calendars,
                        during="checking a booking",
                        appointment_id=appointment.id,
                    )
    if appointment is None:
        raise SlotTaken(
            await _alternatives(
                pool, settings, workspace_id=workspace_id, bot_id=bot_id, service_id=service_id, wanted=start
            )
        )
    return await _write_to_calendars(pool, settings, appointment, action="create")


async def _locked_booked(
    conn: asyncpg.Connection, *, workspace_id: uuid.UUID, appointment_id: uuid.UUID, by: By, now: datetime
) -> Appointment:
    current = await store.get_appointment(
        conn, workspace_id=workspace_id, appointment_id=appointment_id, for_update=True
    )
    if current is None:
        raise AppointmentNotFound("appointment not found")
    if current.status == "cancelled":
        raise AlreadyCancelled("the appointment was cancelled")
    if by == "visitor" and current.starts_at <= now:
        raise BookingError("the appointment has already started")
    return current


async def _settings_or_default(conn: asyncpg.Connection, appointment: Appointment) -> BookingSettings:
    """The bot's booking settings; for a bot that stopped booking, neutral ones (the visitor is still told)."""
    found = await load_booking_settings(conn, workspace_id=appointment.workspace_id, bot_id=appointment.bot_id)
    return found or BookingSettings(
        workspace_id=appointment.workspace_id,
        bot_id=appointment.bot_id,
        time_zone=appointment.time_zone,
        hours={},
        buffer_min=0,
        min_notice_min=0,
        horizon_days=1,
        slot_step_min=30,
        reminder_hours=[],
        follow_up_hours=None,
        notify={},
    )


async def reschedule(
    pool: asyncpg.Pool,
    settings: Settings,
    *,
    workspace_id: uuid.UUID,
    appointment_id: uuid.UUID,
    start: datetime,
    by: By,
) -> Appointment:
    """Move a booked appointment to `start` (its resource if free there, else another; sequence + 1).
    SlotTaken with alternatives when the time is taken; BookingError when the rules refuse it."""
    start = _utc(start)
    now = datetime.now(UTC)
    failed_calendars: list[str] = []
    moved: Appointment | None = None
    async with pool.acquire() as conn:
        async with conn.transaction():
            current = await _locked_booked(
                conn, workspace_id=workspace_id, appointment_id=appointment_id, by=by, now=now
            )
            if current.starts_at == start:
                return current
            rules = await load_rules(conn, workspace_id=workspace_id, bot_id=current.bot_id)
            if rules is None:
                raise NotBookable("this bot does not take bookings any more")
            if not rules.resource_ids:
                raise NotBookable(NO_RESOURCE)
            service = moved_service(current)
            breach = rule_breach(rules, service, start, now=now, notice=by == "visitor")
            if breach is not None:
                raise BookingError(breach)
            end = start + timedelta(minutes=service.duration_min)
            blocked_until = end + timedelta(minutes=rules.settings.buffer_min)
            blocked = await store.blocked_resources(
                conn, workspace_id=workspace_id, bot_id=current.bot_id, start=start, end=blocked_until
            )
            # Its own resource first: the owner's calendar for that person keeps the event.
            order = [current.resource_id, *(r for r in rules.resource_ids if r != current.resource_id)]
            candidates = [] if None in blocked else [r for r in order if r not in blocked and r in rules.resource_ids]
            if candidates:
                external, failed_calendars = await _calendars_busy(
                    conn, settings, workspace_id=workspace_id, start=start, end=blocked_until
                )
                # The calendars hold this appointment's own event at its old time: that is not busy.
                external = without(external, Interval(current.starts_at, current.ends_at))
                candidates = _free_of(candidates, external, start, blocked_until)
            for resource_id in candidates:
                try:
                    async with conn.transaction():
                        moved = await store.move_appointment(
                            conn,
                            workspace_id=workspace_id,
                            appointment_id=appointment_id,
                            resource_id=resource_id,
                            starts_at=start,
                            ends_at=end,
                            blocked_until=blocked_until,
                        )
                    break
                except asyncpg.exceptions.ExclusionViolationError:
                    continue
            if moved is not None:
                await bus.emit(
                    conn,
                    schema=SCHEMA,
                    event_type="appointment.rescheduled",
                    payload=AppointmentRescheduled(
                        appointment_id=moved.id,
                        bot_id=moved.bot_id,
                        conversation_id=moved.conversation_id,
                        visitor_id=moved.visitor_id,
                        service=moved.service_name,
                        starts_at=moved.starts_at,
                        ends_at=moved.ends_at,
                        previous_starts_at=current.starts_at,
                        time_zone=moved.time_zone,
                    ).model_dump(mode="json"),
                    workspace_id=workspace_id,
                )
                await notify.on_rescheduled(conn, settings, moved, current.starts_at, rules.settings)
                if failed_calendars:
                    await notify.calendar_failed(
                        conn,
                        settings,
                        workspace_id=workspace_id,
                        bot_id=moved.bot_id,
                        calendar_names=failed_calendars,
                        during="checking a move",
                        appointment_id=moved.id,
                    )
    if moved is None:
        raise SlotTaken(
            await _alternatives(
                pool,
                settings,
                workspace_id=workspace_id,
                bot_id=current.bot_id,
                service_id=service.id,
                wanted=start,
                moving=current,
            )
        )
    return await _write_to_calendars(pool, settings, moved, action="update")


async def cancel(
    pool: asyncpg.Pool, settings: Settings, *, workspace_id: uuid.UUID, appointment_id: uuid.UUID, by: By
) -> Appointment:
    """Cancel a booked appointment (its time is free again at once; sequence + 1). A visitor cannot
    cancel one that has started; AlreadyCancelled for a second cancellation."""
    now = datetime.now(UTC)
    async with pool.acquire() as conn:
        async with conn.transaction():
            current = await _locked_booked(
                conn, workspace_id=workspace_id, appointment_id=appointment_id, by=by, now=now
            )
            cancelled = await store.cancel_appointment(conn, workspace_id=workspace_id, appointment_id=appointment_id)
            await bus.emit(
                conn,
                schema=SCHEMA,
                event_type="appointment.cancelled",
                payload=AppointmentCancelled(
                    appointment_id=cancelled.id,
                    bot_id=cancelled.bot_id,
                    conversation_id=cancelled.conversation_id,
                    visitor_id=cancelled.visitor_id,
                    service=cancelled.service_name,
                    starts_at=current.starts_at,
                    cancelled_by=by,
                ).model_dump(mode="json"),
                workspace_id=workspace_id,
            )
            await notify.on_cancelled(conn, settings, cancelled, await _settings_or_default(conn, cancelled), by=by)
    return await _write_to_calendars(pool, settings, cancelled, action="delete")


async def upcoming_for_visitor(
    pool: asyncpg.Pool,
    *,
    workspace_id: uuid.UUID,
    bot_id: uuid.UUID,
    visitor_id: str | None,
    conversation_id: uuid.UUID | None,
) -> list[Appointment]:
    """The visitor's booked appointments with the bot that have not started, earliest first (also those
    made in this conversation before the visitor had an id)."""
    async with pool.acquire() as conn:
        return await store.upcoming_for_visitor(
            conn, workspace_id=workspace_id, bot_id=bot_id, visitor_id=visitor_id, conversation_id=conversation_id
        )


async def get_appointment(
    conn: asyncpg.Connection, *, workspace_id: uuid.UUID, appointment_id: uuid.UUID
) -> Appointment | None:
    return await store.get_appointment(conn, workspace_id=workspace_id, appointment_id=appointment_id)
