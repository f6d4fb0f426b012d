"""What the helper gives chat for a live conversation: guidance for the next reply, or none."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class Guidance:
    """Hidden guidance for the next reply; `pattern_id` names the success pattern it comes from."""

    text: str = ""
    pattern_id: str | None = None
    #: The experiment and arm this conversation's visitor is in, when one decided the guidance.
    experiment_id: str | None = None
    arm: str | None = None

    @property
    def empty(self) -> bool:
        return not self.text


NO_GUIDANCE = Guidance()


@dataclass(frozen=True)
class HistoryTurn:
    """One earlier message of the conversation, as the helper reads it (core's message roles)."""

    role: Literal["visitor", "bot", "agent", "system"]
    text: str
