"""Plain-SQL migrations per schema, applied in order under an advisory lock.

Layout: ``cortex/db/migrations/<schema>/NNN_name.sql``, plus ``_all/NNN_name.sql`` applied to
every schema (the event-bus tables), numbered apart from the schemas' own. For each service
schema the runner
creates the service's login role (granted only its own schema), and any role with fewer rights
that works in it (`JOB_ROLES`: the Ray ingestion jobs'), then applies the pending files as the
service's role, so every table is owned by the service that uses it and the files grant the
lesser roles what they may touch. ``cortex_meta.migrations``
records what ran with a checksum; editing an applied file is refused.

Two steps are not plain SQL files. Extensions a schema needs (`EXTENSIONS`: workflows' exclusion
constraint needs btree_gist) are created by the admin before the schema's files run, since a
service role may not create them. LangGraph's Postgres checkpointer keeps its own versioned
tables (`CHECKPOINTS`): its `setup()` runs after the schema's files, connected as the service's
role with the schema as its search path, so those tables are the service's like every other.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from cortex.settings import JOB_ROLES, SCHEMAS, Settings

log = logging.getLogger("cortex.db.migrate")

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_FILE_NAME = re.compile(r"^(\d{3})_([a-z0-9_]+)\.sql$")
# Any constant shared by every migrator; pg_advisory_lock serialises concurrent `cortex migrate`s.
_LOCK_KEY = 0x636F7274  # "cort"
# Extensions created by the admin (in `public`, usable by every role) before a schema's files run.
EXTENSIONS: dict[str, tuple[str, ...]] = {"workflows": ("btree_gist",)}
# Schemas that keep LangGraph checkpoints: the checkpointer's tables are set up in them.
CHECKPOINTS: tuple[str, ...] = ("workflows",)


@dataclass(frozen=True)
class Migration:
    schema: str
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


class MigrationError(RuntimeError):
    """A migration could not be applied, or an applied one was edited."""


SHARED = "_all"


def discover(schema: str, directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """The schema's migration files (shared ones included), in version order."""
    folder = directory / schema
    paths = [p for shared in [directory / SHARED] if shared.is_dir() for p in shared.iterdir()]
    if folder.is_dir():
        paths += list(folder.iterdir())
    found: list[Migration] = []
    for path in sorted(paths, key=lambda p: p.name):
        match = _FILE_NAME.match(path.name)
        if not match:
            if path.suffix == ".sql":
                raise MigrationError(f"badly named migration {path} (want NNN_name.sql)")
            continue
        found.append(Migration(schema, int(match.group(1)), match.group(2), path.read_text()))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(versions) != len(set(versions)):
        raise MigrationError(f"duplicate migration versions for {schema} (in {folder} or {SHARED}/)")
    return found


async def migrate(
    settings: Settings, schemas: tuple[str, ...] = SCHEMAS, *, directory: Path = MIGRATIONS_DIR
) -> list[str]:
    """Apply every pending migration; returns the names applied (idempotent)."""
    conn = await asyncpg.connect(settings.resolved_database_url())
    applied_now: list[str] = []
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
        try:
            await conn.execute(
                """
                CREATE SCHEMA IF NOT EXISTS cortex_meta;
                CREATE TABLE IF NOT EXISTS cortex_meta.migrations (
                    schema_name text NOT NULL,
                    version     int  NOT NULL,
                    name        text NOT NULL,
                    checksum    text NOT NULL,
                    applied_at  timestamptz NOT NULL DEFAULT now(),
                    PRIMARY KEY (schema_name, version)
                );
                REVOKE ALL ON SCHEMA cortex_meta FROM PUBLIC;
                REVOKE CREATE ON SCHEMA public FROM PUBLIC;
                """
            )
            for schema in schemas:
                await _ensure_role_and_schema(conn, settings, schema)
                for extension in EXTENSIONS.get(schema, ()):
                    await conn.execute(f"CREATE EXTENSION IF NOT EXISTS {_ident(extension)} SCHEMA public")
                applied_now += await _apply_schema(conn, settings, schema, directory)
                if schema in CHECKPOINTS:
                    await _setup_checkpointer(settings, schema)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)
    finally:
        await conn.close()
    return applied_now


async def _ensure_role_and_schema(conn: asyncpg.Connection, settings: Settings, schema: str) -> None:
    role = await _ensure_login_role(conn, settings, schema)
    quoted_role = _ident(role)
    # The admin must be a member to create the schema on the role's behalf and SET ROLE to it.
    admin = await conn.fetchval("SELECT current_user")
    is_member = await conn.fetchval("SELECT pg_has_role($1, $2, 'MEMBER')", admin, role)
    if not is_member:
        await conn.execute(f"GRANT {quoted_role} TO {_ident(admin)}")
    await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {_ident(schema)} AUTHORIZATION {quoted_role}")
    # A role with fewer rights in this schema (the jobs'): it may log in; the schema's own
    # migrations grant it the tables it may touch, as their owner.
    if schema in JOB_ROLES:
        await _ensure_login_role(conn, settings, JOB_ROLES[schema])


async def _ensure_login_role(conn: asyncpg.Connection, settings: Settings, name: str) -> str:
    """Create (or re-password) the login role `cortex_<name>`, allowed to connect to this database."""
    role = settings.service_role(name)
    password = settings.service_role_password(name)
    exists = await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", role)
    # Role names and passwords are ours (derived, hex), but quote them anyway.
    quoted_role = _ident(role)
    quoted_password = "'" + password.replace("'", "''") + "'"
    if exists:
        await conn.execute(f"ALTER ROLE {quoted_role} WITH LOGIN PASSWORD {quoted_password}")
    else:
        await conn.execute(
            f"CREATE ROLE {quoted_role} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD {quoted_password}"
        )
    database = await conn.fetchval("SELECT current_database()")
    await conn.execute(f"GRANT CONNECT ON DATABASE {_ident(database)} TO {quoted_role}")
    return role


async def _apply_schema(conn: asyncpg.Connection, settings: Settings, schema: str, directory: Path) -> list[str]:
    rows = await conn.fetch("SELECT version, checksum FROM cortex_meta.migrations WHERE schema_name = $1", schema)
    applied = {row["version"]: row["checksum"] for row in rows}
    done: list[str] = []
    for migration in discover(schema, directory):
        label = f"{schema}/{migration.version:03d}_{migration.name}"
        if migration.version in applied:
            if applied[migration.version] != migration.checksum:
                raise MigrationError(f"{label} was edited after it was applied; add a new migration")
            continue
        async with conn.transaction():
            await conn.execute(f"SET LOCAL ROLE {_ident(settings.service_role(schema))}")
            await conn.execute(f"SET LOCAL search_path TO {_ident(schema)}")
            try:
                await conn.execute(migration.sql)
            except asyncpg.PostgresError as exc:
                raise MigrationError(f"{label} failed: {exc}") from exc
            await conn.execute("RESET ROLE")
            await conn.execute(
                "INSERT INTO cortex_meta.migrations (schema_name, version, name, checksum) VALUES ($1, $2, $3, $4)",
                schema,
                migration.version,
                migration.name,
                migration.checksum,
            )
        log.info("applied migration %s", label)
        done.append(label)
    return done


async def _setup_checkpointer(settings: Settings, schema: str) -> None:
    """LangGraph's checkpoint tables in `schema`, created (or upgraded) by its own versioned setup,
    as the schema's role. Idempotent: the checkpointer records its versions in the schema."""
    import psycopg
    from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver

    async with await psycopg.AsyncConnection.connect(
        settings.service_database_url(schema), autocommit=True, options=f"-c search_path={schema}"
    ) as conn:
        await AsyncPostgresSaver(conn).setup()  # type: ignore[arg-type]


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
