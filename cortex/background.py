"""Work that runs with nobody awaiting it: to its end (a request that has gone, an answer found
early), or round after round for a replica's lifetime (a service's background loops)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import redis.exceptions

log = logging.getLogger("cortex.background")

# A dependency that is down: logged in one line each round, not with a traceback.
OUTAGES = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError, redis.exceptions.ConnectionError)

# The event loop holds only weak references to tasks: these are held here until they finish.
_RUNNING: set[asyncio.Future[Any]] = set()


def keep_running(work: Awaitable[Any], *, what: str) -> None:
    """Let `work` (a coroutine or a future) finish on its own; a failure is logged as `what` failing."""
    future = asyncio.ensure_future(work)
    _RUNNING.add(future)

    def done(finished: asyncio.Future[Any]) -> None:
        _RUNNING.discard(finished)
        if not finished.cancelled() and finished.exception() is not None:
            log.warning("%s failed: %r", what, finished.exception())

    future.add_done_callback(done)


async def repeat(work: Callable[[], Awaitable[object]], *, every_s: float, stop: asyncio.Event, what: str) -> None:
    """Run `work` now and then every `every_s` seconds until `stop` is set (a replica's shutdown).

    A round that fails is logged as `what` failing and the next one runs on time: a background loop
    of a service must outlive a database or Redis outage, never die of one. Each round starts only
    after the previous ended, so a slow round delays the next instead of overlapping it."""
    while not stop.is_set():
        try:
            await work()
        except Exception as exc:  # noqa: BLE001 - the loop goes on; the next round retries
            log.warning("%s failed: %r", what, exc, exc_info=not isinstance(exc, OUTAGES))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=every_s)
