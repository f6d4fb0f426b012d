"""Markdown, read by markdown-it-py (CommonMark with tables): sections cut at headings, code kept fenced."""

from __future__ import annotations

from collections.abc import Sequence

from markdown_it import MarkdownIt
from markdown_it.token import Token

from cortex.knowledge.parsing.document import (
    MAX_TITLE_CHARS,
    ParsedDocument,
    SectionBuilder,
    first_line_title,
    no_text,
    one_line,
    too_large_chars,
)
from cortex.knowledge.parsing.html import visible_text

FRONT_MATTER_LINES = 50  # YAML front matter is a few keys; a "---" further down is a thematic break
# markdown-it reads the whole source before the text limit can be checked (~0.3 s a MB, more for hostile
# markup); markup (link targets, fences) rarely adds a third to the text, so a source 4x the limit can't fit it.
MAX_SOURCE_RATIO = 4

# html: HTML blocks are read for their visible text (comments and hidden elements dropped), not kept as tags.
_MARKDOWN = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])
_INLINE_SIGNALS = frozenset({"link_open", "image", "strong_open", "code_inline"})
_KEPT_MARKUP = frozenset({"strong_open", "strong_close", "em_open", "em_close", "s_open", "s_close"})


def _inline(token: Token) -> str:
    """An inline run as text: links and images become their text, tags go, emphasis and `code` stay as written."""
    parts: list[str] = []
    for child in token.children or []:
        if child.type == "text":
            parts.append(child.content)
        elif child.type == "code_inline":
            parts.append(f"{child.markup}{child.content}{child.markup}")
        elif child.type in ("softbreak", "hardbreak"):
            parts.append("\n")
        elif child.type == "image":
            parts.append(_inline(child))  # its alt text
        elif child.type in _KEPT_MARKUP:
            parts.append(child.markup)
    return "".join(parts)


def _table(tokens: Sequence[Token], start: int) -> tuple[str, int]:
    """A table as Markdown rows (header, separator, body) with link URLs dropped, and the index after it."""
    rows: list[list[str]] = []
    index = start
    while tokens[index].type != "table_close":
        token = tokens[index]
        if token.type == "tr_open":
            rows.append([])
        elif token.type == "inline":
            rows[-1].append(" ".join(_inline(token).split()).replace("|", "\\|"))
        index += 1
    lines = [f"| {' | '.join(row)} |" for row in rows]
    if lines:
        lines.insert(1, f"| {' | '.join('---' for _ in rows[0])} |")
    return "\n".join(lines), index + 1


def _front_matter(lines: list[str]) -> tuple[str, int]:
    """The title of a YAML front matter block and the line after it; ("", 0) when there is none."""
    if not lines or lines[0].strip() != "---":
        return "", 0
    for index in range(1, min(len(lines), FRONT_MATTER_LINES)):
        if lines[index].strip() in ("---", "..."):
            title = ""
            for meta in lines[1:index]:
                key, _, value = meta.partition(":")
                if key.strip().lower() == "title":
                    title = one_line(value.strip().strip("\"'"), MAX_TITLE_CHARS)
            return title, index + 1
    return "", 0


def parse_markdown(text: str, *, max_chars: int) -> ParsedDocument:
    if len(text) > MAX_SOURCE_RATIO * max_chars:
        raise too_large_chars(max_chars)
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    title, start = _front_matter(lines)
    tokens = _MARKDOWN.parse("\n".join(lines[start:]))
    builder = SectionBuilder(max_chars=max_chars)
    first_heading = ""
    # Blocks with no blank line between them ("Files" right above its table) stay one paragraph, as written.
    paragraph: list[str] = []
    paragraph_end = -1  # source line after the paragraph's last block
    item_marker = ""  # an open list item's marker, waiting for the item's first block

    def add(block: str, token: Token) -> None:
        nonlocal paragraph_end, item_marker
        if item_marker:
            block, item_marker = f"{item_marker} {block}", ""
        begin, end = token.map or (paragraph_end, paragraph_end)
        if paragraph and begin != paragraph_end:
            end_paragraph()
        paragraph.append(block)
        paragraph_end = end

    def end_paragraph() -> None:
        if paragraph:
            builder.paragraph("\n".join(paragraph))
            paragraph.clear()

    index = 0
    while index < len(tokens):
        token = tokens[index]
        kind = token.type
        if kind == "heading_open":
            end_paragraph()
            heading = _inline(tokens[index + 1])
            builder.heading(int(token.tag[1:]), heading)
            first_heading = first_heading or one_line(heading, MAX_TITLE_CHARS)
            index += 3
            continue
        if kind == "paragraph_open":
            add(_inline(tokens[index + 1]), token)
            index += 3
            continue
        if kind == "table_open":
            table, index = _table(tokens, index)
            add(table, token)
            continue
        if kind == "list_item_open":
            item_marker = f"{token.info}{token.markup}" if token.info else token.markup
        elif kind == "list_item_close":
            item_marker = ""
        elif kind in ("fence", "code_block"):
            end_paragraph()
            item_marker = ""
            builder.code(token.content, token.info)
        elif kind == "html_block":
            shown = visible_text(token.content, max_chars=max_chars)
            if shown:  # a comment or hidden element leaves a gap, as a blank line would
                add(shown, token)
        index += 1
    end_paragraph()
    sections = builder.finish()
    if not sections:
        raise no_text()
    return ParsedDocument(title or first_heading or first_line_title(sections), sections, {})


def markdown_signals(text: str) -> tuple[int, int]:
    """(structural, inline) Markdown signal counts: headings, fences and tables vs list items, links and emphasis."""
    structural = inline = 0
    for token in _MARKDOWN.parse(text):
        if token.type == "heading_open":
            structural += 1
        elif token.type == "fence":
            structural += 2  # its opening and closing lines, each a signal of its own
        elif token.type == "table_open":
            structural += 2
        elif token.type in ("list_item_open", "blockquote_open"):
            inline += 1
        elif token.type == "inline":
            inline += sum(1 for child in token.children or [] if child.type in _INLINE_SIGNALS)
    return structural, inline
