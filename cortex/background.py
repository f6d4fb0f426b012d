"""Work that must run to its end with nobody awaiting it (a request that has gone, an answer found early)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Any

log = logging.getLogger("cortex.background")

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
