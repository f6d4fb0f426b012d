"""PNG plots of benchmark results, where a curve says more than the table (bench/results/*.png).

    python -m bench.plots          (redraws every plot from the committed results)

`sessions.png`: the stream path's memory as 7,500 widget streams open, against the target's slope
(a straight line means a fixed cost per stream, a bend a pool or buffer filling up), and the
chatting visitors' latency with none and with all of them open. bench/sessions.py draws it after
each run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display

import matplotlib.pyplot as plt  # noqa: E402 - after the backend is chosen

from bench.load import RESULTS  # noqa: E402

SESSIONS_MB_PER_1K_TARGET = 80
SESSIONS_P99_RATIO_TARGET = 1.5


def sessions(result: dict[str, Any], out: Path | None = None) -> Path | None:
    """sessions.png from a sessions result; None when the result has no ramp (an older run)."""
    rows = (result.get("open") or {}).get("ramp", {}).get("rows") or []
    if not rows:
        return None
    _, streams, growth = zip(*rows, strict=True)
    most = max(streams)
    figure, (memory, latency) = plt.subplots(1, 2, figsize=(11, 4.2))

    memory.plot(streams, growth, marker=".", label="measured: growth of the stream path's RSS")
    memory.plot(
        [0, most],
        [0, most / 1000 * SESSIONS_MB_PER_1K_TARGET],
        linestyle="--",
        color="grey",
        label=f"target: {SESSIONS_MB_PER_1K_TARGET} MB per 1,000 streams",
    )
    memory.set(
        xlabel="widget streams open",
        ylabel="MB",
        title=f"Memory: {result['rss_mb_per_1k']} MB per 1,000 open streams",
    )
    memory.legend(loc="upper left")
    memory.grid(alpha=0.3)

    chat = result["chat"]
    quiet = [chat["baseline"]["p50_ms"], chat["baseline"]["p99_ms"]]
    busy = [chat["with_sessions"]["p50_ms"], chat["with_sessions"]["p99_ms"]]
    latency.bar([-0.2, 0.8], quiet, 0.4, label="no streams open")
    latency.bar([0.2, 1.2], busy, 0.4, label=f"{result['sessions']:,} streams open")
    latency.plot(
        [0.75, 1.45],
        [quiet[1] * SESSIONS_P99_RATIO_TARGET] * 2,
        linestyle="--",
        color="grey",
        label=f"target: p99 at most {SESSIONS_P99_RATIO_TARGET}x",
    )
    latency.set_xticks([0, 1], ["p50", "p99"])
    latency.set(
        ylabel="ms per chat turn",
        title=f"{result['active_sessions']} chatting visitors: p99 {result['p99_ratio']}x",
    )
    latency.legend(loc="upper left")
    latency.grid(axis="y", alpha=0.3)

    cores = result.get("machine", {}).get("cores", "?")
    figure.suptitle(f"make bench-sessions on {cores} cores (commit {result.get('git_commit', '?')})")
    figure.tight_layout()
    path = out or RESULTS / "sessions.png"
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


PLOTS = {"sessions": sessions}


def main() -> None:
    for name, draw in PLOTS.items():
        source = RESULTS / f"{name}.json"
        if source.exists() and (path := draw(json.loads(source.read_text()))) is not None:
            print(f"{name}: {path}")


if __name__ == "__main__":
    main()
