"""The pages mailed links open, in the browser: a forgotten password, and an invitation (#18 finding 1)."""

from __future__ import annotations

import httpx
from playwright.async_api import expect

from tests.integration.accounts import PASSWORD, invitation_token, login, register
from tests.integration.mailbox import link_token, mail_to
from tests.stack_fixtures import RunningStack


async def test_a_forgotten_password_is_reset_through_the_mailed_link(
    http: httpx.AsyncClient, running_stack: RunningStack, new_tab
) -> None:
    base = running_stack.url
    account = await register(http, workspace="Reset Bakery")
    tab = await new_tab()
    page = tab.page
    await page.goto(base + "/dashboard#/login")
    await page.get_by_test_id("forgot-password").click()
    await page.get_by_test_id("reset-email").fill(account.email)
    await page.get_by_test_id("reset-request").click()
    await expect(page.get_by_test_id("reset-requested")).to_contain_text("If this address has a Cortex account")

    mails = await mail_to(running_stack.home, account.email, count=2)
    token = link_token(mails[-1], "reset-password")
    new_password = "a passphrase from the mail 64"
    await page.goto(f"{base}/dashboard#/reset-password?token={token}")
    await page.get_by_test_id("reset-new-password").fill(new_password)
    await page.get_by_test_id("reset-confirm-password").fill(new_password)
    await page.get_by_test_id("reset-submit").click()
    await expect(page.get_by_test_id("reset-done")).to_contain_text("every session of the account ended")
    await tab.shot("email-links-1-password-reset")

    await page.get_by_role("link", name="Log in").click()
    await page.get_by_test_id("login-email").fill(account.email)
    await page.get_by_test_id("login-password").fill(new_password)
    await page.get_by_test_id("login-submit").click()
    await expect(page.get_by_test_id("workspace-name")).to_have_text("Reset Bakery")
    old = await http.post("/api/auth/login", json={"email": account.email, "password": PASSWORD})
    assert old.status_code == 401


async def test_an_invitee_accepts_in_the_browser_and_the_admin_sees_the_invitation_until_then(
    http: httpx.AsyncClient, running_stack: RunningStack, new_tab
) -> None:
    base = running_stack.url
    owner = await register(http, workspace="Invite Bakery")
    invitee = await register(http, workspace="Invitee's own")

    admin_tab = await new_tab()
    admin = admin_tab.page
    await admin.goto(base + "/dashboard#/login")
    await admin.get_by_test_id("login-email").fill(owner.email)
    await admin.get_by_test_id("login-password").fill(owner.password)
    await admin.get_by_test_id("login-submit").click()
    await admin.get_by_test_id("nav-team").click()
    await admin.get_by_test_id("invite-email").fill(invitee.email)
    await admin.get_by_test_id("invite-submit").click()
    pending = admin.get_by_test_id("invitation-row").filter(has_text=invitee.email)
    await expect(pending).to_have_count(1)
    await expect(admin.get_by_test_id("member-row").filter(has_text=invitee.email)).to_have_count(0)
    await admin_tab.shot("email-links-2-pending-invitation")

    await mail_to(running_stack.home, invitee.email, count=2)  # the welcome, then the invitation
    tab = await new_tab()
    page = tab.page
    await page.goto(f"{base}/dashboard#/invitation?token={await invitation_token(invitee.email)}")
    await page.get_by_test_id("link-login-email").fill(invitee.email)
    await page.get_by_test_id("link-login-password").fill(invitee.password)
    await page.get_by_test_id("link-login-submit").click()
    await page.get_by_test_id("accept-invitation").click()
    await expect(page.get_by_test_id("workspace-switcher")).to_have_value(owner.workspace_id)
    await tab.shot("email-links-3-invitation-accepted")

    await admin.reload()
    await expect(admin.get_by_test_id("member-row").filter(has_text=invitee.email)).to_have_count(1)
    await expect(admin.get_by_test_id("invitation-row")).to_have_count(0)
    assert (await login(http, invitee.email, workspace_id=owner.workspace_id)).workspace_id == owner.workspace_id
