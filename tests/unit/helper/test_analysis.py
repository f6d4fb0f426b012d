"""Turn analysis on real embeddings (the project's embedder, offline): intent, stage, signals, missing facts."""

from __future__ import annotations

import time

import numpy as np
import pytest

from cortex.contracts.guidance import HistoryTurn
from cortex.helper import classifier
from cortex.helper.analysis import Analyser, Analysis
from cortex.models.embedder import Embedder


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return Embedder()


@pytest.fixture(scope="module")
def analyser() -> Analyser:
    return Analyser()


def analyse(analyser: Analyser, embedder: Embedder, message: str, **kwargs: object) -> Analysis:
    return analyser.analyse(message, embedding=embedder.encode([message])[0], **kwargs)  # type: ignore[arg-type]


def test_the_shipped_weights_were_fitted_on_the_shipped_examples() -> None:
    assert classifier.load().data_sha256 == classifier.data_digest(), "run: python -m cortex.helper.train"


def test_the_examples_cover_every_intent_with_at_least_40_each() -> None:
    turns = classifier.load_labelled_turns()
    for intent in classifier.INTENTS:
        assert sum(turn.intent == intent for turn in turns) >= 40, intent
    assert {turn.lang for turn in turns} == {"en", "es", "fr", "de"}


def test_the_classifier_loads_in_well_under_a_second() -> None:
    start = time.perf_counter()
    model = classifier.load()
    assert time.perf_counter() - start < 0.2
    assert model.weights.shape == (384 + len(classifier.INTENTS), len(classifier.INTENTS))


@pytest.mark.parametrize(
    ("message", "intent"),
    [
        # phrasings that are not in the labelled examples
        ("what would it cost me to add five more people to our plan", "pricing"),
        ("could I grab an appointment on Thursday afternoon", "booking"),
        ("how do I connect the widget to my Shopify store", "support"),
        ("I'm so disappointed, the order arrived broken and nobody replies", "complaint"),
        ("I can't remember my password and the reset mail never comes", "account"),
        ("thanks so much, have a good one", "smalltalk"),
        ("who is going to win the world cup", "other"),
        ("¿Cuánto cuesta la versión para empresas?", "pricing"),
        ("Je voudrais réserver un créneau vendredi matin", "booking"),
        ("Ich möchte mein Konto löschen", "account"),
    ],
)
def test_unseen_phrasings_get_their_intent(analyser: Analyser, embedder: Embedder, message: str, intent: str) -> None:
    assert analyse(analyser, embedder, message).intent == intent


def test_a_booking_collects_its_facts_turn_by_turn(analyser: Analyser, embedder: Embedder) -> None:
    history: list[HistoryTurn] = []
    first = analyse(analyser, embedder, "I'd like to book a massage", history=history)
    assert first.intent == "booking" and first.stage == "decision"
    assert first.booking_signal >= 0.5
    assert first.missing == ("time", "name", "email")

    history += [HistoryTurn("visitor", "I'd like to book a massage"), HistoryTurn("bot", "When would suit you?")]
    second = analyse(analyser, embedder, "Tuesday at 3pm", history=history, previous=first)
    assert second.missing == ("name", "email")
    assert second.stage == "decision"

    history += [HistoryTurn("visitor", "Tuesday at 3pm"), HistoryTurn("bot", "Who is it for?")]
    third = analyse(analyser, embedder, "My name is Clara, clara@example.org", history=history, previous=second)
    assert third.missing == ()
    assert set(third.collected) == {"service", "time", "name", "email"}


def test_a_repeated_shouted_question_is_frustration_and_churn_risk(analyser: Analyser, embedder: Embedder) -> None:
    calm = analyse(analyser, embedder, "How do I export my invoices?")
    history = [
        HistoryTurn("visitor", "How do I export my invoices?"),
        HistoryTurn("bot", "You can find them in settings."),
    ]
    angry = analyse(
        analyser, embedder, "HOW DO I EXPORT MY INVOICES?? still nothing, I'll cancel", history=history, previous=calm
    )
    assert calm.frustration < 0.2
    assert angry.frustration >= 0.6
    assert angry.churn_risk > calm.churn_risk + 0.4
    assert angry.sentiment_label != "positive"


def test_frustration_fades_over_calm_turns_but_not_at_once(analyser: Analyser, embedder: Embedder) -> None:
    angry = analyse(analyser, embedder, "This is useless, still not fixed!!")
    calmer = analyse(analyser, embedder, "ok", previous=angry)
    assert 0 < calmer.frustration < angry.frustration


def test_the_stage_moves_forward_and_complaints_are_retention(analyser: Analyser, embedder: Embedder) -> None:
    hello = analyse(analyser, embedder, "Hello!")
    assert hello.stage == "awareness" and hello.situation == "smalltalk/awareness"
    pricing = analyse(analyser, embedder, "How much is the premium plan?", previous=hello)
    assert pricing.stage == "consideration"
    ready = analyse(analyser, embedder, "Great, I want to buy it", previous=pricing)
    assert ready.stage == "decision"
    thanks = analyse(analyser, embedder, "thanks", previous=ready)
    assert thanks.stage == "decision"  # the funnel does not go back within a conversation
    assert analyse(analyser, embedder, "My package arrived damaged, terrible").stage == "retention"


def test_the_cached_form_round_trips_and_holds_no_personal_data(analyser: Analyser, embedder: Embedder) -> None:
    analysis = analyse(analyser, embedder, "I'm Clara, book me a haircut tomorrow, clara@example.org")
    cached = analysis.to_json()
    assert Analysis.from_json(cached) == analysis
    assert "clara" not in cached.lower()


def test_analysing_a_turn_costs_well_under_a_millisecond_of_cpu(analyser: Analyser, embedder: Embedder) -> None:
    message = "Can I book a demo for next Tuesday at 10am? My email is sam@example.com"
    embedding = embedder.encode([message])[0]
    history = [HistoryTurn("visitor", "Hi, what does the Pro plan include?"), HistoryTurn("bot", "It includes…")]
    times = []
    for _ in range(300):
        start = time.thread_time()
        analyser.analyse(message, embedding=embedding, history=history)
        times.append(time.thread_time() - start)
    assert float(np.median(times)) < 0.001


def test_the_shipped_classifier_holds_up_on_phrasings_it_was_never_tuned_on(embedder: Embedder) -> None:
    # data/unseen_turns.jsonl: 56 phrasings (8 per intent, en/es/fr/de) written after the cues and
    # weights were fixed. Measured 0.821 (python -m cortex.helper.evaluate); the floor catches a regression.
    unseen = classifier.load_labelled_turns(classifier.DATA_DIR / "unseen_turns.jsonl")
    texts = [turn.text for turn in unseen]
    predicted = classifier.shipped().predict_many(classifier.features_many(embedder.encode(texts), texts))
    accuracy = np.mean([turn.intent == p for turn, p in zip(unseen, predicted, strict=True)])
    assert accuracy >= 0.75
