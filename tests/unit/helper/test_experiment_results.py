"""An experiment's live results from its units: counts per arm, the mSPRT per arm against the baseline,
the verdict, and the visitors a decision still needs."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from cortex.helper.service.results import MAX_NEEDED, experiment_results, visitors_needed
from cortex.helper.store.experiments import ExperimentUnit

START = datetime(2026, 1, 1, tzinfo=UTC)


def _arms(*names: str) -> list[dict]:
    return [{"name": name, "weight": 1, "pattern_id": None, "addendum": None} for name in names]


def _units(rates: dict[str, float], per_arm: int, *, seed: int = 1) -> list[ExperimentUnit]:
    """Visitors interleaved across arms, each converting with its arm's rate (seeded)."""
    rng = random.Random(seed)
    units = []
    for i in range(per_arm):
        for arm, rate in rates.items():
            units.append(ExperimentUnit(f"{arm}-{i}", arm, START + timedelta(seconds=len(units)), rng.random() < rate))
    return units


def test_no_closed_conversation_yet_is_a_running_experiment_with_empty_arms() -> None:
    results = experiment_results(_arms("A", "B"), [])
    assert results.units == 0 and results.verdict == "continue" and results.winner is None
    assert [(a.visitors, a.conversions, a.lower, a.upper) for a in results.arms] == [(0, 0, 0.0, 1.0)] * 2
    assert results.visitors_needed_per_arm is None and "200 visitors per arm" in results.guidance


def test_a_clear_difference_declares_the_better_arm_with_an_interval_that_excludes_zero() -> None:
    results = experiment_results(_arms("A", "B"), _units({"A": 0.10, "B": 0.30}, 400))
    assert results.verdict == "winner" and results.winner == "B"
    [comparison] = results.comparisons
    assert comparison.ci_low > 0 and comparison.p_value <= 0.05
    assert results.visitors_needed_per_arm is None and results.guidance.startswith("B beats A")


def test_a_worse_treatment_makes_the_baseline_the_winner() -> None:
    results = experiment_results(_arms("A", "B"), _units({"A": 0.30, "B": 0.08}, 400))
    assert results.winner == "A" and results.comparisons[0].ci_high < 0


def test_equal_arms_keep_running_and_say_how_many_visitors_a_verdict_needs() -> None:
    results = experiment_results(_arms("A", "B"), _units({"A": 0.2, "B": 0.2}, 300, seed=7))
    assert results.verdict == "continue" and results.winner is None
    assert results.visitors_needed_per_arm is not None and results.visitors_needed_per_arm > 300


def test_units_in_no_arm_of_the_experiment_are_not_counted() -> None:
    units = [*_units({"A": 0.5, "B": 0.5}, 10), ExperimentUnit("gone", "C", START, True)]
    results = experiment_results(_arms("A", "B"), units)
    assert results.units == 20 and sum(a.visitors for a in results.arms) == 20


def test_the_result_is_the_same_however_often_it_is_computed() -> None:
    units = _units({"A": 0.1, "B": 0.16}, 600, seed=3)
    assert experiment_results(_arms("A", "B"), units) == experiment_results(_arms("A", "B"), units)


def test_with_three_arms_the_best_significant_arm_wins_and_the_test_is_bonferroni_corrected() -> None:
    results = experiment_results(_arms("A", "B", "C"), _units({"A": 0.1, "B": 0.2, "C": 0.35}, 500))
    assert results.winner == "C" and [c.arm for c in results.comparisons] == ["B", "C"]
    assert results.alpha == 0.05


def test_aa_experiments_rarely_declare_a_winner() -> None:
    """Looked at after every visitor, identical arms declare a winner in at most α of the runs."""
    winners = sum(
        experiment_results(_arms("A", "B"), _units({"A": 0.1, "B": 0.1}, 800, seed=seed)).winner is not None
        for seed in range(60)
    )
    assert winners <= 3  # 5 % of 60


def test_visitors_needed_shrinks_with_the_effect() -> None:
    small = visitors_needed_for(0.10, 0.12)
    large = visitors_needed_for(0.10, 0.20)
    assert 200 <= large < small < MAX_NEEDED


def visitors_needed_for(base: float, other: float) -> int:
    results = experiment_results(_arms("A", "B"), _units({"A": base, "B": other}, 50))
    needed = visitors_needed(
        [a.model_copy(update={"visitors": 1000, "conversions": round(1000 * base)}) for a in results.arms],
        [results.comparisons[0].model_copy(update={"effect": other - base})],
        alpha=0.05,
        min_visitors=200,
    )
    assert needed is not None
    return needed
