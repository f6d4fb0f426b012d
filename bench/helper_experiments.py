"""The helper's experiment engine on simulated outcomes: error rate (A/A) and power (A/B) under peeking.

`make bench-helper-aa` (~15 s on 2 cores) → bench/results/helper_aa.json. Each run simulates
visitors split 50/50 into two arms, each converting with its own hidden rate, and looks at the
real `cortex.helper.experiments.SequentialTest` after every batch of visitors, stopping at the
first verdict; a run that reaches the horizon without one has no winner.

- A/A: both arms convert at 10 %; any winner is a false positive (target ≤ 5 %).
- A/B: B converts at 12 %, a 20 % relative lift; power is the share of runs that name B.
- Beside it, the naive test a dashboard would do (a fixed-horizon two-proportion z-test at 95 %,
  checked at every look), to show what peeking does without a sequential test.
Three rounds with different seeds; headline figures are the median of the rounds, and the pooled
rate over all rounds comes with its Wilson interval.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from typing import Any

import numpy as np

from bench.load import write_result
from cortex.helper.bandit import wilson_interval
from cortex.helper.experiments import ArmCounts, SequentialTest

BASE_RATE = 0.10
LIFT = 0.20
VISITORS = 20_000  # per run, both arms: 10,000 each, a few weeks of a small site's chats
LOOK_EVERY = 200  # visitors between looks: 100 looks a run
RUNS = 1000  # per round and scenario; 3 rounds give 3,000 A/A and 3,000 A/B runs
ROUNDS = 3
Z_95 = 1.959964


def simulate(
    rng: np.random.Generator, rate_a: float, rate_b: float, *, visitors: int, look_every: int, truth: float
) -> dict[str, Any]:
    """One experiment: the sequential verdict, when it came, whether its interval always held the
    true effect until then, and whether the naive peeking z-test ever 'found' a difference."""
    in_b = rng.random(visitors) < 0.5
    converted = np.where(in_b, rng.random(visitors) < rate_b, rng.random(visitors) < rate_a)
    looks = np.arange(look_every, visitors + 1, look_every)
    b_visitors = np.cumsum(in_b)[looks - 1]
    b_conversions = np.cumsum(converted & in_b)[looks - 1]
    a_conversions = np.cumsum(converted & ~in_b)[looks - 1]
    a_visitors = looks - b_visitors

    test = SequentialTest(max_visitors=visitors)
    covered = True
    result = None
    stopped_at = visitors
    for i, seen in enumerate(looks):
        result = test.look(
            ArmCounts(int(a_visitors[i]), int(a_conversions[i])), ArmCounts(int(b_visitors[i]), int(b_conversions[i]))
        )
        covered &= result.ci[0] <= truth <= result.ci[1]
        if result.decision != "continue":
            stopped_at = int(seen)
            break
    assert result is not None
    # The naive test: |z| > 1.96 at any look (pooled two-proportion z-test), from 200 visitors per arm.
    pa, pb = a_conversions / a_visitors, b_conversions / b_visitors
    pooled = (a_conversions + b_conversions) / looks
    se = np.sqrt(pooled * (1 - pooled) * (1 / a_visitors + 1 / b_visitors))
    valid = (np.minimum(a_visitors, b_visitors) >= 200) & (se > 0)
    naive = bool(np.any(np.abs(pb - pa)[valid] / se[valid] > Z_95))
    return {"winner": result.winner, "stopped_at": stopped_at, "covered": covered, "naive_winner": naive}


def scenario(seed: int, rate_b: float, runs: int, look_every: int) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    truth = rate_b - BASE_RATE
    outcomes = [
        simulate(rng, BASE_RATE, rate_b, visitors=VISITORS, look_every=look_every, truth=truth) for _ in range(runs)
    ]
    decided = [o["stopped_at"] for o in outcomes if o["winner"] is not None]
    return {
        "runs": runs,
        "winners": sum(o["winner"] is not None for o in outcomes),
        "winners_b": sum(o["winner"] == "B" for o in outcomes),
        "winners_a": sum(o["winner"] == "A" for o in outcomes),
        "interval_always_covered": sum(o["covered"] for o in outcomes),
        "naive_peeking_winners": sum(o["naive_winner"] for o in outcomes),
        "median_visitors_to_verdict": float(statistics.median(decided)) if decided else None,
    }


def spread(values: list[float]) -> dict[str, float]:
    return {"median": round(statistics.median(values), 4), "min": round(min(values), 4), "max": round(max(values), 4)}


def pooled(rounds: list[dict[str, Any]], key: str) -> dict[str, Any]:
    hits, runs = sum(r[key] for r in rounds), sum(r["runs"] for r in rounds)
    lower, upper = wilson_interval(hits, runs)
    return {"rate": round(hits / runs, 4), "ci95": [round(lower, 4), round(upper, 4)], "hits": hits, "runs": runs}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=RUNS, help="runs per round and scenario")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    aa, ab = [], []
    for round_index in range(ROUNDS):
        aa.append(scenario(1000 + round_index, BASE_RATE, args.runs, LOOK_EVERY))
        ab.append(scenario(2000 + round_index, BASE_RATE * (1 + LIFT), args.runs, LOOK_EVERY))
    # Peeking ten times as often (every 20 visitors, 1,000 looks) must not raise the error rate.
    frequent = scenario(3000, BASE_RATE, args.runs, LOOK_EVERY // 10)

    fp_rates = [r["winners"] / r["runs"] for r in aa]
    powers = [r["winners_b"] / r["runs"] for r in ab]
    naive_rates = [r["naive_peeking_winners"] / r["runs"] for r in aa]
    fields = {
        "aa_runs": sum(r["runs"] for r in aa),
        "aa_false_positive_rate": round(statistics.median(fp_rates), 4),
        "aa_false_positive_pooled": pooled(aa, "winners"),
        "aa_naive_peeking_false_positive_rate": round(statistics.median(naive_rates), 4),
        "aa_frequent_looks": {
            "look_every": LOOK_EVERY // 10,
            "false_positive": pooled([frequent], "winners"),
        },
        "ab_runs": sum(r["runs"] for r in ab),
        "ab_power": round(statistics.median(powers), 4),
        "ab_power_pooled": pooled(ab, "winners_b"),
        "ab_wrong_winner": pooled(ab, "winners_a"),
        "ab_interval_coverage": pooled(ab, "interval_always_covered"),
        "aa_interval_coverage": pooled(aa, "interval_always_covered"),
        "ab_median_visitors_to_verdict": statistics.median(
            r["median_visitors_to_verdict"] for r in ab if r["median_visitors_to_verdict"] is not None
        ),
        "base_rate": BASE_RATE,
        "relative_lift": LIFT,
        "visitors_per_run": VISITORS,
        "look_every_visitors": LOOK_EVERY,
        "looks_per_run": VISITORS // LOOK_EVERY,
        "test": {"method": "mSPRT, normal mixture", "alpha": 0.05, "mixture_sd": 0.02, "min_visitors_per_arm": 200},
        "rounds": ROUNDS,
        "spread": {
            "aa_false_positive_rate": spread(fp_rates),
            "ab_power": spread(powers),
            "aa_naive_peeking_false_positive_rate": spread(naive_rates),
        },
        "per_round": {"aa": aa, "ab": ab},
        "seconds": round(time.perf_counter() - started, 1),
    }
    command = " ".join(["python -m bench.helper_experiments", *(sys.argv[1:] if argv is None else argv)])
    path = write_result("helper_aa", fields, command)
    print(f"A/A: {fields['aa_runs']} runs x {VISITORS:,} visitors, a look every {LOOK_EVERY}")
    print(f"  false positives (sequential): {fields['aa_false_positive_rate']:.3f} median of rounds {fp_rates}")
    print(f"  pooled {fields['aa_false_positive_pooled']}")
    print(f"  looking every {LOOK_EVERY // 10}: {fields['aa_frequent_looks']['false_positive']}")
    print(f"  naive z-test checked at every look: {fields['aa_naive_peeking_false_positive_rate']:.3f}")
    print(f"A/B (+{LIFT:.0%} relative): power {fields['ab_power']:.3f} median of rounds {powers}")
    print(f"  pooled {fields['ab_power_pooled']}, wrong winner {fields['ab_wrong_winner']}")
    print(f"  median visitors to a verdict {fields['ab_median_visitors_to_verdict']:,.0f}")
    print(f"  interval held the true effect at every look: {fields['ab_interval_coverage']}")
    print(f"-> {path} ({fields['seconds']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
