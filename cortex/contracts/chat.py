"""The events of one chat turn, as core's chat pipeline yields them: `meta`, then `token`s, then
`done`. The widget reads them as server-sent events (protocol cortex-chat/1, `/api/chat`), the
OpenAI door turns them into `chat.completion.chunk`s.

Dataclasses, not pydantic models: one is made per streamed token, and orjson writes a dataclass
natively. `event` is a class variable, so it names the SSE event and stays out of the data.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal


@dataclass(frozen=True, slots=True, kw_only=True)
class Meta:
    """First: the conversation (new or continued) and the id of the visitor's stored message."""

    event: ClassVar[str] = "meta"
    protocol: str
    conversation_id: uuid.UUID
    message_id: uuid.UUID  # the visitor's message, as live streams name it


@dataclass(frozen=True, slots=True, kw_only=True)
class Token:
    """A piece of the answer, in order; the pieces joined are what `done` carries."""

    event: ClassVar[str] = "token"
    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Done:
    """Last: the bot's answer as it was stored (sanitized, its citations renumbered)."""

    event: ClassVar[str] = "done"
    conversation_id: uuid.UUID
    message_id: uuid.UUID
    content: str
    citations: list[dict[str, Any]]
    actions: list[dict[str, Any]]  # buttons under the answer: the lead form, a person
    degraded: bool  # knowledge or guidance failed or was too slow
    direct_answer: bool  # an FAQ's answer or a cached one, without retrieval or a model
    handoff: Literal[False] = False


@dataclass(frozen=True, slots=True, kw_only=True)
class HandedOff:
    """Last, instead of an answer, in a conversation a person handles: the bot stays quiet and
    the visitor reads `notice`; the person's reply comes on the live stream."""

    event: ClassVar[str] = "done"
    conversation_id: uuid.UUID
    message_id: None = None
    handoff: Literal[True] = True
    notice: str
    citations: list[dict[str, Any]] = field(default_factory=list)
    actions: list[dict[str, Any]] = field(default_factory=list)
    degraded: bool = False
    direct_answer: bool = False


ChatEvent = Meta | Token | Done | HandedOff
