"""The local Ray head node (``ray start --head``) with its dashboard, which Serve runs on."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from cortex.stack.files import generated_secret
from cortex.stack.parts import Part
from cortex.stack.ports import free_ports
from cortex.stack.processes import Supervisor

# Generous for 2 busy cores: a `ray start` not done by then is stuck.
START_TIMEOUT_S = 180


class Ray:
    name = "ray"

    def __init__(self, supervisor: Supervisor, echo: Callable[[str], None]) -> None:
        self.supervisor = supervisor
        self.settings = supervisor.settings
        self.echo = echo

    @property
    def external(self) -> bool:
        return bool(self.settings.ray_address)

    @property
    def dashboard_url(self) -> str:
        return self.settings.resolved_ray_dashboard_url()

    @property
    def temp_dir(self) -> Path:
        """Ray's session folder. Its unix sockets live below it and a socket path may not exceed 107
        bytes; Ray appends ~70, so a long home gets a short stand-in under /tmp."""
        candidate = self.supervisor.home / "ray"
        if len(str(candidate)) <= 36:
            return candidate
        return Path("/tmp") / f"cortex-ray-{self.supervisor.stack_id}"

    def ports(self) -> list[tuple[str, int, str]]:
        """The ports the head takes (Serve's HTTP gateway included): part, port, setting."""
        return [
            ("ray", self.settings.ray_port, "CORTEX_RAY_PORT"),
            ("ray dashboard", self.settings.ray_dashboard_port, "CORTEX_RAY_DASHBOARD_PORT"),
            ("http", self.settings.http_port, "CORTEX_HTTP_PORT"),
        ]

    def gcs_pid(self) -> int | None:
        gcs = next(iter(self.supervisor.our_processes(name_contains="gcs_server")), None)
        return gcs.pid if gcs else None

    def running(self) -> bool:
        return self.gcs_pid() is not None

    def start(self) -> subprocess.Popen[bytes] | None:
        """Launch `ray start` and return it still running (`finish_start` waits), or None when
        there is nothing to start."""
        if self.external:
            self.echo(f"  ray        external {self.settings.ray_address}")
            return None
        # Before anything talks to the head: Ray's clients abort when RAY_AUTH_TOKEN_PATH names no file.
        generated_secret(self.supervisor.ray_token_file, nbytes=32)
        if self.running():
            self.echo(f"  ray        already running {self.dashboard_url} (dashboard)")
            return None
        for part, port, setting in self.ports():
            self.supervisor.require_port_free(part, port, setting)
        self.temp_dir.mkdir(parents=True, exist_ok=True)
        self.supervisor.haproxy_dir.mkdir(parents=True, exist_ok=True)
        ray = Path(sys.executable).parent / "ray"
        client_port, agent_port, metrics_port = free_ports(3)
        return self.supervisor.spawn(
            self.name,
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
                f"--temp-dir={self.temp_dir}",
                "--disable-usage-stats",
            ],
        )

    def let_finish(self, process: subprocess.Popen[bytes]) -> None:
        """Wait out an abandoned start, so that `down` sees every process it spawned."""
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=START_TIMEOUT_S)

    def finish_start(self, process: subprocess.Popen[bytes]) -> None:
        code = process.wait(timeout=START_TIMEOUT_S)
        if code != 0:
            raise self.supervisor.fail(self.name, f"`ray start` exited with code {code}")
        self.echo(
            f"  ray        started  {self.dashboard_url} (dashboard; its token: {self.supervisor.ray_token_file})"
        )

    def status(self) -> Part:
        part = Part(self.name, self.external, url=self.dashboard_url)
        if not self.external:
            part.pid = self.gcs_pid()
            part.running = part.pid is not None
        return part
