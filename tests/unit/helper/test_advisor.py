"""The helper's live decision: experiment arm or bandit pick, phrased as a short hidden instruction."""

from __future__ import annotations

import numpy as np
import pytest

from cortex.contracts.guidance import Guidance, HistoryTurn
from cortex.helper.advisor import Advisor, Experiment, Pattern, bandit_state, phrase
from cortex.helper.analysis import Analyser, Analysis
from cortex.helper.bandit import Bandit
from cortex.models.embedder import Embedder

PATTERNS = [
    Pattern("price-then-demo", "Answer the pricing question, then offer a demo slot.", intent="pricing"),
    Pattern("price-compare", "Compare the two closest plans in one sentence each.", intent="pricing"),
    Pattern("old-pricing", "Mention the 2019 price list.", intent="pricing", status="retired"),
    Pattern("book-confirm", "Confirm the service and propose two times.", intent="booking"),
]


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return Embedder()


@pytest.fixture(scope="module")
def analyser() -> Analyser:
    return Analyser()


def advisor(
    analyser: Analyser,
    patterns: list[Pattern] = PATTERNS,
    *,
    experiments: tuple[Experiment, ...] = (),
    candidate_share: float = 0.1,
) -> Advisor:
    bandit = Bandit(rng=np.random.default_rng(0), candidate_share=candidate_share)
    return Advisor(patterns=patterns, experiments=experiments, analyser=analyser, bandit=bandit)


def test_a_pricing_question_gets_one_of_the_active_pricing_strategies(analyser: Analyser, embedder: Embedder) -> None:
    message = "How much does the business plan cost per month?"
    chosen = set()
    helper = advisor(analyser)
    for _ in range(50):
        advice = helper.advise(message, embedding=embedder.encode([message])[0])
        assert advice.analysis.intent == "pricing"
        chosen.add(advice.guidance.pattern_id)
        assert advice.guidance.text
    assert chosen == {"price-then-demo", "price-compare"}  # both explored, the retired one never


def test_an_experiment_gives_each_visitor_a_sticky_arm_and_records_it(analyser: Analyser, embedder: Embedder) -> None:
    experiment = Experiment(
        "exp-pricing",
        split=(("control", 1.0), ("guided", 1.0)),
        arm_patterns={"control": None, "guided": "price-then-demo"},
        intent="pricing",
    )
    helper = advisor(analyser, experiments=(experiment,))
    message = "What's the price of the pro plan?"
    embedding = embedder.encode([message])[0]
    arms = {}
    for visitor in range(40):
        first = helper.advise(message, embedding=embedding, visitor_id=f"v{visitor}").guidance
        again = helper.advise(message, embedding=embedding, visitor_id=f"v{visitor}").guidance
        assert first == again and first.experiment_id == "exp-pricing"
        arms[visitor] = first.arm
        if first.arm == "control":
            assert first.empty and first.pattern_id is None  # no guidance, but the arm is recorded
        else:
            assert first.pattern_id == "price-then-demo" and "demo slot" in first.text
    assert set(arms.values()) == {"control", "guided"}
    # A turn outside the experiment's situation is left to the bandit.
    booking = "I'd like to book a cleaning on Friday"
    outside = helper.advise(booking, embedding=embedder.encode([booking])[0], visitor_id="v1").guidance
    assert outside.experiment_id is None and outside.pattern_id == "book-confirm"


def test_a_candidate_is_advised_only_through_exploration(analyser: Analyser, embedder: Embedder) -> None:
    patterns = [Pattern("new-idea", "Offer a free trial.", intent="pricing", status="candidate")]
    message = "How much is it?"
    embedding = embedder.encode([message])[0]
    closed = advisor(analyser, patterns, candidate_share=0.0)
    assert all(closed.advise(message, embedding=embedding).guidance.empty for _ in range(100))
    open_ = advisor(analyser, patterns, candidate_share=0.2)
    advice = [open_.advise(message, embedding=embedding) for _ in range(500)]
    tried = [a for a in advice if not a.guidance.empty]
    assert 0.1 < len(tried) / len(advice) < 0.3 and all(a.candidate for a in tried)


def test_the_instruction_puts_calming_first_and_the_missing_facts_last(analyser: Analyser, embedder: Embedder) -> None:
    history = [HistoryTurn("visitor", "can I book a massage"), HistoryTurn("bot", "Sure, when?")]
    message = "I ALREADY ASKED, can I book a massage?? still no answer"
    analysis = analyser.analyse(message, embedding=embedder.encode([message])[0], history=history)
    text = phrase("Confirm the service and propose two times.", analysis)
    assert text.startswith("The visitor is frustrated")
    assert text.endswith("Still missing: time, name, email; ask for one of them.")


def test_guidance_stays_short() -> None:
    calm = Analysis("support", 0.9, "consideration", 0.0, 0.0, 0.0, 0.0, 0.0)
    assert len(phrase("x" * 1000, calm)) == 400


def test_every_guidance_names_its_situation_and_an_empty_one_says_why(analyser: Analyser, embedder: Embedder) -> None:
    message = "How much does the business plan cost per month?"
    embedding = embedder.encode([message])[0]
    picked = advisor(analyser).advise(message, embedding=embedding).guidance
    assert picked.situation == "pricing/consideration" and picked.reason is None and picked.pattern_id
    nothing = advisor(analyser, [PATTERNS[3]]).advise(message, embedding=embedding).guidance
    assert (nothing.text, nothing.pattern_id, nothing.reason) == ("", None, "no_pattern")
    assert nothing.situation == "pricing/consideration", "the situation is known even with no pattern for it"


def test_a_bot_the_helper_is_off_for_is_analysed_and_told_nothing(analyser: Analyser, embedder: Embedder) -> None:
    message = "How much does the business plan cost per month?"
    experiment = Experiment("exp", split=(("a", 1.0),), arm_patterns={"a": "price-compare"})
    off = Advisor(patterns=PATTERNS, experiments=(experiment,), analyser=analyser, enabled=False)
    advice = off.advise(message, embedding=embedder.encode([message])[0], visitor_id="v1")
    assert advice.analysis.intent == "pricing"
    assert advice.guidance == Guidance(situation="pricing/consideration", reason="helper_off")


def test_addendum_arms_and_a_control_arm(analyser: Analyser, embedder: Embedder) -> None:
    arms = [
        {"name": "control", "weight": 1, "pattern_id": None, "addendum": None},
        {"name": "short", "weight": 1, "pattern_id": None, "addendum": "Answer in at most two sentences."},
        {"name": "demo+", "weight": 1, "pattern_id": "price-then-demo", "addendum": "Mention the free trial."},
    ]
    experiment = Experiment.from_arms("exp-addenda", arms, intent="pricing")
    assert experiment.split == (("control", 1.0), ("short", 1.0), ("demo+", 1.0))
    helper = advisor(analyser, experiments=(experiment,))
    message = "What's the price of the pro plan?"
    embedding = embedder.encode([message])[0]
    seen = {}
    for visitor in range(60):
        guidance = helper.advise(message, embedding=embedding, visitor_id=f"visitor-{visitor}").guidance
        assert guidance.experiment_id == "exp-addenda" and guidance.situation == "pricing/consideration"
        seen[guidance.arm] = guidance
    assert set(seen) == {"control", "short", "demo+"}
    control, short, both = seen["control"], seen["short"], seen["demo+"]
    assert (control.text, control.pattern_id, control.reason) == ("", None, "control")
    assert short.text.startswith("Answer in at most two sentences.") and short.pattern_id is None
    assert short.reason is None and both.pattern_id == "price-then-demo" and both.reason is None
    assert both.text.startswith("Answer the pricing question, then offer a demo slot. Mention the free trial.")


def test_an_arm_whose_pattern_is_gone_records_the_arm_and_no_pattern(analyser: Analyser, embedder: Embedder) -> None:
    experiment = Experiment("exp", split=(("a", 1.0),), arm_patterns={"a": "deleted-pattern"})
    message = "What's the price of the pro plan?"
    guidance = (
        advisor(analyser, experiments=(experiment,))
        .advise(message, embedding=embedder.encode([message])[0], visitor_id="v")
        .guidance
    )
    assert (guidance.experiment_id, guidance.arm, guidance.text, guidance.reason) == ("exp", "a", "", "no_pattern")


@pytest.mark.parametrize(("goal", "successes", "failures"), [("resolution", 6, 4), ("lead", 3, 7), ("booking", 1, 9)])
def test_the_bandit_counts_the_successes_of_the_bots_goal(goal: str, successes: int, failures: int) -> None:
    row = {"pattern_id": "p1", "situation": "pricing/consideration", "uses": 10, "resolutions": 6, "leads": 3}
    state = bandit_state([{**row, "bookings": 1}], goal)  # type: ignore[arg-type]
    counts = state.stats[("pricing/consideration", "p1")]
    assert (counts.successes, counts.failures) == (successes, failures)


def test_the_goal_steers_the_pick(analyser: Analyser, embedder: Embedder) -> None:
    """One pattern resolves conversations, the other brings leads: each goal's bandit prefers its own."""
    stats = [
        {
            "pattern_id": "price-then-demo",
            "situation": "pricing/consideration",
            "uses": 200,
            "resolutions": 150,
            "leads": 10,
            "bookings": 0,
        },
        {
            "pattern_id": "price-compare",
            "situation": "pricing/consideration",
            "uses": 200,
            "resolutions": 60,
            "leads": 90,
            "bookings": 0,
        },
    ]
    message = "How much does the business plan cost per month?"
    embedding = embedder.encode([message])[0]
    for goal, best in (("resolution", "price-then-demo"), ("lead", "price-compare")):
        bandit = Bandit(rng=np.random.default_rng(1), state=bandit_state(stats, goal))  # type: ignore[arg-type]
        helper = Advisor(patterns=PATTERNS, analyser=analyser, bandit=bandit)
        picks = [helper.advise(message, embedding=embedding).guidance.pattern_id for _ in range(200)]
        assert picks.count(best) > 190, (goal, picks.count(best))
