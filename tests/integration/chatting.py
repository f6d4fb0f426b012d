"""Helpers for tests that chat through the gateway: bots, widget visitors, SSE streams."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

from cortex.knowledge.teach import teach_documents
from cortex.models.embedder import LocalEmbed
from cortex.settings import Settings

from .accounts import Account

ORIGIN = "https://shop.example"


async def make_bot(http: httpx.AsyncClient, owner: Account, **fields: object) -> dict:
    """A bot on the extractive backend (the product's default without an LLM endpoint) unless `llm` is given."""
    body = {"name": "Shop", "llm": {"backend": "extractive"}, **fields}
    response = await http.post("/api/bots", json=body, headers=owner.headers)
    assert response.status_code == 201, response.text
    return response.json()


async def taught_bot(
    http: httpx.AsyncClient,
    settings: Settings,
    owner: Account,
    documents: list[dict[str, str]],
    *,
    embed: LocalEmbed | None = None,
    **fields: object,
) -> dict:
    """`make_bot`'s bot, taught `documents` ({id, title, text}) with the real chunker, embedder and indexes."""
    bot = await make_bot(http, owner, **fields)
    await teach_documents(
        settings,
        workspace_id=uuid.UUID(owner.workspace_id),
        bot_id=uuid.UUID(bot["id"]),
        documents=documents,
        embed=embed or LocalEmbed(),
    )
    return bot


@dataclass
class Visitor:
    http: httpx.AsyncClient
    token: str
    bot_id: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "Origin": ORIGIN}

    async def say(self, message: str, conversation_id: str | None = None) -> dict:
        """One non-streamed turn; the chat answer (conversation_id, message_id, content, …)."""
        body = {"bot_id": self.bot_id, "message": message, "conversation_id": conversation_id, "stream": False}
        response = await self.http.post("/api/chat", json=body, headers=self.headers, timeout=120)
        assert response.status_code == 200, response.text
        return response.json()

    async def chat_events(self, message: str, conversation_id: str | None = None) -> list[dict]:
        """One streamed turn's events (meta, token…, done)."""
        body = {"bot_id": self.bot_id, "message": message, "conversation_id": conversation_id}
        events: list[dict] = []
        async with self.http.stream("POST", "/api/chat", json=body, headers=self.headers, timeout=120) as response:
            assert response.status_code == 200, (await response.aread()).decode()
            async for event in sse_events(response.aiter_lines()):
                events.append(event)
        return events


async def make_pattern(http: httpx.AsyncClient, owner: Account, **fields: object) -> dict:
    """A helper pattern made through the API (POST /api/helper/patterns; `fields` as PatternCreate takes them)."""
    response = await http.post("/api/helper/patterns", json=fields, headers=owner.headers)
    assert response.status_code == 201, response.text
    return response.json()


async def visitor_of(http: httpx.AsyncClient, owner: Account, bot: dict) -> Visitor:
    """A new widget visitor of `bot` (its own visitor id), through a widget key and the token exchange."""
    key = await http.post(
        "/api/auth/widget-keys", json={"bot_id": bot["id"], "allowed_origins": [ORIGIN]}, headers=owner.headers
    )
    assert key.status_code == 201, key.text
    token = await http.post(
        "/api/auth/visitor-token", json={"public_key": key.json()["public_key"]}, headers={"Origin": ORIGIN}
    )
    assert token.status_code == 200, token.text
    return Visitor(http, token.json()["visitor_token"], bot["id"])


async def sse_events(lines: AsyncIterator[str]) -> AsyncIterator[dict]:
    """Server-sent events as dicts: {"event", "id"?, **data}; comments as {"event": "comment"}."""
    name: str | None = None
    event_id: str | None = None
    async for line in lines:
        if line.startswith(":"):
            yield {"event": "comment", "text": line[1:].strip()}
        elif line.startswith("event: "):
            name = line[7:]
        elif line.startswith("id: "):
            event_id = line[4:]
        elif line.startswith("data: "):
            event = {"event": name, **orjson.loads(line[6:])}
            if event_id is not None:
                event["id"] = event_id
            yield event
        elif line == "":
            name, event_id = None, None


@dataclass
class LiveStream:
    """A conversation's live stream read in the background; events land in `queue` as they arrive."""

    response: httpx.Response | None = None
    queue: asyncio.Queue[tuple[float, dict]] = field(default_factory=asyncio.Queue)
    seen: list[dict] = field(default_factory=list)

    async def next(self, within_s: float = 10.0, *, skip_comments: bool = True) -> tuple[float, dict]:
        """(arrival time, event) of the next event."""
        deadline = time.monotonic() + within_s
        while True:
            arrived, event = await asyncio.wait_for(self.queue.get(), timeout=max(0.01, deadline - time.monotonic()))
            self.seen.append(event)
            if not (skip_comments and event["event"] == "comment"):
                return arrived, event

    async def until(self, predicate: Callable[[dict], bool], within_s: float = 10.0) -> tuple[float, dict]:
        deadline = time.monotonic() + within_s
        while True:
            arrived, event = await self.next(max(0.01, deadline - time.monotonic()))
            if predicate(event):
                return arrived, event


@contextlib.asynccontextmanager
async def live_stream(
    http: httpx.AsyncClient, conversation_id: str, headers: dict[str, str], *, params: dict | None = None
) -> AsyncIterator[LiveStream]:
    """Open GET /api/live/conversations/{id}/stream and read it in the background until the block ends."""
    stream = LiveStream()
    opened: asyncio.Future[httpx.Response] = asyncio.get_running_loop().create_future()

    async def read() -> None:
        try:
            async with http.stream(
                "GET", f"/api/live/conversations/{conversation_id}/stream", headers=headers, params=params, timeout=60
            ) as response:
                opened.set_result(response)
                if response.status_code != 200:
                    await response.aread()
                    return
                async for event in sse_events(response.aiter_lines()):
                    stream.queue.put_nowait((time.monotonic(), event))
        except Exception as exc:  # noqa: BLE001 - surfaced to the test through `opened`
            if not opened.done():
                opened.set_exception(exc)

    task = asyncio.create_task(read())
    stream.response = await asyncio.wait_for(opened, timeout=30)
    try:
        yield stream
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


async def eventually(check: Callable[[], Awaitable[Any]], *, within_s: float = 15.0, what: str = "condition") -> Any:
    """Poll `check()` until it returns something truthy, and return that."""
    deadline = time.monotonic() + within_s
    while True:
        value = await check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.2)


def new_id() -> str:
    return str(uuid.uuid4())
