"""The embedded stack the integration and browser tests share: one per pytest session.

Never the developer's ``.cortex/``: `ephemeral_stack` makes a fresh home under /tmp and picks
every port free, so `make test` can run beside `make run`.
"""

from __future__ import annotations

import json
import random
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
import psutil
import pytest
import redis.asyncio as aioredis

from cortex.db.pool import create_pool
from cortex.demo import Demo, ensure_demo
from cortex.devtools.calendar_servers import CalendarServers
from cortex.devtools.openai_server import OpenAIServer
from cortex.models.embedder import LocalEmbed
from cortex.settings import Settings
from cortex.stack import Stack, ephemeral_stack, free_port, port_open

OIDC_CLIENT_SECRET = "oidc-test-client-secret-0123456789"
# Sent by the replicas to the OpenAI stand-in, which records it: a secret the test stack configures.
LLM_API_KEY = "sk-test-llm-api-key-0123456789"


@dataclass
class RunningStack:
    stack: Stack
    settings: Settings
    home: Path
    oidc_port: int
    llm_server: OpenAIServer
    #: Radicale and the Google/Outlook stand-ins, started before the stack, which is pointed at them.
    calendars: CalendarServers

    @property
    def url(self) -> str:
        return self.stack.http_url


@pytest.fixture(scope="session")
def running_stack() -> Iterator[RunningStack]:
    oidc_port = free_port()
    # Bots set to the "openai" backend talk to this local server speaking the OpenAI format.
    llm_server = OpenAIServer(answer="The bakery opens at 7am [1].").start()
    # Connected calendars (workflows) talk to these: a real CalDAV server and the providers' stand-ins.
    calendars = CalendarServers().start()
    env = {
        "CORTEX_LLM_URL": llm_server.url,
        "CORTEX_LLM_MODEL": "stand-in",
        "CORTEX_LLM_API_KEY": LLM_API_KEY,
        "CORTEX_ENV": "test",
        # The crawler and URL uploads may reach the test's own servers on 127.0.0.1 (and only that).
        "CORTEX_FETCH_ALLOW_NETWORKS": '["127.0.0.1/32"]',
        # Owners' webhooks may reach the test's own receivers on 127.0.0.1 (and only that).
        "CORTEX_WORKFLOWS_WEBHOOK_ALLOW_NETWORKS": '["127.0.0.1/32"]',
        # As behind a production ingress: one trusted proxy hop, so tests can speak for many
        # client IPs through X-Forwarded-For (each request gets its own unless a test sets one).
        "CORTEX_TRUSTED_PROXY_COUNT": "1",
        # A local OIDC issuer (tests/integration/oidc_provider.py), configured as Google would be.
        "CORTEX_OIDC_ALLOW_HTTP_LOOPBACK": "1",
        "CORTEX_OIDC_PROVIDERS": json.dumps(
            {
                "local": {
                    "discovery_url": f"http://127.0.0.1:{oidc_port}/.well-known/openid-configuration",
                    "client_id": "cortex-test",
                    "client_secret": OIDC_CLIENT_SECRET,
                }
            }
        ),
    }
    env.update(calendars.env())
    with ephemeral_stack(env, prefix="cxt") as stack:
        yield RunningStack(
            stack=stack,
            settings=stack.settings,
            home=stack.home,
            oidc_port=oidc_port,
            llm_server=llm_server,
            calendars=calendars,
        )
    llm_server.stop()
    calendars.stop()
    # `down` must leave nothing behind: no process of ours (HAProxy included), no open port.
    leftovers = [p for p in stack.supervisor.our_processes() if p.is_running()]
    assert not leftovers, f"processes left after down: {leftovers}"
    ports = [
        stack.settings.http_port,
        stack.settings.postgres_port,
        stack.settings.redis_port,
        stack.settings.chroma_port,
        stack.settings.ray_port,
        stack.settings.ray_dashboard_port,
    ]
    assert not [port for port in ports if port_open("127.0.0.1", port)], "ports still open after down"
    home = str(stack.home)
    assert not [p for p in psutil.process_iter(["cmdline"]) if home in " ".join(p.info["cmdline"] or [])]


@pytest.fixture(scope="session")
def demo_build(running_stack: RunningStack) -> tuple[Demo, list[str]]:
    """The demo `make run` builds (from scratch), and what building it printed.

    Its bot answers on `auto`: extractively on a machine without an LLM endpoint. The test stack
    has an endpoint (the stand-in), so the bot is set to `extractive`, what `auto` is on `make run`.
    """
    lines: list[str] = []
    demo = ensure_demo(running_stack.settings, reset=True, echo=lines.append, base_url=running_stack.url)
    with httpx.Client(base_url=running_stack.url, timeout=30) as client:
        login = client.post("/api/auth/login", json={"email": demo.owner_email, "password": demo.password})
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
        bot = client.get(f"/api/bots/{demo.bot_id}", headers=headers).json()
        assert bot["llm"]["backend"] == "auto", "the demo bot follows the installation's default"
        patched = client.patch(f"/api/bots/{demo.bot_id}", json={"llm": {"backend": "extractive"}}, headers=headers)
        assert patched.status_code == 200, patched.text
    return demo, lines


@pytest.fixture(scope="session")
def settings(running_stack: RunningStack) -> Settings:
    return running_stack.settings


async def _distinct_client_ip(request: httpx.Request) -> None:
    if "x-forwarded-for" not in request.headers:
        octets = [random.randrange(256), random.randrange(256), random.randrange(1, 255)]
        request.headers["x-forwarded-for"] = "10." + ".".join(map(str, octets))


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


@pytest.fixture(scope="session")
def embed() -> LocalEmbed:
    """The embedder in this process (the model loads once per session), for tests that teach a bot
    documents or run chat's pipeline here."""
    return LocalEmbed()


@pytest.fixture
async def core_pool(settings: Settings) -> AsyncIterator[asyncpg.Pool]:
    """A pool logged in as core's own role, as a core replica's: for tests that run core's chat
    pipeline or closer in this process, or read core's tables."""
    pool = await create_pool(settings.service_database_url("core"), settings, schema="core")
    yield pool
    await pool.close()
