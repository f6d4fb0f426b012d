"""Serve's HAProxy gateway in the embedded stack: where its sockets live and which ports it takes.

Serve starts HAProxy itself (through `cortex-haproxy`); the stack only points it at per-stack
paths and ports, so two stacks on one machine (a dev stack and the test stack) do not collide.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from cortex.stack.ports import free_ports

# Serve keeps a metrics socket per node here, in a folder named like ours.
SERVE_HAPROXY_ROOT = Path("/tmp/haproxy-serve")


def socket_dir(stack_id: str) -> Path:
    """HAProxy's folder: its admin socket path (this + a 56-character node id + "/admin.sock") must
    stay under 97 bytes, so it cannot live under an arbitrary home."""
    return Path("/tmp") / f"cxh-{stack_id[:8]}"


def environment(directory: Path, state: dict[str, str]) -> dict[str, str]:
    """The RAY_SERVE_HAPROXY_* settings that put HAProxy's files in `directory` and on our ports."""
    return {
        "RAY_SERVE_HAPROXY_CONFIG_FILE_LOC": str(directory / "haproxy.cfg"),
        "RAY_SERVE_HAPROXY_SOCKET_PATH": str(directory / "admin.sock"),
        "RAY_SERVE_HAPROXY_SERVER_STATE_BASE": str(directory),
        "RAY_SERVE_HAPROXY_SERVER_STATE_FILE": str(directory / "server-state"),
        "RAY_SERVE_HAPROXY_METRICS_PORT": state.get("haproxy_metrics_port", "9101"),
        "RAY_SERVE_HAPROXY_STATS_PORT": state.get("haproxy_stats_port", "8404"),
    }


def allocate_ports(state: dict[str, str]) -> dict[str, str]:
    """The metrics and stats ports to record, or {} when `state` has them: their defaults are fixed
    numbers two stacks would share, so each stack picks free ones once."""
    if "haproxy_metrics_port" in state and "haproxy_stats_port" in state:
        return {}
    metrics_port, stats_port = free_ports(2)
    return {"haproxy_metrics_port": str(metrics_port), "haproxy_stats_port": str(stats_port)}


def remove_files(directory: Path) -> None:
    """Delete HAProxy's folder and the per-node socket folders Serve made beside it."""
    if not directory.is_dir():
        return
    for node_dir in directory.iterdir():
        shutil.rmtree(SERVE_HAPROXY_ROOT / node_dir.name, ignore_errors=True)
    shutil.rmtree(directory, ignore_errors=True)
