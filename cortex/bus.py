"""Events between services: a transactional outbox in Postgres, relayed to Redis Streams.

Write side: :func:`emit` inserts the event into the producing schema's ``outbox`` inside the
caller's transaction, so an event exists if and only if the change it describes committed.
:class:`OutboxRelay` publishes unpublished rows to a stream per event family
(``cortex:events:<family>``, e.g. ``user.registered`` → ``cortex:events:user``) and marks them
published; while Redis is down the rows simply wait.

Read side: :class:`Consumer` reads with a consumer group per consuming service. A handler runs
in a Postgres transaction that also records the event id in the consumer's
``processed_events``; an event is acknowledged only after that commit, so a crash mid-handling
means redelivery, and redelivery never applies an event twice. Failed deliveries are retried
with exponential backoff; after ``max_deliveries`` the event moves to ``cortex:events:dead``.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

import asyncpg
import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError, ResponseError

from cortex.contracts.events import validate_payload
from cortex.db.wakeup import run_woken

log = logging.getLogger("cortex.bus")

STREAM_PREFIX = "cortex:events:"
DEAD_LETTER_STREAM = "cortex:events:dead"
# Streams are trimmed approximately to this length; consumers keep up within seconds, so a
# million entries is days of backlog at our event rates, and memory stays bounded.
STREAM_MAXLEN = 1_000_000


@dataclass(frozen=True)
class Event:
    """One domain event, as delivered to handlers."""

    event_id: uuid.UUID
    event_type: str
    payload: dict[str, Any]
    workspace_id: uuid.UUID | None = None
    occurred_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def to_fields(self) -> dict[str, str]:
        return {
            "event_id": str(self.event_id),
            "event_type": self.event_type,
            "workspace_id": str(self.workspace_id) if self.workspace_id else "",
            "payload": orjson.dumps(self.payload).decode(),
            "occurred_at": self.occurred_at.isoformat(),
        }

    @classmethod
    def from_fields(cls, fields: dict[bytes, bytes]) -> Event:
        text = {key.decode(): value.decode() for key, value in fields.items()}
        return cls(
            event_id=uuid.UUID(text["event_id"]),
            event_type=text["event_type"],
            payload=orjson.loads(text["payload"]),
            workspace_id=uuid.UUID(text["workspace_id"]) if text.get("workspace_id") else None,
            occurred_at=datetime.fromisoformat(text["occurred_at"]),
        )


def stream_for(event_type: str) -> str:
    """The stream an event type is published on: one per family (the part before the first dot)."""
    family = event_type.split(".", 1)[0]
    if not family or not family.replace("_", "").isalnum():
        raise ValueError(f"bad event type {event_type!r}; want 'family.action'")
    return STREAM_PREFIX + family


# An event another service emits (a bot created a moment ago) can be overtaken by a request that names
# its object; the first look again comes after 50 ms (the relay and a consumer take tens of ms when idle).
_ARRIVAL_FIRST_RETRY_S = 0.05


async def await_arrival(
    check: Callable[[], Awaitable[bool | None]],
    *,
    redis: aioredis.Redis | None,
    group: str,
    event_type: str,
    what: str,
    wait_s: float,
) -> None:
    """Wait for a fact that another service's event brings. `check()` answers True (it is here), False
    (it is not, and no event will change that) or None (not yet): None is asked again, backing off from
    50 ms, for up to `wait_s`; then NotFound, or Unavailable (503, Retry-After) while consumer group
    `group` has not handled every event published on `event_type`'s stream."""
    from cortex.errors import NotFound, Unavailable

    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_s
    pause = _ARRIVAL_FIRST_RETRY_S
    while True:
        found = await check()
        if found:
            return
        remaining = deadline - loop.time()
        if found is False or remaining <= 0:
            if found is False or await group_has_read(redis, group=group, event_type=event_type):
                raise NotFound(f"{what} not found")
            raise Unavailable(f"{what}s are not up to date yet, try again shortly", headers={"Retry-After": "2"})
        await asyncio.sleep(min(pause, remaining))
        pause *= 2


async def group_has_read(redis: aioredis.Redis | None, *, group: str, event_type: str) -> bool:
    """Whether consumer group `group` has read and handled every event published on `event_type`'s stream."""
    if redis is None:
        return False
    try:
        groups = await redis.xinfo_groups(stream_for(event_type))
    except RedisError:
        return False
    for info in groups:
        name = info["name"].decode() if isinstance(info["name"], bytes) else info["name"]
        if name == group:
            return info.get("lag") == 0 and info.get("pending") == 0
    return False


async def emit(
    conn: asyncpg.Connection,
    *,
    schema: str,
    event_type: str,
    payload: dict[str, Any],
    workspace_id: uuid.UUID | None = None,
) -> uuid.UUID:
    """Write an event to `schema`'s outbox on `conn` (call inside the change's transaction)."""
    stream_for(event_type)  # validate early, in the producer's transaction
    validate_payload(event_type, payload)  # ValueError: the payload breaks its contract
    event_id = uuid.uuid4()
    # The payload goes as text and is cast by Postgres, so emit works on any connection,
    # whether or not its pool registered a JSON codec.
    # One round trip: the row and the relay's wake-up call (delivered at commit).
    await conn.execute(
        f'WITH row AS (INSERT INTO "{schema}".outbox (event_id, event_type, workspace_id, payload) '
        f"VALUES ($1, $2, $3, $4::text::jsonb) RETURNING 1) SELECT pg_notify($5, '') FROM row",
        event_id,
        event_type,
        workspace_id,
        orjson.dumps(payload).decode(),
        _channel(schema),
    )
    return event_id


def _channel(schema: str) -> str:
    return f"cortex_outbox_{schema}"


class OutboxRelay:
    """Publishes a schema's unpublished outbox rows to Redis Streams, in commit order per batch."""

    # 200 rows per transaction: one Redis pipeline round trip each, short row locks.
    BATCH = 200

    def __init__(self, *, pool: asyncpg.Pool, redis: aioredis.Redis, schema: str, poll_interval_s: float = 0.5) -> None:
        self.pool = pool
        self.redis = redis
        self.schema = schema
        self.poll_interval_s = poll_interval_s

    async def publish_pending(self) -> int:
        """Publish one batch; returns how many rows were published (0 when none or Redis is down)."""
        async with self.pool.acquire() as conn, conn.transaction():
            # SKIP LOCKED: several replicas may relay the same schema without double work.
            rows = await conn.fetch(
                f"SELECT seq, event_id, event_type, workspace_id, payload, occurred_at "
                f'FROM "{self.schema}".outbox WHERE published_at IS NULL '
                f"ORDER BY seq LIMIT $1 FOR UPDATE SKIP LOCKED",
                self.BATCH,
            )
            if not rows:
                return 0
            try:
                pipe = self.redis.pipeline(transaction=False)
                for row in rows:
                    event = Event(
                        event_id=row["event_id"],
                        event_type=row["event_type"],
                        payload=_as_dict(row["payload"]),
                        workspace_id=row["workspace_id"],
                        occurred_at=row["occurred_at"],
                    )
                    pipe.xadd(
                        stream_for(event.event_type),
                        event.to_fields(),  # type: ignore[arg-type]
                        maxlen=STREAM_MAXLEN,
                        approximate=True,
                    )
                await pipe.execute()
            except (RedisError, OSError) as exc:
                await conn.execute(
                    f'UPDATE "{self.schema}".outbox SET attempts = attempts + 1, last_error = $2 '
                    f"WHERE seq = ANY($1::bigint[])",
                    [row["seq"] for row in rows],
                    str(exc)[:500],
                )
                log.warning("outbox relay: redis unavailable, %d events wait: %s", len(rows), exc)
                return 0
            await conn.execute(
                f'UPDATE "{self.schema}".outbox SET published_at = now(), last_error = NULL '
                f"WHERE seq = ANY($1::bigint[])",
                [row["seq"] for row in rows],
            )
            return len(rows)

    async def run(self, stop: asyncio.Event) -> None:
        """Relay until `stop` is set: woken by NOTIFY from :func:`emit`, polling as a fallback."""

        async def step() -> bool:
            return await self.publish_pending() == OutboxRelay.BATCH

        await run_woken(
            self.pool,
            channel=_channel(self.schema),
            step=step,
            stop=stop,
            poll_interval_s=self.poll_interval_s,
            what=f"outbox relay for {self.schema}",
        )


# The shapes redis-py returns for stream commands on a client without decode_responses (its own
# annotations are a union of every command's replies).
StreamEntry = tuple[bytes, dict[bytes, bytes]]
StreamRead = list[tuple[bytes, list[StreamEntry]]]

Handler = Callable[[Event, asyncpg.Connection], Awaitable[None]]


class Consumer:
    """One member of a consumer group; run several (replicas) for throughput and failover."""

    def __init__(
        self,
        *,
        pool: asyncpg.Pool,
        redis: aioredis.Redis,
        schema: str,
        group: str,
        streams: Iterable[str],
        handler: Handler,
        max_deliveries: int = 5,
        retry_base_s: float = 1.0,
        consumer_name: str | None = None,
        block_ms: int = 1000,
        event_types: Iterable[str] | None = None,
    ) -> None:
        self.pool = pool
        self.redis = redis
        self.schema = schema
        self.group = group
        self.streams = list(streams)
        self.handler = handler
        self.max_deliveries = max_deliveries
        self.retry_base_s = retry_base_s
        self.consumer_name = consumer_name or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.block_ms = block_ms
        # A stream carries a whole family (bot.created, bot.updated, bot.deleted…): the handler
        # sees only the types it asked for; the rest are acknowledged unseen.
        self.event_types = frozenset(event_types) if event_types is not None else None
        self._groups_ready = False
        self._retries_checked_at = -math.inf

    async def ensure_groups(self) -> None:
        for stream in self.streams:
            try:
                # id 0: a new group sees the stream's whole retained history, so events published
                # before the consuming service first started are not skipped.
                await self.redis.xgroup_create(stream, self.group, id="0", mkstream=True)
            except ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise
        self._groups_ready = True

    async def run_once(self) -> int:
        """Read and handle new events, then retry due ones; returns how many were handled."""
        if not self._groups_ready:
            await self.ensure_groups()
        handled = 0
        response = cast(
            "StreamRead | None",
            await self.redis.xreadgroup(
                self.group,
                self.consumer_name,
                {stream: ">" for stream in self.streams},
                count=100,
                block=self.block_ms,
            ),
        )
        for stream, entries in response or []:
            unwanted = []
            for entry_id, fields in entries:
                kind = fields.get(b"event_type")
                if self.event_types is not None and kind is not None and _text(kind) not in self.event_types:
                    unwanted.append(entry_id)
                elif await self._handle(_text(stream), entry_id, fields):
                    handled += 1
            if unwanted:  # other types of the family: acknowledged unseen, in one call
                await self.redis.xack(stream, self.group, *unwanted)
        # Pending entries wait at least the backoff base: looking twice per base is often enough,
        # and saves an XPENDING per stream on every read when events flow.
        if time.monotonic() - self._retries_checked_at >= self.retry_base_s / 2:
            self._retries_checked_at = time.monotonic()
            handled += await self.retry_due()
        return handled

    async def retry_due(self) -> int:
        """Claim pending entries whose backoff has elapsed; dead-letter those out of attempts."""
        handled = 0
        min_idle_ms = int(self.retry_base_s * 1000)
        for stream in self.streams:
            pending = cast(
                "list[dict[str, Any]]",
                await self.redis.xpending_range(stream, self.group, min="-", max="+", count=100, idle=min_idle_ms),
            )
            for item in pending:
                entry_id = item["message_id"]
                deliveries = int(item["times_delivered"])
                idle_ms = int(item["time_since_delivered"])
                if deliveries >= self.max_deliveries:
                    await self._dead_letter(stream, entry_id, deliveries)
                    continue
                # Exponential backoff: wait base * 2^(deliveries-1) since the last delivery.
                if idle_ms < self.retry_base_s * 1000 * 2 ** (deliveries - 1):
                    continue
                claimed = cast(
                    "list[tuple[bytes, dict[bytes, bytes] | None]]",
                    await self.redis.xclaim(
                        stream, self.group, self.consumer_name, min_idle_time=min_idle_ms, message_ids=[entry_id]
                    ),
                )
                for claimed_id, fields in claimed:
                    if fields is not None and await self._handle(stream, claimed_id, fields):
                        handled += 1
        return handled

    async def _handle(self, stream: str, entry_id: bytes | str, fields: dict[bytes, bytes]) -> bool:
        try:
            event = Event.from_fields(fields)
        except (KeyError, ValueError) as exc:
            log.error("bus: malformed entry %s on %s dead-lettered: %s", entry_id, stream, exc)
            await self._dead_letter(stream, entry_id, 0, fields=fields, error=f"malformed: {exc}")
            return False
        if self.event_types is not None and event.event_type not in self.event_types:
            await self.redis.xack(stream, self.group, entry_id)
            return False
        try:
            async with self.pool.acquire() as conn, conn.transaction():
                first_time = await conn.fetchval(
                    f'INSERT INTO "{self.schema}".processed_events (consumer_group, event_id) '
                    f"VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING true",
                    self.group,
                    event.event_id,
                )
                if first_time:
                    await self.handler(event, conn)
        except Exception as exc:  # noqa: BLE001 - any handler failure means retry later
            log.warning("bus: %s failed handling %s (%s): %s", self.group, event.event_type, event.event_id, exc)
            await self.redis.hset(self._errors_key(stream), _text(entry_id), str(exc)[:500])
            return False
        await self.redis.xack(stream, self.group, entry_id)
        return True

    async def _dead_letter(
        self,
        stream: str,
        entry_id: bytes | str,
        deliveries: int,
        *,
        fields: dict[bytes, bytes] | None = None,
        error: str | None = None,
    ) -> None:
        if fields is None:
            entries = cast("list[StreamEntry]", await self.redis.xrange(stream, min=entry_id, max=entry_id))
            fields = entries[0][1] if entries else {}
        last_error = error or await self.redis.hget(self._errors_key(stream), _text(entry_id))
        dead = {_text(k): _text(v) for k, v in fields.items()}
        dead.update(
            {
                "source_stream": stream,
                "source_id": _text(entry_id),
                "group": self.group,
                "deliveries": str(deliveries),
                "error": _text(last_error) if last_error else "",
            }
        )
        pipe = self.redis.pipeline(transaction=True)
        pipe.xadd(DEAD_LETTER_STREAM, dead, maxlen=STREAM_MAXLEN, approximate=True)  # type: ignore[arg-type]
        pipe.xack(stream, self.group, entry_id)
        pipe.hdel(self._errors_key(stream), _text(entry_id))
        await pipe.execute()
        log.error("bus: %s dead-lettered %s from %s after %d deliveries", self.group, entry_id, stream, deliveries)

    def _errors_key(self, stream: str) -> str:
        return f"cortex:bus:errors:{self.group}:{stream}"

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until `stop` is set; survives Redis and Postgres outages by backing off."""
        delay = 0.5
        while not stop.is_set():
            try:
                await self.run_once()
                delay = 0.5
            except (RedisError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                self._groups_ready = False
                log.warning("bus consumer %s: %s; retrying in %.1fs", self.group, exc, delay)
                try:
                    await asyncio.wait_for(stop.wait(), timeout=delay)
                except TimeoutError:
                    pass
                delay = min(delay * 2, 10.0)

    async def lag(self) -> dict[str, dict[str, int]]:
        """Per stream: entries not yet delivered to the group (`lag`) and delivered but unacked."""
        return await group_lag(self.redis, self.group, self.streams)


async def group_lag(redis: aioredis.Redis, group: str, streams: Iterable[str]) -> dict[str, dict[str, int]]:
    """The lag metric: undelivered (`lag`) and unacknowledged (`pending`) entries per stream."""
    result: dict[str, dict[str, int]] = {}
    for stream in streams:
        try:
            groups = await redis.xinfo_groups(stream)
        except ResponseError:
            result[stream] = {"lag": 0, "pending": 0}
            continue
        for info in groups:
            name = _text(info.get("name", b""))
            if name == group:
                result[stream] = {"lag": int(info.get("lag") or 0), "pending": int(info.get("pending") or 0)}
    return result


def _as_dict(payload: dict[str, Any] | str) -> dict[str, Any]:
    """jsonb arrives decoded on pools with our codec, as text on plain connections."""
    return orjson.loads(payload) if isinstance(payload, str) else payload


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
