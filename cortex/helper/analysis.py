"""Turn analysis: what the visitor wants, where they are, how they feel, and what is still missing.

`Analyser.analyse` reads the visitor's message, the recent history window and the question's
embedding (the one the turn already computed for retrieval), and combines the intent classifier
(`classifier.py`) with the rules of `signals.py`. It calls no model and no network: ~0.1 ms a turn
on one core (`python -m cortex.helper.evaluate` measures it). `previous` is the conversation's
last analysis (the live path caches it per conversation), so the funnel stage and frustration
carry over from turn to turn.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Literal

import numpy as np

from cortex.contracts.guidance import HistoryTurn
from cortex.helper import classifier, signals
from cortex.helper.classifier import Intent, IntentClassifier

Stage = Literal["awareness", "consideration", "decision", "retention"]
Sentiment = Literal["negative", "neutral", "positive"]
Fact = Literal["service", "time", "name", "email"]

FUNNEL: tuple[Stage, ...] = ("awareness", "consideration", "decision")
# What the bot must collect for each need before it can act on it.
BOOKING_NEEDS: tuple[Fact, ...] = ("service", "time", "name", "email")
LEAD_NEEDS: tuple[Fact, ...] = ("name", "email")
FOLLOW_UP_NEEDS: tuple[Fact, ...] = ("email",)
# A signal at or above this counts as present (the scores are 0..1 sums of cue weights below).
SIGNAL_THRESHOLD = 0.5
# How much of the last turn's frustration a calmer message keeps: one polite message after an
# angry one leaves the visitor still irritated, three leave little.
FRUSTRATION_CARRY = 0.6
# Earlier visitor messages the rules read (the history window may hold more).
WINDOW = 6


@dataclass(frozen=True)
class Analysis:
    """One turn's analysis. It holds no personal data (facts are named, never copied), so it may be cached."""

    intent: Intent
    intent_confidence: float
    stage: Stage
    sentiment: float  # -1 (negative) .. 1 (positive)
    frustration: float  # 0 .. 1
    churn_risk: float  # 0 .. 1
    buying_signal: float  # 0 .. 1
    booking_signal: float  # 0 .. 1
    missing: tuple[Fact, ...] = ()
    collected: tuple[Fact, ...] = ()
    visitor_turns: int = 1
    intent_probabilities: dict[str, float] = field(default_factory=dict)

    @property
    def sentiment_label(self) -> Sentiment:
        if self.sentiment <= -0.2:
            return "negative"
        return "positive" if self.sentiment >= 0.2 else "neutral"

    @property
    def situation(self) -> str:
        """The bandit's situation key: intent and stage ("pricing/consideration")."""
        return f"{self.intent}/{self.stage}"

    def to_json(self) -> str:
        """The cache form (Redis, per conversation)."""
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Analysis:
        data = json.loads(text)
        data["missing"] = tuple(data.get("missing", ()))
        data["collected"] = tuple(data.get("collected", ()))
        return cls(**data)


class Analyser:
    """Turn analysis with one fitted intent classifier (the shipped one unless given)."""

    def __init__(self, model: IntentClassifier | None = None, *, services: Sequence[str] = ()) -> None:
        self.model = model or classifier.shipped()
        #: The bot's bookable services, when it lists them: "book a massage" then names one exactly.
        self.services = tuple(services)

    def analyse(
        self,
        message: str,
        *,
        embedding: Sequence[float] | np.ndarray,
        history: Sequence[HistoryTurn] = (),
        previous: Analysis | None = None,
    ) -> Analysis:
        """Analyse the visitor's `message`, given the earlier turns and the question's embedding."""
        earlier = [turn.text for turn in history if turn.role == "visitor"][-WINDOW:]
        probabilities = self.model.probabilities(classifier.features(embedding, message))
        best = int(probabilities.argmax())
        intent: Intent = classifier.INTENTS[best]
        confidence = float(probabilities[best])

        sentiment = _sentiment(message, intent)
        frustration = _frustration(message, earlier, intent, sentiment, previous)
        churn = min(
            1.0,
            0.35 * signals.count(signals.CHURN, message) + 0.4 * frustration + (0.2 if intent == "complaint" else 0.0),
        )
        commitment = signals.count(signals.BUYING_COMMIT, message)
        buying = min(
            1.0,
            0.45 * commitment
            + 0.15 * signals.count(signals.BUYING_INTEREST, message)
            + 0.25 * float(probabilities[classifier.INTENTS.index("pricing")])
            + (0.1 if signals.PRICE.search(message) else 0.0),
        )
        has_date = bool(signals.DATE.search(message) or signals.TIME.search(message))
        booking = min(
            1.0,
            0.3 * signals.count(signals.BOOKING, message)
            + 0.4 * float(probabilities[classifier.INTENTS.index("booking")])
            + (0.2 if has_date and intent in ("booking", "smalltalk", "other") else 0.0),
        )
        if previous is not None and previous.booking_signal >= SIGNAL_THRESHOLD and has_date:
            booking = max(booking, previous.booking_signal)  # "Tuesday at 3?" continues a booking

        texts = [*earlier, message]
        collected = _collected(texts, self.services)
        needs = _needs(intent, buying, booking, previous)
        return Analysis(
            intent=intent,
            intent_confidence=round(confidence, 4),
            stage=_stage(intent, message, commitment > 0, booking, previous),
            sentiment=round(sentiment, 3),
            frustration=round(frustration, 3),
            churn_risk=round(churn, 3),
            buying_signal=round(buying, 3),
            booking_signal=round(booking, 3),
            missing=tuple(fact for fact in needs if fact not in collected),
            collected=tuple(fact for fact in BOOKING_NEEDS if fact in collected),
            visitor_turns=(previous.visitor_turns + 1) if previous else len(earlier) + 1,
            intent_probabilities={
                name: round(float(p), 4) for name, p in zip(classifier.INTENTS, probabilities, strict=True)
            },
        )


def _sentiment(message: str, intent: Intent) -> float:
    positive = signals.count(signals.POSITIVE, message)
    negative = signals.count(signals.NEGATIVE, message)
    score = (positive - negative) / (positive + negative + 1)
    if intent == "complaint":
        score -= 0.3
    return max(-1.0, min(1.0, score))


def _frustration(
    message: str, earlier: list[str], intent: Intent, sentiment: float, previous: Analysis | None
) -> float:
    score = 0.25 * min(signals.count(signals.FRUSTRATION, message), 2)
    score += 0.3 * min(signals.repeats(message, earlier), 2)  # asking the same thing again
    if signals.shouts(message):
        score += 0.25  # shouting
    if "!!" in message or "??" in message or "?!" in message:
        score += 0.1
    if sentiment < 0:
        score += 0.15 * -sentiment
    if intent == "complaint":
        score += 0.15
    carried = FRUSTRATION_CARRY * previous.frustration if previous else 0.0
    return min(1.0, max(score, carried))


def _stage(intent: Intent, message: str, commits: bool, booking: float, previous: Analysis | None) -> Stage:
    """Where the visitor is: complaints and account matters are customers' (retention); otherwise the
    funnel only moves forward within a conversation."""
    current: Stage
    if intent in ("account", "complaint") or (intent == "support" and _speaks_as_customer(message)):
        return "retention"
    if intent == "booking" or booking >= SIGNAL_THRESHOLD or commits:
        current = "decision"
    elif intent in ("pricing", "support"):
        current = "consideration"
    else:
        current = "awareness"
    if previous is None:
        return current
    if previous.stage == "retention":
        return "retention" if current == "awareness" else current
    return max(current, previous.stage, key=FUNNEL.index)


_OWNED = signals.words(
    r"my (?:order|account|router|device|subscription|package|invoice|booking|appointment)",
    r"mi (?:pedido|cuenta)",
    r"ma commande",
    r"mon (?:compte|colis)",
    r"meine? (?:bestellung|konto)",
)


def _speaks_as_customer(message: str) -> bool:
    return bool(_OWNED.search(message))


def _collected(texts: Iterable[str], services: Sequence[str]) -> set[Fact]:
    texts = list(texts)
    found: set[Fact] = set()
    if signals.find_service(texts, services):
        found.add("service")
    if any(signals.DATE.search(text) or signals.TIME.search(text) for text in texts):
        found.add("time")
    if signals.find_name(texts):
        found.add("name")
    if any(signals.EMAIL.search(text) for text in texts):
        found.add("email")
    return found


def _needs(intent: Intent, buying: float, booking: float, previous: Analysis | None) -> tuple[Fact, ...]:
    """What the visitor's need requires: a booking its four facts, a purchase a contact, a complaint or
    an account matter an address to follow up on."""
    booking_going = previous is not None and previous.booking_signal >= SIGNAL_THRESHOLD and intent != "complaint"
    if intent == "booking" or booking >= SIGNAL_THRESHOLD or booking_going:
        return BOOKING_NEEDS
    if buying >= SIGNAL_THRESHOLD:
        return LEAD_NEEDS
    if intent in ("complaint", "account"):
        return FOLLOW_UP_NEEDS
    return ()
