"""Sessions benchmark: what thousands of open, idle widget sessions cost one node.

A widget session is a visitor with a token and a conversation, holding that conversation's live
stream (GET /api/live/conversations/{id}/stream, SSE) open to receive agent replies, kept alive by
heartbeats. On one node this opens SESSIONS such streams, each its own visitor and conversation,
while CHATTERS other visitors chat, and reports:

- memory per 1,000 idle sessions: RSS of every stack process before the streams open and once
  all are open and have heartbeated, in total and per process group (the live replica, HAProxy,
  Serve's proxy, Redis, Postgres, the rest);
- the chatting visitors' whole-turn latency (POST /api/chat with a zero-latency LLM stand-in)
  with no idle session open (baseline) and with all open, in the same run, RUNS times (the streams
  closed and reopened between runs): the p99 ratio is the median of the runs. Each chatter waits
  2-6 s after an answer before its next message (THINK_S): the offered load stays below what
  the node serves, so the p99 shows what the open streams add, not the tail of a saturated queue
  (50 chatters back to back kept 2 cores saturated: p50 2.4 s, and a p99 ratio that moved
  between 1.26 and 1.94 from one run to the next);
- an agent's reply (takeover, then POST /conversations/{id}/messages) until it arrives on the
  visitor's open stream, with all sessions open.

The visitors and conversations of the idle sessions are written straight to Postgres with core's
store functions (7,500 first chat turns through the API would take ~10 min of CPU), and their
tokens are VisitorService.visitor_token's (the code behind POST /api/auth/visitor-token) claims,
re-signed per visitor with the same key. The chatters' conversations start with real turns.
Every stream opens through HAProxy to the `live` application; the one Serve override (a request
timeout longer than the streams' life) is in `serve_config_for_sessions`, and the result's `note` names it.

Run: make bench-sessions  (python -m bench.sessions [--sessions N])
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import statistics
import sys
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

import httpx
import orjson
import psutil

from bench import plots
from bench.accounts import new_owner
from bench.chat import QUESTION, _teach
from bench.chat import stack_env as chat_stack_env
from bench.load import bench_stack, stand_in_llm, write_result
from cortex.serve_tuning import haproxy_maxconn, raise_nofile
from cortex.stack import Stack
from cortex.stack.serve import Serve

SESSIONS = 7_500
CHATTERS = 50
ORIGIN = "https://bench.example"
# A chatter's pause after an answer before its next message, uniform in this range (seconds):
# 50 chatters offer ~12 turns/s, about half of what this node serves with no stream open.
THINK_S = (2.0, 6.0)
# Each phase of chat turns: ~370 turns at that pace, so the p99 is the 4th-slowest, not the 1st.
CHAT_SECONDS = 30
# Runs of (no stream open, then all open) chat phases: the p99 ratio is their median. The first run
# also measures memory (a later run reopens streams into memory the first one already grew).
RUNS = 3
WARMUP_SECONDS = 8
# The production heartbeat (settings.live_heartbeat_s): a keep-alive costs the live replica CPU
# per stream (see `heartbeat_cpu_ms`), so a shorter one would load the chat phase unlike production.
# Every session is held at least one interval before memory is read, and must have heartbeated.
HEARTBEAT_S = 15
# Long enough that no stream ends during the run (production: 100 s, then the widget resumes), and
# Serve's own request timeout (http_options.request_timeout_s, 120 s) raised above it for the bench.
STREAM_MAX_S = 600
REQUEST_TIMEOUT_S = 900
# Streams being opened at once: enough to keep the live replica busy, few enough that a slow
# open is not a timeout.
OPEN_CONCURRENCY = 200
OPEN_TIMEOUT_S = 60
# Streams not open by then count as failures (on a quiet node 7,500 open in well under a minute).
OPEN_DEADLINE_S = 150
AGENT_REPLIES = 20
# After closing every stream, before the next run's chat phase with none open.
CLOSE_SETTLE_S = 5
# The processes that hold an open stream: its replica, the gateway, Serve's proxy, and Redis (a
# subscription per stream). Postgres holds none (a stream reads its conversation once), and the
# other replicas (chat, knowledge, ...) hold none either; their memory moves with autoscaling and
# caches while the streams open (Postgres's once fell by 222 MB), so it is reported apart
# (rss_mb_per_1k_all_processes). A process of the path that shrinks counts as 0, never less.
STREAM_PATH = ("live_replica", "haproxy", "serve_proxy", "redis")


@dataclass
class Session:
    """One widget's live stream: opened, ready (first `status` event), heartbeats, messages."""

    conversation_id: str
    token: str
    status: int | None = None
    open_ms: float | None = None
    heartbeats: int = 0
    retry_seen: bool = False
    ready: bool = False
    ended: bool = False
    error: str | None = None
    arrivals: dict[str, float] = field(default_factory=dict)
    message_seen: asyncio.Event | None = None  # set by each message event, for whoever waits on one

    async def run(self, host: str, port: int, opening: asyncio.Semaphore) -> None:
        writer = None
        try:
            async with opening:
                started = time.perf_counter()
                reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), OPEN_TIMEOUT_S)
                writer.write(
                    (
                        f"GET /api/live/conversations/{self.conversation_id}/stream HTTP/1.1\r\n"
                        f"Host: {host}:{port}\r\nAuthorization: Bearer {self.token}\r\nOrigin: {ORIGIN}\r\n"
                        "Accept: text/event-stream\r\n\r\n"
                    ).encode()
                )
                head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), OPEN_TIMEOUT_S)
                self.status = int(head.split(b" ", 2)[1])
                if self.status != 200:
                    self.error = f"HTTP {self.status}"
                    return
                events = _sse_events(reader, chunked=b"transfer-encoding: chunked" in head.lower())
                while not self.ready:
                    self._on(await asyncio.wait_for(anext(events), OPEN_TIMEOUT_S))
                self.open_ms = (time.perf_counter() - started) * 1000
            async for event in events:
                self._on(event)
            self.ended = True  # the server closed the stream before the benchmark did
        except asyncio.CancelledError:
            raise
        except TimeoutError:
            self.error = "timeout"
        except Exception as exc:  # noqa: BLE001 - counted and reported, one line each
            self.error = type(exc).__name__
        finally:
            if writer is not None:
                writer.close()

    def _on(self, event: bytes) -> None:
        if event.startswith(b": keep-alive"):
            self.heartbeats += 1
        elif event.startswith(b"retry:"):
            self.retry_seen = True
        elif b"event: status" in event:
            self.ready = True
        elif b"event: message" in event:
            data = orjson.loads(event.split(b"data: ", 1)[1])
            self.arrivals[data["id"]] = time.perf_counter()
            if self.message_seen is not None:
                self.message_seen.set()


async def _sse_events(reader: asyncio.StreamReader, *, chunked: bool) -> Any:
    """Server-sent events (raw bytes each) from an HTTP/1.1 body, chunked or not."""
    buffer = b""
    while True:
        if chunked:
            size = int((await reader.readline()).split(b";")[0].strip() or b"0", 16)
            if size == 0:
                return
            data = (await reader.readexactly(size + 2))[:-2]
        else:
            data = await reader.read(65536)
            if not data:
                return
        buffer += data
        while b"\n\n" in buffer:
            event, _, buffer = buffer.partition(b"\n\n")
            yield event


# -- the stack and its data ----------------------------------------------------------------------


def stack_env(llm_url: str) -> dict[str, str]:
    """bench.chat's settings (every turn runs the whole pipeline), and the streams' own."""
    return {
        **chat_stack_env(llm_url),
        "CORTEX_LIVE_HEARTBEAT_S": str(HEARTBEAT_S),
        "CORTEX_LIVE_STREAM_MAX_S": str(STREAM_MAX_S),
    }


def serve_config_for_sessions() -> Any:
    """serve_config with Serve's request timeout above the streams' life (see the note in the result)."""
    original = Serve.config

    def config(self: Serve) -> dict[str, Any]:
        config = original(self)
        config["http_options"]["request_timeout_s"] = REQUEST_TIMEOUT_S
        return config

    return mock.patch.object(Serve, "config", config)


def _setup(base: str, home: Path) -> dict[str, str]:
    """Owner, bot with knowledge (as bench.chat), widget key: ids and the owner's token."""
    from cortex.models.embedder import LocalEmbed  # noqa: F401 - imported lazily: loads the model

    with httpx.Client(base_url=base, timeout=60) as client:
        owner = new_owner(base, home=home)
        headers = {"Authorization": f"Bearer {owner['access_token']}"}
        bot = (
            client.post(
                "/api/bots", json={"name": "Bakery", "llm": {"backend": "openai", "max_tokens": 64}}, headers=headers
            )
            .raise_for_status()
            .json()
        )
        key = (
            client.post(
                "/api/auth/widget-keys", json={"bot_id": bot["id"], "allowed_origins": [ORIGIN]}, headers=headers
            )
            .raise_for_status()
            .json()
        )
    _teach(owner["workspace"]["id"], bot["id"])
    return {
        "owner_token": owner["access_token"],
        "workspace_id": owner["workspace"]["id"],
        "bot_id": bot["id"],
        "public_key": key["public_key"],
    }


async def _visitor_tokens(public_key: str, visitor_ids: list[str]) -> list[str]:
    """A token per visitor: the claims of one from VisitorService.visitor_token (the code behind POST
    /api/auth/visitor-token, which issues its own visitor id) with each visitor id, signed with the
    same key (the exchange itself costs ~1 ms of CPU each, which this bench does not measure)."""
    import jwt
    import redis.asyncio as aioredis

    from cortex.auth import signing_keys
    from cortex.auth.schemas import VisitorTokenIn
    from cortex.auth.service import VisitorService
    from cortex.db import create_pool
    from cortex.http.security import VISITOR_TOKEN_TYPE
    from cortex.settings import get_settings

    settings = get_settings()
    pool = await create_pool(settings.service_database_url("auth"), settings, schema="auth")
    redis = aioredis.Redis.from_url(settings.resolved_redis_url())
    try:
        visitors = VisitorService(db=pool, redis=redis, settings=settings)
        first = await visitors.visitor_token(
            VisitorTokenIn(public_key=public_key), origin=ORIGIN, member=None, ip="127.0.0.1"
        )
        claims = jwt.decode(first.visitor_token, options={"verify_signature": False})
        async with pool.acquire() as conn:
            signing_key = await signing_keys.current_key(conn, settings)
    finally:
        await redis.aclose()
        await pool.close()
    return [
        signing_key.sign({**claims, "sub": visitor_id, "jti": uuid.uuid4().hex}, token_type=VISITOR_TOKEN_TYPE)
        for visitor_id in visitor_ids
    ]


async def _conversations(workspace_id: str, bot_id: str, visitor_ids: list[str]) -> list[str]:
    """A visitor profile and an open conversation per visitor, as a first chat turn makes them
    (without the turn's messages and its `conversation.started` event)."""
    from cortex.core.service.conversations import start_conversation
    from cortex.db import create_pool
    from cortex.settings import get_settings

    settings = get_settings()
    pool = await create_pool(settings.service_database_url("core"), settings, schema="core")
    workspace, bot = uuid.UUID(workspace_id), uuid.UUID(bot_id)

    async def create(batch: list[str]) -> list[str]:
        created = []
        async with pool.acquire() as conn, conn.transaction():  # one commit (one WAL flush) per batch
            for visitor_id in batch:
                conversation_id = await start_conversation(
                    conn, workspace_id=workspace, bot_id=bot, visitor_id=visitor_id
                )
                created.append(str(conversation_id))
        return created

    batches = [visitor_ids[i : i + 250] for i in range(0, len(visitor_ids), 250)]
    try:
        return [c for batch in await asyncio.gather(*(create(b) for b in batches)) for c in batch]
    finally:
        await pool.close()


# -- measuring -------------------------------------------------------------------------------------


def _group(process: psutil.Process) -> str:
    name = process.name()
    command = " ".join(process.cmdline())
    if "ServeReplica:live:LiveAPI" in command:
        return "live_replica"
    if "haproxy" in name:
        return "haproxy"
    if "ProxyActor" in command:
        return "serve_proxy"
    if "valkey" in name or "redis" in name:
        return "redis"
    if name.startswith("postgres"):
        return "postgres"
    if "ServeReplica:" in command:
        return "other_replicas"
    if "chroma" in command:
        return "chroma"
    return "ray_and_rest"


def _processes(stack: Stack) -> list[tuple[str, psutil.Process]]:
    found = []
    for process in stack.supervisor.our_processes():
        with contextlib.suppress(psutil.Error):
            found.append((_group(process), process))
    # Valkey rewrites its environment for its process title, so the stack id is not found there.
    redis_pid = stack.redis.pid()
    if redis_pid and all(process.pid != redis_pid for _, process in found):
        found.append(("redis", psutil.Process(redis_pid)))
    return found


def _counts(processes: list[tuple[str, psutil.Process]]) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for group, _ in processes:
        counts[group] += 1
    return dict(counts)


def _rss_mb(processes: list[tuple[str, psutil.Process]]) -> dict[str, float]:
    totals: dict[str, float] = defaultdict(float)
    for group, process in processes:
        with contextlib.suppress(psutil.Error):
            totals[group] += process.memory_info().rss / 2**20
    return dict(totals)


def _cpu_s(processes: list[tuple[str, psutil.Process]]) -> dict[str, float]:
    totals: dict[str, float] = defaultdict(float)
    for group, process in processes:
        with contextlib.suppress(psutil.Error):
            times = process.cpu_times()
            totals[group] += times.user + times.system
    return dict(totals)


def _pct(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile, rounded to 0.1 (None without values)."""
    ordered = sorted(values)
    if not ordered:
        return None
    return round(ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))], 1)


async def _chat_phase(base: str, bot_id: str, tokens: list[str], seconds: float) -> dict[str, Any]:
    """Chatters in their own process (the stream client's event loop does not delay them)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.sessions",
        "--chatters",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await process.communicate(
        json.dumps({"base": base, "bot_id": bot_id, "tokens": tokens, "seconds": seconds}).encode()
    )
    result = json.loads(out)
    latencies = result["latencies_ms"]
    return {
        "turns": len(latencies),
        "turns_per_s": round(len(latencies) / seconds, 1),
        "p50_ms": _pct(latencies, 50),
        "p99_ms": _pct(latencies, 99),
        "max_ms": round(max(latencies), 1) if latencies else None,
        "errors": result["errors"],
        "client_cpu_s": result["cpu_s"],
        # Other work shares these 2 cores: the 1-minute load average as the phase ends.
        "load_avg_1m": round(os.getloadavg()[0], 1),
    }


async def _chatters(base: str, bot_id: str, tokens: list[str], seconds: float) -> dict[str, Any]:
    """Each visitor chats in one conversation for `seconds`, pausing THINK_S after each answer
    (the first message after a random part of a pause, so the visitors do not start in step)."""
    latencies: list[float] = []
    errors: dict[str, int] = defaultdict(int)
    deadline = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=len(tokens), max_keepalive_connections=len(tokens))
    async with httpx.AsyncClient(base_url=base, timeout=120, limits=limits) as client:

        async def visitor(token: str) -> None:
            headers = {"Authorization": f"Bearer {token}", "Origin": ORIGIN}
            conversation_id = None
            pause = random.Random(token)
            await asyncio.sleep(pause.uniform(0, THINK_S[1]))
            while time.monotonic() < deadline:
                body = {"bot_id": bot_id, "message": QUESTION, "stream": False}
                if conversation_id:
                    body["conversation_id"] = conversation_id
                started = time.perf_counter()
                try:
                    response = await client.post("/api/chat", json=body, headers=headers)
                except httpx.HTTPError as exc:
                    errors[type(exc).__name__] += 1
                    continue
                if response.status_code != 200:
                    errors[f"HTTP {response.status_code}"] += 1
                    continue
                latencies.append((time.perf_counter() - started) * 1000)
                conversation_id = response.json()["conversation_id"]
                await asyncio.sleep(min(pause.uniform(*THINK_S), max(0.0, deadline - time.monotonic())))

        await asyncio.gather(*(visitor(token) for token in tokens))
    cpu = psutil.Process().cpu_times()
    return {"latencies_ms": latencies, "errors": dict(errors), "cpu_s": round(cpu.user + cpu.system, 2)}


async def _agent_replies(base: str, owner_token: str, sessions: list[Session]) -> dict[str, Any]:
    """An agent takes a conversation over and replies; time until the reply is on the visitor's stream."""
    headers = {"Authorization": f"Bearer {owner_token}"}
    delays, posts, missing = [], [], 0
    async with httpx.AsyncClient(base_url=base, timeout=30, headers=headers) as client:
        for session in sessions:
            session.message_seen = asyncio.Event()
            path = f"/api/conversations/{session.conversation_id}"
            (await client.post(f"{path}/takeover")).raise_for_status()
            sent = time.perf_counter()
            response = (await client.post(f"{path}/messages", json={"content": "Hello, Anna here."})).raise_for_status()
            posts.append((time.perf_counter() - sent) * 1000)
            message_id = response.json()["id"]
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(10):
                    while message_id not in session.arrivals and not (session.ended or session.error):
                        await session.message_seen.wait()
                        session.message_seen.clear()
            if message_id in session.arrivals:
                delays.append((session.arrivals[message_id] - sent) * 1000)
            else:
                missing += 1
    return {
        "replies": len(sessions),
        "p50_ms": _pct(delays, 50),
        "p99_ms": _pct(delays, 99),
        "max_ms": round(max(delays), 1) if delays else None,
        "post_p50_ms": _pct(posts, 50),
        "not_arrived": missing,
        "measured": "POST /messages sent -> message event read on the visitor's stream (idle sessions open)",
    }


async def _measure(stack: Stack, setup: dict[str, str], sessions_wanted: int) -> dict[str, Any]:
    base = stack.http_url
    host, port = "127.0.0.1", stack.settings.http_port
    bot_id = setup["bot_id"]
    run_id = uuid.uuid4().hex[:6]
    idle_ids = [f"v_idle_{run_id}_{i:05d}" for i in range(sessions_wanted)]
    chatter_ids = [f"v_chat_{run_id}_{i:05d}" for i in range(CHATTERS)]
    started = time.perf_counter()
    tokens = await _visitor_tokens(setup["public_key"], idle_ids + chatter_ids)
    idle_tokens, chat_tokens = tokens[:sessions_wanted], tokens[sessions_wanted:]
    tokens_s = time.perf_counter() - started
    conversation_ids = await _conversations(setup["workspace_id"], bot_id, idle_ids)
    prepare_s = time.perf_counter() - started
    print(
        f"  {sessions_wanted} visitors: tokens in {tokens_s:.1f}s, conversations in {prepare_s - tokens_s:.1f}s",
        flush=True,
    )

    # A burst of streams opened and closed first: the live replica's database pool and HAProxy
    # reach their working size (in production streams come and go all the time), so the memory
    # before holds those fixed costs and the growth after is the open streams' own.
    warm = [Session(c, t) for c, t in zip(conversation_ids[:OPEN_CONCURRENCY], idle_tokens, strict=False)]
    warming = asyncio.Semaphore(OPEN_CONCURRENCY)
    warm_tasks = [asyncio.create_task(session.run(host, port, warming)) for session in warm]
    warm_deadline = time.perf_counter() + OPEN_TIMEOUT_S
    while time.perf_counter() < warm_deadline:
        await asyncio.sleep(0.1)
        if all(s.ready or s.error or s.ended for s in warm):
            break
    for task in warm_tasks:
        task.cancel()
    await asyncio.gather(*warm_tasks, return_exceptions=True)

    await _chat_phase(base, bot_id, chat_tokens, WARMUP_SECONDS)
    baseline = await _chat_phase(base, bot_id, chat_tokens, CHAT_SECONDS)
    print(f"  baseline: {baseline['turns']} turns, p99 {baseline['p99_ms']} ms", flush=True)

    processes = _processes(stack)
    rss_before = _rss_mb(processes)
    counts_before = _counts(processes)
    me = psutil.Process()
    client_rss_before = me.memory_info().rss / 2**20
    client_cpu_before = sum(me.cpu_times()[:2])

    sessions = [Session(c, t) for c, t in zip(conversation_ids, idle_tokens, strict=True)]
    opening = asyncio.Semaphore(OPEN_CONCURRENCY)
    cpu_at_start = _cpu_s(processes)
    open_started = time.perf_counter()
    tasks = [asyncio.create_task(session.run(host, port, opening)) for session in sessions]
    # The ramp, once a second: seconds, streams open, the stream path's RSS growth (MB) so far.
    ramp: list[tuple[float, int, float]] = []
    stream_rss_before = sum(rss_before.get(g, 0.0) for g in STREAM_PATH)
    while time.perf_counter() - open_started < OPEN_DEADLINE_S:  # every stream ready, or failed
        await asyncio.sleep(0.25)
        elapsed = time.perf_counter() - open_started
        if not ramp or elapsed - ramp[-1][0] >= 1.0:
            stream_rss = sum(_rss_mb(processes).get(g, 0.0) for g in STREAM_PATH)
            opened = sum(1 for s in sessions if s.ready and not s.ended)
            ramp.append((round(elapsed, 1), opened, round(stream_rss - stream_rss_before, 1)))
        if all(s.ready or s.error or s.ended for s in sessions):
            break
    late = [(s, t) for s, t in zip(sessions, tasks, strict=True) if not (s.ready or s.error or s.ended)]
    for session, task in late:  # nothing may still be opening while the rest is measured
        session.error = "not open by the deadline"
        task.cancel()
    await asyncio.gather(*(task for _, task in late), return_exceptions=True)
    open_s = time.perf_counter() - open_started
    ready = [s for s in sessions if s.ready and not s.ended]
    print(f"  {len(ready)}/{len(sessions)} streams ready in {open_s:.1f}s", flush=True)
    cpu_opened = _cpu_s(processes)
    client_cpu_open = sum(me.cpu_times()[:2]) - client_cpu_before
    heartbeats_at_ready = sum(s.heartbeats for s in ready)

    # One heartbeat interval (and two seconds) after the last opened: every stream has heartbeated.
    settle_s = HEARTBEAT_S + 2
    await asyncio.sleep(settle_s)
    cpu_settled = _cpu_s(processes)
    heartbeats_settling = sum(s.heartbeats for s in ready) - heartbeats_at_ready
    idle_cpu_pct = {g: round((cpu_settled[g] - cpu_opened.get(g, 0)) / settle_s * 100, 1) for g in cpu_settled}
    stream_cores = sum(cpu_settled.get(g, 0) - cpu_opened.get(g, 0) for g in STREAM_PATH) / settle_s
    live_idle_cpu_s = cpu_settled.get("live_replica", 0) - cpu_opened.get("live_replica", 0)
    live_open_cpu_s = cpu_opened.get("live_replica", 0) - cpu_at_start.get("live_replica", 0)
    processes = _processes(stack)  # any process started meanwhile counts too
    rss_after = _rss_mb(processes)
    client_rss_after = me.memory_info().rss / 2**20
    alive = [s for s in sessions if s.ready and not s.ended and not s.error]
    without_heartbeat = sum(1 for s in alive if s.heartbeats == 0)

    client_cpu_loaded = sum(me.cpu_times()[:2])
    loaded = await _chat_phase(base, bot_id, chat_tokens, CHAT_SECONDS)
    client_cpu_loaded = sum(me.cpu_times()[:2]) - client_cpu_loaded
    print(f"  with {len(alive)} sessions: {loaded['turns']} turns, p99 {loaded['p99_ms']} ms", flush=True)
    step = max(1, len(alive) // AGENT_REPLIES)
    agent = await _agent_replies(base, setup["owner_token"], alive[::step][:AGENT_REPLIES])

    still_open = [s for s in sessions if s.ready and not s.ended and not s.error]
    hold_s = time.perf_counter() - open_started
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    runs = [_run_summary(baseline, loaded, len(alive), stream_cores)]
    for number in range(2, RUNS + 1):
        await asyncio.sleep(CLOSE_SETTLE_S)  # the live replica lets go of the closed streams
        runs.append(await _ratio_run(stack, base, bot_id, conversation_ids, idle_tokens, chat_tokens))
        print(f"  run {number}: p99 ratio {runs[-1]['p99_ratio']} with {runs[-1]['sessions']} sessions", flush=True)

    count = len(alive)
    groups = sorted(set(rss_before) | set(rss_after))
    delta = {g: rss_after.get(g, 0.0) - rss_before.get(g, 0.0) for g in groups}
    stream_delta = sum(max(0.0, delta.get(g, 0.0)) for g in STREAM_PATH)
    per_1k = round(stream_delta / count * 1000, 1) if count else None
    per_1k_all = round(sum(delta.values()) / count * 1000, 1) if count else None
    failures: dict[str, int] = defaultdict(int)
    for s in sessions:
        if s.error or not s.ready:
            failures[s.error or ("ended before ready" if s.ended else "not ready")] += 1
    heartbeats = [s.heartbeats for s in still_open]
    ramp.append((round(settle_s + open_s, 1), count, round(stream_delta, 1)))
    return {
        "sessions": count,
        "sessions_requested": sessions_wanted,
        "rss_mb_per_1k": per_1k,
        "rss_mb_per_1k_all_processes": per_1k_all,
        # The stream path's CPU while the streams are held (heartbeats only), in cores per 1,000 streams.
        "cpu_cores_per_1k": statistics.median(run["cpu_cores_per_1k"] for run in runs),
        "stream_path": list(STREAM_PATH),
        "process_counts": {"before": counts_before, "after": _counts(processes)},
        "active_p99_ms": loaded["p99_ms"],
        "baseline_p99_ms": baseline["p99_ms"],
        # The median of RUNS runs (`runs`); the other chat figures are the first run's.
        "p99_ratio": statistics.median(run["p99_ratio"] for run in runs),
        "p50_ratio": statistics.median(run["p50_ratio"] for run in runs),
        "runs": runs,
        "spread": {
            key: {
                "median": statistics.median(run[key] for run in runs),
                "min": min(run[key] for run in runs),
                "max": max(run[key] for run in runs),
            }
            for key in ("p99_ratio", "p50_ratio", "cpu_cores_per_1k")
        },
        "turns_per_s_ratio": round(loaded["turns_per_s"] / baseline["turns_per_s"], 3),
        "active_p50_ms": loaded["p50_ms"],
        "baseline_p50_ms": baseline["p50_ms"],
        "active_sessions": CHATTERS,
        "chat": {"baseline": baseline, "with_sessions": loaded, "seconds_per_phase": CHAT_SECONDS},
        "agent_reply_to_stream_ms": agent,
        "open": {
            "seconds": round(open_s, 1),
            "per_s": round(len(ready) / open_s, 1),
            "p50_ms": _pct([s.open_ms for s in ready if s.open_ms], 50),
            "p99_ms": _pct([s.open_ms for s in ready if s.open_ms], 99),
            "concurrency": OPEN_CONCURRENCY,
            "ready": len(ready),
            "live_replica_cpu_ms_per_open": round(live_open_cpu_s / len(ready) * 1000, 2) if ready else None,
            "client_cpu_ms_per_open": round(client_cpu_open / len(ready) * 1000, 2) if ready else None,
            "retry_field_seen": sum(1 for s in ready if s.retry_seen),
            "failures": dict(failures),
            # Sampled each second while streams open (the last row: one heartbeat after all are).
            "ramp": {"columns": ["seconds", "streams_open", "stream_path_rss_growth_mb"], "rows": ramp},
        },
        "heartbeats": {
            "interval_s": HEARTBEAT_S,
            "received_total": sum(heartbeats),
            "per_session_min": min(heartbeats, default=0),
            "per_session_median": sorted(heartbeats)[len(heartbeats) // 2] if heartbeats else 0,
            "sessions_without_heartbeat_at_rss": without_heartbeat,
            "received_before_all_ready": heartbeats_at_ready,
            "received_in_idle_window": heartbeats_settling,
            "idle_window_s": settle_s,
            # The live replica's CPU in the idle window (nothing but heartbeats) per heartbeat sent.
            "live_replica_cpu_ms_per_heartbeat": (
                round(live_idle_cpu_s / heartbeats_settling * 1000, 3) if heartbeats_settling else None
            ),
        },
        "streams_open_at_end": len(still_open),
        "streams_ended_early": sum(1 for s in sessions if s.ended),
        "held_s": round(hold_s, 1),
        "rss_mb": {
            "before": {g: round(v, 1) for g, v in rss_before.items()},
            "after": {g: round(v, 1) for g, v in rss_after.items()},
            "delta": {g: round(v, 1) for g, v in delta.items()},
            "total_before": round(sum(rss_before.values()), 1),
            "total_after": round(sum(rss_after.values()), 1),
        },
        "rss_kb_per_session": {g: round(v * 1024 / count, 1) for g, v in delta.items()} if count else {},
        "idle_cpu_pct": idle_cpu_pct,
        "client": {
            "rss_mb_delta": round(client_rss_after - client_rss_before, 1),
            "cpu_s_opening": round(client_cpu_open, 2),
            "cpu_s_during_loaded_chat": round(client_cpu_loaded, 2),
            "chatters_cpu_s": {"baseline": baseline["client_cpu_s"], "with_sessions": loaded["client_cpu_s"]},
        },
        "prepare_s": round(prepare_s, 1),
        "production_estimate": _production_estimate(
            count, live_open_cpu_s / max(1, len(ready)), live_idle_cpu_s, heartbeats_settling
        ),
    }


def _run_summary(
    baseline: dict[str, Any], loaded: dict[str, Any], sessions: int, stream_cores: float
) -> dict[str, Any]:
    return {
        "sessions": sessions,
        "baseline_p50_ms": baseline["p50_ms"],
        "baseline_p99_ms": baseline["p99_ms"],
        "active_p50_ms": loaded["p50_ms"],
        "active_p99_ms": loaded["p99_ms"],
        "p99_ratio": round(loaded["p99_ms"] / baseline["p99_ms"], 3),
        "p50_ratio": round(loaded["p50_ms"] / baseline["p50_ms"], 3),
        "turns": {"baseline": baseline["turns"], "with_sessions": loaded["turns"]},
        "cpu_cores_per_1k": round(stream_cores / sessions * 1000, 4) if sessions else 0.0,
    }


async def _ratio_run(
    stack: Stack,
    base: str,
    bot_id: str,
    conversation_ids: list[str],
    idle_tokens: list[str],
    chat_tokens: list[str],
) -> dict[str, Any]:
    """One more run of the comparison: chat with no stream open, open every stream again, hold them
    one heartbeat (the stream path's CPU meanwhile), chat with them open, close them."""
    host, port = "127.0.0.1", stack.settings.http_port
    baseline = await _chat_phase(base, bot_id, chat_tokens, CHAT_SECONDS)
    processes = _processes(stack)
    sessions = [Session(c, t) for c, t in zip(conversation_ids, idle_tokens, strict=True)]
    opening = asyncio.Semaphore(OPEN_CONCURRENCY)
    tasks = [asyncio.create_task(session.run(host, port, opening)) for session in sessions]
    try:
        deadline = time.perf_counter() + OPEN_DEADLINE_S
        while time.perf_counter() < deadline:  # every stream ready, or failed (polled as in _measure)
            await asyncio.sleep(0.25)
            if all(s.ready or s.error or s.ended for s in sessions):
                break
        cpu_opened = _cpu_s(processes)
        settle_s = HEARTBEAT_S + 2
        await asyncio.sleep(settle_s)
        cpu_settled = _cpu_s(processes)
        stream_cores = sum(cpu_settled.get(g, 0) - cpu_opened.get(g, 0) for g in STREAM_PATH) / settle_s
        alive = [s for s in sessions if s.ready and not s.ended and not s.error]
        loaded = await _chat_phase(base, bot_id, chat_tokens, CHAT_SECONDS)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return _run_summary(baseline, loaded, len(alive), stream_cores)


def _production_estimate(sessions: int, open_cpu_s: float, idle_cpu_s: float, heartbeats: int) -> dict[str, Any]:
    """What this run leaves out, from its measured per-operation costs: in production a stream ends
    after live_stream_max_s (100 s, under Serve's 120 s request timeout) and the widget reconnects."""
    from cortex.settings import Settings

    stream_max_s = Settings.model_fields["live_stream_max_s"].default
    heartbeat_s = Settings.model_fields["live_heartbeat_s"].default
    reconnects_per_s = sessions / stream_max_s
    per_heartbeat_s = idle_cpu_s / heartbeats if heartbeats else 0.0
    return {
        "derived_not_measured": True,
        "stream_max_s": stream_max_s,
        "reconnects_per_s": round(reconnects_per_s, 1),
        "live_replica_cpu_pct_reconnects": round(reconnects_per_s * open_cpu_s * 100, 1),
        "live_replica_cpu_pct_heartbeats": round(sessions / heartbeat_s * per_heartbeat_s * 100, 1),
    }


def _print(fields: dict[str, Any]) -> None:
    opened, beats, rss = fields["open"], fields["heartbeats"], fields["rss_mb"]
    print(
        f"\nsessions open           {fields['sessions']} of {fields['sessions_requested']} "
        f"(in {opened['seconds']} s, {opened['per_s']}/s; failures {opened['failures']})"
    )
    print(
        f"heartbeats              min {beats['per_session_min']} / median {beats['per_session_median']} "
        f"per session, every {beats['interval_s']} s"
    )
    print(
        f"memory per 1k sessions  {fields['rss_mb_per_1k']} MB on the stream path (target <= 80), "
        f"{fields['rss_mb_per_1k_all_processes']} MB all processes"
    )
    print(f"  {'process':<16} {'before MB':>10} {'after MB':>10} {'KB/session':>11} {'idle CPU %':>11}")
    for group in sorted(rss["delta"], key=lambda g: -rss["delta"][g]):
        before, after = rss["before"].get(group, 0), rss["after"].get(group, 0)
        per_session, cpu = fields["rss_kb_per_session"].get(group, 0), fields["idle_cpu_pct"].get(group, 0)
        print(f"  {group:<16} {before:>10.1f} {after:>10.1f} {per_session:>11.1f} {cpu:>11.1f}")
    client_kb = fields["client"]["rss_mb_delta"] * 1024 / max(1, fields["sessions"])
    print(f"  {'(bench client)':<16} {'':>10} {'':>10} {client_kb:>11.1f}")
    print(
        f"chat turns, {fields['active_sessions']} visitors  "
        f"p50 {fields['baseline_p50_ms']} -> {fields['active_p50_ms']} ms, "
        f"p99 {fields['baseline_p99_ms']} -> {fields['active_p99_ms']} ms, ratio {fields['p99_ratio']} (target <= 1.5)"
        f"; turns/s {fields['chat']['baseline']['turns_per_s']} -> {fields['chat']['with_sessions']['turns_per_s']}"
    )
    print(
        f"live replica CPU        {opened['live_replica_cpu_ms_per_open']} ms per stream opened, "
        f"{beats['live_replica_cpu_ms_per_heartbeat']} ms per heartbeat"
    )
    estimate = fields["production_estimate"]
    print(
        f"  in production         {estimate['reconnects_per_s']} reconnects/s (streams end after "
        f"{estimate['stream_max_s']:.0f} s): {estimate['live_replica_cpu_pct_reconnects']}% of a core, "
        f"heartbeats {estimate['live_replica_cpu_pct_heartbeats']}% (derived, not in this run)"
    )
    spread = fields["spread"]
    print(
        f"runs                    p99 ratio {spread['p99_ratio']['median']} "
        f"({spread['p99_ratio']['min']}–{spread['p99_ratio']['max']}, {len(fields['runs'])} runs); "
        f"stream path CPU {fields['cpu_cores_per_1k']} cores per 1k streams"
    )
    agent = fields["agent_reply_to_stream_ms"]
    print(f"agent reply -> stream   p50 {agent['p50_ms']} ms, p99 {agent['p99_ms']} ms ({agent['not_arrived']} lost)")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=SESSIONS)
    parser.add_argument("--chatters", action="store_true", help=argparse.SUPPRESS)  # the chat subprocess
    args = parser.parse_args(argv)
    if args.chatters:
        job = json.loads(sys.stdin.read())
        print(json.dumps(asyncio.run(_chatters(job["base"], job["bot_id"], job["tokens"], job["seconds"]))))
        return

    # Every process below (Ray, its HAProxy and replicas) inherits this limit.
    nofile = raise_nofile()
    started = time.perf_counter()
    with stand_in_llm() as llm_url, serve_config_for_sessions(), bench_stack(stack_env(llm_url), prefix="cxs") as stack:
        setup = _setup(stack.http_url, stack.home)
        fields = asyncio.run(_measure(stack, setup, args.sessions))
    fields["wall_s"] = round(time.perf_counter() - started, 1)
    fields["limits"] = {
        "haproxy_maxconn": haproxy_maxconn(nofile),
        "nofile_hard": nofile,
        "serve_request_timeout_s": REQUEST_TIMEOUT_S,
        "stream_max_s": STREAM_MAX_S,
    }
    fields["note"] = (
        "Idle sessions: each its own visitor, token and open conversation; rows written with core's store "
        "functions (no first chat turn: no messages, no conversation.started event); the first token from "
        "VisitorService.visitor_token, the rest its claims re-signed with the same key per visitor. Streams opened "
        "through HAProxy with a raw asyncio HTTP/1.1 client in the bench process; the 50 chatters in a separate "
        f"process (httpx), each in its own conversation, pausing {THINK_S[0]:g}-{THINK_S[1]:g} s after each answer "
        "(below saturation: the p99 is the streams' interference, not a full queue's tail). Streams go to the "
        "`live` application (its own replicas, thousands of request slots each), with HAProxy's maxconn from the "
        "descriptor limit as `make run` sets it. "
        f"Bench overrides, so streams outlive the run: Serve request_timeout_s {REQUEST_TIMEOUT_S} (120 ends every "
        f"stream older than that) and live stream max {STREAM_MAX_S} s (100). Heartbeat as in production "
        f"({HEARTBEAT_S} s). rss_mb_per_1k: growth of the "
        "summed RSS of the stream path (stream_path: the live replicas, HAProxy, the Serve proxy, Redis; a process "
        "of it that shrank counts 0) "
        "from before the streams open (after a burst of 200 opened and closed, so pools are at working size) to "
        "one heartbeat after all are open, per 1,000 open streams; rss_mb_per_1k_all_processes counts every stack "
        "process, other replicas included (process_counts shows replicas the autoscaler added meanwhile); the "
        "bench client's own growth is in neither. Not in the measured p99: the "
        "reconnect of every stream after 100 s that production has (production_estimate, derived from the "
        "measured CPU per open). Other work shares the 2 cores: see each chat phase's load_avg_1m. "
        f"p99_ratio and p50_ratio: the median of {RUNS} runs (`runs`: chat with no stream open, then with all open; "
        "streams closed and reopened between runs); memory is the first run's; cpu_cores_per_1k: the stream "
        "path's CPU while the streams are held (heartbeats only), per 1,000 streams, median of the runs."
    )
    written = write_result("sessions", fields, "make bench-sessions")
    _print(fields)
    print(f"  plot: {plots.sessions(json.loads(written.read_text()))}")


if __name__ == "__main__":
    main()
