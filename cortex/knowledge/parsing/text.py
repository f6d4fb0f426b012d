"""Plain text: one section of paragraphs, titled by its first line when that line is short."""

from __future__ import annotations

from cortex.knowledge.parsing.document import (
    MAX_TITLE_CHARS,
    ParsedDocument,
    Section,
    no_text,
    one_line,
    paragraphs,
    too_large_chars,
)


def parse_text(text: str, *, max_chars: int) -> ParsedDocument:
    found = paragraphs(text)
    body = "\n\n".join(found)
    if not body:
        raise no_text()
    if len(body) > max_chars:
        raise too_large_chars(max_chars)
    first_line = found[0].split("\n", 1)[0]
    title = one_line(first_line, MAX_TITLE_CHARS) if len(first_line) <= MAX_TITLE_CHARS else ""
    return ParsedDocument(title, [Section([], body, None)], {})
