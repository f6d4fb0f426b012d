"""What the helper gives chat for a live conversation: guidance for the next reply, or none.

Core records on the bot's message what was applied (`message.created` carries it): the pattern,
the experiment and arm, the situation, or, when the reply went out without guidance, why
(`NoGuidanceReason`). The helper credits outcomes to those records; the visitor never sees them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

#: Why a bot's reply carried no guidance.
#: - `faq`, `cache`: a direct answer (the owner's FAQ text, or a cached answer), written by no model;
#: - `handoff`: a person is answering;
#: - `canned`: a fixed reply (nothing in the knowledge answers, knowledge unreachable, budget spent,
#:   the model failed before writing);
#: - `extractive`: the bot answers with the passages' own sentences: no model to steer;
#: - `helper_failed`: the helper was too slow or failed (the turn is marked degraded);
#: - `helper_off`: `CORTEX_CHAT_HELPER=false`;
#: - `no_pattern`: the helper had no pattern for the situation;
#: - `control`: the visitor is in an experiment's no-guidance arm (experiment and arm are recorded);
#: - `booking`: workflows' scheduling run wrote the reply (a slot offer, a confirmation).
NoGuidanceReason = Literal[
    "faq", "cache", "handoff", "canned", "extractive", "helper_failed", "helper_off", "no_pattern", "control", "booking"
]


@dataclass(frozen=True)
class Guidance:
    """Hidden guidance for the next reply; `pattern_id` names the success pattern it comes from.

    An empty `text` with an `experiment_id` is an experiment's no-guidance arm: still recorded, so
    the arm's visitors count. `situation` is the analysis's "intent/stage" the pick was made for.
    `reason` says why there is no guidance when `text` is empty (`no_pattern` or `control`)."""

    text: str = ""
    pattern_id: str | None = None
    #: The experiment and arm this conversation's visitor is in, when one decided the guidance.
    experiment_id: str | None = None
    arm: str | None = None
    situation: str | None = None
    reason: NoGuidanceReason | None = None

    @property
    def empty(self) -> bool:
        return not self.text


NO_GUIDANCE = Guidance(reason="no_pattern")


@dataclass(frozen=True)
class HistoryTurn:
    """One earlier message of the conversation, as the helper reads it (core's message roles)."""

    role: Literal["visitor", "bot", "agent", "system"]
    text: str
