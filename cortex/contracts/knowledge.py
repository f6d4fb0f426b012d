"""What knowledge gives its callers: retrieved passages, the best FAQ, and chat's lookup of a question."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, TypedDict

SNIPPET_CHARS = 300


@dataclass(frozen=True)
class Passage:
    """A retrieved chunk. `source_id` is the citation id: a collection document's own id, a page URL,
    a file's source id or an FAQ id; `similarity` is the cosine similarity to the query (chat's
    confidence), `score` the fused rank score."""

    source_id: str
    title: str
    text: str
    score: float
    url: str | None = None
    similarity: float = 0.0
    chunk_id: str = ""
    source: str = ""

    @property
    def snippet(self) -> str:
        text = " ".join(self.text.split())
        return text if len(text) <= SNIPPET_CHARS else text[: SNIPPET_CHARS - 1].rsplit(" ", 1)[0] + "…"


@dataclass(frozen=True)
class FaqMatch:
    """The best FAQ for a question: `similarity` is its score by FaqScoring (what chat compares with
    the bot's direct-answer threshold), `features` what the score was made of."""

    faq_id: str
    question: str
    answer: str
    similarity: float
    features: dict[str, float] = field(default_factory=dict)


class EvidenceUnit(TypedDict):
    """One unit of a retrieved passage (a sentence, list item, table row or code block) measured
    against the question: what an extractive answer is made of."""

    passage: int  # index into the lookup's passages
    ord: int  # position in its passage
    kind: Literal["sentence", "item", "row", "code"]
    text: str
    similarity: float  # cosine to the question
    overlap: float  # share of the question's content words it contains


@dataclass(frozen=True)
class Lookup:
    """What knowledge found for a visitor's question, in one call (chat's first step).

    `vector` is the question's embedding (for the answer cache); `faq` the closest FAQ, if any;
    `passages` the best passages (none when the FAQ clears the caller's threshold or none were
    asked for); `evidence` their units measured against the question, when asked for;
    `unknown_share` the share of the question's weight in words the bot's knowledge never uses
    (a sign it is asked about something else).
    """

    vector: list[float]
    faq: FaqMatch | None = None
    passages: tuple[Passage, ...] = ()
    evidence: tuple[EvidenceUnit, ...] = ()
    unknown_share: float = 0.0
