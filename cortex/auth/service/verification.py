"""Proof that an account owns its address: single-use links mailed to it.

A link carries a random 256-bit token; Postgres keeps only its SHA-256 (`email_tokens`), with
its purpose, the address it was sent to and its expiry, and spends it on first use. Two
purposes: verifying the address (`CORTEX_EMAIL_VERIFICATION_TTL_S`, a day) and resetting the
password (`resets.py`, `CORTEX_PASSWORD_RESET_TTL_S`, half an hour).

A verification link works only for the account it was sent for, signed in: whoever finds the
mail of an account someone else created with their address cannot verify it for them by
clicking (they take it over with a password reset instead, which verifies it too).

Until its address is verified an account is *limited*. It signs in, builds, teaches and
previews bots in its own workspace, but does nothing that reaches beyond the dashboard: no API
keys, no widget key that works on a website (one with allowed origins), no invitations. Nobody
can bring it into another workspace (accepting an invitation takes a verified address), and no
identity provider is linked to it. Each refusal is a 403 with the code `email_unverified`.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import UTC, datetime, timedelta
from typing import Literal

import asyncpg

from cortex.auth import schemas, store
from cortex.auth.service import audit
from cortex.auth.service.base import AuthDomain, member_id
from cortex.auth.service.tokens import user_public
from cortex.errors import Conflict, Forbidden, Invalid, Unauthorized
from cortex.http.security import Principal, hash_secret
from cortex.mail import queue_mail
from cortex.settings import Settings

Purpose = Literal["verify_email", "reset_password"]
VERIFY: Purpose = "verify_email"
RESET: Purpose = "reset_password"

UNVERIFIED = (
    "verify your address first: open the link we mailed you when you signed up, or send a new one "
    "from the banner at the top of the dashboard"
)
VERIFICATION_SENT = "We sent a new verification link to your address."


class Unverified(Forbidden):
    """The account has not proved its address yet, and the action needs it."""

    code = "email_unverified"


async def require_verified(conn: asyncpg.Connection, user_id: uuid.UUID | None) -> None:
    """Refuse (403 `email_unverified`) unless the account proved its address."""
    user = await store.get_user(conn, user_id=user_id) if user_id else None
    if user is None or user["email_verified_at"] is None:
        raise Unverified(UNVERIFIED)


async def issue_link_token(conn: asyncpg.Connection, *, purpose: Purpose, user: asyncpg.Record, ttl_s: int) -> str:
    """A new token for a link to the account's address; older unused ones of this purpose stop working."""
    token = secrets.token_urlsafe(32)
    await store.spend_email_tokens(conn, user_id=user["id"], purpose=purpose)
    await store.insert_email_token(
        conn,
        token_hash=hash_secret(token),
        purpose=purpose,
        user_id=user["id"],
        email=user["email"],
        expires_at=datetime.now(UTC) + timedelta(seconds=ttl_s),
    )
    return token


def dashboard_link(settings: Settings, page: str, token: str) -> str:
    """A dashboard page that receives the token in its fragment (never sent to a server's logs)."""
    return f"{settings.resolved_public_url()}/dashboard#/{page}?token={token}"


def verification_mail(settings: Settings, token: str) -> tuple[str, str]:
    hours = max(1, settings.email_verification_ttl_s // 3600)
    return "Verify your Cortex address", (
        "Hello,\n\n"
        "Confirm that this address is yours: open this link and log in with the account's password "
        f"(it works once, for {hours} hours):\n\n{dashboard_link(settings, 'verify-email', token)}\n\n"
        "Until then the account cannot create API keys, put a widget on a website or invite anyone.\n\n"
        "If you did not create a Cortex account, someone else typed your address: do not open the link. "
        f"You can take the account over with 'Forgot your password?' at {settings.resolved_public_url()}/dashboard, "
        "or ignore this message.\n"
    )


class VerificationService(AuthDomain):
    async def send_verification(self, principal: Principal) -> schemas.Accepted:
        """Mail the signed-in account a new verification link (older ones stop working)."""
        user_id = member_id(principal)
        await self.limiter.check(f"mail:verify:{user_id}", self.settings.account_mails_per_address_per_min, "address")
        async with self.db.acquire() as conn, conn.transaction():
            user = await store.get_user(conn, user_id=user_id)
            if user is None:
                raise Unauthorized("account no longer exists")
            if user["email_verified_at"] is not None:
                raise Conflict("your address is already verified")
            token = await issue_link_token(
                conn, purpose=VERIFY, user=user, ttl_s=self.settings.email_verification_ttl_s
            )
            subject, text = verification_mail(self.settings, token)
            await queue_mail(conn, self.settings, to=user["email"], subject=subject, text=text)
        return schemas.Accepted(message=VERIFICATION_SENT)

    async def verify_email(self, principal: Principal, token: str, *, ip: str) -> schemas.UserPublic:
        """Spend the link's token: the signed-in account's address is verified from now on."""
        user_id = member_id(principal)
        async with self.db.acquire() as conn, conn.transaction():
            user = await store.get_user(conn, user_id=user_id)
            if user is None:
                raise Unauthorized("account no longer exists")
            spent = await store.use_email_token(conn, token_hash=hash_secret(token), purpose=VERIFY, user_id=user_id)
            if spent is None:
                if user["email_verified_at"] is not None:
                    return user_public(user)  # a second click on the same link: nothing to do
                raise Invalid(
                    "this verification link has expired, was already used, or was sent for another account: "
                    "log in with the account it was sent for, or send a new link",
                    details=[{"field": "body.token", "message": "not a valid verification link for this account"}],
                )
            if not await store.mark_email_verified(conn, user_id=user_id, email=spent["email"]):
                raise Invalid("this link was sent to an address the account no longer has; send a new one")
            await audit.record(conn, principal, "email.verified", ip=ip, detail={"email": spent["email"]})
            user = await store.get_user(conn, user_id=user_id)
        assert user is not None
        return user_public(user)

    async def mark_verified(self, *, email: str) -> bool:
        """An operator's word that the address is the account's (`cortex demo`'s own owner).

        False when no account has this email. No principal: whoever can reach the database
        already holds every account, so this grants nothing new.
        """
        async with self.db.acquire() as conn:
            user = await store.get_user_by_email(conn, email=email)
            if user is None:
                return False
            return await store.mark_email_verified(conn, user_id=user["id"], email=user["email"])
