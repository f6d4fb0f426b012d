"""Live conversation streams: cursors, the SSE framing, and a slow client's queue."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import orjson

from cortex.core.live import RESYNC, LiveHub, message_update, parse_cursor, sse, status_update


def test_a_cursor_is_a_message_id_a_zoned_time_or_start() -> None:
    message_id = uuid.uuid4()
    assert parse_cursor(str(message_id)) == message_id
    moment, _ = parse_cursor("2026-01-02T03:04:05Z")  # type: ignore[misc]
    assert moment == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert parse_cursor("start")[0].year == 1970  # type: ignore[index]
    assert parse_cursor("2026-01-02T03:04:05") is None, "a time without a zone is ambiguous"
    assert parse_cursor("yesterday") is None


def test_messages_carry_their_id_so_a_reconnect_resumes_after_them() -> None:
    conversation_id = uuid.uuid4()
    row = {
        "id": uuid.uuid4(),
        "role": "agent",
        "content": "Hello, I'm Sam from the team",
        "citations": [],
        "actions": [],
        "direct_answer": False,
        "degraded": False,
        "interrupted": False,
        "created_at": datetime.now(UTC),
    }
    frame = sse(message_update(row, conversation_id)).decode()
    assert frame.startswith(f"id: {row['id']}\nevent: message\ndata: ") and frame.endswith("\n\n")
    assert orjson.loads(frame.split("data: ", 1)[1])["content"] == row["content"]
    status = sse(status_update(conversation_id, "handoff", None)).decode()
    assert status.startswith("event: status\ndata: ") and "id:" not in status


async def test_a_stalled_client_is_told_to_re_read_instead_of_growing_a_backlog() -> None:
    hub = LiveHub(redis=None)  # type: ignore[arg-type]
    conversation_id = uuid.uuid4()
    async with hub.listen(conversation_id) as queue, hub.listen(uuid.uuid4()) as other:
        for n in range(1000):
            hub._deliver(str(conversation_id), {"type": "message", "id": str(n)})
        assert queue.qsize() < 300 and other.empty()
        items = [queue.get_nowait() for _ in range(queue.qsize())]
        assert RESYNC in items
    assert hub._listeners == {}, "a closed stream leaves nothing behind"
    assert not await hub.wait_ready(0.01)
    await asyncio.sleep(0)


class _Pool:
    """Just enough of an asyncpg pool: the store functions are replaced below."""

    def acquire(self) -> _Pool:
        return self

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, *exc: object) -> None:
        return None


def _message(content: str, second: int) -> dict:
    return {
        "id": uuid.uuid4(),
        "role": "visitor",
        "content": content,
        "citations": [],
        "actions": [],
        "direct_answer": False,
        "degraded": False,
        "interrupted": False,
        "created_at": datetime(2026, 1, 1, 0, 0, second, tzinfo=UTC),
    }


async def test_a_stream_sends_each_message_once_and_no_late_doorbell_for_old_ones(monkeypatch) -> None:
    from cortex.core import live

    conversation_id = uuid.uuid4()
    table = [_message("old", 1), _message("older news", 2)]

    async def get_conversation(conn, *, workspace_id, conversation_id):
        return {"status": "open", "assigned_agent": None}

    async def last_message_position(conn, *, workspace_id, conversation_id):
        return (table[-1]["created_at"], table[-1]["id"])

    async def messages_after(conn, *, workspace_id, conversation_id, after, limit):
        return [m for m in table if (m["created_at"], m["id"]) > after][:limit]

    monkeypatch.setattr(live.store, "get_conversation", get_conversation)
    monkeypatch.setattr(live.store, "last_message_position", last_message_position)
    monkeypatch.setattr(live.store, "messages_after", messages_after)
    hub = LiveHub(redis=None)  # type: ignore[arg-type]
    stream = live.ConversationStream(
        db=_Pool(),  # type: ignore[arg-type]
        hub=hub,
        workspace_id=uuid.uuid4(),
        conversation_id=conversation_id,
        cursor=None,
        heartbeat_s=0.05,
        max_duration_s=0.6,
    )
    events = stream.events()
    assert (await anext(events)).startswith(b"retry: ")
    assert b"event: status" in await anext(events)

    def ring(message: dict) -> None:
        hub._deliver(str(conversation_id), message_update(message, conversation_id))

    ring(table[-1])  # a late doorbell for a message committed before the stream began
    new = _message("new", 3)
    table.append(new)
    ring(new)
    ring(new)  # delivered twice (a redelivered event)
    newer = _message("newer", 4)
    table.append(newer)
    hub._deliver(str(conversation_id), RESYNC)  # the subscription was lost: re-read Postgres
    rest = [chunk async for chunk in events]
    messages = [orjson.loads(c.split(b"data: ", 1)[1]) for c in rest if c.startswith(b"id: ")]
    assert [m["content"] for m in messages] == ["new", "newer"]
    assert b": keep-alive\n\n" in rest, "a quiet stream gets keep-alive comments"
