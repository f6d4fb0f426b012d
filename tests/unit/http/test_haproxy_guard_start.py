"""`cortex-haproxy` fails closed: HAProxy starts with its header rules, or not at all."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from cortex.haproxy_guard import STRIPPED_HEADERS

CONFIG = """global
    maxconn 100
frontend http_frontend
    bind 127.0.0.1:8000
"""


def _start(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], list[str] | None]:
    """Run cortex-haproxy as Serve does, with a stand-in HAProxy that records how it was started."""
    started = tmp_path / "haproxy-started"
    stand_in = tmp_path / "haproxy"
    stand_in.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > {started}\n')
    stand_in.chmod(0o755)
    result = subprocess.run(
        [sys.executable, "-m", "cortex.haproxy_guard", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "CORTEX_HAPROXY_BINARY": str(stand_in)},
        timeout=30,
        check=False,
    )
    return result, (started.read_text().splitlines() if started.exists() else None)


def test_haproxy_starts_with_the_rules_in_its_http_frontend(tmp_path: Path) -> None:
    config = tmp_path / "haproxy.cfg"
    config.write_text(CONFIG)
    result, started_with = _start(tmp_path, "-db", "-f", str(config), "-sf", "41")
    assert result.returncode == 0, result.stderr
    assert started_with == ["-db", "-f", str(config), "-sf", "41"]
    for header in STRIPPED_HEADERS:
        assert f"    http-request del-header {header}\n" in config.read_text()


@pytest.mark.parametrize(
    "case",
    ["no http frontend", "unreadable config", "no config argument"],
)
def test_haproxy_is_not_started_when_the_rules_cannot_be_applied(tmp_path: Path, case: str) -> None:
    config = tmp_path / "haproxy.cfg"
    if case == "no http frontend":  # a Ray whose config changed shape
        config.write_text("global\n    maxconn 100\nfrontend public\n    bind :8000\n")
        args = ["-db", "-f", str(config)]
    elif case == "unreadable config":
        config.mkdir()
        args = ["-db", "-f", str(config)]
    else:
        args = ["-db"]
    result, started_with = _start(tmp_path, *args)
    assert started_with is None, "HAProxy must never run without the header rules"
    assert result.returncode == 1
    message = result.stderr.strip()
    assert message.startswith("cortex-haproxy: refusing to start HAProxy without its header rules")
    assert "\n" not in message and "Traceback" not in message
