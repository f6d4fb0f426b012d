"""Cut a parsed document into passages sized for the embedding model, keeping its heading structure.

Sizes are counted in words, an approximation of model tokens that needs no tokenizer: the embedder,
all-MiniLM-L6-v2, truncates its input at 256 word-pieces, and English prose averages ~1.3 word-pieces
per word, so ~190 words is the most it can see. The indexer embeds "title — heading > heading\\n\\ntext"
(see `embedding_text`), so the chunk itself must stay well below that. Languages written without spaces
are counted poorly by words; very long space-free runs are cut into slices so no chunk grows unbounded.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from dataclasses import dataclass

from cortex.knowledge.parsing import ParsedDocument, Section

# 150 words ≈ 195 word-pieces, plus ~15 words of title and headings in the embedded text: inside the
# model's 256-piece window even after a tiny tail (MIN_TOKENS) is merged in.
DEFAULT_TARGET_TOKENS = 150
# 30 words ≈ two sentences repeated at the start of the next chunk of a section, so an answer that
# straddles a boundary is still whole in one of them; 20 % of a chunk is the usual cost/benefit point.
DEFAULT_OVERLAP_TOKENS = 30
# Chunks shorter than this match queries on a handful of words and crowd out real passages, so a
# trailing one is merged into its predecessor (which may then reach target + 30 ≈ 180 words).
DEFAULT_MIN_TOKENS = 30
# Once a chunk is half full, a paragraph that doesn't fit starts the next chunk instead of being split;
# below that, the paragraph's first sentences fill this chunk so no tiny chunk is left behind.
PARAGRAPH_BREAK_FILL = 0.5
MAX_WORD_CHARS = 40  # space-free runs (CJK text, URLs, base64) are sliced so one "word" stays small

# Whitespace after a sentence end, optionally behind one closing quote or bracket (kept with its sentence).
_SENTENCE_END = re.compile(r"(?<=[.!?…。！？])\s+|(?<=[.!?…。！？][\"')\]»”’])\s+")
_WHITESPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class Chunk:
    """One passage to embed; `id` is stable across re-ingestion of the same source."""

    id: str  # sha256 of (source_id, content_hash, occurrence of that content within the source)
    text: str  # the passage only: nothing prefixed; see embedding_text()
    title: str
    heading_path: list[str]
    ord: int  # 0-based position in the document
    page: int | None
    content_hash: str  # sha256 of (title, heading_path, normalised text): changes iff the embedding would


@dataclass(frozen=True)
class _Unit:
    """A piece of one section no longer than the target: a sentence, or a window of words of a longer one."""

    section: int  # index into the group's sections
    text: str
    words: int
    starts_paragraph: bool
    paragraph_words: int  # size of the whole paragraph this unit belongs to


@dataclass
class _Draft:
    units: list[_Unit]
    overlap: str = ""  # tail of the previous chunk of the same section, repeated at the start
    overlap_words: int = 0

    @property
    def words(self) -> int:
        return self.overlap_words + sum(unit.words for unit in self.units)


def count_tokens(text: str) -> int:
    """Approximate model tokens of `text` by its words (see the module docstring for why)."""
    return len(_words(text))


def _words(text: str) -> list[str]:
    words: list[str] = []
    for word in text.split():
        if len(word) <= MAX_WORD_CHARS:
            words.append(word)
        else:
            words.extend(word[start : start + MAX_WORD_CHARS] for start in range(0, len(word), MAX_WORD_CHARS))
    return words


def _sentences(paragraph: str) -> list[str]:
    return [sentence.strip() for sentence in _SENTENCE_END.split(paragraph) if sentence.strip()]


def _units(section_index: int, text: str, target: int) -> list[_Unit]:
    """A section as sentences (word windows for over-long ones), each knowing its paragraph's size."""
    units: list[_Unit] = []
    for paragraph in text.split("\n\n"):
        paragraph = paragraph.strip()
        if not paragraph:
            continue
        paragraph_words = count_tokens(paragraph)
        pieces: list[tuple[str, int]] = []
        for sentence in _sentences(paragraph):
            sentence_words = _words(sentence)
            if len(sentence_words) <= target:
                pieces.append((sentence, len(sentence_words)))
                continue
            for start in range(0, len(sentence_words), target):
                window = sentence_words[start : start + target]
                pieces.append((" ".join(window), len(window)))
        for index, (piece, words) in enumerate(pieces):
            units.append(_Unit(section_index, piece, words, index == 0, paragraph_words))
    return units


def _overlap_tail(units: list[_Unit], budget: int) -> tuple[str, int]:
    """The last sentences of `units` within `budget` words, or the last `budget` words if one is longer."""
    if budget <= 0 or not units:
        return "", 0
    pieces: list[tuple[str, str]] = []  # (separator before, sentence), paragraph breaks preserved
    for unit in units:
        if unit.section != units[-1].section:
            continue
        for index, sentence in enumerate(_sentences(unit.text)):
            pieces.append(("\n\n" if index == 0 and unit.starts_paragraph else " ", sentence))
    tail: list[tuple[str, str]] = []
    used = 0
    for separator, sentence in reversed(pieces):
        words = count_tokens(sentence)
        if used + words > budget:
            break
        tail.insert(0, (separator, sentence))
        used += words
    if tail:
        return "".join(separator + sentence for separator, sentence in tail).strip(), used
    last_words = _words(pieces[-1][1])[-budget:] if pieces else []
    return " ".join(last_words), len(last_words)


def _pack(units: list[_Unit], *, target: int, overlap: int, min_tokens: int) -> list[_Draft]:
    """Greedy packing of a group's units into drafts of at most `target` words, with intra-section overlap."""
    drafts: list[_Draft] = []
    current = _Draft([])
    for unit in units:
        overflows = current.words + unit.words > target
        # Prefer to end at a paragraph boundary once the chunk is reasonably full and the paragraph won't fit.
        paragraph_break = (
            unit.starts_paragraph
            and current.words >= target * PARAGRAPH_BREAK_FILL
            and current.words + unit.paragraph_words > target
        )
        if current.units and (overflows or paragraph_break):
            drafts.append(current)
            same_section = current.units[-1].section == unit.section
            tail, tail_words = (
                _overlap_tail(current.units, min(overlap, target - unit.words)) if same_section else ("", 0)
            )
            current = _Draft([], tail, tail_words)
        current.units.append(unit)
    if current.units:
        drafts.append(current)
    if len(drafts) >= 2:
        last_new_words = sum(unit.words for unit in drafts[-1].units)
        if last_new_words < min_tokens:  # a tiny tail: fold it into its predecessor, dropping its overlap
            last = drafts.pop()
            drafts[-1].units.extend(last.units)
    return drafts


def _common_prefix(paths: list[list[str]]) -> list[str]:
    prefix: list[str] = []
    for parts in zip(*paths, strict=False):
        if any(part != parts[0] for part in parts):
            break
        prefix.append(parts[0])
    return prefix


def _render(draft: _Draft, sections: list[Section]) -> tuple[str, list[str]]:
    """A draft's text and heading path; headings of merged sub-sections are kept inline as their own line."""
    section_ids = list(dict.fromkeys(unit.section for unit in draft.units))
    paths = [sections[index].heading_path for index in section_ids]
    heading_path = _common_prefix(paths) if len(section_ids) > 1 else list(paths[0])
    multi_section = len(section_ids) > 1
    parts: list[str] = []

    def separate(separator: str) -> None:
        if parts:
            parts.append(separator)

    previous_section: int | None = None
    for unit in draft.units:
        if unit.section == previous_section:
            separate("\n\n" if unit.starts_paragraph else " ")
        else:
            extra = sections[unit.section].heading_path[len(heading_path) :]
            if extra and multi_section:
                separate("\n\n")
                parts.append(" > ".join(extra))
            if previous_section is None and draft.overlap:  # the overlap continues the first unit's section
                separate("\n\n")
                parts.append(draft.overlap)
                separate("\n\n" if unit.starts_paragraph else " ")
            else:
                separate("\n\n")
        parts.append(unit.text)
        previous_section = unit.section
    return "".join(parts).strip(), heading_path


def _groups(sections: list[Section], min_tokens: int) -> list[list[Section]]:
    """Runs of sections that may share a chunk: same top-level heading and page; tiny runs join a neighbour."""
    groups: list[list[Section]] = []
    for section in sections:
        key = (section.heading_path[:1], section.page)
        if groups and (groups[-1][0].heading_path[:1], groups[-1][0].page) == key:
            groups[-1].append(section)
        else:
            groups.append([section])
    merged: list[list[Section]] = []
    for group in groups:
        if merged and merged[-1][0].page == group[0].page and _group_words(merged[-1]) < min_tokens:
            merged[-1].extend(group)  # a tiny run (an intro line, a heading with one sentence) joins the next
        else:
            merged.append(group)
    if len(merged) >= 2 and _group_words(merged[-1]) < min_tokens and merged[-2][0].page == merged[-1][0].page:
        merged[-2].extend(merged.pop())
    return merged


def _group_words(group: list[Section]) -> int:
    return sum(count_tokens(section.text) for section in group)


def normalise_text(text: str) -> str:
    """Text as compared for identity: Unicode NFC with whitespace runs collapsed to one space."""
    return _WHITESPACE.sub(" ", unicodedata.normalize("NFC", text)).strip()


def _sha256(*parts: str) -> str:
    return hashlib.sha256(json.dumps(parts, ensure_ascii=False).encode("utf-8")).hexdigest()


def chunk_document(
    doc: ParsedDocument,
    *,
    source_id: str,
    target_tokens: int = DEFAULT_TARGET_TOKENS,
    overlap_tokens: int = DEFAULT_OVERLAP_TOKENS,
    min_tokens: int = DEFAULT_MIN_TOKENS,
) -> list[Chunk]:
    """Structure-aware chunks of `doc` with ids that repeat when the same source is ingested again."""
    if not source_id:
        raise ValueError("source_id is required: chunk ids are scoped to their source")
    if target_tokens < 1 or not 0 <= overlap_tokens < target_tokens or not 0 <= min_tokens <= target_tokens:
        raise ValueError("need target_tokens >= 1, 0 <= overlap_tokens < target_tokens, 0 <= min_tokens <= target")
    sections = [section for section in doc.sections if section.text.strip()]
    chunks: list[Chunk] = []
    seen: dict[str, int] = {}
    for group in _groups(sections, min_tokens):
        units = [unit for index, section in enumerate(group) for unit in _units(index, section.text, target_tokens)]
        for draft in _pack(units, target=target_tokens, overlap=overlap_tokens, min_tokens=min_tokens):
            text, heading_path = _render(draft, group)
            content_hash = _sha256(normalise_text(doc.title), json.dumps(heading_path), normalise_text(text))
            occurrence = seen.get(content_hash, 0)  # identical passages in one source still get distinct ids
            seen[content_hash] = occurrence + 1
            chunks.append(
                Chunk(
                    id=_sha256(source_id, content_hash, str(occurrence)),
                    text=text,
                    title=doc.title,
                    heading_path=heading_path,
                    ord=len(chunks),
                    page=group[0].page,
                    content_hash=content_hash,
                )
            )
    return chunks


def embedding_text(chunk: Chunk) -> str:
    """What the indexer embeds: "title — heading > heading" then a blank line and the chunk's text."""
    headings = chunk.heading_path
    if headings and chunk.title.startswith(headings[0]):
        headings = headings[1:]  # web pages repeat their h1 in <title>
    context = " — ".join(part for part in (chunk.title, " > ".join(headings)) if part)
    return f"{context}\n\n{chunk.text}" if context else chunk.text
