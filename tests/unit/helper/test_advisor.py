"""The helper's live decision: experiment arm or bandit pick, phrased as a short hidden instruction."""

from __future__ import annotations

import numpy as np
import pytest

from cortex.contracts.guidance import HistoryTurn
from cortex.helper.advisor import Advisor, Experiment, Pattern, phrase
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
