"""The chat pipeline's knowledge step: one lookup of the visitor's question, and an answer that
needs no model when knowledge (an FAQ) or the answer cache already has one."""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Protocol

import asyncpg

from cortex.contracts import EvidenceUnit, Lookup, Passage
from cortex.core import schemas
from cortex.core.answers import AnswerCache
from cortex.http.security import Principal

log = logging.getLogger("cortex.chat")

RETRIEVAL_K = 4
DirectKind = Literal["faq", "cache"]


class RetrieverPort(Protocol):
    async def lookup(
        self,
        *,
        workspace_id: uuid.UUID,
        bot_id: uuid.UUID,
        question: str,
        k: int = 0,
        faq_threshold: float | None = None,
        evidence: bool = False,
        vector: list[float] | None = None,
    ) -> Lookup: ...


@dataclass(frozen=True)
class DirectAnswer:
    """An answer given without the LLM: an FAQ's, or a cached earlier answer to the same question."""

    answer: str
    citations: list[dict[str, Any]]
    kind: DirectKind


@dataclass(frozen=True)
class Understanding:
    """What knowledge said about the question; `passages` is None when retrieval failed."""

    vector: list[float] | None
    direct: DirectAnswer | None
    passages: list[Passage] | None
    evidence: list[EvidenceUnit] = field(default_factory=list)
    unknown_share: float = 0.0  # of the question's weight, in words the bot's knowledge never uses


async def understand(
    retriever: RetrieverPort,
    answer_cache: AnswerCache | None,
    principal: Principal,
    data: schemas.ChatIn,
    bot: asyncpg.Record,
    *,
    first_turn: bool,
    timeout_s: float,
    vector: list[float] | None = None,
) -> Understanding:
    """One call to knowledge: the question's embedding, an answer that needs no LLM if there is
    one (an FAQ whose match clears the bot's threshold, or on a first turn a cached answer to a
    question with the same meaning), the passages to answer from and their sentences measured
    against the question (what decides whether they answer it, and an extractive answer). A
    failing or slow lookup gives no direct answer and no passages (None: retrieval failed).
    `vector`: the question's embedding when the turn already has it (knowledge then does not embed)."""
    try:
        lookup = await asyncio.wait_for(
            retriever.lookup(
                workspace_id=principal.workspace_id,
                bot_id=data.bot_id,
                question=data.message,
                k=RETRIEVAL_K,
                faq_threshold=bot["direct_answer_threshold"],
                evidence=True,
                vector=vector,
            ),
            timeout=timeout_s,
        )
    except Exception as exc:  # noqa: BLE001 - the answer goes ahead without knowledge, marked degraded
        log.warning("retrieval failed, answering without it: %r", exc)
        return Understanding(vector=None, direct=None, passages=None)
    vector = lookup.vector
    found = Understanding(
        vector=vector,
        direct=None,
        passages=list(lookup.passages),
        evidence=list(lookup.evidence),
        unknown_share=lookup.unknown_share,
    )
    faq = lookup.faq
    if faq and faq.similarity >= bot["direct_answer_threshold"]:
        source = {"source_id": faq.faq_id, "title": faq.question, "url": None, "snippet": faq.question}
        return replace(found, direct=DirectAnswer(faq.answer, [source], "faq"))
    if first_turn and answer_cache is not None:
        try:
            cached = await answer_cache.get(data.bot_id, vector)
        except Exception as exc:  # noqa: BLE001 - the cache is an optimisation, never a failure
            log.warning("answer cache lookup failed: %r", exc)
            cached = None
        if cached is not None:
            return replace(found, direct=DirectAnswer(cached.answer, cached.citations, "cache"))
    return found
