"""What the helper gives chat for a live conversation: guidance for the next reply, or none."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Guidance:
    """Hidden guidance for the next reply; `pattern_id` names the success pattern it comes from."""

    text: str = ""
    pattern_id: str | None = None

    @property
    def empty(self) -> bool:
        return not self.text


NO_GUIDANCE = Guidance()
