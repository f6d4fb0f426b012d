"""Helpers that create real accounts through the API."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import httpx

PASSWORD = "correct horse battery staple 42"


@dataclass
class Account:
    email: str
    password: str
    access_token: str
    refresh_token: str
    user_id: str
    workspace_id: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


def _account(email: str, password: str, body: dict) -> Account:
    return Account(
        email=email,
        password=password,
        access_token=body["access_token"],
        refresh_token=body["refresh_token"],
        user_id=body["user"]["id"],
        workspace_id=body["workspace"]["id"],
    )


async def register(http: httpx.AsyncClient, *, workspace: str = "Acme", password: str = PASSWORD) -> Account:
    """A new account and its workspace, signed in (sign-up answers alike for new and known
    addresses, so it hands out no tokens: the new owner logs in)."""
    email = f"owner-{uuid.uuid4().hex[:10]}@example.com"
    response = await http.post(
        "/api/auth/register", json={"email": email, "password": password, "workspace_name": workspace}
    )
    assert response.status_code == 202, response.text
    return await login(http, email, password)


async def login(http: httpx.AsyncClient, email: str, password: str = PASSWORD, **extra: str) -> Account:
    response = await http.post("/api/auth/login", json={"email": email, "password": password, **extra})
    assert response.status_code == 200, response.text
    return _account(email, password, response.json())


async def member_of(http: httpx.AsyncClient, owner: Account, role: str) -> Account:
    """A second account added to `owner`'s workspace with `role`, logged in there."""
    other = await register(http, workspace="Elsewhere")
    added = await http.post("/api/auth/members", json={"email": other.email, "role": role}, headers=owner.headers)
    assert added.status_code == 202, added.text
    return await login(http, other.email, workspace_id=owner.workspace_id)
