"""`make bench-helper` → bench/results/helper.json: the helper proved end to end, and its cost.

Four parts, each named in the result's `sources`:
1. Learning (bench/helper_sim.py): simulated visitors chat through the real /api/chat with two bots
   on one stack, pair by pair: one learning from outcomes (patterns, goal lead), one with the
   helper off. Conversion of each, the relative lift with its 95 % interval, the learning curve by
   block of 200 pairs, the helper's final pattern ranking. The in-process check beside it runs the
   same population and Thompson sampler with no stack, many times: how often a run of this size
   meets the target by chance.
2. Guide.advise latency through its Serve handle at 1 and 32 concurrent (bench/helper_latency.py),
   on the same stack after the learning run: the learning bot's patterns, their statistics and a
   running experiment loaded.
3. A chat turn's overhead with the helper vs with no guidance at 1 concurrent
   (bench/helper_overhead.py: two stacks, alternating rounds).
4. A/A experiments (bench/helper_experiments.py: the experiment engine in process, 3,000 runs).

`make bench` runs the smaller version (`--subset`, on the suite's one stack): 300 pairs, shorter
latency rounds, the A/A runs, and no overhead stacks: its `turn_overhead_ms` is the last
`make bench-helper`'s (bench/results/helper_overhead.json), named as such.

Run: python -m bench.helper_bench [--pairs 2400] [--concurrency 8] [--subset]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from bench import helper_experiments, helper_latency, helper_overhead, helper_sim
from bench.accounts import new_owner
from bench.chat import stack_env as chat_stack_env
from bench.load import RESULTS, bench_stack, stand_in_llm, write_result

FULL = {"pairs": 2400, "latency_calls_c1": 300, "latency_calls_per_caller_c32": 40, "in_process_runs": 100}
SUBSET = {"pairs": 300, "latency_calls_c1": 100, "latency_calls_per_caller_c32": 10, "in_process_runs": 20}
CONCURRENCY = 8  # pairs in flight: ~15 conversations/s on 2 cores, the consumers keeping up
LATENCY_ROUNDS = 3
OVERHEAD_ROUNDS = 7  # alternating helper / no-guidance rounds: the shared machine's load moves between them
TARGET = 0.20
# Copied to the result's top level (BENCH.md's names); the rest of the summary goes under "learning".
HEADLINE = ("conversion_no_guidance", "conversion_learning", "relative_lift", "lift_ci95")


def stack_env(llm_url: str) -> dict[str, str]:
    """bench.chat's (the stand-in LLM, limits lifted, no answer cache: every turn runs the whole
    pipeline), and visitor tokens unlimited per address (every simulated visitor comes from 127.0.0.1)."""
    return {**chat_stack_env(llm_url), "CORTEX_VISITOR_TOKEN_PER_IP_PER_MIN": str(10**9)}


async def _teach(workspace_id: str, bot_id: str) -> None:
    from cortex.knowledge.teach import teach_documents
    from cortex.models.embedder import LocalEmbed
    from cortex.settings import get_settings

    await teach_documents(
        get_settings(),
        workspace_id=uuid.UUID(workspace_id),
        bot_id=uuid.UUID(bot_id),
        documents=list(helper_sim.DOCUMENTS),
        embed=LocalEmbed(),
    )


async def _experiment(member: helper_sim.Member, bot_id: str) -> dict[str, Any]:
    """A running experiment on the learning bot (account questions: no guidance vs a pattern), so the
    Guide's latency is measured with an experiment to check on every turn."""
    pattern = await member.call(
        "POST",
        "/api/helper/patterns",
        json={
            "name": "account-self-service",
            "bot_id": bot_id,
            "intent": "account",
            "stage": "retention",
            "example": "How do I change the email on my account?",
            "instruction": "Give the exact steps in the app, then offer to stay while they try.",
            "status": "candidate",
        },
    )
    experiment: dict[str, Any] = await member.call(
        "POST",
        "/api/helper/experiments",
        json={
            "name": "account: steps vs nothing",
            "bot_id": bot_id,
            "intent": "account",
            "stage": "retention",
            "metric": "lead",
            "arms": [
                {"name": "A", "weight": 50, "pattern_id": None},
                {"name": "B", "weight": 50, "pattern_id": pattern["id"]},
            ],
        },
    )
    return experiment


async def _live(stack: Any, plan: dict[str, Any], *, seed: int, concurrency: int) -> dict[str, Any]:
    population = helper_sim.Population()
    owners = [new_owner(stack.http_url, home=stack.home) for _ in range(2)]
    limits = httpx.Limits(max_connections=concurrency * 4, max_keepalive_connections=concurrency * 4)
    async with httpx.AsyncClient(base_url=stack.http_url, timeout=60, limits=limits) as client:
        learning = await helper_sim.make_arm(
            client, owners[0], name="learning", population=population, learning=True, teach=_teach
        )
        baseline = await helper_sim.make_arm(
            client, owners[1], name="no_guidance", population=population, learning=False, teach=_teach
        )
        began = time.monotonic()
        records = await helper_sim.run_live(
            client,
            learning,
            baseline,
            population=population,
            pairs=plan["pairs"],
            seed=seed,
            concurrency=concurrency,
        )
        seconds = time.monotonic() - began
        guided = sum(1 for r in records if r["arm"] == "learning" and r["pattern_id"])
        ranking = await helper_sim.settled_ranking(learning.member, learning.bot_id, expected_uses=guided)
        experiment = await _experiment(learning.member, learning.bot_id)
    return {
        "records": records,
        "seconds": seconds,
        "ranking": ranking,
        "experiment": experiment,
        "learning": learning,
        "population": population,
    }


def _ranking_rows(ranking: dict[str, Any], learning: helper_sim.Arm) -> list[dict[str, Any]]:
    """The helper's ranking as GET /api/helper/patterns returns it, each row named by its strategy."""
    rows = []
    for pattern in ranking["patterns"]:
        situation, strategy = learning.strategies.get(pattern["id"], (None, pattern.get("name")))
        rows.append({"strategy": strategy, "situation": situation, "status": pattern.get("status"), **_stat(pattern)})
    return rows


def _stat(pattern: dict[str, Any]) -> dict[str, Any]:
    stats = pattern.get("stats")
    if isinstance(stats, list):  # one row per situation: the pattern's own situation's
        stats = max(stats, key=lambda s: s.get("uses", 0), default={})
    keys = ("uses", "leads", "successes", "rate", "lower", "upper", "interval", "ci95")
    return {key: value for key, value in (stats or pattern).items() if key in keys}


def _simulator_counts(records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """What the simulator itself counted per strategy (to compare with the helper's statistics), with
    the hidden probability its visitors were drawn with."""
    counts: dict[str, dict[str, Any]] = {}
    for record in records:
        if record["arm"] == "learning" and record["strategy"]:
            row = counts.setdefault(record["strategy"], {"uses": 0, "leads": 0, "hidden_probability": set()})
            row["uses"] += 1
            row["leads"] += record["converted"]
            row["hidden_probability"].add(record["probability"])
    for row in counts.values():
        row["hidden_probability"] = sorted(row["hidden_probability"])
    return dict(sorted(counts.items(), key=lambda item: -item[1]["uses"]))


def _refresh_s() -> float | None:
    from cortex.settings import get_settings

    value = getattr(get_settings(), "helper_refresh_s", None)
    return float(value) if value is not None else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subset", action="store_true", help="make bench's smaller version")
    parser.add_argument("--pairs", type=int, help="visitors, each chatting with both bots")
    parser.add_argument("--concurrency", type=int, default=CONCURRENCY)
    parser.add_argument("--seed", type=int, default=helper_sim.SEED)
    args = parser.parse_args(argv)
    plan = dict(SUBSET if args.subset else FULL)
    if args.pairs:
        plan["pairs"] = args.pairs
    started = time.perf_counter()
    took: dict[str, float] = {}
    load = {"start": [round(x, 2) for x in os.getloadavg()]}

    begun = time.perf_counter()
    helper_experiments.main([])
    aa = json.loads((RESULTS / "helper_aa.json").read_text())
    took["aa"] = time.perf_counter() - begun

    if not args.subset:
        begun = time.perf_counter()
        helper_overhead.main(["--rounds", str(OVERHEAD_ROUNDS)])
        took["turn_overhead"] = time.perf_counter() - begun
    overhead = json.loads((RESULTS / "helper_overhead.json").read_text())

    with stand_in_llm() as llm_url:
        env = stack_env(llm_url)
        begun = time.perf_counter()
        with bench_stack(env, prefix="cxhl") as stack:
            took["stack"] = time.perf_counter() - begun
            begun = time.perf_counter()
            live = asyncio.run(_live(stack, plan, seed=args.seed, concurrency=args.concurrency))
            took["learning"] = time.perf_counter() - begun
            refresh_s = _refresh_s()
            begun = time.perf_counter()
            latency = helper_latency.measure(
                stack,
                workspace_id=live["learning"].member.workspace_id,
                bot_id=live["learning"].bot_id,
                questions=[q for s in live["population"].situations.values() for q in s.questions],
                rounds=LATENCY_ROUNDS,
                calls_c1=plan["latency_calls_c1"],
                calls_per_caller_c32=plan["latency_calls_per_caller_c32"],
            )
            took["guide_latency"] = time.perf_counter() - begun

    population: helper_sim.Population = live["population"]
    records = live["records"]
    summary = helper_sim.summarize(records, seed=args.seed)
    begun = time.perf_counter()
    in_process = helper_sim.in_process_check(
        population, pairs=plan["pairs"], seed=args.seed, runs=plan["in_process_runs"]
    )
    took["in_process_check"] = time.perf_counter() - begun
    overhead_delta = overhead["helper_minus_no_guidance_p50_ms"]
    fields = {
        "conversations": summary["conversations"]["learning"],
        "conversations_no_guidance": summary["conversations"]["no_guidance"],
        "conversion_no_guidance": summary["conversion_no_guidance"],
        "conversion_learning": summary["conversion_learning"],
        "relative_lift": summary["relative_lift"],
        "lift_ci95": summary["lift_ci95"],
        "lift_ci_method": (
            "two independent proportions: 95 % interval of the rate ratio from its log (Katz), minus 1; "
            "bootstrap_lift_ci95 is the percentile bootstrap (10,000 resamples of each arm) for comparison"
        ),
        "target": {
            "relative_lift_at_least": TARGET,
            "met": bool(
                summary["relative_lift"] is not None
                and summary["relative_lift"] >= TARGET
                and summary["lift_ci95"][0] > 0
            ),
        },
        "aa_runs": aa["aa_runs"],
        "aa_false_positive_rate": aa["aa_false_positive_rate"],
        "guidance_ms": {name: latency[name] for name in ("c1", "c32")},
        "turn_overhead_ms": {
            "no_guidance_p50": overhead["c1_p50_ms"]["no_guidance"],
            "helper_p50": overhead["c1_p50_ms"]["helper"],
            "delta_p50": overhead_delta["median"],
            "note": (
                "delta_p50 is the median of the per-round paired differences (helper minus no guidance, measured "
                "back to back); helper_p50 and no_guidance_p50 are each the median of their own rounds, so their "
                "difference need not equal delta_p50 when the machine's load moves between rounds"
            ),
        },
        "rounds": LATENCY_ROUNDS,
        "spread": {
            **{f"guidance_{key}": value for key, value in latency["spread"].items()},
            "turn_overhead_delta_p50": {
                "median": overhead_delta["median"],
                "min": min(overhead_delta["per_round"]),
                "max": max(overhead_delta["per_round"]),
            },
        },
        "learning": {
            **{k: v for k, v in summary.items() if k not in HEADLINE},
            "pairs": plan["pairs"],
            "concurrency": args.concurrency,
            "seconds": round(live["seconds"], 1),
            "conversations_per_s": round(len(records) / live["seconds"], 1),
            "checks": helper_sim.checks(records),
            "ranking": _ranking_rows(live["ranking"], live["learning"]),
            "ranking_credited_uses": {
                "helper": live["ranking"]["credited_uses"],
                "simulator": live["ranking"]["expected_uses"],
            },
            "simulator_counts": _simulator_counts(records),
        },
        "in_process_check": {
            **in_process,
            "what": "the same population and cortex.helper.bandit's Thompson sampler in one process (no stack), "
            "state rebuilt every 50 pairs: the lift a run of this size gives, and how often it meets the target",
        },
        "population": {
            "seed": args.seed,
            "situations": population.describe(),
            "expected_conversion": population.rates(),
            "outcome_rule": (
                "the visitor converts with the hidden probability of (its situation, the strategy of the pattern "
                "recorded on the bot's message); no pattern, or a pattern written for another situation: the "
                "situation's no-guidance probability. Drawn from the stream (seed, arm, pair)."
            ),
            "thompson_sampling_seed": "not seeded: the Guide's own generator",
        },
        "guide_latency": {
            **latency,
            "calls": "a fresh conversation and visitor per call, the population's 26 questions in turn, the learning "
            "bot's 12 patterns with their statistics and one running experiment loaded",
        },
        "turn_overhead": {
            "source": "bench/results/helper_overhead.json",
            "measured_at": overhead["measured_at"],
            "git_commit": overhead["git_commit"],
            "c1_p50_ms": overhead["c1_p50_ms"],
            "c1_p99_ms": overhead["c1_p99_ms"],
            "per_round_delta_p50_ms": overhead_delta["per_round"],
            "measured_in_this_run": not args.subset,
        },
        "aa": {
            "source": "bench/results/helper_aa.json (measured in this run)",
            "aa_false_positive_pooled": aa["aa_false_positive_pooled"],
            "ab_power": aa["ab_power"],
            "test": aa["test"],
        },
        "sources": {
            "learning, lift, curve, ranking": "this run's stack (bench/helper_sim.py)",
            "guidance_ms": "this run's stack, after the learning run (bench/helper_latency.py)",
            "turn_overhead_ms": (
                "bench/helper_overhead.py, two stacks, measured in this run"
                if not args.subset
                else "the last make bench-helper (bench/results/helper_overhead.json), not measured by make bench"
            ),
            "aa": "bench/helper_experiments.py, in process, measured in this run",
        },
        "settings": {**env, "CORTEX_HELPER_REFRESH_S (effective)": refresh_s},
        "seconds": {name: round(value, 1) for name, value in took.items()},
        # The machine's 1/5/15-minute load averages when the run began and ended (2 cores: above 2,
        # other work shared the CPU and every latency figure includes waiting for it).
        "load_average": {**load, "end": [round(x, 2) for x in os.getloadavg()]},
    }
    if args.subset:
        fields["subset"] = (
            f"make bench: {plan['pairs']} pairs (make bench-helper: {FULL['pairs']}), shorter latency rounds, "
            "turn overhead from the last make bench-helper"
        )
    command = " ".join(["python -m bench.helper_bench", *(sys.argv[1:] if argv is None else argv)])
    path = write_result("helper", fields, command)
    _print(fields, path, time.perf_counter() - started)
    return 0


def _print(fields: dict[str, Any], path: Path, seconds: float) -> None:
    learning = fields["learning"]
    print(f"learning: {fields['conversations']} conversations per bot in {learning['seconds']} s")
    print(
        f"  conversion no guidance {fields['conversion_no_guidance']}, learning {fields['conversion_learning']}: "
        f"lift {fields['relative_lift']} (95 % {fields['lift_ci95']}, bootstrap {learning['bootstrap_lift_ci95']})"
    )
    for row in learning["learning_curve"]:
        print(f"  pairs {row['pairs'][0]:5d}-{row['pairs'][1]:5d}: {row['no_guidance']:.3f} vs {row['learning']:.3f}")
    print(f"  checks {learning['checks']}")
    print(f"guidance ms {fields['guidance_ms']}")
    print(f"turn overhead ms {fields['turn_overhead_ms']}")
    print(f"A/A {fields['aa_runs']} runs, false positives {fields['aa_false_positive_rate']}")
    print(f"-> {path} ({seconds:.0f} s)")


if __name__ == "__main__":
    raise SystemExit(main())
