"""Bots: the workspace's chat bots, and the config the widget shows of one (cached in Redis)."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import asyncpg
import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from cortex import bus
from cortex.core import schemas, store
from cortex.core.llm_limits import LLMLimits
from cortex.errors import NotFound
from cortex.http.security import Principal
from cortex.settings import Settings, get_settings

log = logging.getLogger("cortex.core")

WIDGET_CONFIG_KEY = "cortex:widget-config:"
# Every widget load asks for its bot's config; a change drops the entry at once, so the TTL
# only bounds what a missed invalidation (Redis down at that moment) can leave stale.
WIDGET_CONFIG_TTL_S = 600


def bot_public(row: asyncpg.Record) -> schemas.BotPublic:
    return schemas.BotPublic(**dict(row))


async def forget_widget_config(redis: aioredis.Redis | None, bot_id: uuid.UUID | str) -> None:
    """Drop a bot's cached widget config (after a change has committed)."""
    if redis is not None:
        await redis.delete(WIDGET_CONFIG_KEY + str(bot_id))


class BotService:
    """The bots of one workspace at a time (the principal's)."""

    def __init__(
        self, *, db: asyncpg.Pool, redis: aioredis.Redis | None = None, settings: Settings | None = None
    ) -> None:
        self.db = db
        self.redis = redis
        self.llm_limits = LLMLimits.from_settings(settings or get_settings())

    async def create_bot(self, principal: Principal, data: schemas.BotIn) -> schemas.BotPublic:
        """A new bot, within the operator's LLM limits for the workspace's plan (422 beyond them)."""
        self.llm_limits.check(data.llm, plan=principal.plan)
        async with self.db.acquire() as conn, conn.transaction():
            row = await store.create_bot(
                conn, workspace_id=principal.workspace_id, bot_id=uuid.uuid4(), fields=data.model_dump(mode="json")
            )
            await bus.emit(
                conn,
                schema="core",
                event_type="bot.created",
                workspace_id=principal.workspace_id,
                payload={"bot_id": str(row["id"]), "name": row["name"]},
            )
        return bot_public(row)

    async def get_bot(self, principal: Principal, bot_id: uuid.UUID) -> schemas.BotPublic:
        async with self.db.acquire() as conn:
            row = await store.get_bot(conn, workspace_id=principal.workspace_id, bot_id=bot_id)
        if row is None:
            raise NotFound("bot not found")
        return bot_public(row)

    async def list_bots(self, principal: Principal) -> list[schemas.BotPublic]:
        async with self.db.acquire() as conn:
            rows = await store.list_bots(conn, workspace_id=principal.workspace_id)
        return [bot_public(row) for row in rows]

    async def update_bot(self, principal: Principal, bot_id: uuid.UUID, data: schemas.BotUpdate) -> schemas.BotPublic:
        """The given fields change; new LLM settings must be within the operator's limits (422 beyond them)."""
        if data.llm is not None:
            self.llm_limits.check(data.llm, plan=principal.plan)
        changes = data.model_dump(mode="json", exclude_unset=True)
        changes = {key: value for key, value in changes.items() if value is not None}
        async with self.db.acquire() as conn, conn.transaction():
            row = await store.update_bot(conn, workspace_id=principal.workspace_id, bot_id=bot_id, changes=changes)
            if row is None:
                raise NotFound("bot not found")
            await bus.emit(
                conn,
                schema="core",
                event_type="bot.updated",
                workspace_id=principal.workspace_id,
                payload={"bot_id": str(bot_id), "fields": sorted(changes)},
            )
        await self._forget_widget_config(bot_id)
        return bot_public(row)

    async def delete_bot(self, principal: Principal, bot_id: uuid.UUID) -> None:
        async with self.db.acquire() as conn, conn.transaction():
            if not await store.delete_bot(conn, workspace_id=principal.workspace_id, bot_id=bot_id):
                raise NotFound("bot not found")
            await bus.emit(
                conn,
                schema="core",
                event_type="bot.deleted",
                workspace_id=principal.workspace_id,
                payload={"bot_id": str(bot_id)},
            )
        await self._forget_widget_config(bot_id)

    async def widget_config(self, principal: Principal, bot_id: uuid.UUID) -> schemas.WidgetConfig:
        """The bot as the widget shows it; cached in Redis (every widget load asks for it)."""
        if principal.kind == "visitor" and principal.bot_id != bot_id:
            raise NotFound("bot not found")
        key = WIDGET_CONFIG_KEY + str(bot_id)
        cached = await self._cache_get(key)
        if cached is not None and cached["workspace_id"] == str(principal.workspace_id):
            return schemas.WidgetConfig(**cached["config"])
        async with self.db.acquire() as conn:
            row = await store.get_bot(conn, workspace_id=principal.workspace_id, bot_id=bot_id)
        if row is None:
            raise NotFound("bot not found")
        config = schemas.WidgetConfig(
            bot_id=row["id"],
            name=row["name"],
            welcome_message=row["welcome_message"],
            language=row["language"],
            appearance=schemas.Appearance(**row["appearance"]),
            lead_fields=list(row["lead_fields"]),
        )
        entry = {"workspace_id": str(principal.workspace_id), "config": config.model_dump(mode="json")}
        await self._cache_set(key, entry, WIDGET_CONFIG_TTL_S)
        return config

    async def _forget_widget_config(self, bot_id: uuid.UUID) -> None:
        try:
            await forget_widget_config(self.redis, bot_id)
        except RedisError as exc:  # the TTL and core's bot.updated consumer catch up
            log.warning("could not drop the widget config of bot %s: %r", bot_id, exc)

    async def _cache_get(self, key: str) -> dict[str, Any] | None:
        if self.redis is None:
            return None
        try:
            raw = await self.redis.get(key)
        except RedisError as exc:  # a cache: the database answers instead
            log.warning("widget config cache unavailable: %r", exc)
            return None
        return orjson.loads(raw) if raw else None

    async def _cache_set(self, key: str, value: dict[str, Any], ttl_s: int) -> None:
        if self.redis is None:
            return
        try:
            await self.redis.set(key, orjson.dumps(value), ex=ttl_s)
        except RedisError as exc:
            log.warning("widget config cache unavailable: %r", exc)
