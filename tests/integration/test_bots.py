"""Bots and conversations through the gateway: CRUD, validation, roles, filters, export."""

from __future__ import annotations

import csv
import io
import uuid

import httpx

from cortex.core import store as core_store
from cortex.settings import Settings

from .accounts import member_of, register
from .db import service_conn


async def test_an_owner_creates_configures_and_deletes_a_bot(http: httpx.AsyncClient) -> None:
    owner = await register(http)
    created = await http.post(
        "/api/bots",
        json={
            "name": "Support",
            "system_prompt": "You help bakery customers.",
            "lead_fields": ["email", "name"],
            "appearance": {"primary_color": "#112233", "position": "bottom-left"},
            "llm": {"temperature": 0.2, "max_tokens": 200},
        },
        headers=owner.headers,
    )
    assert created.status_code == 201, created.text
    bot = created.json()
    assert bot["appearance"]["primary_color"] == "#112233" and bot["llm"]["max_tokens"] == 200
    assert bot["welcome_message"] and bot["direct_answer_threshold"] == 0.8

    patched = await http.patch(f"/api/bots/{bot['id']}", json={"welcome_message": "Hello!"}, headers=owner.headers)
    assert patched.status_code == 200
    assert patched.json()["welcome_message"] == "Hello!" and patched.json()["name"] == "Support"
    assert [b["id"] for b in (await http.get("/api/bots", headers=owner.headers)).json()] == [bot["id"]]
    assert (await http.delete(f"/api/bots/{bot['id']}", headers=owner.headers)).status_code == 204
    assert (await http.get(f"/api/bots/{bot['id']}", headers=owner.headers)).status_code == 404


async def test_bot_settings_are_validated_field_by_field(http: httpx.AsyncClient) -> None:
    owner = await register(http)
    bad = await http.post(
        "/api/bots",
        json={
            "name": "",
            "appearance": {"primary_color": "red"},
            "llm": {"temperature": 9},
            "lead_fields": ["ssn"],
            "unknown": 1,
        },
        headers=owner.headers,
    )
    assert bad.status_code == 422
    fields = {detail["field"] for detail in bad.json()["error"]["details"]}
    assert {"body.name", "body.appearance.primary_color", "body.llm.temperature", "body.unknown"} <= fields
    assert any(field.startswith("body.lead_fields") for field in fields)
    assert (await http.get("/api/bots/not-a-uuid", headers=owner.headers)).status_code == 422


async def test_viewers_read_bots_but_only_admins_change_them(http: httpx.AsyncClient) -> None:
    owner = await register(http)
    viewer = await member_of(http, owner, "viewer")
    bot = (await http.post("/api/bots", json={"name": "B"}, headers=owner.headers)).json()
    assert (await http.get(f"/api/bots/{bot['id']}", headers=viewer.headers)).status_code == 200
    assert (await http.patch(f"/api/bots/{bot['id']}", json={"name": "X"}, headers=viewer.headers)).status_code == 403
    assert (await http.post("/api/bots", json={"name": "C"}, headers=viewer.headers)).status_code == 403
    assert (await http.get("/api/bots")).status_code == 401


async def _seed_conversations(settings: Settings, workspace_id: str, bot_id: str) -> list[str]:
    ids = []
    async with service_conn(settings, "core") as conn:
        for text in ("Do you deliver on Sundays?", '=HYPERLINK("http://evil")', "What are your opening hours?"):
            conversation = await core_store.create_conversation(
                conn,
                workspace_id=uuid.UUID(workspace_id),
                conversation_id=uuid.uuid4(),
                bot_id=uuid.UUID(bot_id),
                visitor_id=f"v_{uuid.uuid4().hex[:10]}",
                profile_id=None,
            )
            await core_store.add_message(
                conn,
                workspace_id=uuid.UUID(workspace_id),
                conversation_id=conversation["id"],
                message_id=uuid.uuid4(),
                role="visitor",
                content=text,
            )
            ids.append(str(conversation["id"]))
    return ids


async def test_conversations_filter_by_text_and_status_and_export_safely(
    http: httpx.AsyncClient, settings: Settings
) -> None:
    owner = await register(http)
    bot = (await http.post("/api/bots", json={"name": "B"}, headers=owner.headers)).json()
    sunday, formula, hours = await _seed_conversations(settings, owner.workspace_id, bot["id"])

    found = (await http.get("/api/conversations", params={"q": "sundays"}, headers=owner.headers)).json()
    assert [c["id"] for c in found] == [sunday]
    closed = await http.patch(
        f"/api/conversations/{hours}", json={"status": "closed", "outcomes": ["resolved"]}, headers=owner.headers
    )
    assert closed.status_code == 200 and closed.json()["outcomes"] == ["resolved"]
    only_closed = (await http.get("/api/conversations", params={"status": "closed"}, headers=owner.headers)).json()
    assert [c["id"] for c in only_closed] == [hours]
    assert (await http.get("/api/conversations", params={"status": "lost"}, headers=owner.headers)).status_code == 422

    detail = (await http.get(f"/api/conversations/{sunday}", headers=owner.headers)).json()
    assert detail["messages"][0]["content"] == "Do you deliver on Sundays?"

    exported = await http.get("/api/conversations/export", params={"format": "csv"}, headers=owner.headers)
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert len(rows) == 3
    assert next(r for r in rows if r["conversation_id"] == formula)["content"].startswith("'=")
    as_json = (await http.get("/api/conversations/export", headers=owner.headers)).json()
    assert {c["id"] for c in as_json} == {sunday, formula, hours}

    assert (await http.delete(f"/api/conversations/{sunday}", headers=owner.headers)).status_code == 204
    assert (await http.get(f"/api/conversations/{sunday}", headers=owner.headers)).status_code == 404


# -- what a bot may spend of the operator's LLM key ------------------------------------------------


async def test_llm_settings_beyond_the_operators_limits_are_refused_naming_the_allowed_values(
    http: httpx.AsyncClient,
) -> None:
    """The test stack's operator allows only its default model (CORTEX_LLM_MODEL=stand-in), 1024
    tokens an answer and, on the free plan of a new workspace, a 2,000,000-token monthly budget."""
    owner = await register(http)
    refusals = {
        "model": ({"model": "gpt-4-32k"}, "use '' (the default, stand-in)"),
        "max_tokens": ({"max_tokens": 4096}, "max_tokens is at most 1024"),
        "monthly_token_budget": ({"monthly_token_budget": 10**12}, "at most 2000000 on the free plan"),
    }
    for field, (llm, allowed) in refusals.items():
        created = await http.post("/api/bots", json={"name": "Spender", "llm": llm}, headers=owner.headers)
        assert created.status_code == 422, created.text
        assert allowed in created.json()["error"]["message"]
        assert [d["field"] for d in created.json()["error"]["details"]] == [f"body.llm.{field}"]
    assert (await http.get("/api/bots", headers=owner.headers)).json() == []

    within = {"model": "stand-in", "max_tokens": 1024, "monthly_token_budget": 2_000_000}
    created = await http.post("/api/bots", json={"name": "Thrifty", "llm": within}, headers=owner.headers)
    assert created.status_code == 201, created.text
    bot_id = created.json()["id"]
    for llm, allowed in refusals.values():
        patched = await http.patch(f"/api/bots/{bot_id}", json={"llm": llm}, headers=owner.headers)
        assert patched.status_code == 422, patched.text
        assert allowed in patched.json()["error"]["message"]
    unchanged = (await http.get(f"/api/bots/{bot_id}", headers=owner.headers)).json()["llm"]
    assert {key: unchanged[key] for key in within} == within
    patched = await http.patch(
        f"/api/bots/{bot_id}", json={"llm": {"model": "", "max_tokens": 300}}, headers=owner.headers
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["llm"]["max_tokens"] == 300
