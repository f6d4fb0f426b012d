"""Helpers that create real accounts through the API."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx

from .mailbox import link_token, mail_to, text_of

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


def mail_home() -> Path:
    """Where the test stack's SMTP sink keeps mail (`ephemeral_stack` sets CORTEX_HOME for the session)."""
    return Path(os.environ["CORTEX_HOME"])


async def register_unverified(
    http: httpx.AsyncClient, *, workspace: str = "Acme", password: str = PASSWORD, email: str | None = None
) -> Account:
    """A new account and its workspace, signed in, its address not verified yet (sign-up answers
    alike for new and known addresses, so it hands out no tokens: the new owner logs in)."""
    email = email or f"owner-{uuid.uuid4().hex[:10]}@example.com"
    response = await http.post(
        "/api/auth/register", json={"email": email, "password": password, "workspace_name": workspace}
    )
    assert response.status_code == 202, response.text
    return await login(http, email, password)


async def verify(http: httpx.AsyncClient, account: Account) -> None:
    """Follow the verification link of the account's welcome mail (its latest one), as its owner would."""
    [welcome] = [m for m in await mail_to(mail_home(), account.email) if m["Subject"] == "Your Cortex account"][-1:]
    verified = await http.post(
        "/api/auth/verify-email", json={"token": link_token(welcome, "verify-email")}, headers=account.headers
    )
    assert verified.status_code == 200 and verified.json()["email_verified"], verified.text


async def register(http: httpx.AsyncClient, *, workspace: str = "Acme", password: str = PASSWORD) -> Account:
    """A new account and its workspace, signed in, with its address verified through the mailed link."""
    account = await register_unverified(http, workspace=workspace, password=password)
    await verify(http, account)
    return account


async def login(http: httpx.AsyncClient, email: str, password: str = PASSWORD, **extra: str) -> Account:
    response = await http.post("/api/auth/login", json={"email": email, "password": password, **extra})
    assert response.status_code == 200, response.text
    return _account(email, password, response.json())


async def invitation_token(email: str, *, count: int = 1) -> str:
    """The token of the `count`th invitation mailed to `email` (mail is sent after the request, from
    auth's queue: it may still be on its way)."""
    deadline = time.monotonic() + 15
    while True:
        invitations = [m for m in await mail_to(mail_home(), email) if "#/invitation?token=" in text_of(m)]
        if len(invitations) >= count:
            break
        assert time.monotonic() < deadline, f"{len(invitations)} of {count} invitations mailed to {email}"
        await asyncio.sleep(0.1)
    return link_token(invitations[count - 1], "invitation")


async def member_of(http: httpx.AsyncClient, owner: Account, role: str) -> Account:
    """A second (verified) account invited to `owner`'s workspace with `role`; it accepts through the
    mailed link and is logged in there."""
    other = await register(http, workspace="Elsewhere")
    invited = await http.post("/api/auth/members", json={"email": other.email, "role": role}, headers=owner.headers)
    assert invited.status_code == 202, invited.text
    accepted = await http.post(
        "/api/auth/invitations/accept", json={"token": await invitation_token(other.email)}, headers=other.headers
    )
    assert accepted.status_code == 200, accepted.text
    return await login(http, other.email, workspace_id=owner.workspace_id)
