"""Experiment statistics: sticky assignment, and a sequential test that stays valid when people peek.

**Assignment.** A visitor's arm is a hash of the experiment id and the visitor id mapped onto the
traffic split, so the same visitor always lands in the same arm, on any replica, with nothing stored.

**The test.** An experiment compares the conversion rate of two arms, and owners look at it
whenever they like; a fixed-horizon test checked at every look declares a winner by chance far
more often than its 5 %. This is the mixture sequential probability ratio test (mSPRT) of Johari,
Pekelis and Walsh ("Always valid inference", 2017; Optimizely's stats engine) for the difference
θ = p_B − p_A, on its normal approximation: with θ̂ the observed difference and V its variance,

    Λ = sqrt(V / (V + τ²)) · exp(θ̂² τ² / (2 V (V + τ²)))

is a likelihood ratio against θ = 0 mixed over θ ~ N(0, τ²). The always-valid p-value is the
running minimum of 1/Λ, and its confidence sequence (the θ where Λ < 1/α, intersected over the
looks) covers θ at every look at once with probability 1 − α. A winner is declared once p ≤ α.
bench/helper_experiments.py measures the error rate (A/A runs) and the power (A/B runs).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

ALPHA = 0.05
# τ, the spread of effects the test expects: 0.02 is a 20 % relative lift on a 10 % conversion rate,
# the effect the helper must prove (issue #19). A τ near the true effect gives the most power; a τ
# far off costs power, never validity.
MIXTURE_SD = 0.02
# No verdict before each arm has this many visitors: the normal approximation and the plug-in
# variance need tens of conversions, and 200 visitors at a 10 % rate give ~20.
MIN_VISITORS = 200


def bucket(experiment_id: str, visitor_id: str) -> float:
    """A visitor's fixed point in [0, 1) for an experiment (SHA-256: uniform, the same on every replica)."""
    digest = hashlib.sha256(f"{experiment_id}\x00{visitor_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def assign(experiment_id: str, visitor_id: str, split: Sequence[tuple[str, float]]) -> str:
    """The visitor's arm: `split` is [(arm, weight), …] in a fixed order (weights need not sum to 1).
    Keep the order when editing weights, or visitors change arms."""
    total = sum(weight for _, weight in split)
    if not split or total <= 0 or any(weight < 0 for _, weight in split):
        raise ValueError("a traffic split needs arms with non-negative weights, not all zero")
    point = bucket(experiment_id, visitor_id) * total
    cumulative = 0.0
    for arm, weight in split:
        cumulative += weight
        if point < cumulative:
            return arm
    return split[-1][0]


@dataclass(frozen=True)
class ArmCounts:
    visitors: int
    conversions: int

    @property
    def rate(self) -> float:
        return self.conversions / self.visitors if self.visitors else 0.0


Decision = Literal["continue", "winner", "no_winner"]


@dataclass(frozen=True)
class Result:
    """One look at an experiment: effect of B over A with its always-valid interval, and the verdict."""

    effect: float  # p_B − p_A
    relative_lift: float | None  # effect / p_A, when p_A > 0
    ci: tuple[float, float]  # always-valid (1 − α) interval for the effect
    p_value: float  # always-valid
    decision: Decision
    winner: str | None
    looks: int


class SequentialTest:
    """The mSPRT of two arms, looked at as often as wanted: call `look` with the running totals."""

    def __init__(
        self,
        *,
        arms: tuple[str, str] = ("A", "B"),
        alpha: float = ALPHA,
        mixture_sd: float = MIXTURE_SD,
        min_visitors: int = MIN_VISITORS,
        max_visitors: int | None = None,
    ) -> None:
        self.arms = arms
        self.alpha = alpha
        self.tau2 = mixture_sd**2
        self.min_visitors = min_visitors
        #: Visitors in all (both arms) after which the experiment stops with no winner.
        self.max_visitors = max_visitors
        self.p_value = 1.0
        self.lower, self.upper = -1.0, 1.0
        self.looks = 0
        self.final: Result | None = None

    def look(self, a: ArmCounts, b: ArmCounts) -> Result:
        """The result with these totals; once stopped, the verdict it stopped with."""
        if self.final is not None:
            return self.final
        self.looks += 1
        effect = b.rate - a.rate
        lift = effect / a.rate if a.rate > 0 else None
        if min(a.visitors, b.visitors) >= self.min_visitors:
            variance = a.rate * (1 - a.rate) / a.visitors + b.rate * (1 - b.rate) / b.visitors
            if variance > 0:
                self.p_value = min(self.p_value, 1.0 / self._likelihood_ratio(effect, variance))
                half = self._half_width(variance)
                self.lower, self.upper = max(self.lower, effect - half), min(self.upper, effect + half)
        decision: Decision = "continue"
        winner = None
        if self.p_value <= self.alpha:
            decision, winner = "winner", (self.arms[1] if effect > 0 else self.arms[0])
        elif self.max_visitors is not None and a.visitors + b.visitors >= self.max_visitors:
            decision = "no_winner"
        result = Result(
            effect=effect,
            relative_lift=lift,
            ci=(self.lower, self.upper),
            p_value=self.p_value,
            decision=decision,
            winner=winner,
            looks=self.looks,
        )
        if decision != "continue":
            self.final = result
        return result

    def _likelihood_ratio(self, effect: float, variance: float) -> float:
        tau2 = self.tau2
        exponent = effect * effect * tau2 / (2 * variance * (variance + tau2))
        # exp overflows past ~709; a ratio that large has long rejected anyway.
        return math.sqrt(variance / (variance + tau2)) * math.exp(min(exponent, 700.0))

    def _half_width(self, variance: float) -> float:
        """Half the interval {θ : Λ(θ̂ − θ) < 1/α}: inverting the mixture ratio around the estimate."""
        tau2 = self.tau2
        return math.sqrt(
            variance
            * (variance + tau2)
            / tau2
            * (2 * math.log(1 / self.alpha) + math.log((variance + tau2) / variance))
        )
