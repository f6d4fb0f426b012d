"""The payload of every event on the bus, by event type: what producers write and consumers read.

Pydantic models rather than TypedDicts: `emit` validates each payload at runtime, in the producer's
transaction, so a producer that drops or misspells a field fails its own change instead of a
consumer in another service failing later. Ids travel as strings; they validate as UUIDs.
An event type without a model here is not checked (the bus's own tests use throwaway families).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from cortex.contracts.guidance import NoGuidanceReason

ConversationStatus = Literal["open", "handoff", "closed"]
#: How a conversation ended, as core labels it (a conversation may carry several labels).
Outcome = Literal["resolved", "lead_captured", "booked", "escalated", "abandoned"]
#: The primary outcome when a conversation carries several labels: the first of these it has.
OUTCOME_PRIORITY: tuple[Outcome, ...] = ("booked", "lead_captured", "escalated", "resolved", "abandoned")


class EventPayload(BaseModel):
    # Forbid: a field no contract names is a producer's mistake, not a silent addition.
    model_config = ConfigDict(extra="forbid", frozen=True)


class UserRegistered(EventPayload):
    """`user.registered` (auth): a new account and its own workspace; starts the signup saga."""

    user_id: uuid.UUID
    email: str
    display_name: str
    workspace_id: uuid.UUID
    marketing_consent: bool


class BotCreated(EventPayload):
    """`bot.created` (core)."""

    bot_id: uuid.UUID
    name: str


class BotUpdated(EventPayload):
    """`bot.updated` (core): `fields` are the names of the settings that changed."""

    bot_id: uuid.UUID
    fields: list[str]


class BotDeleted(EventPayload):
    """`bot.deleted` (core)."""

    bot_id: uuid.UUID


class ConversationStarted(EventPayload):
    """`conversation.started` (core): `visitor_id` is None for a member's conversation."""

    conversation_id: uuid.UUID
    bot_id: uuid.UUID
    visitor_id: str | None


class ConversationUpdated(EventPayload):
    """`conversation.updated` (core): status or outcomes set by a member."""

    conversation_id: uuid.UUID
    status: ConversationStatus
    outcomes: list[str]


class ConversationHandedOver(EventPayload):
    """`conversation.handoff` / `conversation.handback` (core): an agent took over, or gave back."""

    conversation_id: uuid.UUID
    bot_id: uuid.UUID
    status: ConversationStatus
    assigned_agent: uuid.UUID | None
    by: str


class HandoffRequested(EventPayload):
    """`handoff.requested` (core): a visitor asked for a person."""

    conversation_id: uuid.UUID
    bot_id: uuid.UUID


class MessageCreated(EventPayload):
    """`message.created` (core). A bot's message says how it was answered; an agent's, who wrote it.

    A bot's message also says what the helper applied to it: `pattern_id` (None: no pattern),
    `experiment_id` and `arm` (also for an experiment's no-guidance arm), the `situation`
    ("intent/stage") the pick was made for, and, when no guidance was applied, `no_guidance` (why)."""

    conversation_id: uuid.UUID
    message_id: uuid.UUID
    role: Literal["visitor", "bot", "agent", "system"]
    bot_id: uuid.UUID
    degraded: bool | None = None
    answered: bool | None = None
    direct: Literal["faq", "cache"] | None = None
    interrupted: bool | None = None
    author_id: uuid.UUID | None = None
    pattern_id: uuid.UUID | None = None
    experiment_id: uuid.UUID | None = None
    arm: str | None = None
    situation: str | None = None
    no_guidance: NoGuidanceReason | None = None


class ConversationClosed(EventPayload):
    """`conversation.closed` (core): a conversation ended, idle for `CORTEX_CONVERSATION_IDLE_CLOSE_S`
    (`by` "idle") or closed by a member ("member"). `outcome` is the first of `OUTCOME_PRIORITY` among
    `outcomes`, its labels: resolved (its last bot answer answered and was not rated down),
    lead_captured, booked, escalated (handed to a person) or abandoned (none of these). A visitor
    who writes again reopens it; it is closed again later, with a new event."""

    conversation_id: uuid.UUID
    bot_id: uuid.UUID
    visitor_id: str | None
    outcome: Outcome
    outcomes: list[Outcome]
    by: Literal["idle", "member"]
    closed_at: datetime


class AppointmentBooked(EventPayload):
    """`appointment.booked` (workflows): an appointment was made, from a chat (`conversation_id`) or
    not. The visitor's name and address stay in workflows: the bus keeps what it carries."""

    appointment_id: uuid.UUID
    bot_id: uuid.UUID
    conversation_id: uuid.UUID | None
    visitor_id: str | None
    service: str
    starts_at: datetime
    ends_at: datetime
    time_zone: str


class AppointmentRescheduled(EventPayload):
    """`appointment.rescheduled` (workflows): a booked appointment moved (`previous_starts_at`: from)."""

    appointment_id: uuid.UUID
    bot_id: uuid.UUID
    conversation_id: uuid.UUID | None
    visitor_id: str | None
    service: str
    starts_at: datetime
    ends_at: datetime
    previous_starts_at: datetime
    time_zone: str


class AppointmentCancelled(EventPayload):
    """`appointment.cancelled` (workflows): by the visitor (chat or mailed link) or a member."""

    appointment_id: uuid.UUID
    bot_id: uuid.UUID
    conversation_id: uuid.UUID | None
    visitor_id: str | None
    service: str
    starts_at: datetime
    cancelled_by: Literal["visitor", "member"]


class MessageRated(EventPayload):
    """`message.rated` (core): 1 thumbs up, -1 thumbs down, None taken back."""

    conversation_id: uuid.UUID
    message_id: uuid.UUID
    bot_id: uuid.UUID
    rating: Literal[-1, 1] | None


class LeadCaptured(EventPayload):
    """`lead.captured` (core): a visitor left details in the widget's lead form (`fields`: which).

    The values stay in core's profile: the bus keeps what it carries, past any erasure."""

    conversation_id: uuid.UUID
    bot_id: uuid.UUID
    profile_id: uuid.UUID
    fields: list[str]
    marketing_consent: bool


class VisitorErased(EventPayload):
    """`visitor.erased` (core): every service forgets the visitor. The e-mail comes only as its keyed
    digest (`cortex.email_address.email_digest`: HMAC-SHA256 with a key derived from the
    installation's secret, so nobody reverses it from a list of addresses), to find consents kept by
    address and to suppress it; no phone digest (a phone number's is found by trying them all)."""

    profile_id: uuid.UUID
    visitor_id: str | None
    email_digest: str | None
    conversation_ids: list[uuid.UUID]
    by: str


class KnowledgeChanged(EventPayload):
    """`knowledge.changed` (knowledge): what a bot knows changed (chat drops its cached answers)."""

    bot_id: uuid.UUID


EVENT_PAYLOADS: dict[str, type[EventPayload]] = {
    "user.registered": UserRegistered,
    "bot.created": BotCreated,
    "bot.updated": BotUpdated,
    "bot.deleted": BotDeleted,
    "conversation.started": ConversationStarted,
    "conversation.updated": ConversationUpdated,
    "conversation.closed": ConversationClosed,
    "conversation.handoff": ConversationHandedOver,
    "conversation.handback": ConversationHandedOver,
    "handoff.requested": HandoffRequested,
    "message.created": MessageCreated,
    "message.rated": MessageRated,
    "lead.captured": LeadCaptured,
    "visitor.erased": VisitorErased,
    "knowledge.changed": KnowledgeChanged,
    "appointment.booked": AppointmentBooked,
    "appointment.rescheduled": AppointmentRescheduled,
    "appointment.cancelled": AppointmentCancelled,
}


def validate_payload(event_type: str, payload: Mapping[str, Any]) -> EventPayload | None:
    """The payload as its event type's model (None for a type without one); raises ValueError
    (pydantic's ValidationError) when it does not fit."""
    model = EVENT_PAYLOADS.get(event_type)
    return model.model_validate(payload) if model is not None else None


Payload = TypeVar("Payload", bound=EventPayload)


def read_payload(model: type[Payload], payload: Mapping[str, Any]) -> Payload:
    """A consumer's reading of a payload as its contract's model, taking only the fields the contract
    names: an event written before a field was dropped (a `lead.captured` that still carried the
    address) is read, not refused. A payload that does not fit raises ValueError naming the fields,
    never their values (the bus keeps the error in Redis and the log)."""
    try:
        return model.model_validate({name: value for name, value in payload.items() if name in model.model_fields})
    except ValidationError as exc:
        where = ", ".join(".".join(map(str, error["loc"])) or "payload" for error in exc.errors())
        raise ValueError(f"{model.__name__} payload does not fit its contract at: {where}") from None
