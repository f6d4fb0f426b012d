"""Mail is queued with the change it reports: a relay that is down delays it, and loses nothing."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import httpx
import psutil

from cortex.settings import Settings
from tests.stack_fixtures import RunningStack

from .accounts import PASSWORD
from .chatting import eventually
from .mailbox import mail_to


async def test_a_sign_up_while_the_relay_is_down_gets_its_mail_when_the_relay_is_back(
    http: httpx.AsyncClient, running_stack: RunningStack, settings: Settings
) -> None:
    sink = running_stack.stack.smtp
    process = psutil.Process(sink.pid())
    process.terminate()
    process.wait(10)
    email = f"queued-{uuid.uuid4().hex[:8]}@example.com"
    conn = await asyncpg.connect(settings.resolved_database_url())
    try:
        signed_up = await http.post(
            "/api/auth/register", json={"email": email, "password": PASSWORD, "workspace_name": "Queued"}
        )
        assert signed_up.status_code == 202, "the sign-up is accepted although its mail cannot go yet"

        async def refused_once() -> bool:
            return bool(await conn.fetchval("SELECT count(*) FROM auth.mail_outbox WHERE attempts >= 1"))

        await eventually(refused_once, what="the relay refuses the mail once")
        # Waiting, the mail is sealed: neither the address nor its link can be read in the queue.
        waiting = await conn.fetch("SELECT sealed, last_error FROM auth.mail_outbox")
        assert waiting and not [row for row in waiting if email.encode() in bytes(row["sealed"])]
    finally:
        await asyncio.to_thread(sink.start)
        await conn.close()
    # The first retry comes 30 s after the refusal.
    [mail] = await mail_to(running_stack.home, email, timeout_s=90)
    assert mail["Subject"]
    conn = await asyncpg.connect(settings.resolved_database_url())
    try:
        sent = await conn.fetchval("SELECT count(*) FROM auth.mail_outbox")
    finally:
        await conn.close()
    assert sent == 0, "a sent mail leaves the queue"
