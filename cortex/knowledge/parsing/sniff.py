"""What kind of file an upload is, decided from its bytes; the name or declared type only break ties."""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile

from cortex.knowledge.parsing.csv import SNIFFER_CHARS, csv_dialect, plausible_header
from cortex.knowledge.parsing.decoding import SNIFF_CHARS, decode_text
from cortex.knowledge.parsing.document import Kind, ParseError
from cortex.knowledge.parsing.markdown import markdown_signals

SNIFF_LINES = 50  # lines examined for JSONL / CSV / Markdown signals

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


def _head_lines(text: str, limit: int) -> tuple[str, list[str]]:
    """The text up to its `limit`-th non-blank line, and those non-blank lines."""
    lines: list[str] = []
    end = 0
    for line in io.StringIO(text):
        end += len(line)
        if line.strip():
            lines.append(line.rstrip("\r\n"))
            if len(lines) >= limit:
                break
    return text[:end], lines


def _is_text_record(line: str) -> bool:
    try:
        value = json.loads(line)
    except (ValueError, RecursionError):
        return False
    return isinstance(value, dict) and isinstance(value.get("text"), str)


def _csv_strength(text: str) -> int:
    """0: not a table; 1: could be (header + one row); 2: a table (header + 2 or more consistent rows)."""
    sample = text[:SNIFF_CHARS]
    truncated = len(text) > len(sample)
    if truncated:
        sample = sample[: sample.rfind("\n") + 1]
    dialect = csv_dialect(sample)
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
    header_ok = plausible_header(records[0])
    if not header_ok:
        try:
            header_ok = csv.Sniffer().has_header(sample[:SNIFFER_CHARS])
        except csv.Error:
            header_ok = False
    if len(records) >= 3 and header_ok:
        return 2
    return 1


def _sniff_text(text: str, hint: Kind | None) -> Kind:
    head = text[:SNIFF_CHARS].lstrip("\ufeff \t\r\n")
    if not head:
        raise ParseError("empty", "This file is empty.")
    if _looks_like_html(head):
        return "html"
    if head.startswith("{\\rtf"):
        raise ParseError("unsupported", "RTF files aren't supported; save the document as .docx or PDF and upload it.")
    head_text, lines = _head_lines(text, SNIFF_LINES)
    records = [_is_text_record(line) for line in lines]
    if records and all(records):
        return "jsonl"
    if hint == "jsonl" and records and records[0] and 2 * sum(records) >= len(records):
        return "jsonl"  # a collection with some bad lines: parse_collection reports them one by one
    if hint == "html" and head.startswith("<") and _HTML_TAG.search(head):
        return "html"  # an HTML fragment without <html>/<body>
    csv_strength = _csv_strength(text)
    structural, inline = markdown_signals(head_text[:SNIFF_CHARS])
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
