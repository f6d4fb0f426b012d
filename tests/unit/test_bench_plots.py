"""bench/plots.py draws a sessions result's ramp as a PNG (and nothing for a result without one)."""

from __future__ import annotations

import struct
from pathlib import Path

from bench import plots

RESULT = {
    "sessions": 7500,
    "active_sessions": 50,
    "rss_mb_per_1k": 68.3,
    "p99_ratio": 1.26,
    "open": {
        "ramp": {
            "columns": ["seconds", "streams_open", "stream_path_rss_growth_mb"],
            "rows": [[1.0, 0, 0.0], [10.0, 1500, 101.2], [30.0, 4400, 300.5], [73.0, 7500, 512.4]],
        }
    },
    "chat": {
        "baseline": {"p50_ms": 2174.7, "p99_ms": 7038.1},
        "with_sessions": {"p50_ms": 2791.1, "p99_ms": 8889.4},
    },
    "machine": {"cores": 2},
    "git_commit": "abc1234",
}


def test_a_sessions_result_is_drawn_as_a_png(tmp_path: Path) -> None:
    path = plots.sessions(RESULT, out=tmp_path / "sessions.png")
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (1100, 420) and len(data) > 20_000  # two panels with their curves and bars


def test_an_older_result_without_a_ramp_draws_nothing(tmp_path: Path) -> None:
    older = {**RESULT, "open": {"seconds": 56.1}}
    assert plots.sessions(older, out=tmp_path / "sessions.png") is None
    assert not (tmp_path / "sessions.png").exists()
