"""The code blocks of README.md and docs/*.md, each with what its test does with it.

Every fenced block carries a marker comment on the line before it (invisible when rendered):

    <!-- doc-test: run -->                  run it (bash or python) on the test stack; exit 0
    <!-- doc-test: run expect="text" -->    ... and its output contains `text`
    <!-- doc-test: snippet -->              HTML to paste: each script's src must serve the loader
    <!-- doc-test: excerpt <path> -->       its lines appear, in order, in that file of the repo
    <!-- doc-test: skip: <reason> -->       not runnable in the tests, and why

A block without a marker is an error, so a new sample cannot go untested by accident.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

_FENCE = re.compile(r"^(?P<indent>\s*)```(?P<language>[\w-]*)\s*$")
_MARKER = re.compile(r"^\s*<!-- doc-test: (?P<action>run|snippet|excerpt|skip)(?P<argument>.*?)\s*-->\s*$")
_EXPECT = re.compile(r'^\s*expect="(?P<text>(?:[^"\\]|\\.)*)"$')


@dataclass(frozen=True)
class Sample:
    path: Path
    line: int  # 1-based line of the opening fence
    language: str
    code: str
    action: str | None  # None: the block has no marker
    argument: str  # run: expected output; skip: the reason; excerpt: the file

    @property
    def id(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def _argument(action: str, raw: str) -> str:
    raw = raw.strip()
    if action == "skip":
        return raw.removeprefix(":").strip()
    if action == "run" and raw:
        match = _EXPECT.match(raw)
        if match is None:
            raise ValueError(f'bad run marker argument {raw!r}: use expect="..."')
        return re.sub(r"\\(.)", r"\1", match["text"])
    return raw


def samples(path: Path) -> list[Sample]:
    """Every fenced block of one Markdown file, in order."""
    lines = path.read_text().splitlines()
    found: list[Sample] = []
    index = 0
    while index < len(lines):
        fence = _FENCE.match(lines[index])
        if fence is None:
            index += 1
            continue
        start = index
        indent = len(fence["indent"])
        body: list[str] = []
        index += 1
        while index < len(lines) and lines[index].strip() != "```":
            body.append(lines[index][indent:] if lines[index][:indent].strip() == "" else lines[index])
            index += 1
        previous = next((lines[i] for i in range(start - 1, -1, -1) if lines[i].strip()), "")
        marker = _MARKER.match(previous)
        action = marker["action"] if marker else None
        argument = _argument(action, marker["argument"]) if marker and action else ""
        found.append(Sample(path, start + 1, fence["language"], "\n".join(body) + "\n", action, argument))
        index += 1
    return found


def all_samples() -> list[Sample]:
    return [sample for path in DOCS for sample in samples(path)]
