"""Twenty natural-language booking requests through the real chat API (POST /api/chat as a widget
visitor, through core's hand-off to workflows' Scheduler and its LangGraph run), each checked against
the appointment the database holds, to the second: varied phrasing, four languages, visitors in five
time zones, ambiguous and unreadable dates (a clarifying question, never a guess), slots that are
taken (the nearest free ones offered, also when taken while the visitor decided), a bot with two
services, moving and cancelling from the chat, giving up. And a run that survives its replica: the
Scheduler's process is killed mid-booking and the next message continues where it was.
"""

from __future__ import annotations

import asyncio
import statistics
import time as clock
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import psutil
import pytest

from cortex.settings import Settings

from .accounts import Account, register
from .chatting import Visitor, make_bot, visitor_of
from .db import service_conn

S = "/api/langgraph/schedule"
#: Every chat turn's duration here, through the gateway (printed at the end with `-s`).
TURN_SECONDS: list[float] = []
BUSINESS = "Europe/Berlin"
OPEN_ALL_WEEK = {str(day): [["09:00", "17:00"]] for day in range(1, 8)}


@dataclass
class Chat:
    """One visitor's conversation with a booking bot through /api/chat."""

    visitor: Visitor
    time_zone: str
    conversation_id: str | None = None
    answers: list[dict[str, Any]] = field(default_factory=list)

    async def say(self, message: str) -> dict[str, Any]:
        body = {
            "bot_id": self.visitor.bot_id,
            "message": message,
            "conversation_id": self.conversation_id,
            "stream": False,
            "time_zone": self.time_zone,
        }
        started = clock.perf_counter()
        response = await self.visitor.http.post("/api/chat", json=body, headers=self.visitor.headers, timeout=60)
        TURN_SECONDS.append(clock.perf_counter() - started)
        assert response.status_code == 200, response.text
        answer = response.json()
        self.conversation_id = answer["conversation_id"]
        self.answers.append(answer)
        return answer

    async def press(self, pick: Callable[[list[dict[str, Any]]], dict[str, Any]]) -> dict[str, Any]:
        """Press one of the last answer's reply buttons (the widget sends its value)."""
        buttons = [action for action in self.answers[-1]["actions"] if action["type"] == "reply"]
        assert buttons, self.answers[-1]
        return await self.say(pick(buttons)["value"])

    @property
    def last(self) -> str:
        return self.answers[-1]["content"]


def first(buttons: list[dict[str, Any]]) -> dict[str, Any]:
    return buttons[0]


def labelled(text: str) -> Callable[[list[dict[str, Any]]], dict[str, Any]]:
    def pick(buttons: list[dict[str, Any]]) -> dict[str, Any]:
        return next(button for button in buttons if text in button["label"])

    return pick


@dataclass
class Shop:
    owner: Account
    bot: dict[str, Any]
    services: list[dict[str, Any]]
    http: httpx.AsyncClient
    settings: Settings

    async def chat(self, time_zone: str = BUSINESS) -> Chat:
        return Chat(await visitor_of(self.http, self.owner, self.bot), time_zone)

    async def appointments(self) -> list[dict[str, Any]]:
        async with service_conn(self.settings, "workflows") as conn:
            rows = await conn.fetch(
                "SELECT id, starts_at, ends_at, status, name, email, service_name, time_zone, conversation_id "
                "FROM appointments WHERE bot_id = $1 ORDER BY created_at",
                uuid.UUID(self.bot["id"]),
            )
        return [dict(row) for row in rows]

    async def booked(self) -> list[dict[str, Any]]:
        return [row for row in await self.appointments() if row["status"] == "booked"]

    async def book_as_owner(self, start: datetime) -> None:
        body = {
            "bot_id": self.bot["id"],
            "service_id": self.services[0]["id"],
            "start": start.isoformat(),
            "name": "Walk-in",
            "email": "walkin@example.com",
        }
        response = await self.http.post(f"{S}/bookings", json=body, headers=self.owner.headers)
        assert response.status_code == 201, response.text


async def open_shop(
    http: httpx.AsyncClient,
    settings: Settings,
    owner: Account,
    *,
    services: tuple[tuple[str, int], ...] = (("Haircut", 30),),
    language: str = "en",
) -> Shop:
    bot = await make_bot(http, owner, name=f"Salon {uuid.uuid4().hex[:6]}", language=language)
    put = await http.put(
        f"{S}/settings/{bot['id']}",
        json={"time_zone": BUSINESS, "hours": OPEN_ALL_WEEK, "min_notice_min": 60, "horizon_days": 30},
        headers=owner.headers,
    )
    assert put.status_code == 200, put.text
    made = []
    for name, minutes in services:
        response = await http.post(
            f"{S}/services", json={"bot_id": bot["id"], "name": name, "duration_min": minutes}, headers=owner.headers
        )
        assert response.status_code == 201, response.text
        made.append(response.json())
    return Shop(owner, bot, made, http, settings)


@pytest.fixture(scope="module")
async def owner(http: httpx.AsyncClient) -> AsyncIterator[Account]:
    yield await register(http, workspace="Chat bookings")
    if len(TURN_SECONDS) >= 2:
        cuts = statistics.quantiles(TURN_SECONDS, n=20)
        print(f"\nbooking chat turns: {len(TURN_SECONDS)}, p50 {cuts[9] * 1000:.0f} ms, p95 {cuts[18] * 1000:.0f} ms")


def today(zone: str) -> date:
    return datetime.now(ZoneInfo(zone)).date()


def at(day: date, hour: int, minute: int = 0, zone: str = BUSINESS) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=ZoneInfo(zone))


def next_weekday(zone: str, weekday: int) -> date:
    """The first `weekday` (0 Monday) strictly after today in `zone`: 'next Tuesday', 'Friday'."""
    start = today(zone)
    ahead = (weekday - start.weekday()) % 7 or 7
    return start + timedelta(days=ahead)


async def name_and_email(chat: Chat, name: str = "Ada Lovelace", email: str = "ada@example.com") -> None:
    assert "name" in chat.last.lower(), chat.last
    await chat.say(name)
    assert "e-mail" in chat.last.lower(), chat.last
    await chat.say(email)


async def assert_booked(shop: Shop, chat: Chat, expected: datetime, *, email: str = "ada@example.com") -> None:
    assert chat.answers[-1]["actions"] == [], chat.last
    assert "booked" in chat.last.lower(), chat.last
    [appointment] = await shop.booked()
    assert appointment["starts_at"] == expected, (appointment["starts_at"], expected)
    assert appointment["email"] == email
    assert appointment["time_zone"] == chat.time_zone
    assert str(appointment["conversation_id"]) == chat.conversation_id


Scenario = Callable[[httpx.AsyncClient, Settings, Account], Awaitable[None]]
SCENARIOS: dict[str, Scenario] = {}


def scenario(function: Scenario) -> Scenario:
    SCENARIOS[function.__name__] = function
    return function


@scenario
async def tomorrow_at_ten_in_berlin(http: httpx.AsyncClient, settings: Settings, owner: Account) -> None:
    shop = await open_shop(http, settings, owner)
    chat = await shop.chat("Europe/Berlin")
    await chat.say("I'd like to book a haircut tomorrow at 10")
    await name_and_email(chat)
    await assert_booked(shop, chat, at(today("Europe/Berlin") + timedelta(days=1), 10))


@scenario
async def tomorrow_at_ten_am_in_new_york(http: httpx.AsyncClient, settings: Settings, owner: Account) -> None:
    shop = await open_shop(http, settings, owner)
    chat = await shop.chat("America/New_York")
    await chat.say("Can I book an appointment for tomorrow at 10am?")
    await name_and_email(chat)
    # 10:00 in New York is 16:00 in Berlin: inside the business's hours
    await assert_booked(shop, chat, at(today("America/New_York") + timedelta(days=1), 10, zone="America/New_York"))


@scenario
async def day_after_tomorrow_at_five_in_tokyo(http: httpx.AsyncClient, settings: Settings, owner: Account) -> None:
    shop = await open_shop(http, settings, owner)
    chat = await shop.chat("Asia/Tokyo")
    await chat.say("Please book me in the day after tomorrow at 5pm")
    await name_and_email(chat)
    expected = at(today("Asia/Tokyo") + timedelta(days=2), 17, zone="Asia/Tokyo")  # 09:00 in Berlin
    await assert_booked(shop, chat, expected)


@scenario
async def next_tuesday_afternoon_offers_slots(http: httpx.AsyncClient, settings: Settings, owner: Account) -> None:
    shop = await open_shop(http, settings, owner)
    chat = await shop.chat()
    answer = await chat.say("Could I book an appointment next Tuesday afternoon?")
    tuesday = next_weekday(BUSINESS, 1)
    labels = [action["label"] for action in answer["actions"]]
    assert labels[0] == f"Tue {tuesday.day} {tuesday.strftime('%b')}, 12:00 PM", labels
    assert len(labels) == 5 and all(label.endswith("PM") for label in labels), labels
    assert await shop.booked() == [], "offering is not booking"
    await chat.press(labelled("1:30 PM"))
    await name_and_email(chat)
    await assert_booked(shop, chat, at(tuesday, 13, 30))


@scenario
async def in_two_weeks_at_ten(http: httpx.AsyncClient, settings: Settings, owner: Account) -> None:
    shop = await open_shop(http, settings, owner)
    chat = await shop.chat()
    await chat.say("I want to book something in 2 weeks at 10")
    await name_and_email(chat)
    await assert_booked(shop, chat, at(today(BUSINESS) + timedelta(days=14), 10))


@scenario
async def friday_three_pm_in_london(http: httpx.AsyncClient, settings: Settings, owner: Account) -> None:
    shop = await open_shop(http, settings, owner)
    chat = await shop.chat("Europe/London")
    await chat.say("Could I book Friday at 3pm?")
    await name_and_email(chat)
    await assert_booked(shop, chat, at(next_weekday("Europe/London", 4), 15, zone="Europe/London"))


@scenario
async def german_tomorrow_at_two(http: httpx.AsyncClient, settings: Settings, owner: Account) -> None:
    shop = await open_shop(http, settings, owner, language="de")
    chat = await shop.chat()
    await chat.say("Ich möchte einen Termin morgen um 14 Uhr buchen")
    assert "Namen" in chat.last, chat.last
    await chat.say("Ich bin Erika Mustermann")
    assert "E-Mail" in chat.last, chat.last
    await chat.say("erika@example.de")
    assert chat.last.startswith("Gebucht"), chat.last
    [appointment] = await shop.booked()
    assert appointment["starts_at"] == at(today(BUSINESS) + timedelta(days=1), 14)
    assert appointment["name"] == "Erika Mustermann"


@scenario
async def french_next_tuesday_at_eleven(http: httpx.AsyncClient, settings: Settings, owner: Account) -> None:
    shop = await open_shop(http, settings, owner, language="fr")
    chat = await shop.chat("Europe/Paris")
    await chat.say("Je voudrais prendre un rendez-vous mardi prochain à 11h")
    assert "nom" in chat.last, chat.last
    await chat.say("Marie Curie")
    await chat.say("marie@example.fr")
    assert chat.last.startswith("C'est réservé"), chat.last
    [appointment] = await shop.booked()
    assert appointment["starts_at"] == at(next_weekday("Europe/Paris", 1), 11, zone="Europe/Paris")


@scenario
async def spanish_friday_at_ten(http: httpx.AsyncClient, settings: Settings, owner: Account) -> None:
    shop = await open_shop(http, settings, owner, language="es")
    chat = await shop.chat("Europe/Madrid")
    await chat.say("Hola, quiero reservar una cita el viernes a las 10")
    await chat.say("Me llamo Frida Kahlo")
    assert "correo" in chat.last, chat.last
    await chat.say("frida@example.es")
    assert chat.last.startswith("Reservado"), chat.last
    [appointment] = await shop.booked()
    assert appointment["starts_at"] == at(next_weekday("Europe/Madrid", 4), 10, zone="Europe/Madrid")
    assert appointment["name"] == "Frida Kahlo"


@scenario
async def an_ambiguous_date_is_asked_never_guessed(http: httpx.AsyncClient, settings: Settings, owner: Account) -> None:
    shop = await open_shop(http, settings, owner)
    chat = await shop.chat()
    # a day in the next weeks that '12/09' style could mean two ways (day ≤ 12, not the month's own number)
    day = next(
        today(BUSINESS) + timedelta(days=n)
        for n in range(2, 28)
        if (today(BUSINESS) + timedelta(days=n)).day <= 12
        and (today(BUSINESS) + timedelta(days=n)).day != (today(BUSINESS) + timedelta(days=n)).month
    )
    answer = await chat.say(f"Can I book an appointment on {day.month}/{day.day}?")
    assert chat.last.startswith("Do you mean"), chat.last
    assert len(answer["actions"]) == 2
    assert await shop.appointments() == [], "no guess"
    await chat.press(labelled(f"{day.day} {day.strftime('%B')} {day.year}"))
    assert chat.last == "These times are free:", chat.last
    await chat.press(first)
    await name_and_email(chat)
    await assert_booked(shop, chat, at(day, 9))


@scenario
async def sometime_gets_a_question_then_thursday(http: httpx.AsyncClient, settings: Settings, owner: Account) -> None:
    shop = await open_shop(http, settings, owner)
    chat = await shop.chat()
    await chat.say("I want to book an appointment sometime")
    assert chat.last.startswith("Could you give me a day or a time?"), chat.last
    assert await shop.appointments() == []
    await chat.say("Thursday at 11 then")
    await name_and_email(chat)
    await assert_booked(shop, chat, at(next_weekday(BUSINESS, 3), 11))


@scenario
async def gibberish_gets_a_clarifying_question(http: httpx.AsyncClient, settings: Settings, owner: Account) -> None:
    shop = await open_shop(http, settings, owner)
    chat = await shop.chat()
    await chat.say("I need to book an appointment")
    assert chat.last.startswith("When would suit you?"), chat.last
    await chat.say("on the 45th at 99")
    assert chat.last.startswith("Sorry, I couldn't read a date or time"), chat.last
    assert await shop.appointments() == []
    await chat.say("Friday 2pm")
    await name_and_email(chat)
    await assert_booked(shop, chat, at(next_weekday(BUSINESS, 4), 14))


@scenario
async def a_taken_time_offers_the_nearest(http: httpx.AsyncClient, settings: Settings, owner: Account) -> None:
    shop = await open_shop(http, settings, owner)
    tomorrow = today(BUSINESS) + timedelta(days=1)
    await shop.book_as_owner(at(tomorrow, 10))
    chat = await shop.chat()
    answer = await chat.say("Book me a haircut tomorrow at 10 please")
    assert "isn't available" in chat.last, chat.last
    labels = [action["label"] for action in answer["actions"]]
    assert "10:00 AM" not in " ".join(labels) and any("10:30 AM" in label for label in labels), labels
    await chat.press(labelled("10:30 AM"))
    await name_and_email(chat)
    answer = chat.answers[-1]
    assert "booked" in answer["content"].lower()
    booked = [row for row in await shop.booked() if row["email"] == "ada@example.com"]
    assert [row["starts_at"] for row in booked] == [at(tomorrow, 10, 30)]


@scenario
async def a_slot_taken_while_deciding_offers_others(
    http: httpx.AsyncClient, settings: Settings, owner: Account
) -> None:
    shop = await open_shop(http, settings, owner)
    chat = await shop.chat()
    wednesday = next_weekday(BUSINESS, 2)
    await chat.say("Can I book a haircut next Wednesday morning?")
    await chat.press(first)  # 09:00 …
    await chat.say("Ada Lovelace")
    await shop.book_as_owner(at(wednesday, 9))  # … is taken while the visitor types the e-mail
    await chat.say("ada@example.com")
    assert chat.last.startswith("Sorry, Wednesday") and "9:00 AM was just taken" in chat.last, chat.last
    await chat.press(labelled("9:30 AM"))  # name and e-mail are known: booked at once
    booked = [row for row in await shop.booked() if row["email"] == "ada@example.com"]
    assert [row["starts_at"] for row in booked] == [at(wednesday, 9, 30)], chat.last
    assert "booked" in chat.last.lower()


@scenario
async def two_services_ask_which(http: httpx.AsyncClient, settings: Settings, owner: Account) -> None:
    shop = await open_shop(http, settings, owner, services=(("Haircut", 30), ("Colouring", 90)))
    chat = await shop.chat()
    answer = await chat.say("I'd like to make a booking")
    assert chat.last == "Which service would you like to book?", chat.last
    assert sorted(action["value"] for action in answer["actions"]) == ["Colouring", "Haircut"]
    await chat.press(labelled("Colouring"))
    assert chat.last.startswith("When would suit you?"), chat.last
    await chat.say("tomorrow at 1pm")
    await name_and_email(chat)
    await assert_booked(shop, chat, at(today(BUSINESS) + timedelta(days=1), 13))
    [appointment] = await shop.booked()
    assert appointment["service_name"] == "Colouring"
    assert appointment["ends_at"] - appointment["starts_at"] == timedelta(minutes=90)


@scenario
async def everything_in_one_message(http: httpx.AsyncClient, settings: Settings, owner: Account) -> None:
    shop = await open_shop(http, settings, owner)
    chat = await shop.chat()
    await chat.say("Hi, I'd like to book a haircut on Friday at 11. My name is Grace Hopper, email grace@example.com")
    await assert_booked(shop, chat, at(next_weekday(BUSINESS, 4), 11), email="grace@example.com")
    assert len(chat.answers) == 1


@scenario
async def a_bad_email_is_asked_again(http: httpx.AsyncClient, settings: Settings, owner: Account) -> None:
    shop = await open_shop(http, settings, owner)
    chat = await shop.chat("America/Chicago")
    await chat.say("can i book tomorrow at 9am")
    await chat.say("Linus")
    await chat.say("linus at example dot com")
    assert chat.last.startswith("That doesn't look like an e-mail address"), chat.last
    await chat.say("linus@example.com")
    expected = at(today("America/Chicago") + timedelta(days=1), 9, zone="America/Chicago")  # 16:00 in Berlin
    await assert_booked(shop, chat, expected, email="linus@example.com")


@scenario
async def the_earliest_free_time(http: httpx.AsyncClient, settings: Settings, owner: Account) -> None:
    shop = await open_shop(http, settings, owner)
    chat = await shop.chat()
    await chat.say("Please book me the earliest appointment you have")
    availability = await http.get(
        f"{S}/availability",
        params={
            "bot_id": shop.bot["id"],
            "service_id": shop.services[0]["id"],
            "from": datetime.now(ZoneInfo(BUSINESS)).isoformat(),
            "to": (datetime.now(ZoneInfo(BUSINESS)) + timedelta(days=3)).isoformat(),
        },
        headers=owner.headers,
    )
    assert availability.status_code == 200, availability.text
    earliest = datetime.fromisoformat(availability.json()["slots"][0]["start"])
    await chat.press(first)
    await name_and_email(chat)
    await assert_booked(shop, chat, earliest)


@scenario
async def moving_an_appointment_from_the_chat(http: httpx.AsyncClient, settings: Settings, owner: Account) -> None:
    shop = await open_shop(http, settings, owner)
    chat = await shop.chat()
    await chat.say("I'd like to book a haircut tomorrow at 10")
    await name_and_email(chat)
    [before] = await shop.booked()
    await chat.say("Can I move my appointment to Friday at 2pm?")
    assert chat.last.startswith("Done: your Haircut is now on"), chat.last
    [after] = await shop.booked()
    assert after["id"] == before["id"] and after["starts_at"] == at(next_weekday(BUSINESS, 4), 14)


@scenario
async def cancelling_asks_first(http: httpx.AsyncClient, settings: Settings, owner: Account) -> None:
    shop = await open_shop(http, settings, owner)
    chat = await shop.chat()
    await chat.say("I'd like to book a haircut the day after tomorrow at 3pm")
    await name_and_email(chat)
    await chat.say("Actually I need to cancel my appointment")
    assert chat.last.startswith("Shall I cancel your Haircut on"), chat.last
    assert len(await shop.booked()) == 1, "not before the visitor says yes"
    await chat.press(labelled("Yes"))
    assert "is cancelled" in chat.last, chat.last
    [appointment] = await shop.appointments()
    assert appointment["status"] == "cancelled"


@scenario
async def never_mind_stops(http: httpx.AsyncClient, settings: Settings, owner: Account) -> None:
    shop = await open_shop(http, settings, owner)
    chat = await shop.chat()
    await chat.say("I want to book an appointment")
    assert chat.last.startswith("When would suit you?"), chat.last
    await chat.say("never mind")
    assert chat.last.startswith("All right, I've stopped the booking"), chat.last
    conversation = await http.get(f"/api/conversations/{chat.conversation_id}", headers=owner.headers)
    assert conversation.json()["booking_active"] is False
    assert await shop.appointments() == []


@pytest.mark.parametrize("name", list(SCENARIOS))
async def test_a_natural_language_booking_request(
    name: str, http: httpx.AsyncClient, settings: Settings, owner: Account
) -> None:
    await SCENARIOS[name](http, settings, owner)


def scheduler_replicas() -> list[psutil.Process]:
    """The processes of the workflows application's Scheduler replicas (Ray names its actors' processes)."""
    found = []
    for process in psutil.process_iter(["cmdline"]):
        try:
            if "ServeReplica:workflows:Scheduler" in " ".join(process.info["cmdline"] or []):
                found.append(process)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


async def test_a_run_resumes_after_its_replica_is_killed(
    http: httpx.AsyncClient, settings: Settings, owner: Account
) -> None:
    shop = await open_shop(http, settings, owner)
    chat = await shop.chat()
    await chat.say("I'd like to book a haircut tomorrow at 11")
    assert "name" in chat.last.lower(), chat.last
    replicas = scheduler_replicas()
    assert replicas, "the Scheduler runs in its own replica process"
    for process in replicas:
        process.kill()
    # Serve replaces the dead replica; core's /readyz names the Scheduler until the new one answers
    for _ in range(240):
        await asyncio.sleep(0.5)
        fresh = [p for p in scheduler_replicas() if p.pid not in {r.pid for r in replicas}]
        ready = await http.get("/api/readyz")
        if fresh and ready.status_code == 200 and "workflows" not in ready.json().get("degraded", []):
            break
    else:
        pytest.fail("the Scheduler replica did not come back")
    # the run continues where it was: it asks for the e-mail next, then books
    await chat.say("Ada Lovelace")
    assert "e-mail" in chat.last.lower(), chat.last
    await chat.say("ada@example.com")
    await assert_booked(shop, chat, at(today(BUSINESS) + timedelta(days=1), 11))
    async with service_conn(settings, "workflows") as conn:
        run = await conn.fetchrow(
            "SELECT status, step, appointment_id FROM workflow_runs WHERE conversation_id = $1",
            uuid.UUID(chat.conversation_id or ""),
        )
    assert run is not None and run["status"] == "completed" and run["step"] == "booked"


async def test_the_workflows_api_starts_inspects_resumes_and_cancels_runs(
    http: httpx.AsyncClient, settings: Settings, owner: Account
) -> None:
    shop = await open_shop(http, settings, owner)
    runs = "/api/langgraph/workflows/runs"
    definitions = await http.get("/api/langgraph/workflows", headers=owner.headers)
    assert definitions.status_code == 200 and [d["name"] for d in definitions.json()] == ["scheduling"]

    started = await http.post(
        runs,
        json={"bot_id": shop.bot["id"], "message": "Book me a haircut tomorrow at 10", "time_zone": "Europe/Berlin"},
        headers=owner.headers,
    )
    assert started.status_code == 201, started.text
    run, turn = started.json()["run"], started.json()["turn"]
    assert (run["status"], run["step"], turn["waiting"]) == ("active", "name", True)
    assert turn["reply"].endswith("What name should I put the booking under?"), turn

    detail = await http.get(f"{runs}/{run['id']}", headers=owner.headers)
    assert detail.status_code == 200, detail.text
    body = detail.json()
    assert body["state"]["awaiting"] == "name" and body["waiting_for"]["reply"] == turn["reply"]
    tomorrow_ten = at(today(BUSINESS) + timedelta(days=1), 10)
    assert datetime.fromisoformat(body["state"]["chosen"]) == tomorrow_ten
    history = body["history"]
    assert len(history) >= 3 and history[0]["next"] == ["wait"], history[:2]
    assert [item["step"] for item in history] == sorted((item["step"] for item in history), reverse=True)

    for message in ("Ada Lovelace", "ada@example.com"):
        resumed = await http.post(f"{runs}/{run['id']}/resume", json={"message": message}, headers=owner.headers)
        assert resumed.status_code == 200, resumed.text
    done = resumed.json()
    assert done["turn"]["status"] == "booked" and done["turn"]["waiting"] is False
    assert done["run"]["status"] == "completed" and done["run"]["appointment_id"] == done["turn"]["appointment_id"]
    [appointment] = await shop.booked()
    assert appointment["starts_at"] == tomorrow_ten and str(appointment["id"]) == done["run"]["appointment_id"]
    again = await http.post(f"{runs}/{run['id']}/resume", json={"message": "hello"}, headers=owner.headers)
    assert again.status_code == 409, again.text

    # a chat's run is listed with its conversation, and a member can stop it
    chat = await shop.chat()
    await chat.say("I want to book an appointment")
    listed = await http.get(runs, params={"conversation_id": chat.conversation_id}, headers=owner.headers)
    [chat_run] = listed.json()
    assert (chat_run["status"], chat_run["step"], chat_run["bot_id"]) == ("active", "time", shop.bot["id"])
    cancelled = await http.post(f"{runs}/{chat_run['id']}/cancel", headers=owner.headers)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled", cancelled.text
    assert (await http.post(f"{runs}/{chat_run['id']}/cancel", headers=owner.headers)).status_code == 409
    # the conversation's next message never resumes the cancelled run (a new wish starts a new one)
    await chat.say("Thursday at 11")
    listed = await http.get(runs, params={"conversation_id": chat.conversation_id}, headers=owner.headers)
    stopped = next(row for row in listed.json() if row["id"] == chat_run["id"])
    assert (stopped["status"], stopped["step"]) == ("cancelled", "cancelled")

    # bad input is a 4xx that names the problem; a viewer starts nothing
    viewer_key = await http.post(
        "/api/auth/api-keys", json={"name": "r", "permissions": ["read"]}, headers=owner.headers
    )
    read = {"Authorization": f"Bearer {viewer_key.json()['secret']}"}
    body = {"bot_id": shop.bot["id"], "message": "Book me tomorrow at 10"}
    assert (await http.post(runs, json=body, headers=read)).status_code == 403
    for bad in ({**body, "message": ""}, {**body, "time_zone": "Mars/Olympus"}, {**body, "intent": "dance"}):
        response = await http.post(runs, json=bad, headers=owner.headers)
        assert response.status_code == 422, (bad, response.text)
    elsewhere = await http.post(runs, json={**body, "bot_id": str(uuid.uuid4())}, headers=owner.headers)
    assert elsewhere.status_code == 404, elsewhere.text
    stranger = await register(http, workspace="Another salon")
    theirs = await http.post(runs, json=body, headers=stranger.headers)  # this shop's bot, another workspace
    assert theirs.status_code == 404, theirs.text
    assert run["id"] not in (await http.get(runs, headers=stranger.headers)).text
    assert (await http.get(f"{runs}/{uuid.uuid4()}", headers=owner.headers)).status_code == 404
    assert (await http.get(f"{runs}/not-a-uuid", headers=owner.headers)).status_code == 422
