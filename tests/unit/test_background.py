"""A service's background loop: round after round, surviving a failed round, ending with the replica."""

from __future__ import annotations

import asyncio

import pytest

from cortex.background import repeat


async def test_rounds_run_until_the_replica_stops_and_a_failed_round_is_not_the_last() -> None:
    stop = asyncio.Event()
    rounds: list[int] = []

    async def work() -> None:
        rounds.append(len(rounds))
        if len(rounds) == 2:
            raise ConnectionRefusedError("postgres is restarting")
        if len(rounds) == 3:
            raise ValueError("a bug in one round")
        if len(rounds) == 5:
            stop.set()

    await asyncio.wait_for(repeat(work, every_s=0.01, stop=stop, what="test round"), timeout=5)

    assert rounds == [0, 1, 2, 3, 4], "the loop went on after both failures and ended when told"


async def test_a_stop_during_the_wait_ends_the_loop_at_once() -> None:
    stop = asyncio.Event()
    rounds = 0

    async def work() -> None:
        nonlocal rounds
        rounds += 1

    loop = asyncio.ensure_future(repeat(work, every_s=3600, stop=stop, what="test round"))
    await asyncio.sleep(0.05)
    stop.set()
    await asyncio.wait_for(loop, timeout=1)
    assert rounds == 1


async def test_an_outage_is_logged_in_one_line_and_a_bug_with_its_traceback(caplog: pytest.LogCaptureFixture) -> None:
    stop = asyncio.Event()
    failures = [ConnectionRefusedError("down"), KeyError("bug")]

    async def work() -> None:
        if not failures:
            stop.set()
            return
        raise failures.pop(0)

    await asyncio.wait_for(repeat(work, every_s=0.01, stop=stop, what="test round"), timeout=5)

    outage, bug = [record for record in caplog.records if "test round failed" in record.getMessage()]
    assert not outage.exc_info, "an outage is one line per round, not a traceback"
    assert bug.exc_info
