"""What core and workflows hand each other when a chat turn is about an appointment.

Core decides a turn may be about booking (its rules, or the helper's booking signal) or that the
conversation's scheduling run still waits for the visitor; it hands the turn to workflows'
`Scheduler` (a Serve handle) with `BookingRequest`. The scheduling graph answers with a
`BookingTurn`: the reply to show, its reply buttons (offered slots, services), and whether it still
waits for the visitor. `handled=False` means "not mine" (the bot does not book, or the message is
not about an appointment): core answers the turn as any other.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

#: Where the scheduling run stands after the turn.
#: - `asking`: it asked for something still missing (service, name, e-mail, a time it can read);
#: - `offering`: it offered slots and waits for the visitor's pick;
#: - `booked`, `rescheduled`, `cancelled`: done, confirmed in the reply, mails queued;
#: - `abandoned`: the visitor gave up or changed the subject;
#: - `unavailable`: nothing free in the booking horizon (the reply offers a person or the lead form);
#: - `failed`: the workflow could not run (core answers with its fixed "cannot book now" reply).
BookingStatus = Literal[
    "asking", "offering", "booked", "rescheduled", "cancelled", "abandoned", "unavailable", "failed"
]

#: What core read in the visitor's message: a wish to book, or to change or cancel a booking.
BookingIntent = Literal["book", "reschedule", "cancel"]


@dataclass(frozen=True)
class BookingRequest:
    workspace_id: uuid.UUID
    bot_id: uuid.UUID
    conversation_id: uuid.UUID
    visitor_id: str | None
    message: str
    #: The visitor's IANA time zone as the widget reports it ("Europe/Berlin"); None: the business's.
    time_zone: str | None
    language: str
    #: Core's reading of the message; None when the conversation's run is active and core only
    #: passes the next message on.
    intent: BookingIntent | None
    #: What the visitor already told core's profile (name, e-mail): the graph does not ask again.
    known: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class BookingTurn:
    handled: bool
    reply: str = ""
    #: Reply buttons, as core's `Action`: {"type": "reply", "label": "Tue 9 Dec, 10:00", "value": "…"}.
    actions: list[dict[str, Any]] = field(default_factory=list)
    status: BookingStatus | None = None
    #: The run still waits for the visitor: core hands the conversation's next message here too.
    active: bool = False
    appointment_id: uuid.UUID | None = None


NOT_HANDLED = BookingTurn(handled=False)
