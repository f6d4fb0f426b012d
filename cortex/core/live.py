"""Live conversation updates: Redis pub/sub per conversation, fed after commit, read as SSE.

Write side: core's own consumer of its events (`message.created`, handoff and status changes;
an event exists only once its change has committed, see cortex.bus) loads the message and
PUBLISHes it on ``cortex:live:conversation:<id>`` (`publish`). Whatever records a message the one
way (`record_message`, cortex.core.service.conversations) is therefore live, with no extra call.

Read side: each replica holds ONE pattern subscription (`LiveHub`) and fans updates out to
the streams open on it. A stream first replays from Postgres what its client missed
(``Last-Event-ID`` or ``?after=``), and replays again whenever the subscription was lost or
the client fell behind, so a reconnecting widget misses nothing; duplicates are dropped by
message id. Pub/sub is only the doorbell: Postgres is the record.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import asyncpg
import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from cortex.core import store
from cortex.core.service.conversations import visible_conversation
from cortex.core.sse import KEEP_ALIVE, frame, retry
from cortex.errors import Invalid, Unavailable
from cortex.http.security import Principal

log = logging.getLogger("cortex.live")

CHANNEL_PREFIX = "cortex:live:conversation:"
# Browsers reconnect an EventSource after this many milliseconds.
RETRY_MS = 3000
# Per open stream: updates buffered for a slow client before it is told to re-read Postgres.
QUEUE_SIZE = 256
# Messages sent per replay query; a conversation longer than this replays in several pages.
REPLAY_PAGE = 500
# Ids remembered per stream to drop an update that arrives both by replay and live.
SEEN_IDS = 2000
# A stream is refused (503) rather than opened on a replica whose subscription is down.
READY_TIMEOUT_S = 2.0
# The start of time for a stream with no cursor that asks for everything (`after=start`).
_ORIGIN = (datetime.fromisoformat("1970-01-01T00:00:00+00:00"), uuid.UUID(int=0))
_MAX_ID = uuid.UUID(int=(1 << 128) - 1)

Cursor = tuple[datetime, uuid.UUID]


class _Resync:
    """Queue marker: updates may have been missed; re-read Postgres from the stream's cursor."""


RESYNC = _Resync()


def channel(conversation_id: uuid.UUID | str) -> str:
    return f"{CHANNEL_PREFIX}{conversation_id}"


def message_update(row: asyncpg.Record | dict[str, Any], conversation_id: uuid.UUID) -> dict[str, Any]:
    """A message as streams send it (the same shape replayed from Postgres and pushed live)."""
    return {
        "type": "message",
        "conversation_id": str(conversation_id),
        "id": str(row["id"]),
        "role": row["role"],
        "content": row["content"],
        "citations": row["citations"] or [],
        "actions": row["actions"] or [],
        "direct_answer": row["direct_answer"],
        "degraded": row["degraded"],
        "interrupted": row["interrupted"],
        "created_at": row["created_at"].isoformat(),
    }


def status_update(conversation_id: uuid.UUID | str, status: str, assigned_agent: uuid.UUID | str | None) -> dict:
    return {
        "type": "status",
        "conversation_id": str(conversation_id),
        "status": status,
        "assigned_agent": str(assigned_agent) if assigned_agent else None,
    }


async def publish(redis: aioredis.Redis, conversation_id: uuid.UUID | str, update: dict[str, Any]) -> None:
    """Ring the doorbell of one conversation's open streams (after the change committed)."""
    await redis.publish(channel(conversation_id), orjson.dumps(update))


def sse(update: dict[str, Any]) -> bytes:
    """One server-sent event: messages carry their id, so a reconnect resumes after them."""
    return frame(update, event=update["type"], event_id=update["id"] if update["type"] == "message" else None)


def parse_cursor(text: str) -> uuid.UUID | Cursor | None:
    """A message id, an ISO timestamp (messages after it), or `start` (everything); None if neither."""
    text = text.strip()
    if text == "start":
        return _ORIGIN
    try:
        return uuid.UUID(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    return (moment, _MAX_ID)  # after every message of that exact instant


class LiveHub:
    """One pattern subscription per replica, fanned out to the streams open on it."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis = redis
        self._listeners: dict[str, set[asyncio.Queue[dict[str, Any] | _Resync]]] = {}
        self._ready = asyncio.Event()

    async def wait_ready(self, timeout_s: float) -> bool:
        """True once subscribed (a stream must not start on a hub that would miss updates)."""
        try:
            await asyncio.wait_for(self._ready.wait(), timeout=timeout_s)
        except TimeoutError:
            return False
        return True

    @contextlib.asynccontextmanager
    async def listen(self, conversation_id: uuid.UUID) -> AsyncIterator[asyncio.Queue[dict[str, Any] | _Resync]]:
        key = str(conversation_id)
        queue: asyncio.Queue[dict[str, Any] | _Resync] = asyncio.Queue(QUEUE_SIZE)
        self._listeners.setdefault(key, set()).add(queue)
        try:
            yield queue
        finally:
            listeners = self._listeners.get(key)
            if listeners is not None:
                listeners.discard(queue)
                if not listeners:
                    del self._listeners[key]

    def _deliver(self, key: str, item: dict[str, Any] | _Resync) -> None:
        for queue in self._listeners.get(key, ()):
            try:
                queue.put_nowait(item)
            except asyncio.QueueFull:  # a stalled client: drop its backlog, it re-reads Postgres
                while not queue.empty():
                    queue.get_nowait()
                queue.put_nowait(RESYNC)

    def _resync_all(self) -> None:
        for key in list(self._listeners):
            self._deliver(key, RESYNC)

    async def run(self, stop: asyncio.Event) -> None:
        """Subscribe until `stop`; after a lost connection every open stream re-reads Postgres."""
        delay = 0.5
        while not stop.is_set():
            pubsub = self.redis.pubsub()
            try:
                await pubsub.psubscribe(CHANNEL_PREFIX + "*")
                while not stop.is_set() and not self._ready.is_set():
                    message = await pubsub.get_message(timeout=1.0)
                    if message and message["type"] == "psubscribe":
                        self._ready.set()
                self._resync_all()  # whatever was published while unsubscribed is only in Postgres
                delay = 0.5
                while not stop.is_set():
                    message = await pubsub.get_message(timeout=1.0)
                    if message is None or message["type"] != "pmessage":
                        continue
                    key = message["channel"].decode()[len(CHANNEL_PREFIX) :]
                    if key in self._listeners:
                        try:
                            self._deliver(key, orjson.loads(message["data"]))
                        except orjson.JSONDecodeError:
                            log.warning("live: dropped a malformed update on %s", message["channel"])
            except (RedisError, OSError) as exc:
                log.warning("live: subscription lost (%s); retrying in %.1fs", exc, delay)
            finally:
                self._ready.clear()
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
            if not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=delay)
                delay = min(delay * 2, 10.0)


class ConversationStream:
    """One client's view of one conversation: status, replay after its cursor, then live updates."""

    def __init__(
        self,
        *,
        db: asyncpg.Pool,
        hub: LiveHub,
        workspace_id: uuid.UUID,
        conversation_id: uuid.UUID,
        cursor: Cursor | None,
        heartbeat_s: float,
        max_duration_s: float,
    ) -> None:
        self.db = db
        self.hub = hub
        self.workspace_id = workspace_id
        self.conversation_id = conversation_id
        self.cursor = cursor
        self.heartbeat_s = heartbeat_s
        self.max_duration_s = max_duration_s
        self._seen: deque[str] = deque(maxlen=SEEN_IDS)
        # Where the stream started: a message at or before it was committed before the stream
        # began and was replayed (or, with no cursor, deliberately left out); a late doorbell for
        # it is not news.
        self._floor: Cursor = _ORIGIN

    async def events(self) -> AsyncIterator[bytes]:
        """SSE bytes until the client leaves or `max_duration_s` passes (the client then reconnects)."""
        deadline = time.monotonic() + self.max_duration_s
        yield retry(RETRY_MS)
        async with self.hub.listen(self.conversation_id) as queue:
            # Listening before reading Postgres: nothing committed in between can be missed.
            chunks, exists = await self._catch_up()
            for chunk in chunks:
                yield chunk
            self._floor = self.cursor or _ORIGIN
            while exists and (remaining := deadline - time.monotonic()) > 0:
                try:
                    item = await asyncio.wait_for(queue.get(), timeout=min(self.heartbeat_s, remaining))
                except TimeoutError:
                    yield KEEP_ALIVE
                    continue
                if isinstance(item, _Resync):
                    chunks, exists = await self._catch_up()
                    for chunk in chunks:
                        yield chunk
                elif item["type"] == "message":
                    if item["id"] not in self._seen and _position(item) > self._floor:
                        self._remember(item)
                        yield sse(item)
                else:
                    yield sse(item)

    async def _catch_up(self) -> tuple[list[bytes], bool]:
        """The current status, then the messages after the cursor; False once the conversation is gone."""
        async with self.db.acquire() as conn:
            row = await store.get_conversation(
                conn, workspace_id=self.workspace_id, conversation_id=self.conversation_id
            )
            if row is None:
                return [frame({}, event="deleted")], False
            chunks = [sse(status_update(self.conversation_id, row["status"], row["assigned_agent"]))]
            if self.cursor is None:  # no cursor: from now on, i.e. after the newest message so far
                newest = await store.last_message_position(
                    conn, workspace_id=self.workspace_id, conversation_id=self.conversation_id
                )
                self.cursor = newest or _ORIGIN
                return chunks, True
            while True:
                rows = await store.messages_after(
                    conn,
                    workspace_id=self.workspace_id,
                    conversation_id=self.conversation_id,
                    after=self.cursor,
                    limit=REPLAY_PAGE,
                )
                for row in rows:
                    update = message_update(row, self.conversation_id)
                    if update["id"] not in self._seen:
                        chunks.append(sse(update))
                    self._remember(update)
                if len(rows) < REPLAY_PAGE:
                    return chunks, True

    def _remember(self, update: dict[str, Any]) -> None:
        self._seen.append(update["id"])
        position = _position(update)
        if self.cursor is None or position > self.cursor:
            self.cursor = position


def _position(update: dict[str, Any]) -> Cursor:
    return (datetime.fromisoformat(update["created_at"]), uuid.UUID(update["id"]))


async def open_stream(
    db: asyncpg.Pool,
    principal: Principal,
    conversation_id: uuid.UUID,
    *,
    cursor_text: str | None,
    hub: LiveHub,
    heartbeat_s: float,
    max_duration_s: float,
) -> AsyncIterator[bytes]:
    """Check access and the cursor now (so errors are plain 4xx), then the SSE byte stream.

    A visitor may stream only their own conversation with their bot; a member any of the
    workspace's.
    """
    async with db.acquire() as conn:
        await visible_conversation(conn, principal, conversation_id)
        cursor: Cursor | None = None
        if cursor_text:
            parsed = parse_cursor(cursor_text)
            if parsed is None:
                raise Invalid("Last-Event-ID / after must be a message id, an ISO timestamp with a zone, or 'start'")
            if isinstance(parsed, uuid.UUID):
                cursor = await store.message_position(
                    conn, workspace_id=principal.workspace_id, conversation_id=conversation_id, message_id=parsed
                )
                if cursor is None:
                    raise Invalid("Last-Event-ID / after names no message of this conversation")
            else:
                cursor = parsed
    if not await hub.wait_ready(READY_TIMEOUT_S):
        raise Unavailable("live updates are unavailable right now; retry shortly")
    stream = ConversationStream(
        db=db,
        hub=hub,
        workspace_id=principal.workspace_id,
        conversation_id=conversation_id,
        cursor=cursor,
        heartbeat_s=heartbeat_s,
        max_duration_s=max_duration_s,
    )
    return stream.events()
