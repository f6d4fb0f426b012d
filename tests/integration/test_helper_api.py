"""The helper's API on the real stack: patterns with their statistics ranked by the Wilson lower bound,
all-or-nothing imports, experiments whose live results come from the helper's own rows (applications
joined to closed conversations), stopping, promotion on request and automatically, per-bot settings,
the owner's view of a conversation, the analysis and guidance previews, a deleted bot's patterns and
experiments, and other workspaces kept out. Bad input is a 4xx, never a 500.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from cortex.helper.experiments import assign
from cortex.settings import Settings

from .accounts import Account, member_of, register
from .chatting import eventually, make_bot
from .db import service_conn

H = "/api/helper"
PRICING_INSTRUCTION = "Answer the pricing question first, then offer a demo slot."


@pytest.fixture(scope="module")
async def shop(http: httpx.AsyncClient) -> dict:
    owner = await register(http, workspace="Helper shop")
    viewer = await member_of(http, owner, "viewer")
    bot = await make_bot(http, owner, name="Helper shop bot")
    other_bot = await make_bot(http, owner, name="Second bot")
    return {"owner": owner, "viewer": viewer, "bot": bot, "other_bot": other_bot}


async def _pattern(http: httpx.AsyncClient, owner: Account, **fields: object) -> dict:
    body = {"name": "pattern", "instruction": PRICING_INSTRUCTION, **fields}
    response = await http.post(f"{H}/patterns", json=body, headers=owner.headers)
    assert response.status_code == 201, response.text
    return response.json()


async def _stats(settings: Settings, workspace_id: str, pattern_id: str, situation: str, **counts: int) -> None:
    """Outcomes credited to a pattern, written as the helper's consumer writes them."""
    async with service_conn(settings, "helper") as conn:
        await conn.execute(
            """
            INSERT INTO pattern_stats (workspace_id, pattern_id, situation, uses, resolutions, leads, bookings)
            VALUES ($1, $2, $3, $4, $5, $6, $7)
            """,
            uuid.UUID(workspace_id),
            uuid.UUID(pattern_id),
            situation,
            counts.get("uses", 0),
            counts.get("resolutions", 0),
            counts.get("leads", 0),
            counts.get("bookings", 0),
        )


async def _visitors(
    settings: Settings,
    experiment: dict,
    bot_id: str,
    workspace_id: str,
    *,
    per_arm: dict[str, tuple[int, float]],
    outcome: str = "resolved",
) -> None:
    """Visitors assigned as the Guide assigns them (sticky hash), each with one conversation that carried
    the experiment's arm and closed: per arm (visitors, share converted with `outcome`, else abandoned)."""
    split = [(arm["name"], arm["weight"]) for arm in experiment["arms"]]
    wanted = {arm: count for arm, (count, _) in per_arm.items()}
    made = dict.fromkeys(per_arm, 0)
    closed_at = datetime.now(UTC) - timedelta(hours=1)
    conversations, applications = [], []
    serial, tag = 0, uuid.uuid4().hex[:8]
    while made != wanted:
        serial += 1
        visitor_id = f"v_{tag}_{serial}"
        arm = assign(experiment["id"], visitor_id, split)
        if arm not in wanted or made[arm] >= wanted[arm]:
            continue
        converted = made[arm] < round(wanted[arm] * per_arm[arm][1])
        made[arm] += 1
        conversation_id = uuid.uuid4()
        label = outcome if converted else "abandoned"
        closed_at += timedelta(seconds=1)
        conversations.append((conversation_id, visitor_id, [label], label, closed_at))
        pattern_id = next(a["pattern_id"] for a in experiment["arms"] if a["name"] == arm)
        applications.append((uuid.uuid4(), conversation_id, pattern_id, arm))
    async with service_conn(settings, "helper") as conn, conn.transaction():
        await conn.executemany(
            """
            INSERT INTO conversations (conversation_id, workspace_id, bot_id, visitor_id, outcomes, outcome, closed_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7)
            """,
            [(c, uuid.UUID(workspace_id), uuid.UUID(bot_id), v, o, p, t) for c, v, o, p, t in conversations],
        )
        await conn.executemany(
            """
            INSERT INTO applications (message_id, workspace_id, conversation_id, bot_id, pattern_id, experiment_id,
                                      arm, situation)
            VALUES ($1, $2, $3, $4, $5, $6, $7, 'pricing/consideration')
            """,
            [
                (
                    m,
                    uuid.UUID(workspace_id),
                    c,
                    uuid.UUID(bot_id),
                    uuid.UUID(p) if p else None,
                    uuid.UUID(experiment["id"]),
                    a,
                )
                for m, c, p, a in applications
            ],
        )


def _ids(items: Sequence[dict]) -> list[str]:
    return [item["id"] for item in items]


# -- patterns -------------------------------------------------------------------------------------------


async def test_patterns_are_listed_with_their_statistics_ranked_by_the_wilson_lower_bound(
    http: httpx.AsyncClient, settings: Settings, shop: dict
) -> None:
    owner, viewer, bot = shop["owner"], shop["viewer"], shop["bot"]
    lucky = await _pattern(http, owner, name="lucky", bot_id=bot["id"], intent="support")
    proven = await _pattern(http, owner, name="proven", bot_id=bot["id"], intent="support", example="My order is late")
    fresh = await _pattern(http, owner, name="fresh", intent="support")  # workspace-wide
    assert fresh["bot_id"] is None and fresh["status"] == "active" and fresh["origin"] == "owner"
    assert fresh["stats"]["uses"] == 0 and (fresh["stats"]["lower"], fresh["stats"]["upper"]) == (0.0, 1.0)
    await _stats(settings, owner.workspace_id, lucky["id"], "support/awareness", uses=1, resolutions=1)
    await _stats(settings, owner.workspace_id, proven["id"], "support/awareness", uses=60, resolutions=45, leads=3)
    await _stats(settings, owner.workspace_id, proven["id"], "support/decision", uses=40, resolutions=35)

    listed = await http.get(f"{H}/patterns", params={"bot_id": bot["id"], "intent": "support"}, headers=viewer.headers)
    assert listed.status_code == 200, listed.text
    patterns = listed.json()
    mine = [p for p in patterns if p["id"] in (proven["id"], lucky["id"], fresh["id"])]
    # 1 success in 1 use (rate 1.0) ranks below 80 in 100 (rate 0.8): the lower bound decides.
    assert _ids(mine) == [proven["id"], lucky["id"], fresh["id"]]
    assert _ids(patterns)[0] == proven["id"]
    best = mine[0]["stats"]
    assert (best["metric"], best["uses"], best["successes"], best["rate"]) == ("resolution", 100, 80, 0.8)
    assert 0.70 < best["lower"] < 0.72 and 0.86 < best["upper"] < 0.88  # Wilson 95 % for 80/100
    assert [s["situation"] for s in best["situations"]] == ["support/decision", "support/awareness"]
    assert mine[1]["stats"]["rate"] == 1.0 and mine[1]["stats"]["lower"] < 0.25

    # The bot's goal decides what counts as a success; a metric may be asked for.
    goal = await http.put(
        f"{H}/bots/{bot['id']}/settings", json={"enabled": True, "goal": "lead"}, headers=owner.headers
    )
    assert goal.status_code == 200 and goal.json()["goal"] == "lead", goal.text
    by_goal = (await http.get(f"{H}/patterns/{proven['id']}", headers=viewer.headers)).json()
    assert (by_goal["stats"]["metric"], by_goal["stats"]["successes"]) == ("lead", 3)
    asked = await http.get(f"{H}/patterns/{proven['id']}", params={"metric": "resolution"}, headers=viewer.headers)
    assert asked.json()["stats"]["successes"] == 80
    await http.put(
        f"{H}/bots/{bot['id']}/settings", json={"enabled": True, "goal": "resolution"}, headers=owner.headers
    )

    # Another bot's listing holds the workspace-wide pattern, not this bot's.
    others = (
        await http.get(f"{H}/patterns", params={"bot_id": shop["other_bot"]["id"]}, headers=viewer.headers)
    ).json()
    assert fresh["id"] in _ids(others) and proven["id"] not in _ids(others)

    # Change, retire, delete; a viewer reads but never writes.
    assert (
        await http.patch(f"{H}/patterns/{fresh['id']}", json={"name": "x"}, headers=viewer.headers)
    ).status_code == 403
    changed = await http.patch(
        f"{H}/patterns/{fresh['id']}", json={"name": "renamed", "stage": "decision"}, headers=owner.headers
    )
    assert changed.status_code == 200, changed.text
    assert (changed.json()["name"], changed.json()["stage"], changed.json()["intent"]) == (
        "renamed",
        "decision",
        "support",
    )
    retired = await http.patch(f"{H}/patterns/{fresh['id']}", json={"status": "retired"}, headers=owner.headers)
    assert (retired.json()["status"], retired.json()["retired_reason"]) == ("retired", "retired by a member")
    active_only = (await http.get(f"{H}/patterns", params={"status": "active"}, headers=owner.headers)).json()
    assert fresh["id"] not in _ids(active_only)
    revived = await http.patch(f"{H}/patterns/{fresh['id']}", json={"status": "active"}, headers=owner.headers)
    assert (revived.json()["status"], revived.json()["retired_reason"]) == ("active", None)
    assert (await http.delete(f"{H}/patterns/{fresh['id']}", headers=owner.headers)).status_code == 204
    assert (await http.get(f"{H}/patterns/{fresh['id']}", headers=owner.headers)).status_code == 404
    assert (await http.delete(f"{H}/patterns/{fresh['id']}", headers=owner.headers)).status_code == 404


async def test_bad_pattern_input_is_a_clear_4xx_never_a_500(http: httpx.AsyncClient, shop: dict) -> None:
    owner, bot = shop["owner"], shop["bot"]
    stranger = await register(http, workspace="Stranger")
    strangers_bot = await make_bot(http, stranger, name="Not yours")
    cases = [
        ({"name": "p", "instruction": PRICING_INSTRUCTION, "intent": "gossip"}, 422, "intent"),
        ({"name": "p", "instruction": PRICING_INSTRUCTION, "stage": "nirvana"}, 422, "stage"),
        ({"name": "p", "instruction": "short"}, 422, "instruction"),
        ({"name": "p", "instruction": "x" * 301}, 422, "instruction"),
        ({"name": "", "instruction": PRICING_INSTRUCTION}, 422, "name"),
        ({"name": "p", "instruction": PRICING_INSTRUCTION, "colour": "red"}, 422, "colour"),
        ({"name": "p", "instruction": PRICING_INSTRUCTION, "status": "retired"}, 422, "status"),
        ({"name": "p", "instruction": PRICING_INSTRUCTION, "bot_id": "not-a-uuid"}, 422, "bot_id"),
    ]
    for body, status, field in cases:
        response = await http.post(f"{H}/patterns", json=body, headers=owner.headers)
        assert response.status_code == status, (body, response.text)
        assert field in response.text, (body, response.text)
    # Another workspace's bot is no bot of this one.
    response = await http.post(
        f"{H}/patterns",
        json={"name": "p", "instruction": PRICING_INSTRUCTION, "bot_id": strangers_bot["id"]},
        headers=owner.headers,
    )
    assert response.status_code == 404, response.text
    pattern = await _pattern(http, owner, bot_id=bot["id"])
    for body in ({"name": None}, {"instruction": None}, {"retired_reason": "because", "status": "active"}, {"id": "x"}):
        response = await http.patch(f"{H}/patterns/{pattern['id']}", json=body, headers=owner.headers)
        assert response.status_code == 422, (body, response.text)
    assert (await http.get(f"{H}/patterns/not-a-uuid", headers=owner.headers)).status_code == 422
    assert (await http.get(f"{H}/patterns", params={"intent": "gossip"}, headers=owner.headers)).status_code == 422
    raw = await http.post(
        f"{H}/patterns", content=b"{not json", headers={**owner.headers, "Content-Type": "application/json"}
    )
    assert raw.status_code == 422, raw.text


async def test_an_import_is_all_or_nothing_and_names_each_bad_row_by_its_index(
    http: httpx.AsyncClient, shop: dict
) -> None:
    owner, bot = shop["owner"], shop["bot"]
    tag = uuid.uuid4().hex[:8]
    rows = [
        {"name": f"imp-{tag}-0", "instruction": PRICING_INSTRUCTION, "intent": "pricing", "example": "How much is it?"},
        {"name": f"imp-{tag}-1", "instruction": PRICING_INSTRUCTION, "intent": "haggling"},
        {"name": f"imp-{tag}-2", "instruction": PRICING_INSTRUCTION, "bot_id": str(uuid.uuid4())},
        "not an object",
    ]
    refused = await http.post(f"{H}/patterns/import", json=rows, headers=owner.headers)
    assert refused.status_code == 422, refused.text
    error = refused.json()["error"]
    assert "3 of 4 patterns are invalid; nothing was imported" in error["message"]
    assert [(d["index"], d["field"]) for d in error["details"]] == [(1, "intent"), (2, "bot_id"), (3, "row")]
    listed = (await http.get(f"{H}/patterns", params={"limit": 500}, headers=owner.headers)).json()
    assert not [p for p in listed if p["name"].startswith(f"imp-{tag}")], "nothing of a refused import is kept"

    good = [
        rows[0],
        {"name": f"imp-{tag}-1", "instruction": PRICING_INSTRUCTION, "bot_id": bot["id"], "status": "candidate"},
    ]
    imported = await http.post(f"{H}/patterns/import", json=good, headers=owner.headers)
    assert imported.status_code == 201, imported.text
    body = imported.json()
    assert body["imported"] == 2 and [p["origin"] for p in body["patterns"]] == ["import", "import"]
    assert [p["status"] for p in body["patterns"]] == ["active", "candidate"]

    too_many = [{"name": f"n{i}", "instruction": PRICING_INSTRUCTION} for i in range(501)]
    response = await http.post(f"{H}/patterns/import", json=too_many, headers=owner.headers)
    assert response.status_code == 422 and "at most 500" in response.text
    for bad in ([], {"name": "not a list"}):
        response = await http.post(f"{H}/patterns/import", json=bad, headers=owner.headers)
        assert response.status_code == 422, response.text
    assert (await http.post(f"{H}/patterns/import", json=good, headers=shop["viewer"].headers)).status_code == 403


# -- experiments ----------------------------------------------------------------------------------------


async def _experiment(http: httpx.AsyncClient, owner: Account, **fields: object) -> dict:
    response = await http.post(f"{H}/experiments", json=fields, headers=owner.headers)
    assert response.status_code == 201, response.text
    return response.json()


async def test_experiment_results_come_from_closed_conversations_and_the_winner_is_promoted(
    http: httpx.AsyncClient, settings: Settings
) -> None:
    owner = await register(http, workspace="Experimenter")
    bot = await make_bot(http, owner)
    plain = await _pattern(http, owner, name="plain", bot_id=bot["id"], intent="pricing")
    demo = await _pattern(http, owner, name="demo", bot_id=bot["id"], intent="pricing", status="candidate")
    experiment = await _experiment(
        http,
        owner,
        name="demo offer",
        bot_id=bot["id"],
        intent="pricing",
        metric="resolution",
        arms=[
            {"name": "A", "weight": 50, "pattern_id": plain["id"]},
            {"name": "B", "weight": 50, "pattern_id": demo["id"]},
        ],
    )
    assert experiment["status"] == "running" and experiment["results"]["units"] == 0
    assert experiment["results"]["verdict"] == "continue" and experiment["results"]["winner"] is None

    # Too few visitors: no verdict, an estimate of the visitors needed, and no promotion without an arm.
    await _visitors(settings, experiment, bot["id"], owner.workspace_id, per_arm={"A": (40, 0.2), "B": (40, 0.3)})
    early = (await http.get(f"{H}/experiments/{experiment['id']}", headers=owner.headers)).json()["results"]
    assert early["units"] == 80 and early["verdict"] == "continue"
    assert [(a["name"], a["visitors"], a["conversions"]) for a in early["arms"]] == [("A", 40, 8), ("B", 40, 12)]
    assert early["visitors_needed_per_arm"] > 200 and "200 visitors per arm" in early["guidance"]
    refused = await http.post(f"{H}/experiments/{experiment['id']}/promote", headers=owner.headers)
    assert refused.status_code == 409 and "no winner" in refused.text
    # While it runs, its patterns cannot be retired or deleted.
    busy = await http.patch(f"{H}/patterns/{demo['id']}", json={"status": "retired"}, headers=owner.headers)
    assert busy.status_code == 409 and "demo offer" in busy.text
    assert (await http.delete(f"{H}/patterns/{plain['id']}", headers=owner.headers)).status_code == 409

    # Enough visitors with a clear difference (10 % vs 30 %): B wins, with an interval that excludes 0.
    await _visitors(settings, experiment, bot["id"], owner.workspace_id, per_arm={"A": (300, 0.1), "B": (300, 0.3)})
    results = (await http.get(f"{H}/experiments/{experiment['id']}", headers=owner.headers)).json()["results"]
    assert results["units"] == 680 and results["verdict"] == "winner" and results["winner"] == "B", results
    [comparison] = results["comparisons"]
    assert comparison["arm"] == "B" and comparison["baseline"] == "A" and comparison["decision"] == "winner"
    assert 0 < comparison["ci_low"] < comparison["effect"] < comparison["ci_high"]
    assert comparison["p_value"] <= 0.05 and comparison["relative_lift"] > 0.5
    listed = (await http.get(f"{H}/experiments", params={"status": "running"}, headers=owner.headers)).json()
    assert experiment["id"] in _ids(listed) and listed[0]["results"]["winner"] == "B"

    promoted = await http.post(f"{H}/experiments/{experiment['id']}/promote", headers=owner.headers)
    assert promoted.status_code == 200, promoted.text
    body = promoted.json()
    assert (body["status"], body["winner"], body["stopped_reason"]) == ("stopped", "B", "promoted B")
    winner = (await http.get(f"{H}/patterns/{demo['id']}", headers=owner.headers)).json()
    loser = (await http.get(f"{H}/patterns/{plain['id']}", headers=owner.headers)).json()
    assert winner["status"] == "active"
    assert (loser["status"], loser["retired_reason"]) == ("retired", "lost experiment demo offer")
    again = await http.post(f"{H}/experiments/{experiment['id']}/promote", json={"arm": "A"}, headers=owner.headers)
    assert again.status_code == 409
    assert (await http.post(f"{H}/experiments/{experiment['id']}/stop", headers=owner.headers)).status_code == 409


async def test_an_experiment_can_be_stopped_and_an_addendum_arm_promoted_by_name(
    http: httpx.AsyncClient, settings: Settings
) -> None:
    owner = await register(http, workspace="Addenda")
    bot = await make_bot(http, owner)
    experiment = await _experiment(
        http,
        owner,
        name="tone",
        bot_id=bot["id"],
        metric="lead",
        arms=[
            {"name": "control", "weight": 1},
            {"name": "warm", "weight": 1, "addendum": "Be warm and ask for the visitor's email."},
        ],
    )
    stopped = await http.post(f"{H}/experiments/{experiment['id']}/stop", headers=owner.headers)
    assert (stopped.json()["status"], stopped.json()["stopped_reason"]) == ("stopped", "stopped by a member")
    assert stopped.json()["stopped_at"] is not None
    unknown = await http.post(
        f"{H}/experiments/{experiment['id']}/promote", json={"arm": "cold"}, headers=owner.headers
    )
    assert unknown.status_code == 422 and "warm" in unknown.text
    promoted = await http.post(
        f"{H}/experiments/{experiment['id']}/promote", json={"arm": "warm"}, headers=owner.headers
    )
    assert promoted.status_code == 200 and promoted.json()["winner"] == "warm", promoted.text
    # The winning addendum becomes an active pattern of the experiment's scope.
    patterns = (await http.get(f"{H}/patterns", params={"bot_id": bot["id"]}, headers=owner.headers)).json()
    made = [p for p in patterns if p["name"] == "tone: warm"]
    assert made and made[0]["status"] == "active" and made[0]["bot_id"] == bot["id"]
    assert made[0]["instruction"] == "Be warm and ask for the visitor's email."


async def test_an_auto_promoting_experiment_promotes_its_winner_by_itself(
    http: httpx.AsyncClient, settings: Settings
) -> None:
    owner = await register(http, workspace="Autopilot")
    bot = await make_bot(http, owner)
    guided = await _pattern(http, owner, name="guided", bot_id=bot["id"], status="candidate")
    experiment = await _experiment(
        http,
        owner,
        name="guidance or not",
        bot_id=bot["id"],
        metric="booking",
        auto_promote=True,
        arms=[{"name": "none", "weight": 1}, {"name": "guided", "weight": 1, "pattern_id": guided["id"]}],
    )
    await _visitors(
        settings,
        experiment,
        bot["id"],
        owner.workspace_id,
        per_arm={"none": (300, 0.05), "guided": (300, 0.25)},
        outcome="booked",
    )

    async def promoted() -> dict | None:
        body = (await http.get(f"{H}/experiments/{experiment['id']}", headers=owner.headers)).json()
        return body if body["status"] == "stopped" else None

    body = await eventually(promoted, within_s=40, what="the promotion loop promotes the winner")
    assert (body["winner"], body["stopped_reason"]) == ("guided", "promoted guided automatically")
    assert (await http.get(f"{H}/patterns/{guided['id']}", headers=owner.headers)).json()["status"] == "active"


async def test_bad_experiments_are_refused_with_the_reason(http: httpx.AsyncClient, shop: dict) -> None:
    owner, bot, other_bot = shop["owner"], shop["bot"], shop["other_bot"]
    mine = await _pattern(http, owner, name="mine", bot_id=bot["id"])
    theirs = await _pattern(http, owner, name="theirs", bot_id=other_bot["id"])
    retired = await _pattern(http, owner, name="old", bot_id=bot["id"])
    await http.patch(f"{H}/patterns/{retired['id']}", json={"status": "retired"}, headers=owner.headers)
    stranger = await register(http, workspace="Experiment stranger")
    strangers = await _pattern(http, stranger, name="stranger's")

    def arms(*patterns: str | None, weights: tuple[float, ...] = (1, 1)) -> list[dict]:
        return [
            {"name": f"arm{i}", "weight": w, "pattern_id": p}
            for i, (p, w) in enumerate(zip(patterns, weights, strict=True))
        ]

    base = {"name": "x", "bot_id": bot["id"], "intent": "booking", "metric": "booking"}
    cases = [
        ({**base, "arms": [{"name": "solo", "weight": 1}]}, 422, "arms"),
        ({**base, "arms": [{"name": f"a{i}", "weight": 1} for i in range(5)]}, 422, "arms"),
        ({**base, "arms": [{"name": "A", "weight": 1}, {"name": "a", "weight": 1}]}, 422, "unique"),
        ({**base, "arms": arms(None, mine["id"], weights=(1, 0))}, 422, "weight"),
        ({**base, "arms": arms(None, mine["id"], weights=(1, -3))}, 422, "weight"),
        ({**base, "metric": "happiness", "arms": arms(None, mine["id"])}, 422, "metric"),
        ({**base, "intent": "gossip", "arms": arms(None, mine["id"])}, 422, "intent"),
        ({**base, "arms": arms(None, strangers["id"])}, 422, "no such pattern in this workspace"),
        ({**base, "arms": arms(None, theirs["id"])}, 422, "another bot's"),
        ({**base, "arms": arms(None, retired["id"])}, 422, "retired"),
        ({**base, "bot_id": None, "arms": arms(None, mine["id"])}, 422, "one bot's"),
        ({**base, "arms": [{"name": "A", "weight": 1, "addendum": "hi"}, {"name": "B", "weight": 1}]}, 422, "addendum"),
        ({**base, "auto_promote": "yes", "arms": arms(None, mine["id"])}, 422, "auto_promote"),
    ]
    for body, status, text in cases:
        response = await http.post(f"{H}/experiments", json=body, headers=owner.headers)
        assert response.status_code == status, (body, response.text)
        assert text in response.text, (body, response.text)
    first = await _experiment(http, owner, **{**base, "arms": arms(None, mine["id"])})
    # A second running experiment on the same bot and situation would get no traffic: refused.
    overlap = await http.post(
        f"{H}/experiments", json={**base, "stage": "decision", "arms": arms(None, mine["id"])}, headers=owner.headers
    )
    assert overlap.status_code == 409 and first["id"] in overlap.text
    elsewhere = await _experiment(http, owner, **{**base, "intent": "support", "arms": arms(None, mine["id"])})
    for made in (first, elsewhere):
        await http.post(f"{H}/experiments/{made['id']}/stop", headers=owner.headers)
    assert (
        await http.post(f"{H}/experiments", json={**base, "arms": arms(None, None)}, headers=shop["viewer"].headers)
    ).status_code == 403
    assert (await http.get(f"{H}/experiments/{uuid.uuid4()}", headers=owner.headers)).status_code == 404


# -- the live decision, settings, conversations ----------------------------------------------------------


async def test_analysis_and_guidance_previews_follow_the_patterns_experiments_and_settings(
    http: httpx.AsyncClient,
) -> None:
    owner = await register(http, workspace="Previews")
    bot = await make_bot(http, owner)
    question = {"bot_id": bot["id"], "message": "How much does the Pro plan cost per month?"}
    analysed = await http.post(f"{H}/analyze", json=question, headers=owner.headers)
    assert analysed.status_code == 200, analysed.text
    analysis = analysed.json()
    assert analysis["intent"] == "pricing" and analysis["situation"] == f"pricing/{analysis['stage']}"
    assert set(analysis["intent_probabilities"]) >= {"pricing", "booking", "support"}

    nothing = (await http.post(f"{H}/guidance", json=question, headers=owner.headers)).json()
    assert nothing["guidance"]["text"] == "" and nothing["guidance"]["reason"] == "no_pattern"
    pattern = await _pattern(http, owner, name="price then demo", bot_id=bot["id"], intent="pricing")
    guided = (await http.post(f"{H}/guidance", json=question, headers=owner.headers)).json()["guidance"]
    assert PRICING_INSTRUCTION in guided["text"] and guided["pattern_id"] == pattern["id"]
    assert guided["situation"] == analysis["situation"]

    experiment = await _experiment(
        http,
        owner,
        name="guide or not",
        bot_id=bot["id"],
        intent="pricing",
        metric="resolution",
        arms=[{"name": "control", "weight": 1}, {"name": "guided", "weight": 1, "pattern_id": pattern["id"]}],
    )
    seen = set()
    for n in range(12):
        visitor_id = f"v_preview_{n}"
        body = (
            await http.post(f"{H}/guidance", json={**question, "visitor_id": visitor_id}, headers=owner.headers)
        ).json()
        g = body["guidance"]
        assert g["experiment_id"] == experiment["id"]
        assert g["arm"] == assign(experiment["id"], visitor_id, [("control", 1.0), ("guided", 1.0)])
        if g["arm"] == "control":
            assert (g["reason"], g["text"], g["pattern_id"]) == ("control", "", None)
        else:
            assert PRICING_INSTRUCTION in g["text"] and g["pattern_id"] == pattern["id"]
        seen.add(g["arm"])
    assert seen == {"control", "guided"}
    await http.post(f"{H}/experiments/{experiment['id']}/stop", headers=owner.headers)

    off = await http.put(
        f"{H}/bots/{bot['id']}/settings", json={"enabled": False, "goal": "booking"}, headers=owner.headers
    )
    assert off.status_code == 200 and off.json()["enabled"] is False
    silent = (await http.post(f"{H}/guidance", json=question, headers=owner.headers)).json()
    assert (silent["guidance"]["reason"], silent["enabled"], silent["goal"]) == ("helper_off", False, "booking")
    settings_now = (await http.get(f"{H}/bots/{bot['id']}/settings", headers=owner.headers)).json()
    assert (settings_now["enabled"], settings_now["goal"]) == (False, "booking")

    for bad in (
        {"bot_id": bot["id"], "message": ""},
        {"bot_id": bot["id"], "message": "x" * 4001},
        {"bot_id": bot["id"], "message": "hi", "history": [{"role": "robot", "text": "x"}]},
        {"bot_id": bot["id"], "message": "hi", "history": [{"role": "visitor", "text": "x"}] * 21},
        {"message": "hi"},
    ):
        assert (await http.post(f"{H}/analyze", json=bad, headers=owner.headers)).status_code == 422, bad
    unknown = await http.post(
        f"{H}/analyze", json={**question, "conversation_id": str(uuid.uuid4())}, headers=owner.headers
    )
    assert unknown.status_code == 404
    bad_settings = await http.put(
        f"{H}/bots/{bot['id']}/settings", json={"enabled": "no", "goal": "lead"}, headers=owner.headers
    )
    assert bad_settings.status_code == 422


async def test_the_owner_sees_what_the_helper_saw_and_advised_in_a_conversation(
    http: httpx.AsyncClient, settings: Settings, shop: dict
) -> None:
    owner, bot = shop["owner"], shop["bot"]
    conversation_id, message_id = uuid.uuid4(), uuid.uuid4()
    pattern = await _pattern(http, owner, name="seen", bot_id=bot["id"])
    workspace_id, bot_id = uuid.UUID(owner.workspace_id), uuid.UUID(bot["id"])
    async with service_conn(settings, "helper") as conn:
        await conn.execute(
            """
            INSERT INTO conversations (conversation_id, workspace_id, bot_id, visitor_id, outcomes, outcome, closed_at)
            VALUES ($1, $2, $3, 'v_seen', '{lead_captured}', 'lead_captured', now())
            """,
            conversation_id,
            workspace_id,
            bot_id,
        )
        await conn.execute(
            """
            INSERT INTO advice_log (id, workspace_id, bot_id, conversation_id, analysis, guidance)
            VALUES ($1, $2, $3, $4, $5, $6)
            """,
            uuid.uuid4(),
            workspace_id,
            bot_id,
            conversation_id,
            {"intent": "pricing", "stage": "consideration"},
            {"text": PRICING_INSTRUCTION, "pattern_id": pattern["id"]},
        )
        await conn.execute(
            """
            INSERT INTO applications (message_id, workspace_id, conversation_id, bot_id, pattern_id, situation, rating)
            VALUES ($1, $2, $3, $4, $5, 'pricing/consideration', 1)
            """,
            message_id,
            workspace_id,
            conversation_id,
            bot_id,
            uuid.UUID(pattern["id"]),
        )
    view = await http.get(f"{H}/conversations/{conversation_id}", headers=shop["viewer"].headers)
    assert view.status_code == 200, view.text
    body = view.json()
    assert (body["outcome"], body["outcomes"]) == ("lead_captured", ["lead_captured"])
    assert (
        body["turns"][0]["analysis"]["intent"] == "pricing"
        and body["turns"][0]["guidance"]["pattern_id"] == pattern["id"]
    )
    assert [(a["message_id"], a["pattern_id"], a["rating"]) for a in body["applications"]] == [
        (str(message_id), pattern["id"], 1)
    ]
    stranger = await register(http, workspace="Nosy")
    assert (await http.get(f"{H}/conversations/{conversation_id}", headers=stranger.headers)).status_code == 404
    assert (await http.get(f"{H}/conversations/{uuid.uuid4()}", headers=owner.headers)).status_code == 404


async def test_a_deleted_bot_retires_its_patterns_and_stops_its_experiments(http: httpx.AsyncClient) -> None:
    owner = await register(http, workspace="Deleter")
    bot = await make_bot(http, owner)
    own = await _pattern(http, owner, name="own", bot_id=bot["id"])
    shared = await _pattern(http, owner, name="shared")
    experiment = await _experiment(
        http,
        owner,
        name="doomed",
        bot_id=bot["id"],
        metric="resolution",
        arms=[{"name": "A", "weight": 1}, {"name": "B", "weight": 1, "pattern_id": own["id"]}],
    )
    await http.put(f"{H}/bots/{bot['id']}/settings", json={"enabled": False, "goal": "lead"}, headers=owner.headers)
    assert (await http.delete(f"/api/bots/{bot['id']}", headers=owner.headers)).status_code == 204

    async def stopped() -> dict | None:
        body = (await http.get(f"{H}/experiments/{experiment['id']}", headers=owner.headers)).json()
        return body if body["status"] == "stopped" else None

    body = await eventually(stopped, what="the helper hears of the deletion")
    assert body["stopped_reason"] == "bot deleted"
    retired = (await http.get(f"{H}/patterns/{own['id']}", headers=owner.headers)).json()
    assert (retired["status"], retired["retired_reason"]) == ("retired", "bot deleted")
    assert (await http.get(f"{H}/patterns/{shared['id']}", headers=owner.headers)).json()["status"] == "active"
    assert (await http.get(f"{H}/bots/{bot['id']}/settings", headers=owner.headers)).status_code == 404


async def test_another_workspace_sees_and_touches_none_of_the_helper_objects(
    http: httpx.AsyncClient, shop: dict
) -> None:
    owner, bot = shop["owner"], shop["bot"]
    pattern = await _pattern(http, owner, name="secret strategy", bot_id=bot["id"])
    experiment = await _experiment(
        http,
        owner,
        name="secret experiment",
        bot_id=bot["id"],
        intent="account",
        metric="resolution",
        arms=[{"name": "A", "weight": 1}, {"name": "B", "weight": 1, "pattern_id": pattern["id"]}],
    )
    other = await register(http, workspace="Outsider")
    for path in (f"{H}/patterns", f"{H}/experiments"):
        listed = await http.get(path, headers=other.headers)
        assert listed.status_code == 200 and "secret" not in listed.text
    assert (await http.get(f"{H}/patterns/{pattern['id']}", headers=other.headers)).status_code == 404
    assert (
        await http.patch(f"{H}/patterns/{pattern['id']}", json={"name": "x"}, headers=other.headers)
    ).status_code == 404
    assert (await http.delete(f"{H}/patterns/{pattern['id']}", headers=other.headers)).status_code == 404
    for action in ("stop", "promote"):
        response = await http.post(
            f"{H}/experiments/{experiment['id']}/{action}", json={"arm": "B"}, headers=other.headers
        )
        assert response.status_code == 404
    put = await http.put(
        f"{H}/bots/{bot['id']}/settings", json={"enabled": False, "goal": "lead"}, headers=other.headers
    )
    assert put.status_code == 404
    preview = await http.post(f"{H}/guidance", json={"bot_id": bot["id"], "message": "price?"}, headers=other.headers)
    assert preview.status_code == 404
    # An experiment of the outsider may not name the owner's pattern.
    outsider_bot = await make_bot(http, other)
    borrowed = await http.post(
        f"{H}/experiments",
        json={
            "name": "borrow",
            "bot_id": outsider_bot["id"],
            "metric": "lead",
            "arms": [{"name": "A", "weight": 1}, {"name": "B", "weight": 1, "pattern_id": pattern["id"]}],
        },
        headers=other.headers,
    )
    assert borrowed.status_code == 422 and "no such pattern" in borrowed.text
    mine = (await http.get(f"{H}/experiments/{experiment['id']}", headers=owner.headers)).json()
    assert mine["status"] == "running" and mine["winner"] is None
    assert (await http.get(f"{H}/patterns/{pattern['id']}", headers=owner.headers)).json()["name"] == "secret strategy"
    assert (await http.get(f"{H}/bots/{bot['id']}/settings", headers=owner.headers)).json()["enabled"] is True
    await http.post(f"{H}/experiments/{experiment['id']}/stop", headers=owner.headers)
