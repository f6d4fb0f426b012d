"""A new owner, using only the dashboard: sign up, create a bot, teach it a file, style it with the
live preview, put its snippet on a test page on another origin, and ask that page's widget
about the file."""

from __future__ import annotations

import re
import time
import uuid

import httpx
from playwright.async_api import expect

from tests.integration.mailbox import link_token, mail_to
from tests.stack_fixtures import RunningStack

from .conftest import HostSite
from .widget import ask, wait_bot_answers, widget_frame

FILE_TEXT = (
    "Acme Plumbing price list.\n\n"
    "A boiler service costs 89 euros and takes about one hour. Emergency call-outs cost 120 euros "
    "and we reach you within two hours, day or night. We cover Dublin and Wicklow."
)


async def test_from_sign_up_to_a_working_bot_on_a_test_page_using_only_the_dashboard(
    http: httpx.AsyncClient, running_stack: RunningStack, host_site: HostSite, new_tab, tmp_path
) -> None:
    tab = await new_tab()
    page = tab.page
    await page.goto(running_stack.url + "/")  # the root sends owners to the dashboard
    assert page.url.endswith("/dashboard") or "/dashboard#" in page.url

    email = f"owner-{uuid.uuid4().hex[:8]}@example.com"
    await page.get_by_test_id("register-email").wait_for()
    await page.get_by_test_id("register-email").fill(email)
    await page.get_by_test_id("register-password").fill("correct horse battery staple 42")
    await page.get_by_test_id("register-workspace").fill("Acme Plumbing")
    await page.get_by_test_id("register-submit").click()
    # Until the owner follows the welcome mail's link, the dashboard says so, and no widget goes live.
    await expect(page.get_by_test_id("unverified-banner")).to_be_visible()
    [welcome] = await mail_to(running_stack.home, email)
    await page.goto(f"{running_stack.url}/dashboard#/verify-email?token={link_token(welcome, 'verify-email')}")
    await expect(page.get_by_test_id("verified")).to_contain_text(f"{email} is verified")
    await page.get_by_role("link", name="Go to the dashboard").click()
    await expect(page.get_by_test_id("unverified-banner")).to_have_count(0)

    await page.get_by_test_id("new-bot-name").fill("Acme helper")
    await page.get_by_test_id("create-bot").click()
    # A new bot answers on `auto`: the installation's LLM endpoint, here the test stack's stand-in
    # (whose fixed answer is about a bakery). The owner picks answers made of their own sentences.
    backend = page.get_by_test_id("llm-backend")
    await expect(backend).to_have_value("auto")
    await backend.select_option("extractive")
    await page.get_by_test_id("save-settings").click()
    await expect(page.get_by_role("status").filter(has_text="Saved.")).to_be_visible()
    await page.get_by_test_id("tab-knowledge").click()
    price_list = tmp_path / "acme-prices.txt"
    price_list.write_text(FILE_TEXT)
    await page.get_by_test_id("file-input").set_input_files(str(price_list))
    await page.get_by_test_id("upload-button").click()
    status = page.get_by_test_id("source-row").filter(has_text="acme-prices.txt").get_by_test_id("source-status")
    await expect(status).to_have_text("ready", timeout=240_000)  # the real ingestion job on Ray
    await tab.shot("dashboard-1-knowledge")

    # Appearance: a new colour shows in the live preview before it is saved.
    await page.get_by_test_id("tab-appearance").click()
    await page.get_by_test_id("appearance-color").evaluate(
        "(input, value) => { input.value = value; input.dispatchEvent(new Event('input', {bubbles: true})); }",
        "#b91c1c",
    )
    preview = page.frame_locator('[data-testid="preview-frame"]').frame_locator("iframe")
    await expect(preview.locator(".header")).to_have_css("background-color", "rgb(185, 28, 28)", timeout=30_000)
    await tab.shot("dashboard-2-appearance-preview")
    await page.get_by_test_id("save-appearance").click()

    # Embed: a key for the test page's origin, and the snippet to paste.
    await page.get_by_test_id("tab-embed").click()
    await page.get_by_test_id("create-widget-key").wait_for()
    await page.wait_for_load_state("networkidle")
    cards = page.get_by_test_id("widget-key")
    if await cards.count() == 0:  # the preview may already have made one
        await page.get_by_test_id("create-widget-key").click()
        await cards.first.wait_for()
        await page.wait_for_load_state("networkidle")
    card = cards.first
    await card.get_by_test_id("origins-input").fill(host_site.origin)
    await card.get_by_test_id("save-origins").click()
    await expect(card.get_by_test_id("origins-input")).to_have_value(host_site.origin)
    snippet = await card.get_by_test_id("embed-snippet").inner_text()
    assert re.fullmatch(
        r'<script src="http://127\.0\.0\.1:\d+/embed\.js" data-bot-key="pk_[\w-]+" async></script>', snippet
    )
    await tab.shot("dashboard-3-embed")
    assert not [line for line in tab.errors if "status of 4" not in line], tab.errors

    visitor = await new_tab()
    url = host_site.add(
        f"/acme-{uuid.uuid4().hex[:6]}.html", f"<!doctype html><title>Acme</title><h1>Acme</h1>{snippet}"
    )
    await visitor.page.goto(url)
    frame = await widget_frame(visitor.page)
    launcher = frame.locator("#launcher")
    await launcher.click()
    header = frame.locator(".header")
    await expect(header).to_have_css("background-color", "rgb(185, 28, 28)")  # the saved colour
    started = time.perf_counter()
    await ask(frame, "How much does a boiler service cost?")
    await wait_bot_answers(frame, 1, timeout_ms=120_000)
    answer = frame.locator("li.message.bot[data-id]").last
    said = await answer.inner_text()
    print(f"dashboard-made bot answered in {time.perf_counter() - started:.1f}s: {said!r}")
    await visitor.shot("dashboard-4-widget-answer")
    assert await answer.locator(".sources").count() == 1, f"an answer with sources, not: {said!r}"
    assert "acme plumbing price list" in (await answer.locator(".sources").inner_text()).lower(), "cites the file"

    # The conversation is there for the owner, in the dashboard.
    await page.goto(running_stack.url + "/dashboard#/conversations")
    await page.get_by_test_id("conversation-row").first.click()
    await expect(page.get_by_test_id("transcript")).to_contain_text("boiler service")
    await tab.shot("dashboard-5-conversation")

    # The owner changes their password from the account menu, and keeps working.
    await page.get_by_test_id("user-menu").click()
    await page.get_by_test_id("account-link").click()
    await page.get_by_test_id("current-password").fill("correct horse battery staple 42")
    await page.get_by_test_id("new-password").fill("an even better passphrase 99")
    await page.get_by_test_id("confirm-password").fill("an even better passphrase 99")
    await page.get_by_test_id("change-password").click()
    await expect(page.get_by_role("status").filter(has_text="Password changed")).to_be_visible()
    await page.goto(running_stack.url + "/dashboard#/bots")
    await expect(page.get_by_test_id("bot-row")).to_have_count(1)  # still signed in, with the new tokens
