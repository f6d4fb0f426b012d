"""The `Stack`: starts its parts in order, reports each, and stops exactly what it started."""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from cortex.db.migrate import migrate
from cortex.settings import APPLICATIONS, Settings
from cortex.stack import haproxy
from cortex.stack.chroma import Chroma
from cortex.stack.parts import EmbeddedServer, Part
from cortex.stack.postgres import Postgres, is_postgres
from cortex.stack.processes import StackError, Supervisor, terminate
from cortex.stack.ray import Ray
from cortex.stack.serve import Serve
from cortex.stack.smtp import SmtpSink
from cortex.stack.valkey import Valkey

# Less free disk than this and Postgres or Valkey would fail later in an obscure way.
MIN_FREE_DISK_BYTES = 512 * 1024 * 1024


class Stack:
    """The embedded stack rooted at ``settings.home``."""

    def __init__(self, settings: Settings, *, echo: Callable[[str], None] = print) -> None:
        self.settings = settings
        self.echo = echo
        self.supervisor = Supervisor(settings)
        self.home = self.supervisor.home
        self.postgres = Postgres(self.supervisor, echo)
        self.redis = Valkey(self.supervisor, echo)
        self.chroma = Chroma(self.supervisor, echo)
        self.smtp = SmtpSink(self.supervisor, echo)
        self.servers: tuple[EmbeddedServer, ...] = (self.postgres, self.redis, self.chroma, self.smtp)
        self.ray = Ray(self.supervisor, echo)
        self.serve = Serve(self.supervisor, self.ray.dashboard_url, echo)

    @property
    def http_url(self) -> str:
        return self.serve.http_url

    @property
    def dashboard_url(self) -> str:
        return self.ray.dashboard_url

    @property
    def ray_temp_dir(self) -> Path:
        return self.ray.temp_dir

    @property
    def haproxy_dir(self) -> Path:
        return self.supervisor.haproxy_dir

    # -- up ----------------------------------------------------------------------------------
    def up(self) -> dict[str, Part]:
        """Start every embedded part that is not running yet, migrate, deploy Serve. Idempotent."""
        self._prepare_home()
        self._preflight()
        ports = haproxy.allocate_ports(self.supervisor.state())
        if ports:
            self.supervisor.write_state(**ports)

        started = time.monotonic()
        ray_start = self.ray.start()  # the slowest part starts first; the others start meanwhile
        try:
            for server in self.servers:
                server.start()
        except BaseException:
            if ray_start is not None:
                self.ray.let_finish(ray_start)
            raise
        if ray_start is not None:
            self.ray.finish_start(ray_start)
        self._migrate()
        self.serve.deploy()
        self.echo(f"stack up in {time.monotonic() - started:.1f}s")
        return self.status()

    def _prepare_home(self) -> None:
        for directory in (self.home, self.supervisor.run_dir, self.supervisor.log_dir):
            directory.mkdir(parents=True, exist_ok=True)
        free = shutil.disk_usage(self.home).free
        if free < MIN_FREE_DISK_BYTES:
            raise StackError(f"disk: only {free // 2**20} MiB free under {self.home}; need 512 MiB")
        self.settings.resolved_secret_key()

    def _preflight(self) -> None:
        """Refuse to start anything when a port an embedded part needs is taken by another process."""
        for server in self.servers:
            if not server.external and not server.running():
                self.supervisor.require_port_free(server.name, server.port, server.port_env)
        if not self.ray.external and not self.ray.running():
            for part, port, setting in self.ray.ports():
                self.supervisor.require_port_free(part, port, setting)

    def _migrate(self) -> None:
        applied = asyncio.run(migrate(self.settings.model_copy(update={"home": self.home})))
        self.echo(f"  migrations {len(applied)} applied" if applied else "  migrations up to date")

    # -- status ------------------------------------------------------------------------------
    def status(self) -> dict[str, Part]:
        """Every part's state: the data stores, Ray, then each Serve application."""
        state = self.supervisor.state()
        parts = {server.name: server.status(state) for server in self.servers}
        ray = parts[self.ray.name] = self.ray.status()
        statuses = self.serve.statuses() if (ray.running or ray.external) else {}
        for app, prefix in APPLICATIONS.items():
            status = statuses.get(app, "NOT_DEPLOYED" if statuses or ray.running else "STOPPED")
            parts[f"serve:{app}"] = Part(
                f"serve:{app}", ray.external, url=f"{self.http_url}{prefix}", running=status == "RUNNING", detail=status
            )
        return parts

    # -- down --------------------------------------------------------------------------------
    def down(self) -> list[str]:
        """Stop every part this stack started (data stays). Returns what was stopped."""
        stopped: list[str] = []
        # Ray first (Serve replicas, HAProxy, workers), so nothing is using the data stores.
        server_pids = {server.pid() for server in self.servers}
        ray = [p for p in self.supervisor.our_processes() if p.pid not in server_pids and not is_postgres(p)]
        if ray:
            stopped.append(f"ray and its children ({len(ray)} processes)")
        terminate(ray)
        for server in reversed(self.servers):
            if server.stop():
                stopped.append(server.name)
        # A straggler still carrying our stack id (an agent Ray spawned while stopping) goes too.
        for _ in range(3):
            leftovers = list(self.supervisor.our_processes())
            if not leftovers:
                break
            terminate(leftovers)
        self.supervisor.forget(self.ray.name)
        haproxy.remove_files(self.haproxy_dir)
        return stopped
