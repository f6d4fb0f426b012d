"""Turn an uploaded file into structured text: detect its type from the bytes, then extract sections.

Pure functions with no database, Ray or network, shared by the ingestion jobs and the API. Everything
here treats the input as hostile: whatever the bytes, callers only ever see a `ParsedDocument`, a
`CollectionResult` or a `ParseError` whose message the file's owner can act on. One module per format;
`page_text` is the HTML extractor the crawler uses too.
"""

from __future__ import annotations

from cortex.knowledge.parsing.csv import parse_csv
from cortex.knowledge.parsing.decoding import decode_or_raise, decode_text
from cortex.knowledge.parsing.document import (
    DEFAULT_MAX_CHARS,
    DEFAULT_MAX_PAGES,
    DEFAULT_MAX_ROWS,
    KINDS,
    ErrorCode,
    Kind,
    ParsedDocument,
    ParseError,
    Section,
)
from cortex.knowledge.parsing.docx import parse_docx
from cortex.knowledge.parsing.html import page_text, parse_html
from cortex.knowledge.parsing.jsonl import CollectionDocument, CollectionResult, parse_collection
from cortex.knowledge.parsing.markdown import parse_markdown
from cortex.knowledge.parsing.pdf import parse_pdf
from cortex.knowledge.parsing.sniff import sniff
from cortex.knowledge.parsing.text import parse_text
from cortex.knowledge.validation import RowError


def parse(
    data: bytes,
    kind: Kind,
    *,
    max_pages: int = DEFAULT_MAX_PAGES,
    max_chars: int = DEFAULT_MAX_CHARS,
    max_rows: int = DEFAULT_MAX_ROWS,
) -> ParsedDocument:
    """Extract a document's title and structured sections; JSONL collections go through `parse_collection`."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}")
    if kind == "jsonl":
        raise ValueError("a JSONL file is a collection of documents: use parse_collection()")
    if not data.strip():
        raise ParseError("empty", "This file is empty.")
    if kind == "pdf":
        document = parse_pdf(data, max_pages=max_pages, max_chars=max_chars)
    elif kind == "docx":
        document = parse_docx(data, max_chars=max_chars)
    elif kind == "html":
        document = parse_html(data, max_chars=max_chars)
    else:
        text = decode_or_raise(data)
        if kind == "csv":
            document = parse_csv(text, max_chars=max_chars, max_rows=max_rows)
        elif kind == "markdown":
            document = parse_markdown(text, max_chars=max_chars)
        else:
            document = parse_text(text, max_chars=max_chars)
    document.metadata.setdefault("kind", kind)
    return document


__all__ = [
    "DEFAULT_MAX_CHARS",
    "DEFAULT_MAX_PAGES",
    "DEFAULT_MAX_ROWS",
    "KINDS",
    "CollectionDocument",
    "CollectionResult",
    "ErrorCode",
    "Kind",
    "ParseError",
    "ParsedDocument",
    "RowError",
    "Section",
    "decode_text",
    "page_text",
    "parse",
    "parse_collection",
    "sniff",
]
