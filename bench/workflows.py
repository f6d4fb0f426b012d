"""Booking benchmark (issue #20): a booking turn through the chat API, and an availability query for a
workspace with three connected calendars against the same query with the built-in calendar only.

One stack; two workspaces with the same bot, rules and service, and the same appointments already
in their built-in calendars:
- "calendars": a CalDAV calendar on a real Radicale server, a Google Calendar and an Outlook calendar
  (local servers speaking Google Calendar's and Microsoft Graph's REST wire formats and their OAuth
  token endpoints, cortex/devtools/), each holding busy events in the measured window, connected
  through the product's own routes (CalDAV with its URL and password, the others through the OAuth
  sign-in and callback);
- "built-in": no connected calendar: the fair baseline, the same query with the same rules.

Measured, in alternating rounds (the order swapped each round, so drift on the shared machine falls
on both):
- availability: `GET /api/langgraph/schedule/availability` (the next free slots of a 30-minute
  service in the coming week), one at a time, as the owner;
- booking turns through `POST /api/chat` as a widget visitor: the message that gets slots offered
  ("Hi, can I book a haircut on Thursday 10 December in the afternoon?"), and the turn that books
  (after the visitor picks an offered slot, a reply button, and gives a name: the e-mail address).
  Each conversation books a slot of its own, so every booking is a real one (the row, the exclusion
  constraint, the outbox event, the mails and reminder queued, and in the calendars workspace the
  re-check of the three calendars at commit and the event written into them);
- then CONCURRENT attempts to book one slot at once through the schedule API: one is booked, the
  others are refused (409) with other slots.

What the local servers do not model: the network. Google's and Microsoft's APIs answer from another
continent in 50–300 ms and CalDAV hosts in 20–200 ms; here every calendar answers over loopback. The
calendars are asked concurrently, so a real query costs about the slowest provider's round trip
more than measured here (at most CORTEX_CALENDAR_TIMEOUT_S, after which that calendar is skipped).

Run: make bench-workflows   (python -m bench.workflows [--rounds 3 --queries 60 --bookings 8])
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import statistics
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from bench.accounts import new_owner
from bench.load import UNLIMITED, bench_stack, spread, stand_in_llm, write_result
from cortex.devtools.calendar_servers import CALDAV_PASSWORD, CALDAV_USER, CalendarServers

ORIGIN = "https://salon.example"
ZONE = "Europe/Berlin"
ROUNDS = 3
QUERIES = 60  # availability queries per workspace per round
BOOKINGS = 8  # booked conversations per workspace per round
CONCURRENT = 20
SERVICE_MIN = 30
# Busy events each connected calendar holds in the measured week (and the built-in calendar's
# appointments, the same in both workspaces).
EVENTS_PER_CALENDAR = 12
FIRST_NAMES = ("Anna", "Ben", "Chloe", "David", "Elif", "Farid", "Greta", "Hugo", "Ines", "Jonas")
LAST_NAMES = ("Berg", "Costa", "Dubois", "Eriksen", "Fischer", "Garcia", "Hansen", "Ito", "Jansen", "Kowalski")


def _percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def _p(values: list[float]) -> dict[str, float]:
    return {"p50": round(_percentile(values, 50), 2), "p99": round(_percentile(values, 99), 2), "samples": len(values)}


# -- the local calendar servers ---------------------------------------------------------------------


_running: list[CalendarServers] = []


@contextlib.contextmanager
def calendar_servers() -> Iterator[CalendarServers]:
    """Radicale and the Google Calendar and Microsoft Graph stand-ins, running. `make bench` starts them
    before its one stack (their addresses are the stack's settings); inside, the same ones are handed out."""
    if _running:
        yield _running[-1]
        return
    servers = CalendarServers().start()
    _running.append(servers)
    try:
        yield servers
    finally:
        _running.pop()
        servers.stop()


def stack_env(llm_url: str, calendars_env: dict[str, str]) -> dict[str, str]:
    return {
        "CORTEX_RATE_LIMITS": json.dumps(UNLIMITED),
        "CORTEX_LOG_LEVEL": "WARNING",
        "CORTEX_LLM_URL": llm_url,
        "CORTEX_LLM_MODEL": "zero-latency-stand-in",
        **calendars_env,
    }


# -- the two workspaces -----------------------------------------------------------------------------


class Workspace:
    """One workspace as the benchmark drives it: its owner, bot, service and widget key."""

    def __init__(self, name: str, client: httpx.Client, owner: dict[str, Any]) -> None:
        self.name = name
        self.client = client
        self.headers = {"Authorization": f"Bearer {owner['access_token']}"}
        self.bot_id = ""
        self.service_id = ""
        self.public_key = ""
        self.calendars: list[dict[str, Any]] = []

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = self.client.request(method, path, headers=self.headers, **kwargs)
        if response.status_code >= 400:
            raise RuntimeError(f"{method} {path}: {response.status_code} {response.text[:300]}")
        return response


def _week(zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The measured window: the 7 days from tomorrow's midnight at the business."""
    tomorrow = (datetime.now(zone) + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return tomorrow, tomorrow + timedelta(days=7)


def _busy_times(zone: ZoneInfo, salt: int) -> list[tuple[datetime, datetime]]:
    """EVENTS_PER_CALENDAR one-hour busy spans spread over the measured week, different per calendar."""
    start, _ = _week(zone)
    spans = []
    for index in range(EVENTS_PER_CALENDAR):
        day = start + timedelta(days=index % 7, hours=9 + (index * 3 + salt) % 10)
        spans.append((day.astimezone(UTC), (day + timedelta(hours=1)).astimezone(UTC)))
    return spans


def _setup(base: str, home: Path, name: str) -> Workspace:
    """An owner, a bot that books (every day 08:00-20:00 in ZONE, 30-minute steps), its one service,
    a widget key, and the same appointments in its built-in calendar as the other workspace's."""
    client = httpx.Client(base_url=base, timeout=60)
    space = Workspace(name, client, new_owner(base, home=home))
    space.bot_id = space.call("POST", "/api/bots", json={"name": "Salon", "llm": {"backend": "extractive"}}).json()[
        "id"
    ]
    space.public_key = space.call(
        "POST", "/api/auth/widget-keys", json={"bot_id": space.bot_id, "allowed_origins": [ORIGIN]}
    ).json()["public_key"]
    rules = {
        "time_zone": ZONE,
        "hours": {str(day): [["08:00", "20:00"]] for day in range(1, 8)},
        "slot_step_min": 30,
        "min_notice_min": 60,
        "horizon_days": 60,
        "reminder_hours": [24],
    }
    deadline = time.monotonic() + 60
    while True:  # workflows learns of the bot from core's bot.created event
        response = client.put(f"/api/langgraph/schedule/settings/{space.bot_id}", json=rules, headers=space.headers)
        if response.status_code != 404 or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    if response.status_code != 200:
        raise RuntimeError(f"booking settings: {response.status_code} {response.text[:300]}")
    space.service_id = space.call(
        "POST",
        "/api/langgraph/schedule/services",
        json={"bot_id": space.bot_id, "name": "Haircut", "duration_min": SERVICE_MIN},
    ).json()["id"]
    for index, (start, _) in enumerate(_busy_times(ZoneInfo(ZONE), salt=7)):
        space.call(
            "POST",
            "/api/langgraph/schedule/bookings",
            json={
                "bot_id": space.bot_id,
                "service_id": space.service_id,
                "start": start.isoformat(),
                "name": f"Regular {index}",
                "email": f"regular{index}@example.com",
            },
        )
    return space


def _connect_calendars(space: Workspace, servers: CalendarServers) -> list[dict[str, Any]]:
    """The three calendars, each with its busy events in the measured week, connected as an owner does:
    CalDAV with its URL and password, Google and Outlook through the OAuth sign-in and callback."""
    zone = ZoneInfo(ZONE)
    radicale, google, graph = servers.radicale, servers.google, servers.graph
    url = radicale.make_calendar(CALDAV_USER, "bookings", display_name="Salon (CalDAV)")
    for index, (start, end) in enumerate(_busy_times(zone, salt=1)):
        stamp = "%Y%m%dT%H%M%SZ"
        radicale.put_event(
            CALDAV_USER,
            "bookings",
            f"busy-{index}",
            "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//bench//EN\r\nBEGIN:VEVENT\r\n"
            f"UID:busy-{index}@bench\r\nDTSTAMP:{start.strftime(stamp)}\r\nDTSTART:{start.strftime(stamp)}\r\n"
            f"DTEND:{end.strftime(stamp)}\r\nSUMMARY:Busy {index}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
        )
    for index, (start, end) in enumerate(_busy_times(zone, salt=4)):
        google.add_event(f"Busy {index}", start, end)
    for index, (start, end) in enumerate(_busy_times(zone, salt=8)):
        graph.add_event(f"Busy {index}", start, end)
    space.call(
        "POST",
        "/api/langgraph/calendars",
        json={
            "kind": "caldav",
            "name": "Salon CalDAV",
            "url": url,
            "username": CALDAV_USER,
            "password": CALDAV_PASSWORD,
        },
    )
    for provider, label in (("google", "Salon Google"), ("outlook", "Salon Outlook")):
        started = space.call("POST", f"/api/langgraph/calendars/oauth/{provider}/start", json={"name": label}).json()
        # As the browser: the provider consents at once and sends it back to the callback, which
        # connects the calendar (the start's cookie rides along) and goes on to the dashboard.
        consent = space.client.get(started["authorize_url"])
        back = space.client.get(consent.headers["location"])
        if back.status_code not in (302, 303, 307) or "connected=" not in back.headers.get("location", ""):
            raise RuntimeError(f"connecting {provider} failed: {back.status_code} {back.headers.get('location')}")
    calendars = space.call("GET", "/api/langgraph/calendars").json()
    if sorted(c["kind"] for c in calendars) != ["caldav", "google", "outlook"] or any(
        c["status"] != "ok" for c in calendars
    ):
        raise RuntimeError(f"the three calendars are not all connected and answering: {calendars}")
    return calendars


# -- what is measured ---------------------------------------------------------------------------------


def _availability(space: Workspace, count: int) -> tuple[list[float], int]:
    """`count` availability queries of the measured week (ms each), and the slots the last one found."""
    start, end = _week(ZoneInfo(ZONE))
    params = {
        "bot_id": space.bot_id,
        "service_id": space.service_id,
        "from": start.isoformat(),
        "to": end.isoformat(),
        "limit": 10,
    }
    times: list[float] = []
    found = 0
    for _ in range(count):
        began = time.perf_counter()
        response = space.client.get("/api/langgraph/schedule/availability", params=params, headers=space.headers)
        times.append((time.perf_counter() - began) * 1000)
        if response.status_code != 200:
            raise RuntimeError(f"availability: {response.status_code} {response.text[:300]}")
        body = response.json()
        if body["failed_calendars"]:
            raise RuntimeError(f"calendars did not answer during the benchmark: {body['failed_calendars']}")
        found = len(body["slots"])
    return times, found


class Wishes:
    """What the visitors ask for: a part of a day from three days ahead on, at the business ("on
    Thursday 10 December in the afternoon"), moving on every few conversations, so the offers are
    real searches and the picks fall on slots no one has booked yet."""

    PARTS = ("morning", "afternoon")
    PER_PART = 3

    def __init__(self) -> None:
        self.first = datetime.now(ZoneInfo(ZONE)).date() + timedelta(days=3)
        self.count = 0

    def next(self) -> str:
        step = self.count // self.PER_PART
        self.count += 1
        day = self.first + timedelta(days=step // len(self.PARTS))
        return f"on {day.strftime('%A %-d %B')} in the {self.PARTS[step % len(self.PARTS)]}"


def _booking_conversation(space: Workspace, wish: str, index: int) -> dict[str, float]:
    """One visitor books through the chat: the message that gets slots offered, the pick, the name, the
    address (the turn that books). Milliseconds of the offering turn and of the booking turn."""
    visitor = httpx.post(
        f"{space.client.base_url}/api/auth/visitor-token",
        json={"public_key": space.public_key},
        headers={"Origin": ORIGIN},
        timeout=30,
    ).raise_for_status()
    headers = {"Authorization": f"Bearer {visitor.json()['visitor_token']}", "Origin": ORIGIN}
    conversation: str | None = None
    name = f"{FIRST_NAMES[index % len(FIRST_NAMES)]} {LAST_NAMES[index // len(FIRST_NAMES) % len(LAST_NAMES)]}"
    email = f"visitor-{uuid.uuid4().hex[:8]}@example.com"

    def say(message: str) -> tuple[dict[str, Any], float]:
        nonlocal conversation
        body = {"bot_id": space.bot_id, "message": message, "stream": False, "time_zone": ZONE}
        if conversation:
            body["conversation_id"] = conversation
        began = time.perf_counter()
        response = space.client.post("/api/chat", json=body, headers=headers)
        took = (time.perf_counter() - began) * 1000
        if response.status_code != 200:
            raise RuntimeError(f"chat: {response.status_code} {response.text[:300]}")
        answer = response.json()
        conversation = answer["conversation_id"]
        if answer.get("degraded"):
            raise RuntimeError(f"a degraded booking turn: {answer['content']}")
        return answer, took

    ask = f"Hi, can I book a haircut {wish}?"
    answer, offer_ms = say(ask)
    if not answer.get("actions"):
        raise RuntimeError(f"no slots offered to {ask!r}: {answer['content']!r}")
    answer, _ = say(answer["actions"][0]["value"])
    replies = {"name": name, "e-mail": email}
    for _ in range(3):
        if answer["content"].startswith("You're booked"):
            raise RuntimeError("booked before the address was asked: the booking turn was not the address")
        wanted = next((key for key in replies if key in answer["content"]), None)
        if wanted is None:
            raise RuntimeError(f"an unexpected question: {answer['content']!r}")
        answer, book_ms = say(replies.pop(wanted))
        if answer["content"].startswith("You're booked"):
            return {"offer_ms": offer_ms, "book_ms": book_ms}
    raise RuntimeError(f"not booked: {answer['content']!r}")


async def _concurrent_attempts(space: Workspace, count: int) -> dict[str, int]:
    """`count` members' requests to book one slot at the same moment: how many were booked, and how
    many refused with other slots offered."""
    zone = ZoneInfo(ZONE)
    slot = (datetime.now(zone) + timedelta(days=20)).replace(hour=11, minute=0, second=0, microsecond=0)
    body = {"bot_id": space.bot_id, "service_id": space.service_id, "start": slot.isoformat()}
    async with httpx.AsyncClient(base_url=str(space.client.base_url), timeout=60, headers=space.headers) as client:
        answers = await asyncio.gather(
            *(
                client.post(
                    "/api/langgraph/schedule/bookings",
                    json={**body, "name": f"Rival {i}", "email": f"rival{i}@example.com"},
                )
                for i in range(count)
            )
        )
    booked = sum(1 for a in answers if a.status_code == 201)
    refused = [a for a in answers if a.status_code == 409]
    with_alternatives = sum(1 for a in refused if (a.json().get("error") or {}).get("details"))
    other = [a.status_code for a in answers if a.status_code not in (201, 409)]
    if other:
        raise RuntimeError(f"unexpected answers to concurrent bookings: {other}")
    return {"booked": booked, "refused": len(refused), "refused_with_alternatives": with_alternatives}


def _per_calendar(space: Workspace, calendars: list[dict[str, Any]], count: int = 10) -> dict[str, dict[str, float]]:
    """Where a query's extra time goes: each calendar asked alone for a week's busy time through its
    test route (`count` times; ms at the client, the route's own work included)."""
    found: dict[str, dict[str, float]] = {}
    for calendar in calendars:
        times = []
        for _ in range(count):
            began = time.perf_counter()
            answer = space.call("POST", f"/api/langgraph/calendars/{calendar['id']}/test").json()
            times.append((time.perf_counter() - began) * 1000)
            if not answer["ok"]:
                raise RuntimeError(f"{calendar['name']} did not answer: {answer['error']}")
        found[calendar["kind"]] = _p(times)
    return found


# -- the run --------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--queries", type=int, default=QUERIES)
    parser.add_argument("--bookings", type=int, default=BOOKINGS)
    parser.add_argument("--subset", action="store_true", help="make bench's smaller version")
    args = parser.parse_args(argv)
    if args.subset:
        args.queries, args.bookings = 30, 3
    if args.rounds < 3:
        parser.error("at least 3 rounds (BENCH.md)")
    command = " ".join(["python -m bench.workflows", *(sys.argv[1:] if argv is None else argv)])
    with calendar_servers() as servers, stand_in_llm() as llm_url:
        with bench_stack(stack_env(llm_url, servers.env()), prefix="cxw") as stack:
            fields = _run(stack, servers, args)
    if args.subset:
        fields["subset"] = f"{args.queries} queries and {args.bookings} bookings per workspace per round"
    write_result("workflows", fields, command)
    _print(fields)


def _run(stack: Any, servers: CalendarServers, args: argparse.Namespace) -> dict[str, Any]:
    base, home = stack.http_url, Path(stack.home)
    spaces = {"calendars": _setup(base, home, "calendars"), "builtin": _setup(base, home, "builtin")}
    calendars = _connect_calendars(spaces["calendars"], servers)
    for space in spaces.values():  # warm: pools, handles, the calendars' tokens and connections
        _availability(space, 5)
    wishes = Wishes()
    for space in spaces.values():
        _booking_conversation(space, wishes.next(), 0)
    rounds: list[dict[str, Any]] = []
    order = ["calendars", "builtin"]
    for index in range(args.rounds):
        measured: dict[str, Any] = {}
        for name in order if index % 2 == 0 else order[::-1]:
            times, slots = _availability(spaces[name], args.queries)
            turns = [
                _booking_conversation(spaces[name], wishes.next(), index * 100 + i + 1) for i in range(args.bookings)
            ]
            measured[name] = {
                "availability_ms": _p(times),
                "slots_found": slots,
                "offer_turn_ms": _p([t["offer_ms"] for t in turns]),
                "booking_turn_ms": _p([t["book_ms"] for t in turns]),
                "raw": {
                    "availability": times,
                    "offer": [t["offer_ms"] for t in turns],
                    "book": [t["book_ms"] for t in turns],
                },
            }
        rounds.append(measured)
        print(
            f"round {index + 1}: availability p50 {measured['calendars']['availability_ms']['p50']} ms with 3 "
            f"calendars, {measured['builtin']['availability_ms']['p50']} ms built-in only; booking turn p50 "
            f"{measured['calendars']['booking_turn_ms']['p50']} / {measured['builtin']['booking_turn_ms']['p50']} ms",
            flush=True,
        )
    race = asyncio.run(_concurrent_attempts(spaces["builtin"], CONCURRENT))
    per_calendar = _per_calendar(spaces["calendars"], calendars)
    for space in spaces.values():
        space.client.close()
    return {**_fields(rounds, calendars, race, args), "calendar_test_ms": per_calendar}


def _headline(rounds: list[dict[str, Any]], name: str, key: str) -> dict[str, float]:
    """The median over rounds of each round's p50 and p99."""
    return {
        "p50": round(statistics.median(r[name][key]["p50"] for r in rounds), 2),
        "p99": round(statistics.median(r[name][key]["p99"] for r in rounds), 2),
    }


def _fields(
    rounds: list[dict[str, Any]], calendars: list[dict[str, Any]], race: dict[str, int], args: argparse.Namespace
) -> dict[str, Any]:
    ratio = [r["calendars"]["availability_ms"]["p50"] / r["builtin"]["availability_ms"]["p50"] for r in rounds]
    extra = [r["calendars"]["availability_ms"]["p50"] - r["builtin"]["availability_ms"]["p50"] for r in rounds]
    spread_of = {
        f"{name}_{key}_{q}": spread([r[name][key][q] for r in rounds], 2)
        for name in ("calendars", "builtin")
        for key in ("availability_ms", "offer_turn_ms", "booking_turn_ms")
        for q in ("p50", "p99")
    }
    return {
        # Headlines: the workspace with three connected calendars (BENCH.md's "availability query for
        # a workspace with three calendars"); the built-in-only figures are the baseline of the same run.
        "booking_turn_ms": _headline(rounds, "calendars", "booking_turn_ms"),
        "offer_turn_ms": _headline(rounds, "calendars", "offer_turn_ms"),
        "availability_ms": _headline(rounds, "calendars", "availability_ms"),
        "baseline_builtin_only": {
            "availability_ms": _headline(rounds, "builtin", "availability_ms"),
            "booking_turn_ms": _headline(rounds, "builtin", "booking_turn_ms"),
            "offer_turn_ms": _headline(rounds, "builtin", "offer_turn_ms"),
        },
        "availability_p50_ratio_vs_builtin": {
            "median": round(statistics.median(ratio), 3),
            "per_round": [round(x, 3) for x in ratio],
        },
        "availability_p50_extra_ms_vs_builtin": {
            "median": round(statistics.median(extra), 2),
            "per_round": [round(x, 2) for x in extra],
        },
        "calendars": len(calendars),
        "calendar_kinds": sorted(c["kind"] for c in calendars),
        "events_per_calendar": EVENTS_PER_CALENDAR,
        "concurrent_attempts": CONCURRENT,
        "bookings_made": race["booked"],
        "refused_with_alternatives": race["refused_with_alternatives"],
        "rounds": len(rounds),
        "spread": spread_of,
        "per_round": [{name: {k: v for k, v in r[name].items() if k != "raw"} for name in r} for r in rounds],
        "queries_per_round": args.queries,
        "bookings_per_round": args.bookings,
        "availability_query": (
            "GET /api/langgraph/schedule/availability: a 30-minute service, the next 7 days, limit 10,"
            " one at a time as the owner"
        ),
        "booking_turn": (
            "POST /api/chat (not streamed) as a widget visitor: the turn that books (the visitor's e-mail"
            " address, after the slot and the name)"
        ),
        "offer_turn": (
            "POST /api/chat: 'Hi, can I book a haircut on <day> in the <morning|afternoon>?' answered with"
            " slots as reply buttons"
        ),
        "baseline": (
            "a second workspace, same bot, rules, service and built-in appointments, no connected calendar;"
            " rounds alternate, order swapped each round"
        ),
        "not_modelled": (
            "network latency: the three calendars answer over loopback (Radicale, and local servers speaking"
            " Google Calendar's and Microsoft Graph's wire formats); real providers add their round trip"
            " (50-300 ms), the slowest of the three as they are asked concurrently, at most"
            " CORTEX_CALENDAR_TIMEOUT_S"
        ),
        "llm": "none: booking replies are written by the graph's templates; the bot is extractive",
    }


def _print(fields: dict[str, Any]) -> None:
    base = fields["baseline_builtin_only"]
    print(f"{'':34s} {'3 calendars':>14s} {'built-in only':>14s}")
    for key in ("availability_ms", "offer_turn_ms", "booking_turn_ms"):
        for q in ("p50", "p99"):
            print(f"{key + ' ' + q:34s} {fields[key][q]:14.1f} {base[key][q]:14.1f}")
    print(
        f"{fields['concurrent_attempts']} concurrent attempts on one slot: {fields['bookings_made']} booked, "
        f"{fields['refused_with_alternatives']} refused with other slots"
    )


if __name__ == "__main__":
    main()
