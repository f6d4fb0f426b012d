"""An experiment's live results, as pure logic: counts per arm, each arm against the baseline under the
mSPRT (cortex.helper.experiments), the verdict, and how many visitors a decision still needs.

The always-valid p-value is the running minimum over every look, so the results are computed by
replaying the looks: the units (visitors) in the order their first conversation closed, one look
per unit (at most `MAX_LOOKS` evenly spaced looks for a large experiment; fewer looks keep every
guarantee, they only cost a little power). The same data always gives the same results, however
often and whenever an owner opens the page.

With more than two arms each arm is compared with the first (the baseline) at α / (arms − 1)
(Bonferroni), so the chance of any false winner stays within α. The winner is the arm that beats
the baseline by the most among those that beat it significantly; the baseline wins when every
other arm is significantly worse.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from cortex.helper.bandit import wilson_interval
from cortex.helper.experiments import ALPHA, MIN_VISITORS, ArmCounts, Result, SequentialTest
from cortex.helper.schemas import ArmResult, Comparison, ExperimentResults
from cortex.helper.store.experiments import ExperimentUnit

# 2,000 looks: replaying them takes a few milliseconds per comparison, for any number of visitors.
MAX_LOOKS = 2000
# Until there is an effect to judge, the effect the guidance is planned for: a 20 % relative lift
# (the helper's target, issue #19).
PLANNING_LIFT = 0.2
# Visitors per arm past which the estimate says "more than this" (a million: years for most bots).
MAX_NEEDED = 1_000_000


def experiment_results(
    arms: Sequence[Mapping[str, Any]],
    units: Sequence[ExperimentUnit],
    *,
    alpha: float = ALPHA,
    min_visitors: int = MIN_VISITORS,
) -> ExperimentResults:
    """The results of an experiment with these arms (stored form, baseline first) and these units."""
    names = [str(arm["name"]) for arm in arms]
    baseline = names[0]
    per_test_alpha = alpha / max(1, len(names) - 1)
    tests = {
        name: SequentialTest(arms=(baseline, name), alpha=per_test_alpha, min_visitors=min_visitors)
        for name in names[1:]
    }
    counted = [unit for unit in units if unit.arm in names]
    visitors = dict.fromkeys(names, 0)
    conversions = dict.fromkeys(names, 0)
    looked: dict[str, Result] = {}
    step = max(1, math.ceil(len(counted) / MAX_LOOKS))
    for index, unit in enumerate(counted, start=1):
        visitors[unit.arm] += 1
        conversions[unit.arm] += int(unit.converted)
        if index % step == 0 or index == len(counted):
            base = ArmCounts(visitors[baseline], conversions[baseline])
            for name, test in tests.items():
                looked[name] = test.look(base, ArmCounts(visitors[name], conversions[name]))
    if not counted:  # no look yet: every comparison at its start
        for name, test in tests.items():
            looked[name] = test.look(ArmCounts(0, 0), ArmCounts(0, 0))

    comparisons = [
        Comparison(
            arm=name,
            baseline=baseline,
            effect=round(result.effect, 6),
            relative_lift=None if result.relative_lift is None else round(result.relative_lift, 6),
            ci_low=round(result.ci[0], 6),
            ci_high=round(result.ci[1], 6),
            p_value=round(result.p_value, 6),
            decision="winner" if result.decision == "winner" else "continue",
            winner=result.winner,
        )
        for name, result in looked.items()
    ]
    winner = _winner(baseline, comparisons)
    arm_results = []
    for arm in arms:
        name = str(arm["name"])
        lower, upper = wilson_interval(conversions[name], visitors[name])
        arm_results.append(
            ArmResult(
                name=name,
                pattern_id=arm.get("pattern_id"),
                addendum=arm.get("addendum"),
                weight=float(arm["weight"]),
                visitors=visitors[name],
                conversions=conversions[name],
                rate=round(conversions[name] / visitors[name], 6) if visitors[name] else 0.0,
                lower=round(lower, 6),
                upper=round(upper, 6),
            )
        )
    needed = (
        None if winner else visitors_needed(arm_results, comparisons, alpha=per_test_alpha, min_visitors=min_visitors)
    )
    return ExperimentResults(
        units=len(counted),
        alpha=alpha,
        min_visitors=min_visitors,
        arms=arm_results,
        comparisons=comparisons,
        verdict="winner" if winner else "continue",
        winner=winner,
        visitors_needed_per_arm=needed,
        guidance=_guidance(arm_results, comparisons, winner, needed, min_visitors),
    )


def _winner(baseline: str, comparisons: Sequence[Comparison]) -> str | None:
    better = [c for c in comparisons if c.decision == "winner" and c.winner == c.arm]
    if better:
        return max(better, key=lambda c: (c.effect, -c.p_value)).arm
    if comparisons and all(c.decision == "winner" and c.winner == baseline for c in comparisons):
        return baseline
    return None


def visitors_needed(
    arms: Sequence[ArmResult], comparisons: Sequence[Comparison], *, alpha: float, min_visitors: int
) -> int | None:
    """Visitors per arm at which the always-valid interval would exclude 0, if the observed rates held
    (the largest observed effect; with none yet, a 20 % relative lift on the baseline's rate). None
    while the baseline has no conversion to plan from."""
    base = arms[0]
    if base.visitors == 0 or base.conversions == 0:
        return None
    base_rate = base.conversions / base.visitors
    effects = [abs(c.effect) for c in comparisons if c.effect != 0]
    effect = max(effects) if effects else PLANNING_LIFT * base_rate
    other_rate = min(1.0, base_rate + effect)
    if other_rate == base_rate:
        return None

    def decides(n: int) -> bool:
        test = SequentialTest(alpha=alpha, min_visitors=0)
        result = test.look(ArmCounts(n, round(n * base_rate)), ArmCounts(n, round(n * other_rate)))
        return result.ci[0] > 0 or result.ci[1] < 0

    low, high = max(1, min_visitors), max(1, min_visitors)
    while not decides(high):
        if high >= MAX_NEEDED:
            return MAX_NEEDED
        low, high = high, min(MAX_NEEDED, high * 2)
    while low < high:
        middle = (low + high) // 2
        if decides(middle):
            high = middle
        else:
            low = middle + 1
    return high


def _points(value: float) -> str:
    return f"{value * 100:+.1f} points"


def _guidance(
    arms: Sequence[ArmResult],
    comparisons: Sequence[Comparison],
    winner: str | None,
    needed: int | None,
    min_visitors: int,
) -> str:
    """One sentence for the owner: what the test says now, and what to do."""
    if winner is not None:
        if winner == arms[0].name:
            return f"{winner} (the baseline) beats every other arm: promote it, or stop the experiment."
        best = next(c for c in comparisons if c.arm == winner)
        return (
            f"{winner} beats {best.baseline} by {_points(best.effect)} "
            f"(always-valid 95 % interval {_points(best.ci_low)} to {_points(best.ci_high)}, p = {best.p_value:.3g}): "
            "promote it."
        )
    short = [arm for arm in arms if arm.visitors < min_visitors]
    if short:
        counts = ", ".join(f"{arm.name}: {arm.visitors}" for arm in arms)
        return f"No verdict before {min_visitors} visitors per arm ({counts}); keep it running."
    if needed is None:
        return "No conversion in the baseline yet: keep it running."
    if needed >= MAX_NEEDED:
        return "The arms perform alike: no visitor count in reach would tell them apart; stop it."
    return f"No verdict yet; at these rates each arm needs about {needed} visitors: keep it running."
