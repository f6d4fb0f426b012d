"""What every part of the helper's API service shares: its dependencies, the bot check, embedding."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence

import asyncpg
import redis.asyncio as aioredis

from cortex.bus import await_arrival
from cortex.errors import Unavailable
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
        """404 unless the bot is the principal's workspace's, as core's `bot.*` events told the helper
        (another workspace's bot at once); an unknown bot is waited for (its event may be on its way),
        then 503 instead of the 404 while those events are not all read yet."""

        async def known() -> bool | None:
            async with self.db.acquire() as conn:
                owner = await store.workspace_of_bot(conn, bot_id=bot_id)
            return None if owner is None else owner == principal.workspace_id

        await await_arrival(
            known, redis=self.redis, group=GROUP, event_type="bot.created", what="bot", wait_s=BOT_ARRIVAL_WAIT_S
        )

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
