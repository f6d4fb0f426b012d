"""How a conversation ended: the outcome labels core gives it when it closes (pure logic).

Labels come from what happened: `lead_captured` (the lead form), `escalated` (a person was asked
for), `booked` (`appointment.booked`) are set as they happen; `resolved` and `abandoned` are judged
when the conversation closes. `resolved`: its last bot reply answered the question (no fixed
"don't know" or "cannot look up", no handoff notice), was not degraded, was read to its end (not
interrupted) and was not rated down. `abandoned`: none of the others. A reopened conversation
(its visitor wrote again) loses the two judgments and is judged again at its next closing; the
labels that record facts stay.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from cortex.contracts.events import OUTCOME_PRIORITY, Outcome

#: Judged at closing, from the conversation's last bot reply; dropped when it reopens.
JUDGED: frozenset[Outcome] = frozenset({"resolved", "abandoned"})


@dataclass(frozen=True)
class LastReply:
    """What closing reads of a conversation's last bot message."""

    answered: bool | None  # None: a message from before answers were recorded as such
    degraded: bool
    interrupted: bool
    feedback: int | None  # the visitor's thumbs: 1, -1, or None


def ordered(labels: Iterable[str]) -> list[Outcome]:
    """Known outcome labels, once each, in `OUTCOME_PRIORITY` order (unknown text is dropped)."""
    present = set(labels)
    return [outcome for outcome in OUTCOME_PRIORITY if outcome in present]


def primary(outcomes: Iterable[str]) -> Outcome:
    """The conversation's outcome: the first of `OUTCOME_PRIORITY` it carries (`abandoned` if none)."""
    labels = ordered(outcomes)
    return labels[0] if labels else "abandoned"


def resolved(last_reply: LastReply | None) -> bool:
    """The bot's last reply answered, whole and healthy, and the visitor did not rate it down."""
    return (
        last_reply is not None
        and bool(last_reply.answered)
        and not last_reply.degraded
        and not last_reply.interrupted
        and last_reply.feedback != -1
    )


def closing_outcomes(labels: Iterable[str], last_reply: LastReply | None) -> list[Outcome]:
    """The labels of a conversation closing now: its facts, `resolved` when its last reply was, and
    `abandoned` when it has none of the others."""
    kept = [label for label in ordered(labels) if label != "abandoned"]
    if resolved(last_reply):
        kept.append("resolved")
    return ordered(kept) or ["abandoned"]


def member_outcomes(given: Iterable[str]) -> list[Outcome]:
    """A member's own labels for a conversation they close: `abandoned` only alone, or when none is given."""
    labels = ordered(given)
    return [label for label in labels if label != "abandoned"] or ["abandoned"]


def with_outcome(labels: Iterable[str], outcome: Outcome) -> list[Outcome]:
    """The labels once `outcome` happened too (a closed conversation's `abandoned` no longer holds)."""
    return [label for label in ordered([*labels, outcome]) if label != "abandoned"] or ["abandoned"]


def reopened_outcomes(labels: Iterable[str]) -> list[Outcome]:
    """The labels of a conversation its visitor wrote to again: the facts, not the closing's judgments."""
    return [label for label in ordered(labels) if label not in JUDGED]
