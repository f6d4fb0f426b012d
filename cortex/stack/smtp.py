"""The SMTP sink (cortex/smtp_sink.py): every mail Cortex sends lands in ``<home>/mail``."""

from __future__ import annotations

import sys
from pathlib import Path

from cortex.stack.parts import EmbeddedServer
from cortex.stack.ports import port_open

START_TIMEOUT_S = 20


class SmtpSink(EmbeddedServer):
    name = "smtp"
    url_setting = "smtp_url"
    port_setting = "smtp_port"

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    @property
    def mail_dir(self) -> Path:
        return self.supervisor.home / "mail"

    def started_note(self) -> str:
        return f" (sink: {self.mail_dir})"

    def launch(self) -> None:
        process = self.supervisor.spawn(
            self.name,
            [sys.executable, "-m", "cortex.smtp_sink", "--port", str(self.port), "--dir", str(self.mail_dir)],
        )
        self.supervisor.wait(self.name, lambda: port_open("127.0.0.1", self.port), process, START_TIMEOUT_S)
