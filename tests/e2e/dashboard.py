"""What the dashboard's browser tests share: signing in through the login form."""

from __future__ import annotations

from playwright.async_api import Page, expect

from tests.integration.accounts import Account


async def sign_in(page: Page, base_url: str, account: Account) -> None:
    """Log in with the dashboard's form; returns once the signed-in shell (its left nav) shows."""
    await page.goto(base_url + "/dashboard#/login")
    await page.get_by_test_id("login-email").fill(account.email)
    await page.get_by_test_id("login-password").fill(account.password)
    await page.get_by_test_id("login-submit").click()
    await expect(page.get_by_test_id("nav-bots")).to_be_visible()
