"""cortex-haproxy adds the header-stripping rules to the HTTP frontend of Ray's HAProxy config."""

from __future__ import annotations

import pytest

from cortex.haproxy_guard import RULES, STRIPPED_HEADERS, guard

CONFIG = """global
    maxconn 7692
frontend prometheus
    bind :9101
frontend http_frontend
    bind 127.0.0.1:8000
    acl routes path -i /-/routes
backend default_backend
    http-request del-header x-request-timeout-seconds
"""


def test_the_rules_open_the_http_frontend_and_nothing_else_moves() -> None:
    guarded = guard(CONFIG).splitlines()
    start = guarded.index("frontend http_frontend")
    assert guarded[start + 1 : start + 3] == [f"    http-request del-header {h}" for h in STRIPPED_HEADERS]
    assert guarded[start + 1 : start + 1 + len(RULES)] == list(RULES)
    assert guarded[: start + 1] + guarded[start + 1 + len(RULES) :] == CONFIG.splitlines()


def test_haproxy_appends_the_address_that_connected_to_x_forwarded_for() -> None:
    guarded = guard(CONFIG).splitlines()
    start = guarded.index("frontend http_frontend")
    assert "    option forwardfor" in guarded[start:], "per-IP limits would read what the client wrote"


def test_guarding_twice_changes_nothing() -> None:
    once = guard(CONFIG)
    assert guard(once) == once


def test_a_config_without_the_http_frontend_is_refused() -> None:
    with pytest.raises(ValueError, match="http_frontend"):
        guard("global\n    maxconn 10\n")
