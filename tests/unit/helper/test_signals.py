"""The rules under turn analysis: dates, times, names, services and repeated questions, in four languages."""

from __future__ import annotations

import pytest

from cortex.helper import signals


@pytest.mark.parametrize(
    "text",
    ["Tuesday at 3pm", "on the 14th at noon", "12/05", "am 12.05. um 15 Uhr", "next week", "June 3", "3 March",
     "sat. 9:30", "demain à 14h30", "el viernes por la tarde", "tomorrow morning"],
)  # fmt: skip
def test_dates_and_times_are_found(text: str) -> None:
    assert signals.DATE.search(text) or signals.TIME.search(text)


@pytest.mark.parametrize(
    "text",
    ["I am not satisfied with my monitor", "Good morning, can I book a massage", "it costs 2.50", "Guten Morgen",
     "my friend said the market was sunny", "Buenas tardes", "the wedding money"],
)  # fmt: skip
def test_words_that_only_look_like_dates_or_greetings_are_not_times(text: str) -> None:
    assert not signals.DATE.search(text) and not signals.TIME.search(text)


def test_a_name_is_taken_only_where_the_visitor_gives_one() -> None:
    assert signals.find_name(["hello", "My name is Clara"]) == "Clara"
    assert signals.find_name(["je m'appelle Luc"]) == "Luc"
    assert signals.find_name(["I'm Looking for a plan", "I'm not sure"]) is None


def test_a_service_is_the_bots_own_or_the_noun_after_a_booking_verb() -> None:
    assert signals.find_service(["I want to book a massage tomorrow"]) == "massage"
    assert signals.find_service(["Can I book an appointment"]) is None
    assert signals.find_service(["book me for the earliest slot"]) is None
    assert signals.find_service(["do you have room for a deep tissue one?"], ["Deep tissue", "Facial"]) == "Deep tissue"


def test_a_question_asked_again_counts_even_with_words_added() -> None:
    earlier = ["How do I export my invoices?", "thanks"]
    assert signals.repeats("HOW DO I EXPORT MY INVOICES?? still nothing", earlier) == 1
    assert signals.repeats("And what about the mobile app?", earlier) == 0
    assert signals.repeats("ok", ["ok"]) == 0  # one word says too little to be a repetition


def test_shouting_is_mostly_capitals_or_several_capitalised_words() -> None:
    assert signals.shouts("WHY DOES THIS NOT WORK")
    assert signals.shouts("I said it DOES NOT WORK AT ALL")
    assert not signals.shouts("OK")
    assert not signals.shouts("I use the API with AWS")
