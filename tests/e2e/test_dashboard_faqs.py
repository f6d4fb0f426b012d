"""An owner teaches FAQs in the dashboard: a question with other ways to ask it, then a bulk import
whose progress the page follows until the FAQs are in (its bad rows listed by line)."""

from __future__ import annotations

import uuid

from playwright.async_api import expect

from tests.stack_fixtures import RunningStack

FAQ_CSV = (
    "question,answer,phrasings\n"
    "Do you deliver on Sundays?,No: Monday to Saturday only.,Is there Sunday delivery?|Can I get it on a Sunday?\n"
    "Hi,Too short a question.,\n"
    'Can I pay by invoice?,"Yes, for businesses.",\n'
)


async def test_faq_phrasings_and_an_import_followed_to_the_end_in_the_dashboard(
    running_stack: RunningStack, new_tab, tmp_path
) -> None:
    tab = await new_tab()
    page = tab.page
    await page.goto(running_stack.url + "/dashboard")
    await page.get_by_test_id("register-email").fill(f"owner-{uuid.uuid4().hex[:8]}@example.com")
    await page.get_by_test_id("register-password").fill("correct horse battery staple 42")
    await page.get_by_test_id("register-workspace").fill("Acme Bakery")
    await page.get_by_test_id("register-submit").click()
    await page.get_by_test_id("new-bot-name").fill("Bakery helper")
    await page.get_by_test_id("create-bot").click()
    await page.get_by_test_id("tab-knowledge").click()

    # An FAQ with two other ways to ask it (one per line; the question itself is dropped).
    await page.get_by_test_id("faq-question").fill("When do you open?")
    await page.get_by_test_id("faq-answer").fill("Every day at 7am.")
    await page.get_by_test_id("faq-phrasings").fill("What time do you open?\n\nwhen do you OPEN?\nAre you open early?")
    await page.get_by_test_id("add-faq").click()
    row = page.get_by_test_id("faq-row").first  # the only one so far (while edited, its question is in a field)
    await expect(row.get_by_test_id("faq-phrasings-list")).to_have_text(
        "Also asked as: What time do you open? · Are you open early?"
    )
    # Edited: the phrasings come back one per line.
    await row.get_by_test_id("edit-faq").click()
    editor = row.get_by_test_id("faq-edit-phrasings")
    await expect(editor).to_have_value("What time do you open?\nAre you open early?")
    await editor.fill("What time do you open?")
    await row.get_by_role("button", name="Save").click()
    await expect(row.get_by_test_id("faq-phrasings-list")).to_have_text("Also asked as: What time do you open?")

    # A bulk import: the page follows its job until it is done, and lists the row it refused.
    upload = tmp_path / "faqs.csv"
    upload.write_text(FAQ_CSV)
    await page.get_by_test_id("faq-import-file").set_input_files(str(upload))
    await page.get_by_test_id("faq-import").click()
    result = page.get_by_test_id("faq-import-result")
    await expect(result.get_by_test_id("faq-import-status")).to_have_text("ready", timeout=240_000)
    await expect(result).to_contain_text("Imported 2 FAQs; 1 row was rejected:")
    await expect(result.get_by_test_id("faq-import-errors")).to_have_text(
        "line 3: question must be 3–500 characters, it has 2"
    )
    # The list shows the imported FAQs without a reload.
    await expect(page.get_by_test_id("faq-row")).to_have_count(3)
    delivery = page.get_by_test_id("faq-row").filter(has_text="Do you deliver on Sundays?")
    await expect(delivery.get_by_test_id("faq-phrasings-list")).to_contain_text("Is there Sunday delivery?")
    await tab.shot("dashboard-faqs-import")
    assert not tab.errors, tab.errors
