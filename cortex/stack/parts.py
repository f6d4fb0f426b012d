"""What every data-store part of the stack shares: start unless running or external, stop, report."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import psutil

from cortex.stack.ports import port_open
from cortex.stack.processes import Supervisor, terminate


@dataclass
class Part:
    """One part's line in `cortex status`."""

    name: str
    external: bool
    url: str | None = None
    pid: int | None = None
    running: bool = False
    detail: str = ""

    def as_dict(self) -> dict[str, Any]:
        status = "external" if self.external else ("running" if self.running else "stopped")
        return {"status": status, "url": self.url, "pid": self.pid, "detail": self.detail}


class EmbeddedServer:
    """A server the stack runs from a pip package, unless its URL setting names an external one."""

    name: ClassVar[str]  # its pid and log files, and its line in `status`
    url_setting: ClassVar[str]  # the Settings field (and stack.json key) of its URL
    port_setting: ClassVar[str]  # the Settings field of its port

    def __init__(self, supervisor: Supervisor, echo: Callable[[str], None]) -> None:
        self.supervisor = supervisor
        self.settings = supervisor.settings
        self.echo = echo

    @property
    def external(self) -> bool:
        return bool(getattr(self.settings, self.url_setting))

    @property
    def port(self) -> int:
        return int(getattr(self.settings, self.port_setting))

    @property
    def port_env(self) -> str:
        return f"CORTEX_{self.port_setting.upper()}"

    @property
    def url(self) -> str:
        """The embedded server's URL, as the services read it from stack.json."""
        raise NotImplementedError

    @property
    def address(self) -> str:
        """Where `up` says it runs."""
        return self.url

    def launch(self) -> None:
        """Start the embedded server and return once it answers."""
        raise NotImplementedError

    def started_note(self) -> str:
        return ""

    def pid(self) -> int | None:
        return self.supervisor.alive_pid(self.name)

    def running(self) -> bool:
        return self.pid() is not None

    def say(self, text: str) -> None:
        self.echo(f"  {self.name:<10} {text}")

    def start(self) -> None:
        """Start it unless it is external or already running; record its URL either way."""
        if self.external:
            self.say("external")
            return
        if self.running():
            self.supervisor.write_state(**{self.url_setting: self.url})
            self.say(f"already running on {self.address}")
            return
        self.supervisor.require_port_free(self.name, self.port, self.port_env)
        self.launch()
        self.supervisor.write_state(**{self.url_setting: self.url})
        self.say(f"started  {self.address}{self.started_note()}")

    def stop(self) -> bool:
        """Stop it if we started it; whether it was running."""
        pid = self.pid()
        if pid:
            with contextlib.suppress(psutil.NoSuchProcess):
                terminate([psutil.Process(pid)])
        self.supervisor.forget(self.name)
        return pid is not None

    def status(self, state: dict[str, str]) -> Part:
        part = Part(
            self.name,
            self.external,
            url=redact(getattr(self.settings, self.url_setting) or state.get(self.url_setting)),
        )
        if not self.external:
            part.pid = self.pid()
            part.running = part.pid is not None and port_open("127.0.0.1", self.port)
        return part


def redact(url: str | None) -> str | None:
    """`url` with its password replaced by ***."""
    if not url or "@" not in url:
        return url
    scheme, rest = url.split("://", 1) if "://" in url else ("", url)
    credentials, host = rest.rsplit("@", 1)
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}" if scheme else f"{user}:***@{host}"
