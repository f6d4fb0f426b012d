"""Dates and times from a visitor's words: exact times, windows, and Unclear instead of a guess,
in the visitor's time zone, across daylight-saving changes, in en/de/fr/es."""

from __future__ import annotations

import time as clock
from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest

from cortex.workflows.when import Unclear, When, WhenParser

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
TOKYO = ZoneInfo("Asia/Tokyo")
#: Monday 7 December 2026, 10:00 in Berlin.
NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def parser() -> WhenParser:
    return WhenParser()


def at(tz: ZoneInfo, *parts: int) -> datetime:
    return datetime(*parts, tzinfo=tz)


def exact(parser: WhenParser, text: str, *, tz: ZoneInfo = BERLIN, now: datetime = NOW, **kwargs: object) -> datetime:
    result = parser.parse(text, tz=tz, now=now, **kwargs)  # type: ignore[arg-type]
    assert isinstance(result, When), (text, result)
    assert result.exact, (text, result)
    return result.start


def window(parser: WhenParser, text: str, *, tz: ZoneInfo = BERLIN, now: datetime = NOW) -> When:
    result = parser.parse(text, tz=tz, now=now)
    assert isinstance(result, When), (text, result)
    assert not result.exact, (text, result)
    return result


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("in 2 weeks at 10", at(BERLIN, 2026, 12, 21, 10)),
        ("Friday 3pm", at(BERLIN, 2026, 12, 11, 15)),
        ("the 12th at 9:30", at(BERLIN, 2026, 12, 12, 9, 30)),
        ("December 15 at 2pm", at(BERLIN, 2026, 12, 15, 14)),
        ("15 December at 14:00", at(BERLIN, 2026, 12, 15, 14)),
        ("I'd like an appointment next Tuesday at 10 please", at(BERLIN, 2026, 12, 8, 10)),
        ("tomorrow at 4:30 pm", at(BERLIN, 2026, 12, 8, 16, 30)),
        ("Wednesday at noon", at(BERLIN, 2026, 12, 9, 12)),
        ("Thursday next week at 11", at(BERLIN, 2026, 12, 17, 11)),
        ("2026-12-18 09:15", at(BERLIN, 2026, 12, 18, 9, 15)),
        # a bare hour reads as business time: 3 is the afternoon, 9 the morning
        ("tomorrow at 3", at(BERLIN, 2026, 12, 8, 15)),
        ("tomorrow at 9", at(BERLIN, 2026, 12, 8, 9)),
        ("at 5 in the afternoon on Friday", at(BERLIN, 2026, 12, 11, 17)),
        # only a time: today if still ahead, else tomorrow
        ("at 3pm", at(BERLIN, 2026, 12, 7, 15)),
        ("9:30", at(BERLIN, 2026, 12, 8, 9, 30)),
        # German, French, Spanish
        ("morgen um 10 Uhr", at(BERLIN, 2026, 12, 8, 10)),
        ("nächsten Dienstag um 14:30", at(BERLIN, 2026, 12, 8, 14, 30)),
        ("am 15.12. um 9:30 Uhr", at(BERLIN, 2026, 12, 15, 9, 30)),
        ("demain à 10h", at(BERLIN, 2026, 12, 8, 10)),
        ("mardi prochain à 14h30", at(BERLIN, 2026, 12, 8, 14, 30)),
        ("le 12 décembre à 11h", at(BERLIN, 2026, 12, 12, 11)),
        ("mañana a las 10", at(BERLIN, 2026, 12, 8, 10)),
        ("el 15 de diciembre a las 16:00", at(BERLIN, 2026, 12, 15, 16)),
        ("el viernes a las 5 de la tarde", at(BERLIN, 2026, 12, 11, 17)),
    ],
)
def test_an_exact_time_is_read_in_the_visitors_time_zone(parser: WhenParser, text: str, expected: datetime) -> None:
    assert exact(parser, text) == expected


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("next Tuesday afternoon", at(BERLIN, 2026, 12, 8, 12), at(BERLIN, 2026, 12, 8, 17)),
        ("tomorrow morning", at(BERLIN, 2026, 12, 8, 6), at(BERLIN, 2026, 12, 8, 12)),
        ("this weekend", at(BERLIN, 2026, 12, 12), at(BERLIN, 2026, 12, 14)),
        ("Friday", at(BERLIN, 2026, 12, 11), at(BERLIN, 2026, 12, 12)),
        ("between 2 and 4pm tomorrow", at(BERLIN, 2026, 12, 8, 14), at(BERLIN, 2026, 12, 8, 16)),
        ("after 3pm on Friday", at(BERLIN, 2026, 12, 11, 15), at(BERLIN, 2026, 12, 12)),
        ("next week", at(BERLIN, 2026, 12, 14), at(BERLIN, 2026, 12, 21)),
        ("übermorgen nachmittag", at(BERLIN, 2026, 12, 9, 12), at(BERLIN, 2026, 12, 9, 17)),
        ("mañana por la mañana", at(BERLIN, 2026, 12, 8, 6), at(BERLIN, 2026, 12, 8, 12)),
        ("el martes que viene por la tarde", at(BERLIN, 2026, 12, 8, 12), at(BERLIN, 2026, 12, 8, 17)),
        ("ce week-end", at(BERLIN, 2026, 12, 12), at(BERLIN, 2026, 12, 14)),
        # this evening: still ahead today
        ("tonight", at(BERLIN, 2026, 12, 7, 17), at(BERLIN, 2026, 12, 7, 23)),
    ],
)
def test_a_part_of_a_day_or_a_span_of_days_is_a_window(
    parser: WhenParser, text: str, start: datetime, end: datetime
) -> None:
    found = window(parser, text)
    assert (found.start, found.end) == (start, end)


def test_a_window_that_began_already_starts_now(parser: WhenParser) -> None:
    found = window(parser, "this morning")
    assert found.start == NOW.astimezone(BERLIN)
    assert found.end == at(BERLIN, 2026, 12, 7, 12)


def test_a_week_with_a_part_of_the_day_keeps_only_that_part_of_each_day(parser: WhenParser) -> None:
    found = window(parser, "next week in the afternoon")
    assert found.daily == (time(12), time(17))
    assert found.admits(at(BERLIN, 2026, 12, 16, 14))
    assert not found.admits(at(BERLIN, 2026, 12, 16, 10))
    assert not found.admits(at(BERLIN, 2026, 12, 22, 14))


def test_as_soon_as_possible_is_a_window_from_now(parser: WhenParser) -> None:
    for text in ("asap", "the earliest you have", "so bald wie möglich", "dès que possible", "lo antes posible"):
        found = window(parser, text)
        assert found.asap and found.start == NOW.astimezone(BERLIN), text


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("sometime", "vague"),
        ("soon", "vague"),
        ("irgendwann", "vague"),
        ("asdf qwe", "unreadable"),
        ("Anna", "unreadable"),
        ("10", "unreadable"),
        ("tomorrow at 10, room 5", "unreadable"),
        ("31 February", "unreadable"),
        ("", "empty"),
        ("yesterday at 3", "past"),
        ("today at 9", "past"),  # it is 10:00
        ("2026-12-01", "past"),
    ],
)
def test_what_cannot_be_read_without_guessing_is_unclear(parser: WhenParser, text: str, reason: str) -> None:
    result = parser.parse(text, tz=BERLIN, now=NOW)
    assert isinstance(result, Unclear), (text, result)
    assert result.reason == reason


def test_a_date_an_english_visitor_could_mean_two_ways_offers_both(parser: WhenParser) -> None:
    result = parser.parse("12/03", tz=BERLIN, now=NOW)
    assert isinstance(result, Unclear) and result.reason == "ambiguous_date"
    assert [option.start.date().isoformat() for option in result.options] == ["2027-03-12", "2027-12-03"]
    # day first where that is the convention, and when only one reading is a date
    fr = parser.parse("12/03", tz=BERLIN, now=NOW, language="fr")
    assert isinstance(fr, When) and fr.start.date().isoformat() == "2027-03-12"
    late = parser.parse("15/12", tz=BERLIN, now=NOW)
    assert isinstance(late, When) and late.start.date().isoformat() == "2026-12-15"


def test_a_bare_hour_takes_the_reading_inside_the_opening_hours(parser: WhenParser) -> None:
    evening_shop = {weekday: [(time(16), time(22))] for weekday in range(1, 8)}
    assert exact(parser, "tomorrow at 8", hours=evening_shop) == at(BERLIN, 2026, 12, 8, 20)
    assert exact(parser, "tomorrow at 8") == at(BERLIN, 2026, 12, 8, 8)


def test_in_two_weeks_keeps_the_wall_time_across_the_spring_change(parser: WhenParser) -> None:
    # Saturday 20 March 2027; clocks go forward on 28 March in Berlin
    now = datetime(2027, 3, 20, 9, 0, tzinfo=UTC)
    found = exact(parser, "in 2 weeks at 10", now=now)
    assert found == at(BERLIN, 2027, 4, 3, 10)
    assert found.astimezone(UTC) == datetime(2027, 4, 3, 8, 0, tzinfo=UTC)  # CEST, not 9:00 UTC


def test_a_wall_time_in_the_spring_gap_moves_forward(parser: WhenParser) -> None:
    now = datetime(2027, 3, 20, 9, 0, tzinfo=UTC)
    found = exact(parser, "28.03. um 2:30 Uhr", now=now)
    assert found.astimezone(UTC) == datetime(2027, 3, 28, 1, 30, tzinfo=UTC)
    assert (found.hour, found.minute) == (3, 30)


def test_the_autumn_change_in_new_york_keeps_the_wall_time(parser: WhenParser) -> None:
    # Friday 30 October 2026; clocks go back on Sunday 1 November in New York
    now = datetime(2026, 10, 30, 14, 0, tzinfo=UTC)
    found = exact(parser, "Monday at 9am", tz=NEW_YORK, now=now)
    assert found.astimezone(UTC) == datetime(2026, 11, 2, 14, 0, tzinfo=UTC)  # EST: UTC-5


def test_tomorrow_is_the_visitors_tomorrow(parser: WhenParser) -> None:
    # 03:00 UTC on 8 December: still the 7th in New York, already the 8th at noon in Tokyo
    now = datetime(2026, 12, 8, 3, 0, tzinfo=UTC)
    assert exact(parser, "tomorrow at 10", tz=NEW_YORK, now=now) == at(NEW_YORK, 2026, 12, 8, 10)
    assert exact(parser, "tomorrow at 10", tz=TOKYO, now=now) == at(TOKYO, 2026, 12, 9, 10)


def test_a_weekday_named_on_that_day_means_next_week_and_this_means_today(parser: WhenParser) -> None:
    assert window(parser, "Monday").start == at(BERLIN, 2026, 12, 14)
    assert window(parser, "this Monday").end == at(BERLIN, 2026, 12, 8)


def test_a_window_survives_its_json_round_trip(parser: WhenParser) -> None:
    found = window(parser, "next week in the afternoon")
    assert When.from_json(found.to_json()) == found


def test_a_parse_takes_well_under_a_millisecond_and_dateparser_a_few(parser: WhenParser) -> None:
    texts = ["next Tuesday afternoon", "in 2 weeks at 10", "15 décembre à 14h30", "Dec. 15th at 2pm"]
    started = clock.process_time()  # CPU time: the machine's other load does not count
    for _ in range(50):
        for text in texts:
            parser.parse(text, tz=BERLIN, now=NOW)
    per_call_ms = (clock.process_time() - started) / (50 * len(texts)) * 1000
    assert per_call_ms < 5, per_call_ms
    started = clock.process_time()  # CPU time: the machine's other load does not count
    for _ in range(20):
        assert isinstance(parser.parse("15-dec-2026", tz=BERLIN, now=NOW), When)
    fallback_ms = (clock.process_time() - started) / 20 * 1000
    assert fallback_ms < 20, fallback_ms
