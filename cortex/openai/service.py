"""OpenAI chat completions over core's chat pipeline: one chat path, a second wire format.

The `model` is a bot id. The last message is the visitor's message; earlier user/assistant
messages become the history of a new conversation (system and tool messages are ignored: the
bot's own system prompt and guardrails apply, and a caller cannot replace them). With the
`conversation_id` extension the stored conversation continues instead. Every completion is a
real chat turn: retrieval, guidance, guardrails, budget and persistence as on /api/chat.
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import orjson

from cortex.core import schemas as core_schemas
from cortex.core import store
from cortex.core.chat import ChatPipeline
from cortex.errors import NotFound
from cortex.http.security import Principal
from cortex.openai import schemas
from cortex.openai.schemas import MAX_MESSAGE_CHARS

log = logging.getLogger("cortex.openai")

# Usage is estimated as the bot's token budget counts it: ~4 characters a token.
CHARS_PER_TOKEN = 4


class ModelNotFound(NotFound):
    code = "model_not_found"


def _tokens(text_length: int) -> int:
    return math.ceil(text_length / CHARS_PER_TOKEN)


class Completions:
    """The workspace's bots as models, and chat completions answered by them."""

    def __init__(self, *, db: asyncpg.Pool, pipeline: ChatPipeline | None = None) -> None:
        self.db = db
        self.pipeline = pipeline

    async def list_models(self, principal: Principal) -> schemas.ModelList:
        async with self.db.acquire() as conn:
            bots = await store.list_bots(conn, workspace_id=principal.workspace_id)
        return schemas.ModelList(data=[_model(bot) for bot in bots])

    async def get_model(self, principal: Principal, model: str) -> schemas.Model:
        async with self.db.acquire() as conn:
            bot = await self._bot(conn, principal, model)
        return _model(bot)

    async def _bot(self, conn: asyncpg.Connection, principal: Principal, model: str) -> asyncpg.Record:
        try:
            bot_id = uuid.UUID(model)
        except ValueError:
            bot_id = None
        bot = await store.get_bot(conn, workspace_id=principal.workspace_id, bot_id=bot_id) if bot_id else None
        if bot is None:
            raise ModelNotFound(f"The model '{model[:100]}' does not exist: use a bot id from GET /v1/models")
        return bot

    async def _turn(
        self, principal: Principal, request: schemas.ChatCompletionRequest
    ) -> AsyncIterator[dict[str, Any]]:
        async with self.db.acquire() as conn:
            bot = await self._bot(conn, principal, request.model)
        chat = core_schemas.ChatIn(
            bot_id=bot["id"],
            conversation_id=request.conversation_id,
            message=request.messages[-1].text,
            stream=request.stream,
        )
        prior = [
            {"role": "visitor" if message.role == "user" else "bot", "content": message.text[:MAX_MESSAGE_CHARS]}
            for message in request.messages[:-1]
            if message.role in ("user", "assistant") and message.text.strip()
        ]
        assert self.pipeline is not None
        return self.pipeline.turn(principal, chat, prior_turns=prior)

    async def complete(self, principal: Principal, request: schemas.ChatCompletionRequest) -> schemas.ChatCompletion:
        """A whole answer (stream=false)."""
        events = await self._turn(principal, request)
        meta = await anext(events)
        done: dict[str, Any] = {}
        async for event in events:
            if event["event"] == "done":
                done = event
        content = done.get("content") or done.get("notice", "")
        prompt_tokens = _tokens(sum(len(m.text) for m in request.messages))
        completion_tokens = _tokens(len(content))
        message_id = done.get("message_id")
        return schemas.ChatCompletion(
            id=f"chatcmpl-{uuid.UUID(message_id).hex if message_id else uuid.uuid4().hex}",
            created=int(time.time()),
            model=request.model,
            choices=[schemas.Choice(message=schemas.AssistantMessage(content=content))],
            usage=schemas.Usage(
                prompt_tokens=prompt_tokens,
                completion_tokens=completion_tokens,
                total_tokens=prompt_tokens + completion_tokens,
            ),
            conversation_id=meta["conversation_id"],
            citations=done.get("citations", []),
        )

    async def stream(self, principal: Principal, request: schemas.ChatCompletionRequest) -> AsyncIterator[bytes]:
        """`chat.completion.chunk` events, then `data: [DONE]`. Errors before the answer starts
        (unknown model or conversation) are raised here, so they are plain HTTP errors."""
        events = await self._turn(principal, request)
        meta = await anext(events)
        completion_id = f"chatcmpl-{uuid.uuid4().hex}"
        created = int(time.time())
        include_usage = bool(request.stream_options and request.stream_options.include_usage)

        def chunk(delta: dict[str, Any], finish_reason: str | None = None, **extra: Any) -> bytes:
            body = {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": request.model,
                "system_fingerprint": None,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}],
                "conversation_id": meta["conversation_id"],
                **extra,
            }
            return b"data: " + orjson.dumps(body) + b"\n\n"

        async def sse() -> AsyncIterator[bytes]:
            yield chunk({"role": "assistant", "content": ""})
            answer_chars = 0
            try:
                async for event in events:
                    if event["event"] == "token":
                        answer_chars += len(event["text"])
                        yield chunk({"content": event["text"]})
                    elif event["event"] == "done":
                        if event.get("handoff"):
                            answer_chars += len(event["notice"])
                            yield chunk({"content": event["notice"]})
                        yield chunk({}, "stop", citations=event.get("citations", []))
            except Exception as exc:  # noqa: BLE001 - the response has started: report in-band
                log.exception("completion stream failed", exc_info=exc)
                error = {"message": "the answer failed; retry", "type": "server_error", "code": "internal_error"}
                yield b"data: " + orjson.dumps({"error": error}) + b"\n\n"
                return
            if include_usage:
                prompt_tokens = _tokens(sum(len(m.text) for m in request.messages))
                completion_tokens = _tokens(answer_chars)
                usage = {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": completion_tokens,
                    "total_tokens": prompt_tokens + completion_tokens,
                }
                body = {
                    "id": completion_id,
                    "object": "chat.completion.chunk",
                    "created": created,
                    "model": request.model,
                    "choices": [],
                    "usage": usage,
                }
                yield b"data: " + orjson.dumps(body) + b"\n\n"
            yield b"data: [DONE]\n\n"

        return sse()


def _model(bot: asyncpg.Record) -> schemas.Model:
    return schemas.Model(id=str(bot["id"]), created=int(bot["created_at"].timestamp()), name=bot["name"])
