"""The embedded stack: status, idempotent up, clear failures, readiness naming a dead part."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil
import pytest

from cortex.settings import APPLICATIONS, Settings
from cortex.stack import Stack, StackError, free_port
from tests.stack_fixtures import RunningStack


def test_status_json_reports_every_part_running(running_stack: RunningStack) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "cortex.cli", "status", "--json"], capture_output=True, text=True, env=os.environ
    )
    assert result.returncode == 0, result.stdout + result.stderr
    status = json.loads(result.stdout)
    for part in ("postgres", "redis", "chroma", "smtp", "ray"):
        assert status[part]["status"] == "running", (part, status[part])
    for app in APPLICATIONS:
        assert status[f"serve:{app}"]["detail"] == "RUNNING"
    assert "***" in status["postgres"]["url"], "the database password must not be printed"


def test_up_again_says_what_is_already_running(running_stack: RunningStack) -> None:
    lines: list[str] = []
    stack = Stack(running_stack.settings, echo=lines.append)
    started = time.monotonic()
    stack.up()
    assert time.monotonic() - started < 60
    text = "\n".join(lines)
    for part in ("postgres", "redis", "chroma", "smtp", "ray"):
        assert f"{part}" in text and "already running" in text
    assert "migrations up to date" in text


def test_a_taken_port_fails_with_one_clear_line_before_starting_anything() -> None:
    home = Path(tempfile.mkdtemp(prefix="cxp-", dir="/tmp"))
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        taken = blocker.getsockname()[1]
        settings = Settings(
            home=home,
            postgres_port=taken,
            redis_port=free_port(),
            chroma_port=free_port(),
            smtp_port=free_port(),
            ray_port=free_port(),
            ray_dashboard_port=free_port(),
            http_port=free_port(),
        )
        stack = Stack(settings, echo=lambda _: None)
        try:
            with pytest.raises(StackError) as raised:
                stack.up()
        finally:
            shutil.rmtree(home, ignore_errors=True)
    message = str(raised.value)
    assert message.startswith(f"postgres: port {taken} is already taken")
    assert "CORTEX_POSTGRES_PORT" in message and "\n" not in message
    assert not list(stack.supervisor.our_processes()), "nothing may be started when preflight fails"


async def test_readiness_names_a_dead_dependency_and_recovers(
    running_stack: RunningStack, http: httpx.AsyncClient
) -> None:
    stack = running_stack.stack
    chroma = psutil.Process(stack.chroma.pid())
    chroma.terminate()
    chroma.wait(10)
    try:
        response = await http.get("/api/knowledge/readyz")
        assert response.status_code == 503
        error = response.json()["error"]
        assert error["code"] == "not_ready"
        assert "chroma" in error["message"]
        assert error["details"]["checks"]["postgres"] == "ok"
        # Liveness is not readiness: the process still answers.
        assert (await http.get("/api/knowledge/healthz")).status_code == 200
    finally:
        await asyncio.to_thread(stack.chroma.start)
    response = await http.get("/api/knowledge/readyz")
    assert response.status_code == 200
