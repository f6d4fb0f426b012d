"""Conversations and their messages: the dashboard's transcripts, a visitor's view of their own,
feedback on replies, and the one way a message is recorded."""

from __future__ import annotations

import csv
import io
import uuid
from typing import Any

import asyncpg
import orjson

from cortex import bus
from cortex.core import outcomes, schemas, store
from cortex.core.applied import AppliedGuidance
from cortex.core.service import closing
from cortex.errors import NotFound
from cortex.http.security import Principal

VISITOR_HISTORY_LIMIT = 200  # messages a returning visitor sees again


def conversation_public(row: asyncpg.Record) -> schemas.ConversationPublic:
    return schemas.ConversationPublic(**dict(row))


def message_public(row: asyncpg.Record) -> schemas.MessagePublic:
    """A message as anyone who may read the conversation sees it (its visitor included)."""
    return schemas.MessagePublic(**dict(row))


def message_detail(row: asyncpg.Record) -> schemas.MessageDetail:
    """A message as the workspace's members see it: with the guidance applied to a bot reply."""
    return schemas.MessageDetail(**dict(row))


async def record_message(
    conn: asyncpg.Connection,
    *,
    workspace_id: uuid.UUID,
    bot_id: uuid.UUID,
    conversation_id: uuid.UUID,
    message_id: uuid.UUID,
    role: str,
    event_extra: dict[str, Any] | None = None,
    applied: AppliedGuidance | None = None,
    **message: Any,
) -> None:
    """Store a message and announce it (message.created) in the same transaction; a bot message
    with what the helper's guidance did to it (`applied`), on both."""
    await store.add_message(
        conn,
        workspace_id=workspace_id,
        conversation_id=conversation_id,
        message_id=message_id,
        role=role,
        **(applied.columns() if applied is not None else {}),
        **message,
    )
    await bus.emit(
        conn,
        schema="core",
        event_type="message.created",
        workspace_id=workspace_id,
        payload={
            "conversation_id": str(conversation_id),
            "message_id": str(message_id),
            "role": role,
            "bot_id": str(bot_id),
            **(event_extra or {}),
            **(applied.event_fields() if applied is not None else {}),
        },
    )


async def start_conversation(
    conn: asyncpg.Connection, *, workspace_id: uuid.UUID, bot_id: uuid.UUID, visitor_id: str | None
) -> uuid.UUID:
    """A new open conversation, and the visitor's profile on first contact. The caller announces
    it (`conversation.started`) in the same transaction."""
    conversation_id = uuid.uuid4()
    profile_id = (
        await store.ensure_profile(conn, workspace_id=workspace_id, visitor_id=visitor_id) if visitor_id else None
    )
    await store.create_conversation(
        conn,
        workspace_id=workspace_id,
        conversation_id=conversation_id,
        bot_id=bot_id,
        visitor_id=visitor_id,
        profile_id=profile_id,
    )
    return conversation_id


async def visible_conversation(
    conn: asyncpg.Connection, principal: Principal, conversation_id: uuid.UUID, *, for_update: bool = False
) -> asyncpg.Record:
    """The conversation if the caller may see it: a visitor only their own, with their bot (with
    `for_update`, locked until the caller's transaction ends)."""
    row = await store.get_conversation(
        conn, workspace_id=principal.workspace_id, conversation_id=conversation_id, for_update=for_update
    )
    foreign = principal.kind == "visitor" and (
        row is None or row["visitor_id"] != principal.subject or row["bot_id"] != principal.bot_id
    )
    if row is None or foreign:
        raise NotFound("conversation not found")
    return row


class ConversationService:
    """The conversations of one workspace at a time (the principal's)."""

    def __init__(self, *, db: asyncpg.Pool) -> None:
        self.db = db

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
            **conversation_public(row).model_dump(), messages=[message_detail(m) for m in messages]
        )

    async def update_conversation(
        self, principal: Principal, conversation_id: uuid.UUID, data: schemas.ConversationUpdate
    ) -> schemas.ConversationPublic:
        """Status and labels set by a member. Closing announces `conversation.closed` (by "member"),
        with the member's labels or those closing would give; relabelling a closed conversation
        announces its closing again; a closed one set open (or handed off) reopens."""
        workspace_id = principal.workspace_id
        async with self.db.acquire() as conn, conn.transaction():
            row = await store.get_conversation(
                conn, workspace_id=workspace_id, conversation_id=conversation_id, for_update=True
            )
            if row is None:
                raise NotFound("conversation not found")
            was_closed = row["status"] == "closed"
            if data.status == "closed" and not was_closed:
                row = await closing.close_by_member(
                    conn, workspace_id=workspace_id, conversation=row, given=data.outcomes
                )
            elif data.status in ("open", "handoff") and was_closed:
                row = await closing.reopen(
                    conn, workspace_id=workspace_id, conversation=row, status=data.status, given=data.outcomes
                )
                return conversation_public(row)  # announced as updated by the reopening
            else:
                before = outcomes.ordered(row["outcomes"])
                given = data.outcomes
                if given is not None:
                    given = outcomes.member_outcomes(given) if was_closed else outcomes.ordered(given)
                row = await store.update_conversation(
                    conn,
                    workspace_id=workspace_id,
                    conversation_id=conversation_id,
                    status=data.status,
                    outcomes=list(given) if given is not None else None,
                )
                assert row is not None
                if was_closed and outcomes.ordered(row["outcomes"]) != before:  # relabelled: its closing again
                    await closing.announce_row_closed(conn, workspace_id=workspace_id, row=row)
            await bus.emit(
                conn,
                schema="core",
                event_type="conversation.updated",
                workspace_id=workspace_id,
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

    async def visitor_conversation(
        self, principal: Principal, conversation_id: uuid.UUID
    ) -> schemas.VisitorConversation:
        """A returning visitor's conversation (the last messages), to show again after a page load."""
        async with self.db.acquire() as conn:
            row = await visible_conversation(conn, principal, conversation_id)
            messages = await store.recent_message_rows(
                conn, workspace_id=principal.workspace_id, conversation_id=conversation_id, limit=VISITOR_HISTORY_LIMIT
            )
        return schemas.VisitorConversation(
            id=row["id"], bot_id=row["bot_id"], status=row["status"], messages=[message_public(m) for m in messages]
        )

    async def rate_message(self, principal: Principal, data: schemas.FeedbackIn) -> schemas.MessagePublic:
        """Thumbs up or down on a reply (or taken back), announced as `message.rated`."""
        visitor = principal.kind == "visitor"
        async with self.db.acquire() as conn, conn.transaction():
            rated = await store.set_message_feedback(
                conn,
                workspace_id=principal.workspace_id,
                message_id=data.message_id,
                rating=data.rating,
                visitor_id=principal.subject if visitor else None,
                bot_id=principal.bot_id if visitor else None,
            )
            if rated is None:
                raise NotFound("message not found (only replies to you can be rated)")
            await bus.emit(
                conn,
                schema="core",
                event_type="message.rated",
                workspace_id=principal.workspace_id,
                payload={
                    "conversation_id": str(rated["conversation_id"]),
                    "message_id": str(data.message_id),
                    "bot_id": str(rated["bot_id"]),
                    "rating": data.rating,
                },
            )
            message = await store.get_message(conn, workspace_id=principal.workspace_id, message_id=data.message_id)
        return message_public(message)


def _csv_safe(text: str) -> str:
    """Neutralise spreadsheet formulas in visitor-written text (CSV injection)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
