"""Parse and validate a bulk FAQ upload (CSV or JSON): import the good rows, report the bad ones by position."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from cortex.knowledge.parsing import ParseError, decode_text
from cortex.knowledge.validation import (
    QUESTION_MAX_CHARS,
    QUESTION_MIN_CHARS,
    RowError,
    clean_phrasings,
    question_key,
)

__all__ = ["FaqFormat", "FaqImport", "FaqRow", "parse_faq_import", "question_key"]

FaqFormat = Literal["csv", "json"]

ANSWER_MAX_CHARS = 5_000  # ~800 words: past that an answer belongs in a document, not an FAQ
MAX_TAGS = 20
MAX_TAG_CHARS = 40
# 20,000 rows: twice the 10,000-FAQ imports that must work. An import is embedded in bounded
# batches and written in one transaction, so the limit is about time (~3 texts to embed per FAQ,
# minutes on 2 cores for the largest file) and the request body (CORTEX_MAX_BODY_BYTES), not memory.
DEFAULT_MAX_ROWS = 20_000

_TRUE = frozenset({"1", "true", "yes", "y", "on", "enabled"})
_FALSE = frozenset({"0", "false", "no", "n", "off", "disabled"})


@dataclass(frozen=True)
class FaqRow:
    """One valid FAQ entry, with where it came from in the upload."""

    question: str
    answer: str
    tags: list[str] = field(default_factory=list)
    enabled: bool = True
    line: int = 0  # CSV: physical line where the record starts; JSON: 1-based item index
    phrasings: list[str] = field(default_factory=list)  # other ways to ask the question


@dataclass(frozen=True)
class FaqImport:
    """The rows to import and one error per rejected row."""

    rows: list[FaqRow]
    errors: list[RowError]
    format: FaqFormat = "csv"  # as given, or detected


def _tags(value: Any, problems: list[str]) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        raw = value.replace("|", ";").split(";")
    elif isinstance(value, list) and all(isinstance(tag, str) for tag in value):
        raw = value
    else:
        problems.append("tags must be text separated by ';' or '|', or a list of strings")
        return []
    tags: list[str] = []
    seen: set[str] = set()
    for tag in raw:
        tag = " ".join(tag.split())
        if tag and tag.casefold() not in seen:
            seen.add(tag.casefold())
            tags.append(tag)
    if len(tags) > MAX_TAGS:
        problems.append(f"at most {MAX_TAGS} tags allowed, found {len(tags)}")
    long_tags = [tag for tag in tags if len(tag) > MAX_TAG_CHARS]
    if long_tags:
        problems.append(f'tag "{long_tags[0][:MAX_TAG_CHARS]}…" is longer than {MAX_TAG_CHARS} characters')
    return tags


def _phrasings(value: Any, question: str, problems: list[str]) -> list[str]:
    """A list, or text separated by ';' or '|' (like tags): a CSV cell holds them all."""
    if value is None:
        return []
    if isinstance(value, str):
        raw = value.replace("|", ";").split(";")
    elif isinstance(value, list) and all(isinstance(phrasing, str) for phrasing in value):
        raw = value
    else:
        problems.append("phrasings must be text separated by ';' or '|', or a list of strings")
        return []
    try:
        return clean_phrasings(raw, question=question)
    except ValueError as error:
        problems.append(str(error))
        return []


def _enabled(value: Any, problems: list[str]) -> bool:
    if value is None or isinstance(value, bool):
        return value is not False
    text = str(value).strip().casefold() if isinstance(value, (str, int)) else None
    if text == "":
        return True
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    problems.append("enabled must be yes/no, true/false or 1/0")
    return True


def _row(record: dict[str, Any], line: int, problems: list[str]) -> FaqRow | None:
    question, answer = record.get("question"), record.get("answer")
    if not isinstance(question, str):
        problems.append("question is missing" if question is None else "question must be text")
        question = ""
    else:
        question = " ".join(question.split())  # a question is one line, however the spreadsheet wrapped it
        if not question:
            problems.append("question is empty")
        elif not QUESTION_MIN_CHARS <= len(question) <= QUESTION_MAX_CHARS:
            problems.append(
                f"question must be {QUESTION_MIN_CHARS}–{QUESTION_MAX_CHARS} characters, it has {len(question)}"
            )
    if not isinstance(answer, str):
        problems.append("answer is missing" if answer is None else "answer must be text")
        answer = ""
    else:
        answer = answer.replace("\r\n", "\n").replace("\r", "\n").strip()  # answers keep their line breaks
        if not answer:
            problems.append("answer is empty")
        elif len(answer) > ANSWER_MAX_CHARS:
            problems.append(f"answer must be at most {ANSWER_MAX_CHARS} characters, it has {len(answer)}")
    tags = _tags(record.get("tags"), problems)
    phrasings = _phrasings(record.get("phrasings"), question, problems)
    enabled = _enabled(record.get("enabled"), problems)
    if problems:
        return None
    return FaqRow(question=question, answer=answer, tags=tags, enabled=enabled, line=line, phrasings=phrasings)


def _validate(records: list[tuple[int, Any]], unit: Literal["line", "item"]) -> FaqImport:
    rows: list[FaqRow] = []
    errors: list[RowError] = []
    first_seen: dict[str, int] = {}
    for position, record in records:
        problems: list[str] = []
        if not isinstance(record, dict):
            errors.append(RowError(position, "must be an object with question and answer", unit))
            continue
        row = _row(record, position, problems)
        if row is not None:
            key = question_key(row.question)
            if key in first_seen:
                problems.append(f"duplicate question (same as {unit} {first_seen[key]})")
            else:
                first_seen[key] = position
        if problems or row is None:
            errors.append(RowError(position, "; ".join(problems), unit))
        else:
            rows.append(row)
    return FaqImport(rows, errors)


def _too_many(max_rows: int) -> ParseError:
    return ParseError("too_large", f"This file has more than {max_rows:,} FAQs; split it into smaller files.")


def _csv_records(text: str, max_rows: int) -> list[tuple[int, Any]]:
    header_line, _, _ = text.partition("\n")
    delimiter = max(",;\t", key=header_line.count)  # Excel writes ';' in locales with a decimal comma
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    records: list[tuple[int, Any]] = []
    header: list[str] | None = None
    previous_end = 0
    try:
        for cells in reader:
            start, previous_end = previous_end + 1, reader.line_num
            if not any(cell.strip() for cell in cells):
                continue
            if header is None:
                header = [cell.strip().casefold() for cell in cells]
                if "question" not in header or "answer" not in header:
                    found = ", ".join(name for name in header if name) or "nothing"
                    raise ParseError(
                        "unsupported",
                        "The first row must name the columns question and answer "
                        f"(optional: tags, phrasings, enabled); found {found}.",
                    )
                continue
            if len(records) >= max_rows:
                raise _too_many(max_rows)
            record = {name: cells[index] for index, name in enumerate(header) if name and index < len(cells)}
            records.append((start, record))
    except csv.Error as exc:
        raise ParseError(
            "corrupt", f"The CSV can't be read at line {previous_end + 1} ({exc}); check its quotes and re-export it."
        ) from exc
    if header is None:
        raise ParseError("empty", "This file is empty.")
    return records


def _json_records(text: str, max_rows: int) -> list[tuple[int, Any]]:
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise ParseError("corrupt", f"This JSON file can't be read: {exc}.") from exc
    if isinstance(value, dict) and isinstance(value.get("faqs"), list):
        value = value["faqs"]
    if not isinstance(value, list):
        raise ParseError("unsupported", 'The JSON must be a list of FAQs or an object {"faqs": [...]}.')
    if len(value) > max_rows:
        raise _too_many(max_rows)
    return list(enumerate(value, start=1))


def parse_faq_import(data: bytes, *, fmt: FaqFormat | None = None, max_rows: int = DEFAULT_MAX_ROWS) -> FaqImport:
    """Parse a CSV (question, answer[, tags][, phrasings][, enabled]) or JSON FAQ upload; fmt None means detect it."""
    if not data.strip():
        raise ParseError("empty", "This file is empty.")
    text = decode_text(data)
    if text is None:
        raise ParseError("unsupported", "This file isn't readable text; upload the FAQs as a UTF-8 CSV or JSON file.")
    text = text.lstrip("\ufeff")
    if not text.strip():
        raise ParseError("empty", "This file is empty.")
    if fmt is None:
        fmt = "json" if text.lstrip()[:1] in ("[", "{") else "csv"
    if fmt == "json":
        result = _validate(_json_records(text, max_rows), "item")
    else:
        result = _validate(_csv_records(text, max_rows), "line")
    if not result.rows and not result.errors:
        raise ParseError("empty", "This file has no FAQs.")
    return replace(result, format=fmt)
