"""Chat benchmark: pipeline overhead, turns/s against the monolith, and the local model's speed.

- Overhead: a whole chat turn (auth, history, retrieval with the real embedder and Chroma, the
  helper, prompt, persistence, events) with a zero-latency LLM stand-in (a local server speaking
  the OpenAI streaming format that answers at once), at 1 and 32 concurrent turns.
- Turns/s at 32 concurrent through Serve and through the monolith doing the same work.
- Time to first token and tokens/s with the local model (SmolLM2-135M on llama.cpp), streamed
  through the Serve graph to the client.

Run: make bench-chat
"""

from __future__ import annotations

import json
import statistics
import time
import uuid
from pathlib import Path

import httpx

from bench.accounts import new_owner
from bench.load import UNLIMITED, bench_stack, running_monolith, stand_in_llm, summarize, write_result, wrk

ORIGIN = "https://bench.example"
PASSAGES = [
    {"id": "hours", "title": "Opening hours", "text": "The bakery is open from 7am to 6pm, Monday to Saturday."},
    {"id": "delivery", "title": "Delivery", "text": "We deliver cakes within 10 km for a fee of 5 euros."},
]
QUESTION = "When is the bakery open?"
FAQ_QUESTION = "Is there a deposit on cake boxes?"
SECONDS = 10
TTFT_SAMPLES = 12


def _setup(base: str, backend: str, home: Path) -> tuple[str, str]:
    """An owner, a bot with knowledge and an FAQ, and a visitor token: returns (bot_id, visitor token)."""
    from cortex.models.embedder import LocalEmbed  # noqa: F401 - imported lazily: loads the model

    owner = new_owner(base, home=home)
    headers = {"Authorization": f"Bearer {owner['access_token']}"}
    bot = (
        httpx.post(
            f"{base}/api/bots",
            json={"name": "Bakery", "llm": {"backend": backend, "max_tokens": 64}},
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
    token = (
        httpx.post(
            f"{base}/api/auth/visitor-token",
            json={"public_key": key["public_key"]},
            headers={"Origin": ORIGIN},
            timeout=30,
        )
        .raise_for_status()
        .json()["visitor_token"]
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
    return bot["id"], token


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


def _ttft(base: str, bot_id: str, token: str) -> dict:
    """Streamed turns with the local model: time to first token, and tokens/s after it."""
    headers = {"Authorization": f"Bearer {token}", "Origin": ORIGIN}
    ttfts, rates = [], []
    with httpx.Client(base_url=base, timeout=120) as client:
        for _ in range(TTFT_SAMPLES):
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
                ttfts.append((first - started) * 1000)
                if tokens > 1 and ended > first:
                    rates.append((tokens - 1) / (ended - first))
    return {
        "ttft_ms": {"p50": round(statistics.median(ttfts), 1), "p99": round(max(ttfts), 1)},
        "tokens_per_s": round(statistics.median(rates), 1) if rates else None,
        "samples": len(ttfts),
    }


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
    with bench_stack(stack_env(llm_url), prefix="cxc") as stack, running_monolith() as monolith_url:
        serve_url = stack.http_url
        bot_id, token = _setup(serve_url, backend="openai", home=stack.home)
        headers = {"Authorization": f"Bearer {token}", "Origin": ORIGIN}
        body = {"bot_id": bot_id, "message": QUESTION, "stream": False}
        for url in (serve_url, monolith_url):  # warm: model loads, pools, caches
            wrk(url + "/api/chat", connections=4, seconds=4, headers=headers, body=body)
        c1 = wrk(serve_url + "/api/chat", connections=1, seconds=SECONDS, headers=headers, body=body)
        c1_mono = wrk(monolith_url + "/api/chat", connections=1, seconds=SECONDS, headers=headers, body=body)
        # Before the 32-concurrent runs: their events keep the consumers busy for a while after.
        faq_body = {"bot_id": bot_id, "message": FAQ_QUESTION, "stream": False}
        wrk(serve_url + "/api/chat", connections=1, seconds=3, headers=headers, body=faq_body)  # warm
        direct = wrk(serve_url + "/api/chat", connections=1, seconds=SECONDS, headers=headers, body=faq_body)
        runs: dict[str, list[dict]] = {"serve": [], "monolith": []}
        for _ in range(2):
            runs["serve"].append(
                wrk(serve_url + "/api/chat", connections=32, seconds=SECONDS, headers=headers, body=body)
            )
            runs["monolith"].append(
                wrk(monolith_url + "/api/chat", connections=32, seconds=SECONDS, headers=headers, body=body)
            )
        local_bot, local_token = _setup(serve_url, backend="local", home=stack.home)
        speed = _ttft(serve_url, local_bot, local_token)
    serve_tps = summarize(runs["serve"], "rps")["median"]
    mono_tps = summarize(runs["monolith"], "rps")["median"]
    c32 = {
        "p50": round(summarize(runs["serve"], "p50_ms")["median"], 1),
        "p99": round(summarize(runs["serve"], "p99_ms")["median"], 1),
    }
    fields = {
        "overhead_ms": {"c1": {"p50": round(c1["p50_ms"], 1), "p99": round(c1["p99_ms"], 1)}, "c32": c32},
        "monolith_overhead_ms": {"c1": {"p50": round(c1_mono["p50_ms"], 1), "p99": round(c1_mono["p99_ms"], 1)}},
        "turns_per_s": {
            "serve": round(serve_tps, 1),
            "monolith": round(mono_tps, 1),
            "ratio": round(serve_tps / mono_tps, 3),
        },
        "direct_answer_ms": {"p50": round(direct["p50_ms"], 1), "p99": round(direct["p99_ms"], 1)},
        "direct_answer_kind": "FAQ match above the bot's threshold (no LLM), 1 concurrent, through Serve",
        **speed,
        "errors": {name: sum(r["errors"] + r["socket_errors"] for r in rs) for name, rs in runs.items()},
        "runs": runs,
        "llm_stand_in": "local OpenAI-format server, zero latency (overhead and turns/s only)",
    }
    write_result("chat", fields, "make bench-chat")
    print(
        f"overhead c1  p50 {fields['overhead_ms']['c1']['p50']} ms  p99 {fields['overhead_ms']['c1']['p99']} ms "
        f"(monolith p50 {fields['monolith_overhead_ms']['c1']['p50']} ms)"
    )
    print(f"overhead c32 p50 {c32['p50']} ms  p99 {c32['p99']} ms")
    print(f"direct answer c1 p50 {fields['direct_answer_ms']['p50']} ms  p99 {fields['direct_answer_ms']['p99']} ms")
    print(f"turns/s c32  serve {serve_tps:.1f}  monolith {mono_tps:.1f}  ratio {serve_tps / mono_tps:.2f}")
    print(
        f"local model  ttft p50 {speed['ttft_ms']['p50']} ms p99 {speed['ttft_ms']['p99']} ms  "
        f"{speed['tokens_per_s']} tokens/s"
    )


if __name__ == "__main__":
    main()
