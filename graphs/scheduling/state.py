"""The scheduling graph's state (checkpointed after every step: plain values only) and the context
of one turn (not checkpointed: the bot's rules as they are now, and the time)."""

from __future__ import annotations

from typing import Any, Literal, TypedDict

from cortex.contracts.booking import BookingIntent, BookingStatus
from cortex.workflows.runs import TurnContext

__all__ = ["Awaiting", "Offer", "SchedulingState", "TurnContext"]

#: What the graph's last question waits for.
Awaiting = Literal["", "service", "time", "slot", "name", "email", "which", "confirm_cancel"]


class Offer(TypedDict):
    """A slot offered as a reply button: its start (ISO, UTC), the button's label and the message
    the button sends (unambiguous: the date with its year, and the time zone)."""

    start: str
    label: str
    value: str


class SchedulingState(TypedDict, total=False):
    # who and where (set when the run starts)
    workspace_id: str
    bot_id: str
    conversation_id: str | None
    visitor_id: str | None
    language: str
    #: The visitor's IANA time zone (the widget's), else the business's.
    time_zone: str
    intent: BookingIntent
    # the visitor's latest message
    message: str
    # what is known so far
    service_id: str | None
    name: str | None
    email: str | None
    #: The wanted time (When.to_json), or None.
    when: dict[str, Any] | None
    #: The slot the visitor picked (ISO, UTC).
    chosen: str | None
    #: The appointment being moved or cancelled, then the one booked.
    appointment_id: str | None
    # the conversation
    awaiting: Awaiting
    offered: list[Offer]
    #: Choices of the last question that are not slots (services, appointments, yes/no, dates).
    choices: list[dict[str, str]]
    #: Replies in a row the graph could not read (the second hands the conversation back).
    unreadable: int
    #: The visitor said yes to cancelling the appointment.
    confirmed: bool
    #: What the visitor's message asked that the graph must answer this turn (a clarifying question).
    problem: str | None
    # the turn's answer
    reply: str
    actions: list[dict[str, Any]]
    status: BookingStatus
    #: False when the graph lets go of a message it cannot use (core answers it as any other).
    handled: bool
