"""Chat benchmark: pipeline overhead, turns/s against the monolith, and the local model's speed.

- Overhead: a whole chat turn (auth, history, retrieval with the real embedder and Chroma, the
  helper, prompt, persistence, events) with a zero-latency LLM stand-in (a local server speaking
  the OpenAI streaming format that answers at once), at 1 and 32 concurrent turns.
- Turns/s at 32 concurrent through Serve and through the monolith doing the same work: uvicorn
  with a worker per core (the fair baseline), and in one process (a second row); full turns only,
  the degraded ones counted apart.
- Every figure is the median of ROUNDS alternating rounds (Serve, monolith, single process, …),
  with its min–max spread.
- Time to first token (100 turns) and tokens/s with the local model (SmolLM2-135M on llama.cpp),
  streamed through the Serve graph to the client.

Run: make bench-chat
"""

from __future__ import annotations

import json
import math
import statistics
import time
import uuid
from pathlib import Path

import httpx

from bench.accounts import new_owner
from bench.load import (
    MONOLITH_WORKERS,
    UNLIMITED,
    bench_stack,
    ray_cpu_seconds,
    running_monolith,
    spread,
    stand_in_llm,
    write_result,
    wrk,
)

ORIGIN = "https://bench.example"
PASSAGES = [
    {"id": "hours", "title": "Opening hours", "text": "The bakery is open from 7am to 6pm, Monday to Saturday."},
    {"id": "delivery", "title": "Delivery", "text": "We deliver cakes within 10 km for a fee of 5 euros."},
]
QUESTION = "When is the bakery open?"
FAQ_QUESTION = "Is there a deposit on cake boxes?"
SECONDS = 10
ROUNDS = 3
TTFT_SAMPLES = 100
RATE_SAMPLES = 10
# After a run, before counting its turns: wrk stops with turns in flight, which the server finishes.
STRAGGLERS_S = 2


def _setup(base: str, backend: str, home: Path, max_tokens: int = 64) -> tuple[str, str]:
    """An owner, a bot with knowledge and an FAQ, and its widget key: returns (bot_id, public key)."""
    from cortex.models.embedder import LocalEmbed  # noqa: F401 - imported lazily: loads the model

    owner = new_owner(base, home=home)
    headers = {"Authorization": f"Bearer {owner['access_token']}"}
    bot = (
        httpx.post(
            f"{base}/api/bots",
            json={"name": "Bakery", "llm": {"backend": backend, "max_tokens": max_tokens}},
            headers=headers,
            timeout=30,
        )
        .raise_for_status()
        .json()
    )
    key = (
        httpx.post(
            f"{base}/api/auth/widget-keys",
            json={"bot_id": bot["id"], "allowed_origins": [ORIGIN]},
            headers=headers,
            timeout=30,
        )
        .raise_for_status()
        .json()
    )
    _teach(owner["workspace"]["id"], bot["id"])
    httpx.post(
        f"{base}/api/knowledge/faqs",
        json={
            "bot_id": bot["id"],
            "question": FAQ_QUESTION,
            "answer": "Yes: 2 euros per box, returned when it comes back.",
        },
        headers=headers,
        timeout=60,
    ).raise_for_status()
    return bot["id"], key["public_key"]


def _visitor(base: str, public_key: str) -> tuple[str, str]:
    """A new widget visitor of the bot: (visitor token, visitor id)."""
    visitor = (
        httpx.post(
            f"{base}/api/auth/visitor-token", json={"public_key": public_key}, headers={"Origin": ORIGIN}, timeout=30
        )
        .raise_for_status()
        .json()
    )
    return visitor["visitor_token"], visitor["visitor_id"]


def _teach(workspace_id: str, bot_id: str) -> None:
    import asyncio

    from cortex.knowledge.teach import teach_documents
    from cortex.models.embedder import LocalEmbed
    from cortex.settings import get_settings

    asyncio.run(
        teach_documents(
            get_settings(),
            workspace_id=uuid.UUID(workspace_id),
            bot_id=uuid.UUID(bot_id),
            documents=PASSAGES,
            embed=LocalEmbed(),
        )
    )


def _ttft(base: str, bot_id: str, token: str, samples: int) -> list[tuple[float, float | None]]:
    """Streamed turns with the local model: (time to first token in ms, tokens/s after it) per turn."""
    headers = {"Authorization": f"Bearer {token}", "Origin": ORIGIN}
    measured: list[tuple[float, float | None]] = []
    with httpx.Client(base_url=base, timeout=120) as client:
        for _ in range(samples):
            started = time.perf_counter()
            first = None
            tokens = 0
            with client.stream(
                "POST", "/api/chat", json={"bot_id": bot_id, "message": QUESTION}, headers=headers
            ) as response:
                for line in response.iter_lines():
                    if line == "event: token":
                        tokens += 1
                        first = first or time.perf_counter()
            ended = time.perf_counter()
            if first is not None:
                rate = (tokens - 1) / (ended - first) if tokens > 1 and ended > first else None
                measured.append(((first - started) * 1000, rate))
    return measured


def _speed(base: str, home: Path) -> dict:
    """The local model's time to first token (TTFT_SAMPLES turns of a bot capped at 16 tokens, so
    the samples are many and quick) and tokens/s (RATE_SAMPLES turns of 64 tokens)."""
    short_bot, short_key = _setup(base, backend="local", home=home, max_tokens=16)
    ttfts = [ttft for ttft, _ in _ttft(base, short_bot, _visitor(base, short_key)[0], TTFT_SAMPLES)]
    long_bot, long_key = _setup(base, backend="local", home=home, max_tokens=64)
    rates = [rate for _, rate in _ttft(base, long_bot, _visitor(base, long_key)[0], RATE_SAMPLES) if rate is not None]
    return {
        "ttft_ms": {"p50": _percentile(ttfts, 50), "p99": _percentile(ttfts, 99)},
        "tokens_per_s": round(statistics.median(rates), 1) if rates else None,
        "samples": len(ttfts),
        "rate_samples": len(rates),
    }


def _percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100), rounded to 0.1 ms."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return round(ordered[rank - 1], 1)


def _bot_turns(visitor_id: str) -> dict[str, int]:
    """The answers given to one visitor, and how many were degraded (retrieval or guidance skipped on
    a timeout): read from core's table as the stack's admin. Each run has a visitor of its own, so a
    turn of an earlier run that finishes late is never counted in the next one."""
    import asyncio

    import asyncpg

    from cortex.settings import get_settings

    async def count() -> dict[str, int]:
        conn = await asyncpg.connect(get_settings().resolved_database_url())
        try:
            row = await conn.fetchrow(
                "SELECT count(*) AS turns, count(*) FILTER (WHERE m.degraded) AS degraded "
                "FROM core.messages m JOIN core.conversations c ON c.id = m.conversation_id "
                "WHERE c.visitor_id = $1 AND m.role = 'bot'",
                visitor_id,
            )
        finally:
            await conn.close()
        return {"turns": int(row["turns"]), "degraded": int(row["degraded"])}

    return asyncio.run(count())


def _run(url: str, *, public_key: str, connections: int, body: dict) -> dict[str, float]:
    """One wrk run of /api/chat by a new visitor, with its degraded turns counted and turns/s of
    full turns only (the turns still running when wrk stops are given STRAGGLERS_S to finish)."""
    token, visitor_id = _visitor(url, public_key)
    headers = {"Authorization": f"Bearer {token}", "Origin": ORIGIN}
    result = wrk(url + "/api/chat", connections=connections, seconds=SECONDS, headers=headers, body=body)
    time.sleep(STRAGGLERS_S)
    counted = _bot_turns(visitor_id)
    full_share = 1 - counted["degraded"] / counted["turns"] if counted["turns"] else 0.0
    return {**result, **counted, "full_rps": result["rps"] * full_share}


def main() -> None:
    with stand_in_llm() as llm_url:
        _main(llm_url)


def stack_env(llm_url: str) -> dict[str, str]:
    return {
        "CORTEX_RATE_LIMITS": json.dumps(UNLIMITED),
        "CORTEX_LOG_LEVEL": "WARNING",
        "CORTEX_LLM_URL": llm_url,
        "CORTEX_LLM_MODEL": "zero-latency-stand-in",
        # The same first-turn question again and again would be served from the answer cache:
        # overhead and turns/s measure the whole pipeline, so the cache is off for this bench.
        "CORTEX_ANSWER_CACHE_TTL_S": "0",
    }


def _main(llm_url: str) -> None:
    with (
        bench_stack(stack_env(llm_url), prefix="cxc") as stack,
        running_monolith() as monolith_url,
        running_monolith(workers=1) as single_url,
    ):
        serve_url = stack.http_url
        bot_id, public_key = _setup(serve_url, backend="openai", home=stack.home)
        headers = {"Authorization": f"Bearer {_visitor(serve_url, public_key)[0]}", "Origin": ORIGIN}
        body = {"bot_id": bot_id, "message": QUESTION, "stream": False}
        faq_body = {"bot_id": bot_id, "message": FAQ_QUESTION, "stream": False}
        targets = {"serve": serve_url, "monolith": monolith_url, "monolith_1proc": single_url}
        for url in targets.values():  # warm: models load in every worker, pools, caches
            wrk(url + "/api/chat", connections=8, seconds=4, headers=headers, body=body)
        wrk(serve_url + "/api/chat", connections=1, seconds=3, headers=headers, body=faq_body)
        runs: dict[str, list[dict]] = {f"{name}_c{c}": [] for name in targets for c in (1, 32)}
        runs["serve_direct_c1"] = []
        ray_cores: list[float] = []
        for _ in range(ROUNDS):  # alternating, so drift and noise fall on every target alike
            for name, url in targets.items():
                for connections in (1, 32):
                    if name == "monolith_1proc" and connections == 1:
                        continue  # one connection reaches one worker: the same as the fair baseline's
                    ray_before, started = ray_cpu_seconds(stack), time.perf_counter()
                    run = _run(url, public_key=public_key, connections=connections, body=body)
                    if name != "serve":  # the Ray cluster idles beside the baseline: what does idling cost?
                        ray_cores.append((ray_cpu_seconds(stack) - ray_before) / (time.perf_counter() - started))
                    runs[f"{name}_c{connections}"].append(run)
            runs["serve_direct_c1"].append(_run(serve_url, public_key=public_key, connections=1, body=faq_body))
        speed = _speed(serve_url, stack.home)
    fields = _fields(runs, ray_cores, speed)
    write_result("chat", fields, "make bench-chat")
    _print(fields)


def _fields(runs: dict[str, list[dict]], ray_cores: list[float], speed: dict) -> dict:
    """Headline figures are medians over the rounds; `spread` has each one's {median, min, max}."""
    figures: dict[str, dict] = {
        "overhead_ms.c1.p50": spread([r["p50_ms"] for r in runs["serve_c1"]], 1),
        "overhead_ms.c1.p99": spread([r["p99_ms"] for r in runs["serve_c1"]], 1),
        "overhead_ms.c32.p50": spread([r["p50_ms"] for r in runs["serve_c32"]], 1),
        "overhead_ms.c32.p99": spread([r["p99_ms"] for r in runs["serve_c32"]], 1),
        "monolith_overhead_ms.c1.p50": spread([r["p50_ms"] for r in runs["monolith_c1"]], 1),
        "monolith_overhead_ms.c1.p99": spread([r["p99_ms"] for r in runs["monolith_c1"]], 1),
        "direct_answer_ms.p50": spread([r["p50_ms"] for r in runs["serve_direct_c1"]], 1),
        "direct_answer_ms.p99": spread([r["p99_ms"] for r in runs["serve_direct_c1"]], 1),
    }
    for name in ("serve", "monolith", "monolith_1proc"):
        figures[f"turns_per_s.{name}"] = spread([r["full_rps"] for r in runs[f"{name}_c32"]], 1)
    # A ratio per round (serve and its baseline ran back to back), then their median.
    for key, baseline in (("ratio", "monolith"), ("ratio_vs_1proc", "monolith_1proc")):
        figures[f"turns_per_s.{key}"] = spread(
            [s["full_rps"] / b["full_rps"] for s, b in zip(runs["serve_c32"], runs[f"{baseline}_c32"], strict=True)]
        )

    def median(key: str) -> float:
        return figures[key]["median"]

    return {
        "overhead_ms": {
            "c1": {"p50": median("overhead_ms.c1.p50"), "p99": median("overhead_ms.c1.p99")},
            "c32": {"p50": median("overhead_ms.c32.p50"), "p99": median("overhead_ms.c32.p99")},
        },
        "monolith_overhead_ms": {
            "c1": {"p50": median("monolith_overhead_ms.c1.p50"), "p99": median("monolith_overhead_ms.c1.p99")}
        },
        "turns_per_s": {
            "serve": median("turns_per_s.serve"),
            "monolith": median("turns_per_s.monolith"),
            "ratio": median("turns_per_s.ratio"),
            "monolith_1proc": median("turns_per_s.monolith_1proc"),
            "ratio_vs_1proc": median("turns_per_s.ratio_vs_1proc"),
        },
        "turns_counted": "full turns only: a degraded turn (retrieval or guidance skipped) is counted apart",
        "degraded_turns": {name: sum(run["degraded"] for run in rs) for name, rs in runs.items()},
        "turns": {name: sum(run["turns"] for run in rs) for name, rs in runs.items()},
        "direct_answer_ms": {"p50": median("direct_answer_ms.p50"), "p99": median("direct_answer_ms.p99")},
        "direct_answer_kind": "FAQ match above the bot's threshold (no LLM), 1 concurrent, through Serve",
        "ttft_ms": speed["ttft_ms"],
        "ttft_samples": speed["samples"],
        "tokens_per_s": speed["tokens_per_s"],
        "tokens_per_s_samples": speed["rate_samples"],
        "monolith_workers": MONOLITH_WORKERS,
        "monolith": (
            f"uvicorn with {MONOLITH_WORKERS} workers (one per core), questions embedded with the same batching "
            "as Serve's Embedder; `monolith_1proc`: one process. The Ray cluster idles beside it "
            "(`ray_cpu_cores_during_baseline`)."
        ),
        "ray_cpu_cores_during_baseline": spread(ray_cores, 2) if ray_cores else None,
        "rounds": ROUNDS,
        "seconds_per_run": SECONDS,
        "spread": figures,
        "errors": {name: sum(r["errors"] + r["socket_errors"] for r in rs) for name, rs in runs.items()},
        "runs": runs,
        "llm_stand_in": "local OpenAI-format server, zero latency (overhead and turns/s only)",
    }


def _print(fields: dict) -> None:
    figures = fields["spread"]

    def show(key: str) -> str:
        figure = figures[key]
        return f"{figure['median']} ({figure['min']}–{figure['max']})"

    print(f"median (min–max) of {fields['rounds']} alternating rounds")
    print(f"overhead c1   p50 {show('overhead_ms.c1.p50')} ms  p99 {show('overhead_ms.c1.p99')} ms")
    print(f"  monolith c1 p50 {show('monolith_overhead_ms.c1.p50')} ms  p99 {show('monolith_overhead_ms.c1.p99')} ms")
    print(f"overhead c32  p50 {show('overhead_ms.c32.p50')} ms  p99 {show('overhead_ms.c32.p99')} ms")
    print(f"direct answer p50 {show('direct_answer_ms.p50')} ms  p99 {show('direct_answer_ms.p99')} ms")
    print(
        f"full turns/s c32  serve {show('turns_per_s.serve')}  monolith ({MONOLITH_WORKERS} workers) "
        f"{show('turns_per_s.monolith')}  ratio {show('turns_per_s.ratio')}"
    )
    print(f"  one-process monolith {show('turns_per_s.monolith_1proc')}  ratio {show('turns_per_s.ratio_vs_1proc')}")
    print(f"degraded turns {fields['degraded_turns']} of {fields['turns']}")
    print(
        f"local model  ttft p50 {fields['ttft_ms']['p50']} ms p99 {fields['ttft_ms']['p99']} ms "
        f"({fields['ttft_samples']} samples)  {fields['tokens_per_s']} tokens/s"
    )


if __name__ == "__main__":
    main()
