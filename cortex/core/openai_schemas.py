"""OpenAI chat-completions wire format: the subset Cortex accepts and the objects it returns.

Unknown request fields are ignored, as OpenAI-compatible servers do, so any client version
works; sampling fields are accepted and validated but the bot's own LLM settings apply.
"""

from __future__ import annotations

import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

# The chat pipeline's limit on one visitor message (cortex.core.schemas.ChatIn).
MAX_MESSAGE_CHARS = 4000
MAX_MESSAGES = 200


class Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")


class TextPart(Lenient):
    type: Literal["text"]
    text: str = Field(max_length=100_000)


class ChatMessage(Lenient):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[TextPart] | None = Field(None, description="text, or a list of text parts")
    name: str | None = Field(None, max_length=64)

    @property
    def text(self) -> str:
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "".join(part.text for part in self.content)


class StreamOptions(Lenient):
    include_usage: bool = False


class ChatCompletionRequest(Lenient):
    model: str = Field(min_length=1, max_length=100, description="a bot id (see GET /v1/models)")
    messages: list[ChatMessage] = Field(min_length=1, max_length=MAX_MESSAGES)
    stream: bool = False
    stream_options: StreamOptions | None = None
    n: int = Field(1, ge=1, le=1, description="one choice only")
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, ge=0, le=1)
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    presence_penalty: float | None = Field(None, ge=-2, le=2)
    frequency_penalty: float | None = Field(None, ge=-2, le=2)
    stop: str | list[str] | None = None
    seed: int | None = None
    user: str | None = Field(None, max_length=256)
    tools: list[Any] | None = None
    conversation_id: uuid.UUID | None = Field(
        None,
        description="Cortex extension: continue this stored conversation (its stored history is used, "
        "earlier request messages are ignored); returned as `conversation_id` by every completion",
    )

    @model_validator(mode="after")
    def _answerable(self) -> ChatCompletionRequest:
        if self.tools:
            raise ValueError("tools are not supported: a bot answers from its own knowledge")
        last = self.messages[-1]
        if last.role != "user":
            raise ValueError("the last message must be the user's")
        if not last.text.strip():
            raise ValueError("the last user message is empty")
        if len(last.text) > MAX_MESSAGE_CHARS:
            raise ValueError(f"the last user message is longer than {MAX_MESSAGE_CHARS} characters")
        return self


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str
    refusal: None = None


class Choice(BaseModel):
    index: int = 0
    message: AssistantMessage
    finish_reason: Literal["stop", "length"] = "stop"
    logprobs: None = None


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: Usage
    system_fingerprint: None = None
    # Cortex extensions (clients keep unknown fields: `completion.model_extra` in the openai package).
    conversation_id: uuid.UUID
    citations: list[dict[str, Any]] = Field(default_factory=list)


class Model(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "cortex"
    name: str = Field(description="the bot's name (Cortex extension)")


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[Model]
