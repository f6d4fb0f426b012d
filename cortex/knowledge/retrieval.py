"""Search a bot's knowledge: dense (Chroma, our embeddings) plus lexical (BM25 in Postgres), fused.

Fusion mixes z-normalised scores (dense weight from settings): on BEIR SciFact it beat
reciprocal rank fusion by ~0.01 nDCG@10 and either half alone by ~0.05 (bench/retrieval.py).
Passages are read from Postgres, the record, so a vector left behind by an interrupted delete
is never shown. A bot only ever searches its own collection and rows, filtered by workspace.
"""

from __future__ import annotations

import asyncio
import logging
import statistics
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import asyncpg

from cortex.background import keep_running
from cortex.contracts.knowledge import EvidenceUnit, FaqMatch, Lookup, Passage
from cortex.knowledge import store
from cortex.knowledge.evidence import Evidence, UnitVectors, measure
from cortex.knowledge.vectors import VectorStore, chunk_collection, faq_collection, faq_vector_ids
from cortex.settings import Settings
from cortex.text import content_set

Embed = Callable[[list[str]], Awaitable[list[list[float]]]]
Mode = Literal["hybrid", "dense", "lexical"]

# Candidates taken from each half before fusing: deep enough that a passage ranked low by one
# half and high by the other still meets, cheap enough (one HNSW query, one BM25 query).
MIN_CANDIDATES = 50
# BM25 over one bot's chunks answers in milliseconds; past this the hybrid ranking goes on without
# it. Well inside chat's whole retrieval deadline (CORTEX_RETRIEVAL_TIMEOUT_S, 2 s), so a stuck
# lexical half costs the answer its BM25 ranking, not all of its passages.
LEXICAL_TIMEOUT_S = 0.8

log = logging.getLogger("cortex.knowledge.retrieval")


# Nearest FAQ vectors read per question. An FAQ has a vector for its question, each phrasing and
# its answer, so 40 still reach ten or more FAQs when some have many phrasings; one HNSW query either way.
FAQ_VECTORS_K = 40
# FAQs scored per question: those with the nearest vectors. On the bank FAQ paraphrases
# (bench/data/answers) the right FAQ is among the nearest 5 for 85% of questions, 10 for 92%,
# 20 for 95%; past 10 the answer and lexical features rarely lift one that far up.
FAQ_CANDIDATES = 10


@dataclass(frozen=True)
class FaqScoring:
    """The one place FAQ matching's weights live: score = question·w_q + answer·w_a + lexical·w_l.

    Features, each 0..1 in practice: `question`, the best cosine similarity of the visitor's
    question to the FAQ's question or one of its phrasings; `answer`, to the FAQ's answer;
    `lexical`, the idf-weighted share of the visitor's terms that the question and phrasings
    contain (store.faq_candidates). The weights were fitted on the tuning half of the bank FAQ
    paraphrases (bench/data/answers): top-1 0.633 with the question alone, 0.658 with these (held
    out: 0.617 and 0.642); bots' default direct-answer threshold, 0.8, was chosen with them.
    """

    question: float = 1.0
    answer: float = 0.2
    lexical: float = 0.1

    def score(self, features: Mapping[str, float]) -> float:
        return (
            self.question * features["question"] + self.answer * features["answer"] + self.lexical * features["lexical"]
        )


def faq_hits(hits: Sequence[tuple[str, float, dict[str, Any], str]]) -> dict[str, dict[int, dict[str, float]]]:
    """Nearest FAQ vectors grouped as {faq id: {version: {"q" | "p" | "a": best similarity}}}.

    A vector without an FAQ id (written before versions) is left out."""
    grouped: dict[str, dict[int, dict[str, float]]] = {}
    for _, similarity, metadata, _ in hits:
        faq_id, kind, version = metadata.get("faq_id"), metadata.get("kind"), metadata.get("version")
        if not isinstance(faq_id, str) or kind not in ("q", "p", "a") or not isinstance(version, int):
            continue
        kinds = grouped.setdefault(faq_id, {}).setdefault(version, {})
        kinds[kind] = max(similarity, kinds.get(kind, -1.0))
    return grouped


def faq_features(nearest: Mapping[str, float], computed: Mapping[str, float], lexical: float) -> dict[str, float]:
    """An FAQ's features from its nearest vectors' similarities by kind ("q", "p", "a"), completed by
    `computed` (similarities by kind for vectors the nearest did not include)."""
    similarities = {**computed, **nearest}
    return {
        "question": max(similarities.get("q", 0.0), similarities.get("p", 0.0)),
        "answer": similarities.get("a", 0.0),
        "lexical": lexical,
    }


def _z(scores: dict[str, float]) -> dict[str, float]:
    if len(scores) < 2:
        return {key: 0.0 for key in scores}
    mean = statistics.fmean(scores.values())
    spread = statistics.pstdev(scores.values()) or 1.0
    return {key: (value - mean) / spread for key, value in scores.items()}


def fuse(dense: dict[str, float], lexical: dict[str, float], *, dense_weight: float) -> list[tuple[str, float]]:
    """Convex combination of z-scores; a candidate missing from one list gets that list's lowest."""
    dense_z, lexical_z = _z(dense), _z(lexical)
    dense_floor = min(dense_z.values(), default=0.0)
    lexical_floor = min(lexical_z.values(), default=0.0)
    fused = {
        key: dense_weight * dense_z.get(key, dense_floor) + (1 - dense_weight) * lexical_z.get(key, lexical_floor)
        for key in dense_z.keys() | lexical_z.keys()
    }
    return sorted(fused.items(), key=lambda item: (-item[1], item[0]))


def _evidence_unit(unit: Evidence) -> EvidenceUnit:
    return EvidenceUnit(
        passage=unit.passage,
        ord=unit.ord,
        kind=unit.kind,
        text=unit.text,
        similarity=unit.similarity,
        overlap=unit.overlap,
    )


class Retriever:
    """Hybrid search over one bot's chunks, and FAQ matching for direct answers."""

    def __init__(self, *, pool: asyncpg.Pool, vectors: VectorStore, embed: Embed, dense_weight: float = 0.5) -> None:
        self.pool = pool
        self.vectors = vectors
        self.embed = embed
        self.dense_weight = dense_weight
        self.unit_vectors = UnitVectors(embed)

    async def _dense(
        self, *, workspace_id: uuid.UUID, bot_id: uuid.UUID, vector: list[float], k: int, sources: Sequence[str] | None
    ) -> dict[str, float]:
        where: dict[str, Any] = {"workspace_id": str(workspace_id)}
        if sources:
            where = {"$and": [where, {"source_id": {"$in": list(sources)}}]}
        hits = await self.vectors.query(chunk_collection(bot_id), vector=vector, k=k, where=where, content=False)
        return {chunk_id: similarity for chunk_id, similarity, _, _ in hits}

    async def _lexical(
        self, *, workspace_id: uuid.UUID, bot_id: uuid.UUID, query: str, k: int, sources: Sequence[str] | None
    ) -> dict[str, float]:
        async with self.pool.acquire() as conn:
            rows = await store.lexical_search(
                conn, workspace_id=workspace_id, bot_id=bot_id, query=query, k=k, time_limit_s=LEXICAL_TIMEOUT_S
            )
        return {row["id"]: float(row["score"]) for row in rows if not sources or str(row["source_id"]) in sources}

    async def _lexical_or_nothing(self, **kwargs: Any) -> dict[str, float]:
        """In hybrid mode a slow or failing BM25 half degrades the ranking to dense only, never the search."""
        try:
            return await self._lexical(**kwargs)
        except (TimeoutError, asyncpg.PostgresError, OSError):
            log.warning("lexical search failed; ranking by dense similarity only", exc_info=True)
            return {}

    async def search(
        self,
        *,
        workspace_id: uuid.UUID,
        bot_id: uuid.UUID,
        query: str,
        k: int = 5,
        mode: Mode = "hybrid",
        source_ids: Sequence[str] | None = None,
        vector: list[float] | None = None,
    ) -> list[Passage]:
        """The k best passages, best first (`vector`: the query's embedding, when the caller has it)."""
        depth = max(k, MIN_CANDIDATES)
        dense: dict[str, float] = {}
        lexical: dict[str, float] = {}
        if mode == "lexical":
            lexical = await self._lexical(
                workspace_id=workspace_id, bot_id=bot_id, query=query, k=depth, sources=source_ids
            )
        else:
            if vector is None:
                [vector] = await self.embed([query])
            dense_task = self._dense(
                workspace_id=workspace_id, bot_id=bot_id, vector=vector, k=depth, sources=source_ids
            )
            if mode == "dense":
                dense = await dense_task
            else:
                dense, lexical = await asyncio.gather(
                    dense_task,
                    self._lexical_or_nothing(
                        workspace_id=workspace_id, bot_id=bot_id, query=query, k=depth, sources=source_ids
                    ),
                )
        if mode == "dense":
            ranked = sorted(dense.items(), key=lambda item: (-item[1], item[0]))
        elif mode == "lexical":
            ranked = sorted(lexical.items(), key=lambda item: (-item[1], item[0]))
        else:
            ranked = fuse(dense, lexical, dense_weight=self.dense_weight)
        top = ranked[:k]
        if not top:
            return []
        async with self.pool.acquire() as conn:
            rows = await store.chunks_by_ids(
                conn, workspace_id=workspace_id, bot_id=bot_id, chunk_ids=[chunk_id for chunk_id, _ in top]
            )
        by_id = {row["id"]: row for row in rows}
        similarity = dict(dense)
        if vector is not None:
            similarity.update(await self._similarities(bot_id, vector, [key for key, _ in top if key not in dense]))
        return [
            Passage(
                source_id=row["document_key"],
                title=row["title"],
                text=row["text"],
                score=round(score, 4),
                url=row["url"],
                similarity=round(similarity.get(chunk_id, 0.0), 4),
                chunk_id=chunk_id,
                source=str(row["source_id"]),
            )
            for chunk_id, score in top
            if (row := by_id.get(chunk_id)) is not None
        ]

    async def _similarities(self, bot_id: uuid.UUID, vector: list[float], chunk_ids: list[str]) -> dict[str, float]:
        """Cosine similarity of lexical-only hits, so chat's confidence covers them too."""
        if not chunk_ids:
            return {}
        stored = await self.vectors.embeddings(chunk_collection(bot_id), ids=chunk_ids)
        return {chunk_id: sum(a * b for a, b in zip(vector, other, strict=True)) for chunk_id, other in stored.items()}

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
    ) -> Lookup:
        """Chat's first step, in one call: the question's embedding (for the answer cache), the
        closest FAQ, and with `k`, the k best passages, looked up alongside the FAQ. An FAQ at or
        above `faq_threshold` answers directly, so then the passages are not waited for (and none
        are returned). With `evidence`, the passages' units (sentences, items, rows, code) measured
        against the question, for an extractive answer. `vector`: the question's embedding when the
        caller already computed it (chat embeds once per turn, for knowledge and the helper alike);
        without it the question is embedded here."""
        if vector is None:
            [vector] = await self.embed([question])
        else:
            vector = list(vector)
        faq_lookup = self.match_faq(workspace_id=workspace_id, bot_id=bot_id, question=question, vector=vector)
        if k <= 0:
            return Lookup(vector=vector, faq=await faq_lookup)
        searching = asyncio.ensure_future(
            self.search(workspace_id=workspace_id, bot_id=bot_id, query=question, k=k, vector=vector)
        )
        try:
            match = await faq_lookup
        except BaseException:
            searching.cancel()
            raise
        if match is not None and faq_threshold is not None and match.similarity >= faq_threshold:
            # Left to finish rather than cancelled: cancelling a Postgres query costs a connection more.
            keep_running(searching, what="a search the FAQ made unneeded")
            return Lookup(vector=vector, faq=match)
        passages = await searching
        if not evidence:
            return Lookup(vector=vector, faq=match, passages=tuple(passages))
        terms = sorted(content_set(question))
        async with self.pool.acquire() as conn:
            rarity, unknown = await store.term_rarity(conn, workspace_id=workspace_id, bot_id=bot_id, terms=terms)
        titled = [(p.title, p.text) for p in passages]
        measured = await measure(question, vector, titled, self.unit_vectors, rarity)
        # The share of the question's weight in words this bot's knowledge never uses
        # ("Slack" in "Does Cortex integrate with Slack?"): a sign it is asked about something else.
        total = sum(rarity.values())
        # Identifiers ("cortex_llm_url", "embed.js") are split by Postgres's parser, so the index
        # never holds them whole: not knowing one is no sign of an off-topic question.
        unknown = [term for term in unknown if not any(mark in term for mark in "._/")]
        return Lookup(
            vector=vector,
            faq=match,
            passages=tuple(passages),
            evidence=tuple(_evidence_unit(unit) for unit in measured),
            unknown_share=round(sum(rarity[t] for t in unknown) / total, 4) if total else 0.0,
        )

    async def match_faq(
        self,
        *,
        workspace_id: uuid.UUID,
        bot_id: uuid.UUID,
        question: str,
        vector: list[float] | None = None,
        scoring: FaqScoring = FaqScoring(),
    ) -> FaqMatch | None:
        """The FAQ that matches the visitor's question best by `scoring` of its features (None: no FAQ).

        Candidates come from the nearest question, phrasing and answer vectors; their rows come
        from Postgres, the record, so a vector whose FAQ is gone, disabled, or at another version
        (a write that failed, or one not yet committed) is never matched."""
        if vector is None:
            [vector] = await self.embed([question])
        hits = await self.vectors.query(
            faq_collection(bot_id), vector=vector, k=FAQ_VECTORS_K, where={"workspace_id": str(workspace_id)}
        )
        nearest = faq_hits(hits)
        if not nearest:
            return None
        async with self.pool.acquire() as conn:
            rows = await store.faq_candidates(
                conn,
                workspace_id=workspace_id,
                bot_id=bot_id,
                faq_ids=[uuid.UUID(faq_id) for faq_id in nearest],
                query=question,
            )
        current = [(row, kinds) for row in rows if (kinds := nearest[str(row["id"])].get(row["version"]))]
        current.sort(key=lambda pair: (-max(pair[1].values()), str(pair[0]["id"])))
        candidates = current[:FAQ_CANDIDATES]
        if not candidates:
            return None
        computed = await self._missing_faq_similarities(bot_id, vector, candidates)
        scored = []
        for row, kinds in candidates:
            features = faq_features(kinds, computed.get(str(row["id"]), {}), float(row["lexical"]))
            scored.append((scoring.score(features), features, row))
        score, features, row = max(scored, key=lambda item: (item[0], item[1]["question"], str(item[2]["id"])))
        return FaqMatch(
            faq_id=str(row["id"]),
            question=row["question"],
            answer=row["answer"],
            similarity=round(score, 4),
            features={name: round(value, 4) for name, value in features.items()},
        )

    async def _missing_faq_similarities(
        self, bot_id: uuid.UUID, vector: list[float], candidates: Sequence[tuple[asyncpg.Record, dict[str, float]]]
    ) -> dict[str, dict[str, float]]:
        """{faq id: {kind: similarity}} for the kinds (question and phrasings, or answer) none of a
        candidate's vectors among the nearest had, from its stored vectors. Any vector of a kind not
        among the nearest is further than those that are, so the nearest give the exact maximum."""
        wanted: dict[str, tuple[str, str]] = {}
        for row, kinds in candidates:
            ids = faq_vector_ids(row["id"], row["version"], len(row["phrasings"]))
            for vector_id in ids:
                kind = vector_id.rsplit(":", 1)[1][0]
                if kind not in kinds and not (kind in "qp" and ("q" in kinds or "p" in kinds)):
                    wanted[vector_id] = (str(row["id"]), kind)
        if not wanted:
            return {}
        stored = await self.vectors.embeddings(faq_collection(bot_id), ids=list(wanted))
        computed: dict[str, dict[str, float]] = {}
        for vector_id, other in stored.items():
            faq_id, kind = wanted[vector_id]
            similarity = sum(a * b for a, b in zip(vector, other, strict=True))
            kinds = computed.setdefault(faq_id, {})
            kinds[kind] = max(similarity, kinds.get(kind, -1.0))
        return computed


class LazyRetriever:
    """A Retriever on the knowledge schema whose pool opens on first use (constructors cannot await)."""

    def __init__(self, settings: Settings, embed: Embed) -> None:
        self.settings = settings
        self.embed = embed
        self._retriever: Retriever | None = None
        self._lock = asyncio.Lock()

    async def get(self) -> Retriever:
        async with self._lock:
            if self._retriever is None:
                from cortex.db.pool import create_pool

                pool = await create_pool(
                    self.settings.service_database_url("knowledge"), self.settings, schema="knowledge"
                )
                self._retriever = Retriever(
                    pool=pool,
                    vectors=VectorStore(self.settings.resolved_chroma_url()),
                    embed=self.embed,
                    dense_weight=self.settings.hybrid_dense_weight,
                )
        return self._retriever

    async def search(self, **kwargs: Any) -> list[Passage]:
        return await (await self.get()).search(**kwargs)

    async def match_faq(self, **kwargs: Any) -> FaqMatch | None:
        return await (await self.get()).match_faq(**kwargs)

    async def lookup(self, **kwargs: Any) -> Lookup:
        return await (await self.get()).lookup(**kwargs)
