"""PDF: one section per page with a text layer, headed by the bookmark (outline) the page falls under."""

from __future__ import annotations

import io
import re
from typing import Any

from pypdf import PdfReader
from pypdf.errors import DependencyError, LimitReachedError

from cortex.knowledge.parsing.document import (
    MAX_HEADING_CHARS,
    MAX_TITLE_CHARS,
    ParsedDocument,
    ParseError,
    Section,
    first_line_title,
    one_line,
    paragraphs,
    too_large_chars,
)

MAX_OUTLINE_ENTRIES = 2_000  # PDF bookmarks: ample for a 500-page manual, bounded for hostile files
MAX_OUTLINE_DEPTH = 8

_DAMAGED = "This PDF is damaged and can't be read; export or save it as PDF again and re-upload it."
_EXPANDS = "This PDF expands to too much data to process; it may be damaged."


def _outline(reader: Any) -> list[tuple[int, list[str]]]:
    """(0-based page, heading path) for each bookmark, in reading order; [] when absent or unreadable."""
    entries: list[tuple[int, list[str]]] = []

    def walk(items: list[Any], path: list[str], depth: int) -> None:
        last_title: str | None = None
        for item in items:
            if len(entries) >= MAX_OUTLINE_ENTRIES:
                return
            if isinstance(item, list):
                if last_title is not None and depth < MAX_OUTLINE_DEPTH:
                    walk(item, [*path, last_title], depth + 1)
                continue
            title = one_line(str(getattr(item, "title", "") or ""), MAX_HEADING_CHARS)
            page = reader.get_destination_page_number(item)
            if title and page is not None:
                entries.append((page, [*path, title]))
            last_title = title or None

    try:
        walk(list(reader.outline), [], 0)
    except Exception:  # bookmarks are a nicety: a broken outline must not fail the document
        return []
    return entries


def _page_text(page: Any) -> str:
    text = page.extract_text() or ""
    return re.sub(r"([a-z])-\n([a-z])", r"\1\2", text)  # re-join words hyphenated at a line break


def _open(data: bytes) -> Any:
    """A reader for the file, unlocked when only an owner password protects it."""
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        encrypted = reader.is_encrypted
    except LimitReachedError as exc:
        raise ParseError("too_large", _EXPANDS) from exc
    except Exception as exc:  # hostile input: pypdf raises many types for broken files
        raise ParseError("corrupt", _DAMAGED) from exc
    if encrypted:
        try:
            unlocked = bool(reader.decrypt(""))  # owner-password-only PDFs open with an empty user password
        except (DependencyError, NotImplementedError) as exc:
            raise ParseError("unsupported", "This PDF uses an encryption we can't open; save it without it.") from exc
        except Exception:
            unlocked = False
        if not unlocked:
            raise ParseError("encrypted", "This PDF is password-protected; remove the password and upload it again.")
    return reader


def parse_pdf(data: bytes, *, max_pages: int, max_chars: int) -> ParsedDocument:
    reader = _open(data)
    try:
        page_count = len(reader.pages)
    except Exception as exc:
        raise ParseError("corrupt", _DAMAGED) from exc
    if page_count == 0:
        raise ParseError("empty", "This PDF has no pages.")
    if page_count > max_pages:
        raise ParseError(
            "too_large",
            f"This PDF has {page_count:,} pages; the limit is {max_pages:,}. Split it and upload the parts.",
        )
    outline = _outline(reader)
    sections: list[Section] = []
    chars = 0
    unreadable_pages = 0
    for index in range(page_count):
        try:
            text = _page_text(reader.pages[index])
        except LimitReachedError as exc:
            raise ParseError("too_large", _EXPANDS) from exc
        except RecursionError as exc:
            raise ParseError("corrupt", _DAMAGED) from exc
        except Exception:  # one unreadable page (bad font, broken stream) should not lose the others
            unreadable_pages += 1
            continue
        body = "\n\n".join(paragraphs(text))
        if not body:
            continue
        chars += len(body)
        if chars > max_chars:
            raise too_large_chars(max_chars)
        path = next((path for page, path in reversed(outline) if page <= index), [])
        sections.append(Section(list(path), body, index + 1))
    if not sections and unreadable_pages:
        raise ParseError("corrupt", _DAMAGED)
    if not sections:
        raise ParseError(
            "empty",
            "This PDF has no text layer (it looks scanned or made of images). Text recognition (OCR) isn't "
            "supported; upload a PDF with selectable text or the original document.",
        )
    metadata: dict[str, Any] = {"pages": page_count}
    title = ""
    try:
        info = reader.metadata
        if info is not None:
            title = one_line(str(info.title or ""), MAX_TITLE_CHARS)
            if info.author:
                metadata["author"] = one_line(str(info.author), MAX_TITLE_CHARS)
    except Exception:  # a broken info dictionary only costs us the title
        title = ""
    return ParsedDocument(title or first_line_title(sections), sections, metadata)
