"""CSV and TSV: one section per data row, each cell named by its column ("Question: …; Answer: …")."""

from __future__ import annotations

import csv
import io
import re

from cortex.knowledge.parsing.decoding import SNIFF_CHARS
from cortex.knowledge.parsing.document import (
    MAX_HEADING_CHARS,
    ParsedDocument,
    ParseError,
    Section,
    one_line,
    too_large_chars,
)

SNIFFER_CHARS = 4096  # csv.Sniffer's regexes are quadratic on hostile input: ~0.2 s worst case at 4 KB
MAX_CSV_CELL_CHARS = 10_000  # CSV cells often hold whole answers or descriptions; keep them, within reason


def csv_dialect(sample: str) -> type[csv.Dialect] | csv.Dialect | None:
    """The sample's delimiter and quoting, or None when it has no delimiter at all."""
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


def plausible_header(cells: list[str]) -> bool:
    """Whether a table's first row names its columns: distinct, short, non-numeric, none empty."""
    names = [cell.strip().lower() for cell in cells]
    return (
        all(names)
        and len(set(names)) == len(names)
        and all(len(name) <= 100 for name in names)
        and not any(re.fullmatch(r"[-+]?[\d.,]+", name) for name in names)
    )


def parse_csv(text: str, *, max_chars: int, max_rows: int) -> ParsedDocument:
    dialect = csv_dialect(text[:SNIFF_CHARS]) or csv.excel
    reader = csv.reader(io.StringIO(text), dialect)
    header: list[str] | None = None
    sections: list[Section] = []
    chars = 0
    try:
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            if header is None:
                header = [one_line(name, MAX_HEADING_CHARS) or f"column {index + 1}" for index, name in enumerate(row)]
                continue
            names = header + [f"column {index + 1}" for index in range(len(header), len(row))]
            rendered = "; ".join(
                f"{name}: {one_line(value, MAX_CSV_CELL_CHARS)}"
                for name, value in zip(names, row, strict=False)
                if value.strip()
            )
            if len(sections) >= max_rows:
                raise ParseError("too_large", f"This CSV has more than {max_rows:,} rows; split it into smaller files.")
            chars += len(rendered)
            if chars > max_chars:
                raise too_large_chars(max_chars)
            sections.append(Section([], rendered, None))
    except csv.Error as exc:
        raise ParseError(
            "corrupt", f"This CSV can't be read near line {reader.line_num}: {exc}. Check its quotes and re-export it."
        ) from exc
    if not sections:
        raise ParseError("empty", "This CSV has no data rows under its header.")
    return ParsedDocument("", sections, {"rows": len(sections), "columns": header or []})
