"""The client IP that per-IP limits key on: X-Forwarded-For only as far as trusted proxies wrote it."""

from __future__ import annotations

from starlette.requests import Request

from cortex.http.security import client_ip
from cortex.settings import Settings

HAPROXY = "127.0.0.1"


def _request(peer: str, *forwarded_for: str) -> Request:
    headers = [(b"x-forwarded-for", line.encode()) for line in forwarded_for]
    return Request({"type": "http", "method": "GET", "path": "/", "headers": headers, "client": (peer, 40000)})


def _settings(**fields: object) -> Settings:
    return Settings(**fields)  # type: ignore[arg-type]


def test_haproxys_own_entry_names_the_client_not_what_the_client_wrote() -> None:
    # The client wrote 6.6.6.6; HAProxy appended the address that connected to it, on a line of its own.
    request = _request(HAPROXY, "6.6.6.6", "203.0.113.7")
    assert client_ip(request, _settings()) == "203.0.113.7"
    assert client_ip(_request(HAPROXY, "6.6.6.6, 203.0.113.7"), _settings()) == "203.0.113.7"


def test_rotating_a_forged_entry_does_not_change_the_address() -> None:
    addresses = {client_ip(_request(HAPROXY, f"10.0.0.{n}", "203.0.113.7"), _settings()) for n in range(1, 50)}
    assert addresses == {"203.0.113.7"}


def test_an_ingress_in_front_of_haproxy_is_one_more_trusted_entry() -> None:
    # The client wrote 6.6.6.6, the ingress appended the client's address, HAProxy the ingress's.
    request = _request(HAPROXY, "6.6.6.6, 198.51.100.4, 10.1.2.3")
    assert client_ip(request, _settings(trusted_proxy_count=1)) == "198.51.100.4"


def test_forwarded_for_from_anyone_but_a_trusted_proxy_is_ignored() -> None:
    request = _request("203.0.113.99", "198.51.100.4")
    assert client_ip(request, _settings()) == "203.0.113.99"
    assert client_ip(request, _settings(trusted_proxy_count=1)) == "203.0.113.99"
    in_cluster = _request("10.4.0.9", "6.6.6.6", "198.51.100.4")
    assert client_ip(in_cluster, _settings(trusted_proxies=["10.0.0.0/8"])) == "198.51.100.4"


def test_without_forwarded_for_or_with_garbage_the_peer_is_the_client() -> None:
    assert client_ip(_request(HAPROXY), _settings()) == HAPROXY
    assert client_ip(_request(HAPROXY, "not-an-ip"), _settings()) == HAPROXY


def test_an_ip_limit_counts_an_ipv6_client_by_its_64_network() -> None:
    from cortex.http.security import ip_key

    assert ip_key("2001:db8:1:2::1") == ip_key("2001:db8:1:2:ffff::9") == "2001:db8:1:2::/64"
    assert ip_key("2001:db8:1:3::1") != ip_key("2001:db8:1:2::1")
    assert ip_key("198.51.100.7") == "198.51.100.7" and ip_key("not an address") == "not an address"


async def test_serves_proxy_leaves_the_forwarded_header_to_client_ip(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Serve's proxy is uvicorn, run with Ray's environment (the stack's). Left to its default, it
    rewrites the client from X-Forwarded-For when the peer is 127.0.0.1 (HAProxy), to the first hop
    it does not trust: behind an ingress, the ingress, one address for every caller."""
    import uvicorn
    from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

    from cortex.stack.processes import Supervisor

    monkeypatch.setenv(
        "FORWARDED_ALLOW_IPS", Supervisor(Settings(home=tmp_path)).env().get("FORWARDED_ALLOW_IPS", "127.0.0.1")
    )
    seen: list[Request] = []

    async def app(scope, receive, send) -> None:  # type: ignore[no-untyped-def]
        seen.append(Request(scope))

    proxy = ProxyHeadersMiddleware(app, trusted_hosts=uvicorn.Config(app).forwarded_allow_ips)
    # The client wrote 6.6.6.6, the ingress appended the client's address, HAProxy the ingress's.
    scope = _request(HAPROXY, "6.6.6.6, 198.51.100.4, 10.1.2.3").scope
    await proxy(scope, None, None)  # type: ignore[arg-type]
    assert client_ip(seen[0], _settings(trusted_proxy_count=1)) == "198.51.100.4"
