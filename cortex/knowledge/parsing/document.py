"""What parsing produces (sections of a document), the errors it raises, and the text clean-up every format shares."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from cortex.errors import CortexError

Kind = Literal["pdf", "docx", "html", "markdown", "text", "csv", "jsonl"]
ErrorCode = Literal["empty", "encrypted", "corrupt", "unsupported", "too_large"]

KINDS: tuple[Kind, ...] = get_args(Kind)

# A 500-page PDF is a long manual; larger files are usually scanned archives or whole books, which
# cost minutes of extraction and thousands of embeddings for little answer quality.
DEFAULT_MAX_PAGES = 500
# ~2M characters ≈ 330k words ≈ 2,000 chunks: the most one upload may add to a bot's index.
DEFAULT_MAX_CHARS = 2_000_000
# One section (and later at least one chunk) per row: 20k rows keeps a CSV within the same budget.
DEFAULT_MAX_ROWS = 20_000

MAX_HEADING_CHARS = 200  # longer "headings" are paragraphs in a heading style
MAX_TITLE_CHARS = 200  # what fits a search result line; longer "titles" are first paragraphs


class ParseError(CortexError):
    """A file that cannot be turned into text; `code` says why, `message` says what the owner can do."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.status_code = 413 if code == "too_large" else 422


@dataclass(frozen=True)
class Section:
    """A run of text under one heading path (outermost heading first), on one PDF page when known."""

    heading_path: list[str]
    text: str
    page: int | None = None  # 1-based PDF page; None for formats without pages


@dataclass(frozen=True)
class ParsedDocument:
    """A document's title, its sections in reading order, and a few facts about the file."""

    title: str  # "" when the file has none; callers fall back to the file name
    sections: list[Section]
    metadata: dict[str, Any] = field(default_factory=dict)


_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
HORIZONTAL_SPACE = re.compile(r"[ \t\f\v\xa0\u1680\u2000-\u200a\u202f\u205f\u3000]+")
_BLANK_LINES = re.compile(r"\n[ \t\f\v\xa0]*\n+")
_TRAILING_SPACE = re.compile(r"[ \t\f\v]+$", re.MULTILINE)


def paragraphs(text: str) -> list[str]:
    """Paragraphs of `text`: blank-line separated, spaces collapsed, empty lines dropped, line breaks kept."""
    text = _CONTROL_CHARS.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    found = []
    for block in _BLANK_LINES.split(text):
        lines = (HORIZONTAL_SPACE.sub(" ", line).strip() for line in block.split("\n"))
        paragraph = "\n".join(line for line in lines if line)
        if paragraph:
            found.append(paragraph)
    return found


def code_block(code: str, info: str = "") -> str:
    """Code as a fenced Markdown block, its indentation and blank lines kept: how answers recognise and show code."""
    code = _TRAILING_SPACE.sub("", _CONTROL_CHARS.sub("", code.replace("\r\n", "\n").replace("\r", "\n")))
    code = code.strip("\n")
    if not code.strip():
        return ""
    fence = "~~~" if "```" in code else "```"  # answers look for ``` fences; ~~~ only when the code holds them
    return f"{fence}{one_line(info, 40)}\n{code}\n{fence}"


def one_line(text: str, limit: int) -> str:
    return " ".join(_CONTROL_CHARS.sub("", text).split())[:limit]


def too_large_chars(max_chars: int) -> ParseError:
    return ParseError(
        "too_large", f"This file has more than {max_chars:,} characters of text; split it into smaller files."
    )


def no_text() -> ParseError:
    return ParseError("empty", "We found no text in this file; check that it isn't blank.")


def first_line_title(sections: list[Section]) -> str:
    for section in sections:
        for line in section.text.split("\n"):
            if line.strip():
                return one_line(line, MAX_TITLE_CHARS)
    return ""


class SectionBuilder:
    """Collects paragraphs and code blocks under a heading stack and cuts a new section at every heading."""

    def __init__(self, *, max_chars: int, keep_headings: bool = False) -> None:
        self.max_chars = max_chars
        self.keep_headings = keep_headings  # a heading with no text of its own still gets a (textless) section
        self.sections: list[Section] = []
        self.chars = 0
        self._stack: list[tuple[int, str]] = []
        self._pending: list[tuple[str, bool]] = []  # (text, kept verbatim)

    def heading(self, level: int, text: str) -> None:
        title = one_line(text.replace("¶", ""), MAX_HEADING_CHARS)
        if not title:
            return
        self.flush()
        while self._stack and self._stack[-1][0] >= level:
            self._stack.pop()
        self._stack.append((level, title))

    def paragraph(self, text: str) -> None:
        self._add(text, verbatim=False)

    def code(self, code: str, info: str = "") -> None:
        """A code block, kept whole and fenced, with its line breaks and indentation."""
        block = code_block(code, info)
        if block:
            self._add(block, verbatim=True)

    def _add(self, text: str, *, verbatim: bool) -> None:
        self.chars += len(text)
        if self.chars > self.max_chars:
            raise too_large_chars(self.max_chars)
        self._pending.append((text, verbatim))

    def flush(self) -> None:
        parts: list[str] = []
        for text, verbatim in self._pending:
            if verbatim:
                parts.append(text)
            else:
                parts.extend(paragraphs(text))
        self._pending = []
        if parts or (self.keep_headings and self._stack):
            self.sections.append(Section([title for _, title in self._stack], "\n\n".join(parts), None))

    def finish(self) -> list[Section]:
        self.flush()
        return self.sections
