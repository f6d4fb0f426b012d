"""The task loop (a background loop of every workflows replica): runs due tasks, retries failures.

A task is claimed by marking it `running` (rows locked FOR UPDATE SKIP LOCKED while claiming, so two
replicas never take the same one), run outside any transaction, then finished: `succeeded`,
`cancelled` with the reason when there was nothing left to do (a reminder of a cancelled
appointment), or queued again after an exponential backoff (CORTEX_WORKFLOWS_TASK_RETRY_BASE_S
doubling, at most CORTEX_WORKFLOWS_TASK_RETRY_MAX_S) until `max_attempts`, then `failed` with the
last error for the owner to see (`/api/langgraph/tasks`) and retry. A task still `running` after
CORTEX_WORKFLOWS_TASK_LEASE_S was left by a replica that died: it is queued again.

A mail a task sends is queued in the transaction that marks the task succeeded: both or neither.
A webhook POST is at least once: a replica dying between the receiver's 2xx and the update sends
it again, with the same `X-Cortex-Delivery` id for the receiver to drop.

The kinds:
- `reminder`: the visitor's reminder mail, N hours before (nothing when the appointment was
  cancelled, has started, or its visitor was erased).
- `follow_up`: tells the owner (notify.emails) to follow up with a lead whose conversation did not
  book (nothing when it booked meanwhile).
- `notify_owner`: a booking, a move, a cancellation, or a failed calendar, by mail (channel "mail")
  or a signed webhook (channel "webhook", `webhook_signature`).
- `calendar_sync`: writes a booking as it stands into the connected calendars again (queued by an
  erasure, so the events there lose the visitor's name and address too); retried while one fails.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import time
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

import asyncpg
import orjson

from cortex import secrets_box
from cortex.db.wakeup import run_woken
from cortex.fetch import AddressPolicy, BadScheme, BadUrl, BlockedAddress, FetchError, SafeFetcher
from cortex.settings import Settings
from cortex.workflows import calendars
from cortex.workflows.notify import mails, store
from cortex.workflows.scheduling import store as scheduling_store
from cortex.workflows.scheduling.rules import load_booking_settings

if TYPE_CHECKING:
    from cortex.http.app import ServiceResources

log = logging.getLogger("cortex.workflows.tasks")

# Ten at a time: each is a mail queued or one webhook call (at most its timeout), run concurrently.
BATCH = 10
WEBHOOK_SECRET_PURPOSE = "booking-webhook"
SIGNATURE_HEADER = "X-Cortex-Signature"
TIMESTAMP_HEADER = "X-Cortex-Timestamp"
# A receiver should refuse a signature older than this: a captured call replayed later fails.
SIGNATURE_TOLERANCE_S = 300


class Skip(Exception):
    """Nothing left to do: the task ends `cancelled` with this reason."""


class Permanent(Exception):
    """A failure no retry mends (a URL that is refused): the task ends `failed` now."""


class Failed(Exception):
    """A failure worth retrying, in words the owner reads (a receiver's error status)."""


def webhook_signature(secret: str, timestamp: int, body: bytes) -> str:
    """`sha256=<hex>`: HMAC-SHA256 under the bot's webhook secret over `<timestamp>.<body>`."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify_webhook(secret: str, *, body: bytes, timestamp: str, signature: str, now: float | None = None) -> bool:
    """What a receiver does: the signature matches and is recent (SIGNATURE_TOLERANCE_S)."""
    if not timestamp.isdigit() or abs((now or time.time()) - int(timestamp)) > SIGNATURE_TOLERANCE_S:
        return False
    return hmac.compare_digest(signature, webhook_signature(secret, int(timestamp), body))


def backoff_s(settings: Settings, attempts: int) -> float:
    """The wait before attempt `attempts + 1`: the base, doubling per failed attempt, capped."""
    return float(
        min(settings.workflows_task_retry_base_s * 2 ** max(attempts - 1, 0), settings.workflows_task_retry_max_s)
    )


async def run_tasks(resources: ServiceResources) -> None:
    """The background loop: run due tasks until the replica stops (woken when one is queued)."""
    assert resources.db is not None
    pool, settings = resources.db, resources.settings
    fetcher = SafeFetcher(
        policy=AddressPolicy.from_allow_list(settings.workflows_webhook_allow_networks),
        timeout_s=settings.workflows_webhook_timeout_s,
        max_redirects=0,
    )

    async def step() -> bool:
        return await run_due(pool, settings, fetcher) == BATCH

    try:
        await run_woken(
            pool,
            channel=store.CHANNEL,
            step=step,
            stop=resources.stopping,
            poll_interval_s=settings.workflows_task_poll_s,
            what="workflow tasks",
        )
    finally:
        await fetcher.aclose()


async def run_due(pool: asyncpg.Pool, settings: Settings, fetcher: SafeFetcher) -> int:
    """Requeue abandoned tasks, claim a batch of due ones and run them; how many were claimed."""
    async with pool.acquire() as conn:
        reclaimed = await store.reclaim_abandoned(conn, lease_s=settings.workflows_task_lease_s)
        if reclaimed:
            log.warning("%d task(s) left running by a stopped replica queued again", reclaimed)
        async with conn.transaction():
            tasks = await store.claim_due(conn, limit=BATCH)
    await asyncio.gather(*(run_one(pool, settings, fetcher, task) for task in tasks))
    return len(tasks)


async def run_one(pool: asyncpg.Pool, settings: Settings, fetcher: SafeFetcher, task: dict[str, Any]) -> None:
    """Run one claimed task and record how it ended."""
    task_id = task["id"]
    try:
        if task["kind"] == "notify_owner" and task["payload"].get("channel") == "webhook":
            await _webhook(pool, settings, fetcher, task)
        elif task["kind"] == "calendar_sync":
            await _calendar_sync(pool, settings, task)
        else:  # a mail: queued in the transaction that marks the task succeeded
            async with pool.acquire() as conn, conn.transaction():
                await _MAILERS[task["kind"]](conn, settings, task)
                await store.finish(conn, task_id=task_id, status="succeeded")
            return
        async with pool.acquire() as conn:  # a call outside the database: done once it answered
            await store.finish(conn, task_id=task_id, status="succeeded")
    except Skip as exc:
        async with pool.acquire() as conn:
            await store.finish(conn, task_id=task_id, status="cancelled", error=str(exc))
    except Exception as exc:  # noqa: BLE001 - whatever failed, the task records it and retries
        reason = str(exc) if isinstance(exc, Permanent | Failed | FetchError) else f"{type(exc).__name__}: {exc}"
        reason = reason[:500]
        async with pool.acquire() as conn:
            if isinstance(exc, Permanent) or task["attempts"] >= task["max_attempts"]:
                log.warning(
                    "task %s (%s) failed after %d attempts: %s", task_id, task["kind"], task["attempts"], reason
                )
                await store.finish(conn, task_id=task_id, status="failed", error=reason)
            else:
                await store.retry_later(
                    conn, task_id=task_id, error=reason, delay_s=backoff_s(settings, task["attempts"])
                )


# -- what each kind does ----------------------------------------------------------------------------


async def _booked_appointment(conn: asyncpg.Connection, task: dict[str, Any]) -> Any:
    appointment = await scheduling_store.get_appointment(
        conn, workspace_id=task["workspace_id"], appointment_id=task["appointment_id"]
    )
    if appointment is None or appointment.status != "booked":
        raise Skip("the appointment was cancelled")
    return appointment


async def _reminder(conn: asyncpg.Connection, settings: Settings, task: dict[str, Any]) -> None:
    appointment = await _booked_appointment(conn, task)
    if appointment.starts_at <= datetime.now(UTC):
        raise Skip("the appointment has started")
    if not appointment.email:
        raise Skip("the appointment has no address to remind")
    booking = await load_booking_settings(conn, workspace_id=appointment.workspace_id, bot_id=appointment.bot_id)
    mail = mails.visitor_mail(settings, appointment, "reminder", booking=booking)
    await mails.send(conn, settings, to=appointment.email, mail=mail, reply_to=mails.owner_addresses(booking))


async def _follow_up(conn: asyncpg.Connection, settings: Settings, task: dict[str, Any]) -> None:
    payload = task["payload"]
    if await store.conversation_booked(
        conn, workspace_id=task["workspace_id"], conversation_id=task["conversation_id"]
    ):
        raise Skip("the conversation booked an appointment")
    booking = await load_booking_settings(conn, workspace_id=task["workspace_id"], bot_id=uuid.UUID(payload["bot_id"]))
    owners = mails.owner_addresses(booking)
    if not owners:
        raise Skip("the bot's booking settings name no notify e-mails")
    texts = mails.TEXTS[mails.language_of(payload.get("language"))]
    link = f"{settings.resolved_public_url()}/dashboard#/conversations/{task['conversation_id']}"
    body = texts["follow_up_body"].format(hours=payload.get("hours", ""), link=link)
    mail = mails.Mail(subject=texts["follow_up_subject"], text=body + "\n", html=mails.paragraphs_html([body]))
    for owner in owners:
        await mails.send(conn, settings, to=owner, mail=mail)


async def _owner_mail(conn: asyncpg.Connection, settings: Settings, task: dict[str, Any]) -> None:
    payload = task["payload"]
    booking = await load_booking_settings(conn, workspace_id=task["workspace_id"], bot_id=uuid.UUID(payload["bot_id"]))
    owners = mails.owner_addresses(booking)
    if not owners:
        raise Skip("the bot's booking settings name no notify e-mails")
    event = payload["event"]
    if event == "calendar_failed":
        texts = mails.TEXTS["en"]
        calendars = ", ".join(payload.get("calendars", []))
        body = texts["owner_calendar_body"].format(calendars=calendars, during=payload.get("during", "reach it"))
        mail = mails.Mail(
            subject=texts["owner_calendar_subject"].format(calendars=calendars),
            text=body + "\n",
            html=mails.paragraphs_html([body]),
        )
    else:
        appointment = await scheduling_store.get_appointment(
            conn, workspace_id=task["workspace_id"], appointment_id=task["appointment_id"]
        )
        if appointment is None:
            raise Skip("the appointment no longer exists")
        previous = payload.get("previous_starts_at")
        mail = mails.owner_mail(
            appointment,
            event,
            booking=booking,
            previous_start=datetime.fromisoformat(previous) if previous else None,
            cancelled_by=payload.get("by", "visitor"),
        )
    for owner in owners:
        await mails.send(conn, settings, to=owner, mail=mail)


async def _calendar_sync(pool: asyncpg.Pool, settings: Settings, task: dict[str, Any]) -> None:
    """Write the booking as it stands now into the connected calendars (after an erasure: without the
    visitor's name and address); a calendar that cannot be written is retried."""
    async with pool.acquire() as conn:
        appointment = await scheduling_store.get_appointment(
            conn, workspace_id=task["workspace_id"], appointment_id=task["appointment_id"]
        )
    if appointment is None:
        raise Skip("the appointment no longer exists")
    action: Literal["update", "delete"] = "update" if appointment.status == "booked" else "delete"
    failed = await calendars.write_event(pool, settings, appointment, action=action)
    if failed:
        raise Failed(f"could not write into {', '.join(failed)}")


_MAILERS = {"reminder": _reminder, "follow_up": _follow_up, "notify_owner": _owner_mail}


async def _webhook(pool: asyncpg.Pool, settings: Settings, fetcher: SafeFetcher, task: dict[str, Any]) -> None:
    """POST the event to the bot's webhook, signed; a non-2xx answer is a failure (retried)."""
    payload = task["payload"]
    bot_id = uuid.UUID(payload["bot_id"])
    async with pool.acquire() as conn:
        booking = await load_booking_settings(conn, workspace_id=task["workspace_id"], bot_id=bot_id)
        url = booking.notify.get("webhook_url") if booking else None
        if not url:
            raise Skip("the bot's booking settings name no webhook")
        sealed = await scheduling_store.webhook_secret_sealed(conn, workspace_id=task["workspace_id"], bot_id=bot_id)
        if sealed is None:
            raise Permanent("the webhook has no signing secret: set one in the bot's booking settings")
        secret = secrets_box.open_str(settings, sealed, purpose=WEBHOOK_SECRET_PURPOSE)
        body = await _webhook_body(conn, task)
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "X-Cortex-Event": str(payload["event"]),
        "X-Cortex-Delivery": str(task["id"]),
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: webhook_signature(secret, timestamp, body),
    }
    try:
        status = await fetcher.post(str(url), content=body, headers=headers)
    except (BadUrl, BadScheme, BlockedAddress) as exc:
        raise Permanent(f"the webhook URL is refused: {exc}") from exc
    if not 200 <= status < 300:
        raise Failed(f"the webhook answered HTTP {status}")


async def _webhook_body(conn: asyncpg.Connection, task: dict[str, Any]) -> bytes:
    """The JSON a receiver gets: the event, and the appointment as it is now (or the failed calendars)."""
    payload = task["payload"]
    event = payload["event"]
    body: dict[str, Any] = {
        "event": "calendar.failed" if event == "calendar_failed" else f"appointment.{event}",
        "delivery_id": str(task["id"]),
        "occurred_at": task["created_at"].astimezone(UTC).isoformat(),
        "bot_id": payload["bot_id"],
    }
    if event == "calendar_failed":
        body.update(calendars=payload.get("calendars", []), during=payload.get("during"))
    else:
        appointment = await scheduling_store.get_appointment(
            conn, workspace_id=task["workspace_id"], appointment_id=task["appointment_id"]
        )
        if appointment is None:
            raise Skip("the appointment no longer exists")
        body["appointment"] = {
            "id": str(appointment.id),
            "status": appointment.status,
            "service": appointment.service_name,
            "starts_at": appointment.starts_at.isoformat(),
            "ends_at": appointment.ends_at.isoformat(),
            "time_zone": appointment.time_zone,
            "name": appointment.name,
            "email": appointment.email,
            "notes": appointment.notes,
            "source": appointment.source,
            "conversation_id": str(appointment.conversation_id) if appointment.conversation_id else None,
        }
        if payload.get("previous_starts_at"):
            body["previous_starts_at"] = payload["previous_starts_at"]
        if event == "cancelled":
            body["cancelled_by"] = payload.get("by", "visitor")
    return orjson.dumps(body)
