"""Request and response models of the core API: bots, conversations, messages, chat."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, HttpUrl, StringConstraints, field_validator

from cortex.contracts.events import Outcome
from cortex.contracts.guidance import NoGuidanceReason
from cortex.core.extract import normalise_phone
from cortex.email_address import NormalisedEmail
from cortex.time_zones import check_time_zone

ConversationStatus = Literal["open", "handoff", "closed"]
LeadField = Literal["name", "email", "phone", "company"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class LLMSettings(Strict):
    backend: Literal["auto", "extractive", "local", "openai"] = Field(
        "auto",
        description=(
            "auto: the configured LLM endpoint, or without one `extractive`; extractive: answers with the "
            "passages' own sentences, cited (no model writes); local: the built-in small model; openai: the "
            "configured OpenAI-compatible endpoint"
        ),
    )
    model: str = Field("", max_length=200, description="empty: the backend's default model")
    temperature: float = Field(0.3, ge=0, le=2)
    max_tokens: int = Field(256, ge=16, le=4096)
    monthly_token_budget: int = Field(2_000_000, ge=0, description="0 blocks the LLM (direct answers only)")


class Appearance(Strict):
    primary_color: str = Field("#4f46e5", pattern=r"^#[0-9a-fA-F]{6}$")
    position: Literal["bottom-right", "bottom-left"] = "bottom-right"
    launcher_text: str = Field("Chat with us", max_length=40)
    avatar_url: HttpUrl | None = None
    title: str = Field("", max_length=80)
    suggested_questions: list[Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80)]] = (
        Field(default_factory=list, max_length=4, description="starter questions the widget offers as buttons")
    )


class BotIn(Strict):
    name: str = Field(min_length=1, max_length=120)
    system_prompt: str = Field("", max_length=8000)
    persona: str = Field("", max_length=2000)
    welcome_message: str = Field("Hi! How can I help?", max_length=1000)
    language: str = Field("en", pattern=r"^[a-z]{2}(-[A-Z]{2})?$")
    appearance: Appearance = Field(default_factory=Appearance)
    lead_fields: list[LeadField] = Field(default_factory=list)
    llm: LLMSettings = Field(default_factory=LLMSettings)
    # Calibrated with knowledge's FAQ scoring on the tuning half of the bank FAQ paraphrases: above
    # it ~78% of direct answers are the right FAQ, and below it the extractive answer does no better.
    direct_answer_threshold: float = Field(
        0.8, ge=0, le=1.3, description="an FAQ whose match scores this or more answers directly (0.8 by default)"
    )


class BotUpdate(Strict):
    name: str | None = Field(None, min_length=1, max_length=120)
    system_prompt: str | None = Field(None, max_length=8000)
    persona: str | None = Field(None, max_length=2000)
    welcome_message: str | None = Field(None, max_length=1000)
    language: str | None = Field(None, pattern=r"^[a-z]{2}(-[A-Z]{2})?$")
    appearance: Appearance | None = None
    lead_fields: list[LeadField] | None = None
    llm: LLMSettings | None = None
    direct_answer_threshold: float | None = Field(None, ge=0, le=1.3)


class BotPublic(BotIn):
    id: uuid.UUID
    created_at: datetime
    updated_at: datetime


class Citation(BaseModel):
    source_id: str = Field(description="a document's own id, a page URL, a file's or an FAQ's id")
    title: str
    url: str | None = None
    snippet: str
    source: str | None = Field(None, description="the knowledge source (file, collection, crawl) it came from")


class Action(BaseModel):
    """A button under a bot reply. `reply` sends its value as the visitor's next message (quick
    replies, appointment slots); `lead_form` asks for the listed contact fields; `handoff` asks
    for a person."""

    type: Literal["reply", "lead_form", "handoff"]
    label: str | None = Field(None, description="the button text; the widget's own wording when absent")
    value: str | None = Field(None, description="for `reply`: the message it sends")
    fields: list[LeadField] | None = Field(None, description="for `lead_form`: what the form asks")


class MessagePublic(BaseModel):
    id: uuid.UUID
    role: Literal["visitor", "bot", "agent", "system"]
    content: str
    citations: list[Citation] = Field(default_factory=list)
    actions: list[Action] = Field(default_factory=list)
    direct_answer: bool = False
    degraded: bool = False
    interrupted: bool = Field(False, description="the visitor left mid-answer: content is what was written until then")
    feedback: Literal[-1, 1] | None = Field(None, description="the visitor's thumbs: 1 up, -1 down")
    created_at: datetime


class MessageDetail(MessagePublic):
    """A message as the workspace's members see it: a bot reply also says what the helper's hidden
    guidance did to it. Visitors never get these fields (they read `MessagePublic`)."""

    pattern_id: uuid.UUID | None = Field(None, description="the success pattern whose guidance the reply followed")
    experiment_id: uuid.UUID | None = Field(None, description="the experiment that decided the guidance")
    arm: str | None = Field(None, description="the experiment's arm this visitor is in")
    situation: str | None = Field(None, description='the situation the guidance was picked for ("intent/stage")')
    no_guidance: NoGuidanceReason | None = Field(
        None,
        description="why the reply carried no guidance: faq, cache (direct answers), handoff, canned (a fixed "
        "reply), extractive, helper_failed, helper_off, no_pattern, control (an experiment's no-guidance arm), "
        "booking (the scheduling workflow wrote it)",
    )


class ConversationPublic(BaseModel):
    id: uuid.UUID
    bot_id: uuid.UUID
    visitor_id: str | None
    profile_id: uuid.UUID | None = None
    status: ConversationStatus
    assigned_agent: uuid.UUID | None = Field(None, description="the member (or API key) handling a handoff")
    outcomes: list[Outcome]
    rating: int | None
    feedback: str | None
    message_count: int
    started_at: datetime
    last_message_at: datetime
    closed_at: datetime | None = Field(None, description="when it closed (idle, or by a member); null while open")
    closed_by: Literal["idle", "member"] | None = None
    booking_active: bool = Field(
        False, description="a scheduling run waits for the visitor: their next message goes to it (a slot, a time)"
    )


class ConversationDetail(ConversationPublic):
    messages: list[MessageDetail]


class ConversationUpdate(Strict):
    status: ConversationStatus | None = None
    outcomes: list[Outcome] | None = None


class ChatIn(Strict):
    bot_id: uuid.UUID
    conversation_id: uuid.UUID | None = None
    message: str = Field(min_length=1, max_length=4000)
    stream: bool = True
    time_zone: str | None = Field(
        None,
        max_length=64,
        description='the visitor\'s IANA time zone ("Europe/Berlin"): booking reads their dates and times in it; '
        "none: the business's",
    )

    @field_validator("time_zone")
    @classmethod
    def _known_time_zone(cls, value: str | None) -> str | None:
        return None if value is None else check_time_zone(value)


class ChatOut(BaseModel):
    conversation_id: uuid.UUID
    message_id: uuid.UUID
    content: str
    citations: list[Citation]
    actions: list[Action] = Field(default_factory=list)
    direct_answer: bool
    degraded: bool


class WidgetConfig(BaseModel):
    """What the widget shows of a bot: public, nothing about prompts or models."""

    bot_id: uuid.UUID
    name: str
    welcome_message: str
    language: str
    appearance: Appearance
    lead_fields: list[LeadField]


class VisitorConversation(BaseModel):
    """A conversation as its visitor sees it again after a page load."""

    id: uuid.UUID
    bot_id: uuid.UUID
    status: ConversationStatus
    messages: list[MessagePublic]


class FeedbackIn(Strict):
    message_id: uuid.UUID
    rating: Literal[-1, 1] | None = Field(description="1 thumbs up, -1 thumbs down, null takes it back")


class HandoffRequestIn(Strict):
    conversation_id: uuid.UUID


class AgentMessageIn(Strict):
    content: str = Field(min_length=1, max_length=4000)


# -- visitor profiles ------------------------------------------------------------------------------

_UNSAFE_TEXT = re.compile(r"[<>\x00-\x1f\x7f\u202a-\u202e\u2066-\u2069]")


def _plain_text(value: str) -> str:
    if _UNSAFE_TEXT.search(value):
        raise ValueError("must be plain text (no markup or control characters)")
    return value


def _phone(value: str) -> str:
    phone = normalise_phone(value)
    if phone is None:
        raise ValueError("not a valid phone number in international format (+country code)")
    return phone


_Trimmed = StringConstraints(strip_whitespace=True, min_length=1)
PersonName = Annotated[str, _Trimmed, StringConstraints(max_length=100), AfterValidator(_plain_text)]
CompanyName = Annotated[str, _Trimmed, StringConstraints(max_length=120), AfterValidator(_plain_text)]
Email = NormalisedEmail
Phone = Annotated[str, _Trimmed, StringConstraints(max_length=40), AfterValidator(_phone)]
VisitorId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._:-]{1,128}$")]
ConsentKey = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,39}$")]
AttributeKey = Annotated[str, StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9_.-]{0,63}$")]
AttributeText = Annotated[str, StringConstraints(max_length=500), AfterValidator(_plain_text)]
AttributeValue = AttributeText | int | float | bool | None
FieldSource = Literal["member", "visitor", "inferred"]

MAX_CONSENT_FLAGS = 20
MAX_ATTRIBUTES = 50


class ProfileFields(Strict):
    name: PersonName | None = None
    email: Email | None = None
    phone: Phone | None = None
    company: CompanyName | None = None
    consent: dict[ConsentKey, bool] | None = Field(
        None, description='consent flags, e.g. {"marketing_email": true}; merged into the stored flags'
    )
    attributes: dict[AttributeKey, AttributeValue] | None = Field(
        None, description="free attributes; merged into the stored ones, a null value removes a key"
    )

    @field_validator("consent")
    @classmethod
    def _few_flags(cls, value: dict[str, bool] | None) -> dict[str, bool] | None:
        if value is not None and len(value) > MAX_CONSENT_FLAGS:
            raise ValueError(f"at most {MAX_CONSENT_FLAGS} consent flags")
        return value

    @field_validator("attributes")
    @classmethod
    def _few_attributes(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None and len(value) > MAX_ATTRIBUTES:
            raise ValueError(f"at most {MAX_ATTRIBUTES} attributes")
        return value


class ProfileIn(ProfileFields):
    visitor_id: VisitorId | None = Field(None, description="the widget's visitor id; omitted: a new manual id")


class ProfileUpdate(ProfileFields):
    """Only the fields sent change; null clears a personal field."""


class ProfilePublic(BaseModel):
    id: uuid.UUID
    visitor_id: str
    name: str | None
    email: str | None
    phone: str | None
    company: str | None
    consent: dict[str, bool]
    attributes: dict[str, Any]
    sources: dict[str, FieldSource] = Field(
        description="where each personal field came from: a member, the visitor's own words, or a weaker guess"
    )
    conversation_count: int
    created_at: datetime
    updated_at: datetime
    erased_at: datetime | None


class ProfileExport(BaseModel):
    """Everything held about one visitor (a GDPR access request)."""

    exported_at: datetime
    profile: ProfilePublic
    conversations: list[ConversationDetail]


class ErasureResult(BaseModel):
    profile_id: uuid.UUID
    erased_at: datetime
    conversations: int
    visitor_messages_erased: int
    messages_redacted: int


class LeadIn(Strict):
    """The widget's lead form: what the visitor typed, validated like a member's edit."""

    conversation_id: uuid.UUID
    name: PersonName | None = None
    email: Email | None = None
    phone: Phone | None = None
    company: CompanyName | None = None
    marketing_consent: bool = Field(False, description="the visitor ticked 'send me news and offers'")


class LeadOut(BaseModel):
    profile_id: uuid.UUID
    saved: list[str] = Field(description="the fields stored")
