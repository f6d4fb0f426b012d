"""OpenAI chat completions over core's chat pipeline: one chat path, a second wire format.

The `model` is a bot id. The last message is the visitor's message; earlier user/assistant
messages become the history of a new conversation (system and tool messages are ignored: the
bot's own system prompt and guardrails apply, and a caller cannot replace them). With the
`conversation_id` extension the stored conversation continues instead. Every completion is a
real chat turn: retrieval, guidance, guardrails, budget and persistence as on /api/chat.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg

from cortex.contracts.chat import ChatEvent, Done, HandedOff, Meta, Token
from cortex.core import openai_schemas as schemas
from cortex.core import schemas as core_schemas
from cortex.core import store
from cortex.core.chat import ChatPipeline, estimate_tokens, finished
from cortex.core.openai_schemas import MAX_MESSAGE_CHARS
from cortex.core.sse import frame
from cortex.errors import NotFound
from cortex.http.security import Principal

log = logging.getLogger("cortex.openai")


class ModelNotFound(NotFound):
    code = "model_not_found"


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

    async def _turn(self, principal: Principal, request: schemas.ChatCompletionRequest) -> AsyncIterator[ChatEvent]:
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
        assert isinstance(meta, Meta)
        done = await finished(events)
        content = done.content if isinstance(done, Done) else done.notice
        prompt_tokens = estimate_tokens(m.text for m in request.messages)
        completion_tokens = estimate_tokens([content])
        return schemas.ChatCompletion(
            id=f"chatcmpl-{(done.message_id or uuid.uuid4()).hex}",
            created=int(time.time()),
            model=request.model,
            choices=[schemas.Choice(message=schemas.AssistantMessage(content=content))],
            usage=schemas.Usage(
                prompt_tokens=prompt_tokens,
                completion_tokens=completion_tokens,
                total_tokens=prompt_tokens + completion_tokens,
            ),
            conversation_id=meta.conversation_id,
            citations=done.citations,
        )

    async def stream(self, principal: Principal, request: schemas.ChatCompletionRequest) -> AsyncIterator[bytes]:
        """`chat.completion.chunk` events, then `data: [DONE]`. Errors before the answer starts
        (unknown model or conversation) are raised here, so they are plain HTTP errors."""
        events = await self._turn(principal, request)
        meta = await anext(events)
        assert isinstance(meta, Meta)
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
                "conversation_id": meta.conversation_id,
                **extra,
            }
            return frame(body)

        async def frames() -> AsyncIterator[bytes]:
            yield chunk({"role": "assistant", "content": ""})
            answer: list[str] = []
            try:
                async for event in events:
                    if isinstance(event, Token):
                        answer.append(event.text)
                        yield chunk({"content": event.text})
                    elif isinstance(event, HandedOff):  # the bot stays quiet: its notice is the answer
                        answer.append(event.notice)
                        yield chunk({"content": event.notice})
                    if isinstance(event, Done | HandedOff):
                        yield chunk({}, "stop", citations=event.citations)
            except Exception as exc:  # noqa: BLE001 - the response has started: report in-band
                log.exception("completion stream failed", exc_info=exc)
                error = {"message": "the answer failed; retry", "type": "server_error", "code": "internal_error"}
                yield frame({"error": error})
                return
            if include_usage:
                prompt_tokens = estimate_tokens(m.text for m in request.messages)
                completion_tokens = estimate_tokens(answer)
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
                yield frame(body)
            yield frame(b"[DONE]")

        return frames()


def _model(bot: asyncpg.Record) -> schemas.Model:
    return schemas.Model(id=str(bot["id"]), created=int(bot["created_at"].timestamp()), name=bot["name"])
