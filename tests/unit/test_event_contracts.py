"""Every event on the bus has a payload contract (cortex.contracts.events), and emit enforces it."""

from __future__ import annotations

import ast
import importlib
import uuid
from pathlib import Path

import pytest

from cortex import bus
from cortex.contracts.events import EVENT_PAYLOADS, validate_payload

CORTEX = Path(__file__).resolve().parents[2] / "cortex"
CONSUMERS = ["cortex.auth.events", "cortex.core.events", "cortex.knowledge.events", "cortex.marketing.events"]


def _emitted_event_types() -> set[str]:
    """Event types written as a literal `event_type="..."` anywhere in the library."""
    found = set()
    for path in CORTEX.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.keyword) and node.arg == "event_type" and isinstance(node.value, ast.Constant):
                found.add(node.value.value)
    return found


def test_every_event_produced_or_consumed_has_a_payload_contract() -> None:
    consumed = {event_type for name in CONSUMERS for event_type in importlib.import_module(name).EVENT_TYPES}
    emitted = _emitted_event_types()
    assert emitted, "the scan finds the producers"
    assert (emitted | consumed) - set(EVENT_PAYLOADS) == set()


def test_a_producers_payload_validates_and_keeps_its_fields() -> None:
    ids = {name: str(uuid.uuid4()) for name in ("conversation_id", "message_id", "bot_id")}
    payload = {**ids, "role": "bot", "degraded": False, "answered": True, "direct": "faq"}
    validated = validate_payload("message.created", payload)
    assert validated is not None
    assert validated.model_dump(mode="json", exclude_none=True) == payload


@pytest.mark.parametrize(
    "payload",
    [{}, {"bot_id": "not-a-uuid"}, {"bot_id": str(uuid.uuid4()), "extra": 1}],
    ids=["missing", "malformed", "unknown field"],
)
async def test_emit_refuses_a_payload_that_breaks_its_contract(payload: dict) -> None:
    with pytest.raises(ValueError):
        # Refused before the connection is touched: nothing reaches the outbox.
        await bus.emit(object(), schema="core", event_type="bot.deleted", payload=payload)  # type: ignore[arg-type]


def test_an_event_type_without_a_contract_is_not_checked() -> None:
    assert validate_payload("sandbox.created", {"anything": 1}) is None
