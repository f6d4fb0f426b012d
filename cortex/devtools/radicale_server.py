"""A real CalDAV server (Radicale) on a free loopback port, for the tests and the benchmarks.

Runs `python -m radicale` in a subprocess with its own temporary storage and an htpasswd file (plain
passwords: it is a local stand-in), so it can be stopped and started again on the same port and
storage to play a calendar that went down and came back.

    with RadicaleServer(users={"owner": "secret"}) as radicale:
        radicale.url                       # http://127.0.0.1:<port>/
        radicale.calendar_url("owner", "work")
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType

import httpx

# Radicale starts in about half a second; 15 s covers a loaded test machine.
_START_TIMEOUT_S = 15.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RadicaleServer:
    """Radicale with the given users (name → password), each owning the calendars `make_calendar` adds."""

    def __init__(self, users: dict[str, str] | None = None, *, port: int | None = None) -> None:
        self.users = dict(users or {"owner": "owner-password"})
        self.port = port or _free_port()
        self.home = Path(tempfile.mkdtemp(prefix="cortex-radicale-"))
        self._process: subprocess.Popen[bytes] | None = None
        (self.home / "collections").mkdir()
        self._write_config()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def calendar_url(self, user: str, calendar: str) -> str:
        return f"{self.url}{user}/{calendar}/"

    def _write_config(self) -> None:
        (self.home / "users").write_text("".join(f"{name}:{password}\n" for name, password in self.users.items()))
        (self.home / "config").write_text(
            f"""[server]
hosts = 127.0.0.1:{self.port}

[auth]
type = htpasswd
htpasswd_filename = {self.home / "users"}
htpasswd_encryption = plain
# A wrong password in a test is answered at once, not after Radicale's default 1 s delay.
delay = 0

[rights]
type = owner_only

[storage]
filesystem_folder = {self.home / "collections"}

[logging]
level = warning
"""
        )

    def start(self) -> RadicaleServer:
        """Start (or start again) and wait until it answers."""
        if self.running:
            return self
        self._process = subprocess.Popen(
            [sys.executable, "-m", "radicale", "--config", str(self.home / "config")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + _START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"radicale exited with {self._process.returncode}")
            try:
                httpx.get(self.url, timeout=1.0)
                return self
            except httpx.TransportError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"radicale did not answer on {self.url} within {_START_TIMEOUT_S:.0f} s")

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def stop(self) -> None:
        """Stop the server; its calendars stay on disk for `start`."""
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None

    def make_calendar(self, user: str, calendar: str, *, display_name: str | None = None) -> str:
        """Create a calendar collection (MKCALENDAR) owned by `user`; its URL."""
        url = self.calendar_url(user, calendar)
        body = (
            '<?xml version="1.0" encoding="utf-8"?>'
            '<C:mkcalendar xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:set><D:prop>'
            f"<D:displayname>{display_name or calendar}</D:displayname>"
            "</D:prop></D:set></C:mkcalendar>"
        )
        response = httpx.request(
            "MKCALENDAR",
            url,
            content=body,
            auth=(user, self.users[user]),
            timeout=10,
            headers={"Content-Type": "application/xml"},
        )
        if response.status_code not in (201, 405):  # 405: it exists already
            raise RuntimeError(f"MKCALENDAR {url}: {response.status_code} {response.text[:200]}")
        return url

    def put_event(self, user: str, calendar: str, name: str, ics: str) -> None:
        """Store an iCalendar object as the calendar's owner would from another client."""
        response = httpx.put(
            f"{self.calendar_url(user, calendar)}{name}.ics",
            content=ics.encode(),
            auth=(user, self.users[user]),
            headers={"Content-Type": "text/calendar; charset=utf-8"},
            timeout=10,
        )
        if response.status_code not in (201, 204):
            raise RuntimeError(f"PUT {name}: {response.status_code} {response.text[:200]}")

    def events(self, user: str, calendar: str) -> dict[str, str]:
        """Every object in the calendar's folder on disk: file name → iCalendar text."""
        folder = self.home / "collections" / "collection-root" / user / calendar
        return {path.name: path.read_text() for path in sorted(folder.glob("*.ics"))} if folder.exists() else {}

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.home, ignore_errors=True)

    def __enter__(self) -> RadicaleServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
