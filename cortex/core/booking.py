"""Chat turns about appointments: core reads the intent and hands the turn to workflows' Scheduler.

A turn goes to the Scheduler (`BookingPort.converse`) when the conversation's scheduling run waits
for the visitor (`conversations.booking_active`), or when the visitor's message asks to book, move
or cancel an appointment (`intent_of`: word rules in English, German, French and Spanish). The
Scheduler answers `handled=False` when the bot does not book (no booking settings) or the message
is not about an appointment after all; the turn is then answered as any other. A question about
the product ("Can the bot book appointments?") reads as a wish to book: a bot that books answers it
by offering to book, and one that does not never hears of it.

The rules are read before knowledge or the helper is asked, so a booking turn costs neither. The
helper's analysis comes back with knowledge's answer: when the rules read nothing, the knowledge
has nothing that answers, and the helper's situation ("intent/stage") says `booking`, the turn is
offered to the Scheduler after all (`helper_reads_booking`), instead of "I don't know". `Guidance`
carries the helper's intent, not its booking score; no second helper call is made for it.
"""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from dataclasses import dataclass, field
from typing import Any, Protocol

import asyncpg

from cortex.contracts.booking import NOT_HANDLED, BookingIntent, BookingRequest, BookingTurn
from cortex.contracts.guidance import Guidance
from cortex.core import store
from cortex.core.replies import reply

log = logging.getLogger("cortex.chat")


class BookingPort(Protocol):
    """workflows' Scheduler: a Serve handle in the cluster (deployments/handles.py)."""

    async def converse(self, request: BookingRequest) -> BookingTurn: ...


class NoBooking:
    """Chat without workflows (one process, or a deployment without the workflows application): no
    turn is about booking."""

    async def converse(self, request: BookingRequest) -> BookingTurn:
        return NOT_HANDLED


def _words(*alternatives: str) -> re.Pattern[str]:
    """Any of `alternatives` as whole words (a letter may neither precede nor follow), any case."""
    return re.compile(rf"(?<!\w)(?:{'|'.join(alternatives)})(?!\w)", re.IGNORECASE)


# What is booked: the nouns a booking verb, a cancellation or a move must name (so "cancel my
# subscription" or "change my password" stays the knowledge's). German compounds end in -termin
# ("Beratungstermin"); the prefix ends in s or is a known word, so "determine" is no Termin.
_THING = (
    r"appointments?|appt|bookings?|reservations?|meetings?|calls?|sessions?|consultations?|visits?|demos?"
    r"|slots?|(?:\w+s|arzt|wunsch|rückruf|kennenlern)?termin(?:e|en|s)?|buchung(?:en)?|reservierung(?:en)?"
    r"|rendez-vous|rdv|réservations?|créneaux?|citas?|reservas?|turnos?"
)
_WHEN = (
    r"today|tomorrow|tonight|next week|this week|monday|tuesday|wednesday|thursday|friday|saturday|sunday"
    r"|\d{1,2}(?::\d{2})?\s?(?:am|pm|h|uhr)|\d{1,2}:\d{2}|morning|afternoon|evening"
)

_BOOK = _words(
    # English: book / schedule / reserve as verbs ("book a", "can I book", "schedule me in"), never
    # the noun ("a book about", "your schedule for").
    r"book(?:ing)?\s+(?:me\s+|us\s+)?(?:a|an|one|some|my|our|in|it|time|tomorrow|today|next|this|on|for)",
    rf"book(?:ed|ing)?\s+(?:an?\s+|the\s+|my\s+)?(?:\w+\s+)?(?:{_THING})",
    r"(?:can|could|may|shall|want to|wanna|like to|need to|let me|how (?:do|can) (?:i|we)|where (?:do|can) (?:i|we))"
    r"\s+(?:i\s+|we\s+|you\s+)?(?:book|schedule|reserve)",
    r"schedul(?:e|ing)\s+(?:a|an|me|us|my|one|some|time|it|in)",
    r"reserv(?:e|ing)\s+(?:a|an|me|us|my|the|one|some|time|it|in)",
    r"(?:set up|arrange|make|get|fix|organi[sz]e|plan|have)\s+(?:a|an|another|a new|my|an other)\s+"
    r"(?:appointment|call|meeting|consultation|session|visit|demo|booking|reservation)",
    # The nouns alone only when wanted ("I'd like an appointment", "do you take bookings") or
    # timed ("an appointment tomorrow"): "your cancellation policy for appointments" is a question.
    r"(?:take|make|get|need|want|like|offer|request|arrange)\s+(?:[\w'’-]+\s+){0,2}"
    r"(?:appointments?|appt|bookings?|reservations?|consultations?)",
    r"(?:free|open|available|earliest)\s+(?:time\s+)?(?:slots?|spots?|appointments?|dates?|times?)",
    r"(?:next|first|another|new)\s+(?:free\s+|available\s+|open\s+)?(?:slots?|spots?|appointments?)",
    rf"(?:appointments?|appt|bookings?|reservations?|slots?)\s+(?:(?:for|on|at|this|next)\s+)?(?:{_WHEN})",
    r"(?:any|got|have)\s+(?:free\s+|open\s+)?(?:slots?|availability)",
    rf"(?:are you|is (?:he|she|anyone|someone)|when are you)\s+(?:free|available)(?:\s+(?:on|at|this|next|{_WHEN}))?",
    rf"(?:come in|come by|stop by|drop by|pop in)\s+(?:\w+\s+){{0,3}}(?:{_WHEN})",
    # German: Termin (and its compounds), buchen, reservieren, "haben Sie Zeit/frei".
    r"(?:\w+s|arzt|wunsch|rückruf|kennenlern)?termin(?:e|en|s)?",
    r"buch(?:en|e|ung|ungen)|bucht|reservier(?:en|e|t|ung|ungen)",
    r"(?:haben sie|habt ihr|hast du|hätten sie)\s+(?:\w+\s+){0,3}(?:zeit|frei|einen freien)",
    # French: rendez-vous, réserver, créneau, disponibilités.
    r"rendez-vous|rdv|réserv(?:er|e|ation|ations)|créneaux?|(?:vos|tes|des) disponibilités",
    # Spanish: cita, reservar, agendar, hueco, turno.
    r"citas?|reserv(?:ar|a|as|o)|agendar(?:me|la)?|huecos? libres?|turnos?|(?:su|tu) disponibilidad",
)
_RESCHEDULE_VERBS = (
    r"move|moving|change|changing|shift|push back|postpone|bring forward"
    r"|verschieb\w*|verlegen|verleg\w*|ändern|umleg\w*"
    r"|déplacer|reporter|décaler|changer|modifier"
    r"|cambiar|mover|aplazar|posponer|adelantar|atrasar"
)
# Verbs only: "cancellation policy", "Stornierungsbedingungen", "conditions d'annulation" ask a question.
_CANCEL_VERBS = (
    r"cancel(?:l?ed|l?ing|s)?|call off|calling off|absagen|abzusagen|stornier(?:e|en|t)"
    r"|annul(?:er|e|ez|é|ée)|cancel(?:ar|a|e|o)|anul(?:ar|a|e|o)"
)
# The verb and what it acts on within a few words, in either order ("move my 10 am appointment",
# "meinen Termin am Montag verschieben"), so "change my password" or "cancel my order" is no booking.
_NEAR = r"\s+(?:[\w'’-]+\s+){0,5}"
_RESCHEDULE = _words(
    r"re-?schedul\w*|re-?book\w*|umbuch\w*|reprogram\w*",
    rf"(?:{_RESCHEDULE_VERBS}){_NEAR}(?:{_THING})",
    rf"(?:{_THING}){_NEAR}(?:{_RESCHEDULE_VERBS})",
)
_CANCEL = _words(
    rf"(?:{_CANCEL_VERBS}){_NEAR}(?:{_THING})",
    rf"(?:{_THING}){_NEAR}(?:{_CANCEL_VERBS})",
    # "Ich muss leider absagen", "ich sage ab": German cancels an appointment without naming it.
    r"absagen|abzusagen|sage (?:\w+\s+){0,3}ab",
)


def intent_of(message: str) -> BookingIntent | None:
    """Whether the visitor asks to book, move or cancel an appointment; None: not about booking."""
    if _CANCEL.search(message):
        return "cancel"
    if _RESCHEDULE.search(message):
        return "reschedule"
    if _BOOK.search(message):
        return "book"
    return None


def helper_reads_booking(guidance: Guidance) -> bool:
    """The helper's analysis of the turn (its situation, "intent/stage") reads a wish to book."""
    return (guidance.situation or "").partition("/")[0] == "booking"


@dataclass(frozen=True)
class BookingReply:
    """The bot's reply to a turn the Scheduler took (or the fixed one when it could not)."""

    text: str
    actions: list[dict[str, Any]] = field(default_factory=list)
    degraded: bool = False
    #: The reply answered the visitor (a slot offer, a confirmation); the fixed "cannot book" did not.
    answered: bool = True


async def converse(
    port: BookingPort,
    db: asyncpg.Pool,
    *,
    workspace_id: uuid.UUID,
    bot: asyncpg.Record,
    conversation_id: uuid.UUID,
    visitor_id: str | None,
    message: str,
    time_zone: str | None,
    booking_active: bool,
    timeout_s: float,
    follow_ups: list[dict[str, Any]],
    hint: BookingIntent | None = None,
) -> BookingReply | None:
    """The Scheduler's reply to this turn, or None when the turn is not about booking (the normal
    turn answers it). A Scheduler that fails or is slower than `timeout_s` gets the fixed "cannot
    book now" reply with `follow_ups` (a person, the lead form), degraded, and the run let go.
    `hint`: the intent read elsewhere (the helper's analysis) when the rules read none."""
    intent = intent_of(message) or hint
    if intent is None and not booking_active:
        return None
    language = bot["language"]
    async with db.acquire() as conn:
        known = await store.booking_known(conn, workspace_id=workspace_id, conversation_id=conversation_id)
    request = BookingRequest(
        workspace_id=workspace_id,
        bot_id=bot["id"],
        conversation_id=conversation_id,
        visitor_id=visitor_id,
        message=message,
        time_zone=time_zone,
        language=language,
        intent=intent,
        known=known,
    )
    try:
        turn = await asyncio.wait_for(port.converse(request), timeout=timeout_s)
    except Exception as exc:  # noqa: BLE001 - the visitor hears that booking is down, never a broken turn
        log.warning("the Scheduler failed on a booking turn: %r", exc)
        turn = BookingTurn(handled=True, status="failed")
    if not turn.handled:
        if booking_active:  # the run let go of the conversation: the next message is anyone's
            await _set_active(db, workspace_id=workspace_id, conversation_id=conversation_id, active=False)
        return None
    failed = turn.status == "failed" or not turn.reply.strip()
    active = turn.active and not failed
    if active != booking_active:
        await _set_active(db, workspace_id=workspace_id, conversation_id=conversation_id, active=active)
    if failed:
        return BookingReply(reply("cannot_book", language), actions=follow_ups, degraded=True, answered=False)
    actions = list(turn.actions)
    if turn.status == "unavailable" and not any(a.get("type") != "reply" for a in actions):
        actions += follow_ups  # nothing free: the reply offers a person or the lead form, as buttons too
    return BookingReply(turn.reply, actions=actions)


async def _set_active(db: asyncpg.Pool, *, workspace_id: uuid.UUID, conversation_id: uuid.UUID, active: bool) -> None:
    async with db.acquire() as conn:
        await store.set_booking_active(conn, workspace_id=workspace_id, conversation_id=conversation_id, active=active)
