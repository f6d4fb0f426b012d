"""How a closing conversation is labelled: resolved, abandoned, and the facts it keeps."""

from __future__ import annotations

from cortex.contracts.events import OUTCOME_PRIORITY
from cortex.core.outcomes import (
    LastReply,
    closing_outcomes,
    member_outcomes,
    ordered,
    primary,
    reopened_outcomes,
    resolved,
    with_outcome,
)

GOOD = LastReply(answered=True, degraded=False, interrupted=False, feedback=None)


def test_an_answered_healthy_last_reply_resolves_the_conversation() -> None:
    assert closing_outcomes([], GOOD) == ["resolved"]
    assert closing_outcomes([], LastReply(answered=True, degraded=False, interrupted=False, feedback=1)) == ["resolved"]


def test_a_reply_that_could_not_help_or_was_rated_down_leaves_it_abandoned() -> None:
    for reply in (
        LastReply(answered=False, degraded=False, interrupted=False, feedback=None),  # don't know, handoff notice
        LastReply(answered=True, degraded=True, interrupted=False, feedback=None),  # knowledge or helper failed
        LastReply(answered=True, degraded=False, interrupted=True, feedback=None),  # the visitor left mid-answer
        LastReply(answered=True, degraded=False, interrupted=False, feedback=-1),  # thumbs down
        LastReply(answered=None, degraded=False, interrupted=False, feedback=None),  # unknown: not counted
        None,  # the bot never replied
    ):
        assert not resolved(reply), reply
        assert closing_outcomes([], reply) == ["abandoned"], reply


def test_facts_stay_and_a_resolved_conversation_keeps_them_first_by_priority() -> None:
    assert closing_outcomes(["lead_captured"], GOOD) == ["lead_captured", "resolved"]
    assert closing_outcomes(["escalated", "booked"], None) == ["booked", "escalated"]
    assert primary(closing_outcomes(["escalated"], GOOD)) == "escalated"
    assert primary(closing_outcomes(["lead_captured", "booked", "escalated"], GOOD)) == "booked"


def test_an_earlier_abandoned_label_does_not_survive_a_new_judgment() -> None:
    assert closing_outcomes(["abandoned"], GOOD) == ["resolved"]
    assert closing_outcomes(["abandoned", "abandoned"], None) == ["abandoned"]


def test_unknown_labels_are_dropped_and_primary_follows_the_contract_order() -> None:
    assert ordered(["nonsense", "resolved", "booked", "resolved"]) == ["booked", "resolved"]
    assert primary([]) == "abandoned"
    for index, outcome in enumerate(OUTCOME_PRIORITY):
        assert primary(OUTCOME_PRIORITY[index:]) == outcome


def test_a_member_closing_with_labels_gets_exactly_those_or_abandoned() -> None:
    assert member_outcomes(["resolved", "lead_captured"]) == ["lead_captured", "resolved"]
    assert member_outcomes([]) == ["abandoned"]
    assert member_outcomes(["abandoned", "resolved"]) == ["resolved"], "abandoned only alone"
    assert member_outcomes(["abandoned"]) == ["abandoned"]


def test_a_late_outcome_replaces_abandoned() -> None:
    assert with_outcome(["abandoned"], "booked") == ["booked"]
    assert with_outcome(["resolved"], "lead_captured") == ["lead_captured", "resolved"]
    assert with_outcome(["booked"], "booked") == ["booked"]


def test_reopening_drops_the_closing_judgments_and_keeps_the_facts() -> None:
    assert reopened_outcomes(["resolved", "lead_captured"]) == ["lead_captured"]
    assert reopened_outcomes(["abandoned"]) == []
    assert reopened_outcomes(["escalated", "booked", "resolved"]) == ["booked", "escalated"]
