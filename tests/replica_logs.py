"""What the stack's Serve replicas logged as going wrong, for a failing test's report.

Replicas write their logs (Cortex's JSON lines included, through Serve's redirection of stderr) to
Serve's files in the Ray session directory, which the stack deletes when the test session ends: a
failure carries the lines that explain it, or CI shows only the symptom.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

from cortex.stack import Stack

PROBLEM_MARKS = ("WARNING", "ERROR", "Traceback")


def _replica_logs(stack: Stack) -> list[Path]:
    return sorted((Path(stack.ray_temp_dir) / "session_latest" / "logs" / "serve").glob("replica_*.log"))


def log_offsets(stack: Stack) -> dict[str, int]:
    """Where each replica log ends now: `replica_problems(since=...)` reads only what comes after."""
    return {path.name: path.stat().st_size for path in _replica_logs(stack)}


def replica_problems(stack: Stack, *, since: dict[str, int] | None = None, limit: int = 12) -> list[str]:
    """The last `limit` warnings and errors in the replicas' logs, oldest first, each named by its
    replica (after the `since` offsets, when given)."""
    found: list[tuple[str, str]] = []
    for path in _replica_logs(stack):
        with path.open("rb") as file:
            file.seek((since or {}).get(path.name, 0))
            text = file.read().decode("utf-8", "replace")
        replica = path.stem.removeprefix("replica_")
        for line in text.splitlines():
            if any(mark in line for mark in PROBLEM_MARKS) and (summary := _summary(line)) is not None:
                found.append((summary, replica))
    return [f"{replica} {summary}" for summary, replica in sorted(found)[-limit:]]  # a summary starts with its time


def _summary(line: str) -> str | None:
    """'time LEVEL logger: message [— the exception]' from one of Serve's JSON records (Cortex's
    own JSON line inside it unwrapped); None for a record below WARNING."""
    try:
        record = json.loads(line)
    except ValueError:
        return line[:400]
    level, message = record.get("levelname", ""), str(record.get("message", ""))
    with contextlib.suppress(ValueError, AttributeError):
        ours = json.loads(message)
        level, message = ours["level"], f"{ours['logger']}: {ours['message']}"
    if level not in ("WARNING", "ERROR", "CRITICAL"):
        return None
    # Serve writes the traceback as a run of tuple reprs ("('line\\n',)"); its last line names
    # the exception.
    lines = str(record.get("exc_text") or "").replace("\\n", "\n").splitlines()
    error = next((text.lstrip("(\"', )") for text in reversed(lines) if text.strip("(\"', )")), "")
    return f"{str(record.get('asctime', ''))[11:23]} {level} {message[:300]}" + (f" — {error[:200]}" if error else "")
