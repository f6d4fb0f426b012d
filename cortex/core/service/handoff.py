"""Human handoff: an agent takes a conversation over, replies, and hands it back; a visitor asks for a person."""

from __future__ import annotations

import uuid

import asyncpg

from cortex import bus
from cortex.core import schemas, store
from cortex.core.answer_text import sanitize_answer
from cortex.core.applied import not_applied
from cortex.core.service import closing
from cortex.core.service.conversations import conversation_public, message_public, record_message, visible_conversation
from cortex.errors import Conflict, Forbidden, Invalid, NotFound
from cortex.http.security import Principal

HANDOFF_REQUESTED = (
    "I've asked a person from the team to join this conversation. They'll reply right here as soon as they can."
)


class HandoffService:
    """Who answers a conversation of one workspace (the principal's): the bot, or a person."""

    def __init__(self, *, db: asyncpg.Pool) -> None:
        self.db = db

    async def take_over(self, principal: Principal, conversation_id: uuid.UUID) -> schemas.ConversationPublic:
        """The caller handles the conversation from now on; the bot stays quiet until handback.

        Taking over from another agent is an admin's call (409 for an agent); taking over again
        is a no-op.
        """
        agent_id = uuid.UUID(principal.subject)
        async with self.db.acquire() as conn, conn.transaction():
            row = await _locked_conversation(conn, principal, conversation_id)
            if row["status"] == "closed":
                raise Conflict("the conversation is closed")
            if row["status"] == "handoff" and row["assigned_agent"] == agent_id:
                return conversation_public(row)
            if row["status"] == "handoff" and row["assigned_agent"] is not None and not principal.has_role("admin"):
                raise Conflict("another agent is handling this conversation")
            row = await store.set_handoff(
                conn,
                workspace_id=principal.workspace_id,
                conversation_id=conversation_id,
                status="handoff",
                assigned_agent=agent_id,
            )
            await _emit_status(conn, principal, row, "conversation.handoff")
        return conversation_public(row)

    async def hand_back(self, principal: Principal, conversation_id: uuid.UUID) -> schemas.ConversationPublic:
        """The bot answers again (the assigned agent, or an admin)."""
        async with self.db.acquire() as conn, conn.transaction():
            row = await _locked_conversation(conn, principal, conversation_id)
            if row["status"] != "handoff":
                raise Conflict("the conversation is not handed off")
            _check_assigned(principal, row)
            row = await store.set_handoff(
                conn,
                workspace_id=principal.workspace_id,
                conversation_id=conversation_id,
                status="open",
                assigned_agent=None,
            )
            await _emit_status(conn, principal, row, "conversation.handback")
        return conversation_public(row)

    async def post_agent_message(
        self, principal: Principal, conversation_id: uuid.UUID, data: schemas.AgentMessageIn
    ) -> schemas.MessagePublic:
        """An agent's reply, stored and announced (message.created) like every message."""
        content = sanitize_answer(data.content)  # plain text, as the bot's answers are
        if not content:
            raise Invalid("content is empty once markup is removed")
        agent_id = uuid.UUID(principal.subject)
        message_id = uuid.uuid4()
        async with self.db.acquire() as conn, conn.transaction():
            row = await _locked_conversation(conn, principal, conversation_id)
            if row["status"] != "handoff":
                raise Conflict("take the conversation over before replying")
            _check_assigned(principal, row)
            await record_message(
                conn,
                workspace_id=principal.workspace_id,
                bot_id=row["bot_id"],
                conversation_id=conversation_id,
                message_id=message_id,
                role="agent",
                content=content,
                author_id=agent_id,
                event_extra={"author_id": str(agent_id)},
            )
            position = await store.message_position(
                conn, workspace_id=principal.workspace_id, conversation_id=conversation_id, message_id=message_id
            )
        assert position is not None
        return schemas.MessagePublic(id=message_id, role="agent", content=content, created_at=position[0])

    async def request_handoff(self, principal: Principal, data: schemas.HandoffRequestIn) -> schemas.MessagePublic:
        """The visitor asks for a person: the conversation is labelled `escalated`, the team is told
        (`handoff.requested`), and the visitor gets an answer saying so."""
        async with self.db.acquire() as conn, conn.transaction():
            conversation = await visible_conversation(conn, principal, data.conversation_id, for_update=True)
            if conversation["status"] == "closed":  # the visitor is back: asking for a person reopens it
                await closing.reopen(conn, workspace_id=principal.workspace_id, conversation=conversation)
            await closing.label(
                conn, workspace_id=principal.workspace_id, conversation_id=data.conversation_id, outcome="escalated"
            )
            message_id = uuid.uuid4()
            await record_message(
                conn,
                workspace_id=principal.workspace_id,
                bot_id=conversation["bot_id"],
                conversation_id=data.conversation_id,
                message_id=message_id,
                role="bot",
                content=HANDOFF_REQUESTED,
                answered=False,  # a notice, not an answer: the conversation is not resolved by it
                applied=not_applied("handoff"),
            )
            await bus.emit(
                conn,
                schema="core",
                event_type="handoff.requested",
                workspace_id=principal.workspace_id,
                payload={"conversation_id": str(data.conversation_id), "bot_id": str(conversation["bot_id"])},
            )
            message = await store.get_message(conn, workspace_id=principal.workspace_id, message_id=message_id)
        return message_public(message)


async def _locked_conversation(
    conn: asyncpg.Connection, principal: Principal, conversation_id: uuid.UUID
) -> asyncpg.Record:
    row = await store.get_conversation(
        conn, workspace_id=principal.workspace_id, conversation_id=conversation_id, for_update=True
    )
    if row is None:
        raise NotFound("conversation not found")
    return row


def _check_assigned(principal: Principal, row: asyncpg.Record) -> None:
    assigned = row["assigned_agent"]
    if assigned is not None and assigned != uuid.UUID(principal.subject) and not principal.has_role("admin"):
        raise Forbidden("another agent is handling this conversation")


async def _emit_status(conn: asyncpg.Connection, principal: Principal, row: asyncpg.Record, event_type: str) -> None:
    await bus.emit(
        conn,
        schema="core",
        event_type=event_type,
        workspace_id=principal.workspace_id,
        payload={
            "conversation_id": str(row["id"]),
            "bot_id": str(row["bot_id"]),
            "status": row["status"],
            "assigned_agent": str(row["assigned_agent"]) if row["assigned_agent"] else None,
            "by": principal.subject,
        },
    )
