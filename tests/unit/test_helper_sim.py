"""bench/helper_sim.py's pieces: the population (each question lands in its situation with the shipped
classifier, visitors drawn by weight, the hidden table read as written), the outcome draws, and the
intervals the proof is judged by (they cover the truth as often as they claim)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bench import helper_sim
from bench.helper_sim import Population, Situation, Strategy
from cortex.helper.analysis import Analyser
from cortex.models.embedder import Embedder


def test_every_question_lands_in_its_situation_with_the_shipped_classifier() -> None:
    """The population's situations are the helper's own: a question the analyser put elsewhere would
    be advised another situation's patterns, and the simulation would measure the classifier, not learning."""
    embedder, analyser = Embedder(), Analyser()
    misplaced = []
    for situation in Population().situations.values():
        vectors = embedder.embed(list(situation.questions))
        for question, vector in zip(situation.questions, vectors, strict=True):
            found = analyser.analyse(question, embedding=vector).situation
            if found != situation.key:
                misplaced.append((question, situation.key, found))
    assert misplaced == []


def test_visitors_come_in_the_situations_proportions_with_their_own_questions() -> None:
    population = Population()
    rng = np.random.default_rng(7)
    visitors = [population.draw(rng) for _ in range(20_000)]
    for key, situation in population.situations.items():
        share = sum(v.situation == key for v in visitors) / len(visitors)
        assert share == pytest.approx(situation.weight, abs=0.015), key
    assert all(v.question in population.situations[v.situation].questions for v in visitors)


def test_the_hidden_table_is_read_as_written() -> None:
    population = Population()
    pricing = population.situations["pricing/consideration"]
    assert population.converts("pricing/consideration", None) == pricing.no_guidance
    assert population.converts("pricing/consideration", "price-then-demo") == 0.30
    # A strategy of another situation (or an unknown one) does nothing for this visitor.
    assert population.converts("pricing/consideration", "confirm-and-offer-slots") == pricing.no_guidance
    assert population.converts("account/retention", "price-then-demo") == 0.06


def test_only_learning_can_lift_conversion() -> None:
    """Strategies picked at random convert about as well as no guidance: a lift in the live run
    comes from learning which strategy works, not from guidance being good on average."""
    rates = Population().rates()
    assert rates["random_strategy"] == pytest.approx(rates["no_guidance"], abs=0.005)
    assert rates["best_strategy"] / rates["no_guidance"] - 1 > 0.2
    for situation in Population().situations.values():
        if situation.strategies:
            assert any(s.converts < situation.no_guidance for s in situation.strategies), situation.key
            assert any(s.converts > situation.no_guidance for s in situation.strategies), situation.key


@pytest.mark.parametrize(
    ("situations", "problem"),
    [
        ((Situation("a/b", 0.5, ("q",), 0.1),), "sum to"),
        ((Situation("a/b", 1.0, ("q",), 1.5),), "outside"),
        ((Situation("a/b", 1.0, ("q",), 0.1, (Strategy("s", "x", 0.2), Strategy("s", "y", 0.3))),), "repeat"),
        ((Situation("a/b", 1.0, (), 0.1),), "no questions"),
    ],
)
def test_a_wrong_population_is_refused(situations: tuple[Situation, ...], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        Population(situations)


def test_a_visitors_decision_is_its_own_and_converts_at_its_probability() -> None:
    assert helper_sim.converted(1, "learning", 5, 0.3) == helper_sim.converted(1, "learning", 5, 0.3)
    draws = [helper_sim.converted(1, "learning", i, 0.3) for i in range(20_000)]
    assert sum(draws) / len(draws) == pytest.approx(0.3, abs=0.015)
    other_arm = [helper_sim.converted(1, "no_guidance", i, 0.3) for i in range(20_000)]
    assert draws != other_arm  # the two bots' visitors decide independently
    assert not any(helper_sim.converted(1, "learning", i, 0.0) for i in range(1000))
    assert all(helper_sim.converted(1, "learning", i, 1.0) for i in range(1000))


def test_the_lift_and_its_interval_are_the_textbook_ones() -> None:
    stats = helper_sim.lift_interval(400, 2400, 520, 2400)
    assert stats["relative_lift"] == pytest.approx(0.30, abs=1e-4)
    assert stats["difference"] == pytest.approx(0.05, abs=1e-4)
    se_log = math.sqrt(1 / 520 - 1 / 2400 + 1 / 400 - 1 / 2400)
    assert stats["lift_ci95"][0] == pytest.approx(1.3 * math.exp(-1.959964 * se_log) - 1, abs=1e-4)
    assert stats["lift_ci95"][0] > 0
    boot = helper_sim.bootstrap_lift([True] * 400 + [False] * 2000, [True] * 520 + [False] * 1880, seed=3)
    assert boot[0] == pytest.approx(stats["lift_ci95"][0], abs=0.03)
    assert boot[1] == pytest.approx(stats["lift_ci95"][1], abs=0.03)
    assert helper_sim.lift_interval(0, 100, 5, 100)["lift_ci95"] is None


def test_the_lift_interval_covers_the_true_lift_95_percent_of_the_time() -> None:
    rng = np.random.default_rng(11)
    truth, runs, covered = 0.25, 2000, 0
    for _ in range(runs):
        b, l_ = rng.binomial(2000, 0.16), rng.binomial(2000, 0.16 * (1 + truth))
        low, high = helper_sim.lift_interval(b, 2000, l_, 2000)["lift_ci95"]
        covered += low <= truth <= high
    assert covered / runs == pytest.approx(0.95, abs=0.015)


def test_the_learning_curve_has_a_point_per_block_of_pairs() -> None:
    records = [
        {"pair": pair, "arm": arm, "converted": arm == "learning" and pair >= 200}
        for pair in range(450)
        for arm in ("learning", "no_guidance")
    ]
    curve = helper_sim.learning_curve(records, block=200)
    assert [row["n"] for row in curve] == [200, 200, 50]
    assert [row["learning"] for row in curve] == [0.0, 1.0, 1.0]
    assert all(row["no_guidance"] == 0.0 for row in curve)
    assert curve[1]["pairs"] == [200, 399]


def test_the_same_thompson_sampler_learns_the_best_strategy_in_process() -> None:
    records = helper_sim.simulate_bandit(Population(), pairs=1500, seed=5)
    summary = helper_sim.summarize(records, seed=5)
    pricing = summary["strategy_share"]["pricing/consideration"]
    assert max(pricing, key=pricing.__getitem__) == "price-then-demo"
    assert summary["conversations"] == {"learning": 1500, "no_guidance": 1500}
    late = summary["learning_curve"][-1]
    assert late["learning"] > late["no_guidance"]
    assert summary["relative_lift"] > 0
