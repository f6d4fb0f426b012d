"""Chroma in server mode (``chroma run`` from the chromadb package), its data in ``<home>/chroma``."""

from __future__ import annotations

import sys
from pathlib import Path

from cortex.stack.parts import EmbeddedServer
from cortex.stack.ports import http_ok

# Generous for 2 busy cores: a Chroma not ready by then is stuck, and `up` says so.
START_TIMEOUT_S = 60


class Chroma(EmbeddedServer):
    name = "chroma"
    url_setting = "chroma_url"
    port_setting = "chroma_port"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def launch(self) -> None:
        chroma = Path(sys.executable).parent / "chroma"
        process = self.supervisor.spawn(
            self.name,
            [
                str(chroma),
                *("run", "--path", str(self.supervisor.home / "chroma")),
                *("--host", "127.0.0.1", "--port", str(self.port)),
            ],
        )
        self.supervisor.wait(self.name, lambda: http_ok(f"{self.url}/api/v2/heartbeat"), process, START_TIMEOUT_S)
