"""Load generation with wrk, and the result file every benchmark writes."""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil

RESULTS = Path(__file__).resolve().parent / "results"
_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def require_wrk() -> str:
    wrk = shutil.which("wrk")
    if wrk is None:
        sys.exit("wrk is needed for this benchmark: apt-get install wrk (make bench installs it)")
    return wrk


def _ms(text: str) -> float:
    match = re.match(r"([\d.]+)(us|ms|s)", text)
    assert match, text
    return float(match.group(1)) * _UNITS[match.group(2)]


def wrk(
    url: str, *, connections: int, seconds: int, headers: dict[str, str] | None = None, body: dict | None = None
) -> dict[str, float]:
    """One wrk run: requests/s, latency percentiles (ms), and non-2xx/3xx responses.

    With `body`, every request is a POST of that JSON.
    """
    threads = min(2, connections)
    command = [require_wrk(), f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "30s"]
    for key, value in (headers or {}).items():
        command += ["-H", f"{key}: {value}"]
    if body is not None:
        import tempfile

        script = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)
        script.write(
            'wrk.method = "POST"\n'
            f"wrk.body = {json.dumps(json.dumps(body))}\n"
            'wrk.headers["Content-Type"] = "application/json"\n'
        )
        script.close()
        command += ["-s", script.name]
    output = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    result = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))}
    for pct in ("50", "90", "99"):
        match = re.search(rf"^\s+{pct}%\s+(\S+)", output, re.MULTILINE)
        result[f"p{pct}_ms"] = _ms(match.group(1)) if match else float("nan")
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    result["errors"] = float(errors.group(1)) if errors else 0.0
    result["socket_errors"] = float(sum(map(int, socket_errors.groups()))) if socket_errors else 0.0
    return result


def summarize(runs: list[dict[str, float]], key: str) -> dict[str, float]:
    values = [run[key] for run in runs]
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def spread(values: list[float], digits: int = 3) -> dict[str, Any]:
    """The median of `values` with its min–max spread and the rounds it came from."""
    return {
        "median": round(statistics.median(values), digits),
        "min": round(min(values), digits),
        "max": round(max(values), digits),
        "rounds": len(values),
    }


def write_result(name: str, fields: dict[str, Any], command: str) -> Path:
    """bench/results/<name>.json with the fields BENCH.md requires of every result."""
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    # Dirty: tracked files differ from the commit (the results being written are not counted).
    changes = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no", "--", ".", ":!bench/results"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    provenance: dict[str, Any] = {"command": command}
    if "stack" in _shared:  # inside `make bench`: say so, and with which merged stack settings
        provenance = {
            "command": "make bench",
            "target": command,
            # The benchmarks' own settings, merged for the one stack (none holds a secret).
            "suite_stack_env": dict(_shared["env"]),
        }
    result = {
        **fields,
        "measured_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        # "-dirty": measured on a tree with uncommitted changes to tracked files, not the commit itself.
        "git_commit": f"{commit}-dirty" if changes else commit,
        "git_dirty": bool(changes),
        "machine": {"cores": os.cpu_count(), "ram_gb": round(psutil.virtual_memory().total / 2**30, 1)},
        **provenance,
    }
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    return path


#: The fair baseline's worker processes: as many as the node has cores, as the Serve build has them.
MONOLITH_WORKERS = os.cpu_count() or 1


@contextlib.contextmanager
def running_monolith(workers: int = MONOLITH_WORKERS) -> Iterator[str]:
    """The monolith baseline: uvicorn with `workers` processes (each the whole app, as one Serve
    replica of every application would be) on a free port, with this process's CORTEX_*
    environment (the benchmark's stack); yields its base URL once it answers. The fair baseline
    has a worker per core; `workers=1` is the single-process figure kept as a second row."""
    from cortex.stack import free_port

    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "bench.monolith:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--loop",
            "uvloop",
            "--http",
            "httptools",
            "--no-access-log",
            "--log-level",
            "warning",
        ],
        env=os.environ.copy(),
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_http(url + "/api/auth/healthz", timeout_s=120)
        yield url
    finally:
        process.terminate()
        process.wait(30)


def ray_cpu_seconds(stack: Any) -> float:
    """CPU seconds (user + system) used so far by the stack's Ray processes (head, workers, Serve
    replicas, proxy): everything the stack runs except the data stores the monolith shares."""
    total = 0.0
    for process in stack.supervisor.our_processes():
        with contextlib.suppress(psutil.Error):
            name, command = process.name(), " ".join(process.cmdline())
            if name.startswith("postgres") or "valkey" in name or "redis" in name or "chroma" in command:
                continue
            times = process.cpu_times()
            total += times.user + times.system
    return total


def wait_http(url: str, timeout_s: float = 60) -> None:
    """Return once a GET of `url` answers 2xx."""
    from cortex.stack.ports import http_ok

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if http_ok(url):
            return
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


# -- one stack for the whole suite -----------------------------------------------------------------
# Every per-plan limit lifted: benchmarks measure throughput, not the abuse limits.
UNLIMITED = {plan: {kind: 10**9 for kind in ("workspace", "api_key", "visitor", "ip")} for plan in ("free", "pro")}
# What the zero-latency LLM stand-in answers (chat and sessions ask the bakery bot).
STAND_IN_ANSWER = "The bakery is open from 7am to 6pm [1]."
# Set by bench/suite.py while its one stack runs: the stack, the environment it started with,
# and its LLM stand-in's URL.
_shared: dict[str, Any] = {}


@contextlib.contextmanager
def stand_in_llm() -> Iterator[str]:
    """The URL of a local OpenAI-format server answering STAND_IN_ANSWER at once (the suite's, in a suite)."""
    if "llm_url" in _shared:
        yield _shared["llm_url"]
        return
    from cortex.devtools.openai_server import OpenAIServer

    server = OpenAIServer(answer=STAND_IN_ANSWER).start()
    try:
        yield server.url
    finally:
        server.stop()


@contextlib.contextmanager
def bench_stack(env: dict[str, str], *, prefix: str) -> Iterator[Any]:
    """A stack with `env`: the suite's shared one (which must have been started with it), or a new one."""
    from cortex.stack import ephemeral_stack

    if "stack" in _shared:
        differing = {key: value for key, value in env.items() if _shared["env"].get(key) != value}
        if differing:
            raise RuntimeError(f"the suite's stack was started without {differing}")
        yield _shared["stack"]
        return
    with ephemeral_stack(env, prefix=prefix) as stack:
        yield stack


@contextlib.contextmanager
def shared(stack: Any, env: dict[str, str], llm_url: str) -> Iterator[None]:
    """While inside, bench_stack() and stand_in_llm() hand out `stack` and `llm_url`."""
    _shared.update(stack=stack, env=env, llm_url=llm_url)
    try:
        yield
    finally:
        _shared.clear()
