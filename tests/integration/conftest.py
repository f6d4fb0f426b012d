"""One embedded stack per pytest session: free ports, a temp home, torn down at the end.

Never the developer's ``.cortex/``: the home is a fresh directory under /tmp (short, because
Ray's unix socket paths live below it) and every port is picked free, so `make test` can run
beside `make run`.
"""

from __future__ import annotations

import json
import random
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import pytest
import redis.asyncio as aioredis

from cortex.settings import Settings, get_settings
from cortex.stack import Stack, free_port, port_open

OIDC_CLIENT_SECRET = "oidc-test-client-secret-0123456789"
PORT_SETTINGS = (
    "http_port",
    "postgres_port",
    "redis_port",
    "chroma_port",
    "smtp_port",
    "ray_port",
    "ray_dashboard_port",
)


@dataclass
class RunningStack:
    stack: Stack
    settings: Settings
    home: Path
    oidc_port: int

    @property
    def url(self) -> str:
        return self.stack.http_url


@pytest.fixture(scope="session")
def running_stack() -> Iterator[RunningStack]:
    home = Path(tempfile.mkdtemp(prefix="cxt-", dir="/tmp"))
    monkey = pytest.MonkeyPatch()
    ports = {name: free_port() for name in PORT_SETTINGS}
    monkey.setenv("CORTEX_HOME", str(home))
    monkey.setenv("CORTEX_ENV", "test")
    # As behind a production ingress: one trusted proxy hop, so tests can speak for many client
    # IPs through X-Forwarded-For (each request gets its own unless a test sets one).
    monkey.setenv("CORTEX_TRUSTED_PROXY_COUNT", "1")
    monkey.setenv("CORTEX_PUBLIC_URL", f"http://127.0.0.1:{ports['http_port']}")
    # A local OIDC issuer (tests/integration/oidc_provider.py) is configured like Google would be.
    oidc_port = free_port()
    monkey.setenv("CORTEX_OIDC_ALLOW_HTTP_LOOPBACK", "1")
    monkey.setenv(
        "CORTEX_OIDC_PROVIDERS",
        json.dumps(
            {
                "local": {
                    "discovery_url": f"http://127.0.0.1:{oidc_port}/.well-known/openid-configuration",
                    "client_id": "cortex-test",
                    "client_secret": OIDC_CLIENT_SECRET,
                }
            }
        ),
    )
    for name, port in ports.items():
        monkey.setenv(f"CORTEX_{name.upper()}", str(port))
    for name in ("DATABASE_URL", "REDIS_URL", "CHROMA_URL", "SMTP_URL", "RAY_ADDRESS"):
        monkey.delenv(f"CORTEX_{name}", raising=False)
    get_settings.cache_clear()
    settings = get_settings()
    stack = Stack(settings)
    try:
        stack.up()
        yield RunningStack(stack=stack, settings=settings, home=home, oidc_port=oidc_port)
    finally:
        stack.down()
        leftovers = list(stack._our_processes())
        open_ports = [name for name, port in ports.items() if port_open("127.0.0.1", port)]
        monkey.undo()
        get_settings.cache_clear()
        shutil.rmtree(home, ignore_errors=True)
        shutil.rmtree(stack.ray_temp_dir, ignore_errors=True)
        # `down` must leave nothing behind: no process of ours (HAProxy included), no open port.
        assert not leftovers, f"processes left after down: {[p.info for p in leftovers if p.is_running()]}"
        assert not open_ports, f"ports still open after down: {open_ports}"
        assert not [p for p in psutil.process_iter(["cmdline"]) if str(home) in " ".join(p.info["cmdline"] or [])]


@pytest.fixture(scope="session")
def settings(running_stack: RunningStack) -> Settings:
    return running_stack.settings


async def _distinct_client_ip(request: httpx.Request) -> None:
    if "x-forwarded-for" not in request.headers:
        request.headers["x-forwarded-for"] = (
            f"10.{random.randrange(256)}.{random.randrange(256)}.{random.randrange(1, 255)}"
        )


@pytest.fixture(scope="session")
async def http(running_stack: RunningStack) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=running_stack.url, timeout=30, event_hooks={"request": [_distinct_client_ip]}
    ) as client:
        yield client


@pytest.fixture(scope="session")
async def redis_client(settings: Settings) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(settings.resolved_redis_url())
    yield client
    await client.aclose()
