"""Shared fixtures. Unit tests need nothing; integration and browser tests share one embedded stack."""

from __future__ import annotations

import os

import pytest

# The embedding model and tokenizers must load from installed packages, never a hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from tests.integration.oidc_provider import provider  # noqa: E402,F401 - fixture
from tests.replica_logs import log_offsets, replica_problems  # noqa: E402
from tests.stack_fixtures import (  # noqa: E402,F401 - fixtures
    core_pool,
    demo_build,
    embed,
    http,
    redis_client,
    running_stack,
    settings,
)

_LOG_OFFSETS = pytest.StashKey[dict[str, int]]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> object:
    stack = getattr(item, "funcargs", {}).get("running_stack")
    if stack is not None:
        item.stash[_LOG_OFFSETS] = log_offsets(stack.stack)
    return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> pytest.TestReport:
    """A failing test on the stack reports what the replicas logged as going wrong meanwhile."""
    report: pytest.TestReport = yield
    stack = getattr(item, "funcargs", {}).get("running_stack")
    if report.failed and call.when == "call" and stack is not None:
        problems = replica_problems(stack.stack, since=item.stash.get(_LOG_OFFSETS, None))
        report.sections.append(("replicas' warnings during the test", "\n".join(problems) or "(none)"))
    return report
