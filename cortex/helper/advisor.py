"""From a turn to hidden guidance: analyse, pick a strategy (experiment arm or bandit), phrase it.

`Advisor.advise` is the whole of the helper's live decision, as pure logic: the Guide deployment
loads the patterns and running experiments (cached), the conversation's previous analysis (Redis),
and calls it; core stores the returned `Guidance`'s pattern id, experiment and arm on the bot's
message. An experiment that covers the turn's situation decides by the visitor's sticky arm (a
pattern's instruction, a prompt addendum, or nothing: the control arm); otherwise the bandit picks
among the situation's active patterns (and, in a bounded share of turns, its candidates), its
posteriors built from the statistics credited for the bot's goal (`bandit_state`). A bot the
helper is switched off for is analysed and told nothing. Every `Guidance` names the situation it
was chosen for, and an empty one says why (`no_pattern`, `control`, `helper_off`). The visitor
never sees any of it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from cortex.contracts.guidance import Guidance, HistoryTurn
from cortex.helper.analysis import Analyser, Analysis, Stage
from cortex.helper.bandit import ArmStats, Bandit, BanditState
from cortex.helper.classifier import Intent
from cortex.helper.experiments import assign
from cortex.helper.store.settings import Goal

PatternStatus = Literal["candidate", "active", "retired"]
#: The pattern_stats column that counts a success for each goal a bot's learning optimises.
SUCCESS_COLUMN: dict[Goal, str] = {"resolution": "resolutions", "lead": "leads", "booking": "bookings"}
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
    """A running experiment: arms with traffic weights (in their fixed order), each arm a pattern id,
    a prompt addendum, both, or neither (no guidance: the control arm)."""

    experiment_id: str
    split: tuple[tuple[str, float], ...]
    arm_patterns: Mapping[str, str | None]
    intent: Intent | None = None
    stage: Stage | None = None
    arm_addenda: Mapping[str, str | None] = field(default_factory=dict)

    def covers(self, analysis: Analysis) -> bool:
        return (self.intent in (None, analysis.intent)) and (self.stage in (None, analysis.stage))

    @classmethod
    def from_arms(
        cls,
        experiment_id: str,
        arms: Iterable[Mapping[str, Any]],
        *,
        intent: Intent | None = None,
        stage: Stage | None = None,
    ) -> Experiment:
        """From the stored form: [{"name", "weight", "pattern_id" | None, "addendum" | None}, …]."""
        arms = list(arms)
        return cls(
            experiment_id=experiment_id,
            split=tuple((str(arm["name"]), float(arm["weight"])) for arm in arms),
            arm_patterns={str(arm["name"]): str(arm["pattern_id"]) if arm.get("pattern_id") else None for arm in arms},
            arm_addenda={str(arm["name"]): (arm.get("addendum") or None) for arm in arms},
            intent=intent,
            stage=stage,
        )


@dataclass(frozen=True)
class Advice:
    analysis: Analysis
    guidance: Guidance
    candidate: bool = False  # a candidate pattern tried by exploration


class Advisor:
    """The helper's live decision for one bot: its patterns and experiments, one analyser, one bandit.

    `enabled` False (the owner switched the helper off for the bot): every turn is analysed, and
    the guidance is empty with the reason `helper_off`."""

    def __init__(
        self,
        *,
        patterns: Sequence[Pattern],
        experiments: Sequence[Experiment] = (),
        analyser: Analyser | None = None,
        bandit: Bandit | None = None,
        enabled: bool = True,
    ) -> None:
        self.patterns = {pattern.pattern_id: pattern for pattern in patterns}
        self.experiments = tuple(experiments)
        self.analyser = analyser or Analyser()
        self.bandit = bandit or Bandit(rng=np.random.default_rng())
        self.enabled = enabled
        # The bandit's choice among these, per situation: the scan over the patterns runs once per situation.
        self._by_situation: dict[str, tuple[list[str], list[str]]] = {}

    def advise(
        self,
        message: str,
        *,
        embedding: Sequence[float] | np.ndarray,
        history: Sequence[HistoryTurn] = (),
        visitor_id: str | None = None,
        previous: Analysis | None = None,
    ) -> Advice:
        """Analyse the turn and choose its guidance (empty, with its reason, when nothing applies).
        `visitor_id` is the unit of sticky experiment assignment (without one, no experiment)."""
        analysis = self.analyser.analyse(message, embedding=embedding, history=history, previous=previous)
        return Advice(analysis, *self.decide(analysis, visitor_id=visitor_id))

    def decide(self, analysis: Analysis, *, visitor_id: str | None = None) -> tuple[Guidance, bool]:
        """The guidance for an analysed turn, and whether it is a candidate tried by exploration."""
        situation = analysis.situation
        if not self.enabled:
            return Guidance(situation=situation, reason="helper_off"), False
        experiment = next((e for e in self.experiments if e.covers(analysis)), None) if visitor_id else None
        if experiment is not None and visitor_id is not None:
            return self._arm(experiment, visitor_id, analysis), False
        active, candidates = self._choices(analysis)
        choice = self.bandit.choose(situation, active=active, candidates=candidates)
        if choice.pattern_id is None or choice.pattern_id not in self.patterns:
            return Guidance(situation=situation, reason="no_pattern"), False
        pattern = self.patterns[choice.pattern_id]
        text = phrase(pattern.instruction, analysis)
        return Guidance(text=text, pattern_id=pattern.pattern_id, situation=situation), choice.candidate

    def _arm(self, experiment: Experiment, visitor_id: str, analysis: Analysis) -> Guidance:
        """The visitor's sticky arm: its pattern's instruction and/or its addendum, or, for an arm
        with neither, no guidance (`control`). The experiment and arm are recorded either way."""
        arm = assign(experiment.experiment_id, visitor_id, experiment.split)
        pattern_id = experiment.arm_patterns.get(arm)
        pattern = self.patterns.get(pattern_id) if pattern_id else None
        addendum = (experiment.arm_addenda.get(arm) or "").strip()
        parts = [part for part in ((pattern.instruction.strip() if pattern else ""), addendum) if part]
        reason: Literal["control", "no_pattern"] | None = None
        if not parts:
            # An arm naming a pattern that is gone (deleted meanwhile) advises nothing, and says so.
            reason = "no_pattern" if pattern_id else "control"
        return Guidance(
            text=phrase(" ".join(parts), analysis) if parts else "",
            pattern_id=pattern.pattern_id if pattern else None,
            experiment_id=experiment.experiment_id,
            arm=arm,
            situation=analysis.situation,
            reason=reason,
        )

    def _choices(self, analysis: Analysis) -> tuple[list[str], list[str]]:
        situation = analysis.situation
        known = self._by_situation.get(situation)
        if known is None:
            matching = [p for p in self.patterns.values() if p.matches(analysis)]
            known = (
                [p.pattern_id for p in matching if p.status == "active"],
                [p.pattern_id for p in matching if p.status == "candidate"],
            )
            self._by_situation[situation] = known
        return known


def bandit_state(stats: Iterable[Mapping[str, Any]], goal: Goal) -> BanditState:
    """The bandit's counts from pattern_stats rows (pattern_id, situation, uses and the goal's column):
    successes are the goal's successes, failures the rest of the uses."""
    column = SUCCESS_COLUMN[goal]
    counts: dict[tuple[str, str], ArmStats] = {}
    for row in stats:
        uses, successes = int(row["uses"]), int(row[column])
        successes = max(0, min(successes, uses))  # a success is counted within a use; never a negative failure
        counts[(str(row["situation"]), str(row["pattern_id"]))] = ArmStats(successes, uses - successes)
    return BanditState(stats=counts)


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
