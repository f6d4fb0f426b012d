"""Starting, finding and stopping one stack's processes, and the files it keeps under its home.

Every process a stack starts carries ``CORTEX_STACK_ID`` in its environment, so `down` stops
exactly that stack's processes (Ray's children, such as Serve's HAProxy, included) and never
another stack's.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil

from cortex.secret_settings import is_secret_setting
from cortex.serve_tuning import raise_nofile, serve_tuning
from cortex.settings import Settings
from cortex.stack import haproxy
from cortex.stack.files import write_private
from cortex.stack.ports import port_open, port_owner

# The checkout Serve's processes import cortex/, deployments/ and graphs/ from.
PROJECT_ROOT = Path(__file__).resolve().parents[2]
# How often a starting part is asked whether it is ready.
POLL_S = 0.1


class StackError(RuntimeError):
    """A part failed to start; the message is one line naming the part and why."""


class Supervisor:
    """One stack's processes and the files it keeps under its home: pid files in run/, logs in
    logs/, the addresses of its parts in stack.json."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.home = settings.home_dir
        self.run_dir = self.home / "run"
        self.log_dir = self.home / "logs"
        self.stack_id = hashlib.sha256(str(self.home).encode()).hexdigest()[:16]
        self.haproxy_dir = haproxy.socket_dir(self.stack_id)

    @property
    def ray_token_file(self) -> Path:
        """The embedded Ray cluster's authentication token (mode 0600): every request to its dashboard
        (job submission, `serve deploy`, status) and every connection to its GCS must carry it."""
        return self.home / "ray_auth_token"

    def pid_file(self, part: str) -> Path:
        return self.run_dir / f"{part}.pid"

    def log_file(self, part: str) -> Path:
        return self.log_dir / f"{part}.log"

    # -- stack.json --------------------------------------------------------------------------
    def state(self) -> dict[str, str]:
        return self.settings.stack_state()

    def write_state(self, **values: str) -> None:
        state = self.state()
        state.update(values)
        # It holds the embedded servers' passwords (in their URLs): 0600 from its creation.
        write_private(self.home / "stack.json", json.dumps(state, indent=2))

    # -- processes ---------------------------------------------------------------------------
    def env(self) -> dict[str, str]:
        """Environment of every process we start: ours to find again, and Serve's HAProxy set-up.

        Without the secret settings: Ray's processes (and so Serve's replicas and the jobs, which
        inherit them) read those from the stack's private settings file, written at each `up`, so a
        value changed since Ray started is never shadowed by the old one.
        """
        env = {key: value for key, value in os.environ.items() if not self._secret_variable(key)}
        env.update(
            {
                "CORTEX_STACK_ID": self.stack_id,
                "CORTEX_HOME": str(self.home),
                "HF_HUB_OFFLINE": "1",
                "TRANSFORMERS_OFFLINE": "1",
                **serve_tuning(raise_nofile(), str(Path(sys.executable).parent / "cortex-haproxy")),
                **haproxy.environment(self.haproxy_dir, self.state()),
                "RAY_USAGE_STATS_ENABLED": "0",
                # Serve's proxy is uvicorn, which by default replaces the client's address with
                # X-Forwarded-For when the peer is 127.0.0.1 (HAProxy), taking the first hop it does
                # not trust. Behind a load balancer that is the balancer's address, the same for every
                # caller. `client_ip` alone reads the header, with `trusted_proxy_count`.
                "FORWARDED_ALLOW_IPS": "",
                "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")])),
            }
        )
        if not self.settings.ray_address:
            # Token authentication: anyone reaching the dashboard could otherwise submit a job, that
            # is run code as Cortex. Ray's clients started from here (`ray start`, `serve deploy`,
            # the replicas' job submitter) read the token from the file; an external cluster keeps
            # the operator's RAY_AUTH_* variables.
            env.update({"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(self.ray_token_file)})
            env.pop("RAY_AUTH_TOKEN", None)
        return env

    @staticmethod
    def _secret_variable(name: str) -> bool:
        return name.startswith("CORTEX_") and is_secret_setting(name)

    def ray_auth_headers(self) -> dict[str, str]:
        """The header the embedded Ray dashboard asks for ({} for an external cluster or before `up`)."""
        if self.settings.ray_address or not self.ray_token_file.exists():
            return {}
        return {"Authorization": f"Bearer {self.ray_token_file.read_text().strip()}"}

    def spawn(self, part: str, argv: list[str]) -> subprocess.Popen[bytes]:
        """Start `argv` in the background, logging to logs/<part>.log, its pid in run/<part>.pid."""
        log = self.log_file(part).open("ab")
        process = subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=self.env(),
            start_new_session=True,  # survives `cortex up` returning; not killed by its Ctrl-C
        )
        self.pid_file(part).write_text(str(process.pid))
        return process

    def alive_pid(self, part: str) -> int | None:
        """The pid in run/<part>.pid when that process still runs."""
        path = self.pid_file(part)
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

    def forget(self, part: str) -> None:
        self.pid_file(part).unlink(missing_ok=True)

    def our_processes(self, name_contains: str | None = None) -> Iterator[psutil.Process]:
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

    # -- starting ----------------------------------------------------------------------------
    def require_port_free(self, part: str, port: int, setting: str) -> None:
        if port_open("127.0.0.1", port):
            owner = port_owner(port)
            raise StackError(
                f"{part}: port {port} is already taken{f' by {owner}' if owner else ''}; "
                f"stop it or set {setting} to a free port"
            )

    def wait(
        self, part: str, ready: Callable[[], bool], process: subprocess.Popen[Any] | None, timeout_s: float
    ) -> None:
        """Return once `ready()`; raise naming the part when its process exits or time runs out."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if ready():
                return
            if process is not None and process.poll() is not None:
                raise self.fail(part, f"exited with code {process.returncode} while starting")
            time.sleep(POLL_S)
        raise self.fail(part, f"not ready after {timeout_s:.0f}s")

    def fail(self, part: str, why: str) -> StackError:
        """The one-line error for `part`, with the last lines of its log."""
        tail = self._log_tail(part)
        hint = f" — last log lines: {tail}" if tail else ""
        return StackError(f"{part}: {why} (log: {self.log_file(part)}){hint}")

    def _log_tail(self, part: str, lines: int = 3) -> str:
        path = self.log_file(part)
        if not path.exists():
            return ""
        tail = [line.strip() for line in path.read_text(errors="replace").splitlines() if line.strip()]
        return " | ".join(tail[-lines:])


def terminate(processes: list[psutil.Process], timeout_s: float = 10) -> None:
    """SIGTERM, then SIGKILL whatever still runs after `timeout_s`."""
    for process in processes:
        with contextlib.suppress(psutil.Error):
            process.send_signal(signal.SIGTERM)
    _, alive = psutil.wait_procs(processes, timeout=timeout_s)
    for process in alive:
        with contextlib.suppress(psutil.Error):
            process.kill()
    psutil.wait_procs(alive, timeout=5)
