"""Guide.advise latency through its Serve handle, at 1 and 32 concurrent callers, on a running stack.

A Ray driver connects to the stack's cluster (its address and token, as the stack's own processes
do), takes the `Guide` deployment's handle in the `helper` application (the handle core's chat
uses) and calls `advise` as a chat turn does: a workspace and bot with patterns, statistics and a
running experiment loaded, a question with its embedding (computed once beforehand by the stack's
Embedder, as core computes it), a visitor id and a fresh conversation id (so every call reads the
analysis cache, misses, analyses, picks, and writes the analysis back, and its advice is logged).
Rounds alternate the two concurrencies; each reports p50 and p99 of the time from the call to its
answer, as the caller sees it (the handle's queueing included).

The driver runs in its own process (`python -m bench.helper_latency --driver`), reading its job as
JSON on stdin and writing its figures as JSON on stdout; `measure(stack, ...)` starts it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import statistics
import subprocess
import sys
import time
import uuid
from collections import Counter
from typing import Any

import numpy as np

CONCURRENCY = (1, 32)
WARMUP_CALLS = 64


def measure(
    stack: Any,
    *,
    workspace_id: str,
    bot_id: str,
    questions: list[str],
    rounds: int = 3,
    calls_c1: int = 300,
    calls_per_caller_c32: int = 40,
) -> dict[str, Any]:
    """Run the driver against `stack`; returns {c1: {p50, p99}, c32: {...}, rounds: [...], spread, ...}."""
    job = {
        "address": f"127.0.0.1:{stack.settings.ray_port}",
        "workspace_id": workspace_id,
        "bot_id": bot_id,
        "questions": questions,
        "rounds": rounds,
        "calls_c1": calls_c1,
        "calls_per_caller_c32": calls_per_caller_c32,
    }
    done = subprocess.run(
        [sys.executable, "-m", "bench.helper_latency", "--driver"],
        input=json.dumps(job),
        capture_output=True,
        text=True,
        env=stack.supervisor.env(),
        timeout=900,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the Guide latency driver failed ({done.returncode}): {done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def percentiles(samples_ms: list[float]) -> dict[str, float]:
    return {
        "p50": round(float(np.percentile(samples_ms, 50)), 2),
        "p99": round(float(np.percentile(samples_ms, 99)), 2),
        "samples": len(samples_ms),
    }


async def _drive(job: dict[str, Any]) -> dict[str, Any]:
    from ray import serve

    guide = serve.get_deployment_handle("Guide", app_name="helper")
    embedder = serve.get_deployment_handle("Embedder", app_name="knowledge")
    questions: list[str] = job["questions"]
    vectors: list[list[float]] = await embedder.embed.remote(questions)
    workspace_id, bot_id = uuid.UUID(job["workspace_id"]), uuid.UUID(job["bot_id"])
    reasons: Counter[str] = Counter()
    counter = iter(range(10**9))

    async def call() -> float:
        n = next(counter)
        index = n % len(questions)
        started = time.perf_counter()
        guidance = await guide.advise.remote(
            workspace_id=workspace_id,
            bot_id=bot_id,
            conversation_id=uuid.uuid4(),
            message=questions[index],
            visitor_id=f"latency-{n}",
            history=[],
            embedding=vectors[index],
        )
        elapsed = (time.perf_counter() - started) * 1000
        reasons["pattern" if guidance.pattern_id else ("experiment" if guidance.experiment_id else "none")] += 1
        return elapsed

    async def run(concurrency: int, per_caller: int) -> list[float]:
        async def caller() -> list[float]:
            return [await call() for _ in range(per_caller)]

        return [x for xs in await asyncio.gather(*(caller() for _ in range(concurrency))) for x in xs]

    await run(8, WARMUP_CALLS // 8)  # handles resolved, replicas warm
    reasons.clear()
    rounds = []
    for index in range(job["rounds"]):
        order = CONCURRENCY if index % 2 == 0 else CONCURRENCY[::-1]
        measured = {}
        for concurrency in order:
            per_caller = job["calls_c1"] if concurrency == 1 else job["calls_per_caller_c32"]
            began, cpu = time.perf_counter(), time.process_time()
            samples = await run(concurrency, per_caller)
            wall = time.perf_counter() - began
            measured[f"c{concurrency}"] = {
                **percentiles(samples),
                "calls_per_s": round(len(samples) / wall, 1),
                # The driver's own CPU per second of the phase (1.0: a whole core calling the handle).
                "driver_cpu_share": round((time.process_time() - cpu) / wall, 2),
            }
        rounds.append(measured)
    result: dict[str, Any] = {}
    for name in (f"c{c}" for c in CONCURRENCY):
        result[name] = {pct: round(statistics.median(r[name][pct] for r in rounds), 2) for pct in ("p50", "p99")}
    result["rounds"] = rounds
    result["spread"] = {
        f"{name}_{pct}": {
            "median": result[name][pct],
            "min": min(r[name][pct] for r in rounds),
            "max": max(r[name][pct] for r in rounds),
        }
        for name in (f"c{c}" for c in CONCURRENCY)
        for pct in ("p50", "p99")
    }
    result["guidance_given"] = dict(reasons)
    return result


def driver() -> int:
    import ray

    job = json.loads(sys.stdin.read())
    ray.init(address=job["address"], logging_level=logging.WARNING, log_to_driver=False)
    try:
        result = asyncio.run(_drive(job))
    finally:
        ray.shutdown()
    print(json.dumps(result))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--driver", action="store_true", help="run as the Ray driver (job on stdin)")
    args = parser.parse_args(argv)
    if not args.driver:
        parser.error("this module is driven by bench/helper_bench.py (make bench-helper)")
    return driver()


if __name__ == "__main__":
    raise SystemExit(main())
