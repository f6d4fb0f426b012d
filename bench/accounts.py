"""A new owner for a benchmark: sign up, log in, and prove the address through the welcome mail's
link, as a person would (an unverified account may not create API keys or a live widget key)."""

from __future__ import annotations

import re
import time
import uuid
from email import policy
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import httpx

PASSWORD = "bench password 12345"
# Mail goes out from auth's queue after sign-up; the stack's SMTP sink keeps it under <home>/mail.
MAIL_TIMEOUT_S = 30.0


def new_owner(base: str, *, home: Path | str | None = None, timeout_s: float = 30) -> dict[str, Any]:
    """The new owner's token pair (access_token, refresh_token, user, workspace). With the stack's
    `home`, the address is verified through the link mailed to it."""
    email = f"bench-{uuid.uuid4().hex[:8]}@example.com"
    with httpx.Client(base_url=base, timeout=timeout_s) as client:
        client.post(
            "/api/auth/register", json={"email": email, "password": PASSWORD, "workspace_name": "Bench"}
        ).raise_for_status()
        owner: dict[str, Any] = (
            client.post("/api/auth/login", json={"email": email, "password": PASSWORD}).raise_for_status().json()
        )
        if home is not None:
            client.post(
                "/api/auth/verify-email",
                json={"token": _verification_token(Path(home), email)},
                headers={"Authorization": f"Bearer {owner['access_token']}"},
            ).raise_for_status()
    return owner


def _verification_token(home: Path, email: str) -> str:
    deadline = time.monotonic() + MAIL_TIMEOUT_S
    while True:
        for path in sorted((home / "mail").glob("*.eml")):
            raw = path.read_bytes()
            if email.encode() not in raw.lower():
                continue
            body = BytesParser(policy=policy.default).parsebytes(raw).get_body(preferencelist=("plain",))
            found = re.search(r"#/verify-email\?token=([A-Za-z0-9_-]+)", body.get_content() if body else "")  # type: ignore[union-attr]
            if found:
                return found.group(1)
        if time.monotonic() > deadline:
            raise RuntimeError(f"no verification mail to {email} in {MAIL_TIMEOUT_S:.0f} s")
        time.sleep(0.2)
