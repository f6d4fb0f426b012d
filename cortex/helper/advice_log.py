"""What the helper saw and advised per turn (`helper.advice_log`), written off the hot path.

`AdviceLog.put` appends a row to a bounded in-memory queue and returns at once (no I/O in the
turn); a background task writes the queue in batches, every `FLUSH_INTERVAL_S` or as soon as
`BATCH` rows wait, in one statement per batch. A full queue (Postgres down or too slow for the
traffic) drops new rows and counts them: the owner's view loses those turns, the visitors lose
nothing. Drops are logged at most once per `DROP_LOG_INTERVAL_S`, with the count since the last
line, and kept in `dropped` (the replica's total).

A row holds the turn's analysis (intents, scores, the names of facts, never the visitor's words)
and the guidance (the instruction written from a pattern, its ids, the situation, the reason).
`prune` deletes rows older than `CORTEX_HELPER_ADVICE_RETENTION_DAYS`, in bounded batches.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import asyncpg

from cortex.contracts.guidance import Guidance
from cortex.helper.analysis import Analysis

log = logging.getLogger("cortex.helper")

# 0.5 s: the owner's view of a conversation is at most half a second behind the chat.
FLUSH_INTERVAL_S = 0.5
# 500 rows: one INSERT of ~0.5 MB; at 1,000 turns/s a batch every half second.
BATCH = 500
# 20,000 rows (~20 MB): ten seconds of 2,000 turns/s while Postgres is away, then rows are dropped.
QUEUE_MAX = 20_000
DROP_LOG_INTERVAL_S = 10.0
# A Postgres that hangs holds the writer (never a turn) this long per batch, then the batch is dropped.
ACQUIRE_TIMEOUT_S = 5.0
# Rows deleted per statement when pruning: short locks, WAL in small pieces.
PRUNE_BATCH = 5_000

GetPool = Callable[[], Awaitable[asyncpg.Pool]]


def plain(record: Analysis | Guidance) -> dict[str, Any]:
    """An analysis or a guidance as a JSON-ready dict: their fields are plain values (and one dict of
    floats), so one level is enough (`dataclasses.asdict` deep-copies, at ten times the cost)."""
    return {item.name: getattr(record, item.name) for item in dataclasses.fields(record)}


class AdviceLog:
    """A replica's queue of advice rows and the task that writes them."""

    def __init__(
        self,
        pool: GetPool,
        *,
        queue_max: int = QUEUE_MAX,
        batch: int = BATCH,
        flush_interval_s: float = FLUSH_INTERVAL_S,
    ) -> None:
        self._pool = pool
        self.queue_max = queue_max
        self.batch = batch
        self.flush_interval_s = flush_interval_s
        self._rows: deque[tuple[Any, ...]] = deque()
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self.dropped = 0  # the replica's total: queue full, or a batch Postgres refused
        self.written = 0
        self._unlogged_drops = 0
        self._drops_logged_at = -DROP_LOG_INTERVAL_S

    def put(
        self,
        *,
        workspace_id: uuid.UUID,
        bot_id: uuid.UUID,
        conversation_id: uuid.UUID,
        analysis: Analysis | dict[str, Any],
        guidance: Guidance,
    ) -> bool:
        """Queue one turn's row (no I/O); False when the queue is full and the row was dropped.
        `analysis` may come as `plain(analysis)` already."""
        self._start()
        if len(self._rows) >= self.queue_max:
            self._dropped(1)
            return False
        self._rows.append(
            (
                uuid.uuid4(),
                workspace_id,
                bot_id,
                conversation_id,
                analysis if isinstance(analysis, dict) else plain(analysis),
                plain(guidance),
                datetime.now(UTC),
            )
        )
        if len(self._rows) >= self.batch and self._wake is not None:
            self._wake.set()
        return True

    @property
    def pending(self) -> int:
        return len(self._rows)

    def _start(self) -> None:
        if self._task is None or self._task.done():
            self._wake = asyncio.Event()
            self._task = asyncio.get_running_loop().create_task(self._run(), name="helper-advice-log")

    async def _run(self) -> None:
        assert self._wake is not None
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.flush_interval_s)
            self._wake.clear()
            try:
                await self.flush()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - logged; the loop must outlive any one failure
                log.exception("helper advice log: flush failed")

    async def flush(self) -> int:
        """Write what is queued, a batch per statement; returns the rows written. A batch Postgres
        refuses is dropped (and counted): retrying it would only fill the queue behind it."""
        written = 0
        while self._rows:
            rows = [self._rows.popleft() for _ in range(min(self.batch, len(self._rows)))]
            try:
                pool = await self._pool()
                async with pool.acquire(timeout=ACQUIRE_TIMEOUT_S) as conn:
                    await conn.executemany(
                        """
                        INSERT INTO advice_log (id, workspace_id, bot_id, conversation_id, analysis, guidance,
                                                created_at)
                        VALUES ($1, $2, $3, $4, $5, $6, $7)
                        """,
                        rows,
                    )
            except Exception as exc:  # noqa: BLE001 - the owner's view loses these turns, nothing else
                log.warning("helper advice log: %d rows not written: %r", len(rows), exc)
                self._dropped(len(rows))
                break
            written += len(rows)
            self.written += len(rows)
        self._log_drops()
        return written

    def _dropped(self, count: int) -> None:
        self.dropped += count
        self._unlogged_drops += count
        self._log_drops()

    def _log_drops(self) -> None:
        now = time.monotonic()
        if self._unlogged_drops and now - self._drops_logged_at >= DROP_LOG_INTERVAL_S:
            log.warning(
                "helper advice log: %d rows dropped since the last report (%d in all; queue %d of %d)",
                self._unlogged_drops,
                self.dropped,
                len(self._rows),
                self.queue_max,
            )
            self._unlogged_drops = 0
            self._drops_logged_at = now

    async def close(self) -> None:
        """Write what is left, then stop the writer."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.flush()


async def prune(conn: asyncpg.Connection, *, retention_days: int, batch: int = PRUNE_BATCH) -> int:
    """Delete advice rows (and erased conversations' ids) older than `retention_days`, in batches;
    returns how many advice rows went."""
    deleted = 0
    while True:
        rows = await conn.fetch(
            """
            DELETE FROM advice_log WHERE id IN (
                SELECT id FROM advice_log WHERE created_at < now() - make_interval(days => $1) LIMIT $2
            ) RETURNING 1
            """,
            retention_days,
            batch,
        )
        deleted += len(rows)
        if len(rows) < batch:
            break
    await conn.execute(
        "DELETE FROM erased_conversations WHERE erased_at < now() - make_interval(days => $1)", retention_days
    )
    return deleted
