"""An answer's text: sanitized to plain text, its [n] citation marks checked against the passages
and renumbered, the sources it shows, and whether it may be shared through the answer cache."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from typing import Any

from cortex.contracts import Passage
from cortex.text import content_set

# An answer built on passages that carry links or instructions to the reader is not shared with
# other visitors through the answer cache: one poisoned page must not answer everyone.
_UNSHAREABLE = re.compile(
    r"https?://|\bwww\.|[\w.+-]+@[\w-]+\.[\w.]+|\b(ignore|disregard|forget)\b.{0,40}\b(instructions?|prompts?|rules?)\b"
    r"|\bsystem prompt\b|\byou (are|must) now\b",
    re.IGNORECASE | re.DOTALL,
)

# A cited passage supports a sentence when it holds this share of the sentence's content words:
# a model's "[2]" after a sentence about something else is dropped. 0.4: a sentence sharing one
# word in three with the passage ("Unicorns deliver on Sundays" and "closed on Sundays") is not
# supported by it; a close paraphrase keeps more than that.
SUPPORT_OVERLAP = 0.4
# Markup: "<" then a tag name, "/", "!" or "?" (a tag, an end tag, a comment or a doctype). A "<"
# that starts no tag is text: "<< >>" in a form to fill in, "x < 5 and y > 3".
_TAG = re.compile(r"<[/!?]?[A-Za-z][^<>]{0,200}>|<!--.{0,200}?-->")
_CODE = re.compile(r"```.*?(?:```|$)|`[^`\n]+`", re.S)  # a code block (closed or not) or a code span
_MARK = re.compile(r"( ?)\[(\d{1,2})\]")


def _by_code(text: str, prose: Callable[[str], str], code: Callable[[str], str]) -> str:
    """`text` with its prose and its code spans and blocks each transformed their own way."""
    parts: list[str] = []
    position = 0
    for span in _CODE.finditer(text):
        parts += [prose(text[position : span.start()]), code(span.group(0))]
        position = span.end()
    parts.append(prose(text[position:]))
    return "".join(parts)


def sanitize_answer(text: str) -> str:
    """Plain text (and markdown) only: no HTML reaches the widget. Tags outside code are removed;
    inside code spans and blocks (a snippet to copy) they are kept as escaped text."""
    return _by_code(
        text,
        lambda prose: html.escape(_TAG.sub("", prose), quote=False),
        lambda code: html.escape(code, quote=False),
    ).strip()


def cited_passages(answer: str, passages: list[Passage]) -> list[Passage]:
    """Only passages that were given to the model and that the answer points at ([n]); none when it
    points at none. `items[1]` in a code span or block is no citation."""
    prose = _by_code(answer, str, lambda code: " " * len(code))
    marked = {int(mark[2]) for mark in _MARK.finditer(prose)}
    return [p for i, p in enumerate(passages, start=1) if i in marked]


def drop_unsupported_marks(answer: str, passages: list[Passage]) -> str:
    """Each [n] stays only where passage n supports the sentence it follows (shares enough of its
    content words); a model's mark after a sentence the passage does not say is removed."""
    texts = {i: content_set(f"{p.title} {p.text}") for i, p in enumerate(passages, start=1)}
    out: list[str] = []
    position = 0
    for match in re.finditer(r"(?:\s*\[(\d{1,2})\])+", answer):
        sentence_start = max(answer.rfind(end, position, match.start()) for end in (". ", "! ", "? ", "\n"))
        sentence = answer[max(sentence_start, position) : match.start()]
        wanted = content_set(re.sub(r"\[\d{1,2}\]", " ", sentence))
        kept = []
        for number in re.findall(r"\[(\d{1,2})\]", match.group(0)):
            present = texts.get(int(number))
            if present is None:
                continue
            shared = len(wanted & present)
            if shared and (not wanted or shared / len(wanted) >= SUPPORT_OVERLAP):
                kept.append(f"[{number}]")
        out.append(answer[position : match.start()])
        if kept:
            out.append(" " + " ".join(kept))
        position = match.end()
    out.append(answer[position:])
    return "".join(out)


def number_citations(answer: str, passages: list[Passage]) -> tuple[str, list[Passage]]:
    """The answer with its [n] marks renumbered to follow the cited passages (the visitor sees
    sources 1, 2, … matching the marks), and those passages. Marks naming no passage go."""
    cited = cited_passages(answer, passages)
    numbers = {id(p): i for i, p in enumerate(passages, start=1)}
    new_number = {numbers[id(p)]: i for i, p in enumerate(cited, start=1)}

    def renumber(match: re.Match[str]) -> str:
        number = new_number.get(int(match.group(2)))
        return f"{match.group(1)}[{number}]" if number else ""

    return _by_code(answer, lambda prose: _MARK.sub(renumber, prose), str), cited  # code is copied as it is


def shareable(answer: str, passages: list[Passage]) -> bool:
    """Whether an answer may be served to other visitors from the answer cache: not when it, or a
    passage it was written from, carries a link, an address or instructions to the reader."""
    return not any(_UNSHAREABLE.search(text) for text in (answer, *(f"{p.title} {p.text}" for p in passages)))


def citation(passage: Passage) -> dict[str, Any]:
    """What the visitor sees of a source: its citation id, title, link (page or document URL) and a snippet."""
    return {
        "source_id": passage.source_id,
        "title": passage.title,
        "url": passage.url,
        "snippet": passage.snippet,
        "source": passage.source or None,
    }
