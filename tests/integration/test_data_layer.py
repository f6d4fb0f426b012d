"""Postgres data layer: one role per service, granted only its schema; migrations under a lock."""

from __future__ import annotations

import asyncio
import shutil
import uuid
from pathlib import Path

import asyncpg
import pytest

from cortex.db.migrate import MIGRATIONS_DIR, MigrationError, migrate
from cortex.settings import SCHEMAS, Settings


async def test_every_schema_has_its_migrations_recorded(settings: Settings) -> None:
    conn = await asyncpg.connect(settings.resolved_database_url())
    try:
        rows = await conn.fetch("SELECT schema_name, version FROM cortex_meta.migrations")
    finally:
        await conn.close()
    assert set(SCHEMAS) <= {row["schema_name"] for row in rows}
    assert await migrate(settings) == [], "a second run applies nothing"


@pytest.mark.parametrize("schema", SCHEMAS)
async def test_a_service_role_reads_its_own_schema_and_no_other(settings: Settings, schema: str) -> None:
    conn = await asyncpg.connect(settings.service_database_url(schema))
    try:
        assert await conn.fetchval(f"SELECT count(*) FROM {schema}.outbox") >= 0
        other = next(s for s in SCHEMAS if s != schema)
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.fetchval(f"SELECT count(*) FROM {other}.outbox")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("CREATE TABLE public.sneaky (id int)")
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.fetch("SELECT * FROM cortex_meta.migrations")
    finally:
        await conn.close()


async def test_the_langgraph_checkpoint_tables_are_the_workflows_roles(settings: Settings) -> None:
    """`cortex migrate` ran the checkpointer's setup as the workflows role, in its schema, and
    recorded the setup's versions: a replica never needs DDL rights at runtime."""
    from cortex.workflows.checkpoints import TABLES

    conn = await asyncpg.connect(settings.resolved_database_url())
    try:
        rows = await conn.fetch(
            "SELECT tablename, tableowner FROM pg_tables WHERE schemaname = 'workflows' AND tablename = ANY($1)",
            list(TABLES),
        )
        versions = await conn.fetchval("SELECT count(*) FROM workflows.checkpoint_migrations")
        elsewhere = await conn.fetchval(
            "SELECT count(*) FROM pg_tables WHERE tablename = 'checkpoints' AND schemaname <> 'workflows'"
        )
    finally:
        await conn.close()
    assert {row["tablename"]: row["tableowner"] for row in rows} == dict.fromkeys(
        TABLES, settings.service_role("workflows")
    )
    assert versions > 0 and elsewhere == 0


async def test_a_wrong_password_cannot_log_in_as_a_service(settings: Settings) -> None:
    url = settings.service_database_url("auth").replace(settings.service_role_password("auth"), "guess")
    with pytest.raises(asyncpg.InvalidPasswordError):
        await asyncpg.connect(url)


def _migration_dir(tmp_path: Path, schema: str, files: dict[str, str]) -> Path:
    folder = tmp_path / schema
    folder.mkdir(parents=True)
    for name, sql in files.items():
        (folder / name).write_text(sql)
    return tmp_path


async def test_concurrent_migrators_apply_each_file_exactly_once(settings: Settings, tmp_path: Path) -> None:
    schema = f"mig_{uuid.uuid4().hex[:8]}"
    directory = _migration_dir(
        tmp_path,
        schema,
        {
            "001_things.sql": "CREATE TABLE things (id int PRIMARY KEY);",
            "002_more.sql": "ALTER TABLE things ADD COLUMN name text; INSERT INTO things VALUES (1, 'one');",
        },
    )
    results = await asyncio.gather(*(migrate(settings, (schema,), directory=directory) for _ in range(3)))
    assert sorted(len(applied) for applied in results) == [0, 0, 2]
    conn = await asyncpg.connect(settings.service_database_url(schema))
    try:
        assert await conn.fetchval(f"SELECT count(*) FROM {schema}.things") == 1
        owner = await conn.fetchval("SELECT tableowner FROM pg_tables WHERE tablename = 'things'")
        assert owner == settings.service_role(schema)
    finally:
        await conn.close()


async def test_an_edited_applied_migration_is_refused(settings: Settings, tmp_path: Path) -> None:
    schema = f"mig_{uuid.uuid4().hex[:8]}"
    directory = _migration_dir(tmp_path, schema, {"001_a.sql": "CREATE TABLE a (id int);"})
    await migrate(settings, (schema,), directory=directory)
    (directory / schema / "001_a.sql").write_text("CREATE TABLE a (id bigint);")
    with pytest.raises(MigrationError, match="edited after it was applied"):
        await migrate(settings, (schema,), directory=directory)


async def test_a_failing_migration_applies_nothing_of_itself(settings: Settings, tmp_path: Path) -> None:
    schema = f"mig_{uuid.uuid4().hex[:8]}"
    directory = _migration_dir(
        tmp_path,
        schema,
        {
            "001_ok.sql": "CREATE TABLE ok (id int);",
            "002_bad.sql": "CREATE TABLE half (id int); SELECT no_such_function();",
        },
    )
    with pytest.raises(MigrationError, match="002_bad failed"):
        await migrate(settings, (schema,), directory=directory)
    conn = await asyncpg.connect(settings.resolved_database_url())
    try:
        versions = await conn.fetch("SELECT version FROM cortex_meta.migrations WHERE schema_name = $1", schema)
        assert [row["version"] for row in versions] == [1]
        assert await conn.fetchval("SELECT to_regclass($1)", f"{schema}.half") is None
    finally:
        await conn.close()


def copy_bus_migration(tmp_path: Path, schema: str, extra_sql: str = "") -> Path:
    """A throwaway schema with the real event-bus migration (and optional extra tables)."""
    folder = tmp_path / schema
    folder.mkdir(parents=True)
    shutil.copy(MIGRATIONS_DIR / "_all" / "001_event_bus.sql", folder / "001_event_bus.sql")
    if extra_sql:
        (folder / "002_extra.sql").write_text(extra_sql)
    return tmp_path
