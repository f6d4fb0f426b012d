"""An owner runs the helper from the dashboard: patterns with their statistics, ranked by the lower
bound of their interval; an experiment started from the form, its live results with the verdict in
words, and its winner promoted; and, in a conversation, what the helper saw and advised under the
bot's reply. Bad input gets a clear error next to the field, never a blank page.

Statistics and experiment visitors come from the helper's own tables, written here as its consumer
writes them (credited pattern statistics; applications of an experiment's arms in conversations
that closed): reaching 300 closed conversations per arm through real chats would take the suite
many minutes. The chat turn of the last test is real, through the gateway.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime, timedelta

import httpx
from playwright.async_api import expect

from cortex.helper.bandit import wilson_interval
from cortex.knowledge.teach import teach_documents
from cortex.models.embedder import LocalEmbed
from cortex.settings import Settings
from tests.e2e.dashboard import sign_in
from tests.integration.accounts import Account, register
from tests.integration.chatting import eventually, make_bot, make_pattern, visitor_of
from tests.integration.db import service_conn
from tests.stack_fixtures import RunningStack

PRICING = "Answer the pricing question, then offer a demo slot."


def _percent(value: float) -> str:
    """As the dashboard writes a rate (Intl percent, at most one decimal)."""
    return f"{value * 100:.1f}".removesuffix(".0") + "%"


async def test_patterns_are_ranked_by_their_intervals_lower_bound_and_bad_input_is_explained(
    http: httpx.AsyncClient, running_stack: RunningStack, settings: Settings, new_tab, tmp_path
) -> None:
    owner = await register(http)
    bot = await make_bot(http, owner, name="Shop helper")
    tab = await new_tab()
    page = tab.page
    await sign_in(page, running_stack.url, owner)
    await page.get_by_test_id("nav-helper").click()
    await page.get_by_test_id("helper-bot-filter").select_option(bot["id"])

    # The bot's helper settings: on, optimising resolutions until the owner says otherwise.
    await expect(page.get_by_test_id("helper-enabled")).to_be_checked()
    await expect(page.get_by_test_id("helper-goal")).to_have_value("resolution")
    await expect(page.locator(".helper-settings")).not_to_contain_text("null")

    # A pattern from the form: it is listed at once, with no outcomes yet.
    await page.get_by_test_id("pattern-name-input").fill("Demo after price")
    await page.get_by_test_id("pattern-intent").select_option("pricing")
    await page.get_by_test_id("pattern-stage").select_option("consideration")
    await page.get_by_test_id("pattern-instruction-input").fill(PRICING)
    await page.get_by_test_id("pattern-example").fill("How much is the Pro plan?")
    await page.get_by_test_id("create-pattern").click()
    demo = page.get_by_test_id("pattern-row").filter(has_text="Demo after price")
    await expect(demo.get_by_test_id("pattern-status")).to_have_text("active")
    await expect(demo.get_by_test_id("pattern-instruction")).to_have_text(PRICING)
    await expect(demo).to_contain_text("Pricing question · Comparing")
    await expect(demo.get_by_test_id("pattern-uses")).to_have_text("0")
    await expect(demo.get_by_test_id("pattern-rate")).to_contain_text("no outcomes yet")

    # An instruction too short to steer anything: the reason is in the banner and beside the field.
    await page.get_by_test_id("pattern-name-input").fill("Be nice")
    await page.get_by_test_id("pattern-instruction-input").fill("Be nice")
    await page.get_by_test_id("create-pattern").click()
    banner = page.get_by_test_id("error-banner")
    await expect(banner).to_contain_text("Could not add the pattern")
    instruction_field = page.locator(".field").filter(has=page.get_by_test_id("pattern-instruction-input"))
    await expect(instruction_field.locator(".field-error")).to_be_visible()
    await expect(page.get_by_test_id("pattern-instruction-input")).to_have_attribute("aria-invalid", "true")
    await expect(page.get_by_test_id("pattern-row")).to_have_count(1)  # the page is all there

    # An import with one wrong row imports nothing and names the row; the corrected file imports all.
    rows = [
        {"name": "Lucky", "intent": "pricing", "instruction": "Mention the yearly discount first."},
        {"name": "Haggle", "intent": "haggling", "instruction": "Offer ten percent off at once."},
    ]
    bad = tmp_path / "patterns-bad.json"
    bad.write_text(json.dumps(rows))
    await page.get_by_test_id("pattern-import-file").set_input_files(str(bad))
    await page.get_by_test_id("pattern-import").click()
    result = page.get_by_test_id("pattern-import-result")
    await expect(result.get_by_test_id("pattern-import-error")).to_contain_text("Nothing was imported")
    await expect(result.get_by_test_id("pattern-import-errors")).to_contain_text("row 2, intent")
    await expect(page.get_by_test_id("pattern-row")).to_have_count(1)
    rows[1]["intent"] = "pricing"
    good = tmp_path / "patterns.json"
    good.write_text(json.dumps(rows))
    await page.get_by_test_id("pattern-import-file").set_input_files(str(good))
    await page.get_by_test_id("pattern-import").click()
    await expect(result.get_by_test_id("pattern-import-done")).to_have_text("Imported 2 patterns.")
    await expect(page.get_by_test_id("pattern-row")).to_have_count(3)

    # Outcomes credited (as the helper's consumer credits closed conversations): Lucky helped its only
    # conversation, Demo after price 80 of 100. The raw rate favours Lucky; its interval does not.
    ids = {
        name: await page.get_by_test_id("pattern-row").filter(has_text=name).get_attribute("data-pattern-id")
        for name in ("Lucky", "Demo after price")
    }
    async with service_conn(settings, "helper") as conn:
        await conn.executemany(
            "INSERT INTO pattern_stats (workspace_id, pattern_id, situation, uses, resolutions)"
            " VALUES ($1, $2, $3, $4, $5)",
            [
                (uuid.UUID(owner.workspace_id), uuid.UUID(ids["Lucky"]), "pricing/consideration", 1, 1),
                (uuid.UUID(owner.workspace_id), uuid.UUID(ids["Demo after price"]), "pricing/consideration", 100, 80),
            ],
        )
    await page.reload()
    first = page.get_by_test_id("pattern-row").first
    await expect(first.get_by_test_id("pattern-name")).to_have_text("Demo after price")
    lower, upper = wilson_interval(80, 100)
    await expect(first.get_by_test_id("pattern-uses")).to_contain_text("100")
    await expect(first.get_by_test_id("pattern-rate")).to_contain_text(f"80% {_percent(lower)}–{_percent(upper)}")
    await expect(first.get_by_test_id("pattern-rate")).to_have_attribute(
        "aria-label", f"Success rate 80% (95% interval {_percent(lower)} to {_percent(upper)})"
    )
    # Drawn: the band spans the interval on the 0–100 % track, the tick sits at the rate.
    band = first.get_by_test_id("pattern-rate").locator(".ci-band")
    left, width = await band.evaluate("band => [parseFloat(band.style.left), parseFloat(band.style.width)]")
    assert abs(left - lower * 100) < 0.01 and abs(left + width - upper * 100) < 0.01, (left, width)
    tick = await first.get_by_test_id("pattern-rate").locator(".ci-point").evaluate("t => parseFloat(t.style.left)")
    assert abs(tick - 80) < 0.01, tick
    lucky = page.get_by_test_id("pattern-row").filter(has_text="Lucky")
    await expect(lucky.get_by_test_id("pattern-rate")).to_contain_text("100%")
    await expect(page.get_by_test_id("pattern-row").nth(1).get_by_test_id("pattern-name")).to_have_text("Lucky")

    # Retired: it stays listed with its record, and the bot no longer gets it.
    await lucky.get_by_test_id("pattern-retire").click()
    await expect(lucky.get_by_test_id("pattern-status")).to_have_text("retired")
    listed = await http.get("/api/helper/patterns", params={"status": "active"}, headers=owner.headers)
    assert {p["name"] for p in listed.json()} == {"Demo after price", "Haggle"}

    # Mining on request: the run is listed with its status and followed (the button waits for it).
    await expect(page.get_by_test_id("mining-state")).to_contain_text("No mining run yet")
    await page.get_by_test_id("start-mining").click()
    await expect(page.get_by_test_id("mining-status")).to_have_text(re.compile("^(queued|running|succeeded)$"))

    # The goal changes what counts as success.
    await page.get_by_test_id("helper-goal").select_option("lead")
    await page.get_by_test_id("save-helper-settings").click()
    await expect(page.get_by_role("status").filter(has_text="Saved.")).to_be_visible()
    settings_now = await http.get(f"/api/helper/bots/{bot['id']}/settings", headers=owner.headers)
    assert settings_now.json()["goal"] == "lead"
    # Demo after price's 100 conversations brought no lead: its statistics now say so.
    demo_rate = page.get_by_test_id("pattern-row").filter(has_text="Demo after price").get_by_test_id("pattern-rate")
    await expect(demo_rate).to_contain_text("0% 0%–")
    await page.get_by_test_id("pattern-row").first.scroll_into_view_if_needed()
    await tab.shot("dashboard-helper-patterns")
    assert not [line for line in tab.errors if "status of 4" not in line], tab.errors


async def _closed_visitors(
    settings: Settings, owner: Account, bot: dict, experiment_id: str, arms: dict[str, tuple[int, int]]
) -> None:
    """Per arm, (visitors, converted in 10): visitors whose conversation carried the experiment's
    guidance and closed, a lead captured in that many of every 10 (what the consumer records from
    core's events). The arms' visitors close in turn, so every look the test takes sees the same rates."""
    workspace_id, bot_id = uuid.UUID(owner.workspace_id), uuid.UUID(bot["id"])
    start = datetime.now(UTC)
    conversations, applications = [], []
    for i in range(max(visitors for visitors, _ in arms.values())):
        for position, (arm, (visitors, per_ten)) in enumerate(arms.items()):
            if i >= visitors:
                continue
            conversation_id = uuid.uuid4()
            outcomes = ["lead_captured"] if i % 10 < per_ten else []
            closed_at = start + timedelta(milliseconds=len(arms) * i + position)
            visitor = f"v-{arm}-{i}-{uuid.uuid4().hex[:6]}"
            outcome = outcomes[0] if outcomes else "abandoned"
            conversations.append((conversation_id, workspace_id, bot_id, visitor, outcomes, outcome, closed_at))
            situation = "pricing/consideration"
            applications.append(
                (uuid.uuid4(), workspace_id, conversation_id, bot_id, uuid.UUID(experiment_id), arm, situation)
            )
    async with service_conn(settings, "helper") as conn:
        await conn.executemany(
            "INSERT INTO conversations"
            " (conversation_id, workspace_id, bot_id, visitor_id, outcomes, outcome, closed_at)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7)",
            conversations,
        )
        await conn.executemany(
            "INSERT INTO applications"
            " (message_id, workspace_id, conversation_id, bot_id, experiment_id, arm, situation)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7)",
            applications,
        )


async def test_an_experiment_started_in_the_dashboard_shows_its_live_results_and_its_winner_is_promoted(
    http: httpx.AsyncClient, running_stack: RunningStack, settings: Settings, new_tab
) -> None:
    owner = await register(http)
    bot = await make_bot(http, owner, name="Shop helper")
    short = await make_pattern(
        http,
        owner,
        name="Short answer",
        bot_id=bot["id"],
        intent="pricing",
        instruction="Give the price in one sentence.",
        status="candidate",
    )
    demo = await make_pattern(
        http, owner, name="Demo offer", bot_id=bot["id"], intent="pricing", instruction=PRICING, status="candidate"
    )
    tab = await new_tab()
    page = tab.page
    await sign_in(page, running_stack.url, owner)
    await page.goto(f"{running_stack.url}/dashboard#/helper/experiments?bot_id={bot['id']}")

    await page.get_by_test_id("experiment-name").fill("Demo offer after pricing")
    await page.get_by_test_id("experiment-intent").select_option("pricing")
    # Two addenda too short to say anything: the server's reasons land beside them.
    await page.get_by_test_id("experiment-kind-addenda").check()
    await page.get_by_test_id("experiment-addendum-a").fill("Be brief")
    await page.get_by_test_id("experiment-addendum-b").fill("Be warmer and end with a question.")
    await page.get_by_test_id("start-experiment").click()
    await expect(page.get_by_test_id("error-banner")).to_contain_text("Could not start the experiment")
    await expect(page.get_by_test_id("experiment-addendum-a")).to_have_attribute("aria-invalid", "true")
    # Pattern A vs B with no pattern for A: the form says which one is missing.
    await page.get_by_test_id("experiment-kind-patterns").check()
    await page.get_by_test_id("experiment-pattern-b").select_option(demo["id"])
    await page.get_by_test_id("start-experiment").click()
    await expect(page.get_by_test_id("error-banner")).to_contain_text("The experiment needs its variants filled in.")
    await expect(page.locator(".field-error")).to_have_text(["Choose the pattern A gives the bot."])

    await page.get_by_test_id("experiment-pattern-a").select_option(short["id"])
    await page.get_by_test_id("experiment-metric").select_option("lead")
    await page.get_by_test_id("start-experiment").click()
    results = page.get_by_test_id("experiment-results")
    await expect(results).to_be_visible()
    await expect(page.get_by_test_id("experiment-status")).to_contain_text("running")
    await expect(results.get_by_test_id("experiment-verdict")).to_contain_text("Not enough data yet: ~")
    await expect(results.get_by_test_id("experiment-verdict")).to_contain_text("more visitors per arm")
    await expect(results.get_by_test_id("experiment-arm")).to_have_count(2)
    await expect(results.get_by_test_id("arm-visitors")).to_have_text(["0", "0"])
    await expect(results.get_by_test_id("experiment-effect")).to_be_visible()
    experiment_id = page.url.split("/helper/experiments/")[1].split("?")[0]
    await tab.shot("dashboard-helper-experiment-new")

    # Visitors' conversations close: 300 per arm, B converting three times as often. The open page
    # refreshes itself and says who wins, by how much, and how sure that is.
    await _closed_visitors(settings, owner, bot, experiment_id, {"A": (300, 1), "B": (300, 4)})
    verdict = results.get_by_test_id("experiment-verdict")
    # The test stops at its first look with 200 visitors per arm (10 % vs 40 %): +300 % relative.
    await expect(verdict).to_have_text(re.compile(r"B wins: \+300% leads \(95% CI \+\d+% to \+\d+%\)"), timeout=20_000)
    await expect(results.get_by_test_id("arm-visitors")).to_have_text(["300", "300"])
    await expect(results.get_by_test_id("arm-conversions")).to_have_text(["30", "120"])
    # The effect's interval is drawn clear of zero.
    await expect(results.locator(".effect-band-sure")).to_have_count(1)
    await tab.shot("dashboard-helper-experiment-winner")

    # Promoted: the experiment stops with B the winner; B's pattern is live, A's retired.
    await results.get_by_test_id("promote-arm").select_option("B")
    await results.get_by_test_id("promote-experiment").click()
    await page.get_by_test_id("confirm-ok").click()
    await expect(page.get_by_test_id("experiment-status")).to_contain_text("stopped")
    await expect(page.get_by_test_id("experiment-status")).to_contain_text("winner: B")
    patterns = {p["name"]: p["status"] for p in (await http.get("/api/helper/patterns", headers=owner.headers)).json()}
    assert patterns == {"Short answer": "retired", "Demo offer": "active"}, patterns

    # The list says the same.
    await page.goto(f"{running_stack.url}/dashboard#/helper/experiments?bot_id={bot['id']}")
    row = page.get_by_test_id("experiment-row").filter(has_text="Demo offer after pricing")
    await expect(row).to_contain_text("B wins: +300% leads")
    assert not [line for line in tab.errors if "status of 4" not in line], tab.errors


async def test_a_conversation_shows_what_the_helper_saw_and_advised_under_the_bots_reply(
    http: httpx.AsyncClient, running_stack: RunningStack, settings: Settings, new_tab
) -> None:
    owner = await register(http)
    bot = await make_bot(http, owner, name="Shop helper", llm={"backend": "auto"})  # the stack's stand-in LLM
    await teach_documents(
        settings,
        workspace_id=uuid.UUID(owner.workspace_id),
        bot_id=uuid.UUID(bot["id"]),
        documents=[{"id": "prices", "title": "Plans and prices", "text": "The Pro plan costs 30 euros per month."}],
        embed=LocalEmbed(),
    )
    await make_pattern(http, owner, name="Demo after price", bot_id=bot["id"], intent="pricing", instruction=PRICING)
    visitor = await visitor_of(http, owner, bot)

    async def logged(conversation_id: str) -> dict | None:
        view = await http.get(f"/api/helper/conversations/{conversation_id}", headers=owner.headers)
        assert view.status_code in (200, 404), view.text
        body = view.json() if view.status_code == 200 else {}
        return body if body.get("turns") and body.get("applications") else None

    # The Guide's cache of the bot's patterns refreshes every few seconds: a turn right after the
    # pattern was added may go unguided, so the visitor asks again until one is guided.
    answer = None
    for _ in range(4):
        said = await visitor.say("How much does the Pro plan cost per month?")
        try:
            view = await eventually(
                lambda conversation_id=said["conversation_id"]: logged(conversation_id),
                within_s=5,
                what="the helper's record",
            )
        except AssertionError:
            continue
        if any(a["pattern_id"] for a in view["applications"]):
            answer = said
            break
    assert answer is not None, "no turn was guided by the pattern"
    # The visitor's own answer says nothing of it.
    assert not {"pattern_id", "experiment_id", "arm", "situation", "no_guidance"} & set(answer), answer

    tab = await new_tab()
    page = tab.page
    await sign_in(page, running_stack.url, owner)
    await page.goto(f"{running_stack.url}/dashboard#/conversations/{answer['conversation_id']}")
    reply = page.locator('[data-testid="message"][data-role="bot"]').last
    advice = reply.get_by_test_id("helper-advice")
    await expect(advice.get_by_test_id("helper-summary")).to_contain_text("Pricing question")
    await expect(advice.get_by_test_id("helper-summary")).to_contain_text("guided by “Demo after price”")
    await advice.locator("summary").click()
    await expect(advice.get_by_test_id("helper-intent")).to_contain_text("Pricing question")
    await expect(advice.get_by_test_id("helper-stage")).to_contain_text("consideration")
    await expect(advice.get_by_test_id("helper-sentiment")).to_be_visible()
    await expect(advice.get_by_test_id("helper-missing")).to_be_visible()
    await expect(advice.get_by_test_id("helper-guidance")).to_contain_text("Demo after price")
    # Only bot replies carry it; the visitor's message does not.
    await expect(
        page.locator('[data-testid="message"][data-role="visitor"] [data-testid="helper-advice"]')
    ).to_have_count(0)
    await tab.shot("dashboard-helper-conversation")
    assert not [line for line in tab.errors if "status of 4" not in line], tab.errors
