"""The one way Cortex sends mail: plain-text messages over SMTP, through a queue in Postgres.

A service queues a mail with `queue_mail` in the transaction of the change it reports (a sign-up,
an invitation, a password reset), so the mail exists exactly when the change does: a relay that is
down, or a replica that dies after answering, loses nothing. The service's `deliver_queued_mail`
loop sends it after commit (woken by NOTIFY), retries with backoff, and deletes the row once the
relay took it. The row is sealed (`cortex.secrets_box`): the queue holds no readable address, and
no usable link to a reset or an invitation. A mail the relay keeps refusing is dropped after
MAX_ATTEMPTS (about five hours), logged without its address. Delivery is at least once: a replica
that dies between the relay's acceptance and the delete sends that mail again.

`CORTEX_SMTP_URL` names the relay: ``smtp://[user:password@]host:port`` (STARTTLS when the relay
offers it) or ``smtps://…`` (TLS from the start). The embedded stack's sink (cortex/smtp_sink.py)
takes everything locally and keeps it under ``<home>/mail``.
"""

from __future__ import annotations

import asyncio
import logging
import smtplib
import ssl
import uuid
from email.message import EmailMessage
from email.utils import make_msgid, parseaddr
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

import asyncpg
import orjson

from cortex import secrets_box
from cortex.db.wakeup import run_woken
from cortex.settings import Settings

if TYPE_CHECKING:
    from cortex.http.app import ServiceResources

log = logging.getLogger("cortex.mail")

# A relay that has not answered in 10 s is down.
SMTP_TIMEOUT_S = 10.0
# Retries wait 30 s, 1, 2, 4, 8, 16 and 32 min, then an hour: 12 attempts span about five hours.
MAX_ATTEMPTS = 12
BATCH = 20
# The queue is woken at commit; this poll finds retries that came due and a missed wake-up.
POLL_INTERVAL_S = 5.0
_PURPOSE = "mail-queue"


def _channel(schema: str) -> str:
    return f"cortex_mail_{schema}"


async def queue_mail(conn: asyncpg.Connection, settings: Settings, *, to: str, subject: str, text: str) -> None:
    """Queue one plain-text mail in the caller's transaction, in its schema's `mail_outbox`; the
    service's `deliver_queued_mail` sends it once the transaction commits (and never if it rolls back)."""
    sealed = secrets_box.seal_bytes(
        settings, orjson.dumps({"to": to, "subject": subject, "text": text}), purpose=_PURPOSE
    )
    schema = await conn.fetchval("SELECT current_schema()")
    await conn.execute(
        "WITH row AS (INSERT INTO mail_outbox (id, sealed) VALUES ($1, $2) RETURNING 1) "
        "SELECT pg_notify($3, '') FROM row",
        uuid.uuid4(),
        sealed,
        _channel(schema),
    )


async def deliver_queued_mail(resources: ServiceResources) -> None:
    """A service's background loop: send its queued mail until the replica stops."""
    assert resources.db is not None and resources.schema is not None
    pool, settings = resources.db, resources.settings

    async def step() -> bool:
        return await send_due(pool, settings) == BATCH

    await run_woken(
        pool,
        channel=_channel(resources.schema),
        step=step,
        stop=resources.stopping,
        poll_interval_s=POLL_INTERVAL_S,
        what=f"mail queue of {resources.schema}",
    )


async def send_due(pool: asyncpg.Pool, settings: Settings) -> int:
    """Send one batch of due mail (rows claimed with SKIP LOCKED: replicas share the queue); how many were tried."""
    async with pool.acquire() as conn, conn.transaction():
        rows = await conn.fetch(
            "SELECT id, sealed, attempts FROM mail_outbox WHERE next_attempt_at <= now() "
            "ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED",
            BATCH,
        )
        for row in rows:
            try:
                mail = orjson.loads(secrets_box.open_bytes(settings, row["sealed"], purpose=_PURPOSE))
            except (secrets_box.SealedSecretError, orjson.JSONDecodeError) as exc:
                log.error("queued mail %s cannot be read (%s); dropped", row["id"], exc)
                await conn.execute("DELETE FROM mail_outbox WHERE id = $1", row["id"])
                continue
            error = await _send(settings, to=mail["to"], subject=mail["subject"], text=mail["text"])
            if error is None:
                await conn.execute("DELETE FROM mail_outbox WHERE id = $1", row["id"])
            elif row["attempts"] + 1 >= MAX_ATTEMPTS:
                log.error("mail %r dropped after %d attempts: %s", mail["subject"], MAX_ATTEMPTS, error)
                await conn.execute("DELETE FROM mail_outbox WHERE id = $1", row["id"])
            else:
                delay_s = min(30 * 2 ** row["attempts"], 3600)
                await conn.execute(
                    "UPDATE mail_outbox SET attempts = attempts + 1, last_error = $2, "
                    "next_attempt_at = now() + make_interval(secs => $3) WHERE id = $1",
                    row["id"],
                    error[:500],
                    float(delay_s),
                )
        return len(rows)


async def _send(settings: Settings, *, to: str, subject: str, text: str) -> str | None:
    """Send one plain-text mail now; None once the relay accepted it, else why not."""
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = make_msgid(domain=parseaddr(settings.mail_from)[1].rpartition("@")[2] or None)
    message.set_content(text)
    try:
        url = settings.resolved_smtp_url()
        await asyncio.to_thread(_deliver, url, message)
    except (OSError, smtplib.SMTPException, RuntimeError, ValueError) as exc:
        # RuntimeError: no relay is configured; ValueError: an address the relay cannot take.
        reason = _reason(exc)
        log.warning("mail %r not sent: %s", subject, reason)
        return reason
    return None


def _reason(exc: Exception) -> str:
    """Why a send failed, for the log and the queue row: the error's kind and the relay's reply
    code, never its text (a refused recipient's reply names the address)."""
    code = getattr(exc, "smtp_code", None) or getattr(exc, "errno", None)
    return f"{type(exc).__name__}{f' {code}' if code else ''}"


def _deliver(url: str, message: EmailMessage) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise ValueError(f"CORTEX_SMTP_URL must be smtp://host:port or smtps://host:port, not {parts.scheme}://")
    context = ssl.create_default_context()
    client: smtplib.SMTP
    if parts.scheme == "smtps":
        client = smtplib.SMTP_SSL(parts.hostname, parts.port or 465, timeout=SMTP_TIMEOUT_S, context=context)
    else:
        client = smtplib.SMTP(parts.hostname, parts.port or 25, timeout=SMTP_TIMEOUT_S)
    with client:
        client.ehlo()
        if parts.scheme == "smtp" and client.has_extn("starttls"):
            client.starttls(context=context)
            client.ehlo()
        if parts.username:
            client.login(unquote(parts.username), unquote(parts.password or ""))
        client.send_message(message)
