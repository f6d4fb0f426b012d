"""A loop over a table of due work, woken at commit by Postgres NOTIFY, polling as a fallback.

The event outbox relay and the mail queue both run one per replica. A producer writes its row and
`pg_notify(channel, '')` in its own transaction, so the loop wakes when the row is visible; the
poll covers a notification lost while the listening connection was down, and rows that come due
later (a retry's backoff). Rows are claimed with `FOR UPDATE SKIP LOCKED` by `step`, so several
replicas share the work without doing any twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

import asyncpg

log = logging.getLogger("cortex.db")


async def run_woken(
    pool: asyncpg.Pool,
    *,
    channel: str,
    step: Callable[[], Awaitable[bool]],
    stop: asyncio.Event,
    poll_interval_s: float,
    what: str,
) -> None:
    """Call `step` until it returns False (nothing more due now), then wait for a NOTIFY on
    `channel` or `poll_interval_s`, until `stop` is set. A Postgres outage is logged and retried."""
    wake = asyncio.Event()
    listener: asyncpg.Connection | None = None

    def woken(*_: object) -> None:
        wake.set()

    async def release() -> None:
        assert listener is not None
        with contextlib.suppress(Exception):
            await listener.remove_listener(channel, woken)
        try:
            await pool.release(listener)
        except Exception:  # noqa: BLE001 - the connection is already broken; drop it
            listener.terminate()

    while not stop.is_set():
        try:
            if listener is None or listener.is_closed():
                listener = await pool.acquire()
                await listener.add_listener(channel, woken)
            while await step() and not stop.is_set():
                pass
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("%s: postgres unavailable: %s", what, exc)
            if listener is not None:
                await release()
                listener = None
        wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), timeout=poll_interval_s)
    if listener is not None:
        await release()
