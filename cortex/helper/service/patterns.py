"""Patterns: create, import (all or nothing), list with their statistics ranked, change, delete."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import asyncpg
from pydantic import ValidationError

from cortex.errors import Conflict, Invalid, NotFound
from cortex.helper import store
from cortex.helper.schemas import MAX_IMPORT_ROWS, ImportRowError, Metric, PatternCreate, PatternPublic, PatternUpdate
from cortex.helper.service.base import ServiceBase
from cortex.helper.service.stats import pattern_stats, ranked
from cortex.http.security import Principal

RETIRED_BY_MEMBER = "retired by a member"


class PatternsMixin(ServiceBase):
    async def list_patterns(
        self,
        principal: Principal,
        *,
        status: str | None,
        bot_id: uuid.UUID | None,
        intent: str | None,
        stage: str | None,
        metric: Metric | None,
        limit: int,
        offset: int,
    ) -> list[PatternPublic]:
        """The workspace's patterns with their statistics, best first by the Wilson lower bound."""
        async with self.db.acquire() as conn:
            rows = await store.list_patterns(
                conn, workspace_id=principal.workspace_id, status=status, bot_id=bot_id, intent=intent, stage=stage
            )
            patterns = await self._public(conn, principal.workspace_id, rows, metric=metric, bot_id=bot_id)
        return ranked(patterns)[offset : offset + limit]

    async def get_pattern(
        self, principal: Principal, pattern_id: uuid.UUID, *, metric: Metric | None = None
    ) -> PatternPublic:
        async with self.db.acquire() as conn:
            row = await store.get_pattern(conn, workspace_id=principal.workspace_id, pattern_id=pattern_id)
            if row is None:
                raise NotFound("pattern not found")
            [pattern] = await self._public(conn, principal.workspace_id, [row], metric=metric)
        return pattern

    async def create_pattern(self, principal: Principal, data: PatternCreate) -> PatternPublic:
        if data.bot_id is not None:
            await self.require_bot(principal, data.bot_id)
        [vector] = await self.embed([data.example]) if data.example else [None]
        async with self.db.acquire() as conn:
            [row] = await store.insert_patterns(
                conn,
                workspace_id=principal.workspace_id,
                rows=[{**data.model_dump(), "id": uuid.uuid4(), "example_embedding": vector, "origin": "owner"}],
            )
            [pattern] = await self._public(conn, principal.workspace_id, [row], metric=None)
        return pattern

    async def import_patterns(self, principal: Principal, rows: Sequence[Any]) -> list[PatternPublic]:
        """Every row valid and imported, or none (422 naming each bad row by its index and why)."""
        if not rows:
            raise Invalid("nothing to import: send a JSON list of patterns")
        if len(rows) > MAX_IMPORT_ROWS:
            raise Invalid(f"at most {MAX_IMPORT_ROWS} patterns per import (got {len(rows)}); split the list")
        errors: list[ImportRowError] = []
        valid: list[tuple[int, PatternCreate]] = []
        for index, row in enumerate(rows):
            try:
                valid.append((index, PatternCreate.model_validate(row)))
            except ValidationError as error:
                for problem in error.errors():
                    field = ".".join(str(part) for part in problem.get("loc", ())) or "row"
                    errors.append(ImportRowError(index=index, field=field, message=problem.get("msg", "invalid")))
        bot_ids = {pattern.bot_id for _, pattern in valid if pattern.bot_id is not None}
        async with self.db.acquire() as conn:
            known = {
                bot_id
                for bot_id in bot_ids
                if await store.bot_exists(conn, workspace_id=principal.workspace_id, bot_id=bot_id)
            }
        for index, pattern in valid:
            if pattern.bot_id is not None and pattern.bot_id not in known:
                errors.append(ImportRowError(index=index, field="bot_id", message="no such bot in this workspace"))
        if errors:
            bad = len({error.index for error in errors})
            errors.sort(key=lambda error: error.index)
            raise Invalid(
                f"{bad} of {len(rows)} patterns are invalid; nothing was imported",
                details=[error.model_dump() for error in errors],
            )
        examples = [pattern.example for _, pattern in valid if pattern.example]
        vectors = iter(await self.embed(examples)) if examples else iter(())
        records = [
            {
                **pattern.model_dump(),
                "id": uuid.uuid4(),
                "example_embedding": next(vectors) if pattern.example else None,
                "origin": "import",
            }
            for _, pattern in valid
        ]
        async with self.db.acquire() as conn, conn.transaction():
            inserted = await store.insert_patterns(conn, workspace_id=principal.workspace_id, rows=records)
            return await self._public(conn, principal.workspace_id, inserted, metric=None)

    async def update_pattern(self, principal: Principal, pattern_id: uuid.UUID, data: PatternUpdate) -> PatternPublic:
        fields: dict[str, Any] = {name: getattr(data, name) for name in data.model_fields_set}
        if fields.get("bot_id") is not None:
            await self.require_bot(principal, fields["bot_id"])
        if "example" in fields:
            fields["example_embedding"] = (await self.embed([fields["example"]]))[0] if fields["example"] else None
        async with self.db.acquire() as conn, conn.transaction():
            current = await store.get_pattern(
                conn, workspace_id=principal.workspace_id, pattern_id=pattern_id, for_update=True
            )
            if current is None:
                raise NotFound("pattern not found")
            status = fields.get("status", current["status"])
            if status == "retired":
                if current["status"] != "retired" or "retired_reason" in fields:
                    fields["retired_reason"] = fields.get("retired_reason") or RETIRED_BY_MEMBER
            elif "status" in fields:
                fields["retired_reason"] = None
            moves_scope = "bot_id" in fields and fields["bot_id"] != current["bot_id"]
            if (status == "retired" and current["status"] != "retired") or moves_scope:
                await self._refuse_if_in_experiment(conn, principal.workspace_id, pattern_id, "retire or move")
            row = await store.update_pattern(
                conn, workspace_id=principal.workspace_id, pattern_id=pattern_id, fields=fields
            )
            assert row is not None  # locked above
            [pattern] = await self._public(conn, principal.workspace_id, [row], metric=None)
        return pattern

    async def delete_pattern(self, principal: Principal, pattern_id: uuid.UUID) -> None:
        async with self.db.acquire() as conn, conn.transaction():
            current = await store.get_pattern(
                conn, workspace_id=principal.workspace_id, pattern_id=pattern_id, for_update=True
            )
            if current is None:
                raise NotFound("pattern not found")
            await self._refuse_if_in_experiment(conn, principal.workspace_id, pattern_id, "delete")
            await store.delete_pattern(conn, workspace_id=principal.workspace_id, pattern_id=pattern_id)

    @staticmethod
    async def _refuse_if_in_experiment(
        conn: asyncpg.Connection, workspace_id: uuid.UUID, pattern_id: uuid.UUID, action: str
    ) -> None:
        running = await store.experiments_using_pattern(conn, workspace_id=workspace_id, pattern_id=pattern_id)
        if running:
            names = ", ".join(f"{row['name']!r}" for row in running)
            raise Conflict(
                f"cannot {action} a pattern that running experiments test ({names}): stop or promote them first",
                details={"experiment_ids": [str(row["id"]) for row in running]},
            )

    async def _public(
        self,
        conn: asyncpg.Connection,
        workspace_id: uuid.UUID,
        rows: Sequence[asyncpg.Record],
        *,
        metric: Metric | None,
        bot_id: uuid.UUID | None = None,
    ) -> list[PatternPublic]:
        """The API form with statistics per `metric`; without one, per the goal of the bot the pattern (or
        the listing) is for, and resolution for a workspace-wide pattern."""
        stats = await store.stats_of_patterns(conn, workspace_id=workspace_id, pattern_ids=[row["id"] for row in rows])
        by_pattern: dict[uuid.UUID, list[asyncpg.Record]] = {}
        for stat in stats:
            by_pattern.setdefault(stat["pattern_id"], []).append(stat)
        goals = await store.goals_of_workspace(conn, workspace_id=workspace_id) if metric is None else {}
        patterns = []
        for row in rows:
            goal: Metric = metric or goals.get(bot_id or row["bot_id"], store.DEFAULT_GOAL)
            patterns.append(
                PatternPublic(
                    **{key: row[key] for key in PatternPublic.model_fields if key != "stats"},
                    stats=pattern_stats(by_pattern.get(row["id"], []), goal),
                )
            )
        return patterns
