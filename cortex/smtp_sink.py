"""The embedded stack's SMTP sink: accepts every message and stores it as a .eml file.

Mail sent by Cortex in local mode lands in ``<home>/mail/`` where the dashboard (and tests)
can read it; nothing leaves the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

# 10 MiB: larger than any mail Cortex sends; refuses floods.
MAX_MESSAGE_BYTES = 10 * 1024 * 1024


class MaildirHandler:
    """Writes each accepted message atomically (tmp file then rename) into a directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        name = f"{time.time_ns()}-{uuid.uuid4().hex[:8]}.eml"
        content = envelope.original_content or b""
        header = (
            f"X-Cortex-Mail-From: {envelope.mail_from}\r\nX-Cortex-Rcpt-To: {', '.join(envelope.rcpt_tos)}\r\n"
        ).encode()
        tmp = self.directory / f".{name}.tmp"
        tmp.write_bytes(header + content)
        tmp.rename(self.directory / name)
        return "250 Message accepted for delivery"


def main() -> None:
    parser = argparse.ArgumentParser(description="Cortex SMTP sink")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dir", type=Path, required=True)
    args = parser.parse_args()
    controller = Controller(
        MaildirHandler(args.dir), hostname=args.host, port=args.port, data_size_limit=MAX_MESSAGE_BYTES
    )
    controller.start()
    try:
        asyncio.run(asyncio.Event().wait())
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
