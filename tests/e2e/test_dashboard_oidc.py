"""Signing in to the dashboard cannot be done for someone through a link (login CSRF, #18).

A URL carrying another account's tokens signs nobody in, and an OIDC login reaches the dashboard
only through a one-time code that the browser which started the login trades once.
"""

from __future__ import annotations

from urllib.parse import quote

import httpx
from playwright.async_api import Page, expect

from tests.integration.accounts import Account, register
from tests.integration.oidc_provider import Provider, User
from tests.stack_fixtures import RunningStack

SESSION_TOKEN = "() => (JSON.parse(localStorage.getItem('cortex.session') || 'null') || {}).access_token || null"


def _token_link(base: str, account: Account) -> str:
    """The link an attacker sends: the dashboard with their own account's valid tokens in it."""
    return f"{base}/dashboard#access_token={account.access_token}&refresh_token={account.refresh_token}&expires_in=900"


async def _log_in(page: Page, base: str, account: Account, workspace: str) -> None:
    await page.goto(base + "/dashboard#/login")
    await page.get_by_test_id("login-email").fill(account.email)
    await page.get_by_test_id("login-password").fill(account.password)
    await page.get_by_test_id("login-submit").click()
    await expect(page.get_by_test_id("workspace-name")).to_have_text(workspace)


async def test_a_link_with_another_accounts_tokens_signs_nobody_in(
    http: httpx.AsyncClient, running_stack: RunningStack, new_tab
) -> None:
    base = running_stack.url
    victim = await register(http, workspace="Victim Co")
    attacker = await register(http, workspace="Attacker Co")

    # Signed in as the victim: neither a fresh load of the link nor a hash change swaps the session.
    tab = await new_tab()
    page = tab.page
    await _log_in(page, base, victim, "Victim Co")
    victims_session = await page.evaluate(SESSION_TOKEN)
    await page.goto(_token_link(base, attacker))  # same document: only the hash changes
    assert await page.evaluate(SESSION_TOKEN) == victims_session
    await page.goto("about:blank")
    await page.goto(_token_link(base, attacker))  # a fresh load of the dashboard
    await page.wait_for_load_state("networkidle")
    assert await page.evaluate(SESSION_TOKEN) == victims_session != attacker.access_token
    await page.goto(base + "/dashboard#/bots")
    await expect(page.get_by_test_id("workspace-name")).to_have_text("Victim Co")
    await tab.shot("oidc-1-token-link-ignored")

    # Signed out: the link leaves the browser signed out.
    fresh = (await new_tab()).page
    await fresh.goto(_token_link(base, attacker))
    await fresh.wait_for_load_state("networkidle")
    assert await fresh.evaluate(SESSION_TOKEN) is None
    await fresh.goto(base + "/dashboard#/bots")
    await expect(fresh.get_by_test_id("login-email")).to_be_visible()
    assert await fresh.evaluate(SESSION_TOKEN) is None

    # A refused login's reason is shown as text, never as markup.
    markup = '<img src=x onerror="document.title=`pwned`" data-testid=injected>'
    await fresh.goto("about:blank")
    await fresh.goto(f"{base}/dashboard#error={quote(markup)}")
    notice = fresh.get_by_role("status").filter(has_text="Signing in with your identity provider failed")
    await expect(notice).to_contain_text(markup)
    assert await fresh.get_by_test_id("injected").count() == 0
    assert await fresh.title() != "pwned"


async def test_an_oidc_login_through_the_dashboard_trades_a_one_time_code(
    running_stack: RunningStack, provider: Provider, new_tab
) -> None:
    base = running_stack.url
    provider.user = User(sub="sub-e2e-olive", email="olive.e2e@example.com", name="Olive")
    tab = await new_tab()
    page = tab.page
    returns: list[str] = []
    page.on(
        "response",
        lambda response: (
            returns.append(response.headers.get("location", ""))
            if "/api/auth/oidc/local/callback" in response.url
            else None
        ),
    )
    await page.goto(base + "/dashboard#/login")
    await page.get_by_test_id("oidc-local").click()
    await expect(page.get_by_test_id("workspace-name")).to_have_text("Olive's workspace")
    await expect(page.locator(".user-email")).to_have_text("olive.e2e@example.com")
    assert page.url.endswith("/dashboard#/bots"), page.url  # the code left the URL
    [location] = returns
    assert location.startswith("/dashboard#login_code=") and "access_token" not in location
    assert not [c for c in await page.context.cookies() if c["name"] == "cortex_oidc_binding"], "cookie cleared"
    await tab.shot("oidc-2-signed-in-with-a-one-time-code")

    # The same code, carried to another browser (or replayed), opens nothing there.
    other = (await new_tab()).page
    await other.goto(base + location)
    notice = other.get_by_role("status").filter(has_text="Signing in with your identity provider failed")
    await expect(notice).to_contain_text("log in again")
    assert await other.evaluate(SESSION_TOKEN) is None
    assert "login_code" not in other.url
