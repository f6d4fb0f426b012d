"""Bytes that should be text, decoded: a BOM, else UTF-8, else what charset-normalizer detects; None for binary."""

from __future__ import annotations

import codecs
import unicodedata

import charset_normalizer

from cortex.knowledge.parsing.document import ParseError

SNIFF_CHARS = 64 * 1024  # enough text to see ~50 lines of any sane text file
MAX_CONTROL_CHAR_RATIO = 0.01  # real text has almost no C0 controls; binary has ~10 %

BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),  # before UTF-16 LE: its BOM starts with the same two bytes
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_ALLOWED_CONTROLS = frozenset("\t\n\r\f\v\x1a")  # \x1a: the DOS end-of-file mark some old exports keep


def mostly_printable(text: str) -> bool:
    sample = text[:SNIFF_CHARS]
    if not sample:
        return True
    controls = sum(1 for ch in sample if ch not in _ALLOWED_CONTROLS and unicodedata.category(ch) == "Cc")
    return controls <= max(2, len(sample) * MAX_CONTROL_CHAR_RATIO)  # a stray control or two in a short note is fine


def _detect(data: bytes) -> str | None:
    """A legacy (non-UTF-8) encoding's text, as charset-normalizer reads it.

    Where cp1252 reads the bytes as cleanly as its best guess, cp1252 wins: charset-normalizer ranks
    such ties arbitrarily and picked cp1250 for "Crème brûlée" (→ "Crčme brűlée"); cp1252 is what
    Windows and the web default to for Western text, which is most legacy uploads.
    """
    matches = charset_normalizer.from_bytes(data)
    best = matches.best()
    if best is None:
        return None
    for match in matches:
        if "cp1252" in match.could_be_from_charset and match.chaos <= best.chaos:
            return str(match)
    return str(best)


def decode_text(data: bytes) -> str | None:
    """Decode bytes that should be text (BOM, then UTF-8, then a detected charset), or None when they look binary."""
    for bom, encoding in BOMS:
        if data.startswith(bom):
            try:
                text = data[len(bom) :].decode(encoding)
            except UnicodeDecodeError:
                return None
            return text if mostly_printable(text) else None
    if b"\x00" in data:
        return None
    try:
        decoded = data.decode("utf-8")
    except UnicodeDecodeError:
        detected = _detect(data)
        if detected is None:
            return None
        decoded = detected
    return decoded if mostly_printable(decoded) else None


def decode_or_raise(data: bytes) -> str:
    text = decode_text(data)
    if text is None:
        raise ParseError("unsupported", "This file isn't readable text; save it as UTF-8 text and upload it again.")
    return text
