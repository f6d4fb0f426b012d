"""What every part of the helper's API service shares: its dependencies, the bot check, embedding."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence

import asyncpg
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from cortex.bus import stream_for
from cortex.errors import NotFound, Unavailable
from cortex.helper import store
from cortex.helper.analysis import Analyser
from cortex.helper.events import GROUP
from cortex.http.app import ServiceResources
from cortex.http.security import Principal

log = logging.getLogger("cortex.helper")

#: Texts in, one vector each out: the Embedder deployment's handle on Serve, the model in one process.
Embed = Callable[[list[str]], Awaitable[list[list[float]]]]

# Bots reach the helper through core's `bot.created` event (outbox, stream, this service's consumer:
# tens of milliseconds when idle). A request naming a bot created a moment ago can overtake it, so an
# unknown bot is looked for again, backing off from 50 ms, for up to 2 s before the 404.
BOT_ARRIVAL_WAIT_S = 2.0
_BOT_FIRST_RETRY_S = 0.05
# Embedding a few hundred examples (an import) takes a few seconds on one CPU; one question ~10 ms.
EMBED_TIMEOUT_S = 60.0
EMBED_BATCH = 64  # texts per Embedder call: the deployment batches callers up to this size


async def no_embedder(texts: list[str]) -> list[list[float]]:
    """The API without an Embedder (cortex.routes walks the routes without one)."""
    raise Unavailable("this process has no embedder")


class ServiceBase:
    """The helper API's dependencies and the steps its domains share."""

    def __init__(self, resources: ServiceResources, *, embed: Embed) -> None:
        assert resources.db is not None
        self.db: asyncpg.Pool = resources.db
        self.redis: aioredis.Redis | None = resources.redis
        self.settings = resources.settings
        self.embed_texts = embed
        self._analyser: Analyser | None = None

    @property
    def analyser(self) -> Analyser:
        """The intent classifier's weights, loaded on first use (the Guide loads its own)."""
        if self._analyser is None:
            self._analyser = Analyser()
        return self._analyser

    async def require_bot(self, principal: Principal, bot_id: uuid.UUID) -> None:
        """404 unless the bot is the principal's workspace's, as core's `bot.*` events told the helper;
        an unknown bot is waited for (its event may be on its way), then 503 instead of the 404 while
        those events are not all read yet (Redis down, or the consumer behind)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + BOT_ARRIVAL_WAIT_S
        pause = _BOT_FIRST_RETRY_S
        while True:
            async with self.db.acquire() as conn:
                owner = await store.workspace_of_bot(conn, bot_id=bot_id)
            if owner == principal.workspace_id:
                return
            if owner is not None:
                raise NotFound("bot not found")  # another workspace's
            remaining = deadline - loop.time()
            if remaining <= 0:
                if await self._bot_events_read():
                    raise NotFound("bot not found")
                raise Unavailable("bots are not up to date yet, try again shortly", headers={"Retry-After": "2"})
            await asyncio.sleep(min(pause, remaining))
            pause *= 2

    async def _bot_events_read(self) -> bool:
        """Whether the helper's consumer group has handled every `bot.*` event published."""
        if self.redis is None:
            return False
        try:
            groups = await self.redis.xinfo_groups(stream_for("bot.created"))
        except RedisError:
            return False
        for group in groups:
            name = group["name"].decode() if isinstance(group["name"], bytes) else group["name"]
            if name == GROUP:
                return group.get("lag") == 0 and group.get("pending") == 0
        return False

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One vector per text, through the Embedder; 503 when it cannot answer."""
        vectors: list[list[float]] = []
        try:
            async with asyncio.timeout(EMBED_TIMEOUT_S):
                for start in range(0, len(texts), EMBED_BATCH):
                    vectors.extend(await self.embed_texts(list(texts[start : start + EMBED_BATCH])))
        except Unavailable:
            raise
        except Exception as exc:  # noqa: BLE001 - a handle's or model's failure: the caller may retry
            log.warning("embedding failed: %r", exc)
            raise Unavailable("the embedder is unavailable, try again shortly", headers={"Retry-After": "5"}) from None
        if len(vectors) != len(texts):
            raise Unavailable("the embedder answered with the wrong number of vectors")
        return [[float(x) for x in vector] for vector in vectors]
