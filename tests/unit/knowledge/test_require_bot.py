"""The bot check waits briefly for core's `bot.created` event, then answers 404, or 503 while bot events
are still unread; it never asks core."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from types import SimpleNamespace
from typing import Any

import pytest

from cortex.errors import NotFound, Unavailable
from cortex.knowledge import store
from cortex.knowledge.service import KnowledgeService, base
from cortex.settings import Settings


class _Pool:
    @asynccontextmanager
    async def acquire(self) -> AsyncIterator[None]:
        yield None


class _Streams:
    """XINFO GROUPS of the bot stream, as Redis answers it: how far each consumer group is behind."""

    def __init__(self, lag: int | None = 0, pending: int = 0) -> None:
        self.lag, self.pending = lag, pending

    async def xinfo_groups(self, name: str) -> list[dict[str, Any]]:
        assert name == "cortex:events:bot"
        return [{"name": b"knowledge", "lag": self.lag, "pending": self.pending}]


def _service(streams: _Streams | None = None) -> KnowledgeService:
    resources: Any = SimpleNamespace(db=_Pool(), settings=Settings(), redis=streams or _Streams())
    return KnowledgeService(resources, indexer=None, retriever=None, object_store=None, launcher=None)  # type: ignore[arg-type]


def _principal() -> Any:
    return SimpleNamespace(workspace_id=uuid.uuid4())


async def test_a_bot_whose_event_arrives_a_moment_later_is_found(monkeypatch: pytest.MonkeyPatch) -> None:
    checks = 0

    async def bot_exists(conn: None, *, workspace_id: uuid.UUID, bot_id: uuid.UUID) -> bool:
        nonlocal checks
        checks += 1
        return checks >= 3  # the event lands between the second and third look

    monkeypatch.setattr(store, "bot_exists", bot_exists)
    started = time.monotonic()
    await _service().require_bot(_principal(), uuid.uuid4())
    assert checks == 3 and time.monotonic() - started < base.BOT_ARRIVAL_WAIT_S


async def test_an_unknown_bot_is_404_once_the_wait_is_over(monkeypatch: pytest.MonkeyPatch) -> None:
    checks = 0

    async def bot_exists(conn: None, *, workspace_id: uuid.UUID, bot_id: uuid.UUID) -> bool:
        nonlocal checks
        checks += 1
        return False

    monkeypatch.setattr(store, "bot_exists", bot_exists)
    monkeypatch.setattr(base, "BOT_ARRIVAL_WAIT_S", 0.3)
    started = time.monotonic()
    with pytest.raises(NotFound):
        await _service().require_bot(_principal(), uuid.uuid4())
    elapsed = time.monotonic() - started
    assert 0.3 <= elapsed < 0.6 and checks >= 3


@pytest.mark.parametrize(
    "streams", [_Streams(lag=1), _Streams(pending=1), _Streams(lag=None)], ids=["lag", "pending", "lag-unknown"]
)
async def test_an_unknown_bot_is_503_while_bot_events_are_unread(
    monkeypatch: pytest.MonkeyPatch, streams: _Streams
) -> None:
    async def bot_exists(conn: None, *, workspace_id: uuid.UUID, bot_id: uuid.UUID) -> bool:
        return False

    monkeypatch.setattr(store, "bot_exists", bot_exists)
    monkeypatch.setattr(base, "BOT_ARRIVAL_WAIT_S", 0.1)
    with pytest.raises(Unavailable) as refused:
        await _service(streams).require_bot(_principal(), uuid.uuid4())
    assert refused.value.headers["Retry-After"], "the owner's client is told when to try again"
