"""Crediting arithmetic: what one conversation's outcomes add to a pattern's statistics, and how a
change of outcomes (a reopened conversation closed again, a lead after the close) moves them by the
difference only. The SQL around it runs against Postgres in tests/integration/test_helper_learning.py."""

from __future__ import annotations

import uuid

import pytest

from cortex.contracts.events import LeadCaptured
from cortex.helper.credit import counts, difference, normalise, primary, rating_difference
from cortex.helper.events import _read


def test_labels_come_in_priority_order_and_abandoned_only_alone() -> None:
    assert normalise(["resolved", "booked", "resolved", "escalated"]) == ["booked", "escalated", "resolved"]
    assert normalise(["abandoned", "lead_captured"]) == ["lead_captured"], "a lead after an abandon is no abandon"
    assert normalise(["abandoned"]) == ["abandoned"] and normalise([]) == []
    assert normalise(["resolved", "something new"]) == ["resolved"], "an unknown label is not counted"
    assert primary(["resolved", "escalated"]) == "escalated" and primary([]) is None


@pytest.mark.parametrize(
    ("outcomes", "expected"),
    [
        (["resolved"], {"uses": 1, "resolutions": 1, "leads": 0, "bookings": 0, "escalations": 0}),
        (["lead_captured", "resolved"], {"uses": 1, "resolutions": 1, "leads": 1, "bookings": 0, "escalations": 0}),
        (["booked"], {"uses": 1, "resolutions": 1, "leads": 0, "bookings": 1, "escalations": 0}),
        # Handed to a person and then answered: escalated comes first, not a resolution by the bot.
        (["escalated", "resolved"], {"uses": 1, "resolutions": 0, "leads": 0, "bookings": 0, "escalations": 1}),
        (["abandoned"], {"uses": 1, "resolutions": 0, "leads": 0, "bookings": 0, "escalations": 0}),
        (None, {"uses": 0, "resolutions": 0, "leads": 0, "bookings": 0, "escalations": 0}),
    ],
)
def test_what_one_conversation_counts_for_each_goal(outcomes: list[str] | None, expected: dict[str, int]) -> None:
    assert counts(outcomes) == expected


def test_a_first_credit_uses_the_pattern_once_and_a_repeat_moves_nothing() -> None:
    assert difference(None, ["resolved"]) == {"uses": 1, "resolutions": 1, "leads": 0, "bookings": 0, "escalations": 0}
    assert not any(difference(["resolved"], ["resolved"]).values())


def test_a_reclose_moves_the_statistics_by_the_change_only() -> None:
    # Reopened and closed again, abandoned this time: the resolution is taken back, the use stays.
    assert difference(["resolved"], ["abandoned"]) == {
        "uses": 0,
        "resolutions": -1,
        "leads": 0,
        "bookings": 0,
        "escalations": 0,
    }
    # A lead after the close: one lead more, still one resolution.
    assert difference(["resolved"], ["lead_captured", "resolved"]) == {
        "uses": 0,
        "resolutions": 0,
        "leads": 1,
        "bookings": 0,
        "escalations": 0,
    }
    # Summed over any sequence of closes, the statistics hold exactly the last outcomes, counted once.
    history = [None, ["abandoned"], ["resolved"], ["escalated", "resolved"], ["booked", "escalated"]]
    total = {key: 0 for key in counts(None)}
    for old, new in zip(history, history[1:], strict=False):
        for key, value in difference(old, new).items():
            total[key] += value
    assert total == counts(["booked", "escalated"])


@pytest.mark.parametrize(
    ("old", "new", "up", "down"),
    [(None, 1, 1, 0), (None, -1, 0, 1), (1, -1, -1, 1), (-1, None, 0, -1), (1, 1, 0, 0), (None, None, 0, 0)],
)
def test_a_changed_or_withdrawn_rating_undoes_the_old_one(old: int | None, new: int | None, up: int, down: int) -> None:
    assert rating_difference(old, new) == {"thumbs_up": up, "thumbs_down": down}


def test_the_consumer_reads_an_event_written_before_a_field_was_dropped_and_never_echoes_values() -> None:
    """A `lead.captured` from before the event stopped carrying the address is read (not retried
    until dead-lettered), and a payload that does not fit fails without its values: the bus keeps
    the error text in Redis, where an erased visitor's address must not stay."""
    conversation, bot, profile = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    legacy = {
        "conversation_id": str(conversation),
        "bot_id": str(bot),
        "profile_id": str(profile),
        "fields": ["email"],
        "email": "quilla@example.com",
        "marketing_consent": True,
    }
    lead = _read(LeadCaptured, legacy)
    assert (lead.conversation_id, lead.bot_id) == (conversation, bot)
    with pytest.raises(ValueError, match="conversation_id") as refused:
        _read(LeadCaptured, {**legacy, "conversation_id": "quilla@example.com"})
    assert "quilla" not in str(refused.value)
