"""A visitor's erasure (GDPR): their personal data goes from core, and `visitor.erased` tells every other service."""

from __future__ import annotations

import re
import uuid
from typing import cast

import asyncpg
import orjson
import phonenumbers
import redis.asyncio as aioredis

from cortex import bus
from cortex.core import schemas, store
from cortex.core.extract import FIELDS, extract
from cortex.email_address import email_digest
from cortex.errors import NotFound
from cortex.http.security import Principal
from cortex.settings import Settings

ERASED = "[erased]"


class ErasureService:
    """Erasure of the visitor profiles of one workspace at a time (the principal's)."""

    def __init__(self, *, db: asyncpg.Pool, settings: Settings) -> None:
        self.db = db
        self.settings = settings

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

        The event carries the profile's id and a keyed digest of the e-mail, never the values:
        marketing drops the consents it keeps by profile, and older ones it kept by address.
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
            # Events from before lead.captured stopped carrying the address keep it in core's outbox;
            # on the streams, core's consumer of visitor.erased deletes them.
            await store.drop_address_from_lead_events(conn, workspace_id=principal.workspace_id, profile_id=profile_id)
            await bus.emit(
                conn,
                schema="core",
                event_type="visitor.erased",
                workspace_id=principal.workspace_id,
                payload={
                    "profile_id": str(profile_id),
                    "visitor_id": profile["visitor_id"],
                    "email_digest": email_digest(self.settings, profile["email"]),
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


async def drop_lead_events_with_address(redis: aioredis.Redis, profile_id: str) -> int:
    """Delete the visitor's `lead.captured` events that still carry their address (published before the
    event stopped carrying it) from the lead stream and the dead letters. Returns how many went."""
    dropped = 0
    for stream in (bus.stream_for("lead.captured"), bus.DEAD_LETTER_STREAM):
        start = "-"
        while entries := cast("list[bus.StreamEntry]", await redis.xrange(stream, min=start, count=500)):
            doomed = [entry_id for entry_id, fields in entries if _lead_with_address(fields, profile_id)]
            if doomed:
                dropped += await redis.xdel(stream, *doomed)
            if len(entries) < 500:
                break
            start = "(" + entries[-1][0].decode()
    return dropped


def _lead_with_address(fields: dict[bytes, bytes], profile_id: str) -> bool:
    if fields.get(b"event_type") != b"lead.captured":
        return False
    payload = orjson.loads(fields.get(b"payload", b"{}"))
    return payload.get("profile_id") == profile_id and bool(payload.get("email"))


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
