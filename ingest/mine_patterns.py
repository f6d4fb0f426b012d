"""Mine one workspace's helper data for candidate patterns, and retire the patterns that stopped working
(a Ray job).

    python -m ingest.mine_patterns --workspace <id>        # what the helper's schedule and
                                                           # POST /api/helper/mining/runs submit
    ray job submit -- "$PWD/.venv/bin/python" -m ingest.mine_patterns --workspace <id>   # by hand

It logs in as cortex_helper_jobs (read the helper's outcomes and advice log, insert and retire
patterns, report on its run) and reads only the workspace's rows, of the bots that still exist (a
deleted bot's patterns are retired by the helper's consumer; nothing is proposed for it). The logic (what a bot's reply
achieved, clustering, the proposal and retirement rules, and why the strategy is read from the
helper's analyses rather than from the bot's words in core) is cortex/helper/mining.py.

Steps, reported as progress {stage: reading → analysing → proposing → retiring → done,
conversations_total, conversations_done}: read the closed conversations of the last `--days`
with their advice-log turns, turn each into samples (one per situation it passed through: the
moves of the bot's replies, and whether it reached its bot's goal), propose candidates per bot and
situation, insert them (status candidate, origin mined), and retire failing patterns with their
reason. Counts: conversations, samples, situations, candidates, retired, and the evidence of each.

Turning conversations into samples is a map over conversations: past `--ray-data-min` of them it
runs on Ray Data tasks (a month of a busy workspace's turns); below, in this process, where Ray
Data's start-up (seconds, and a worker process per task) would cost more than the work.
"""

from __future__ import annotations

import argparse
import json
import logging
import uuid
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import asyncpg

from cortex.helper import mining
from cortex.helper.bandit import ArmStats
from ingest.runner import JobFailed, WorkspaceJob, open_workspace_job, run_job, workspace_arguments

log = logging.getLogger("ingest.mine_patterns")

KIND = "mining"
# Conversation ids per advice-log read: one indexed query per thousand conversations.
READ_BATCH = 1000
# Below this many conversations the samples are computed here, not on Ray Data (see the module doc).
RAY_DATA_MIN_CONVERSATIONS = 20_000
SAMPLE_TASK_CPUS = 0.05
GOAL_COLUMN = {"resolution": "resolutions", "lead": "leads", "booking": "bookings"}


async def mine(context: WorkspaceJob, args: argparse.Namespace) -> dict[str, Any]:
    if args.days < 1 or args.min_support < 1:
        raise JobFailed("bad_arguments", "--days and --min-support must be at least 1.")
    pool, workspace_id, reporter = context.pool, context.workspace_id, context.reporter
    await reporter.progress(force=True, stage="reading")
    async with pool.acquire() as conn:
        goals = {
            str(row["bot_id"]): row["goal"]
            for row in await conn.fetch("SELECT bot_id, goal FROM bot_settings WHERE workspace_id = $1", workspace_id)
        }
        conversations = await conn.fetch(
            """
            SELECT conversation_id, bot_id, outcomes, outcome FROM conversations
             WHERE workspace_id = $1 AND closed_at IS NOT NULL AND closed_at >= now() - make_interval(days => $2)
               AND bot_id IN (SELECT id FROM bots WHERE workspace_id = $1)
            """,
            workspace_id,
            args.days,
        )
    total = len(conversations)
    await reporter.progress(force=True, stage="analysing", conversations_total=total, conversations_done=0)
    rows: list[dict[str, Any]] = []
    for start in range(0, total, READ_BATCH):
        batch = conversations[start : start + READ_BATCH]
        turns = await _turns(pool, workspace_id, [row["conversation_id"] for row in batch])
        for row in batch:
            bot_id = str(row["bot_id"])
            rows.append(
                {
                    "conversation_id": str(row["conversation_id"]),
                    "bot_id": bot_id,
                    "success": mining.success(goals.get(bot_id, "resolution"), row["outcomes"], row["outcome"]),
                    "turns": json.dumps(turns.get(row["conversation_id"], [])),
                }
            )
        await reporter.progress(
            stage="analysing", conversations_total=total, conversations_done=min(total, start + READ_BATCH)
        )
    samples = _samples_on_ray(rows) if total >= args.ray_data_min else [s for r in rows for s in _samples_of_row(r)]

    await reporter.progress(force=True, stage="proposing", conversations_total=total, conversations_done=total)
    async with pool.acquire() as conn:
        patterns = await conn.fetch(
            "SELECT id, bot_id, intent, stage, instruction, status FROM patterns WHERE workspace_id = $1", workspace_id
        )
    existing, open_candidates = _in_scope(patterns, samples)
    proposals = mining.propose(
        samples, existing=existing, open_candidates=open_candidates, min_support=args.min_support
    )
    created = await _insert_candidates(pool, workspace_id, proposals)

    await reporter.progress(force=True, stage="retiring", conversations_total=total, conversations_done=total)
    retired = await _retire(pool, workspace_id, patterns, samples, goals)
    await reporter.progress(force=True, stage="done", conversations_total=total, conversations_done=total)
    log.info("mined %d conversations: %d candidates, %d retired", total, len(created), len(retired))
    return {
        "conversations": total,
        "successful": sum(1 for row in rows if row["success"]),
        "samples": len(samples),
        "situations": len({(s.bot_id, s.situation) for s in samples}),
        "candidates": len(created),
        "retired": len(retired),
        "proposed": [{"pattern_id": pattern_id, **proposal.evidence()} for pattern_id, proposal in created],
        "retirements": [{"pattern_id": r.pattern_id, "reason": r.reason} for r in retired],
    }


async def _turns(pool: asyncpg.Pool, workspace_id: uuid.UUID, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list]:
    """Per conversation, its advice-log turns in order, reduced to what mining reads (no words exist there)."""
    async with pool.acquire() as conn:
        logged = await conn.fetch(
            """
            SELECT conversation_id, analysis, guidance FROM advice_log
             WHERE workspace_id = $1 AND conversation_id = ANY($2::uuid[]) ORDER BY conversation_id, created_at, id
            """,
            workspace_id,
            list(ids),
        )
    turns: dict[uuid.UUID, list] = {}
    for row in logged:
        turn = mining.Turn.from_log(_json(row["analysis"]), _json(row["guidance"]))
        turns.setdefault(row["conversation_id"], []).append(
            [
                turn.intent,
                turn.stage,
                turn.frustration,
                turn.buying,
                turn.booking,
                sorted(turn.collected),
                turn.pattern_id,
            ]
        )
    return turns


def _json(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        value = json.loads(value)
    return value if isinstance(value, dict) else {}


def _samples_of_row(row: dict[str, Any]) -> list[mining.Sample]:
    turns = [
        mining.Turn(intent, stage, frustration, buying, booking, frozenset(collected), pattern_id)
        for intent, stage, frustration, buying, booking, collected, pattern_id in json.loads(row["turns"])
    ]
    return mining.samples_of_conversation(row["conversation_id"], row["bot_id"], turns, succeeded=bool(row["success"]))


def _sample_rows(row: dict[str, Any]) -> list[dict[str, Any]]:
    """Ray Data: one conversation row → its samples, as rows of plain columns."""
    return [
        {
            "conversation_id": s.conversation_id,
            "bot_id": s.bot_id,
            "situation": s.situation,
            "moves": ",".join(sorted(s.moves)),
            "success": s.success,
            "guided": s.guided,
        }
        for s in _samples_of_row(row)
    ]


def _samples_on_ray(rows: list[dict[str, Any]]) -> list[mining.Sample]:
    import ray

    if not ray.is_initialized():
        ray.init(logging_level=logging.WARNING, log_to_driver=False)
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    context.verbose_stats_logs = False
    dataset = ray.data.from_items(rows).flat_map(_sample_rows, num_cpus=SAMPLE_TASK_CPUS)
    return list(_from_rows(dataset.iter_rows()))


def _from_rows(rows: Iterable[dict[str, Any]]) -> Iterator[mining.Sample]:
    for row in rows:
        moves = frozenset(move for move in str(row["moves"]).split(",") if move)
        yield mining.Sample(
            str(row["conversation_id"]),
            str(row["bot_id"]),
            str(row["situation"]),
            moves,
            bool(row["success"]),
            bool(row["guided"]),
        )


def _applies(pattern: asyncpg.Record, bot_id: str, situation: str) -> bool:
    intent, stage = situation.split("/", 1)
    return (
        (pattern["bot_id"] is None or str(pattern["bot_id"]) == bot_id)
        and pattern["intent"] in (None, intent)
        and pattern["stage"] in (None, stage)
    )


def _in_scope(
    patterns: Sequence[asyncpg.Record], samples: Sequence[mining.Sample]
) -> tuple[dict[tuple[str, str], set[str]], dict[tuple[str, str], int]]:
    """Per (bot, situation) mined: the instructions of the patterns that apply there (any status) and
    how many of them are candidates."""
    existing: dict[tuple[str, str], set[str]] = {}
    candidates: dict[tuple[str, str], int] = {}
    for key in {(s.bot_id, s.situation) for s in samples}:
        applying = [p for p in patterns if _applies(p, *key)]
        existing[key] = {p["instruction"] for p in applying}
        candidates[key] = sum(1 for p in applying if p["status"] == "candidate")
    return existing, candidates


async def _insert_candidates(
    pool: asyncpg.Pool, workspace_id: uuid.UUID, proposals: Sequence[mining.Proposal]
) -> list[tuple[str, mining.Proposal]]:
    created: list[tuple[str, mining.Proposal]] = []
    async with pool.acquire() as conn, conn.transaction():
        for proposal in proposals:
            pattern_id = uuid.uuid4()
            await conn.execute(
                """
                INSERT INTO patterns (id, workspace_id, bot_id, name, intent, stage, instruction, status, origin)
                VALUES ($1, $2, $3, $4, $5, $6, $7, 'candidate', 'mined')
                """,
                pattern_id,
                workspace_id,
                uuid.UUID(proposal.bot_id),
                proposal.name,
                proposal.intent,
                proposal.stage,
                proposal.instruction,
            )
            created.append((str(pattern_id), proposal))
    return created


async def _retire(
    pool: asyncpg.Pool,
    workspace_id: uuid.UUID,
    patterns: Sequence[asyncpg.Record],
    samples: Sequence[mining.Sample],
    goals: dict[str, str],
) -> list[mining.Retirement]:
    live = {str(p["id"]): p for p in patterns if p["status"] in ("active", "candidate")}
    if not live:
        return []
    async with pool.acquire() as conn:
        stat_rows = await conn.fetch(
            "SELECT pattern_id, situation, uses, resolutions, leads, bookings FROM pattern_stats "
            "WHERE workspace_id = $1",
            workspace_id,
        )
        arms = await conn.fetch(
            "SELECT arms FROM experiments WHERE workspace_id = $1 AND status = 'running'", workspace_id
        )
    in_experiments = {str(arm["pattern_id"]) for row in arms for arm in _arms(row["arms"]) if arm.get("pattern_id")}
    workspace_goal = _workspace_goal(goals)
    all_baselines = mining.baselines(samples)
    bot_baselines: dict[str, dict[str, mining.Baseline]] = {}
    stats: dict[str, dict[str, ArmStats]] = {}
    scopes: dict[str, dict[str, mining.Baseline]] = {}
    for row in stat_rows:
        pattern = live.get(str(row["pattern_id"]))
        if pattern is None:
            continue
        bot_id = str(pattern["bot_id"]) if pattern["bot_id"] else None
        goal = goals.get(bot_id, "resolution") if bot_id else workspace_goal
        successes = int(row[GOAL_COLUMN[goal]])
        stats.setdefault(str(row["pattern_id"]), {})[row["situation"]] = ArmStats(
            successes=successes, failures=max(0, int(row["uses"]) - successes)
        )
        if bot_id is None:
            scopes[str(row["pattern_id"])] = all_baselines
        else:
            if bot_id not in bot_baselines:
                bot_baselines[bot_id] = mining.baselines(s for s in samples if s.bot_id == bot_id)
            scopes[str(row["pattern_id"])] = bot_baselines[bot_id]
    decided = mining.retirements(stats, scopes, in_experiments=in_experiments)
    retired: list[mining.Retirement] = []
    async with pool.acquire() as conn, conn.transaction():
        for retirement in decided:
            done = await conn.execute(
                """
                UPDATE patterns SET status = 'retired', retired_reason = $3, updated_at = now()
                 WHERE id = $1 AND workspace_id = $2 AND status IN ('active', 'candidate')
                """,
                uuid.UUID(retirement.pattern_id),
                workspace_id,
                retirement.reason,
            )
            if done != "UPDATE 0":
                retired.append(retirement)
    return retired


def _arms(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, str):
        value = json.loads(value)
    return [arm for arm in value if isinstance(arm, dict)] if isinstance(value, list) else []


def _workspace_goal(goals: dict[str, str]) -> str:
    """A workspace-wide pattern is judged on the goal all the workspace's bots share, else on resolution."""
    distinct = set(goals.values())
    return distinct.pop() if len(distinct) == 1 else "resolution"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--days", type=int, default=30, help="mine conversations closed in the last N days")
    parser.add_argument(
        "--min-support", type=int, default=mining.MIN_SUPPORT, help="successful conversations a strategy needs"
    )
    parser.add_argument(
        "--ray-data-min",
        type=int,
        default=RAY_DATA_MIN_CONVERSATIONS,
        help="from this many conversations on, samples are computed on Ray Data",
    )


mine.add_arguments = add_arguments  # type: ignore[attr-defined]


if __name__ == "__main__":
    run_job(
        mine,
        "Propose candidate patterns from a workspace's successful conversations; retire patterns that stopped working.",
        add_arguments=workspace_arguments,
        open_context=open_workspace_job("helper", KIND),
    )
