"""`make bench`: every benchmark in one go, the ones that need a whole stack on one stack.

    python -m bench.suite

Starting a stack takes 1-2 minutes on 2 cores, so the six benchmarks that need one (gateway,
chat, the helper's smaller version (300 simulated visitors, ~1.5 min), booking's smaller version
(~1 min, its calendar servers started before the stack), SciFact on an 800-document subset,
sessions) share one, which keeps the suite within its 20-minute budget. The embedder runs first
(it starts its own small Ray, and needs the cores to itself), then one stack starts with the union
of the others' settings (each checks that it got its own) and they run on it in turn; sessions
last, as it leaves 7,500 conversations behind. Then bench/scale.md is rendered from the results.
Each benchmark still runs alone with its own stack from its own make target.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from bench import chat, embedder, gateway, helper_bench, knowledge, scale, sessions, workflows
from bench.load import shared, stand_in_llm
from cortex.stack import ephemeral_stack

SUBSET_DOCS = 800


def main() -> None:
    started = time.perf_counter()
    took: dict[str, float] = {}

    def timed(name: str, run: Callable[[], object]) -> None:
        begun = time.perf_counter()
        run()
        took[name] = time.perf_counter() - begun
        print(f"== {name}: {took[name]:.0f} s", flush=True)

    timed("embedder", lambda: embedder.main([]))
    # The calendar servers the booking benchmark connects to start first: the stack is pointed at them.
    with workflows.calendar_servers() as calendar_servers, stand_in_llm() as llm_url:
        env = {
            **gateway.STACK_ENV,
            **knowledge.STACK_ENV,
            **chat.stack_env(llm_url),
            **helper_bench.stack_env(llm_url),
            **sessions.stack_env(llm_url),
            **workflows.stack_env(llm_url, calendar_servers.env()),
        }
        begun = time.perf_counter()
        with sessions.serve_config_for_sessions(), ephemeral_stack(env, prefix="cxs") as stack:
            took["stack start"] = time.perf_counter() - begun
            with shared(stack, env, llm_url):
                timed("gateway", gateway.main)
                timed("chat", chat.main)
                timed("helper", lambda: helper_bench.main(["--subset"]))
                timed("workflows", lambda: workflows.main(["--subset"]))
                timed("knowledge", lambda: knowledge.main(["retrieval", "ingest", "--docs", str(SUBSET_DOCS)]))
                timed("sessions", lambda: sessions.main([]))
    scale.main()
    total = time.perf_counter() - started
    print("\n".join(f"{name:12s} {seconds:6.0f} s" for name, seconds in took.items()))
    print(f"{'make bench':12s} {total:6.0f} s ({total / 60:.1f} min)")


if __name__ == "__main__":
    main()
