"""Reading what visitors say about themselves: valid values only, certainty ranked, hostile text inert."""

from __future__ import annotations

import time

import pytest

from cortex.core.extract import Finding, best, extract, region_for_language, should_replace


def _found(text: str, **kwargs: str) -> dict[str, tuple[str, str]]:
    return {field: (f.value, f.source) for field, f in best(extract(text, **kwargs)).items()}


def test_a_self_introduction_yields_every_detail_validated_and_normalised() -> None:
    found = _found(
        "Hi, my name is maria lopez. My email is Maria.Lopez@Example.COM, call me on +1 415-555-0134. "
        "I work at Acme Bakery Supplies."
    )
    assert found == {
        "name": ("Maria Lopez", "visitor"),
        "email": ("Maria.Lopez@example.com", "visitor"),
        "phone": ("+14155550134", "visitor"),
        "company": ("Acme Bakery Supplies", "visitor"),
    }


@pytest.mark.parametrize(
    "text",
    [
        "I'm looking for a birthday cake",
        "i'm hungry",
        "I'm Sorry, is the shop open?",
        "my name is not important",
        "I work at a bakery",
        "I work at home",
        "email: foo@bar",
        "my order number is 2025550143",
        "my phone is 030 1234567",  # not a valid number in the default (US) numbering
    ],
)
def test_ordinary_sentences_and_invalid_values_yield_nothing(text: str) -> None:
    assert extract(text) == []


def test_weak_readings_are_marked_inferred() -> None:
    assert _found("Hello, I'm Maria") == {"name": ("Maria", "inferred")}
    assert _found("This is John Smith from Globex company")["company"] == ("Globex", "inferred")
    assert _found("is info@bakery.example right?") == {"email": ("info@bakery.example", "inferred")}


def test_markup_or_oversized_words_are_never_values() -> None:
    assert extract("my name is <script>alert(1)</script>") == []
    assert extract('<img src=x onerror="x">my email is a@example.com') == []
    assert extract("my name is " + "A" * 300) == []
    assert extract("my name is Bob\u202e") == [Finding("name", "Bob", "visitor", "Bob")]


def test_hostile_input_is_scanned_in_bounded_time() -> None:
    started = time.perf_counter()
    for text in ("1" * 4000, "I'm A " * 700, "a@b." * 1000, "+1 415 555 0134 " * 250, "my name is x " * 300):
        extract(text)
    assert time.perf_counter() - started < 1.0


def test_phone_numbers_are_read_in_the_bots_region() -> None:
    assert region_for_language("fr") == "FR" and region_for_language("de-AT") == "AT"
    assert region_for_language("en") == "US" and region_for_language(None) == "US"
    assert _found("mon numéro: phone 06 12 34 56 78", region="FR")["phone"] == ("+33612345678", "visitor")


def test_a_guess_never_overwrites_what_the_visitor_or_a_member_said() -> None:
    guess = Finding("name", "Hungry", "inferred", "Hungry")
    stated = Finding("name", "Maria", "visitor", "Maria")
    assert should_replace(current_value=None, current_source=None, new=guess)
    assert not should_replace(current_value="Maria", current_source="visitor", new=guess)
    assert should_replace(current_value="Mary", current_source="visitor", new=stated), "people correct themselves"
    assert should_replace(current_value="Mar", current_source="inferred", new=stated)
    assert not should_replace(current_value="Maria R.", current_source="member", new=stated)
    assert not should_replace(current_value="Maria", current_source=None, new=stated), "unknown origin is kept"
