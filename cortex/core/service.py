"""Core logic: bots and conversations (the chat pipeline lives in cortex.core.chat)."""

from __future__ import annotations

import csv
import io
import uuid
from typing import Any

import asyncpg

from cortex import bus
from cortex.core import schemas, store
from cortex.errors import NotFound
from cortex.http.security import Principal


def bot_public(row: asyncpg.Record) -> schemas.BotPublic:
    return schemas.BotPublic(**dict(row))


def conversation_public(row: asyncpg.Record) -> schemas.ConversationPublic:
    return schemas.ConversationPublic(**dict(row))


def message_public(row: asyncpg.Record) -> schemas.MessagePublic:
    return schemas.MessagePublic(**dict(row))


class CoreService:
    """Bots and conversations of one workspace at a time (the principal's)."""

    def __init__(self, *, db: asyncpg.Pool) -> None:
        self.db = db

    # -- bots ----------------------------------------------------------------------------------
    async def create_bot(self, principal: Principal, data: schemas.BotIn) -> schemas.BotPublic:
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

    # -- conversations -------------------------------------------------------------------------
    async def list_conversations(self, principal: Principal, **filters: Any) -> list[schemas.ConversationPublic]:
        async with self.db.acquire() as conn:
            rows = await store.list_conversations(conn, workspace_id=principal.workspace_id, **filters)
        return [conversation_public(row) for row in rows]

    async def get_conversation(self, principal: Principal, conversation_id: uuid.UUID) -> schemas.ConversationDetail:
        async with self.db.acquire() as conn:
            row = await store.get_conversation(
                conn, workspace_id=principal.workspace_id, conversation_id=conversation_id
            )
            if row is None:
                raise NotFound("conversation not found")
            messages = await store.list_messages(
                conn, workspace_id=principal.workspace_id, conversation_id=conversation_id
            )
        return schemas.ConversationDetail(
            **conversation_public(row).model_dump(), messages=[message_public(m) for m in messages]
        )

    async def update_conversation(
        self, principal: Principal, conversation_id: uuid.UUID, data: schemas.ConversationUpdate
    ) -> schemas.ConversationPublic:
        async with self.db.acquire() as conn, conn.transaction():
            row = await store.update_conversation(
                conn,
                workspace_id=principal.workspace_id,
                conversation_id=conversation_id,
                status=data.status,
                outcomes=sorted(set(data.outcomes)) if data.outcomes is not None else None,
            )
            if row is None:
                raise NotFound("conversation not found")
            await bus.emit(
                conn,
                schema="core",
                event_type="conversation.updated",
                workspace_id=principal.workspace_id,
                payload={
                    "conversation_id": str(conversation_id),
                    "status": row["status"],
                    "outcomes": list(row["outcomes"]),
                },
            )
        return conversation_public(row)

    async def delete_conversation(self, principal: Principal, conversation_id: uuid.UUID) -> None:
        async with self.db.acquire() as conn:
            if not await store.delete_conversation(
                conn, workspace_id=principal.workspace_id, conversation_id=conversation_id
            ):
                raise NotFound("conversation not found")

    async def export_conversations(self, principal: Principal, *, fmt: str, **filters: Any) -> tuple[str, str]:
        """All matching conversations with their messages, as (content type, body)."""
        conversations = await self.list_conversations(principal, **filters)
        details = [await self.get_conversation(principal, c.id) for c in conversations]
        if fmt == "json":
            import orjson

            return "application/json", orjson.dumps([d.model_dump(mode="json") for d in details]).decode()
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(["conversation_id", "bot_id", "status", "message_id", "role", "created_at", "content"])
        for detail in details:
            for message in detail.messages:
                writer.writerow(
                    [
                        detail.id,
                        detail.bot_id,
                        detail.status,
                        message.id,
                        message.role,
                        message.created_at.isoformat(),
                        _csv_safe(message.content),
                    ]
                )
        return "text/csv; charset=utf-8", buffer.getvalue()


def _csv_safe(text: str) -> str:
    """Neutralise spreadsheet formulas in visitor-written text (CSV injection)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
