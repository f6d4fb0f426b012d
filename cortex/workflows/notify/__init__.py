"""Who hears about an appointment, and when: the hooks booking calls in its own transaction.

- `on_booked`: the visitor's confirmation (with the `.ics` REQUEST and signed links to reschedule and
  cancel), the owner's notice (a `notify_owner` task per channel: mail to the booking settings'
  notify.emails, a signed webhook to notify.webhook_url), a `reminder` task per
  booking_settings.reminder_hours before the start; the conversation's follow-up is off.
- `on_rescheduled`: the visitor's update (REQUEST, the same UID, the next SEQUENCE), the owner's
  notice, the reminders moved with the appointment.
- `on_cancelled`: the visitor's cancellation (METHOD:CANCEL), the owner's notice, the reminders
  cancelled.
- `calendar_failed`: the owner is told that a connected calendar could not be read or written.

Everything is queued in the caller's transaction (the mail queue, the tasks table): a booking that
rolls back mails nobody, one that commits loses no mail when a replica dies.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import asyncpg

from cortex.settings import Settings
from cortex.workflows.notify import mails, store
from cortex.workflows.scheduling.models import Appointment, BookingSettings
from cortex.workflows.scheduling.rules import load_booking_settings

OwnerEvent = Literal["booked", "rescheduled", "cancelled", "calendar_failed"]


async def _tell_both(
    conn: asyncpg.Connection,
    settings: Settings,
    appointment: Appointment,
    booking: BookingSettings,
    event: Literal["booked", "rescheduled", "cancelled"],
    *,
    previous_start: datetime | None = None,
    extra: dict[str, Any] | None = None,
) -> None:
    """The visitor's mail about `event` (when there is an address) and the owner's notice of it."""
    if appointment.email:
        mail = mails.visitor_mail(settings, appointment, event, booking=booking, previous_start=previous_start)
        await mails.send(conn, settings, to=appointment.email, mail=mail, reply_to=mails.owner_addresses(booking))
    await notify_owner(
        conn,
        workspace_id=appointment.workspace_id,
        bot_id=appointment.bot_id,
        booking=booking,
        event=event,
        appointment_id=appointment.id,
        extra=extra,
    )


async def on_booked(
    conn: asyncpg.Connection, settings: Settings, appointment: Appointment, booking: BookingSettings
) -> None:
    """Confirmation to the visitor, notice to the owner, reminders planned."""
    await _tell_both(conn, settings, appointment, booking, "booked")
    await _plan_reminders(conn, appointment, booking)
    if appointment.conversation_id is not None:  # the lead booked: nobody needs to chase them
        await store.cancel_tasks(
            conn,
            workspace_id=appointment.workspace_id,
            conversation_id=appointment.conversation_id,
            kind="follow_up",
            reason="the conversation booked an appointment",
        )


async def on_rescheduled(
    conn: asyncpg.Connection,
    settings: Settings,
    appointment: Appointment,
    previous_start: datetime,
    booking: BookingSettings,
) -> None:
    """The update to the visitor (same UID, next SEQUENCE), notice to the owner, reminders moved."""
    await _tell_both(
        conn,
        settings,
        appointment,
        booking,
        "rescheduled",
        previous_start=previous_start,
        extra={"previous_starts_at": previous_start.isoformat()},
    )
    await _plan_reminders(conn, appointment, booking)


async def on_cancelled(
    conn: asyncpg.Connection,
    settings: Settings,
    appointment: Appointment,
    booking: BookingSettings,
    *,
    by: Literal["visitor", "member"] = "visitor",
) -> None:
    """METHOD:CANCEL to the visitor, notice to the owner (saying who cancelled), reminders cancelled."""
    await _tell_both(conn, settings, appointment, booking, "cancelled", extra={"by": by})
    await store.cancel_tasks(
        conn,
        workspace_id=appointment.workspace_id,
        appointment_id=appointment.id,
        kind="reminder",
        reason="the appointment was cancelled",
    )


async def calendar_failed(
    conn: asyncpg.Connection,
    settings: Settings,
    *,
    workspace_id: uuid.UUID,
    bot_id: uuid.UUID,
    calendar_names: list[str],
    during: str,
    appointment_id: uuid.UUID | None = None,
) -> None:
    """Tell the owner that these connected calendars failed `during` (e.g. "add the booking"): the
    booking stands in the built-in calendar."""
    booking = await load_booking_settings(conn, workspace_id=workspace_id, bot_id=bot_id)
    await notify_owner(
        conn,
        workspace_id=workspace_id,
        bot_id=bot_id,
        booking=booking,
        event="calendar_failed",
        appointment_id=appointment_id,
        extra={"calendars": list(calendar_names), "during": during},
    )


async def notify_owner(
    conn: asyncpg.Connection,
    *,
    workspace_id: uuid.UUID,
    bot_id: uuid.UUID,
    booking: BookingSettings | None,
    event: OwnerEvent,
    appointment_id: uuid.UUID | None = None,
    extra: dict[str, Any] | None = None,
) -> list[uuid.UUID]:
    """A `notify_owner` task per channel the owner set (mail, webhook), due now. The payload names
    the event, never the visitor: the task reads the appointment when it runs (after an erasure,
    without the visitor's name)."""
    channels = []
    if mails.owner_addresses(booking):
        channels.append("mail")
    if booking is not None and booking.notify.get("webhook_url"):
        channels.append("webhook")
    now = datetime.now(UTC)
    return [
        await store.queue_task(
            conn,
            workspace_id=workspace_id,
            kind="notify_owner",
            due_at=now,
            appointment_id=appointment_id,
            payload={"channel": channel, "event": event, "bot_id": str(bot_id), **(extra or {})},
        )
        for channel in channels
    ]


async def _plan_reminders(conn: asyncpg.Connection, appointment: Appointment, booking: BookingSettings) -> None:
    """A queued reminder per reminder_hours before the start: moved when there is one already, none
    when that time has passed (booked 2 hours ahead: no 24-hour reminder); extra ones cancelled."""
    now = datetime.now(UTC)
    existing = {
        int(task["payload"].get("hours", -1)): task["id"]
        for task in await store.reminders_of(conn, workspace_id=appointment.workspace_id, appointment_id=appointment.id)
    }
    wanted = {hours for hours in booking.reminder_hours if hours > 0}
    for hours in sorted(wanted):
        due = appointment.starts_at - timedelta(hours=hours)
        task_id = existing.pop(hours, None)
        if due <= now:
            if task_id is not None:
                existing[hours] = task_id  # cancelled below: too late for it now
            continue
        if task_id is not None:
            await store.move_task(conn, workspace_id=appointment.workspace_id, task_id=task_id, due_at=due)
        else:
            await store.queue_task(
                conn,
                workspace_id=appointment.workspace_id,
                kind="reminder",
                due_at=due,
                appointment_id=appointment.id,
                conversation_id=appointment.conversation_id,
                payload={"hours": hours},
            )
    if existing:
        await store.cancel_tasks(
            conn,
            workspace_id=appointment.workspace_id,
            task_ids=list(existing.values()),
            reason="the appointment moved closer than this reminder",
        )
