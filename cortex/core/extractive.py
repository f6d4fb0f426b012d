"""The extractive answer: the retrieved sentences that best answer the question, each cited, nothing invented.

The default answer backend when no LLM endpoint is configured. A 135M local model writes fluent
text that the passages do not support; this backend writes no word of its own: it takes the
units (sentences, list items, table rows, code blocks) that knowledge measured against the
question, keeps the best few, and joins them in document order, each followed by its passage's
citation mark. When no unit is close enough, it does not answer (the pipeline says it does not
know and offers a person).

Scoring a unit: its own similarity to the question (does it say what was asked?), its passage's
(is the passage about the question at all?) and the share of the question's content words it
contains. The weights and floors are `ExtractiveScoring`'s defaults, tuned on the shipped
question sets (bench/llm_quality.py).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from cortex.contracts import EvidenceUnit
from cortex.text import content_set


@dataclass(frozen=True)
class ExtractiveScoring:
    """Weights and bars, fitted on the tuning half of the shipped question sets (demo questions,
    bank FAQ paraphrases, off-topic questions; bench/llm_quality.py measures the other half)."""

    unit_weight: float = 0.4
    passage_weight: float = 0.4
    overlap_weight: float = 0.15
    # The best unit's score below which the passages do not answer the question: on the tuning
    # half, off-topic questions' best units score ~0.15-0.35, answerable ones ~0.35-0.7.
    answer_floor: float = 0.36
    # How much the question's share of words unknown to the bot lowers its best unit's score: a
    # question about "Slack" is not answered by a sentence about Cortex in general.
    unknown_weight: float = 0.2
    # Further units are kept while within this of the best one: one that scores far lower is
    # about something else.
    margin: float = 0.15
    max_units: int = 3
    max_words: int = 110  # a short reply: ~3 sentences, or a sentence and its code block
    duplicate_overlap: float = 0.7  # a unit sharing this much of its words with a kept one repeats it


DEFAULT_SCORING = ExtractiveScoring()


@dataclass(frozen=True)
class Pick:
    passage: int
    ord: int
    kind: str
    text: str
    score: float


def _score(unit: EvidenceUnit, passage_similarity: float, scoring: ExtractiveScoring) -> float:
    return (
        scoring.unit_weight * float(unit["similarity"])
        + scoring.passage_weight * passage_similarity
        + scoring.overlap_weight * float(unit["overlap"])
    )


def answering_passages(
    evidence: Sequence[EvidenceUnit],
    passage_similarities: Sequence[float],
    scoring: ExtractiveScoring = DEFAULT_SCORING,
) -> set[int]:
    """The passages with a unit that clears the bar on its own: what a model is given to write from."""
    return {
        int(unit["passage"])
        for unit in evidence
        if int(unit["passage"]) < len(passage_similarities)
        and _score(unit, passage_similarities[int(unit["passage"])], scoring) >= scoring.answer_floor
    }


def _repeats(text: str, kept: list[Pick], threshold: float) -> bool:
    words = content_set(text)
    for pick in kept:
        other = content_set(pick.text)
        if words and other and len(words & other) / min(len(words), len(other)) >= threshold:
            return True
    return False


def choose(
    evidence: Sequence[EvidenceUnit],
    passage_similarities: Sequence[float],
    scoring: ExtractiveScoring = DEFAULT_SCORING,
    *,
    unknown_share: float = 0.0,
) -> list[Pick]:
    """The units to answer with, in reading order ([] when none answers the question).
    `unknown_share`: the share of the question's weight in words the bot's knowledge never uses."""
    scored = sorted(
        (
            Pick(
                int(u["passage"]),
                int(u["ord"]),
                str(u["kind"]),
                str(u["text"]),
                _score(u, passage_similarities[int(u["passage"])], scoring),
            )
            for u in evidence
            if int(u["passage"]) < len(passage_similarities)
        ),
        key=lambda pick: (-pick.score, pick.passage, pick.ord),
    )
    if not scored or scored[0].score - scoring.unknown_weight * unknown_share < scoring.answer_floor:
        return []
    by_position = {(p.passage, p.ord): p for p in scored}
    kept: list[Pick] = []
    words = 0
    for pick in scored:
        if len(kept) >= scoring.max_units or pick.score < max(scoring.answer_floor, scored[0].score - scoring.margin):
            break
        if any(k.passage == pick.passage and k.ord == pick.ord for k in kept) or _repeats(
            pick.text, kept, scoring.duplicate_overlap
        ):
            continue
        group = _with_context(pick, by_position)
        size = sum(len(p.text.split()) for p in group)
        if kept and words + size > scoring.max_words:
            continue
        for member in group:
            if not any(k.passage == member.passage and k.ord == member.ord for k in kept):
                kept.append(member)
        words += size
    first_seen: dict[int, int] = {}
    for pick in kept:
        first_seen.setdefault(pick.passage, len(first_seen))
    return sorted(kept, key=lambda p: (first_seen[p.passage], p.ord))


def _with_context(pick: Pick, by_position: dict[tuple[int, int], Pick]) -> list[Pick]:
    """A unit with what it needs to be read alone: the sentence that introduces a code block or
    list ("Run:"), and the items or code that a sentence ending in a colon introduces."""
    group = [pick]
    previous = by_position.get((pick.passage, pick.ord - 1))
    if pick.kind in ("code", "item", "row") and previous is not None and previous.text.rstrip().endswith(":"):
        group.insert(0, previous)
    if pick.text.rstrip().endswith(":") or pick.kind == "item" and previous is not None and previous in group:
        position = pick.ord + 1
        while (following := by_position.get((pick.passage, position))) is not None and following.kind in (
            "code",
            "item",
            "row",
        ):
            group.append(following)
            position += 1
            if following.kind == "code" or len(group) >= 5:
                break
    return group


def render(picks: Sequence[Pick], marks: dict[int, int]) -> str:
    """The reply: each passage's units in order, a sentence or item followed by its citation mark;
    code blocks on lines of their own, cited by the sentence that introduces them."""
    out = ""
    previous: Pick | None = None
    for pick in picks:
        mark = f" [{marks[pick.passage]}]"
        same_paragraph = previous is not None and previous.passage == pick.passage and previous.kind == pick.kind
        if pick.kind == "code":
            out += f"\n\n{pick.text}"
        elif pick.kind in ("item", "row"):
            out += ("\n" if same_paragraph else "\n\n") + f"- {pick.text}{mark}"
        else:
            out += (" " if same_paragraph else "\n\n") + f"{pick.text}{mark}"
        previous = pick
    return out.strip()


async def stream_text(text: str) -> AsyncIterator[str]:
    """The reply in word-sized pieces, as a model would stream it."""
    start = 0
    for index, char in enumerate(text):
        if char == " " and index - start >= 12:
            yield text[start : index + 1]
            start = index + 1
    if start < len(text):
        yield text[start:]
