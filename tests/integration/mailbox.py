"""The embedded stack's SMTP sink, read as a mailbox: every mail Cortex sent lands in <home>/mail."""

from __future__ import annotations

import asyncio
import re
import time
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path


def _read(home: Path, address: str) -> list[EmailMessage]:
    messages = []
    wanted = address.lower().encode()
    for path in sorted((home / "mail").glob("*.eml")):  # named by arrival time: oldest first
        raw = path.read_bytes()
        if wanted not in raw.lower():  # most mail is to someone else: skip parsing it
            continue
        message = BytesParser(policy=policy.default).parsebytes(raw)
        assert isinstance(message, EmailMessage)
        if address.lower() in str(message["X-Cortex-Rcpt-To"]).lower().split(", "):
            messages.append(message)
    return messages


async def mail_to(home: Path, address: str, *, count: int = 1, timeout_s: float = 15.0) -> list[EmailMessage]:
    """The mail sent to `address`, once `count` have arrived (the sender may still be at it)."""
    deadline = time.monotonic() + timeout_s
    while len(messages := _read(home, address)) < count:
        assert time.monotonic() < deadline, f"{len(messages)} of {count} mails to {address} arrived"
        await asyncio.sleep(0.1)
    return messages


def text_of(message: EmailMessage) -> str:
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    return body.get_content()


def link_token(message: EmailMessage, page: str) -> str:
    """The token of the mail's link to a dashboard page (`#/verify-email?token=…`)."""
    found = re.search(rf"/dashboard#/{re.escape(page)}\?token=([A-Za-z0-9_-]+)", text_of(message))
    assert found, f"no #/{page} link in: {text_of(message)}"
    return found.group(1)
