"""The helper's promotion loop: an experiment created with `auto_promote` promotes its winner itself.

Every `PROMOTION_INTERVAL_S` each replica looks at the running auto-promoting experiments; one whose
test declares a winner is promoted (stopped, the winner's pattern active, the losers' retired) in a
transaction that locks its row and checks it is still running, so two replicas never promote twice.
The test's guarantee is what makes this safe: its p-value stays valid however often it is looked at.
"""

from __future__ import annotations

import logging

import asyncpg

from cortex.background import repeat
from cortex.helper import store
from cortex.helper.service import promote
from cortex.helper.service.results import experiment_results
from cortex.http.app import ServiceResources

log = logging.getLogger("cortex.helper")

# 10 s: a winner is promoted within seconds of being declared, at one indexed query per replica per
# round (and one results query per auto-promoting experiment).
PROMOTION_INTERVAL_S = 10.0
# Experiments looked at per round: the rest wait for the next round.
PER_ROUND = 200


async def promote_winners(pool: asyncpg.Pool) -> list[tuple[str, str]]:
    """One round: promote every running auto-promoting experiment whose test declares a winner;
    the (experiment id, arm) pairs promoted."""
    async with pool.acquire() as conn:
        candidates = await store.running_auto_promote_experiments(conn, limit=PER_ROUND)
    promoted = []
    for candidate in candidates:
        async with pool.acquire() as conn:
            units = await store.experiment_units(
                conn,
                workspace_id=candidate["workspace_id"],
                experiment_id=candidate["id"],
                metric=candidate["metric"],
            )
        winner = experiment_results(candidate["arms"], units).winner
        if winner is None:
            continue
        async with pool.acquire() as conn, conn.transaction():
            row = await store.get_experiment(
                conn, workspace_id=candidate["workspace_id"], experiment_id=candidate["id"], for_update=True
            )
            if row is None or row["status"] != "running" or row["winner"] is not None:
                continue  # another replica, or a member, was first
            await promote(conn, row, winner, automatically=True)
        log.info("experiment %s promoted its winner %s", candidate["id"], winner)
        promoted.append((str(candidate["id"]), winner))
    return promoted


async def promote_loop(resources: ServiceResources) -> None:
    """Runs for the replica's lifetime (a background task of the helper application)."""
    assert resources.db is not None
    pool = resources.db
    await repeat(
        lambda: promote_winners(pool), every_s=PROMOTION_INTERVAL_S, stop=resources.stopping, what="promotion round"
    )
