"""Request and response models of the core API: bots, conversations, messages, chat."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl

ConversationStatus = Literal["open", "handoff", "closed"]
Outcome = Literal["resolved", "lead_captured", "booked", "escalated", "abandoned"]
LeadField = Literal["name", "email", "phone", "company"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class LLMSettings(Strict):
    backend: Literal["local", "openai"] = "local"
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


class BotIn(Strict):
    name: str = Field(min_length=1, max_length=120)
    system_prompt: str = Field("", max_length=8000)
    persona: str = Field("", max_length=2000)
    welcome_message: str = Field("Hi! How can I help?", max_length=1000)
    language: str = Field("en", pattern=r"^[a-z]{2}(-[A-Z]{2})?$")
    appearance: Appearance = Field(default_factory=Appearance)
    lead_fields: list[LeadField] = Field(default_factory=list)
    llm: LLMSettings = Field(default_factory=LLMSettings)
    direct_answer_threshold: float = Field(0.85, ge=0, le=1)


class BotUpdate(Strict):
    name: str | None = Field(None, min_length=1, max_length=120)
    system_prompt: str | None = Field(None, max_length=8000)
    persona: str | None = Field(None, max_length=2000)
    welcome_message: str | None = Field(None, max_length=1000)
    language: str | None = Field(None, pattern=r"^[a-z]{2}(-[A-Z]{2})?$")
    appearance: Appearance | None = None
    lead_fields: list[LeadField] | None = None
    llm: LLMSettings | None = None
    direct_answer_threshold: float | None = Field(None, ge=0, le=1)


class BotPublic(BotIn):
    id: uuid.UUID
    created_at: datetime
    updated_at: datetime


class Citation(BaseModel):
    source_id: str
    title: str
    url: str | None = None
    snippet: str


class MessagePublic(BaseModel):
    id: uuid.UUID
    role: Literal["visitor", "bot", "agent", "system"]
    content: str
    citations: list[Citation] = Field(default_factory=list)
    direct_answer: bool = False
    degraded: bool = False
    created_at: datetime


class ConversationPublic(BaseModel):
    id: uuid.UUID
    bot_id: uuid.UUID
    visitor_id: str | None
    status: ConversationStatus
    outcomes: list[Outcome]
    rating: int | None
    feedback: str | None
    message_count: int
    started_at: datetime
    last_message_at: datetime


class ConversationDetail(ConversationPublic):
    messages: list[MessagePublic]


class ConversationUpdate(Strict):
    status: ConversationStatus | None = None
    outcomes: list[Outcome] | None = None


class ChatIn(Strict):
    bot_id: uuid.UUID
    conversation_id: uuid.UUID | None = None
    message: str = Field(min_length=1, max_length=4000)
    stream: bool = True


class ChatOut(BaseModel):
    conversation_id: uuid.UUID
    message_id: uuid.UUID
    content: str
    citations: list[Citation]
    direct_answer: bool
    degraded: bool
