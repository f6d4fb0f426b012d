"""A throw-away stack for tests and benchmarks: fresh home, free ports, removed afterwards."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from cortex.settings import get_settings
from cortex.stack.orchestrator import Stack
from cortex.stack.ports import free_ports

PORT_SETTINGS = (
    "http_port",
    "postgres_port",
    "redis_port",
    "chroma_port",
    "smtp_port",
    "ray_port",
    "ray_dashboard_port",
)
# Unset while the stack runs: an ephemeral stack embeds every part.
EXTERNAL_SETTINGS = (
    "CORTEX_DATABASE_URL",
    "CORTEX_REDIS_URL",
    "CORTEX_CHROMA_URL",
    "CORTEX_SMTP_URL",
    "CORTEX_RAY_ADDRESS",
)


@contextlib.contextmanager
def ephemeral_stack(env: dict[str, str] | None = None, *, prefix: str = "cx") -> Iterator[Stack]:
    """A whole stack in a fresh temp home on free ports, removed afterwards.

    The home sits directly under /tmp (short: Ray's socket paths live below it). `env` adds
    CORTEX_* settings for the stack and its Serve applications.
    """
    home = Path(tempfile.mkdtemp(prefix=f"{prefix}-", dir="/tmp"))
    ports = dict(zip(PORT_SETTINGS, free_ports(len(PORT_SETTINGS)), strict=True))
    overrides = {"CORTEX_HOME": str(home), **{f"CORTEX_{name.upper()}": str(p) for name, p in ports.items()}}
    overrides.update(env or {})
    saved = {key: os.environ.get(key) for key in [*overrides, *EXTERNAL_SETTINGS]}
    for key in EXTERNAL_SETTINGS:
        os.environ.pop(key, None)
    os.environ.update(overrides)
    get_settings.cache_clear()
    stack = Stack(get_settings())
    try:
        stack.up()
        yield stack
    finally:
        try:
            stack.down()
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
            get_settings.cache_clear()
            shutil.rmtree(home, ignore_errors=True)
            shutil.rmtree(stack.ray_temp_dir, ignore_errors=True)
