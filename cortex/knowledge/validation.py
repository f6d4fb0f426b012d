"""The rules a record is held to however it arrives (API request or uploaded file): FAQ question and
phrasing limits, phrasing clean-up, and the error that locates one rejected row of a file."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

QUESTION_MIN_CHARS = 3  # "FAQ" is the shortest question worth matching
QUESTION_MAX_CHARS = 500  # a question longer than a paragraph is content, not a question
# An alternative phrasing is another way to ask the question: held to the question's lengths.
PHRASING_MIN_CHARS = QUESTION_MIN_CHARS
PHRASING_MAX_CHARS = QUESTION_MAX_CHARS
# 20 phrasings: more than the ways customers really ask one thing; each is a vector to write
# and to search on every chat turn.
MAX_PHRASINGS = 20


@dataclass(frozen=True)
class RowError:
    """One rejected record of an uploaded file, located the way its owner would find it in an editor."""

    line: int  # 1-based: the physical line where the record starts, or its position in a JSON list
    message: str  # what is wrong, phrased for the file's owner; never repeats the location
    unit: Literal["line", "item"] = "line"  # "item" for records of a JSON list, which have no line of their own

    def __str__(self) -> str:
        return f"{self.unit} {self.line}: {self.message}"


def question_key(question: str) -> str:
    """The identity of a question for duplicate detection: case- and whitespace-insensitive."""
    return " ".join(question.casefold().split())


def clean_phrasings(phrasings: Sequence[str], *, question: str | None = None) -> list[str]:
    """An FAQ's alternative phrasings as stored: each on one line, blanks, repeats and the question
    itself dropped (case and spacing ignored), in the owner's order. ValueError says what is wrong."""
    seen = {question_key(question)} if question is not None else set()
    cleaned: list[str] = []
    for phrasing in phrasings:
        text = " ".join(phrasing.split())
        if not text or question_key(text) in seen:
            continue
        if not PHRASING_MIN_CHARS <= len(text) <= PHRASING_MAX_CHARS:
            shown = text if len(text) <= 40 else text[:40] + "…"
            raise ValueError(
                f'phrasing "{shown}" must be {PHRASING_MIN_CHARS}–{PHRASING_MAX_CHARS} characters, it has {len(text)}'
            )
        seen.add(question_key(text))
        cleaned.append(text)
    if len(cleaned) > MAX_PHRASINGS:
        raise ValueError(f"at most {MAX_PHRASINGS} phrasings allowed, found {len(cleaned)}")
    return cleaned
