"""The one way Cortex sends mail: plain-text messages over SMTP.

`CORTEX_SMTP_URL` names the relay: ``smtp://[user:password@]host:port`` (STARTTLS when the relay
offers it) or ``smtps://…`` (TLS from the start). The embedded stack's sink (cortex/smtp_sink.py)
takes everything locally and keeps it under ``<home>/mail``. A mail that cannot be sent is logged
and reported as False, never raised: no request fails, or answers differently, because a relay
is down.
"""

from __future__ import annotations

import asyncio
import logging
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import make_msgid, parseaddr
from urllib.parse import unquote, urlsplit

from cortex.settings import Settings

log = logging.getLogger("cortex.mail")

# A relay that has not answered in 10 s is down; the caller is waiting on this.
SMTP_TIMEOUT_S = 10.0


async def send_mail(settings: Settings, *, to: str, subject: str, text: str) -> bool:
    """Send one plain-text mail; True once the relay accepted it."""
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
        log.warning("mail %r to %s not sent: %r", subject, to, exc)
        return False
    return True


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
