"""JSONL document collections (a CMS or help-centre export): one validated document per line, bad lines reported."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any, NoReturn
from urllib.parse import urlsplit

from cortex.knowledge.parsing.decoding import decode_or_raise
from cortex.knowledge.parsing.document import DEFAULT_MAX_CHARS, MAX_TITLE_CHARS, ParseError, one_line, paragraphs
from cortex.knowledge.validation import RowError

Scalar = str | int | float | bool | None

MAX_COLLECTION_ID_CHARS = 256  # CMS ids are short (numbers, slugs, UUIDs); the cap keeps vector ids bounded
MAX_METADATA_KEYS = 50  # metadata travels with every chunk into the vector store, so it stays small


@dataclass(frozen=True)
class CollectionDocument:
    """One valid record of a JSONL document collection; `id` is the exporter's id, kept for upserts."""

    id: str
    title: str
    text: str
    url: str | None
    metadata: dict[str, Scalar]
    line: int  # 1-based line of the record in the uploaded file


@dataclass(frozen=True)
class CollectionResult:
    """The valid documents of a collection and one error per rejected line."""

    documents: list[CollectionDocument]
    errors: list[RowError]


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not a number")


def _is_http_url(url: Any) -> bool:
    if not isinstance(url, str) or any(char.isspace() for char in url):
        return False
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unbalanced IPv6 bracket
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)


def _record(value: Any, *, max_chars: int) -> tuple[CollectionDocument | None, str]:
    """A validated document, or None and what is wrong with the record."""
    if not isinstance(value, dict):
        return None, "each line must be a JSON object"
    problems: list[str] = []
    doc_id, title, text, url = value.get("id"), value.get("title") or "", value.get("text"), value.get("url")
    if doc_id is None or (isinstance(doc_id, str) and not doc_id.strip()):
        problems.append('"id" is missing or empty')
    elif not isinstance(doc_id, str):
        problems.append('"id" must be a string')
    elif len(doc_id) > MAX_COLLECTION_ID_CHARS:
        problems.append(f'"id" is longer than {MAX_COLLECTION_ID_CHARS} characters')
    if not isinstance(title, str):
        problems.append('"title" must be a string')
    if text is None or (isinstance(text, str) and not text.strip()):
        problems.append('"text" is missing or empty')
    elif not isinstance(text, str):
        problems.append('"text" must be a string')
    elif len(text) > max_chars:
        problems.append(f'"text" is longer than {max_chars:,} characters')
    if url is not None and not _is_http_url(url):
        problems.append('"url" must be an http(s) address')
    metadata = value.get("metadata")
    if metadata is None:
        metadata = {}
    elif not isinstance(metadata, dict):
        problems.append('"metadata" must be an object')
    elif len(metadata) > MAX_METADATA_KEYS:
        problems.append(f'"metadata" has more than {MAX_METADATA_KEYS} keys')
    elif not all(isinstance(item, Scalar) for item in metadata.values()):
        problems.append('"metadata" values must be strings, numbers, booleans or null')
    if problems:
        return None, "; ".join(problems)
    assert isinstance(doc_id, str) and isinstance(text, str) and isinstance(title, str)
    document = CollectionDocument(
        id=doc_id.strip(),
        title=one_line(title, MAX_TITLE_CHARS),
        text="\n\n".join(paragraphs(text)),
        url=url,
        metadata=dict(metadata),
        line=0,
    )
    return document, ""


def _lines(text: str) -> Iterator[tuple[int, str]]:
    # Split on "\n" only: str.splitlines would also split at U+2028 and friends, which JSON strings may contain.
    for number, line in enumerate(text.split("\n"), start=1):
        yield number, line.rstrip("\r")


def parse_collection(data: bytes, *, max_documents: int, max_chars: int = DEFAULT_MAX_CHARS) -> CollectionResult:
    """Validate a JSONL export (`{"id","title","text","url"?,"metadata"?}` per line); bad lines become RowErrors."""
    if not data.strip():
        raise ParseError("empty", "This file is empty.")
    text = decode_or_raise(data).lstrip("\ufeff")
    records = sum(1 for _, line in _lines(text) if line.strip())
    if records > max_documents:
        raise ParseError(
            "too_large", f"This file has {records:,} documents; the limit is {max_documents:,}. Split it into parts."
        )
    documents: list[CollectionDocument] = []
    errors: list[RowError] = []
    first_line: dict[str, int] = {}
    for number, line in _lines(text):
        if not line.strip():
            continue
        try:
            value = json.loads(line, parse_constant=_reject_constant)
        except (ValueError, RecursionError):
            errors.append(RowError(number, "not valid JSON"))
            continue
        document, problem = _record(value, max_chars=max_chars)
        if document is None:
            errors.append(RowError(number, problem))
            continue
        if document.id in first_line:
            errors.append(
                RowError(number, f'duplicate id "{document.id}" (first used on line {first_line[document.id]})')
            )
            continue
        first_line[document.id] = number
        documents.append(replace(document, line=number))
    if not documents and not errors:
        raise ParseError("empty", "This file has no documents.")
    return CollectionResult(documents, errors)
