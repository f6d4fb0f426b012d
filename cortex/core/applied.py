"""What the helper's guidance did to a bot message, as core records it (messages' columns, and the
same fields in `message.created`): the pattern, the experiment and arm, the situation, or why no
guidance was applied (cortex.contracts.guidance.NoGuidanceReason).

Only a reply a model wrote can carry guidance: the guidance is an instruction in the model's
prompt. A direct answer (the owner's FAQ text, a cached answer), a fixed reply, an extracted answer
and the note that a person was asked for record only why not, so the helper never credits a
pattern with an outcome it had no part in. An experiment's no-guidance arm is recorded with its
experiment and arm (reason `control`), so its visitors count in the experiment's results.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any

from cortex.contracts.guidance import Guidance, NoGuidanceReason

log = logging.getLogger("cortex.chat")


@dataclass(frozen=True)
class AppliedGuidance:
    """The record of one bot message: a pattern and/or an experiment arm applied, or `no_guidance`."""

    pattern_id: uuid.UUID | None = None
    experiment_id: uuid.UUID | None = None
    arm: str | None = None
    situation: str | None = None
    no_guidance: NoGuidanceReason | None = None

    def columns(self) -> dict[str, Any]:
        """As `store.add_message` takes them."""
        return {
            "pattern_id": self.pattern_id,
            "experiment_id": self.experiment_id,
            "arm": self.arm,
            "situation": self.situation,
            "no_guidance": self.no_guidance,
        }

    def event_fields(self) -> dict[str, Any]:
        """As `message.created` carries them (ids as strings; the fields that are set)."""
        fields = {
            "pattern_id": str(self.pattern_id) if self.pattern_id else None,
            "experiment_id": str(self.experiment_id) if self.experiment_id else None,
            "arm": self.arm,
            "situation": self.situation,
            "no_guidance": self.no_guidance,
        }
        return {name: value for name, value in fields.items() if value is not None}


def not_applied(reason: NoGuidanceReason) -> AppliedGuidance:
    """A bot message no guidance could shape, and why."""
    return AppliedGuidance(no_guidance=reason)


def guided(guidance: Guidance) -> AppliedGuidance:
    """What a model-written reply carries of the guidance its prompt held (or why it held none)."""
    pattern_id = _uuid(guidance.pattern_id, "pattern_id")
    experiment_id = _uuid(guidance.experiment_id, "experiment_id")
    arm = guidance.arm if experiment_id is not None else None
    if not guidance.empty:
        return AppliedGuidance(
            pattern_id=pattern_id, experiment_id=experiment_id, arm=arm, situation=guidance.situation
        )
    # No text: nothing steered the reply. An experiment's control arm still names its experiment and arm.
    reason: NoGuidanceReason = guidance.reason or ("control" if experiment_id is not None else "no_pattern")
    return AppliedGuidance(experiment_id=experiment_id, arm=arm, situation=guidance.situation, no_guidance=reason)


def for_reply(
    guidance: Guidance, *, direct: NoGuidanceReason | None = None, canned: bool = False, extractive: bool = False
) -> AppliedGuidance:
    """The record of a bot reply: the first that holds of a direct answer (`faq`/`cache`), a fixed
    reply (`canned`), an extracted answer (`extractive`), else what the model was given."""
    if direct is not None:
        return not_applied(direct)
    if canned:
        return not_applied("canned")
    if extractive:
        return not_applied("extractive")
    return guided(guidance)


def _uuid(value: str | None, name: str) -> uuid.UUID | None:
    """An id from the helper; a malformed one is dropped (logged), never the visitor's answer."""
    if value is None:
        return None
    try:
        return uuid.UUID(str(value))
    except ValueError:
        log.warning("the helper's guidance has a malformed %s %r; not recorded", name, value)
        return None
