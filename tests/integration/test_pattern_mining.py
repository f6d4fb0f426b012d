"""Pattern mining on the real stack: an owner starts a run through the API, the helper submits the Ray job
(`ingest/mine_patterns.py`, logged in as cortex_helper_jobs), the job reports its progress and counts on
the run, proposes a candidate from the successful conversations and retires the pattern that stopped
working; the schedule is claimed exactly once by racing loops, and a failing run says why."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from cortex import jobs, schedules
from cortex.db.pool import create_pool
from cortex.helper.mining_api import MINING
from cortex.settings import Settings
from tests.stack_fixtures import RunningStack

from .accounts import Account, member_of, register
from .chatting import eventually, make_bot
from .db import service_conn

STRATEGY = (
    "Answer the question directly, propose a concrete next step, offer to book a slot, then ask for their "
    "name and email."
)
NO_GUIDANCE = {"text": "", "pattern_id": None, "experiment_id": None, "arm": None, "situation": None}


def _analysis(intent: str, stage: str, *, booking: float = 0.0, collected: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "intent": intent,
        "intent_confidence": 0.9,
        "stage": stage,
        "sentiment": 0.0,
        "frustration": 0.0,
        "churn_risk": 0.0,
        "buying_signal": 0.0,
        "booking_signal": booking,
        "missing": [],
        "collected": list(collected),
        "visitor_turns": 1,
        "intent_probabilities": {},
    }


async def _conversation(
    conn: asyncpg.Connection, workspace_id: uuid.UUID, bot_id: uuid.UUID, turns: list[dict], outcome: str
) -> None:
    conversation_id = uuid.uuid4()
    closed = datetime.now(UTC) - timedelta(hours=1)
    await conn.execute(
        """
        INSERT INTO conversations (conversation_id, workspace_id, bot_id, visitor_id, outcomes, outcome, closed_at,
                                   started_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
        """,
        conversation_id,
        workspace_id,
        bot_id,
        f"v-{uuid.uuid4().hex[:8]}",
        [outcome],
        outcome,
        closed,
        closed - timedelta(minutes=10),
    )
    for index, analysis in enumerate(turns):
        await conn.execute(
            """
            INSERT INTO advice_log (id, workspace_id, bot_id, conversation_id, analysis, guidance, created_at)
            VALUES ($1, $2, $3, $4, $5::jsonb, $6::jsonb, $7)
            """,
            uuid.uuid4(),
            workspace_id,
            bot_id,
            conversation_id,
            analysis,
            {**NO_GUIDANCE, "situation": f"{analysis['intent']}/{analysis['stage']}", "reason": "no_pattern"},
            closed - timedelta(minutes=9 - index),
        )


async def _pattern(
    conn: asyncpg.Connection, workspace_id: uuid.UUID, bot_id: uuid.UUID, name: str, uses: int, resolutions: int
) -> uuid.UUID:
    pattern_id = uuid.uuid4()
    await conn.execute(
        """
        INSERT INTO patterns (id, workspace_id, bot_id, name, intent, stage, instruction, status, origin)
        VALUES ($1, $2, $3, $4, 'pricing', 'consideration', $5, 'active', 'owner')
        """,
        pattern_id,
        workspace_id,
        bot_id,
        name,
        f"{name}: tell the visitor what to do.",
    )
    await conn.execute(
        """
        INSERT INTO pattern_stats (workspace_id, pattern_id, situation, uses, resolutions)
        VALUES ($1, $2, 'pricing/consideration', $3, $4)
        """,
        workspace_id,
        pattern_id,
        uses,
        resolutions,
    )
    return pattern_id


async def _seed(settings: Settings, owner: Account, bot: dict) -> dict[str, uuid.UUID]:
    """40 closed pricing conversations without guidance: 14 where the bot moved the visitor on to book and
    took their email (12 booked), 26 where it only answered (6 resolved); a pattern that fails (4 of 40), one
    that works (20 of 40), and a failing one that is an arm of a running experiment; and 14 successful
    conversations of a bot that was deleted."""
    workspace_id, bot_id = uuid.UUID(owner.workspace_id), uuid.UUID(bot["id"])
    asked = _analysis("pricing", "consideration")
    booked = _analysis("booking", "decision", booking=0.8, collected=("email",))
    async with service_conn(settings, "helper") as conn:

        async def known() -> bool:  # the helper learns of the bot from core's bot.created event
            return bool(await conn.fetchval("SELECT 1 FROM bots WHERE id = $1", bot_id))

        await eventually(known, what="the helper to know the bot")
        for index in range(14):
            await _conversation(conn, workspace_id, bot_id, [asked, booked], "booked" if index < 12 else "abandoned")
        for index in range(26):
            await _conversation(conn, workspace_id, bot_id, [asked], "resolved" if index < 6 else "abandoned")
        gone = uuid.uuid4()  # a deleted bot's conversations: nothing is mined for it
        for _ in range(14):
            await _conversation(conn, workspace_id, gone, [asked, booked], "booked")
        failing = await _pattern(conn, workspace_id, bot_id, "Call us", uses=40, resolutions=4)
        working = await _pattern(conn, workspace_id, bot_id, "Show the plans", uses=40, resolutions=20)
        tested = await _pattern(conn, workspace_id, bot_id, "Under test", uses=40, resolutions=3)
        await conn.execute(
            """
            INSERT INTO experiments (id, workspace_id, bot_id, name, metric, arms, status)
            VALUES ($1, $2, $3, 'call or not', 'resolution', $4::jsonb, 'running')
            """,
            uuid.uuid4(),
            workspace_id,
            bot_id,
            [
                {"name": "A", "weight": 50, "pattern_id": str(tested), "addendum": None},
                {"name": "B", "weight": 50, "pattern_id": None, "addendum": None},
            ],
        )
    return {"failing": failing, "working": working, "tested": tested}


async def _finished(http: httpx.AsyncClient, owner: Account, run_id: str) -> dict:
    async def done() -> dict | None:
        response = await http.get(f"/api/helper/mining/runs/{run_id}", headers=owner.headers)
        assert response.status_code == 200, response.text
        run = response.json()
        return run if run["status"] in ("succeeded", "failed") else None

    return await eventually(done, within_s=120, what=f"mining run {run_id} to finish")


async def _start(http: httpx.AsyncClient, owner: Account) -> dict:
    response = await http.post("/api/helper/mining/runs", headers=owner.headers)
    assert response.status_code == 202, response.text
    run = response.json()
    assert run["status"] == "queued" and run["trigger"] == "owner", run
    return run


@pytest.fixture
def ray_client(running_stack: RunningStack, monkeypatch: pytest.MonkeyPatch) -> None:
    """This process submits jobs as the helper's replicas do: with the embedded cluster's token."""
    monkeypatch.setenv("RAY_AUTH_MODE", "token")
    monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", str(running_stack.home / "ray_auth_token"))


@pytest.mark.usefixtures("ray_client")
async def test_an_owner_starts_a_mining_run_that_proposes_a_candidate_and_retires_a_failing_pattern(
    http: httpx.AsyncClient, settings: Settings
) -> None:
    owner = await register(http)
    bot = await make_bot(http, owner)
    seeded = await _seed(settings, owner, bot)

    run = await _start(http, owner)
    again = await http.post("/api/helper/mining/runs", headers=owner.headers)
    assert again.status_code == 409 and again.json()["error"]["details"]["run_id"] == run["id"], again.text
    viewer = await member_of(http, owner, "viewer")
    refused = await http.post("/api/helper/mining/runs", headers=viewer.headers)
    assert refused.status_code == 403, refused.text

    finished = await _finished(http, owner, run["id"])
    assert finished["status"] == "succeeded", finished
    assert finished["progress"] == {"stage": "done", "conversations_total": 40, "conversations_done": 40}
    counts = finished["counts"]
    assert (counts["conversations"], counts["successful"], counts["candidates"], counts["retired"]) == (40, 18, 1, 1)
    [proposed] = counts["proposed"]
    assert proposed["instruction"] == STRATEGY and proposed["situation"] == "pricing/consideration"
    assert (proposed["successes"], proposed["conversations"], proposed["baseline"]) == (12, 14, 0.45)
    [retirement] = counts["retirements"]
    assert retirement["pattern_id"] == str(seeded["failing"])
    assert finished["started_at"] and finished["finished_at"] and finished["error"] is None

    listed = await http.get("/api/helper/mining/runs", headers=viewer.headers)
    assert listed.status_code == 200 and [r["id"] for r in listed.json()["runs"]] == [run["id"]], listed.text

    async with service_conn(settings, "helper") as conn:
        patterns = {
            row["id"]: row
            for row in await conn.fetch(
                "SELECT id, bot_id, name, intent, stage, example, instruction, status, origin, retired_reason "
                "FROM patterns WHERE workspace_id = $1",
                uuid.UUID(owner.workspace_id),
            )
        }
    [mined] = [row for row in patterns.values() if row["origin"] == "mined"]
    assert (mined["status"], mined["instruction"], str(mined["id"])) == ("candidate", STRATEGY, proposed["pattern_id"])
    assert (mined["intent"], mined["stage"], str(mined["bot_id"]), mined["example"]) == (
        "pricing",
        "consideration",
        bot["id"],
        "",
    )
    failing = patterns[seeded["failing"]]
    assert failing["status"] == "retired"
    assert (
        "4 successes in 40 uses" in failing["retired_reason"] and "0.45 (without guidance" in failing["retired_reason"]
    )
    assert patterns[seeded["working"]]["status"] == "active"
    assert patterns[seeded["tested"]]["status"] == "active", "a running experiment decides about its arms"

    # Mining again finds the same strategy: it is known now, so nothing new is proposed or retired.
    second = await _finished(http, owner, (await _start(http, owner))["id"])
    assert second["status"] == "succeeded" and (second["counts"]["candidates"], second["counts"]["retired"]) == (0, 0)

    # The same run with its samples computed on Ray Data tasks (as past 20,000 conversations) finds the same.
    job_id = jobs.new_job_id("mining", uuid.UUID(owner.workspace_id))
    command = jobs.entrypoint(
        "mine_patterns", "--workspace", owner.workspace_id, "--job-id", job_id, "--ray-data-min", "1"
    )
    async with service_conn(settings, "helper") as conn:
        row = await jobs.record_job(
            conn,
            job_id=job_id,
            workspace_id=uuid.UUID(owner.workspace_id),
            kind="mining",
            entrypoint=command,
            trigger="owner",
        )
    helper_pool = await create_pool(settings.service_database_url("helper"), settings, schema="helper")
    try:
        await jobs.submit_recorded(helper_pool, jobs.JobLauncher(settings), row, entrypoint=command, again="again")
    finally:
        await helper_pool.close()
    on_ray = await _finished(http, owner, job_id)
    assert on_ray["status"] == "succeeded", on_ray
    same = ("conversations", "successful", "samples", "situations")
    assert {k: on_ray["counts"][k] for k in same} == {k: counts[k] for k in same}

    # The workspace gets its schedule lazily, once it has closed conversations: a day from now.
    helper_pool = await create_pool(settings.service_database_url("helper"), settings, schema="helper")
    try:
        assert await schedules.ensure_schedules(helper_pool, MINING, settings) >= 1
    finally:
        await helper_pool.close()
    page = (await http.get("/api/helper/mining/runs", headers=owner.headers)).json()
    next_run = datetime.fromisoformat(page["next_run_at"])
    assert timedelta(hours=23) < next_run - datetime.now(UTC) < timedelta(hours=27), page["next_run_at"]
    other = await register(http)
    assert (await http.get(f"/api/helper/mining/runs/{run['id']}", headers=other.headers)).status_code == 404


@pytest.mark.usefixtures("ray_client")
async def test_racing_schedule_loops_start_each_due_run_exactly_once(settings: Settings) -> None:
    """Two loops (and the helper's own replicas) claim the same due rows: every workspace gets one run."""
    workspaces = [uuid.uuid4() for _ in range(3)]
    pools = [await create_pool(settings.service_database_url("helper"), settings, schema="helper") for _ in range(2)]
    launcher = jobs.JobLauncher(settings)
    try:
        async with pools[0].acquire() as conn:
            for workspace_id in workspaces:
                await conn.execute(
                    "INSERT INTO schedules (workspace_id, kind, due_at) "
                    "VALUES ($1, 'mining', now() - interval '1 minute')",
                    workspace_id,
                )
        rounds = await asyncio.gather(
            *(schedules.claim_due(pool, launcher, MINING, settings) for pool in pools for _ in range(2))
        )
        started = [run["workspace_id"] for found in rounds for run in found]
        assert len(started) == len(set(started)), f"a workspace was started twice: {started}"

        async def runs() -> list[asyncpg.Record] | None:
            async with pools[0].acquire() as conn:
                rows = await conn.fetch(
                    "SELECT workspace_id, status, trigger, counts FROM jobs WHERE workspace_id = ANY($1::uuid[])",
                    workspaces,
                )
            return rows if len(rows) == 3 and all(r["status"] in ("succeeded", "failed") for r in rows) else None

        rows = await eventually(runs, within_s=120, what="the three scheduled runs to finish")
        assert sorted(r["workspace_id"] for r in rows) == sorted(workspaces), "exactly one run per workspace"
        assert {r["status"] for r in rows} == {"succeeded"} and {r["trigger"] for r in rows} == {"schedule"}
        assert [r["counts"]["conversations"] for r in rows] == [0, 0, 0], "these workspaces have no conversations"
        async with pools[0].acquire() as conn:
            due = await conn.fetch(
                "SELECT due_at - now() AS wait, last_job_id FROM schedules WHERE workspace_id = ANY($1::uuid[])",
                workspaces,
            )
        assert all(row["wait"] > timedelta(hours=23) and row["last_job_id"] for row in due), due
    finally:
        for pool in pools:
            await pool.close()


@pytest.mark.usefixtures("ray_client")
async def test_a_run_that_fails_says_why_on_its_record(settings: Settings) -> None:
    workspace_id = uuid.uuid4()
    pool = await create_pool(settings.service_database_url("helper"), settings, schema="helper")
    try:
        job_id = jobs.new_job_id("mining", workspace_id)
        command = jobs.entrypoint("mine_patterns", "--workspace", str(workspace_id), "--job-id", job_id, "--days", "0")
        async with pool.acquire() as conn:
            row = await jobs.record_job(
                conn, job_id=job_id, workspace_id=workspace_id, kind="mining", entrypoint=command, trigger="owner"
            )
        await jobs.submit_recorded(pool, jobs.JobLauncher(settings), row, entrypoint=command, again="start a new run")

        async def failed() -> asyncpg.Record | None:
            async with pool.acquire() as conn:
                found = await jobs.get_job(conn, workspace_id=workspace_id, job_id=job_id)
            return found if found is not None and found["status"] in ("succeeded", "failed") else None

        finished = await eventually(failed, within_s=90, what="the bad run to finish")
        assert (finished["status"], finished["error_code"]) == ("failed", "bad_arguments"), dict(finished)
        assert finished["error"] == "--days and --min-support must be at least 1."
    finally:
        await pool.close()
