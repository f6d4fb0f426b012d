"""The one way Cortex sends mail: over SMTP, through a queue in Postgres.

A service queues a mail with `queue_mail` in the transaction of the change it reports (a sign-up,
an invitation, a password reset), so the mail exists exactly when the change does: a relay that is
down, or a replica that dies after answering, loses nothing. The service's `deliver_queued_mail`
loop sends it after commit (woken by NOTIFY), retries with backoff, and deletes the row once the
relay took it. The row is sealed (`cortex.secrets_box`): the queue holds no readable address, and
no usable link to a reset or an invitation. A mail the relay keeps refusing is dropped after
MAX_ATTEMPTS (about five hours), logged without its address. Delivery is at least once: a replica
that dies between the relay's acceptance and the delete sends that mail again.

A mail is plain text, optionally with an HTML alternative, extra headers (`List-Unsubscribe`…)
and a calendar invitation: an iCalendar text (cortex/workflows/notify/ics.py) goes out the way
Gmail, Outlook and Apple Mail recognise an invitation, as a `text/calendar; method=<its METHOD>`
alternative beside the text and HTML, and again as an `invite.ics` attachment for the clients that
only import files:

    multipart/mixed
      multipart/alternative: text/plain, text/html, text/calendar; method=REQUEST
      application/ics: invite.ics

`CORTEX_SMTP_URL` names the relay: ``smtp://[user:password@]host:port`` (STARTTLS when the relay
offers it) or ``smtps://…`` (TLS from the start). The embedded stack's sink (cortex/smtp_sink.py)
takes everything locally and keeps it under ``<home>/mail``.
"""

from __future__ import annotations

import logging
import re
import ssl
import uuid
from email.message import EmailMessage
from email.utils import make_msgid, parseaddr
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

import aiosmtplib
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
# The headers the sender sets itself: a caller's `headers` may not replace them.
_OWN_HEADERS = frozenset(
    {"from", "to", "cc", "bcc", "subject", "message-id", "date", "sender", "return-path"}
    | {"mime-version", "content-type", "content-transfer-encoding", "content-disposition"}
)
_HEADER_NAME = re.compile(r"[!-9;-~]+")  # RFC 5322 field name: printable ASCII without ':'
_METHOD = re.compile(r"^METHOD:([A-Z-]+)\r?$", re.MULTILINE)


def _channel(schema: str) -> str:
    return f"cortex_mail_{schema}"


async def queue_mail(
    conn: asyncpg.Connection,
    settings: Settings,
    *,
    to: str,
    subject: str,
    text: str,
    html: str | None = None,
    calendar: str | None = None,
    headers: dict[str, str] | None = None,
) -> None:
    """Queue one mail in the caller's transaction, in its schema's `mail_outbox`; the service's
    `deliver_queued_mail` sends it once the transaction commits (and never if it rolls back).

    `html`: an HTML alternative to `text`. `calendar`: an iCalendar text with a METHOD (REQUEST,
    CANCEL…), sent as an invitation. `headers`: extra header fields (not the ones the sender sets).
    A malformed one is the caller's mistake: ValueError, in the caller's transaction."""
    mail: dict[str, Any] = {"to": to, "subject": subject, "text": text}
    if html is not None:
        mail["html"] = html
    if calendar is not None:
        calendar_method(calendar)
        mail["calendar"] = calendar
    if headers:
        mail["headers"] = _checked_headers(headers)
    _build(settings, mail)  # refuses what could not be sent (a header with a line break) now, not at delivery
    sealed = secrets_box.seal_bytes(settings, orjson.dumps(mail), purpose=_PURPOSE)
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
            error = await _send(settings, mail)
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


def calendar_method(calendar: str) -> str:
    """The METHOD of an iCalendar text (REQUEST, CANCEL…): its text/calendar part says it too."""
    found = _METHOD.search(calendar)
    if not calendar.startswith("BEGIN:VCALENDAR") or found is None:
        raise ValueError("a calendar invitation is a VCALENDAR with a METHOD")
    return found.group(1)


def _checked_headers(headers: dict[str, str]) -> dict[str, str]:
    for name, value in headers.items():
        if not _HEADER_NAME.fullmatch(name) or name.lower() in _OWN_HEADERS:
            raise ValueError(f"{name!r} is not a header a caller may set")
        if "\r" in value or "\n" in value:
            raise ValueError(f"the {name} header holds a line break")
    return dict(headers)


def _build(settings: Settings, mail: dict[str, Any]) -> EmailMessage:
    """The message of a queued mail: text, then HTML and the invitation as alternatives, the
    invitation again as `invite.ics`."""
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = mail["to"]
    message["Subject"] = mail["subject"]
    message["Message-ID"] = make_msgid(domain=parseaddr(settings.mail_from)[1].rpartition("@")[2] or None)
    for name, value in mail.get("headers", {}).items():
        message[name] = value
    message.set_content(mail["text"])
    if mail.get("html") is not None:
        message.add_alternative(mail["html"], subtype="html")
    calendar = mail.get("calendar")
    if calendar is not None:
        method = calendar_method(calendar)
        # Outlook reads the method from the part's parameters, Gmail from both: they must agree.
        message.add_alternative(calendar, subtype="calendar", params={"method": method})
        # add_attachment turns the alternative into the first part of a multipart/mixed.
        message.add_attachment(
            calendar.encode(),
            maintype="application",
            subtype="ics",
            filename="invite.ics",
            params={"method": method, "name": "invite.ics"},
        )
    return message


async def _send(settings: Settings, mail: dict[str, Any]) -> str | None:
    """Send one queued mail now; None once the relay accepted it, else why not."""
    try:
        message = _build(settings, mail)
        await _deliver(settings.resolved_smtp_url(), message)
    except (OSError, TimeoutError, aiosmtplib.SMTPException, RuntimeError, ValueError) as exc:
        # RuntimeError: no relay is configured; ValueError: an address the relay cannot take.
        reason = _reason(exc)
        log.warning("mail %r not sent: %s", mail["subject"], reason)
        return reason
    return None


def _reason(exc: Exception) -> str:
    """Why a send failed, for the log and the queue row: the error's kind and the relay's reply
    code, never its text (a refused recipient's reply names the address)."""
    code = getattr(exc, "code", None) or getattr(exc, "errno", None)
    return f"{type(exc).__name__}{f' {code}' if code else ''}"


async def _deliver(url: str, message: EmailMessage) -> None:
    """Over SMTP with aiosmtplib: TLS from the start for smtps://, else STARTTLS when the relay offers it."""
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise ValueError(f"CORTEX_SMTP_URL must be smtp://host:port or smtps://host:port, not {parts.scheme}://")
    tls = parts.scheme == "smtps"
    client = aiosmtplib.SMTP(
        hostname=parts.hostname,
        port=parts.port or (465 if tls else 25),
        use_tls=tls,
        start_tls=False if tls else None,  # None: upgrade when the relay offers STARTTLS
        tls_context=ssl.create_default_context(),
        timeout=SMTP_TIMEOUT_S,
    )
    async with client:
        if parts.username:
            await client.login(unquote(parts.username), unquote(parts.password or ""))
        await client.send_message(message)
