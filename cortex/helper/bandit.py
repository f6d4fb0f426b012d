"""Which strategy to advise in a situation: Thompson sampling on Beta posteriors, and the ranking rule.

Each (situation, pattern) pair has a Beta posterior over its success rate: a prior (α, β) plus the
successes and failures credited to it. `Bandit.choose` draws one rate from each active pattern's
posterior and advises the highest draw, so a pattern is advised as often as it is likely to be the
best: the helper keeps exploring while it exploits. Candidate patterns (mined, not yet proven) are
drawn only in a bounded share of turns (`candidate_share`): a candidate goes live only through that
exploration or an experiment. Outcomes are applied once per outcome id, so a redelivered event
changes nothing.

Patterns are ranked by the lower bound of their Wilson interval, never by the raw rate: 1 success
in 1 use is not better than 80 in 100.

Everything here is pure and deterministic given the injected random generator; the live path keeps
the counts in Postgres and the Bandit is rebuilt from them (`BanditState`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

#: The arm that advises nothing: include it among the active patterns to learn whether guidance helps at all.
NO_GUIDANCE_ARM = "none"
# 0.1: one turn in ten may try an unproven pattern. A candidate's traffic is bounded by this share,
# and at ~1,000 turns a day in a situation it still collects ~100 outcomes a day.
CANDIDATE_SHARE = 0.1
Z_95 = 1.959964  # two-sided 95 %


@dataclass(frozen=True)
class Prior:
    """Beta(α, β) before any outcome; Beta(1, 1) is uniform. An imported pattern may come with a stronger one."""

    alpha: float = 1.0
    beta: float = 1.0


@dataclass
class ArmStats:
    successes: int = 0
    failures: int = 0

    @property
    def uses(self) -> int:
        return self.successes + self.failures


@dataclass(frozen=True)
class Choice:
    """The pattern to advise (None: no guidance), whether it was a candidate tried by exploration, and its draw."""

    pattern_id: str | None
    candidate: bool = False
    draw: float = 0.0


@dataclass
class BanditState:
    """What the bandit knows: counts per (situation, pattern), and the outcome ids already applied."""

    stats: dict[tuple[str, str], ArmStats] = field(default_factory=dict)
    applied_outcomes: set[str] = field(default_factory=set)


class Bandit:
    """Thompson sampling per situation × pattern, with priors, bounded candidate exploration and idempotent updates."""

    def __init__(
        self,
        *,
        rng: np.random.Generator,
        prior: Prior = Prior(),
        priors: Mapping[tuple[str, str], Prior] | None = None,
        candidate_share: float = CANDIDATE_SHARE,
        state: BanditState | None = None,
    ) -> None:
        if not 0.0 <= candidate_share <= 1.0:
            raise ValueError("candidate_share is a share of turns, between 0 and 1")
        self.rng = rng
        self.prior = prior
        self.priors = dict(priors or {})
        self.candidate_share = candidate_share
        self.state = state or BanditState()

    def stats(self, situation: str, pattern_id: str) -> ArmStats:
        return self.state.stats.get((situation, pattern_id), ArmStats())

    def posterior(self, situation: str, pattern_id: str) -> tuple[float, float]:
        """(α, β) of the pattern's success rate in the situation: its prior plus its outcomes."""
        prior = self.priors.get((situation, pattern_id), self.prior)
        stats = self.stats(situation, pattern_id)
        return prior.alpha + stats.successes, prior.beta + stats.failures

    def choose(self, situation: str, *, active: Sequence[str], candidates: Sequence[str] = ()) -> Choice:
        """The pattern to advise now. Candidates are tried in `candidate_share` of turns (all of them
        when the situation has no active pattern, so a new situation only ever sees candidates that often)."""
        explore = bool(candidates) and self.rng.random() < self.candidate_share
        if explore:
            pattern_id, draw = self._thompson(situation, candidates)
            return Choice(pattern_id=pattern_id, candidate=True, draw=draw)
        if not active:
            return Choice(pattern_id=None)
        pattern_id, draw = self._thompson(situation, active)
        return Choice(pattern_id=pattern_id, draw=draw)

    def _thompson(self, situation: str, pattern_ids: Sequence[str]) -> tuple[str, float]:
        posteriors = [self.posterior(situation, pattern_id) for pattern_id in pattern_ids]
        draws = self.rng.beta([a for a, _ in posteriors], [b for _, b in posteriors])
        best = int(np.argmax(draws))
        return pattern_ids[best], float(draws[best])

    def record(self, *, outcome_id: str, situation: str, pattern_id: str, success: bool) -> bool:
        """Credit one outcome to the pattern advised in the situation; False (and no change) when this
        outcome id was applied before."""
        if outcome_id in self.state.applied_outcomes:
            return False
        self.state.applied_outcomes.add(outcome_id)
        stats = self.state.stats.setdefault((situation, pattern_id), ArmStats())
        if success:
            stats.successes += 1
        else:
            stats.failures += 1
        return True


def wilson_interval(successes: int, uses: int, z: float = Z_95) -> tuple[float, float]:
    """The Wilson score interval of a success rate ((0, 1) with no uses): honest at small counts."""
    if uses <= 0:
        return 0.0, 1.0
    rate = successes / uses
    denominator = 1 + z * z / uses
    centre = (rate + z * z / (2 * uses)) / denominator
    half = z * math.sqrt(rate * (1 - rate) / uses + z * z / (4 * uses * uses)) / denominator
    lower = 0.0 if successes <= 0 else max(0.0, centre - half)
    upper = 1.0 if successes >= uses else min(1.0, centre + half)  # exact at the edges, not 1 - 1e-16
    return lower, upper


def beta_interval(alpha: float, beta: float, level: float = 0.95) -> tuple[float, float]:
    """The central credible interval of Beta(α, β) (for a posterior with its prior)."""
    from scipy.special import betaincinv  # scipy comes with scikit-learn; imported here, off the live path

    tail = (1 - level) / 2
    return float(betaincinv(alpha, beta, tail)), float(betaincinv(alpha, beta, 1 - tail))


@dataclass(frozen=True)
class RankedPattern:
    pattern_id: str
    successes: int
    uses: int
    rate: float
    lower: float
    upper: float


def rank(stats: Mapping[str, ArmStats] | Iterable[tuple[str, ArmStats]]) -> list[RankedPattern]:
    """Patterns best first by the lower bound of their 95 % Wilson interval (ties: more uses first)."""
    items = stats.items() if isinstance(stats, Mapping) else stats
    ranked = []
    for pattern_id, arm in items:
        lower, upper = wilson_interval(arm.successes, arm.uses)
        rate = arm.successes / arm.uses if arm.uses else 0.0
        ranked.append(RankedPattern(pattern_id, arm.successes, arm.uses, rate, lower, upper))
    return sorted(ranked, key=lambda p: (-p.lower, -p.uses, p.pattern_id))


# A candidate needs this many outcomes before promotion is considered: below ~30 the Wilson bound
# is too wide to beat a proven pattern anyway, and one lucky streak must not promote it.
MIN_USES_TO_PROMOTE = 30


def should_promote(candidate: ArmStats, best_active: ArmStats | None) -> bool:
    """A candidate becomes active once its lower bound beats the best active pattern's raw rate
    (or, with no active pattern, once it has enough outcomes to be judged at all)."""
    if candidate.uses < MIN_USES_TO_PROMOTE:
        return False
    if best_active is None or best_active.uses == 0:
        return True
    lower, _ = wilson_interval(candidate.successes, candidate.uses)
    return lower > best_active.successes / best_active.uses


def should_retire(pattern: ArmStats, baseline_rate: float) -> bool:
    """A pattern stopped working when even its upper bound is below the rate with no guidance."""
    if pattern.uses < MIN_USES_TO_PROMOTE:
        return False
    _, upper = wilson_interval(pattern.successes, pattern.uses)
    return upper < baseline_rate
