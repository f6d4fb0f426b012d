"""The sentences of retrieved passages, scored against the question: what an extractive answer is made of.

A passage (a chunk of Markdown, a page's main text, an FAQ) is cut into units a reader can take
alone: sentences of a paragraph, list items, table rows, and fenced code blocks whole. Each unit
is embedded with the same model as the question (vectors are cached per unit text: the same
popular passages come back turn after turn) and gets its cosine similarity to the question and
the share of the question's content words it contains. Choosing and joining them into a reply
is the answer's business (`cortex.core.extractive`); here they are only cut and measured.
"""

from __future__ import annotations

import hashlib
import re
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import groupby
from typing import Literal

import numpy as np
from markdown_it import MarkdownIt

from cortex.text import content_set, weighted_overlap

Embed = Callable[[list[str]], Awaitable[list[list[float]]]]
UnitKind = Literal["sentence", "item", "row", "code"]

# A unit longer than this is a wall of text, not an answer sentence: cut at a word boundary (the
# embedder sees ~190 words anyway, and a reply quoting more than ~100 words is no longer short).
MAX_UNIT_CHARS = 700
# Per retriever process: ~30 units a turn, and a bot's popular passages repeat; 20,000 vectors of
# 384 float32 are ~30 MB.
CACHE_UNITS = 20_000
# Passages cut into units, per retriever process: the same popular passages come back turn after turn, and
# reading one with markdown-it costs ~0.1-0.3 ms; 5,000 passages are a few MB.
CACHE_PASSAGES = 5_000

# Fewer words than this and no closing punctuation: a heading or a line of code, not a sentence.
SHORT_UNIT_WORDS = 6

# Block structure only: inline markup stays as written, indented lines are text, not code, and HTML is text
# too, except comments, which a reader never sees.
_MARKDOWN = MarkdownIt("commonmark", {"html": True}).enable("table").disable(["code", "inline"])
_BULLET = re.compile(r"^([ \t]{0,6})•([ \t]+)", re.MULTILINE)  # PDFs' bullets, which Markdown has no syntax for
_TABLE_SEPARATOR = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$")
# A sentence ends at . ! ? (or their CJK forms) before whitespace and a capital, a digit, a quote,
# a bracket or Markdown emphasis/code: "e.g. the" and "embed.js in" stay whole.
_SENTENCE_END = re.compile(r"(?<=[.!?…。！？])[\"'”’)\]]?\s+(?=[A-Z0-9\"'“‘(\[*`_¿¡ÀÂÄÇÉÈÊËÎÏÔÖÙÛÜ])")
_ENDED = re.compile(r"[.!?:;…。！？)\]`*\"'”’]$")
_ABBREVIATION = re.compile(r"\b(e\.g|i\.e|etc|vs|cf|Mr|Mrs|Ms|Dr|St|No|approx|incl|min|max|sec)\.$", re.I)


@dataclass(frozen=True)
class Unit:
    text: str
    kind: UnitKind
    ord: int  # position in its passage


@dataclass(frozen=True)
class Evidence:
    """One unit of a retrieved passage, measured against the question."""

    passage: int  # index into the passages it was cut from
    ord: int
    kind: UnitKind
    text: str
    similarity: float  # cosine to the question
    overlap: float  # share of the question's content words it contains


def split_sentences(paragraph: str) -> list[str]:
    """A paragraph's sentences (abbreviations such as "e.g." do not end one)."""
    pieces = _SENTENCE_END.split(" ".join(paragraph.split()))
    sentences: list[str] = []
    for piece in pieces:
        if sentences and _ABBREVIATION.search(sentences[-1]):
            sentences[-1] = f"{sentences[-1]} {piece}"
        elif piece:
            sentences.append(piece)
    return sentences


def _cut(text: str) -> str:
    return text if len(text) <= MAX_UNIT_CHARS else text[:MAX_UNIT_CHARS].rsplit(" ", 1)[0] + " …"


def _row(line: str) -> str:
    """A Markdown table row as text: its cells joined by dashes."""
    cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
    return " — ".join(cell for cell in cells if cell)


def split_units(text: str) -> list[Unit]:
    """A passage's readable units in order: sentences, list items, table rows, code blocks."""
    return list(_split_units(text))


@lru_cache(maxsize=CACHE_PASSAGES)
def _split_units(text: str) -> tuple[Unit, ...]:
    units: list[Unit] = []

    def add(kind: UnitKind, value: str, *, first_line: bool = False) -> None:
        value = value.strip()
        if not value or not any(ch.isalnum() for ch in value):
            return
        if kind == "sentence" and (value.endswith("?") or value.count(" | ") >= 2):
            return  # a question (an FAQ's own) answers nothing; a flattened table row reads as noise
        if kind == "sentence" and not units and first_line and value[0].islower():
            return  # a chunk opening mid-sentence (the overlap with the chunk before): a fragment
        if kind == "sentence" and len(value.split()) < SHORT_UNIT_WORDS and not _ENDED.search(value):
            return  # a heading or a command line that parsing left as plain text, not a sentence
        units.append(Unit(_cut(value) if kind != "code" else value, kind, len(units)))

    tokens = _MARKDOWN.parse(_BULLET.sub(r"\1-\2", text))
    in_item = False  # the next paragraph opens a list item, so it is the item itself
    index = 0
    while index < len(tokens):
        token = tokens[index]
        if token.type == "list_item_open":
            in_item = True
        elif token.type == "fence":
            in_item = False
            code = token.content if token.content.endswith("\n") else f"{token.content}\n"  # a fence the chunk cut
            add("code", f"{token.markup}{token.info}\n{code}{token.markup}")
        elif token.type == "heading_open":
            index += 3  # a heading says what follows; it answers nothing itself
            continue
        elif token.type == "tr_open":
            cells = []
            while tokens[index].type != "tr_close":
                if tokens[index].type == "inline":
                    cells.append(tokens[index].content.strip())
                index += 1
            add("row", " — ".join(cell for cell in cells if cell))
        elif token.type == "inline" or (token.type == "html_block" and not token.content.lstrip().startswith("<!--")):
            lines = [line.strip() for line in token.content.splitlines()]
            if in_item:
                add("item", " ".join(lines))
            else:
                # Pipe-led lines are rows whose header (which would make them a table) went to the chunk before.
                for is_row, run in groupby(lines, key=lambda line: line.startswith("|")):
                    if is_row:
                        for line in run:
                            if not _TABLE_SEPARATOR.match(line):
                                add("row", _row(line))
                        continue
                    for sentence in split_sentences(" ".join(run)):
                        add("sentence", sentence, first_line=token.map is not None and token.map[0] == 0)
            in_item = False
        index += 1
    if len(units) > 1 and units[-1].kind == "sentence" and not _ENDED.search(units[-1].text):
        units.pop()  # the chunk ends mid-sentence: the rest is in the next chunk
    return tuple(units)


class UnitVectors:
    """Unit embeddings, computed once per distinct text (an LRU in this process)."""

    def __init__(self, embed: Embed, *, capacity: int = CACHE_UNITS) -> None:
        self.embed = embed
        self.capacity = capacity
        self._cache: OrderedDict[bytes, np.ndarray] = OrderedDict()

    async def vectors(self, texts: Sequence[str]) -> np.ndarray:
        keys = [hashlib.blake2b(text.encode(), digest_size=16).digest() for text in texts]
        # The hits are taken before awaiting the embedder: a concurrent call may evict them meanwhile.
        found = {key: self._cache[key] for key in keys if key in self._cache}
        missing = list(dict.fromkeys(key for key in keys if key not in found))
        if missing:
            first_text = {key: text for key, text in zip(keys, texts, strict=True)}
            computed = await self.embed([first_text[key] for key in missing])
            found.update(
                (key, np.asarray(vector, dtype=np.float32)) for key, vector in zip(missing, computed, strict=True)
            )
        for key in keys:
            self._cache[key] = found[key]
            self._cache.move_to_end(key)
        while len(self._cache) > self.capacity:
            self._cache.popitem(last=False)
        return np.stack([found[key] for key in keys]) if keys else np.zeros((0, 0), dtype=np.float32)


def without_title(text: str, title: str) -> str:
    """A passage without a first line that only repeats its title (an FAQ passage starts with its
    question; pages often repeat their heading): a title is not an answer."""
    first, newline, rest = text.partition("\n")
    return (
        rest if newline and title and " ".join(first.split()).casefold() == " ".join(title.split()).casefold() else text
    )


async def measure(
    question: str,
    vector: Sequence[float],
    passages: Sequence[tuple[str, str]],
    unit_vectors: UnitVectors,
    rarity: dict[str, float] | None = None,
) -> list[Evidence]:
    """Every unit of every passage ((title, text) pairs) with its similarity to the question and
    the share of the question's words it contains, each word weighted by its `rarity` in the bot's
    knowledge (a word no passage has weighs most: "Slack" in "Does Cortex integrate with Slack?")."""
    cut = [
        (index, unit)
        for index, (title, text) in enumerate(passages)
        for unit in split_units(without_title(text, title))
    ]
    if not cut:
        return []
    # A unit is embedded under its passage's title ("Paying: Orders are paid on delivery."): alone,
    # a sentence often does not say what it is about. A code block is embedded with the sentence
    # before it when there is one: alone, `make run` or a JSON body says little of what it is for.
    texts = [
        _titled(passages[index][0], _embedding_text(unit, passages_units=cut, position=i))
        for i, (index, unit) in enumerate(cut)
    ]
    similarities = (await unit_vectors.vectors(texts)) @ np.asarray(vector, dtype=np.float32)
    wanted = content_set(question)
    return [
        Evidence(
            passage=index,
            ord=unit.ord,
            kind=unit.kind,
            text=unit.text,
            similarity=round(float(similarity), 4),
            overlap=round(weighted_overlap(wanted, unit.text, rarity or {}), 4),
        )
        for (index, unit), similarity in zip(cut, similarities, strict=True)
    ]


def _titled(title: str, text: str) -> str:
    return f"{title}: {text}" if title else text


def _embedding_text(unit: Unit, *, passages_units: list[tuple[int, Unit]], position: int) -> str:
    if unit.kind == "code" and position > 0:
        previous_index, previous = passages_units[position - 1]
        if previous_index == passages_units[position][0]:
            return f"{previous.text}\n{unit.text}"
    return unit.text
