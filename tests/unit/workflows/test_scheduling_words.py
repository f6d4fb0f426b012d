"""How the scheduling graph reads a visitor's reply: a button's value or 'the second one', a name,
a stop word, a wish to move or cancel; and how it lays out offered slots (labels in the visitor's
wall time, values that name the year and the zone, several days before several times of one day)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from cortex.workflows.scheduling.models import Slot
from cortex.workflows.when import fold
from graphs.scheduling import prompts
from graphs.scheduling.nodes import ABANDON, CANCEL_APPOINTMENT, NAMED, RESCHEDULE, _name_like, _pick, offers, spread

RESOURCE = (uuid.uuid4(),)


def slot(start: datetime, minutes: int = 30) -> Slot:
    return Slot(start=start, end=start + timedelta(minutes=minutes), resource_ids=RESOURCE)


def test_offered_slots_are_labelled_in_the_visitors_wall_time_with_unambiguous_values() -> None:
    start = datetime(2026, 12, 8, 13, 30, tzinfo=UTC)
    [en] = offers([slot(start)], ZoneInfo("America/New_York"), "en")
    assert en["label"] == "Tue 8 Dec, 8:30 AM"
    assert en["value"] == "Tuesday 8 December 2026 at 8:30 AM (America/New_York)"
    assert datetime.fromisoformat(en["start"]) == start
    [de] = offers([slot(start)], ZoneInfo("Europe/Berlin"), "de")
    assert (de["label"], de["value"]) == ("Di. 8. Dez., 14:30", "Dienstag, 8. Dezember 2026 um 14:30 (Europe/Berlin)")
    [es] = offers([slot(start)], ZoneInfo("Europe/Madrid"), "es")
    assert es["value"] == "martes 8 de diciembre de 2026 a las 14:30 (Europe/Madrid)"


def test_a_window_over_several_days_offers_one_time_per_day_first() -> None:
    monday = datetime(2026, 12, 14, 8, 0, tzinfo=UTC)
    slots = [slot(monday + timedelta(days=day, minutes=30 * step)) for day in range(3) for step in range(4)]
    chosen = spread(slots, 5)
    assert [s.start.date().day for s in chosen] == [14, 14, 15, 15, 16]
    assert chosen == sorted(chosen, key=lambda s: s.start)
    one_day = [slot(monday + timedelta(minutes=30 * step)) for step in range(8)]
    assert spread(one_day, 5) == one_day[:5]


def test_a_reply_picks_a_button_by_value_label_or_position() -> None:
    choices = [
        {"label": "Tue 8 Dec, 9:00 AM", "value": "Tuesday 8 December 2026 at 9:00 AM (Europe/Berlin)"},
        {"label": "Tue 8 Dec, 9:30 AM", "value": "Tuesday 8 December 2026 at 9:30 AM (Europe/Berlin)"},
        {"label": "Wed 9 Dec, 9:00 AM", "value": "Wednesday 9 December 2026 at 9:00 AM (Europe/Berlin)"},
    ]
    assert _pick("Tuesday 8 December 2026 at 9:30 AM (Europe/Berlin)", choices) is choices[1]
    assert _pick("tue 8 dec, 9:00 am", choices) is choices[0]
    assert _pick("the second one", choices) is choices[1]
    assert _pick("die erste", choices) is choices[0]
    assert _pick("last", choices) is choices[2]
    assert _pick("the fifth one", choices) is None
    assert _pick("maybe something later", choices) is None


@pytest.mark.parametrize(
    ("text", "name"),
    [("Ada Lovelace", "Ada Lovelace"), ("José-María O'Neill", "José-María O'Neill"), ("yes", None),
     ("why do you need that?", None), ("ada@example.com", None), ("call me at 5", None)],
)  # fmt: skip
def test_a_bare_name_is_a_name_and_other_replies_are_not(text: str, name: str | None) -> None:
    assert _name_like(text) == name


def test_a_name_is_found_inside_a_longer_message() -> None:
    match = NAMED.search("Hi, my name is Grace Hopper, email grace@example.com")
    assert match is not None and match["name"] == "Grace Hopper"
    match = NAMED.search("me llamo Frida Kahlo y quiero una cita")
    assert match is not None and match["name"] == "Frida Kahlo"


@pytest.mark.parametrize("text", ["never mind", "Cancel", "forget it!", "vergiss es", "laisse tomber", "olvídalo"])
def test_stop_words_end_a_booking(text: str) -> None:
    assert ABANDON.match(fold(text))


@pytest.mark.parametrize("text", ["cancel my appointment please", "I'd like a haircut", "tomorrow at 10"])
def test_other_messages_do_not_stop_it(text: str) -> None:
    assert not ABANDON.match(fold(text))


def test_moving_and_cancelling_an_appointment_are_told_apart() -> None:
    assert CANCEL_APPOINTMENT.search(fold("Actually I need to cancel my appointment"))
    assert CANCEL_APPOINTMENT.search(fold("Ich möchte meinen Termin absagen"))  # the verb after the noun
    assert CANCEL_APPOINTMENT.search(fold("annuler mon rendez-vous"))
    assert RESCHEDULE.search(fold("Can I move my appointment to Friday?"))
    assert RESCHEDULE.search(fold("Kann ich den Termin verschieben?"))
    assert not CANCEL_APPOINTMENT.search(fold("Can I move my appointment?"))
    assert not RESCHEDULE.search(fold("I'd like to book for Friday"))


def test_every_language_has_every_text() -> None:
    keys = set(prompts.TEXTS["en"])
    for language, texts in prompts.TEXTS.items():
        assert set(texts) == keys, language
    assert prompts.lang("pt-BR") == "en" and prompts.lang("de-AT") == "de"
