"""The chat pipeline: one visitor message in, one grounded answer out (streamed).

load history → (embed the question, match an FAQ, retrieve passages: one call to knowledge)
‖ ask the helper → a direct answer, or an answer from the passages: extracted from their
sentences (the default without an LLM endpoint) or written by a model → persist → events.
Knowledge and guidance run concurrently, each with its own timeout; a failure of either is
tracked apart and marks the message degraded, and none switches a guardrail off: with nothing
relevant retrieved (or retrieval down) the bot says it does not know and offers a person,
instead of letting a model answer without knowledge.

A turn about an appointment (or one a scheduling run waits for) goes to workflows' Scheduler
instead, before knowledge or the helper is asked (cortex.core.booking); its reply is the answer.

`ChatPipeline.turn` reads as these steps; the knowledge step is cortex.core.understanding, the
prompt cortex.core.prompt, the answer's sanitizing and citations cortex.core.answer_text.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import logging
import math
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import asyncpg

from cortex import bus
from cortex.background import keep_running
from cortex.contracts import NO_GUIDANCE, Guidance, HistoryTurn, Passage
from cortex.contracts.booking import BookingIntent
from cortex.contracts.chat import ChatEvent, Done, HandedOff, Meta, Token
from cortex.core import booking, extractive, schemas, store
from cortex.core.answer_text import citation, drop_unsupported_marks, number_citations, sanitize_answer, shareable
from cortex.core.answers import AnswerCache
from cortex.core.applied import AppliedGuidance, for_reply, guided, not_applied
from cortex.core.llm_limits import LLMLimits
from cortex.core.prompt import build_prompt
from cortex.core.replies import reply
from cortex.core.service.closing import reopen
from cortex.core.service.conversations import record_message, start_conversation
from cortex.core.understanding import DirectKind, RetrieverPort, Understanding, understand
from cortex.errors import NotFound
from cortex.http.security import Principal
from cortex.models.llm import GenerationParams
from cortex.settings import get_settings

log = logging.getLogger("cortex.chat")

PROTOCOL = "cortex-chat/1"  # versioned so old embeds keep working when events change
HISTORY_WINDOW = 10  # messages; a 135M-2k-context model cannot use more, larger models do fine
CHARS_PER_TOKEN = 4  # the budget's estimate: no tokenizer is loaded to count what a remote model read

DONT_KNOW = reply("dont_know")
CANNOT_LOOK_UP = reply("cannot_look_up")
LLM_UNAVAILABLE = reply("llm_unavailable")
HANDOFF_NOTICE = reply("handoff")
BUDGET_EXHAUSTED = reply("budget")
Backend = Literal["extractive", "local", "openai"]


class GuidePort(Protocol):
    async def advise(
        self,
        *,
        workspace_id: uuid.UUID,
        bot_id: uuid.UUID,
        conversation_id: uuid.UUID,
        message: str,
        visitor_id: str | None = None,
        history: Sequence[HistoryTurn] = (),
        embedding: Sequence[float] | None = None,
    ) -> Guidance: ...


#: The question's embedding (knowledge's Embedder): computed once per turn, for knowledge and the helper.
Embed = Callable[[list[str]], Awaitable[list[list[float]]]]


class LLMPort(Protocol):
    def stream(self, messages: list[dict[str, str]], params: GenerationParams) -> AsyncIterator[str]: ...


@dataclass(frozen=True)
class Timeouts:
    retrieval_s: float = 2.0
    guidance_s: float = 0.3
    booking_s: float = 5.0


@dataclass(frozen=True)
class Turn:
    """One chat turn once the visitor's message is stored: who asks which bot, in which conversation."""

    principal: Principal
    data: schemas.ChatIn
    bot: asyncpg.Record
    conversation_id: uuid.UUID
    visitor_message_id: uuid.UUID
    status: str
    history: list[dict[str, str]]  # earlier turns ({role: visitor|bot, content}), oldest first
    llm: schemas.LLMSettings
    backend: Backend
    booking_active: bool = False  # the conversation's scheduling run waits for this message

    @property
    def language(self) -> str:
        return self.bot["language"]


@dataclass
class Draft:
    """The answer as it is planned and written: what it may draw on, its pieces, what it cost."""

    relevant: list[Passage]  # the passages the answer may use (and cite)
    extracted: str | None  # the extractive answer, its [n] numbering `relevant`; None: nothing answers
    canned: str | None  # a fixed reply instead (cannot look up, don't know, budget spent, model down)
    degraded: bool
    parts: list[str] = field(default_factory=list)
    cited: list[Passage] = field(default_factory=list)  # an extraction's, numbered before it streams
    prompt: list[dict[str, str]] = field(default_factory=list)  # what a model read
    tokens_out: int = 0


def follow_ups(bot: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The buttons under an answer that could not help: the bot's lead form, and a person."""
    return [{"type": "lead_form", "fields": list(bot["lead_fields"]) or ["email"]}, {"type": "handoff"}]


def estimate_tokens(texts: Iterable[str]) -> int:
    """Tokens as the bot's budget and the OpenAI door's usage count them: ~4 characters each, rounded up."""
    return math.ceil(sum(len(text) for text in texts) / CHARS_PER_TOKEN)


async def finished(events: AsyncIterator[ChatEvent]) -> Done | HandedOff:
    """The turn's `done` event, once the rest of its stream is read (for callers that do not stream)."""
    done: Done | HandedOff | None = None
    async for event in events:
        if isinstance(event, Done | HandedOff):
            done = event
    if done is None:
        raise RuntimeError("the chat turn ended without a done event")
    return done


class ChatPipeline:
    """Collaborators are injected: Serve handles in the cluster, local objects in tests."""

    def __init__(
        self,
        *,
        db: asyncpg.Pool,
        retriever: RetrieverPort,
        guide: GuidePort,
        llm: LLMPort,
        timeouts: Timeouts = Timeouts(),
        answer_cache: AnswerCache | None = None,
        default_backend: Backend = "extractive",
        llm_limits: LLMLimits | None = None,
        embed: Embed | None = None,
        scheduler: booking.BookingPort | None = None,
    ) -> None:
        self.db = db
        self.retriever = retriever
        self.guide = guide
        # Without it, knowledge embeds the question itself and the helper gets no embedding.
        self.embed = embed
        self.llm = llm
        self.scheduler = scheduler or booking.NoBooking()  # workflows' Scheduler: turns about appointments
        self.timeouts = timeouts
        self.answer_cache = answer_cache
        self.default_backend = default_backend  # what `auto` bots answer with
        # The operator's limits hold at answer time too: a bot stored before they were lowered
        # answers with the default model, and its tokens and budget cut to them.
        self.llm_limits = llm_limits or LLMLimits.from_settings(get_settings())

    async def turn(
        self, principal: Principal, data: schemas.ChatIn, *, prior_turns: list[dict[str, str]] | None = None
    ) -> AsyncIterator[ChatEvent]:
        """Events: meta, then token* (or a whole answer), then done.

        `prior_turns` ({role: visitor|bot, content}) stand in for the stored history when a new
        conversation starts: the OpenAI-compatible API sends the earlier exchange with every request.
        """
        if principal.kind == "visitor" and principal.bot_id != data.bot_id:
            raise NotFound("bot not found")
        turn = await self._begin(principal, data, prior_turns)
        yield Meta(protocol=PROTOCOL, conversation_id=turn.conversation_id, message_id=turn.visitor_message_id)
        if turn.status == "handoff":  # a person is answering: the bot stays quiet
            yield HandedOff(conversation_id=turn.conversation_id, notice=reply("handoff", turn.language))
            return
        booked = await self._booking(turn)
        if booked is not None:  # workflows' Scheduler answered: no knowledge, no helper
            yield Token(text=booked.text)
            yield await self._booked(turn, booked)
            return
        understood, guidance, guidance_failed = await self._consult(turn)
        if understood.direct is not None:
            direct = understood.direct
            # An FAQ's answer is the owner's text; a cached answer was sanitized when it was first given.
            answer = sanitize_answer(direct.answer) if direct.kind == "faq" else direct.answer
            yield Token(text=answer)
            yield await self._finish(
                turn, answer, citations=direct.citations, direct=direct.kind, applied=not_applied(direct.kind)
            )
            return
        draft = self._plan(turn, understood, guidance_failed)
        if not draft.relevant and understood.passages is not None and booking.helper_reads_booking(guidance):
            # The rules missed it, the knowledge has nothing, and the helper's analysis reads a wish to book.
            booked = await self._booking(turn, hint="book")
            if booked is not None:
                yield Token(text=booked.text)
                yield await self._booked(turn, booked)
                return
        async with contextlib.aclosing(self._write(turn, draft, guidance)) as pieces:
            async for piece in pieces:
                yield Token(text=piece)
        answer, cited = self._final_text(turn, draft)
        citations = [citation(p) for p in cited]
        done = await self._finish(
            turn,
            answer,
            citations=citations,
            # An answer that could not help offers the two ways on: leave details, or a person.
            actions=follow_ups(turn.bot) if draft.canned is not None else [],
            degraded=draft.degraded,
            answered=draft.canned is None,
            tokens_in=estimate_tokens(m["content"] for m in draft.prompt) if draft.canned is None else 0,
            tokens_out=draft.tokens_out,
            # Guidance steers only what a model writes: a fixed or extracted reply records why not.
            applied=for_reply(guidance, canned=draft.canned is not None, extractive=turn.backend == "extractive"),
        )
        await self._remember(turn, understood, draft, answer, cited, citations)
        yield done

    async def _booking(self, turn: Turn, hint: BookingIntent | None = None) -> booking.BookingReply | None:
        """The Scheduler's reply when the turn is about an appointment (or its run waits for it);
        `hint`: what the helper read when core's rules read nothing."""
        principal = turn.principal
        return await booking.converse(
            self.scheduler,
            self.db,
            workspace_id=principal.workspace_id,
            bot=turn.bot,
            conversation_id=turn.conversation_id,
            visitor_id=principal.subject if principal.kind == "visitor" else None,
            message=turn.data.message,
            time_zone=turn.data.time_zone,
            booking_active=turn.booking_active,
            timeout_s=self.timeouts.booking_s,
            follow_ups=follow_ups(turn.bot),
            hint=hint,
        )

    async def _booked(self, turn: Turn, booked: booking.BookingReply) -> Done:
        """Store the Scheduler's reply (or the fixed one when it failed) as the bot's message."""
        return await self._finish(
            turn,
            booked.text,
            citations=[],
            actions=booked.actions,
            degraded=booked.degraded,
            answered=booked.answered,
            applied=not_applied("booking" if booked.answered else "canned"),
        )

    def backend_for(self, llm_settings: schemas.LLMSettings) -> Backend:
        """The bot's answer backend; `auto` is the configured endpoint, or extraction without one."""
        if llm_settings.backend == "auto":
            return self.default_backend
        return llm_settings.backend

    async def _begin(
        self, principal: Principal, data: schemas.ChatIn, prior_turns: list[dict[str, str]] | None
    ) -> Turn:
        """One transaction: the conversation (new or continued) and the visitor's message."""
        visitor_message_id = uuid.uuid4()
        async with self.db.acquire() as conn, conn.transaction():
            bot = await store.get_chat_bot(conn, workspace_id=principal.workspace_id, bot_id=data.bot_id)
            if bot is None:
                raise NotFound("bot not found")
            conversation_id, status, history, booking_active = await self._open_conversation(conn, principal, data)
            if prior_turns and data.conversation_id is None:
                history = prior_turns[-HISTORY_WINDOW:]
            await record_message(
                conn,
                workspace_id=principal.workspace_id,
                bot_id=data.bot_id,
                conversation_id=conversation_id,
                message_id=visitor_message_id,
                role="visitor",
                content=data.message,
            )
        llm = self.llm_limits.within(schemas.LLMSettings(**bot["llm"]), plan=principal.plan)
        return Turn(
            principal=principal,
            data=data,
            bot=bot,
            conversation_id=conversation_id,
            visitor_message_id=visitor_message_id,
            status=status,
            history=history,
            llm=llm,
            backend=self.backend_for(llm),
            booking_active=booking_active,
        )

    async def _consult(self, turn: Turn) -> tuple[Understanding, Guidance, bool]:
        """The question embedded once, then knowledge and the helper asked at once with that vector:
        (understanding, guidance, whether guidance failed). The embedding counts against retrieval's
        deadline; the helper gets its own timeout from when it is asked. A direct answer from
        knowledge needs no guidance: the helper's call is dropped."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        vector, embedded = await self._embed_question(turn)
        if embedded:
            guidance_task = asyncio.ensure_future(self._advise(turn, vector))
        else:  # the helper cannot judge a turn it cannot read; knowledge tries to embed it itself
            guidance_task = asyncio.ensure_future(self._no_embedding())
        try:
            understood = await understand(
                self.retriever,
                self.answer_cache,
                turn.principal,
                turn.data,
                turn.bot,
                first_turn=not turn.history,
                timeout_s=max(0.0, self.timeouts.retrieval_s - (loop.time() - started)),
                vector=vector,
            )
            if understood.direct is not None:
                return understood, NO_GUIDANCE, False
            guidance, guidance_failed = await self._guidance(guidance_task)
            return understood, guidance, guidance_failed
        finally:
            guidance_task.cancel()  # a no-op once done; stops it when the visitor has gone

    def _plan(self, turn: Turn, understood: Understanding, guidance_failed: bool) -> Draft:
        """What the answer may draw on, or the fixed reply it gets instead."""
        # Each dependency's failure is its own: any marks the turn degraded, none turns a check off.
        retrieval_failed = understood.passages is None
        passages = understood.passages or []
        # Whether the passages answer the question is decided by their sentences, whatever writes
        # the answer (a passage as a whole can be far from a question one of its sentences answers,
        # and near one it does not answer): retrieval confidence, not a model asked nicely.
        extracted = self._extract(passages, understood)
        if extracted is None:
            relevant: list[Passage] = []
        elif turn.backend == "extractive":
            relevant = passages
        else:  # a model reads only the passages with a sentence that answers on its own
            answering = extractive.answering_passages(understood.evidence, [p.similarity for p in passages])
            relevant = [p for index, p in enumerate(passages) if index in answering]
        canned: str | None = None
        if retrieval_failed:
            canned = reply("cannot_look_up", turn.language)  # never a model answering without knowledge
        elif not relevant:
            canned = reply("dont_know", turn.language)
        elif turn.backend != "extractive" and self._budget_spent(turn):
            canned = reply("budget", turn.language)
        return Draft(
            relevant=relevant, extracted=extracted, canned=canned, degraded=retrieval_failed or guidance_failed
        )

    def _budget_spent(self, turn: Turn) -> bool:
        """The bot's own monthly budget, or its workspace's plan ceiling (all its bots together), is used up."""
        ceiling = self.llm_limits.budget_ceiling(turn.principal.plan)
        return turn.bot["tokens_used"] >= turn.llm.monthly_token_budget or turn.bot["workspace_tokens_used"] >= ceiling

    async def _write(self, turn: Turn, draft: Draft, guidance: Guidance) -> AsyncGenerator[str, None]:
        """The answer's pieces as they are written (extracted sentences, a model's tokens, or the
        fixed reply), kept in `draft` with what they cost."""
        if draft.canned is None and turn.backend == "extractive" and draft.extracted is not None:
            # Whole before it streams: the pieces are the stored answer's, numbered as its citations.
            # Escaped, not stripped: the business's own text keeps a `<your-key>` placeholder or an `a < b`.
            text, draft.cited = number_citations(html.escape(draft.extracted, quote=False), draft.relevant)
            async for piece in extractive.stream_text(text):
                draft.parts.append(piece)
                yield piece
        elif draft.canned is None:
            draft.prompt = build_prompt(turn.bot, draft.relevant, guidance, turn.history, turn.data.message)
            params = GenerationParams(
                max_tokens=turn.llm.max_tokens,
                temperature=turn.llm.temperature,
                model=turn.llm.model,
                backend=turn.backend,
            )
            try:
                async for piece in self.llm.stream(draft.prompt, params):
                    draft.parts.append(piece)
                    draft.tokens_out += 1
                    yield piece
            except (asyncio.CancelledError, GeneratorExit):
                # The visitor left mid-answer: generation stops (this unwinds into the LLM's stream),
                # and what was written until then is kept, in a task of its own since this one is
                # being torn down.
                keep_running(self._keep_interrupted(turn, draft, guidance), what="keeping an interrupted answer")
                raise
            except Exception as exc:  # noqa: BLE001 - the visitor gets an answer, never a broken stream
                log.warning("LLM failed mid-answer: %r", exc)
                draft.degraded = True
                if not draft.parts:
                    draft.canned = reply("llm_unavailable", turn.language)
        if draft.canned is not None:
            draft.parts = [draft.canned]
            yield draft.canned

    def _final_text(self, turn: Turn, draft: Draft) -> tuple[str, list[Passage]]:
        """The answer as it is stored and shown, and the passages it cites."""
        if draft.canned is not None:
            return draft.canned, []
        if turn.backend == "extractive":
            return "".join(draft.parts), draft.cited  # sanitized and numbered before it streamed
        answer = sanitize_answer("".join(draft.parts)) or reply("dont_know", turn.language)
        answer = drop_unsupported_marks(answer, draft.relevant)
        return number_citations(answer, draft.relevant)

    async def _finish(
        self,
        turn: Turn,
        answer: str,
        *,
        citations: list[dict[str, Any]],
        actions: list[dict[str, Any]] | None = None,
        degraded: bool = False,
        answered: bool = True,
        direct: DirectKind | None = None,
        tokens_in: int = 0,
        tokens_out: int = 0,
        applied: AppliedGuidance | None = None,
    ) -> Done:
        """Store the bot's answer (with the guidance `applied` to it: owners see it, the visitor and
        `done` never do), announce it, count its tokens; the `done` event that ends the turn."""
        message_id = uuid.uuid4()
        announced: dict[str, Any] = {"degraded": degraded, "answered": answered}
        if direct is not None:
            announced["direct"] = direct
        async with self.db.acquire() as conn, conn.transaction():
            await record_message(
                conn,
                workspace_id=turn.principal.workspace_id,
                bot_id=turn.data.bot_id,
                conversation_id=turn.conversation_id,
                message_id=message_id,
                role="bot",
                content=answer,
                citations=citations,
                actions=actions,
                direct_answer=direct is not None,
                degraded=degraded,
                tokens_in=tokens_in,
                tokens_out=tokens_out,
                answered=answered,
                event_extra=announced,
                applied=applied,
            )
            if tokens_in or tokens_out:
                await store.add_usage(
                    conn,
                    workspace_id=turn.principal.workspace_id,
                    bot_id=turn.data.bot_id,
                    tokens=tokens_in + tokens_out,
                )
        return Done(
            conversation_id=turn.conversation_id,
            message_id=message_id,
            content=answer,
            citations=citations,
            actions=actions or [],
            degraded=degraded,
            direct_answer=direct is not None,
        )

    @staticmethod
    def _extract(passages: list[Passage], understood: Understanding) -> str | None:
        """The extractive reply, its [n] marks numbering the passages; None when no sentence
        answers the question (then no backend answers: the bot says it does not know)."""
        picks = extractive.choose(
            understood.evidence, [p.similarity for p in passages], unknown_share=understood.unknown_share
        )
        return extractive.render(picks, {i: i + 1 for i in range(len(passages))}) if picks else None

    async def _keep_interrupted(self, turn: Turn, draft: Draft, guidance: Guidance) -> None:
        """The part of an answer written before the visitor left (with the guidance its model was
        given), and the tokens it cost."""
        tokens_in = estimate_tokens(m["content"] for m in draft.prompt)
        partial = sanitize_answer("".join(draft.parts))
        async with self.db.acquire() as conn, conn.transaction():
            if partial:
                answer, cited = number_citations(partial, draft.relevant)
                await record_message(
                    conn,
                    workspace_id=turn.principal.workspace_id,
                    bot_id=turn.data.bot_id,
                    conversation_id=turn.conversation_id,
                    message_id=uuid.uuid4(),
                    role="bot",
                    content=answer,
                    citations=[citation(p) for p in cited],
                    degraded=draft.degraded,
                    interrupted=True,
                    tokens_in=tokens_in,
                    tokens_out=draft.tokens_out,
                    answered=True,
                    event_extra={"degraded": draft.degraded, "answered": True, "interrupted": True},
                    applied=guided(guidance),
                )
            await store.add_usage(
                conn,
                workspace_id=turn.principal.workspace_id,
                bot_id=turn.data.bot_id,
                tokens=tokens_in + draft.tokens_out,
            )

    async def _remember(
        self,
        turn: Turn,
        understood: Understanding,
        draft: Draft,
        answer: str,
        cited: list[Passage],
        citations: list[dict[str, Any]],
    ) -> None:
        """A grounded first-turn answer is kept for the next visitor who asks the same thing, unless
        it or what it was written from must not be shared."""
        if self.answer_cache is None or understood.vector is None:
            return
        if draft.canned is not None or draft.degraded or not citations or turn.history:
            return
        # A model read every passage it was given, cited or not; an extraction holds only what it cites.
        if not shareable(answer, cited if turn.backend == "extractive" else draft.relevant):
            return
        try:
            await self.answer_cache.put(turn.data.bot_id, understood.vector, answer=answer, citations=citations)
        except Exception as exc:  # noqa: BLE001
            log.warning("answer cache write failed: %r", exc)

    async def _open_conversation(
        self, conn: asyncpg.Connection, principal: Principal, data: schemas.ChatIn
    ) -> tuple[uuid.UUID, str, list[dict[str, str]], bool]:
        workspace_id = principal.workspace_id
        visitor_id = principal.subject if principal.kind == "visitor" else None
        if data.conversation_id is not None:
            # Locked: a conversation being closed (idle) waits for this turn, or this turn for its
            # closing, and then reopens it.
            row = await store.get_conversation(
                conn, workspace_id=workspace_id, conversation_id=data.conversation_id, for_update=True
            )
            # A visitor continues only their own conversation; a member or API key only one it
            # started (no visitor): a visitor's is answered through the handoff routes.
            if row is None or row["bot_id"] != data.bot_id or row["visitor_id"] != visitor_id:
                raise NotFound("conversation not found")
            if row["status"] == "closed":  # writing again reopens it (closed again later, announced anew)
                row = await reopen(conn, workspace_id=workspace_id, conversation=row)
            history = await store.recent_messages(
                conn, workspace_id=workspace_id, conversation_id=row["id"], limit=HISTORY_WINDOW
            )
            turns = [{"role": r["role"], "content": r["content"]} for r in history if r["role"] in ("visitor", "bot")]
            # data's uuid.UUID: asyncpg's own UUID type is no JSON
            return data.conversation_id, row["status"], turns, row["booking_active"]
        conversation_id = await start_conversation(
            conn, workspace_id=workspace_id, bot_id=data.bot_id, visitor_id=visitor_id
        )
        await bus.emit(
            conn,
            schema="core",
            event_type="conversation.started",
            workspace_id=workspace_id,
            payload={"conversation_id": str(conversation_id), "bot_id": str(data.bot_id), "visitor_id": visitor_id},
        )
        return conversation_id, "open", [], False

    async def _embed_question(self, turn: Turn) -> tuple[list[float] | None, bool]:
        """(the question's embedding, whether the turn may go on to the helper): (None, True) without
        an embedder (knowledge embeds, the helper gets none); (None, False) when embedding failed."""
        if self.embed is None:
            return None, True
        try:
            [vector] = await asyncio.wait_for(self.embed([turn.data.message]), timeout=self.timeouts.retrieval_s)
        except Exception as exc:  # noqa: BLE001 - knowledge embeds it itself, the helper is skipped
            log.warning("embedding the question failed: %r", exc)
            return None, False
        return list(vector), True

    async def _advise(self, turn: Turn, vector: list[float] | None) -> Guidance:
        principal = turn.principal
        return await asyncio.wait_for(
            self.guide.advise(
                workspace_id=principal.workspace_id,
                bot_id=turn.data.bot_id,
                conversation_id=turn.conversation_id,
                message=turn.data.message,
                visitor_id=principal.subject if principal.kind == "visitor" else None,
                history=[HistoryTurn(role=t["role"], text=t["content"]) for t in turn.history],  # type: ignore[arg-type]
                embedding=vector,
            ),
            timeout=self.timeouts.guidance_s,
        )

    @staticmethod
    async def _no_embedding() -> Guidance:
        raise RuntimeError("the question could not be embedded: no guidance")

    async def _guidance(self, task: asyncio.Future[Guidance]) -> tuple[Guidance, bool]:
        """The helper's advice, or none (and degraded) if it failed or was too slow."""
        try:
            return await task, False
        except Exception as exc:  # noqa: BLE001 - the answer goes ahead without guidance
            log.warning("helper failed, answering without guidance: %r", exc)
            return Guidance(reason="helper_failed"), True
