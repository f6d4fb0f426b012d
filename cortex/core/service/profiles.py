"""Visitor profiles: what a visitor said about themselves, a member's edits, the widget's lead form,
and a GDPR export. Erasure is cortex.core.service.erasure."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg

from cortex import bus
from cortex.core import schemas, store
from cortex.core.extract import FIELDS, best, extract, region_for_language, should_replace
from cortex.core.service import closing
from cortex.core.service.conversations import ConversationService, record_message, visible_conversation
from cortex.errors import Conflict, Invalid, NotFound
from cortex.http.security import Principal


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


class ProfileService:
    """The visitor profiles of one workspace at a time (the principal's)."""

    def __init__(self, *, db: asyncpg.Pool) -> None:
        self.db = db

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
        fields: dict[str, Any] = {name: getattr(data, name) for name in FIELDS if getattr(data, name) is not None}
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
        transcripts = ConversationService(db=self.db)
        conversations = [await transcripts.get_conversation(principal, cid) for cid in conversation_ids]
        return schemas.ProfileExport(exported_at=datetime.now(UTC), profile=profile, conversations=conversations)

    async def capture_lead(self, principal: Principal, data: schemas.LeadIn) -> schemas.LeadOut:
        """The widget's lead form: the visitor's own words, so they beat anything guessed from chat
        (a member's edit still wins). Labels the conversation `lead_captured`; `lead.captured` lets
        marketing record consent."""
        sent = {name: getattr(data, name) for name in FIELDS if getattr(data, name) is not None}
        if not sent:
            raise Invalid("leave at least one way for the team to reach you")
        async with self.db.acquire() as conn, conn.transaction():
            conversation = await visible_conversation(conn, principal, data.conversation_id)
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
            await closing.label(
                conn, workspace_id=principal.workspace_id, conversation_id=data.conversation_id, outcome="lead_captured"
            )
            await record_message(
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
                    "marketing_consent": data.marketing_consent,
                },
            )
        return schemas.LeadOut(profile_id=profile_id, saved=sorted(changes))
