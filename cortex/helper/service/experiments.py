"""Experiments: create (running at once), list and inspect with live results, stop, promote the winner."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import asyncpg

from cortex.errors import Conflict, Invalid, NotFound
from cortex.helper import store
from cortex.helper.schemas import ExperimentCreate, ExperimentPublic, ExperimentResults
from cortex.helper.service.base import ServiceBase
from cortex.helper.service.results import experiment_results
from cortex.http.security import Principal

STOPPED_BY_MEMBER = "stopped by a member"


def promoted_reason(arm: str, *, automatically: bool) -> str:
    return f"promoted {arm}" + (" automatically" if automatically else "")


def lost_reason(experiment_name: str) -> str:
    return f"lost experiment {experiment_name}"


def _overlaps(row: Mapping[str, Any], data: ExperimentCreate) -> bool:
    """Two experiments compete for a turn when their bots and situations can meet."""
    same_bots = row["bot_id"] is None or data.bot_id is None or row["bot_id"] == data.bot_id
    same_intent = row["intent"] is None or data.intent is None or row["intent"] == data.intent
    same_stage = row["stage"] is None or data.stage is None or row["stage"] == data.stage
    return same_bots and same_intent and same_stage


class ExperimentsMixin(ServiceBase):
    async def create_experiment(self, principal: Principal, data: ExperimentCreate) -> ExperimentPublic:
        """Check the arms' patterns (the workspace's, in the experiment's scope, not retired) and start it."""
        if data.bot_id is not None:
            await self.require_bot(principal, data.bot_id)
        workspace_id = principal.workspace_id
        named = {arm.pattern_id for arm in data.arms if arm.pattern_id is not None}
        async with self.db.acquire() as conn, conn.transaction():
            found = {
                row["id"]: row
                for row in await store.patterns_by_ids(conn, workspace_id=workspace_id, pattern_ids=sorted(named))
            }
            problems = []
            for index, arm in enumerate(data.arms):
                if arm.pattern_id is None:
                    continue
                pattern = found.get(arm.pattern_id)
                field = f"arms.{index}.pattern_id"
                if pattern is None:
                    problems.append({"field": field, "message": "no such pattern in this workspace"})
                elif pattern["status"] == "retired":
                    problems.append({"field": field, "message": "the pattern is retired"})
                elif pattern["bot_id"] is not None and data.bot_id is None:
                    problems.append(
                        {
                            "field": field,
                            "message": "the pattern is one bot's: an experiment on every bot takes "
                            "workspace-wide patterns",
                        }
                    )
                elif pattern["bot_id"] is not None and pattern["bot_id"] != data.bot_id:
                    problems.append({"field": field, "message": "the pattern is another bot's"})
            if problems:
                summary = "; ".join(f"{p['field']}: {p['message']}" for p in problems)
                raise Invalid(f"invalid arms: {summary}", details=problems)
            # One experiment at a time decides a turn: a second one covering the same bots and situation
            # would get no traffic there, and its results would mean nothing.
            await conn.execute(
                "SELECT pg_advisory_xact_lock(hashtext('helper.experiments:' || $1::text))", str(workspace_id)
            )
            for row in await store.list_experiments(conn, workspace_id=workspace_id, status="running"):
                if _overlaps(row, data):
                    raise Conflict(
                        f"the running experiment {row['name']!r} already covers these bots and this situation: "
                        "stop it first, or narrow this one's bot, intent or stage",
                        details={"experiment_id": str(row["id"])},
                    )
            row = await store.insert_experiment(
                conn,
                workspace_id=workspace_id,
                experiment_id=uuid.uuid4(),
                bot_id=data.bot_id,
                name=data.name,
                intent=data.intent,
                stage=data.stage,
                metric=data.metric,
                arms=[
                    {
                        "name": arm.name,
                        "weight": arm.weight,
                        "pattern_id": str(arm.pattern_id) if arm.pattern_id else None,
                        "addendum": arm.addendum,
                    }
                    for arm in data.arms
                ],
                auto_promote=data.auto_promote,
            )
            return await self._experiment_public(conn, row)

    async def list_experiments(
        self, principal: Principal, *, status: str | None, bot_id: uuid.UUID | None, limit: int, offset: int
    ) -> list[ExperimentPublic]:
        async with self.db.acquire() as conn:
            rows = await store.list_experiments(conn, workspace_id=principal.workspace_id, status=status, bot_id=bot_id)
            return [await self._experiment_public(conn, row) for row in rows[offset : offset + limit]]

    async def get_experiment(self, principal: Principal, experiment_id: uuid.UUID) -> ExperimentPublic:
        async with self.db.acquire() as conn:
            row = await store.get_experiment(conn, workspace_id=principal.workspace_id, experiment_id=experiment_id)
            if row is None:
                raise NotFound("experiment not found")
            return await self._experiment_public(conn, row)

    async def stop_experiment(self, principal: Principal, experiment_id: uuid.UUID) -> ExperimentPublic:
        async with self.db.acquire() as conn, conn.transaction():
            current = await store.get_experiment(
                conn, workspace_id=principal.workspace_id, experiment_id=experiment_id, for_update=True
            )
            if current is None:
                raise NotFound("experiment not found")
            if current["status"] != "running":
                raise Conflict("the experiment is already stopped")
            row = await store.stop_experiment(
                conn, workspace_id=principal.workspace_id, experiment_id=experiment_id, reason=STOPPED_BY_MEMBER
            )
            assert row is not None  # locked above
            return await self._experiment_public(conn, row)

    async def promote_experiment(
        self, principal: Principal, experiment_id: uuid.UUID, *, arm: str | None
    ) -> ExperimentPublic:
        """Promote `arm` (default: the declared winner): the experiment stops, the arm's pattern goes
        active (an addendum-only arm becomes a pattern of the experiment's situation), the other arms'
        patterns retire. A stopped experiment may still be promoted once."""
        async with self.db.acquire() as conn, conn.transaction():
            row = await store.get_experiment(
                conn, workspace_id=principal.workspace_id, experiment_id=experiment_id, for_update=True
            )
            if row is None:
                raise NotFound("experiment not found")
            if row["winner"] is not None:
                raise Conflict(f"the experiment already promoted {row['winner']}")
            names = [str(a["name"]) for a in row["arms"]]
            if arm is None:
                results = await self._results(conn, row)
                if results.winner is None:
                    raise Conflict(
                        "no winner is declared yet: name the arm to promote it anyway (the test cannot vouch for it)",
                        details={"verdict": results.verdict, "guidance": results.guidance},
                    )
                arm = results.winner
            matched = next((name for name in names if name.casefold() == arm.casefold()), None)
            if matched is None:
                raise Invalid(f"no arm {arm!r} in this experiment (arms: {', '.join(names)})")
            updated = await promote(conn, row, matched, automatically=False)
            return await self._experiment_public(conn, updated)

    async def _results(self, conn: asyncpg.Connection, row: Mapping[str, Any]) -> ExperimentResults:
        units = await store.experiment_units(
            conn, workspace_id=row["workspace_id"], experiment_id=row["id"], metric=row["metric"]
        )
        return experiment_results(row["arms"], units)

    async def _experiment_public(self, conn: asyncpg.Connection, row: Mapping[str, Any]) -> ExperimentPublic:
        return ExperimentPublic(
            **{key: row[key] for key in ExperimentPublic.model_fields if key != "results"},
            results=await self._results(conn, row),
        )


async def promote(conn: asyncpg.Connection, row: Mapping[str, Any], arm: str, *, automatically: bool) -> asyncpg.Record:
    """In the caller's transaction, with the experiment's row locked: stop it with `arm` as the winner,
    make the arm's pattern active (or its addendum a new active pattern), retire the losers' patterns."""
    workspace_id: uuid.UUID = row["workspace_id"]
    arms = {str(a["name"]): a for a in row["arms"]}
    winning = arms[arm]
    winner_pattern = uuid.UUID(winning["pattern_id"]) if winning.get("pattern_id") else None
    if winner_pattern is None and winning.get("addendum"):
        [created] = await store.insert_patterns(
            conn,
            workspace_id=workspace_id,
            rows=[
                {
                    "id": uuid.uuid4(),
                    "bot_id": row["bot_id"],
                    "name": f"{row['name']}: {arm}"[:120],
                    "intent": row["intent"],
                    "stage": row["stage"],
                    "example": "",
                    "example_embedding": None,
                    "instruction": winning["addendum"],
                    "status": "active",
                    "origin": "owner",
                }
            ],
        )
        winner_pattern = created["id"]
    if winner_pattern is not None:
        await store.set_pattern_status(conn, workspace_id=workspace_id, pattern_ids=[winner_pattern], status="active")
    losers = {uuid.UUID(a["pattern_id"]) for name, a in arms.items() if name != arm and a.get("pattern_id")} - {
        winner_pattern
    }
    if losers:
        await store.set_pattern_status(
            conn,
            workspace_id=workspace_id,
            pattern_ids=sorted(losers),
            status="retired",
            retired_reason=lost_reason(row["name"]),
        )
    reason = promoted_reason(arm, automatically=automatically)
    if row["status"] == "running":
        updated = await store.stop_experiment(
            conn, workspace_id=workspace_id, experiment_id=row["id"], reason=reason, winner=arm
        )
    else:
        updated = await store.set_experiment_winner(
            conn, workspace_id=workspace_id, experiment_id=row["id"], winner=arm
        )
    assert updated is not None  # the caller locked the row
    return updated
