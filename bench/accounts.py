"""A new owner for a benchmark: sign up, then log in (sign-up answers alike for new and known
addresses, so it hands out no tokens)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

PASSWORD = "bench password 12345"


def new_owner(base: str, *, timeout_s: float = 30) -> dict[str, Any]:
    """The new owner's token pair (access_token, refresh_token, user, workspace)."""
    email = f"bench-{uuid.uuid4().hex[:8]}@example.com"
    with httpx.Client(base_url=base, timeout=timeout_s) as client:
        client.post(
            "/api/auth/register", json={"email": email, "password": PASSWORD, "workspace_name": "Bench"}
        ).raise_for_status()
        return client.post("/api/auth/login", json={"email": email, "password": PASSWORD}).raise_for_status().json()
