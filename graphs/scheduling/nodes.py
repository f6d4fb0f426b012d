"""The scheduling graph's nodes: read the visitor's message, ask for what is still missing, offer
free slots, book (or move, or cancel), and wait for the visitor with `interrupt`.

Each node is `async def node(state, runtime) -> dict` returning the part of the state it changes;
`runtime.context` is the turn's `TurnContext` (the bot's rules now, the clock). No model is called:
the visitor's words are read by rules (`cortex.workflows.when` for dates and times).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from langgraph.runtime import Runtime
from langgraph.types import interrupt

from cortex.contracts.booking import BookingIntent
from cortex.email_address import normalise_email
from cortex.workflows.runs import SchedulingDeps
from cortex.workflows.scheduling.availability import nearest
from cortex.workflows.scheduling.models import Appointment, BookingError, Slot, SlotTaken
from cortex.workflows.when import Unclear, When, fold
from graphs.scheduling import prompts
from graphs.scheduling.prompts import say
from graphs.scheduling.state import Offer, SchedulingState, TurnContext

#: Slots offered at once: as many reply buttons as the widget shows comfortably.
OFFERED = 5
#: Slots read to choose the offered ones from (a week of 30-minute steps on two resources).
SCAN = 500
# Around an exact time that is taken: from half a day before it to a week after it.
NEAR_BEFORE = timedelta(hours=12)
NEAR_AFTER = timedelta(days=7)
# After a window with nothing free: the next two weeks.
LATER = timedelta(days=14)
#: Unreadable replies in a row after which the graph lets go (core answers the message).
LET_GO_AFTER = 2

TERMINAL = frozenset({"booked", "rescheduled", "cancelled", "abandoned", "unavailable", "failed"})

# The whole message says stop (a booking in progress is dropped).
ABANDON = re.compile(
    r"^\W*(cancel|stop|never ?mind|forget it|no thanks|no thank you|quit|abort|not now|abbrechen|vergiss es"
    r"|doch nicht|lass mal|annuler|laisse tomber|non merci|cancelar|olvidalo|dejalo|no gracias)\W*$"
)
APPOINTMENT = r"(appointment|booking|reservation|termin|buchung|rendez-vous|rdv|reservation|cita|reserva)"
CANCEL_WORDS = r"(cancel|call off|absagen|stornieren|annuler|cancelar|anular)"
MOVE_WORDS = (
    r"(reschedule|move|change|postpone|verschieben|verlegen|andern|deplacer|decaler|modifier|cambiar|mover|aplazar)"
)
# Either order: "cancel my appointment", "meinen Termin absagen".
CANCEL_APPOINTMENT = re.compile(rf"\b{CANCEL_WORDS}\b.*\b{APPOINTMENT}|\b{APPOINTMENT}\b.*\b{CANCEL_WORDS}\b")
RESCHEDULE = re.compile(
    rf"\b{MOVE_WORDS}\b.*\b{APPOINTMENT}|\b{APPOINTMENT}\b.*\b{MOVE_WORDS}\b|\b(reschedule|umbuchen|reprogramar)\b"
)
YES = re.compile(
    r"^\W*(yes|yeah|yep|sure|ok|okay|please do|do it|go ahead|cancel it|yes,? cancel it|confirm|ja|jawohl|bitte"
    r"|ja,? absagen|oui|oui,? annuler|d'accord|si|claro|vale|si,? cancelar)\b"
)
NO = re.compile(r"^\W*(no|nope|keep|keep it|don't|do not|nein|behalten|non|garder|no,? mantenerla|mantener)\b")
EMAIL = re.compile(r"[^\s@<>(),;:\"']+@[^\s@<>(),;:\"']+")
NAMED = re.compile(
    r"\b(?:my name is|name is|name:|call me|ich heisse|mein name ist|je m'appelle|mon nom est|me llamo"
    r"|mi nombre es)\s+(?P<name>[^\W\d_][\w' .-]{0,58}?)\s*(?=$|[,.!;]|\s(?:and|und|et|y|my|mein|mon|mi)\b)",
    re.IGNORECASE,
)
SELF_NAMED = re.compile(
    r"^\s*(?:i'm|i am|im|this is|it's|ich bin|hier ist|je suis|c'est|moi c'est|soy)\s+(?P<name>[^\W\d_][\w' .-]{0,58}?)"
    r"\s*[.!]*$",
    re.IGNORECASE,
)
NOT_A_NAME = re.compile(
    r"^(yes|no|ok|okay|hi|hello|hey|thanks|thank you|sure|why|what|cancel|stop|help|ja|nein|hallo|danke|oui|non"
    r"|bonjour|merci|si|hola|gracias)$"
)
ORDINALS: dict[str, int] = {
    "1": 0, "first": 0, "1st": 0, "erste": 0, "ersten": 0, "premier": 0, "premiere": 0, "primero": 0, "primera": 0,
    "2": 1, "second": 1, "2nd": 1, "zweite": 1, "zweiten": 1, "deuxieme": 1, "segundo": 1, "segunda": 1,
    "3": 2, "third": 2, "3rd": 2, "dritte": 2, "dritten": 2, "troisieme": 2, "tercero": 2, "tercera": 2,
    "4": 3, "fourth": 3, "4th": 3, "vierte": 3, "vierten": 3, "quatrieme": 3, "cuarto": 3, "cuarta": 3,
    "5": 4, "fifth": 4, "5th": 4, "funfte": 4, "funften": 4, "cinquieme": 4, "quinto": 4, "quinta": 4,
    "last": -1, "letzte": -1, "letzten": -1, "dernier": -1, "derniere": -1, "ultimo": -1, "ultima": -1,
}  # fmt: skip
ORDINAL = re.compile(
    r"^\W*(?:the |die |den |le |la |el )?(" + "|".join(sorted(ORDINALS, key=len, reverse=True)) + r")\b"
    r"(?:\s+(?:one|option|slot|time|please|bitte|termin|creneau|opcion|hora))*\W*$"
)

Step = Literal["ask", "offer", "book", "manage", "cancel_appointment", "__end__"]


def _zone(state: SchedulingState) -> ZoneInfo:
    return ZoneInfo(state.get("time_zone") or "UTC")


def _language(state: SchedulingState) -> str:
    return state.get("language") or "en"


def _uuid(value: str | None) -> uuid.UUID | None:
    return uuid.UUID(value) if value else None


def offers(slots: Sequence[Slot], zone: ZoneInfo, language: str) -> list[Offer]:
    """Reply buttons for slots: a short label in the visitor's wall time, and a value that names
    the date with its year and the time zone (what the widget sends back as the visitor's message)."""
    result: list[Offer] = []
    for slot in slots:
        local = slot.start.astimezone(zone)
        result.append(
            Offer(
                start=slot.start.isoformat(),
                label=prompts.short(local, language),
                value=f"{prompts.full(local, language)} ({zone.key})",
            )
        )
    return result


def spread(slots: Sequence[Slot], count: int) -> list[Slot]:
    """Up to `count` slots over as many days as possible (each day's first, then each day's second,
    …), in time order: 'next week' offers Monday to Friday, not five times Monday morning."""
    by_day: dict[Any, list[Slot]] = {}
    for slot in slots:
        by_day.setdefault(slot.start.date(), []).append(slot)
    chosen: list[Slot] = []
    for rank in range(max((len(day_slots) for day_slots in by_day.values()), default=0)):
        for day_slots in by_day.values():
            if rank < len(day_slots) and len(chosen) < count:
                chosen.append(day_slots[rank])
    return sorted(chosen, key=lambda slot: slot.start)


def _buttons(choices: Sequence[dict[str, str]]) -> list[dict[str, Any]]:
    return [{"type": "reply", "label": choice["label"], "value": choice["value"]} for choice in choices]


def _pick(message: str, choices: Sequence[dict[str, str]]) -> dict[str, str] | None:
    """The choice the message names: a button's value or label, or 'the second one'."""
    folded = fold(message).strip(" .!")
    for choice in choices:
        if folded in (fold(choice["value"]).strip(" .!"), fold(choice["label"]).strip(" .!")):
            return choice
    if match := ORDINAL.match(folded):
        index = ORDINALS[match[1]]
        if -len(choices) <= index < len(choices):
            return choices[index]
    return None


def _service_mentioned(message: str, services: Sequence[Any]) -> Any | None:
    """The one service whose name the message contains (the longest name wins: 'Kids haircut')."""
    folded = fold(message)
    found = [service for service in services if fold(service.name) and fold(service.name) in folded]
    found.sort(key=lambda service: len(service.name), reverse=True)
    return found[0] if found else None


def _name_like(message: str) -> str | None:
    text = " ".join(message.strip().strip(".!").split())
    words = text.split()
    if not 1 <= len(words) <= 4 or len(text) > 60 or NOT_A_NAME.match(fold(text)):
        return None
    if not all(re.fullmatch(r"[^\W\d_][\w'.-]*", word) for word in words):
        return None
    return text


class Nodes:
    """The nodes, bound to what they call (`SchedulingDeps`: availability, booking, the date reader)."""

    def __init__(self, deps: SchedulingDeps) -> None:
        self.deps = deps

    # -- reading the visitor ----------------------------------------------------------------------

    async def understand(self, state: SchedulingState, runtime: Runtime[TurnContext]) -> dict[str, Any]:
        """Read the latest message in the light of what the last question asked: every fact it
        gives (service, time, slot, name, e-mail), or what makes it unreadable."""
        context = runtime.context
        rules = context.rules
        message = state.get("message", "")
        folded = fold(message)
        awaiting = state.get("awaiting", "")
        intent: BookingIntent = state.get("intent", "book")
        update: dict[str, Any] = {"problem": None, "reply": "", "actions": [], "handled": True}
        language = _language(state)

        for key in ("name", "email"):  # what core's visitor profile already knows
            if not state.get(key) and context.known.get(key):
                update[key] = context.known[key]

        # stop words end a booking (when confirming a cancellation, "cancel" means yes)
        if ABANDON.match(folded) and awaiting != "confirm_cancel" and not (awaiting == "" and intent != "book"):
            return update | {"status": "abandoned", "reply": say(language, "abandoned")}

        # a change of mind: move or cancel an existing appointment instead
        if awaiting not in ("", "confirm_cancel", "which"):
            switched: BookingIntent | None = None
            if CANCEL_APPOINTMENT.search(folded):
                switched = "cancel"
            elif RESCHEDULE.search(folded):
                switched = "reschedule"
            if switched and switched != intent:
                intent = switched
                update |= {"intent": switched, "appointment_id": None, "when": None, "chosen": None, "offered": []}
                awaiting = ""

        if awaiting == "confirm_cancel":
            choice = _pick(message, state.get("choices", []))
            if (choice and choice["value"] == say(language, "yes")) or YES.match(folded):
                return update | {"confirmed": True, "unreadable": 0}
            if (choice and choice["value"] == say(language, "no")) or NO.match(folded):
                return update | {"status": "abandoned", "reply": say(language, "kept")}
            return self._unreadable(state, update, "bad_confirm")

        if awaiting == "which":
            choice = _pick(message, state.get("choices", []))
            if choice is None:
                return self._unreadable(state, update, "bad_which")
            return update | {"appointment_id": choice["id"], "unreadable": 0, "choices": []}

        text = message
        # e-mail
        if found := EMAIL.search(text):
            address = normalise_email(found.group(0).strip(".,;:!?"))
            text = text.replace(found.group(0), " ")
            if address:
                update["email"] = address
            elif awaiting == "email" or awaiting == "":
                return self._unreadable(state, update, "bad_email")
        elif awaiting == "email":
            return self._unreadable(state, update, "bad_email")

        # name
        if match := NAMED.search(text):
            update["name"] = match["name"].strip()
            text = text.replace(match.group(0), " ")
        elif awaiting == "name":
            match = SELF_NAMED.match(text)
            name = match["name"].strip() if match else _name_like(text)
            if name is None:
                return self._unreadable(state, update, "bad_name")
            return update | {"name": name, "unreadable": 0}
        if awaiting in ("name", "email"):
            return update | {"unreadable": 0}

        # service
        services = rules.services
        if intent == "book":
            service = _service_mentioned(text, services)
            if service is None and awaiting == "service":
                choice = _pick(message, state.get("choices", []))
                service = next((s for s in services if choice and str(s.id) == choice.get("id")), None)
            if service is not None:
                update["service_id"] = str(service.id)
                text = re.sub(re.escape(service.name), " ", text, flags=re.IGNORECASE)
            elif len(services) == 1:
                update["service_id"] = str(services[0].id)
            elif awaiting == "service":
                return self._unreadable(state, update, "bad_service")
            elif state.get("service_id") and not any(str(s.id) == state.get("service_id") for s in services):
                update["service_id"] = None  # the service was removed meanwhile: ask again

        # the slot picked from the buttons
        if awaiting == "slot":
            offered = state.get("offered", [])
            choice = _pick(message, [{"start": o["start"], "label": o["label"], "value": o["value"]} for o in offered])
            if choice is not None:
                return update | {"chosen": choice["start"], "unreadable": 0}

        if intent == "cancel":
            return update | {"unreadable": 0}
        # a time
        if awaiting == "time" and state.get("choices"):  # an ambiguous date's readings, as buttons
            choice = _pick(message, state.get("choices", []))
            if choice is not None:
                text = choice["value"]
        zone = _zone(state)
        wanted = self.deps.when.parse(text, tz=zone, now=context.now, language=language, hours=rules.settings.hours)
        if isinstance(wanted, When):
            offered = state.get("offered", [])
            if awaiting == "slot" and wanted.exact:
                same = next((o for o in offered if datetime.fromisoformat(o["start"]) == wanted.start), None)
                if same is not None:
                    return update | {"chosen": same["start"], "unreadable": 0}
            return update | {"when": wanted.to_json(), "chosen": None, "offered": [], "unreadable": 0, "choices": []}
        if awaiting in ("time", "slot"):
            if wanted.reason == "unreadable" and awaiting == "slot":
                return self._unreadable(state, update, "pick_slot")
            return self._unreadable(state, update, wanted.reason, wanted)
        if awaiting == "" and (wanted.reason != "unreadable" or any(ch.isdigit() for ch in text)):
            if wanted.reason != "empty":
                return self._unreadable(state, update, wanted.reason, wanted)
        return update | {"unreadable": 0}

    def _unreadable(
        self, state: SchedulingState, update: dict[str, Any], problem: str, unclear: Unclear | None = None
    ) -> dict[str, Any]:
        """A message the graph cannot use: a clarifying question, or after the second in a row, let
        go (core answers the message as any other)."""
        count = state.get("unreadable", 0) + 1
        if count >= LET_GO_AFTER and state.get("awaiting"):
            return update | {"status": "abandoned", "handled": False, "unreadable": count}
        update = update | {"problem": problem, "unreadable": count}
        if unclear is not None and unclear.options:
            zone = _zone(state)
            language = _language(state)
            update["choices"] = [
                {
                    "label": prompts.day(option.start.astimezone(zone), language),
                    "value": prompts.day(option.start.astimezone(zone), language),
                }
                for option in unclear.options
            ]
        return update

    # -- routing ------------------------------------------------------------------------------------

    def route(self, state: SchedulingState) -> Step:
        """What to do next, from what is known and what is missing."""
        if state.get("status") in TERMINAL or not state.get("handled", True):
            return "__end__"
        if state.get("problem"):
            return "ask"
        intent = state.get("intent", "book")
        if intent == "cancel":
            if not state.get("appointment_id"):
                return "manage"
            return "cancel_appointment" if state.get("confirmed") else "ask"
        if intent == "reschedule":
            if not state.get("appointment_id"):
                return "manage"
            if not state.get("when"):
                return "ask"
            return "book" if state.get("chosen") else "offer"
        if not state.get("service_id") or not state.get("when"):
            return "ask"
        if not state.get("chosen"):
            return "offer"
        if not state.get("name") or not state.get("email"):
            return "ask"
        return "book"

    def after_action(self, state: SchedulingState) -> Literal[Step, "wait"]:
        """After a node acted: wait when it asked the visitor something, end when the run is over,
        else go on (an exact time that is free goes straight to the name)."""
        if state.get("status") in TERMINAL or not state.get("handled", True):
            return "__end__"
        if state.get("reply"):
            return "wait"
        return self.route(state)

    # -- asking -------------------------------------------------------------------------------------

    async def ask(self, state: SchedulingState, runtime: Runtime[TurnContext]) -> dict[str, Any]:
        """The question for what is missing, or the clarifying question for what could not be read."""
        language = _language(state)
        problem = state.get("problem")
        rules = runtime.context.rules
        offered = state.get("offered", [])
        choices = state.get("choices", [])
        if problem in ("bad_email", "bad_name"):
            return self._question(language, problem, "email" if problem == "bad_email" else "name")
        if problem == "bad_service" or (state.get("intent", "book") == "book" and not state.get("service_id")):
            choices = [
                {"label": f"{service.name} ({service.duration_min} min)", "value": service.name, "id": str(service.id)}
                for service in rules.services
            ]
            key = "bad_service" if problem == "bad_service" else "ask_service"
            return self._question(language, key, "service", choices=choices)
        if problem == "bad_which":
            return self._question(language, "bad_which", "which", choices=choices)
        if problem == "bad_confirm" or state.get("intent") == "cancel":
            return await self._confirm_cancel(state, problem == "bad_confirm")
        if problem == "pick_slot":
            return self._question(language, "pick_slot", "slot", offered=offered, status="offering")
        if problem in ("vague", "unreadable", "past"):
            return self._question(language, problem, "time", offered=offered)
        if problem == "ambiguous_date":
            first, second = choices[0]["label"], choices[1]["label"]
            reply = say(language, "ambiguous_date", first=first, second=second)
            return self._question(language, None, "time", choices=choices, reply=reply)
        if not state.get("when"):
            appointment = await self._appointment(state) if state.get("intent") == "reschedule" else None
            if appointment is not None:
                local = appointment.starts_at.astimezone(_zone(state))
                reply = say(
                    language,
                    "ask_time_reschedule",
                    service=appointment.service_name,
                    when=prompts.full(local, language),
                )
                return self._question(language, None, "time", reply=reply)
            return self._question(language, "ask_time", "time")
        chosen = state.get("chosen")
        if chosen and not state.get("name"):
            local = datetime.fromisoformat(chosen).astimezone(_zone(state))
            reply = say(language, "ask_name", when=prompts.full(local, language))
            return self._question(language, None, "name", reply=reply)
        return self._question(language, None, "email", reply=say(language, "ask_email", name=state.get("name")))

    def _question(
        self,
        language: str,
        key: prompts.Text | str | None,
        awaiting: str,
        *,
        choices: Sequence[dict[str, str]] = (),
        offered: Sequence[Offer] = (),
        reply: str | None = None,
        status: str = "asking",
    ) -> dict[str, Any]:
        text = reply if reply is not None else say(language, key)  # type: ignore[arg-type]
        buttons = _buttons(choices) or [
            {"type": "reply", "label": offer["label"], "value": offer["value"]} for offer in offered
        ]
        return {
            "reply": text,
            "actions": buttons,
            "awaiting": awaiting,
            "choices": list(choices),
            "status": status,
            "problem": None,
        }

    async def _appointment(self, state: SchedulingState) -> Appointment | None:
        appointment_id = _uuid(state.get("appointment_id"))
        if appointment_id is None:
            return None
        return await self.deps.appointment(workspace_id=uuid.UUID(state["workspace_id"]), appointment_id=appointment_id)

    async def _confirm_cancel(self, state: SchedulingState, again: bool) -> dict[str, Any]:
        language = _language(state)
        appointment = await self._appointment(state)
        if appointment is None or appointment.status != "booked":
            return {"status": "abandoned", "reply": say(language, "no_upcoming"), "actions": []}
        local = appointment.starts_at.astimezone(_zone(state))
        reply = (
            say(language, "bad_confirm")
            if again
            else say(language, "confirm_cancel", service=appointment.service_name, when=prompts.full(local, language))
        )
        choices = [
            {"label": say(language, "yes"), "value": say(language, "yes")},
            {"label": say(language, "no"), "value": say(language, "no")},
        ]
        return self._question(language, None, "confirm_cancel", choices=choices, reply=reply)

    # -- the appointment to move or cancel ---------------------------------------------------------------

    async def manage(self, state: SchedulingState, runtime: Runtime[TurnContext]) -> dict[str, Any]:
        """Find the visitor's upcoming appointment: none (say so), one (go on), several (ask which)."""
        language = _language(state)
        upcoming = await self.deps.upcoming(
            workspace_id=uuid.UUID(state["workspace_id"]),
            bot_id=uuid.UUID(state["bot_id"]),
            visitor_id=state.get("visitor_id"),
            conversation_id=_uuid(state.get("conversation_id")),
        )
        if not upcoming:
            return {"status": "abandoned", "reply": say(language, "no_upcoming"), "actions": []}
        if len(upcoming) == 1:
            return {"appointment_id": str(upcoming[0].id), "reply": ""}
        zone = _zone(state)
        choices = [
            {
                "label": f"{appointment.service_name}, {prompts.short(local, language)}",
                "value": f"{appointment.service_name}, {prompts.full(local, language)}",
                "id": str(appointment.id),
            }
            for appointment in upcoming[:OFFERED]
            for local in [appointment.starts_at.astimezone(zone)]
        ]
        return self._question(language, "ask_which", "which", choices=choices)

    # -- offering slots ---------------------------------------------------------------------------

    async def offer(self, state: SchedulingState, runtime: Runtime[TurnContext]) -> dict[str, Any]:
        """Free slots near the wanted time: the exact time when free (taken as the choice), else up
        to five near it or in the window, else the next free ones after it."""
        context = runtime.context
        rules = context.rules
        language = _language(state)
        zone = _zone(state)
        wanted = When.from_json(state["when"] or {})
        now = context.now
        horizon = now + timedelta(days=rules.settings.horizon_days)
        if wanted.start >= horizon:
            return self._question(
                language, None, "time", reply=say(language, "too_far", days=rules.settings.horizon_days)
            ) | {"when": None}
        moving = await self._appointment(state) if state.get("intent") == "reschedule" else None
        # a moved appointment keeps its service as booked (availability reads it from `moving`)
        service_id = (moving.service_id or uuid.UUID(int=0)) if moving else uuid.UUID(state.get("service_id") or "")

        async def search(after: datetime, before: datetime, limit: int) -> list[Slot]:
            found = await self.deps.find_slots(
                workspace_id=uuid.UUID(state["workspace_id"]),
                bot_id=uuid.UUID(state["bot_id"]),
                service_id=service_id,
                after=max(after, now),
                before=min(before, horizon),
                limit=limit,
                moving=moving,
            )
            return list(found.slots)

        key: prompts.Text
        if wanted.exact:
            near = await search(wanted.start - NEAR_BEFORE, wanted.start + NEAR_AFTER, SCAN)
            free = next((slot for slot in near if slot.start == wanted.start), None)
            if free is not None:  # the time asked for is free: that is the choice
                return {"chosen": free.start.isoformat(), "reply": ""}
            slots = nearest(near, wanted.start, count=OFFERED)
            key = "offer_exact_taken"
        elif wanted.asap:
            slots = await search(now, horizon, OFFERED)
            key = "offer_window"
        else:
            inside = [slot for slot in await search(wanted.start, wanted.end, SCAN) if wanted.admits(slot.start)]
            slots = spread(inside, OFFERED)
            key = "offer_window"
            if not slots:
                later = await search(wanted.end, wanted.end + LATER, SCAN)
                daily = When(start=wanted.end, end=wanted.end + LATER, daily=wanted.daily)
                slots = spread([slot for slot in later if daily.admits(slot.start)] or later, OFFERED)
                key = "offer_later"
        if not slots:
            return {
                "status": "unavailable",
                "reply": say(language, "none_free", days=rules.settings.horizon_days),
                "actions": [{"type": "handoff"}, {"type": "lead_form", "fields": ["name", "email"]}],
            }
        shown = offers(slots, zone, language)
        reply = say(language, key, when=prompts.full(wanted.start.astimezone(zone), language))
        return self._question(language, None, "slot", offered=shown, reply=reply, status="offering") | {
            "offered": shown
        }

    # -- booking, moving, cancelling -----------------------------------------------------------------------

    async def book(self, state: SchedulingState, runtime: Runtime[TurnContext]) -> dict[str, Any]:
        """Book the chosen slot (or move the appointment to it); a slot taken meanwhile offers the free
        ones near it; a time the rules refuse says why and asks again."""
        language = _language(state)
        zone = _zone(state)
        start = datetime.fromisoformat(state["chosen"] or "")
        workspace_id = uuid.UUID(state["workspace_id"])
        try:
            if state.get("intent") == "reschedule":
                appointment = await self.deps.reschedule(
                    workspace_id=workspace_id, appointment_id=uuid.UUID(state["appointment_id"] or ""), start=start
                )
                key: prompts.Text = "rescheduled"
                status = "rescheduled"
            else:
                appointment = await self.deps.book(
                    workspace_id=workspace_id,
                    bot_id=uuid.UUID(state["bot_id"]),
                    service_id=uuid.UUID(state["service_id"] or ""),
                    start=start,
                    name=state.get("name") or "",
                    email=state.get("email") or "",
                    time_zone=zone.key,
                    language=language,
                    conversation_id=_uuid(state.get("conversation_id")),
                    visitor_id=state.get("visitor_id"),
                )
                key = "booked"
                status = "booked"
        except SlotTaken as taken:
            if not taken.alternatives:
                rules = runtime.context.rules
                return {
                    "status": "unavailable",
                    "chosen": None,
                    "reply": say(language, "none_free", days=rules.settings.horizon_days),
                    "actions": [{"type": "handoff"}, {"type": "lead_form", "fields": ["name", "email"]}],
                }
            shown = offers(taken.alternatives[:OFFERED], zone, language)
            reply = say(language, "slot_taken", when=prompts.full(start.astimezone(zone), language))
            return self._question(language, None, "slot", offered=shown, reply=reply, status="offering") | {
                "offered": shown,
                "chosen": None,
            }
        except BookingError as refused:
            reply = say(language, "cannot_book", reason=str(refused))
            return self._question(language, None, "time", reply=reply) | {"chosen": None, "when": None, "offered": []}
        local = appointment.starts_at.astimezone(zone)
        return {
            "status": status,
            "appointment_id": str(appointment.id),
            "reply": say(
                language,
                key,
                service=appointment.service_name,
                when=prompts.full(local, language),
                time_zone=zone.key,
                email=appointment.email or state.get("email") or "",
            ),
            "actions": [],
            "awaiting": "",
        }

    async def cancel_appointment(self, state: SchedulingState, runtime: Runtime[TurnContext]) -> dict[str, Any]:
        """Cancel the appointment the visitor confirmed."""
        language = _language(state)
        try:
            appointment = await self.deps.cancel(
                workspace_id=uuid.UUID(state["workspace_id"]), appointment_id=uuid.UUID(state["appointment_id"] or "")
            )
        except BookingError as refused:
            return {"status": "abandoned", "reply": say(language, "cannot_book", reason=str(refused)), "actions": []}
        local = appointment.starts_at.astimezone(_zone(state))
        return {
            "status": "cancelled",
            "reply": say(
                language,
                "cancelled",
                service=appointment.service_name,
                when=prompts.full(local, language),
                email=appointment.email or "",
            ),
            "actions": [],
            "awaiting": "",
        }

    # -- waiting ------------------------------------------------------------------------------------

    def wait(self, state: SchedulingState) -> dict[str, Any]:
        """Show the question and wait for the visitor's next message (the run's checkpoint keeps
        everything until then, on any replica)."""
        message = interrupt(
            {"reply": state.get("reply", ""), "actions": state.get("actions", []), "status": state.get("status")}
        )
        return {"message": str(message), "reply": "", "actions": []}
