"""Core logic: bots, conversations, human handoff and visitor profiles.

The chat pipeline lives in cortex.core.chat, live updates in cortex.core.live, and reading
what a visitor says about themselves in cortex.core.extract.
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import asyncpg
import orjson
import phonenumbers
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from cortex import bus
from cortex.core import live, schemas, store
from cortex.core.chat import _record_message, sanitize_answer
from cortex.core.extract import FIELDS, best, extract, region_for_language, should_replace
from cortex.errors import Conflict, Forbidden, Invalid, NotFound, Unavailable
from cortex.http.security import Principal

log = logging.getLogger("cortex.core")

ERASED = "[erased]"
WIDGET_CONFIG_KEY = "cortex:widget-config:"
# Every widget load asks for its bot's config; a change drops the entry at once, so the TTL
# only bounds what a missed invalidation (Redis down at that moment) can leave stale.
WIDGET_CONFIG_TTL_S = 600
VISITOR_HISTORY_LIMIT = 200  # messages a returning visitor sees again
HANDOFF_REQUESTED = (
    "I've asked a person from the team to join this conversation. They'll reply right here as soon as they can."
)
# A stream is refused (503) rather than opened on a replica whose subscription is down.
LIVE_READY_TIMEOUT_S = 2.0


def bot_public(row: asyncpg.Record) -> schemas.BotPublic:
    return schemas.BotPublic(**dict(row))


def conversation_public(row: asyncpg.Record) -> schemas.ConversationPublic:
    return schemas.ConversationPublic(**dict(row))


def message_public(row: asyncpg.Record) -> schemas.MessagePublic:
    return schemas.MessagePublic(**dict(row))


def profile_public(row: asyncpg.Record) -> schemas.ProfilePublic:
    fields = dict(row)
    sources = fields.pop("field_sources") or {}
    fields["sources"] = {name: source for name, source in sources.items() if fields.get(name) is not None}
    return schemas.ProfilePublic(**fields)


async def enrich_profile(
    conn: asyncpg.Connection, *, workspace_id: uuid.UUID, profile_id: uuid.UUID, message: str, language: str | None
) -> list[str]:
    """Take what a visitor's message says about them into their profile; returns the fields changed.

    A value replaces a stored one only when it is at least as certain (what the visitor stated
    beats a guess; a member's edit is never overwritten). Runs in the caller's transaction.
    """
    findings = best(extract(message, region=region_for_language(language)))
    if not findings:
        return []
    profile = await store.get_profile_by_id(conn, workspace_id=workspace_id, profile_id=profile_id, for_update=True)
    if profile is None:
        return []
    sources = dict(profile["field_sources"] or {})
    changes: dict[str, str | None] = {}
    for field, finding in findings.items():
        if should_replace(current_value=profile[field], current_source=sources.get(field), new=finding):
            changes[field] = finding.value
            sources[field] = finding.source
    if changes:
        await store.update_profile(
            conn, workspace_id=workspace_id, profile_id=profile_id, fields=changes, field_sources=sources
        )
    return sorted(changes)


async def forget_widget_config(redis: aioredis.Redis | None, bot_id: uuid.UUID | str) -> None:
    """Drop a bot's cached widget config (after a change has committed)."""
    if redis is not None:
        await redis.delete(WIDGET_CONFIG_KEY + str(bot_id))


class CoreService:
    """Bots and conversations of one workspace at a time (the principal's)."""

    def __init__(self, *, db: asyncpg.Pool, redis: aioredis.Redis | None = None) -> None:
        self.db = db
        self.redis = redis

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

    # -- human handoff ---------------------------------------------------------------------------
    async def take_over(self, principal: Principal, conversation_id: uuid.UUID) -> schemas.ConversationPublic:
        """The caller handles the conversation from now on; the bot stays quiet until handback.

        Taking over from another agent is an admin's call (409 for an agent); taking over again
        is a no-op.
        """
        agent_id = uuid.UUID(principal.subject)
        async with self.db.acquire() as conn, conn.transaction():
            row = await self._locked_conversation(conn, principal, conversation_id)
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
            await self._emit_status(conn, principal, row, "conversation.handoff")
        return conversation_public(row)

    async def hand_back(self, principal: Principal, conversation_id: uuid.UUID) -> schemas.ConversationPublic:
        """The bot answers again (the assigned agent, or an admin)."""
        async with self.db.acquire() as conn, conn.transaction():
            row = await self._locked_conversation(conn, principal, conversation_id)
            if row["status"] != "handoff":
                raise Conflict("the conversation is not handed off")
            self._check_assigned(principal, row)
            row = await store.set_handoff(
                conn,
                workspace_id=principal.workspace_id,
                conversation_id=conversation_id,
                status="open",
                assigned_agent=None,
            )
            await self._emit_status(conn, principal, row, "conversation.handback")
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
            row = await self._locked_conversation(conn, principal, conversation_id)
            if row["status"] != "handoff":
                raise Conflict("take the conversation over before replying")
            self._check_assigned(principal, row)
            await _record_message(
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

    async def _locked_conversation(
        self, conn: asyncpg.Connection, principal: Principal, conversation_id: uuid.UUID
    ) -> asyncpg.Record:
        row = await store.lock_conversation(conn, workspace_id=principal.workspace_id, conversation_id=conversation_id)
        if row is None:
            raise NotFound("conversation not found")
        return row

    @staticmethod
    def _check_assigned(principal: Principal, row: asyncpg.Record) -> None:
        assigned = row["assigned_agent"]
        if assigned is not None and assigned != uuid.UUID(principal.subject) and not principal.has_role("admin"):
            raise Forbidden("another agent is handling this conversation")

    @staticmethod
    async def _emit_status(
        conn: asyncpg.Connection, principal: Principal, row: asyncpg.Record, event_type: str
    ) -> None:
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

    # -- live updates ------------------------------------------------------------------------------
    async def open_stream(
        self,
        principal: Principal,
        conversation_id: uuid.UUID,
        *,
        cursor_text: str | None,
        hub: live.LiveHub,
        heartbeat_s: float,
        max_duration_s: float,
    ) -> AsyncIterator[bytes]:
        """Check access and the cursor now (so errors are plain 4xx), then the SSE byte stream.

        A visitor may stream only their own conversation with their bot; a member any of the
        workspace's.
        """
        async with self.db.acquire() as conn:
            await self._visible_conversation(conn, principal, conversation_id)
            cursor: live.Cursor | None = None
            if cursor_text:
                parsed = live.parse_cursor(cursor_text)
                if parsed is None:
                    raise Invalid(
                        "Last-Event-ID / after must be a message id, an ISO timestamp with a zone, or 'start'"
                    )
                if isinstance(parsed, uuid.UUID):
                    cursor = await store.message_position(
                        conn, workspace_id=principal.workspace_id, conversation_id=conversation_id, message_id=parsed
                    )
                    if cursor is None:
                        raise Invalid("Last-Event-ID / after names no message of this conversation")
                else:
                    cursor = parsed
        if not await hub.wait_ready(LIVE_READY_TIMEOUT_S):
            raise Unavailable("live updates are unavailable right now; retry shortly")
        stream = live.ConversationStream(
            db=self.db,
            hub=hub,
            workspace_id=principal.workspace_id,
            conversation_id=conversation_id,
            cursor=cursor,
            heartbeat_s=heartbeat_s,
            max_duration_s=max_duration_s,
        )
        return stream.events()

    # -- the widget's side: a visitor's view of their bot and conversation ---------------------
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

    async def visitor_conversation(
        self, principal: Principal, conversation_id: uuid.UUID
    ) -> schemas.VisitorConversation:
        """A returning visitor's conversation (the last messages), to show again after a page load."""
        async with self.db.acquire() as conn:
            row = await self._visible_conversation(conn, principal, conversation_id)
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

    async def capture_lead(self, principal: Principal, data: schemas.LeadIn) -> schemas.LeadOut:
        """The widget's lead form: the visitor's own words, so they beat anything guessed from chat
        (a member's edit still wins). Labels the conversation `lead_captured`; `lead.captured` lets
        marketing record consent."""
        sent = {name: getattr(data, name) for name in FIELDS if getattr(data, name) is not None}
        if not sent:
            raise Invalid("leave at least one way for the team to reach you")
        async with self.db.acquire() as conn, conn.transaction():
            conversation = await self._visible_conversation(conn, principal, data.conversation_id)
            profile_id = conversation["profile_id"]
            if profile_id is None and conversation["visitor_id"]:
                profile_id = await store.ensure_profile(
                    conn, workspace_id=principal.workspace_id, visitor_id=conversation["visitor_id"]
                )
            if profile_id is None:
                raise Invalid("this conversation has no visitor to keep the details for")
            profile = await store.get_profile_by_id(
                conn, workspace_id=principal.workspace_id, profile_id=profile_id, for_update=True
            )
            assert profile is not None
            sources = dict(profile["field_sources"] or {})
            changes: dict[str, str | None] = {}
            for name, value in sent.items():
                if sources.get(name) == "member" and profile[name]:
                    continue
                changes[name] = value
                sources[name] = "visitor"
            consent = {**profile["consent"], "marketing_email": True} if data.marketing_consent else None
            await store.update_profile(
                conn,
                workspace_id=principal.workspace_id,
                profile_id=profile_id,
                fields=changes,
                field_sources=sources,
                consent=consent,
            )
            await store.add_outcome(
                conn, workspace_id=principal.workspace_id, conversation_id=data.conversation_id, outcome="lead_captured"
            )
            await _record_message(
                conn,
                workspace_id=principal.workspace_id,
                bot_id=conversation["bot_id"],
                conversation_id=data.conversation_id,
                message_id=uuid.uuid4(),
                role="system",
                content="Contact details left: " + ", ".join(sorted(sent)) + ".",
            )
            await bus.emit(
                conn,
                schema="core",
                event_type="lead.captured",
                workspace_id=principal.workspace_id,
                payload={
                    "conversation_id": str(data.conversation_id),
                    "bot_id": str(conversation["bot_id"]),
                    "profile_id": str(profile_id),
                    "fields": sorted(sent),
                    "email": sent.get("email"),
                    "marketing_consent": data.marketing_consent,
                },
            )
        return schemas.LeadOut(profile_id=profile_id, saved=sorted(changes))

    async def request_handoff(self, principal: Principal, data: schemas.HandoffRequestIn) -> schemas.MessagePublic:
        """The visitor asks for a person: the conversation is labelled `escalated`, the team is told
        (`handoff.requested`), and the visitor gets an answer saying so."""
        async with self.db.acquire() as conn, conn.transaction():
            conversation = await self._visible_conversation(conn, principal, data.conversation_id)
            if conversation["status"] == "closed":
                raise Conflict("this conversation is closed; start a new one")
            await store.add_outcome(
                conn, workspace_id=principal.workspace_id, conversation_id=data.conversation_id, outcome="escalated"
            )
            message_id = uuid.uuid4()
            await _record_message(
                conn,
                workspace_id=principal.workspace_id,
                bot_id=conversation["bot_id"],
                conversation_id=data.conversation_id,
                message_id=message_id,
                role="bot",
                content=HANDOFF_REQUESTED,
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

    async def _visible_conversation(
        self, conn: asyncpg.Connection, principal: Principal, conversation_id: uuid.UUID
    ) -> asyncpg.Record:
        """The conversation if the caller may see it: a visitor only their own, with their bot."""
        row = await store.get_conversation(conn, workspace_id=principal.workspace_id, conversation_id=conversation_id)
        foreign = principal.kind == "visitor" and (
            row is None or row["visitor_id"] != principal.subject or row["bot_id"] != principal.bot_id
        )
        if row is None or foreign:
            raise NotFound("conversation not found")
        return row

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

    # -- visitor profiles --------------------------------------------------------------------------
    async def list_profiles(
        self, principal: Principal, *, has_email: bool | None, text: str | None, limit: int, offset: int
    ) -> list[schemas.ProfilePublic]:
        async with self.db.acquire() as conn:
            rows = await store.list_profiles(
                conn, workspace_id=principal.workspace_id, has_email=has_email, text=text, limit=limit, offset=offset
            )
        return [profile_public(row) for row in rows]

    async def get_profile(self, principal: Principal, profile_id: uuid.UUID) -> schemas.ProfilePublic:
        async with self.db.acquire() as conn:
            row = await store.get_profile_by_id(conn, workspace_id=principal.workspace_id, profile_id=profile_id)
        if row is None:
            raise NotFound("profile not found")
        return profile_public(row)

    async def create_profile(self, principal: Principal, data: schemas.ProfileIn) -> schemas.ProfilePublic:
        """A profile entered by a member (an import from a CRM, a phone call); 409 if the visitor has one."""
        fields = {name: getattr(data, name) for name in FIELDS if getattr(data, name) is not None}
        attributes = {key: value for key, value in (data.attributes or {}).items() if value is not None}
        async with self.db.acquire() as conn:
            row = await store.create_profile(
                conn,
                workspace_id=principal.workspace_id,
                profile_id=uuid.uuid4(),
                visitor_id=data.visitor_id or f"manual:{uuid.uuid4().hex}",
                fields=fields,
                consent=data.consent or {},
                attributes=attributes,
                field_sources=dict.fromkeys(fields, "member"),
            )
        if row is None:
            raise Conflict("this visitor already has a profile")
        return profile_public(row)

    async def update_profile(
        self, principal: Principal, profile_id: uuid.UUID, data: schemas.ProfileUpdate
    ) -> schemas.ProfilePublic:
        """A member's edit: the fields sent win over anything the visitor said (source `member`)."""
        sent = data.model_dump(exclude_unset=True)
        async with self.db.acquire() as conn, conn.transaction():
            row = await store.get_profile_by_id(
                conn, workspace_id=principal.workspace_id, profile_id=profile_id, for_update=True
            )
            if row is None:
                raise NotFound("profile not found")
            sources = dict(row["field_sources"] or {})
            fields: dict[str, str | None] = {}
            for name in FIELDS:
                if name in sent:
                    fields[name] = sent[name]
                    if sent[name] is None:
                        sources.pop(name, None)
                    else:
                        sources[name] = "member"
            consent = {**row["consent"], **sent["consent"]} if sent.get("consent") is not None else None
            attributes = None
            if sent.get("attributes") is not None:
                merged = {**row["attributes"], **sent["attributes"]}
                attributes = {key: value for key, value in merged.items() if value is not None}
                if len(attributes) > schemas.MAX_ATTRIBUTES:
                    raise Invalid(f"a profile holds at most {schemas.MAX_ATTRIBUTES} attributes")
            if consent is not None and len(consent) > schemas.MAX_CONSENT_FLAGS:
                raise Invalid(f"a profile holds at most {schemas.MAX_CONSENT_FLAGS} consent flags")
            await store.update_profile(
                conn,
                workspace_id=principal.workspace_id,
                profile_id=profile_id,
                fields=fields,
                field_sources=sources,
                consent=consent,
                attributes=attributes,
            )
        return await self.get_profile(principal, profile_id)

    async def delete_profile(self, principal: Principal, profile_id: uuid.UUID) -> None:
        """Removes the profile record only (its conversations stay, unlinked): use erase for a GDPR request."""
        async with self.db.acquire() as conn:
            if not await store.delete_profile(conn, workspace_id=principal.workspace_id, profile_id=profile_id):
                raise NotFound("profile not found")

    async def export_profile(self, principal: Principal, profile_id: uuid.UUID) -> schemas.ProfileExport:
        """Everything held about the visitor: the profile, every conversation and its messages."""
        profile = await self.get_profile(principal, profile_id)
        async with self.db.acquire() as conn:
            conversation_ids = await store.profile_conversation_ids(
                conn, workspace_id=principal.workspace_id, profile_id=profile_id, visitor_id=profile.visitor_id
            )
        conversations = [await self.get_conversation(principal, cid) for cid in conversation_ids]
        return schemas.ProfileExport(exported_at=datetime.now(UTC), profile=profile, conversations=conversations)

    async def erase_profile(self, principal: Principal, profile_id: uuid.UUID) -> schemas.ErasureResult:
        """Erase the visitor's personal data (GDPR), in one transaction, and announce `visitor.erased`.

        - the profile's name, e-mail, phone, company, consent flags and attributes are cleared
          (the row stays, pseudonymous, with `erased_at`, so the erasure itself is on record);
        - the content of every visitor message in the visitor's conversations is replaced by
          "[erased]" (a whole message: free text can hold personal data no pattern finds), and
          conversation feedback is dropped;
        - in the bot's and agents' messages of those conversations, every personal value known
          (the profile's, and any found in the visitor's messages before they were erased) is
          replaced by "[erased]"; the rest of those answers stays for the workspace's records.

        The event carries SHA-256 digests of the e-mail and phone, never the values, so other
        services (marketing) can find and drop their copies without the bus keeping them.
        """
        async with self.db.acquire() as conn, conn.transaction():
            profile = await store.get_profile_by_id(
                conn, workspace_id=principal.workspace_id, profile_id=profile_id, for_update=True
            )
            if profile is None:
                raise NotFound("profile not found")
            conversation_ids = await store.profile_conversation_ids(
                conn, workspace_id=principal.workspace_id, profile_id=profile_id, visitor_id=profile["visitor_id"]
            )
            visitor_messages = await store.messages_of_conversations(
                conn, workspace_id=principal.workspace_id, conversation_ids=conversation_ids, roles=["visitor"]
            )
            values = {profile[name] for name in FIELDS if profile[name]}
            for message in visitor_messages:
                for finding in extract(message["content"]):
                    values |= {finding.value, finding.raw}
            erased = await store.erase_visitor_messages(
                conn, workspace_id=principal.workspace_id, conversation_ids=conversation_ids, replacement=ERASED
            )
            redacted = 0
            pattern = _personal_values_pattern(values)
            if pattern is not None:
                others = await store.messages_of_conversations(
                    conn,
                    workspace_id=principal.workspace_id,
                    conversation_ids=conversation_ids,
                    roles=["bot", "agent", "system"],
                )
                for message in others:
                    content = pattern.sub(ERASED, message["content"])
                    if content != message["content"]:
                        await store.set_message_content(
                            conn, workspace_id=principal.workspace_id, message_id=message["id"], content=content
                        )
                        redacted += 1
            await store.erase_profile_fields(conn, workspace_id=principal.workspace_id, profile_id=profile_id)
            await bus.emit(
                conn,
                schema="core",
                event_type="visitor.erased",
                workspace_id=principal.workspace_id,
                payload={
                    "profile_id": str(profile_id),
                    "visitor_id": profile["visitor_id"],
                    "email_sha256": _digest(profile["email"]),
                    "phone_sha256": _digest(profile["phone"]),
                    "conversation_ids": [str(cid) for cid in conversation_ids],
                    "by": principal.subject,
                },
            )
            erased_at = await conn.fetchval("SELECT now()")
        return schemas.ErasureResult(
            profile_id=profile_id,
            erased_at=erased_at,
            conversations=len(conversation_ids),
            visitor_messages_erased=erased,
            messages_redacted=redacted,
        )


def _digest(value: str | None) -> str | None:
    """SHA-256 of a normalised e-mail or phone: lets another service match its copy, reveals nothing."""
    return hashlib.sha256(value.strip().lower().encode()).hexdigest() if value else None


_SEPARATORS = r"[\s().-]*"


def _personal_values_pattern(values: set[str]) -> re.Pattern[str] | None:
    """One case-insensitive pattern for every value, whole words only; phones in any formatting."""
    alternatives: set[str] = set()
    for value in values:
        value = value.strip()
        if len(value) < 2:
            continue
        alternatives.add(re.escape(value))
        if value.startswith("+"):
            try:
                national = str(phonenumbers.parse(value, None).national_number)
            except phonenumbers.NumberParseException:
                national = ""
            if len(national) >= 6:  # the number as typed without its country code: "415 555-0134"
                alternatives.add(r"(?:\+?\d{1,3}" + _SEPARATORS + ")?0?" + _SEPARATORS.join(national))
        elif " " in value:  # a full name: each part alone too ("Thanks, Maria!")
            alternatives |= {re.escape(part) for part in value.split() if len(part) >= 3}
    if not alternatives:
        return None
    # Longest first, so a full name is replaced whole before its parts.
    ordered = sorted(alternatives, key=len, reverse=True)
    return re.compile(r"(?<![\w@.])(?:" + "|".join(ordered) + r")(?![\w@])", re.IGNORECASE)


def _csv_safe(text: str) -> str:
    """Neutralise spreadsheet formulas in visitor-written text (CSV injection)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
