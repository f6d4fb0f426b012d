"""Tables in the docs generated from the code (the settings, the routes), so they cannot drift.

A table sits between two marker lines of its Markdown file. Each generator's `python -m` prints it,
and with `--write` rewrites it in place; a unit test per table fails when the committed one differs.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class GeneratedTable:
    doc: Path
    start: str
    end: str
    table: Callable[[], str]

    def update(self, text: str) -> str:
        """`text` with what lies between the markers replaced by the generated table."""
        try:
            head, rest = text.split(self.start, 1)
            _, tail = rest.split(self.end, 1)
        except ValueError:
            raise ValueError(f"{self.doc.name} must contain the lines {self.start!r} and {self.end!r}") from None
        return f"{head}{self.start}\n{self.table()}{self.end}{tail}"

    def main(self, argv: list[str] | None, *, prog: str, description: str) -> int:
        parser = argparse.ArgumentParser(prog=prog, description=description)
        parser.add_argument("--write", action="store_true", help=f"rewrite the table in {self.doc}")
        args = parser.parse_args(argv)
        if not args.write:
            sys.stdout.write(self.table())
            return 0
        before = self.doc.read_text()
        after = self.update(before)
        if after != before:
            self.doc.write_text(after)
            print(f"updated {self.doc}")
        else:
            print(f"{self.doc} is up to date")
        return 0
