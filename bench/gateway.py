"""Gateway and auth benchmark: the Serve build vs the monolith, measured side by side.

`gateway.json`: an authenticated read (GET /api/auth/members: token verified locally, session
denylist and rate limits in Redis, one Postgres query). `auth.json`: GET /api/auth/verify
(token verification alone). Each through Serve's HAProxy gateway and through the monolith (the
same routers in uvicorn: a worker per core, and one process as a second row) against the same
Postgres and Redis, in alternating rounds.

Run: make bench-gateway
"""

from __future__ import annotations

import json

from bench.accounts import new_owner
from bench.load import MONOLITH_WORKERS, UNLIMITED, bench_stack, running_monolith, spread, write_result, wrk

CONCURRENCY = 32
SECONDS = 10
ROUNDS = 3


def _register(base_url: str) -> str:
    return new_owner(base_url)["access_token"]


def _measure(targets: dict[str, str], path: str, headers: dict[str, str]) -> dict[str, list[dict[str, float]]]:
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in targets}
    for base in targets.values():  # warm-up: connection pools, JIT-free but caches and replicas
        wrk(base + path, connections=CONCURRENCY, seconds=3, headers=headers)
    for _ in range(ROUNDS):
        for name, base in targets.items():
            runs[name].append(wrk(base + path, connections=CONCURRENCY, seconds=SECONDS, headers=headers))
    return runs


def _fields(runs: dict[str, list[dict[str, float]]]) -> dict:
    """Headline figures are medians over the rounds; `spread` has each one's {median, min, max}."""
    figures = {
        f"{name}_rps": spread([run["rps"] for run in runs[name]], 1) for name in ("serve", "monolith", "monolith_1proc")
    }
    # A ratio per round (serve and its baseline ran back to back), then their median.
    for key, baseline in (("ratio", "monolith"), ("ratio_vs_1proc", "monolith_1proc")):
        figures[key] = spread([s["rps"] / b["rps"] for s, b in zip(runs["serve"], runs[baseline], strict=True)])
    for name in ("serve", "monolith"):
        for pct in ("p50", "p99"):
            figures[f"{name}_{pct}_ms"] = spread([run[f"{pct}_ms"] for run in runs[name]], 2)
    return {
        **{key: figure["median"] for key, figure in figures.items()},
        "concurrency": CONCURRENCY,
        "monolith_workers": MONOLITH_WORKERS,
        "monolith": f"uvicorn with {MONOLITH_WORKERS} workers (one per core); `monolith_1proc`: one process",
        "rounds": ROUNDS,
        "seconds_per_round": SECONDS,
        "spread": figures,
        "errors": {name: sum(r["errors"] + r["socket_errors"] for r in rs) for name, rs in runs.items()},
        "runs": runs,
    }


STACK_ENV = {"CORTEX_RATE_LIMITS": json.dumps(UNLIMITED), "CORTEX_LOG_LEVEL": "WARNING"}


def main() -> None:
    with (
        bench_stack(STACK_ENV, prefix="cxb") as stack,
        running_monolith() as monolith_url,
        running_monolith(workers=1) as single_url,
    ):
        targets = {"serve": stack.http_url, "monolith": monolith_url, "monolith_1proc": single_url}
        token = _register(stack.http_url)
        headers = {"Authorization": f"Bearer {token}"}
        results = {}
        for name, path in (("gateway", "/api/auth/members"), ("auth", "/api/auth/verify")):
            fields = {"endpoint": f"GET {path}", **_fields(_measure(targets, path, headers))}
            write_result(name, fields, "make bench-gateway")
            results[name] = fields
    print(
        f"{'bench':<8} {'endpoint':<24} {'serve rps':>10} {'mono rps':>10} {'ratio':>6} "
        f"{'serve p99':>10} {'mono p99':>9}"
    )
    for name, f in results.items():
        print(
            f"{name:<8} {f['endpoint']:<24} {f['serve_rps']:>10.0f} {f['monolith_rps']:>10.0f} "
            f"{f['ratio']:>6.2f} {f['serve_p99_ms']:>8.1f}ms {f['monolith_p99_ms']:>7.1f}ms"
        )


if __name__ == "__main__":
    main()
