"""An account proves it owns its address (#18 finding 1): verification, invitations, OIDC linking, reset.

The attack each test closes: anyone may register `cfo@victim.example`. Before, a victim admin's
invite to that address added the impostor's account at once, and a login with an identity
provider that verified the address was linked into it.
"""

from __future__ import annotations

import uuid

import httpx

from cortex.settings import Settings
from tests.stack_fixtures import RunningStack

from .accounts import (
    PASSWORD,
    Account,
    invitation_token,
    login,
    mail_home,
    register,
    register_unverified,
    verify,
)
from .db import service_conn
from .mailbox import link_token, mail_to, text_of
from .oidc_provider import Provider, User
from .test_oidc import _sign_in


def _victim_address() -> str:
    return f"cfo-{uuid.uuid4().hex[:8]}@victim.example"


async def _member_emails(http: httpx.AsyncClient, admin: Account) -> list[str]:
    return [m["email"].lower() for m in (await http.get("/api/auth/members", headers=admin.headers)).json()]


async def _accept(http: httpx.AsyncClient, account: Account, token: str) -> httpx.Response:
    return await http.post("/api/auth/invitations/accept", json={"token": token}, headers=account.headers)


# -- invitations ------------------------------------------------------------------------------


async def test_inviting_an_address_an_impostor_registered_does_not_make_the_impostor_a_member(
    http: httpx.AsyncClient,
) -> None:
    address = _victim_address()
    impostor = await register_unverified(http, email=address, workspace="Impostor Ltd")
    admin = await register(http, workspace="Victim Corp")

    invited = await http.post("/api/auth/members", json={"email": address, "role": "admin"}, headers=admin.headers)
    assert invited.status_code == 202, invited.text
    assert address not in await _member_emails(http, admin), "nobody joins before accepting"
    me = (await http.get("/api/auth/me", headers=impostor.headers)).json()
    assert [w["name"] for w in me["workspaces"]] == ["Impostor Ltd"]
    assert (
        await http.post(
            "/api/auth/switch-workspace", json={"workspace_id": admin.workspace_id}, headers=impostor.headers
        )
    ).status_code == 404

    # Even holding the link, an account that never proved the address cannot accept it.
    token = await invitation_token(address)
    refused = await _accept(http, impostor, token)
    assert refused.status_code == 403, refused.text
    assert refused.json()["error"]["code"] == "email_unverified"
    assert "verify your address first" in refused.json()["error"]["message"]
    assert address not in await _member_emails(http, admin)

    # Once the address is proven (here: the welcome mail's link, signed in), the link admits it.
    await verify(http, impostor)
    accepted = await _accept(http, impostor, token)
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["workspace"]["id"] == admin.workspace_id and accepted.json()["role"] == "admin"
    assert address in await _member_emails(http, admin)
    assert (await login(http, address, workspace_id=admin.workspace_id)).workspace_id == admin.workspace_id
    assert (await _accept(http, impostor, token)).status_code == 422, "the link works once"
    assert (await http.get("/api/auth/invitations", headers=admin.headers)).json() == []


async def test_inviting_shows_the_same_answer_members_and_audit_with_or_without_an_account(
    http: httpx.AsyncClient, running_stack: RunningStack
) -> None:
    admin = await register(http, workspace="Corner Bakery")
    known = await register(http)
    stranger = f"stranger-{uuid.uuid4().hex[:8]}@example.com"
    answers = [
        await http.post("/api/auth/members", json={"email": email, "role": "agent"}, headers=admin.headers)
        for email in (known.email, stranger)
    ]
    assert [a.status_code for a in answers] == [202, 202], [a.text for a in answers]
    assert answers[0].json().keys() == answers[1].json().keys()
    assert answers[0].json()["message"] == answers[1].json()["message"]

    assert await _member_emails(http, admin) == [admin.email.lower()], "no account joined"
    audit = (await http.get("/api/auth/audit-log", headers=admin.headers)).json()
    invited = [e for e in audit if e["event"].startswith("member.")]
    assert [e["event"] for e in invited] == ["member.invited", "member.invited"]
    assert {e["detail"]["email"] for e in invited} == {known.email, stranger}
    assert [sorted(e["detail"]) for e in invited] == [["email", "invitation_id", "role"]] * 2
    assert all(known.user_id not in str(e) for e in audit), "the audit log names no account"
    pending = (await http.get("/api/auth/invitations", headers=admin.headers)).json()
    assert sorted(i["email"] for i in pending) == sorted([known.email, stranger])
    assert sorted(pending[0]) == sorted(pending[1]) and not any(i["expired"] for i in pending)

    # Each address learns by mail what to do; the link is the way in.
    mail = (await mail_to(running_stack.home, known.email, count=2))[-1]
    assert mail["Subject"] == "You are invited to a Cortex workspace" and "Corner Bakery" in text_of(mail)
    [to_stranger] = await mail_to(running_stack.home, stranger)
    assert "no Cortex account yet" in text_of(to_stranger) and "#/invitation?token=" in text_of(to_stranger)


async def test_an_invitation_is_accepted_only_by_the_invited_address_until_revoked(http: httpx.AsyncClient) -> None:
    owner = await register(http, workspace="Bakery")
    admin_account = await register(http)
    invitee = await register(http)
    other = await register(http)
    await http.post("/api/auth/members", json={"email": admin_account.email, "role": "admin"}, headers=owner.headers)
    accepted_admin = await _accept(http, admin_account, await invitation_token(admin_account.email))
    assert accepted_admin.status_code == 200
    admin = await login(http, admin_account.email, workspace_id=owner.workspace_id)

    await http.post("/api/auth/members", json={"email": invitee.email, "role": "viewer"}, headers=admin.headers)
    token = await invitation_token(invitee.email)
    stolen = await _accept(http, other, token)
    assert stolen.status_code == 403 and "sent to another address" in stolen.json()["error"]["message"]
    assert other.email.lower() not in await _member_emails(http, owner)

    # Revoked, the link opens nothing; inviting again sends a new one that works.
    [pending] = (await http.get("/api/auth/invitations", headers=admin.headers)).json()
    assert (await http.delete(f"/api/auth/invitations/{pending['id']}", headers=admin.headers)).status_code == 204
    assert (await http.delete(f"/api/auth/invitations/{pending['id']}", headers=admin.headers)).status_code == 404
    revoked = await _accept(http, invitee, token)
    assert revoked.status_code == 422 and "not valid any more" in revoked.json()["error"]["message"]
    await http.post("/api/auth/members", json={"email": invitee.email, "role": "viewer"}, headers=admin.headers)
    again = await _accept(http, invitee, await invitation_token(invitee.email, count=2))
    assert again.status_code == 200 and again.json()["role"] == "viewer"
    assert invitee.email.lower() in await _member_emails(http, owner)

    # Owners alone invite owners and revoke their invitations; agents and viewers see no invitations.
    assert (
        await http.post("/api/auth/members", json={"email": other.email, "role": "owner"}, headers=admin.headers)
    ).status_code == 403
    await http.post("/api/auth/members", json={"email": other.email, "role": "owner"}, headers=owner.headers)
    [owner_invite] = (await http.get("/api/auth/invitations", headers=admin.headers)).json()
    assert (await http.delete(f"/api/auth/invitations/{owner_invite['id']}", headers=admin.headers)).status_code == 403
    viewer = await login(http, invitee.email, workspace_id=owner.workspace_id)
    assert (await http.get("/api/auth/invitations", headers=viewer.headers)).status_code == 403


# -- what an unverified account may do ---------------------------------------------------------


async def test_an_unverified_account_is_limited_until_it_follows_its_link(
    http: httpx.AsyncClient, running_stack: RunningStack
) -> None:
    account = await register_unverified(http)
    me = (await http.get("/api/auth/me", headers=account.headers)).json()
    assert me["user"]["email_verified"] is False

    api_key = await http.post(
        "/api/auth/api-keys", json={"name": "k", "permissions": ["read"]}, headers=account.headers
    )
    assert api_key.status_code == 403, api_key.text
    assert api_key.json()["error"] | {"request_id": None} == {
        "code": "email_unverified",
        "message": api_key.json()["error"]["message"],
        "request_id": None,
    }
    assert api_key.json()["error"]["message"].startswith("verify your address first")
    bot = await http.post("/api/bots", json={"name": "Draft"}, headers=account.headers)
    assert bot.status_code == 201, "building bots is allowed"
    preview_key = await http.post("/api/auth/widget-keys", json={"bot_id": bot.json()["id"]}, headers=account.headers)
    assert preview_key.status_code == 201, "a key without origins only previews"
    live_key = await http.post(
        "/api/auth/widget-keys",
        json={"bot_id": bot.json()["id"], "allowed_origins": ["https://shop.example"]},
        headers=account.headers,
    )
    assert live_key.status_code == 403 and live_key.json()["error"]["code"] == "email_unverified"
    going_live = await http.patch(
        f"/api/auth/widget-keys/{preview_key.json()['id']}",
        json={"allowed_origins": ["https://shop.example"]},
        headers=account.headers,
    )
    assert going_live.status_code == 403
    invite = await http.post(
        "/api/auth/members", json={"email": "someone@example.com", "role": "agent"}, headers=account.headers
    )
    assert invite.status_code == 403 and invite.json()["error"]["code"] == "email_unverified"

    # A new link replaces the welcome mail's; the old one no longer works.
    [welcome] = await mail_to(running_stack.home, account.email)
    resent = await http.post("/api/auth/verify-email/resend", headers=account.headers)
    assert resent.status_code == 202, resent.text
    old = await http.post(
        "/api/auth/verify-email", json={"token": link_token(welcome, "verify-email")}, headers=account.headers
    )
    assert old.status_code == 422 and old.json()["error"]["details"][0]["field"] == "body.token"
    newest = (await mail_to(running_stack.home, account.email, count=2))[-1]
    # A link works only for the account it was sent for, signed in.
    stranger = await register_unverified(http)
    assert (
        await http.post(
            "/api/auth/verify-email", json={"token": link_token(newest, "verify-email")}, headers=stranger.headers
        )
    ).status_code == 422
    verified = await http.post(
        "/api/auth/verify-email", json={"token": link_token(newest, "verify-email")}, headers=account.headers
    )
    assert verified.status_code == 200 and verified.json()["email_verified"] is True
    assert (await http.get("/api/auth/me", headers=account.headers)).json()["user"]["email_verified"] is True
    created = await http.post(
        "/api/auth/api-keys", json={"name": "k", "permissions": ["read"]}, headers=account.headers
    )
    assert created.status_code == 201, created.text
    assert (await http.post("/api/auth/verify-email/resend", headers=account.headers)).status_code == 409


async def test_verification_mails_are_rate_limited_per_account(http: httpx.AsyncClient, settings: Settings) -> None:
    account = await register_unverified(http)
    statuses = [
        (await http.post("/api/auth/verify-email/resend", headers=account.headers)).status_code
        for _ in range(settings.account_mails_per_address_per_min + 1)
    ]
    assert statuses == [202] * settings.account_mails_per_address_per_min + [429]


# -- OIDC ----------------------------------------------------------------------------------------


async def test_oidc_does_not_link_a_verified_provider_address_into_an_unverified_account(
    http: httpx.AsyncClient, provider: Provider
) -> None:
    address = _victim_address()
    impostor = await register_unverified(http, email=address)
    provider.user = User(sub=f"sub-{uuid.uuid4().hex[:8]}", email=address, name="The real CFO")
    refused = await _sign_in(http, provider, redirect_to=None)
    assert refused.status_code == 403, refused.text
    assert refused.json()["error"]["code"] == "email_unverified"
    assert "log in with its password" in refused.json()["error"]["message"]
    from_dashboard = await _sign_in(http, provider)
    assert from_dashboard.status_code == 302
    assert from_dashboard.headers["location"].startswith("/dashboard#error=")
    assert "not+verified" in from_dashboard.headers["location"]

    # Once the account proved the address, the same provider login links to it.
    await verify(http, impostor)
    linked = await _sign_in(http, provider, redirect_to=None)
    assert linked.status_code == 200, linked.text
    assert linked.json()["user"]["id"] == impostor.user_id


async def test_an_oidc_sign_up_with_a_verified_address_is_a_verified_account(
    http: httpx.AsyncClient, provider: Provider
) -> None:
    provider.user = User(sub=f"sub-{uuid.uuid4().hex[:8]}", email=f"new-{uuid.uuid4().hex[:8]}@example.com", name="N")
    signed_up = await _sign_in(http, provider, redirect_to=None)
    assert signed_up.status_code == 200, signed_up.text
    assert signed_up.json()["user"]["email_verified"] is True
    headers = {"Authorization": f"Bearer {signed_up.json()['access_token']}"}
    created = await http.post("/api/auth/api-keys", json={"name": "k", "permissions": ["read"]}, headers=headers)
    assert created.status_code == 201, created.text


# -- password reset --------------------------------------------------------------------------------


async def _request_reset(http: httpx.AsyncClient, email: str) -> httpx.Response:
    return await http.post("/api/auth/password-reset", json={"email": email})


async def _reset_token(email: str, count: int) -> str:
    mails = [m for m in await mail_to(mail_home(), email, count=count) if "#/reset-password?token=" in text_of(m)]
    return link_token(mails[-1], "reset-password")


async def test_a_password_reset_link_works_once_and_ends_every_session(http: httpx.AsyncClient) -> None:
    account = await register(http)
    laptop = await login(http, account.email)
    unknown = f"nobody-{uuid.uuid4().hex[:8]}@example.com"
    known_answer, unknown_answer = await _request_reset(http, account.email), await _request_reset(http, unknown)
    assert known_answer.status_code == unknown_answer.status_code == 202
    assert known_answer.json() == unknown_answer.json()
    [note] = await mail_to(mail_home(), unknown)
    assert "has no Cortex account" in text_of(note) and "token=" not in text_of(note)
    token = await _reset_token(account.email, count=2)  # the welcome, then the link

    weak = await http.post("/api/auth/password-reset/confirm", json={"token": token, "new_password": "password1"})
    assert weak.status_code == 422 and weak.json()["error"]["details"][0]["field"] == "body.new_password"
    new_password = "a freshly mailed passphrase 31"
    done = await http.post("/api/auth/password-reset/confirm", json={"token": token, "new_password": new_password})
    assert done.status_code == 200, done.text
    for device in (account, laptop):
        assert (await http.get("/api/auth/me", headers=device.headers)).status_code == 401
        assert (await http.post("/api/auth/refresh", json={"refresh_token": device.refresh_token})).status_code == 401
    assert (await http.post("/api/auth/login", json={"email": account.email, "password": PASSWORD})).status_code == 401
    owner = await login(http, account.email, new_password)
    again = await http.post(
        "/api/auth/password-reset/confirm", json={"token": token, "new_password": "yet another passphrase 55"}
    )
    assert again.status_code == 422 and "already used" in again.json()["error"]["message"]
    events = [e["event"] for e in (await http.get("/api/auth/audit-log", headers=owner.headers)).json()]
    assert {"password.reset_requested", "password.reset"} <= set(events)


async def test_a_password_reset_link_expires(http: httpx.AsyncClient, settings: Settings) -> None:
    account = await register(http)
    await _request_reset(http, account.email)
    token = await _reset_token(account.email, count=2)
    async with service_conn(settings, "auth") as conn:
        await conn.execute(
            "UPDATE email_tokens SET expires_at = now() - interval '1 second' "
            "WHERE user_id = $1 AND purpose = 'reset_password'",
            uuid.UUID(account.user_id),
        )
    expired = await http.post(
        "/api/auth/password-reset/confirm", json={"token": token, "new_password": "a late passphrase 8472"}
    )
    assert expired.status_code == 422 and "expired" in expired.json()["error"]["message"]
    assert (await login(http, account.email)).access_token, "the password did not change"


async def test_a_password_reset_takes_an_impostors_account_over_and_verifies_it(http: httpx.AsyncClient) -> None:
    """The owner of the address wins: the impostor's sessions and password stop working."""
    address = _victim_address()
    impostor = await register_unverified(http, email=address)
    await _request_reset(http, address)
    token = await _reset_token(address, count=2)
    new_password = "the real owner's passphrase 9"
    done = await http.post("/api/auth/password-reset/confirm", json={"token": token, "new_password": new_password})
    assert done.status_code == 200, done.text
    assert (await http.post("/api/auth/refresh", json={"refresh_token": impostor.refresh_token})).status_code == 401
    owner = await login(http, address, new_password)
    assert (await http.get("/api/auth/me", headers=owner.headers)).json()["user"]["email_verified"] is True


async def test_password_reset_requests_are_rate_limited_per_address(
    http: httpx.AsyncClient, settings: Settings
) -> None:
    address = f"flooded-{uuid.uuid4().hex[:8]}@example.com"
    statuses = [
        (await _request_reset(http, address)).status_code for _ in range(settings.account_mails_per_address_per_min + 1)
    ]
    assert statuses == [202] * settings.account_mails_per_address_per_min + [429]
