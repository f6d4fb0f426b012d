"""How Serve runs, on one machine and in the cluster: the config file and the environment tuning.

The embedded stack (cortex/stack/) and the RayService renderer (cortex/cluster.py) both apply
this, so a local run measures what production runs. Importing it starts nothing.
"""

from __future__ import annotations

import resource
from pathlib import Path

SERVE_CONFIG = Path(__file__).resolve().parent.parent / "serve_config.yaml"

# Measured with the chat benchmark's turns on 2 cores (CPU per turn, all processes).
RAY_SERVE_TUNING = {
    # HAProxy in front of direct ingress: Serve's Python proxy collapsed to ~22 rps.
    "RAY_SERVE_ENABLE_HA_PROXY": "1",
    # User code and the handle router share the replica's event loop: no cross-thread hop per call.
    "RAY_SERVE_THROUGHPUT_OPTIMIZED": "1",
    # That mode holds log records back until 1,000 gather; write each as it comes (few: access logs are off).
    "RAY_SERVE_REQUEST_PATH_LOG_BUFFER_SIZE": "1",
    # Metrics every 1 s and the control loop every 0.5 s (defaults 0.1 s): ~30 ms of CPU per turn saved.
    "RAY_SERVE_METRICS_EXPORT_INTERVAL_MS": "1000",
    "RAY_SERVE_CONTROL_LOOP_INTERVAL_S": "0.5",
}
# A container's usual descriptor limit, which the rendered cluster assumes.
CLUSTER_NOFILE = 1_048_576


def haproxy_maxconn(nofile: int) -> int:
    """Client connections HAProxy can hold with `nofile` descriptors.

    HAProxy's default of 4,096 would silently cap a node's open widgets (each holds a stream); it
    asks for ~2.5 descriptors per connection (7,500 streams held with a limit of 20,000; at 12,000
    it refused to start).
    """
    return max(1024, min(100_000, int(nofile / 2.6)))


def serve_tuning(nofile: int, haproxy_guard: str) -> dict[str, str]:
    """Serve's settings for a node with `nofile` descriptors whose HAProxy is started through
    `haproxy_guard` (the `cortex-haproxy` program: cortex/haproxy_guard.py)."""
    return {
        **RAY_SERVE_TUNING,
        "RAY_SERVE_HAPROXY_MAXCONN": str(haproxy_maxconn(nofile)),
        "RAY_SERVE_HAPROXY_BINARY_PATH": haproxy_guard,
    }


def raise_nofile() -> int:
    """Lift this process's soft descriptor limit to the hard one (Ray inherits it); returns it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = hard
    return soft if soft != resource.RLIM_INFINITY else CLUSTER_NOFILE
