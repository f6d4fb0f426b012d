"""Password reset by mail: a link that works once, for `CORTEX_PASSWORD_RESET_TTL_S` (half an hour).

Asking answers the same whether or not the address has an account, and mails the address either
way (a link, or a note that it has no account), so neither the answer nor its timing tells. Using
the link sets the new password, ends every session of the account (an intruder's included) and
verifies the address: whoever opened the link reads its mail.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

from cortex.auth import passwords, schemas, store
from cortex.auth.service.accounts import _end_every_session, _hashed
from cortex.auth.service.base import AuthDomain
from cortex.auth.service.verification import RESET, dashboard_link, issue_link_token
from cortex.errors import Invalid, RateLimited
from cortex.http.security import hash_secret, ip_key
from cortex.mail import queue_mail
from cortex.settings import Settings

REQUESTED = "If this address has a Cortex account, we mailed it a link to choose a new password."
RESET_DONE = "Your password was changed and every session of the account ended: log in with the new password."
INVALID_LINK = "this password-reset link has expired or was already used: ask for a new one"


class PasswordResetService(AuthDomain):
    async def request_reset(self, data: schemas.PasswordResetIn, *, ip: str) -> schemas.Accepted:
        """Mail a reset link to the address if it has an account, a note otherwise; the same answer."""
        _, decision, what = await self.limiter.admit(
            None,
            [
                (f"reset:ip:{ip_key(ip)}", self.settings.login_per_ip_per_min, "IP address"),
                (f"reset:email:{_hashed(data.email)}", self.settings.account_mails_per_address_per_min, "address"),
            ],
        )
        if not decision.allowed:
            retry_s = max(1, math.ceil(decision.retry_after_s))
            raise RateLimited(
                f"too many password-reset requests for this {what}; retry in {retry_s} s",
                headers=decision.headers(),
            )
        async with self.db.acquire() as conn, conn.transaction():
            user = await store.get_user_by_email(conn, email=data.email)
            token: str | None = None
            if user is not None and user["disabled_at"] is None:
                token = await issue_link_token(conn, purpose=RESET, user=user, ttl_s=self.settings.password_reset_ttl_s)
                for workspace in await store.workspaces_of_user(conn, user_id=user["id"]):
                    await store.insert_audit(
                        conn, workspace_id=workspace["id"], user_id=user["id"], event="password.reset_requested", ip=ip
                    )
            if user is not None and token is not None:
                subject, text = reset_mail(self.settings, token, ip=ip)
                await queue_mail(conn, self.settings, to=user["email"], subject=subject, text=text)
            else:
                subject, text = no_account_mail(self.settings, ip=ip)
                await queue_mail(conn, self.settings, to=data.email, subject=subject, text=text)
        return schemas.Accepted(message=REQUESTED)

    async def confirm_reset(self, data: schemas.PasswordResetConfirmIn, *, ip: str) -> schemas.Accepted:
        """Spend the link: the new password (the policy holds), every session ended, the address verified."""
        await self.limiter.check(f"reset:confirm:ip:{ip_key(ip)}", self.settings.login_per_ip_per_min, "IP address")
        async with self.db.acquire() as conn, conn.transaction():
            spent = await store.use_email_token(conn, token_hash=hash_secret(data.token), purpose=RESET)
            user = await store.get_user(conn, user_id=spent["user_id"]) if spent else None
            if spent is None or user is None or user["disabled_at"] is not None:
                raise Invalid(INVALID_LINK, details=[{"field": "body.token", "message": "not a valid reset link"}])
            try:  # a refusal rolls the transaction back: the link still works for a better password
                passwords.check_policy(
                    data.new_password, email=user["email"], min_length=self.settings.password_min_length
                )
            except Invalid as error:  # the policy names `password`; here the field is `new_password`
                details = [{**problem, "field": "body.new_password"} for problem in error.details or []]
                raise Invalid(error.message, details=details) from None
            await store.set_password_hash(
                conn, user_id=user["id"], password_hash=passwords.hash_password(data.new_password)
            )
            await store.spend_email_tokens(conn, user_id=user["id"], purpose=RESET)
            await store.mark_email_verified(conn, user_id=user["id"], email=spent["email"])
            revoked = await _end_every_session(
                conn,
                user_id=user["id"],
                workspaces=await store.workspaces_of_user(conn, user_id=user["id"]),
                reason="password_reset",
                event="password.reset",
                ip=ip,
            )
        await self.tokens.deny_sessions(revoked)
        return schemas.Accepted(message=RESET_DONE)


def reset_mail(settings: Settings, token: str, *, ip: str) -> tuple[str, str]:
    minutes = max(1, settings.password_reset_ttl_s // 60)
    return "Choose a new Cortex password", (
        "Hello,\n\n"
        f"Someone (from {ip}, on {_now()}) asked to reset the password of the Cortex account of this address. "
        f"To choose a new one, open this link (it works once, for {minutes} minutes):\n\n"
        f"{dashboard_link(settings, 'reset-password', token)}\n\n"
        "Every session of the account ends when you do. If you did not ask, ignore this message: "
        "your password stays as it is.\n"
    )


def no_account_mail(settings: Settings, *, ip: str) -> tuple[str, str]:
    return "Cortex password reset", (
        "Hello,\n\n"
        f"Someone (from {ip}, on {_now()}) asked to reset the password of a Cortex account with this "
        "address, but this address has no Cortex account, so nothing changed. If you have an account, "
        "it may use another address.\n\nIf you did not ask, you can ignore this message.\n"
    )


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
