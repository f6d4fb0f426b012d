"""From a turn to hidden guidance: analyse, pick a strategy (experiment arm or bandit), phrase it.

`Advisor.advise` is the whole of the helper's live decision, as pure logic: the Guide deployment
loads the patterns and running experiments (cached), the conversation's previous analysis (Redis),
and calls it; core stores the returned `Guidance`'s pattern id, experiment and arm on the bot's
message. An experiment that covers the turn's situation decides by the visitor's sticky arm;
otherwise the bandit picks among the situation's active patterns (and, in a bounded share of
turns, its candidates). The visitor never sees any of it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from cortex.contracts.guidance import NO_GUIDANCE, Guidance, HistoryTurn
from cortex.helper.analysis import Analyser, Analysis, Stage
from cortex.helper.bandit import Bandit
from cortex.helper.classifier import Intent
from cortex.helper.experiments import assign

PatternStatus = Literal["candidate", "active", "retired"]
# A frustrated visitor gets an answer first and an acknowledgement, whatever the strategy; 0.5 is
# e.g. a repeated question with a "still", or shouting with "!!".
FRUSTRATED = 0.5
MAX_GUIDANCE_CHARS = 400  # guidance goes into the prompt's system part: short, or it crowds the passages


@dataclass(frozen=True)
class Pattern:
    """A strategy for a situation: `intent`/`stage` None matches any."""

    pattern_id: str
    instruction: str
    status: PatternStatus = "active"
    intent: Intent | None = None
    stage: Stage | None = None

    def matches(self, analysis: Analysis) -> bool:
        return (self.intent in (None, analysis.intent)) and (self.stage in (None, analysis.stage))


@dataclass(frozen=True)
class Experiment:
    """A running experiment: arms with traffic weights, each arm a pattern id or None (no guidance)."""

    experiment_id: str
    split: tuple[tuple[str, float], ...]
    arm_patterns: dict[str, str | None]
    intent: Intent | None = None
    stage: Stage | None = None

    def covers(self, analysis: Analysis) -> bool:
        return (self.intent in (None, analysis.intent)) and (self.stage in (None, analysis.stage))


@dataclass(frozen=True)
class Advice:
    analysis: Analysis
    guidance: Guidance
    candidate: bool = False  # a candidate pattern tried by exploration


class Advisor:
    """The helper's live decision for one bot: its patterns and experiments, one analyser, one bandit."""

    def __init__(
        self,
        *,
        patterns: Sequence[Pattern],
        experiments: Sequence[Experiment] = (),
        analyser: Analyser | None = None,
        bandit: Bandit | None = None,
    ) -> None:
        self.patterns = {pattern.pattern_id: pattern for pattern in patterns}
        self.experiments = tuple(experiments)
        self.analyser = analyser or Analyser()
        self.bandit = bandit or Bandit(rng=np.random.default_rng())

    def advise(
        self,
        message: str,
        *,
        embedding: Sequence[float] | np.ndarray,
        history: Sequence[HistoryTurn] = (),
        visitor_id: str | None = None,
        previous: Analysis | None = None,
    ) -> Advice:
        """Analyse the turn and choose its guidance (NO_GUIDANCE when nothing applies)."""
        analysis = self.analyser.analyse(message, embedding=embedding, history=history, previous=previous)
        experiment = next((e for e in self.experiments if e.covers(analysis)), None) if visitor_id else None
        if experiment is not None and visitor_id is not None:
            arm = assign(experiment.experiment_id, visitor_id, experiment.split)
            pattern_id = experiment.arm_patterns.get(arm)
            pattern = self.patterns.get(pattern_id) if pattern_id else None
            return Advice(
                analysis,
                Guidance(
                    text=phrase(pattern.instruction, analysis) if pattern else "",
                    pattern_id=pattern.pattern_id if pattern else None,
                    experiment_id=experiment.experiment_id,
                    arm=arm,
                ),
            )
        matching = [p for p in self.patterns.values() if p.matches(analysis)]
        choice = self.bandit.choose(
            analysis.situation,
            active=[p.pattern_id for p in matching if p.status == "active"],
            candidates=[p.pattern_id for p in matching if p.status == "candidate"],
        )
        if choice.pattern_id is None or choice.pattern_id not in self.patterns:
            return Advice(analysis, NO_GUIDANCE)
        pattern = self.patterns[choice.pattern_id]
        guidance = Guidance(text=phrase(pattern.instruction, analysis), pattern_id=pattern.pattern_id)
        return Advice(analysis, guidance, candidate=choice.candidate)


def phrase(instruction: str, analysis: Analysis) -> str:
    """The pattern's instruction, preceded by what the analysis says must come first: calm a
    frustrated visitor, and collect what the visitor's need still lacks, one thing at a time."""
    parts = []
    if analysis.frustration >= FRUSTRATED:
        parts.append("The visitor is frustrated: acknowledge it in one sentence and answer directly.")
    parts.append(instruction.strip())
    if analysis.missing:
        parts.append(f"Still missing: {', '.join(analysis.missing)}; ask for one of them.")
    text = " ".join(parts)
    return text if len(text) <= MAX_GUIDANCE_CHARS else text[: MAX_GUIDANCE_CHARS - 1].rstrip() + "…"
