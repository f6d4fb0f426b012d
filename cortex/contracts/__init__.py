"""The types that cross a service boundary: what one service hands another through a handle or an event.

Services import these, never each other's packages (pyproject's import-linter contracts).
"""

from cortex.contracts.chat import ChatEvent, Done, HandedOff, Meta, Token
from cortex.contracts.events import EVENT_PAYLOADS, EventPayload, validate_payload
from cortex.contracts.guidance import NO_GUIDANCE, Guidance, HistoryTurn
from cortex.contracts.knowledge import EvidenceUnit, FaqMatch, Lookup, Passage

__all__ = [
    "EVENT_PAYLOADS",
    "NO_GUIDANCE",
    "ChatEvent",
    "Done",
    "EventPayload",
    "EvidenceUnit",
    "FaqMatch",
    "Guidance",
    "HandedOff",
    "HistoryTurn",
    "Lookup",
    "Meta",
    "Passage",
    "Token",
    "validate_payload",
]
