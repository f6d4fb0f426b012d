"""Ports and probes: free ports to run on, whether one is taken and by whom, whether HTTP answers."""

from __future__ import annotations

import contextlib
import socket

import httpx
import psutil


def port_open(host: str, port: int) -> bool:
    """Whether something accepts TCP connections on host:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def free_port() -> int:
    """A port nothing listens on right now."""
    return free_ports(1)[0]


def free_ports(count: int) -> list[int]:
    """`count` distinct free ports: every socket stays bound until all are chosen, so the kernel
    cannot hand the same port out twice."""
    with contextlib.ExitStack() as sockets:
        ports = []
        for _ in range(count):
            sock = sockets.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind(("127.0.0.1", 0))
            ports.append(int(sock.getsockname()[1]))
        return ports


def port_owner(port: int) -> str | None:
    """The listening process on `port` ("name (pid N)"), when this user may see it."""
    with contextlib.suppress(psutil.Error, OSError):
        for conn in psutil.net_connections("tcp"):
            if conn.laddr and conn.laddr.port == port and conn.status == psutil.CONN_LISTEN and conn.pid:
                process = psutil.Process(conn.pid)
                return f"{process.name()} (pid {conn.pid})"
    return None


def http_ok(url: str, timeout_s: float = 2) -> bool:
    """Whether a GET of `url` answers 2xx."""
    try:
        return httpx.get(url, timeout=timeout_s, follow_redirects=True).is_success
    except httpx.HTTPError:
        return False
