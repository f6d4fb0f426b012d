"""A chat turn's overhead with the helper vs with no guidance, at 1 concurrent (issue #19: ≤ +5 ms p50).

Two stacks run side by side, the same code and bot, one with the helper in every turn (core embeds
the question once through knowledge's Embedder, then asks the Retriever with the vector and the
helper's Guide concurrently; the Guide reads, analyses and caches the turn, and picks one of the
bot's three patterns for the question's situation, so the prompt carries guidance and the message
records the pattern: the first turn is checked) and one with
CORTEX_CHAT_HELPER=false (no Guide call at all, knowledge embeds the question itself: the baseline
is a shade faster than the code before the helper, which still called a Guide that answered "no
guidance"). Rounds alternate between them (their order swapped each round) so drift on the shared
machine falls on both. The LLM is the zero-latency stand-in, as in bench/chat.py.

Run: python -m bench.helper_overhead [--rounds 5 --seconds 10]  (part of make bench-helper)
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import time
from pathlib import Path

import httpx

from bench.accounts import new_owner
from bench.chat import FAQ_QUESTION, ORIGIN, QUESTION, _teach, stack_env
from bench.load import bench_stack, spread, stand_in_llm, write_result, wrk

REFRESH_WAIT_S = 6.0


# What the helper stack's bot is told in the question's situation: three active patterns (the
# bandit picks one per turn), so a measured turn carries real guidance into the prompt and the
# Guide does a turn's whole work (load, analyse, pick, phrase, log the advice).
STRATEGIES = (
    ("hours-then-order", "Answer with the opening hours, then offer to take a cake order."),
    ("hours-only", "Answer with the opening hours in one sentence."),
    ("hours-and-delivery", "Give the opening hours and mention delivery within 10 km."),
)


def _setup(base: str, home: Path, *, guided: bool) -> tuple[str, str, dict]:
    """bench/chat.py's bakery bot (knowledge and an FAQ, the openai backend) and a visitor token;
    `guided`: patterns for the question's situation and the goal resolution, and a first turn showing
    that the bot's message carries one of them."""
    owner = new_owner(base, home=home)
    headers = {"Authorization": f"Bearer {owner['access_token']}"}
    with httpx.Client(base_url=base, timeout=30) as client:
        bot = client.post(
            "/api/bots", json={"name": "Bakery", "llm": {"backend": "openai", "max_tokens": 64}}, headers=headers
        )
        bot_id = bot.raise_for_status().json()["id"]
        key = client.post(
            "/api/auth/widget-keys", json={"bot_id": bot_id, "allowed_origins": [ORIGIN]}, headers=headers
        ).raise_for_status()
        token = client.post(
            "/api/auth/visitor-token", json={"public_key": key.json()["public_key"]}, headers={"Origin": ORIGIN}
        ).raise_for_status()
        _teach(owner["workspace"]["id"], bot_id)
        client.post(
            "/api/knowledge/faqs",
            json={"bot_id": bot_id, "question": FAQ_QUESTION, "answer": "Yes: 2 euros per box."},
            headers=headers,
        ).raise_for_status()
        guidance: dict = {}
        if guided:
            guidance = _guide_bot(client, headers, bot_id, token.json()["visitor_token"])
    return bot_id, token.json()["visitor_token"], guidance


def _guide_bot(client: httpx.Client, headers: dict[str, str], bot_id: str, visitor_token: str) -> dict:
    analysis = client.post(
        "/api/helper/analyze", json={"bot_id": bot_id, "message": QUESTION}, headers=headers
    ).raise_for_status()
    found = analysis.json()
    found = found.get("analysis", found)
    intent, stage = found["intent"], found["stage"]
    client.put(
        f"/api/helper/bots/{bot_id}/settings", json={"enabled": True, "goal": "resolution"}, headers=headers
    ).raise_for_status()
    for name, instruction in STRATEGIES:
        client.post(
            "/api/helper/patterns",
            json={
                "name": name,
                "bot_id": bot_id,
                "intent": intent,
                "stage": stage,
                "example": QUESTION,
                "instruction": instruction,
                "status": "active",
            },
            headers=headers,
        ).raise_for_status()
    time.sleep(REFRESH_WAIT_S)  # the Guide reloads a bot's patterns every CORTEX_HELPER_REFRESH_S
    turn = client.post(
        "/api/chat",
        json={"bot_id": bot_id, "message": QUESTION, "stream": False},
        headers={"Authorization": f"Bearer {visitor_token}", "Origin": ORIGIN},
    ).raise_for_status()
    detail = client.get(f"/api/conversations/{turn.json()['conversation_id']}", headers=headers).raise_for_status()
    message = next(m for m in detail.json()["messages"] if m["id"] == turn.json()["message_id"])
    if not message.get("pattern_id"):
        raise RuntimeError(f"the helper stack's turn carried no pattern: {message}")
    return {"situation": f"{intent}/{stage}", "patterns": len(STRATEGIES), "first_turn_pattern": message["pattern_id"]}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=10)
    args = parser.parse_args(argv)
    guidance: dict = {}
    with stand_in_llm() as llm_url, contextlib.ExitStack() as stacks:
        targets: dict[str, tuple[str, dict[str, str], dict]] = {}
        for name, helper in (("helper", "true"), ("no_guidance", "false")):
            stack = stacks.enter_context(
                bench_stack({**stack_env(llm_url), "CORTEX_CHAT_HELPER": helper}, prefix=f"cxh{helper[0]}")
            )
            # Taught while this stack's env is set.
            bot_id, token, given = _setup(stack.http_url, Path(stack.home), guided=helper == "true")
            guidance = guidance or given
            headers = {"Authorization": f"Bearer {token}", "Origin": ORIGIN}
            targets[name] = (
                stack.http_url + "/api/chat",
                headers,
                {"bot_id": bot_id, "message": QUESTION, "stream": False},
            )
        for url, headers, body in targets.values():  # warm: models, pools, handles
            wrk(url, connections=4, seconds=4, headers=headers, body=body)
            wrk(url, connections=1, seconds=3, headers=headers, body=body)
        rounds: list[dict[str, dict[str, float]]] = []
        order = ["helper", "no_guidance"]
        for index in range(args.rounds):
            measured = {}
            for name in order if index % 2 == 0 else order[::-1]:
                url, headers, body = targets[name]
                measured[name] = wrk(url, connections=1, seconds=args.seconds, headers=headers, body=body)
            rounds.append(measured)
            print(
                f"round {index + 1}: helper p50 {measured['helper']['p50_ms']:.1f} ms, "
                f"no guidance p50 {measured['no_guidance']['p50_ms']:.1f} ms"
            )
    deltas = [r["helper"]["p50_ms"] - r["no_guidance"]["p50_ms"] for r in rounds]
    fields = {
        "c1_p50_ms": {
            name: round(statistics.median(r[name]["p50_ms"] for r in rounds), 2) for name in ("helper", "no_guidance")
        },
        "c1_p99_ms": {
            name: round(statistics.median(r[name]["p99_ms"] for r in rounds), 2) for name in ("helper", "no_guidance")
        },
        "helper_minus_no_guidance_p50_ms": {
            "median": round(statistics.median(deltas), 2),
            "per_round": [round(d, 2) for d in deltas],
        },
        "rounds": len(rounds),
        "spread": {
            "helper_minus_no_guidance_p50_ms": spread(deltas),
            **{f"{name}_p50_ms": spread([r[name]["p50_ms"] for r in rounds]) for name in ("helper", "no_guidance")},
        },
        "per_round": rounds,
        "guidance": guidance,
        "seconds_per_run": args.seconds,
        "question": QUESTION,
        "not_measured": f"FAQ turns ({FAQ_QUESTION!r}) drop the Guide's call",
        "llm_stand_in": "local OpenAI-format server, zero latency",
        "baseline": "CORTEX_CHAT_HELPER=false: no Guide call, knowledge embeds the question",
        "helper": "the bot has three active patterns for the question's situation: every turn is guided",
    }
    command = " ".join(["python -m bench.helper_overhead", *(sys.argv[1:] if argv is None else argv)])
    write_result("helper_overhead", fields, command)
    print(
        f"c1 p50: helper {fields['c1_p50_ms']['helper']} ms, no guidance {fields['c1_p50_ms']['no_guidance']} ms, "
        f"difference median {fields['helper_minus_no_guidance_p50_ms']['median']} ms per round {deltas}"
    )


if __name__ == "__main__":
    main()
