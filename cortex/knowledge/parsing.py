"""Turn an uploaded file into structured text: detect its type from the bytes, then extract sections.

Pure functions with no database, Ray or network, shared by the ingestion jobs and the API. Everything
here treats the input as hostile: whatever the bytes, callers only ever see a `ParsedDocument`, a
`CollectionResult` or a `ParseError` whose message the file's owner can act on.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
import unicodedata
import zipfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from html.parser import HTMLParser
from typing import Any, Literal, NoReturn, get_args
from urllib.parse import urlsplit

import docx
from docx.table import Table
from pypdf import PdfReader
from pypdf.errors import DependencyError, LimitReachedError

from cortex.errors import CortexError
from cortex.knowledge.schemas_common import RowError
from cortex.knowledge.visibility import is_hidden

Kind = Literal["pdf", "docx", "html", "markdown", "text", "csv", "jsonl"]
ErrorCode = Literal["empty", "encrypted", "corrupt", "unsupported", "too_large"]
Scalar = str | int | float | bool | None

KINDS: tuple[Kind, ...] = get_args(Kind)

# A 500-page PDF is a long manual; larger files are usually scanned archives or whole books, which
# cost minutes of extraction and thousands of embeddings for little answer quality.
DEFAULT_MAX_PAGES = 500
# ~2M characters ≈ 330k words ≈ 2,000 chunks: the most one upload may add to a bot's index.
DEFAULT_MAX_CHARS = 2_000_000
# One section (and later at least one chunk) per row: 20k rows keeps a CSV within the same budget.
DEFAULT_MAX_ROWS = 20_000

# Zip-bomb guards, checked on the ZIP's central directory before anything is decompressed.
MAX_ZIP_ENTRIES = 2_000  # a Word file with hundreds of images has a few hundred parts
MAX_ZIP_TOTAL_UNCOMPRESSED = 200 * 1024 * 1024  # 200 MB: far above any real document's XML + media
MAX_ZIP_RATIO = 100  # deflated XML rarely beats 20:1; bombs of zeros reach 1000:1
ZIP_RATIO_MIN_SIZE = 1024 * 1024  # tiny parts may legitimately compress extremely well
XML_PROLOG_SCAN_BYTES = 64 * 1024  # a DOCTYPE must come before the root element, i.e. near the start

SNIFF_CHARS = 64 * 1024  # enough text to see ~50 lines of any sane text file
SNIFF_LINES = 50  # lines examined for JSONL / CSV / Markdown signals
SNIFFER_CHARS = 4096  # csv.Sniffer's regexes are quadratic on hostile input: ~0.2 s worst case at 4 KB
MAX_CONTROL_CHAR_RATIO = 0.01  # real text has almost no C0 controls; binary has ~10 %
MAX_HEADING_CHARS = 200  # longer "headings" are paragraphs in a heading style
MAX_CELL_CHARS = 2_000  # a table cell longer than this is a paragraph someone put in a layout table
MAX_CSV_CELL_CHARS = 10_000  # CSV cells often hold whole answers or descriptions; keep them, within reason
MAX_TITLE_CHARS = 200  # what fits a search result line; longer "titles" are first paragraphs
MAX_COLLECTION_ID_CHARS = 256  # CMS ids are short (numbers, slugs, UUIDs); the cap keeps vector ids bounded
MAX_METADATA_KEYS = 50  # metadata travels with every chunk into the vector store, so it stays small
MAX_OUTLINE_ENTRIES = 2_000  # PDF bookmarks: ample for a 500-page manual, bounded for hostile files
MAX_OUTLINE_DEPTH = 8


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


# ---------------------------------------------------------------------------------------------------
# Text decoding


_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),  # before UTF-16 LE: its BOM starts with the same two bytes
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_ALLOWED_CONTROLS = frozenset("\t\n\r\f\v\x1a")  # \x1a: the DOS end-of-file mark some old exports keep


def _mostly_printable(text: str) -> bool:
    sample = text[:SNIFF_CHARS]
    if not sample:
        return True
    controls = sum(1 for ch in sample if ch not in _ALLOWED_CONTROLS and unicodedata.category(ch) == "Cc")
    return controls <= max(2, len(sample) * MAX_CONTROL_CHAR_RATIO)  # a stray control or two in a short note is fine


def decode_text(data: bytes) -> str | None:
    """Decode bytes that should be text (BOM, then UTF-8, then cp1252), or None when they look binary."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                text = data[len(bom) :].decode(encoding)
            except UnicodeDecodeError:
                return None
            return text if _mostly_printable(text) else None
    if b"\x00" in data:
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        try:
            text = data.decode("cp1252")
        except UnicodeDecodeError:
            return None
    return text if _mostly_printable(text) else None


def _decode_or_raise(data: bytes) -> str:
    text = decode_text(data)
    if text is None:
        raise ParseError("unsupported", "This file isn't readable text; save it as UTF-8 text and upload it again.")
    return text


# ---------------------------------------------------------------------------------------------------
# Type detection


_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_OLE_ENCRYPTED_MARK = "EncryptedPackage".encode("utf-16-le")
_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")
_BINARY_NAMES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "an image"),
    (b"\xff\xd8\xff", "an image"),
    (b"GIF87a", "an image"),
    (b"GIF89a", "an image"),
    (b"II*\x00", "an image"),
    (b"MM\x00*", "an image"),
    (b"\x7fELF", "a program"),
    (b"MZ", "a program"),
    (b"\xca\xfe\xba\xbe", "a program"),
    (b"\xcf\xfa\xed\xfe", "a program"),
    (b"\x1f\x8b", "a compressed archive"),
    (b"7z\xbc\xaf\x27\x1c", "a compressed archive"),
    (b"Rar!", "a compressed archive"),
)
_HINT_BY_SUFFIX: dict[str, Kind] = {
    "txt": "text",
    "text": "text",
    "md": "markdown",
    "markdown": "markdown",
    "mdown": "markdown",
    "csv": "csv",
    "tsv": "csv",
    "jsonl": "jsonl",
    "ndjson": "jsonl",
    "html": "html",
    "htm": "html",
}
_HINT_BY_MIME: dict[str, Kind] = {
    "text/plain": "text",
    "text/markdown": "markdown",
    "text/x-markdown": "markdown",
    "text/csv": "csv",
    "application/csv": "csv",
    "text/tab-separated-values": "csv",
    "application/jsonl": "jsonl",
    "application/x-ndjson": "jsonl",
    "application/x-jsonlines": "jsonl",
    "text/html": "html",
}
_HTML_PREAMBLE = re.compile(r"\A(?:\s|<\?xml[^>]*>|<!--.*?-->)+", re.DOTALL)
_HTML_START = re.compile(r"\A<(?:!doctype\s+html|html|head|body|meta|title)[\s>/]", re.IGNORECASE)
_HTML_TAG = re.compile(r"<(?:p|div|h[1-6]|ul|ol|table|span|a|br|section|article)[\s>/]", re.IGNORECASE)
_MD_FENCE = re.compile(r"^ {0,3}(```|~~~)")
_MD_TABLE_CELL = re.compile(r":?-{3,}:?")
_MD_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_MD_LIST = re.compile(r"^ {0,3}(?:[-*+]|\d{1,3}[.)])[ \t]+\S")
# Link text and URL exclude their own delimiters so each match attempt stops at the next bracket: linear time.
_MD_LINK = re.compile(r"!?\[([^\[\]\n]*)\]\(([^()\s]*)(?:[ \t]+\"[^\"\n]*\")?\)")
_MD_INLINE = re.compile(r"\*\*[^*\n]+\*\*|__[^_\n]+__|`[^`\n]+`|^ {0,3}>[ \t]")


def _md_heading(line: str) -> tuple[int, str] | None:
    """(level, text) of an ATX heading line ("## Title ##"), parsed without regexes that could backtrack."""
    stripped = line.lstrip(" ")
    if len(line) - len(stripped) > 3 or not stripped.startswith("#"):
        return None
    level = len(stripped) - len(stripped.lstrip("#"))
    rest = stripped[level:]
    if level > 6 or (rest and rest[0] not in " \t"):
        return None
    text = rest.strip(" \t")
    closed = text.rstrip("#")
    if closed != text and (not closed or closed[-1] in " \t"):  # an optional closing run of #s
        text = closed.rstrip(" \t")
    return level, text


def _md_table_separator(line: str) -> bool:
    if "|" not in line:
        return False
    cells = line.strip().strip("|").split("|")
    return len(cells) >= 2 and all(_MD_TABLE_CELL.fullmatch(cell.strip()) for cell in cells)


def _hint(filename: str | None, declared_type: str | None) -> Kind | None:
    if filename and "." in filename:
        suffix = filename.rsplit(".", 1)[1].strip().lower()
        if suffix in _HINT_BY_SUFFIX:
            return _HINT_BY_SUFFIX[suffix]
    if declared_type:
        return _HINT_BY_MIME.get(declared_type.split(";", 1)[0].strip().lower())
    return None


def _binary_refusal(data: bytes) -> ParseError:
    if data.startswith(_OLE_MAGIC):
        if _OLE_ENCRYPTED_MARK in data:
            return ParseError(
                "encrypted", "This Office document is password-protected; remove the password and upload it again."
            )
        return ParseError(
            "unsupported",
            "This is an old-style Office file (.doc, .xls or .ppt); save it as .docx or PDF and upload it again.",
        )
    what = next((name for magic, name in _BINARY_NAMES if data.startswith(magic)), "a binary file")
    return ParseError(
        "unsupported",
        f"This file is {what}, not a document we can read. Upload a PDF, Word (.docx), HTML, Markdown, "
        "text or CSV file.",
    )


def _sniff_zip(data: bytes) -> Kind:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
    except Exception as exc:  # hostile input: any failure to read the directory means a damaged file
        raise ParseError(
            "corrupt", "This file looks like a Word document or ZIP archive but is damaged; export it again."
        ) from exc
    if "[Content_Types].xml" in names and "word/document.xml" in names:
        return "docx"
    if "xl/workbook.xml" in names:
        message = "Excel spreadsheets aren't supported; save the sheet as CSV and upload that."
    elif "ppt/presentation.xml" in names:
        message = "PowerPoint files aren't supported; save the slides as PDF and upload that."
    elif "mimetype" in names:
        message = "OpenDocument files aren't supported; save the document as .docx or PDF and upload that."
    else:
        message = "ZIP archives aren't supported; upload the documents inside it one by one."
    raise ParseError("unsupported", message)


def _looks_like_html(head: str) -> bool:
    stripped = head.lstrip("\ufeff")
    match = _HTML_PREAMBLE.match(stripped)
    if match:
        stripped = stripped[match.end() :]
    return bool(_HTML_START.match(stripped))


def _first_lines(text: str, limit: int) -> list[str]:
    lines: list[str] = []
    for line in io.StringIO(text):
        if line.strip():
            lines.append(line.rstrip("\r\n"))
            if len(lines) >= limit:
                break
    return lines


def _is_text_record(line: str) -> bool:
    try:
        value = json.loads(line)
    except (ValueError, RecursionError):
        return False
    return isinstance(value, dict) and isinstance(value.get("text"), str)


def _csv_dialect(sample: str) -> type[csv.Dialect] | csv.Dialect | None:
    try:
        return csv.Sniffer().sniff(sample[:SNIFFER_CHARS], delimiters=",;\t|")
    except csv.Error:
        pass
    first_line = sample.split("\n", 1)[0]
    counts = {delimiter: first_line.count(delimiter) for delimiter in ",;\t"}
    delimiter = max(counts, key=lambda key: counts[key])
    if not counts[delimiter]:
        return None

    class _Fallback(csv.excel):
        pass

    _Fallback.delimiter = delimiter
    return _Fallback


def _plausible_header(cells: list[str]) -> bool:
    names = [cell.strip().lower() for cell in cells]
    return (
        all(names)
        and len(set(names)) == len(names)
        and all(len(name) <= 100 for name in names)
        and not any(re.fullmatch(r"[-+]?[\d.,]+", name) for name in names)
    )


def _csv_strength(text: str) -> int:
    """0: not a table; 1: could be (header + one row); 2: a table (header + 2 or more consistent rows)."""
    sample = text[:SNIFF_CHARS]
    truncated = len(text) > len(sample)
    if truncated:
        sample = sample[: sample.rfind("\n") + 1]
    dialect = _csv_dialect(sample)
    if dialect is None:
        return 0
    try:
        records = [row for row in csv.reader(io.StringIO(sample), dialect) if any(cell.strip() for cell in row)]
    except csv.Error:
        return 0
    if truncated and len(records) > 1:
        records = records[:-1]  # the sample may end inside a quoted multi-line field
    records = records[:SNIFF_LINES]
    widths = {len(row) for row in records}
    if len(records) < 2 or len(widths) != 1 or widths.pop() < 2:
        return 0
    header_ok = _plausible_header(records[0])
    if not header_ok:
        try:
            header_ok = csv.Sniffer().has_header(sample[:SNIFFER_CHARS])
        except csv.Error:
            header_ok = False
    if len(records) >= 3 and header_ok:
        return 2
    return 1


def _markdown_scores(lines: list[str]) -> tuple[int, int]:
    """(structural, inline) Markdown signal counts: headings/fences/tables vs lists/links/emphasis."""
    structural = inline = 0
    previous = ""
    for line in lines:
        if _md_heading(line):
            structural += 1
        elif _MD_FENCE.match(line):
            structural += 1
        elif _md_table_separator(line):
            structural += 2
        elif _MD_SETEXT.match(line) and previous.strip() and not _MD_LIST.match(previous):
            structural += 1
        if _MD_LIST.match(line):
            inline += 1
        inline += len(_MD_LINK.findall(line)) + len(_MD_INLINE.findall(line))
        previous = line
    return structural, inline


def _sniff_text(text: str, hint: Kind | None) -> Kind:
    head = text[:SNIFF_CHARS].lstrip("\ufeff \t\r\n")
    if not head:
        raise ParseError("empty", "This file is empty.")
    if _looks_like_html(head):
        return "html"
    if head.startswith("{\\rtf"):
        raise ParseError("unsupported", "RTF files aren't supported; save the document as .docx or PDF and upload it.")
    lines = _first_lines(text, SNIFF_LINES)
    records = [_is_text_record(line) for line in lines]
    if records and all(records):
        return "jsonl"
    if hint == "jsonl" and records and records[0] and 2 * sum(records) >= len(records):
        return "jsonl"  # a collection with some bad lines: parse_collection reports them one by one
    if hint == "html" and head.startswith("<") and _HTML_TAG.search(head):
        return "html"  # an HTML fragment without <html>/<body>
    csv_strength = _csv_strength(text)
    structural, inline = _markdown_scores(lines)
    if csv_strength == 2 and structural == 0:
        return "csv"
    if 2 * structural + inline >= 4:
        return "markdown"
    # From here on the content is ambiguous; the name or declared type may pick among text-like kinds.
    if hint == "csv" and csv_strength >= 1:
        return "csv"
    if hint in ("markdown", "text"):
        return hint
    if csv_strength == 2:
        return "csv"
    return "markdown" if 2 * structural + inline >= 2 else "text"


def sniff(data: bytes, *, filename: str | None = None, declared_type: str | None = None) -> Kind:
    """The file's kind, decided from its content; the name or declared type only break ties between text kinds."""
    if not data.strip():
        raise ParseError("empty", "This file is empty.")
    if data.lstrip(b" \t\r\n").startswith(b"%PDF-"):
        return "pdf"
    if data.startswith(_ZIP_MAGICS):
        return _sniff_zip(data)
    text = decode_text(data)
    if text is None:
        raise _binary_refusal(data)
    return _sniff_text(text, _hint(filename, declared_type))


# ---------------------------------------------------------------------------------------------------
# Shared text helpers


_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
_HORIZONTAL_SPACE = re.compile(r"[ \t\f\v\xa0\u1680\u2000-\u200a\u202f\u205f\u3000]+")
_BLANK_LINES = re.compile(r"\n[ \t\f\v\xa0]*\n+")


def _paragraphs(text: str) -> list[str]:
    """Paragraphs of `text`: blank-line separated, spaces collapsed, empty lines dropped, line breaks kept."""
    text = _CONTROL_CHARS.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    paragraphs = []
    for block in _BLANK_LINES.split(text):
        lines = (_HORIZONTAL_SPACE.sub(" ", line).strip() for line in block.split("\n"))
        paragraph = "\n".join(line for line in lines if line)
        if paragraph:
            paragraphs.append(paragraph)
    return paragraphs


def _one_line(text: str, limit: int) -> str:
    return " ".join(_CONTROL_CHARS.sub("", text).split())[:limit]


def _too_large_chars(max_chars: int) -> ParseError:
    return ParseError(
        "too_large", f"This file has more than {max_chars:,} characters of text; split it into smaller files."
    )


class _SectionBuilder:
    """Collects paragraphs under a heading stack and cuts a new section at every heading."""

    def __init__(self, *, max_chars: int) -> None:
        self.max_chars = max_chars
        self.sections: list[Section] = []
        self.chars = 0
        self._stack: list[tuple[int, str]] = []
        self._pending: list[str] = []

    def heading(self, level: int, text: str) -> None:
        title = _one_line(text.replace("¶", ""), MAX_HEADING_CHARS)
        if not title:
            return
        self.flush()
        while self._stack and self._stack[-1][0] >= level:
            self._stack.pop()
        self._stack.append((level, title))

    def paragraph(self, text: str) -> None:
        self.chars += len(text)
        if self.chars > self.max_chars:
            raise _too_large_chars(self.max_chars)
        self._pending.append(text)

    def flush(self) -> None:
        body = "\n\n".join(_paragraphs("\n\n".join(self._pending)))
        self._pending = []
        if body:
            self.sections.append(Section([title for _, title in self._stack], body, None))

    def finish(self) -> list[Section]:
        self.flush()
        return self.sections


def _no_text() -> ParseError:
    return ParseError("empty", "We found no text in this file; check that it isn't blank.")


def _first_line_title(sections: list[Section]) -> str:
    for section in sections:
        for line in section.text.split("\n"):
            if line.strip():
                return _one_line(line, MAX_TITLE_CHARS)
    return ""


# ---------------------------------------------------------------------------------------------------
# PDF


def _pdf_outline(reader: Any) -> list[tuple[int, list[str]]]:
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
            title = _one_line(str(getattr(item, "title", "") or ""), MAX_HEADING_CHARS)
            page = reader.get_destination_page_number(item)
            if title and page is not None:
                entries.append((page, [*path, title]))
            last_title = title or None

    try:
        walk(list(reader.outline), [], 0)
    except Exception:  # bookmarks are a nicety: a broken outline must not fail the document
        return []
    return entries


def _pdf_page_text(page: Any) -> str:
    text = page.extract_text() or ""
    return re.sub(r"([a-z])-\n([a-z])", r"\1\2", text)  # re-join words hyphenated at a line break


def _parse_pdf(data: bytes, *, max_pages: int, max_chars: int) -> ParsedDocument:
    damaged = "This PDF is damaged and can't be read; export or save it as PDF again and re-upload it."
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        encrypted = reader.is_encrypted
    except LimitReachedError as exc:
        raise ParseError("too_large", "This PDF expands to too much data to process; it may be damaged.") from exc
    except Exception as exc:  # hostile input: pypdf raises many types for broken files
        raise ParseError("corrupt", damaged) from exc
    if encrypted:
        try:
            unlocked = bool(reader.decrypt(""))  # owner-password-only PDFs open with an empty user password
        except (DependencyError, NotImplementedError) as exc:
            raise ParseError("unsupported", "This PDF uses an encryption we can't open; save it without it.") from exc
        except Exception:
            unlocked = False
        if not unlocked:
            raise ParseError("encrypted", "This PDF is password-protected; remove the password and upload it again.")
    try:
        page_count = len(reader.pages)
    except Exception as exc:
        raise ParseError("corrupt", damaged) from exc
    if page_count == 0:
        raise ParseError("empty", "This PDF has no pages.")
    if page_count > max_pages:
        raise ParseError(
            "too_large",
            f"This PDF has {page_count:,} pages; the limit is {max_pages:,}. Split it and upload the parts.",
        )
    outline = _pdf_outline(reader)
    sections: list[Section] = []
    chars = 0
    unreadable_pages = 0
    for index in range(page_count):
        try:
            text = _pdf_page_text(reader.pages[index])
        except LimitReachedError as exc:
            raise ParseError("too_large", "This PDF expands to too much data to process; it may be damaged.") from exc
        except RecursionError as exc:
            raise ParseError("corrupt", damaged) from exc
        except Exception:  # one unreadable page (bad font, broken stream) should not lose the others
            unreadable_pages += 1
            continue
        body = "\n\n".join(_paragraphs(text))
        if not body:
            continue
        chars += len(body)
        if chars > max_chars:
            raise _too_large_chars(max_chars)
        path = next((path for page, path in reversed(outline) if page <= index), [])
        sections.append(Section(list(path), body, index + 1))
    if not sections and unreadable_pages:
        raise ParseError("corrupt", damaged)
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
            title = _one_line(str(info.title or ""), MAX_TITLE_CHARS)
            if info.author:
                metadata["author"] = _one_line(str(info.author), MAX_TITLE_CHARS)
    except Exception:  # a broken info dictionary only costs us the title
        title = ""
    return ParsedDocument(title or _first_line_title(sections), sections, metadata)


# ---------------------------------------------------------------------------------------------------
# DOCX


_DOCTYPE_MARKERS = tuple("<!DOCTYPE".encode(encoding) for encoding in ("utf-8", "utf-16-le", "utf-16-be"))


def _check_zip_safety(data: bytes) -> None:
    """Refuse zip bombs from the central directory alone, before any entry is decompressed."""
    bomb = "This Word file expands to far more data than a real document; it can't be processed."
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except Exception as exc:  # hostile input: any failure to read the directory means a damaged file
        raise ParseError("corrupt", "This Word file is damaged; open it in Word and save it again.") from exc
    with archive:
        entries = archive.infolist()
        if len(entries) > MAX_ZIP_ENTRIES:
            raise ParseError("too_large", f"This Word file has more than {MAX_ZIP_ENTRIES:,} internal parts.")
        total = sum(entry.file_size for entry in entries)
        if total > MAX_ZIP_TOTAL_UNCOMPRESSED or sum(entry.compress_size for entry in entries) > len(data):
            raise ParseError("too_large", bomb)  # the second test catches entries sharing compressed data
        for entry in entries:
            if entry.file_size > ZIP_RATIO_MIN_SIZE and entry.file_size > MAX_ZIP_RATIO * max(entry.compress_size, 1):
                raise ParseError("too_large", bomb)
        for entry in entries:
            if not entry.filename.endswith((".xml", ".rels")):
                continue
            try:
                with archive.open(entry) as part:
                    prolog = part.read(XML_PROLOG_SCAN_BYTES)
            except Exception as exc:
                raise ParseError("corrupt", "This Word file is damaged; open it in Word and save it again.") from exc
            # Office never writes a DTD; one here can only serve entity expansion or external entities.
            if any(marker in prolog for marker in _DOCTYPE_MARKERS):
                raise ParseError(
                    "corrupt", "This Word file contains constructs Word never writes; open it in Word and save again."
                )


def _docx_heading_level(paragraph: Any) -> int | None:
    style = paragraph.style
    for _ in range(5):  # follow "based on" a few steps: custom heading styles derive from Heading N
        if style is None:
            return None
        match = re.fullmatch(r"heading\s*([1-9])", (style.name or "").strip(), re.IGNORECASE)
        if match:
            return int(match.group(1))
        style = style.base_style
    return None


def _docx_table_rows(table: Any) -> list[str]:
    grid: list[list[str]] = []
    for row in table.rows:
        cells: list[str] = []
        previous = None
        for cell in row.cells:
            if cell._tc is previous:  # a merged cell is reported once per grid column it spans
                continue
            previous = cell._tc
            cells.append(_one_line(cell.text, MAX_CELL_CHARS))
        if any(cells):
            grid.append(cells)
    if not grid:
        return []
    header = grid[0]
    if len(grid) >= 2 and _plausible_header(header):
        return [
            "; ".join(f"{name}: {value}" for name, value in zip(header, row, strict=False) if value) for row in grid[1:]
        ]
    return [" | ".join(cell for cell in row if cell) for row in grid]


def _parse_docx(data: bytes, *, max_chars: int) -> ParsedDocument:
    _check_zip_safety(data)
    damaged = "This Word file is damaged; open it in Word and save it again."
    try:
        document = docx.Document(io.BytesIO(data))
    except Exception as exc:  # python-docx raises KeyError, ValueError, lxml errors… for broken packages
        raise ParseError("corrupt", damaged) from exc
    builder = _SectionBuilder(max_chars=max_chars)
    title = ""
    try:
        for block in document.iter_inner_content():
            if isinstance(block, Table):
                for row in _docx_table_rows(block):
                    builder.paragraph(row)
                continue
            text = block.text
            level = _docx_heading_level(block)
            if level is not None:
                builder.heading(level, text)
            elif not title and block.style is not None and block.style.name == "Title":
                title = _one_line(text, MAX_TITLE_CHARS)
            else:
                builder.paragraph(text)
        core_title = _one_line(document.core_properties.title or "", MAX_TITLE_CHARS)
    except ParseError:
        raise
    except Exception as exc:
        raise ParseError("corrupt", damaged) from exc
    sections = builder.finish()
    if not sections:
        raise _no_text()
    first_heading = next((section.heading_path[0] for section in sections if section.heading_path), "")
    return ParsedDocument(core_title or title or first_heading or _first_line_title(sections), sections, {})


# ---------------------------------------------------------------------------------------------------
# HTML


_HTML_DROP_TAGS = frozenset(
    "script style noscript template nav footer aside svg iframe object embed canvas select button".split()
)
_HTML_DROP_ROLES = frozenset({"navigation", "banner", "contentinfo", "search", "complementary"})
# Class names that mark navigation and boilerplate on common site generators (Sphinx, Bootstrap, WordPress).
_HTML_DROP_CLASSES = frozenset(
    {
        "sphinxsidebar",
        "sidebar",
        "navbar",
        "breadcrumb",
        "breadcrumbs",
        "footer",
        "cookie-banner",
        "skip-link",
        "headerlink",
    }
)
_HTML_OPTIONAL_END = frozenset("p li dt dd tr td th option".split())  # end tags HTML lets authors omit
_HTML_VOID = frozenset("area base br col embed hr img input link meta param source track wbr".split())
_HTML_BLOCKS = frozenset(
    "address article blockquote dd div dl dt figcaption figure form header li main ol p pre section table tbody "
    "thead tfoot tr ul br hr caption details summary".split()
)
_HTML_HEAD_TAGS = frozenset("base link meta noscript script style template title".split())
_HTML_RAW_TEXT = frozenset("iframe noembed noframes noscript script style textarea title xmp".split())  # no tags inside
_HTML_FOREIGN = frozenset({"svg", "math"})  # the only elements where "<x/>" really is empty
# Open elements that an end tag cannot reach past ("</div>" is ignored while a <table> in the div is open).
_HTML_SCOPE_BARRIERS = frozenset("applet button marquee math object select svg table template".split())
_HTML_BLOCK_ENDS = frozenset(
    "address article aside blockquote body caption center details dialog dir div dl dd dt fieldset figcaption "
    "figure footer form header hgroup html li main menu nav ol section summary td th ul".split()
)


@dataclass(frozen=True)
class _ImpliedEnd:
    """When an element whose end tag may be omitted ends anyway (the HTML spec's rules, simplified)."""

    starts: frozenset[str]  # start tags that end it
    ends: frozenset[str]  # end tags (of its parents) that end it
    shields: frozenset[str]  # elements that, open inside it, keep those start tags from ending it


_HTML_LIST_SHIELDS = _HTML_SCOPE_BARRIERS | frozenset(
    "article aside blockquote details dialog dl fieldset figure footer form header main menu nav ol section ul".split()
)
_HTML_CELL_END = _ImpliedEnd(
    starts=frozenset("td th tr tbody thead tfoot".split()),
    ends=frozenset("tr tbody thead tfoot table body html".split()),
    shields=frozenset({"table", "template"}),
)
_HTML_IMPLIED_ENDS = {
    "p": _ImpliedEnd(
        starts=frozenset(
            "address article aside blockquote center details dialog dir div dl dd dt fieldset figcaption figure "
            "footer form h1 h2 h3 h4 h5 h6 header hgroup hr li main menu nav ol p pre section summary ul".split()
        ),
        ends=_HTML_BLOCK_ENDS,
        shields=_HTML_SCOPE_BARRIERS,
    ),
    "li": _ImpliedEnd(starts=frozenset({"li"}), ends=_HTML_BLOCK_ENDS, shields=_HTML_LIST_SHIELDS),
    "dt": _ImpliedEnd(starts=frozenset({"dt", "dd"}), ends=_HTML_BLOCK_ENDS, shields=_HTML_LIST_SHIELDS),
    "dd": _ImpliedEnd(starts=frozenset({"dt", "dd"}), ends=_HTML_BLOCK_ENDS, shields=_HTML_LIST_SHIELDS),
    "tr": _ImpliedEnd(
        starts=frozenset("tr tbody thead tfoot".split()),
        ends=frozenset("tbody thead tfoot table body html".split()),
        shields=frozenset({"table", "template"}),
    ),
    "td": _HTML_CELL_END,
    "th": _HTML_CELL_END,
}
_HTML_HEADINGS = {f"h{level}": level for level in range(1, 7)}
# Escape-style codecs browsers refuse (UTF-7 was an XSS vector); such pages are decoded as if undeclared.
_HTML_IGNORED_CHARSETS = frozenset({"utf-7", "idna", "punycode", "unicode-escape", "raw-unicode-escape"})
_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.IGNORECASE)
_HTML_TAG_OPEN = re.compile(r"<[A-Za-z!/?]")  # "<" before anything else is just text


class _HtmlExtractor(HTMLParser):
    """Streams tags (no tree, so nesting depth costs nothing) into sections cut at h1–h6."""

    def __init__(self, *, max_chars: int) -> None:
        super().__init__(convert_charrefs=True)
        self.builder = _SectionBuilder(max_chars=max_chars)
        self.title_parts: list[str] = []
        self.first_h1 = ""
        self._skip_tag: str | None = None  # outermost dropped element; everything inside is ignored
        self._skip_depth = 0  # elements of that name open, itself included
        self._skip_inner: Counter[str] = Counter()  # other elements open inside it
        self._in_head = False
        self._in_title = False
        self._heading_level: int | None = None
        self._heading_parts: list[str] = []
        self._pre_depth = 0
        self._text: list[str] = []

    def _drop(self, tag: str, attrs: list[tuple[str, str | None]]) -> bool:
        """Whether an element is left out: hidden from people (it may carry injected text), or boilerplate."""
        values = dict(attrs)
        if tag in _HTML_DROP_TAGS or is_hidden(tag, values):
            return True  # even a <p> or <li>: _HTML_IMPLIED_ENDS ends the skip where its omitted end tag would be
        if tag in _HTML_OPTIONAL_END:
            return False  # a boilerplate hint is not worth the risk of skipping past an omitted end tag
        if (values.get("role") or "").lower() in _HTML_DROP_ROLES:
            return True
        return bool(_HTML_DROP_CLASSES.intersection((values.get("class") or "").lower().split()))

    def _start_skip(self, tag: str) -> None:
        self._skip_tag, self._skip_depth = tag, 1
        self._skip_inner.clear()
        if tag in _HTML_RAW_TEXT:
            self.set_cdata_mode(tag)

    def _skip_start_tag(self, tag: str) -> bool:
        """Follow a start tag inside the dropped element; True when it implicitly ends that element."""
        implied = _HTML_IMPLIED_ENDS.get(self._skip_tag or "")
        if implied and tag in implied.starts and not any(self._skip_inner[name] for name in implied.shields):
            self._skip_tag = None
            return True
        if tag == self._skip_tag:
            self._skip_depth += 1
        elif tag not in _HTML_VOID:
            self._skip_inner[tag] += 1
        if tag in _HTML_RAW_TEXT:
            self.set_cdata_mode(tag)  # html.parser would read tags in it, and a "</div>" there must not end a <div>
        return False

    def _skip_end_tag(self, tag: str) -> bool:
        """Follow an end tag inside the dropped element; True when a parent's end tag implicitly ends it."""
        if self._skip_inner[tag] > 0:
            self._skip_inner[tag] -= 1
            return False
        shielded = any(self._skip_inner[name] for name in _HTML_SCOPE_BARRIERS)
        if tag == self._skip_tag:
            if self._skip_depth > 1 or not shielded:
                self._skip_depth -= 1
                if self._skip_depth == 0:
                    self._skip_tag = None
            return False
        implied = _HTML_IMPLIED_ENDS.get(self._skip_tag or "")
        if implied and tag in implied.ends and not shielded:
            self._skip_tag = None
            return True
        return False  # a stray end tag, or one of an ancestor the dropped element was never closed in: keep skipping

    def parse_comment(self, i: int, report: int = 1) -> int:
        """A comment never closed runs to the end of the page, as in browsers (html.parser would make it text)."""
        end = super().parse_comment(i, report)
        return len(self.rawdata) if end < 0 else end

    def parse_html_declaration(self, i: int) -> int:
        """Read "<![CDATA[...]]>" and any other "<![" as browsers do in HTML: a comment up to the next ">"."""
        if self.rawdata.startswith("<![", i):
            end = self.rawdata.find(">", i + 3)
            return len(self.rawdata) if end < 0 else end + 1
        return super().parse_html_declaration(i)

    def _end_paragraph(self) -> None:
        if self._text:
            self.builder.paragraph("".join(self._text))
            self._text = []

    def _end_heading(self) -> None:
        if self._heading_level is None:
            return
        text = "".join(self._heading_parts)
        if self._heading_level == 1 and not self.first_h1:
            self.first_h1 = _one_line(text.replace("¶", ""), MAX_TITLE_CHARS)
        self.builder.heading(self._heading_level, text)
        self._heading_level = None
        self._heading_parts = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self._skip_tag is not None and not self._skip_start_tag(tag):
            return
        if tag == "head":
            self._in_head = True
        elif tag == "title":
            self._in_title = True
            return
        elif self._in_head and tag not in _HTML_HEAD_TAGS:
            self._in_head = False  # like browsers: body content implicitly closes an unclosed <head>
        if tag not in _HTML_VOID and tag != "head" and self._drop(tag, attrs):
            self._start_skip(tag)  # in <head> too: a <noscript> there may hold body tags
            return
        if self._in_head:
            return
        if tag in _HTML_HEADINGS or (tag in _HTML_BLOCKS and tag != "br"):
            self._end_heading()
        if tag in _HTML_HEADINGS or tag in _HTML_BLOCKS:
            self._end_paragraph()
        if tag in _HTML_HEADINGS:
            self._heading_level = _HTML_HEADINGS[tag]
        elif tag == "pre":
            self._pre_depth += 1
        elif tag in ("td", "th", "br"):
            self._append(" ")  # a cell or line break inside a heading still separates words

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        foreign = tag in _HTML_FOREIGN or self._skip_tag in _HTML_FOREIGN
        foreign = foreign or any(self._skip_inner[name] for name in _HTML_FOREIGN)
        if tag not in _HTML_VOID and not foreign:
            self.handle_starttag(tag, attrs)  # HTML ignores "/>" here: "<div hidden/>" hides what follows it
        elif self._skip_tag is None and tag in ("br", "hr"):
            self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if self._skip_tag is not None and not self._skip_end_tag(tag):
            return
        if tag == "title":
            self._in_title = False
        elif tag == "head":
            self._in_head = False
        elif tag in _HTML_HEADINGS:
            self._end_heading()
        elif tag in _HTML_BLOCKS:
            self._end_heading()
            self._end_paragraph()
            if tag == "pre":
                self._pre_depth = max(0, self._pre_depth - 1)

    def _append(self, text: str) -> None:
        if self._heading_level is not None:
            self._heading_parts.append(text)
        else:
            self._text.append(text)

    def handle_data(self, data: str) -> None:
        if self._skip_tag is not None:
            return
        if self._in_title:
            self.title_parts.append(data)
            return
        if self._in_head:
            return
        if self._pre_depth and self._heading_level is None:
            self._text.append(data)  # keep code's line breaks; highlighters split it into many spans
            return
        self._append(_HORIZONTAL_SPACE.sub(" ", data.replace("\n", " ")))

    def finish(self) -> list[Section]:
        self.close()
        self._end_heading()
        self._end_paragraph()
        return self.builder.finish()


def _decode_html(data: bytes) -> str:
    """BOM, else valid UTF-8 (whatever the page claims: it is almost never meant otherwise), else <meta charset>."""
    if not data.startswith(tuple(bom for bom, _ in _BOMS)):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text = ""
        if text and _mostly_printable(text):
            return text
        match = _CHARSET.search(data[:4096])  # browsers look for <meta charset> in the first 1-4 KB
        if match:
            try:
                encoding = codecs.lookup(match.group(1).decode("ascii")).name
                # UTF-16/32 declared in an ASCII-readable <meta> is a lie; transforms (base64, rot13) raise here.
                ignored = encoding.startswith(("utf-16", "utf-32")) or encoding in _HTML_IGNORED_CHARSETS
                text = "" if ignored else data.decode(encoding, errors="replace")
            except (LookupError, UnicodeError, ValueError, TypeError):
                text = ""
            if text and _mostly_printable(text):
                return text
    return _decode_or_raise(data)


def _defuse_html(text: str) -> str:
    """Cut off a tag the file ends in, so html.parser never rescans for a ">" that does not come.

    html.parser rescans to the end of the input for every construct it cannot close (a "</" with no ">"
    after it), which is quadratic. Browsers show none of it: a tag the file ends in is dropped.
    """
    last_gt = text.rfind(">")
    tail = text[last_gt + 1 :]
    unfinished_tag = _HTML_TAG_OPEN.search(tail)
    if unfinished_tag:
        tail = tail[: unfinished_tag.start()]
    return text[: last_gt + 1] + tail.replace("<", "&lt;")


def _parse_html(data: bytes, *, max_chars: int) -> ParsedDocument:
    text = _defuse_html(_decode_html(data))
    extractor = _HtmlExtractor(max_chars=max_chars)
    try:
        extractor.feed(text)
        sections = extractor.finish()
    except ParseError:
        raise
    except Exception as exc:  # html.parser is lenient; anything it raises means hopelessly broken markup
        raise ParseError("corrupt", "This HTML page couldn't be read; check that it is a complete web page.") from exc
    if not sections:
        raise _no_text()
    title = _one_line("".join(extractor.title_parts), MAX_TITLE_CHARS) or extractor.first_h1
    return ParsedDocument(title or _first_line_title(sections), sections, {})


# ---------------------------------------------------------------------------------------------------
# Markdown and plain text


def _markdown_inline(line: str) -> str:
    return _MD_LINK.sub(lambda match: match.group(1), line)  # keep link and image text, drop their URLs


# HTML comments are invisible when Markdown is rendered, so they are not part of what it says
# (editors' notes, test markers); left in, they would surface in answers and citations.
_MD_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)


def _parse_markdown(text: str, *, max_chars: int) -> ParsedDocument:
    text = _MD_COMMENT.sub("", text)
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    title = ""
    start = 0
    if lines and lines[0].strip() == "---":  # YAML front matter: keep only its title
        for index in range(1, min(len(lines), SNIFF_LINES)):
            if lines[index].strip() in ("---", "..."):
                for meta in lines[1:index]:
                    key, _, value = meta.partition(":")
                    if key.strip().lower() == "title":
                        title = _one_line(value.strip().strip("\"'"), MAX_TITLE_CHARS)
                start = index + 1
                break
    builder = _SectionBuilder(max_chars=max_chars)
    paragraph: list[str] = []
    fence: str | None = None
    first_heading = ""

    def end_paragraph() -> None:
        if paragraph:
            builder.paragraph("\n".join(paragraph))
            paragraph.clear()

    for line in lines[start:]:
        fence_match = _MD_FENCE.match(line)
        if fence is not None:
            if fence_match and fence_match.group(1) == fence:
                fence = None
                end_paragraph()
            else:
                paragraph.append(line)
            continue
        if fence_match:
            end_paragraph()
            fence = fence_match.group(1)
            continue
        heading = _md_heading(line)
        setext = _MD_SETEXT.match(line)
        if heading:
            end_paragraph()
            builder.heading(heading[0], _markdown_inline(heading[1]))
            first_heading = first_heading or _one_line(_markdown_inline(heading[1]), MAX_TITLE_CHARS)
        elif setext and len(paragraph) == 1 and not _MD_LIST.match(paragraph[0]):
            heading_text = paragraph.pop()
            builder.heading(1 if setext.group(1).startswith("=") else 2, _markdown_inline(heading_text))
            first_heading = first_heading or _one_line(_markdown_inline(heading_text), MAX_TITLE_CHARS)
        elif not line.strip():
            end_paragraph()
        else:
            paragraph.append(_markdown_inline(line))
    end_paragraph()
    sections = builder.finish()
    if not sections:
        raise _no_text()
    return ParsedDocument(title or first_heading or _first_line_title(sections), sections, {})


def _parse_text(text: str, *, max_chars: int) -> ParsedDocument:
    paragraphs = _paragraphs(text)
    body = "\n\n".join(paragraphs)
    if not body:
        raise _no_text()
    if len(body) > max_chars:
        raise _too_large_chars(max_chars)
    first_line = paragraphs[0].split("\n", 1)[0]
    title = _one_line(first_line, MAX_TITLE_CHARS) if len(first_line) <= MAX_TITLE_CHARS else ""
    return ParsedDocument(title, [Section([], body, None)], {})


# ---------------------------------------------------------------------------------------------------
# CSV


def _parse_csv(text: str, *, max_chars: int, max_rows: int) -> ParsedDocument:
    dialect = _csv_dialect(text[:SNIFF_CHARS]) or csv.excel
    reader = csv.reader(io.StringIO(text), dialect)
    header: list[str] | None = None
    sections: list[Section] = []
    chars = 0
    try:
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            if header is None:
                header = [_one_line(name, MAX_HEADING_CHARS) or f"column {index + 1}" for index, name in enumerate(row)]
                continue
            names = header + [f"column {index + 1}" for index in range(len(header), len(row))]
            rendered = "; ".join(
                f"{name}: {_one_line(value, MAX_CSV_CELL_CHARS)}"
                for name, value in zip(names, row, strict=False)
                if value.strip()
            )
            if len(sections) >= max_rows:
                raise ParseError("too_large", f"This CSV has more than {max_rows:,} rows; split it into smaller files.")
            chars += len(rendered)
            if chars > max_chars:
                raise _too_large_chars(max_chars)
            sections.append(Section([], rendered, None))
    except csv.Error as exc:
        raise ParseError(
            "corrupt", f"This CSV can't be read near line {reader.line_num}: {exc}. Check its quotes and re-export it."
        ) from exc
    if not sections:
        raise ParseError("empty", "This CSV has no data rows under its header.")
    return ParsedDocument("", sections, {"rows": len(sections), "columns": header or []})


# ---------------------------------------------------------------------------------------------------
# Entry points


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
        document = _parse_pdf(data, max_pages=max_pages, max_chars=max_chars)
    elif kind == "docx":
        document = _parse_docx(data, max_chars=max_chars)
    elif kind == "html":
        document = _parse_html(data, max_chars=max_chars)
    else:
        text = _decode_or_raise(data)
        if kind == "csv":
            document = _parse_csv(text, max_chars=max_chars, max_rows=max_rows)
        elif kind == "markdown":
            document = _parse_markdown(text, max_chars=max_chars)
        else:
            document = _parse_text(text, max_chars=max_chars)
    document.metadata.setdefault("kind", kind)
    return document


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


def _collection_record(value: Any, *, max_chars: int) -> tuple[CollectionDocument | None, str]:
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
        title=_one_line(title, MAX_TITLE_CHARS),
        text="\n\n".join(_paragraphs(text)),
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
    text = _decode_or_raise(data).lstrip("\ufeff")
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
        document, problem = _collection_record(value, max_chars=max_chars)
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
    "parse",
    "parse_collection",
    "sniff",
]
