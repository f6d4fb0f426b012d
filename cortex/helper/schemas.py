"""Request and response models of the helper API: analysis and guidance previews, patterns with their
statistics, experiments with their live results, per-bot settings, and the helper's view of a conversation.

Input is strict: unknown fields are refused, intents and stages must be the analyser's own
(`classifier.INTENTS`, `analysis.Stage`), and an experiment's arms are checked here for their shape
(2..4, unique names, positive weights) and by the service for what needs the database (the patterns
exist in the workspace and in the experiment's scope).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StringConstraints, field_validator, model_validator

from cortex.helper.advisor import MAX_GUIDANCE_CHARS
from cortex.helper.analysis import Fact, Stage
from cortex.helper.classifier import Intent
from cortex.helper.store.settings import Goal

PatternStatus = Literal["candidate", "active", "retired"]
ExperimentStatus = Literal["running", "stopped"]
Metric = Goal
# A question as long as core's chat accepts (ChatIn.message).
MAX_MESSAGE_CHARS = 4000
# The history window the Guide reads (analysis.WINDOW is 6 visitor turns; with the bot's replies, 20
# covers it).
MAX_HISTORY_TURNS = 20
# An example is one visitor message, as a chat turn is.
MAX_EXAMPLE_CHARS = MAX_MESSAGE_CHARS
# An instruction must say something ("offer a demo", 12 characters), and fit the prompt's guidance
# budget (advisor.MAX_GUIDANCE_CHARS, which also leaves room for the frustration and missing-facts
# parts the advisor adds around it).
MIN_INSTRUCTION_CHARS = 10
MAX_INSTRUCTION_CHARS = MAX_GUIDANCE_CHARS - 100
MAX_ADDENDUM_CHARS = MAX_INSTRUCTION_CHARS
# One import request (all or nothing, in one transaction, embedded in one batch).
MAX_IMPORT_ROWS = 500
MIN_ARMS, MAX_ARMS = 2, 4
# A weight is a share of traffic relative to the others ("50/50", "90/10"); 1000 allows 0.1 % steps.
MAX_WEIGHT = 1000.0

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]
ArmName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40, pattern=r"^[\w .+-]+$")]
Instruction = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=MIN_INSTRUCTION_CHARS, max_length=MAX_INSTRUCTION_CHARS)
]
Addendum = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=MIN_INSTRUCTION_CHARS, max_length=MAX_ADDENDUM_CHARS)
]
Example = Annotated[str, StringConstraints(strip_whitespace=True, max_length=MAX_EXAMPLE_CHARS)]
Message = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_MESSAGE_CHARS)]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- analysis and guidance ------------------------------------------------------------------------------


class HistoryTurnIn(Strict):
    role: Literal["visitor", "bot", "agent", "system"]
    text: str = Field(max_length=MAX_MESSAGE_CHARS)


class AnalyzeIn(Strict):
    bot_id: uuid.UUID
    message: Message
    history: list[HistoryTurnIn] = Field(default_factory=list, max_length=MAX_HISTORY_TURNS)
    conversation_id: uuid.UUID | None = Field(
        None, description="the conversation's latest cached analysis carries over (stage, frustration, turns)"
    )


class GuidanceIn(AnalyzeIn):
    visitor_id: str | None = Field(
        None, min_length=1, max_length=200, description="the unit of sticky experiment assignment"
    )


class AnalysisPublic(BaseModel):
    """What the helper saw in a turn: intents, scores and the names of facts, never the visitor's words."""

    situation: str
    intent: Intent
    intent_confidence: float
    intent_probabilities: dict[str, float]
    stage: Stage
    sentiment: float
    sentiment_label: Literal["negative", "neutral", "positive"]
    frustration: float
    churn_risk: float
    buying_signal: float
    booking_signal: float
    missing: list[Fact]
    collected: list[Fact]
    visitor_turns: int


class GuidancePublic(BaseModel):
    """The hidden guidance: an instruction for the bot (empty: none, and `reason` says why)."""

    text: str
    pattern_id: str | None
    experiment_id: str | None
    arm: str | None
    situation: str | None
    reason: str | None


class GuidanceOut(BaseModel):
    analysis: AnalysisPublic
    guidance: GuidancePublic
    candidate: bool = Field(description="a candidate pattern tried by the bandit's exploration")
    enabled: bool = Field(description="the helper steers this bot (helper settings)")
    goal: Goal


# -- patterns -------------------------------------------------------------------------------------------


class PatternCreate(Strict):
    name: Name
    bot_id: uuid.UUID | None = Field(None, description="none: every bot of the workspace")
    intent: Intent | None = Field(None, description="none: any intent")
    stage: Stage | None = Field(None, description="none: any stage")
    example: Example = Field("", description="a visitor message of the situation; its embedding is kept")
    instruction: Instruction
    status: Literal["candidate", "active"] = Field(
        "active", description="candidate: advised only in the bandit's exploration share, or in an experiment"
    )


class PatternUpdate(Strict):
    """Only the fields given change; `bot_id`, `intent` and `stage` may be set to null (any)."""

    name: Name | None = None
    bot_id: uuid.UUID | None = None
    intent: Intent | None = None
    stage: Stage | None = None
    example: Example | None = None
    instruction: Instruction | None = None
    status: PatternStatus | None = None
    retired_reason: Reason | None = None

    @model_validator(mode="after")
    def _not_null(self) -> PatternUpdate:
        for name in ("name", "example", "instruction", "status"):
            if name in self.model_fields_set and getattr(self, name) is None:
                raise ValueError(f"{name} may not be null")
        if self.retired_reason is not None and self.status not in (None, "retired"):
            raise ValueError("retired_reason goes with status retired")
        return self


class SituationStats(BaseModel):
    situation: str
    uses: int
    successes: int
    rate: float
    lower: float
    upper: float


class PatternStats(BaseModel):
    """Outcomes credited to the pattern: `successes` per `metric` (the bot's goal, or the one asked for),
    its rate and 95 % Wilson interval; patterns are ranked by `lower`, never by the raw rate."""

    metric: Metric
    uses: int
    successes: int
    rate: float
    lower: float
    upper: float
    resolutions: int
    leads: int
    bookings: int
    escalations: int
    thumbs_up: int
    thumbs_down: int
    situations: list[SituationStats]


class PatternPublic(BaseModel):
    id: uuid.UUID
    bot_id: uuid.UUID | None
    name: str
    intent: str | None
    stage: str | None
    example: str
    instruction: str
    status: PatternStatus
    origin: Literal["owner", "import", "mined"]
    retired_reason: str | None
    created_at: datetime
    updated_at: datetime
    stats: PatternStats


class ImportRowError(BaseModel):
    index: int
    field: str
    message: str


class PatternImportOut(BaseModel):
    imported: int
    patterns: list[PatternPublic]


# -- experiments ----------------------------------------------------------------------------------------


class ArmIn(Strict):
    """An arm: a pattern's instruction, a prompt addendum, both, or neither (no guidance: a control arm)."""

    name: ArmName
    weight: float = Field(gt=0, le=MAX_WEIGHT, allow_inf_nan=False)
    pattern_id: uuid.UUID | None = None
    addendum: Addendum | None = None


class ExperimentCreate(Strict):
    name: Name
    bot_id: uuid.UUID | None = Field(None, description="none: every bot of the workspace")
    intent: Intent | None = Field(None, description="the situation it covers; none: any intent")
    stage: Stage | None = Field(None, description="none: any stage")
    metric: Metric
    arms: list[ArmIn] = Field(
        min_length=MIN_ARMS, max_length=MAX_ARMS, description="in a fixed order: the first is the baseline"
    )
    auto_promote: StrictBool = Field(False, description="promote the winner as soon as the test declares one")

    @field_validator("arms")
    @classmethod
    def _unique_names(cls, arms: list[ArmIn]) -> list[ArmIn]:
        names = [arm.name.casefold() for arm in arms]
        if len(set(names)) != len(names):
            raise ValueError("arm names must be unique")
        return arms


class PromoteIn(Strict):
    arm: ArmName | None = Field(None, description="the arm to promote; none: the winner the test declared")


class ArmResult(BaseModel):
    name: str
    pattern_id: uuid.UUID | None
    addendum: str | None
    weight: float
    visitors: int
    conversions: int
    rate: float
    lower: float
    upper: float


class Comparison(BaseModel):
    """An arm against the baseline (the first arm): the effect with its always-valid interval."""

    arm: str
    baseline: str
    effect: float = Field(description="difference of conversion rates, arm minus baseline")
    relative_lift: float | None = Field(description="effect / baseline rate (none while the baseline has none)")
    ci_low: float
    ci_high: float
    p_value: float = Field(description="always valid: stays valid whenever and however often one looks")
    decision: Literal["continue", "winner"]
    winner: str | None


class ExperimentResults(BaseModel):
    units: int = Field(
        description="visitors (a conversation without a visitor counts as one) whose conversation closed"
    )
    alpha: float
    min_visitors: int = Field(description="per arm, before any verdict")
    arms: list[ArmResult]
    comparisons: list[Comparison]
    verdict: Literal["continue", "winner"]
    winner: str | None
    visitors_needed_per_arm: int | None = Field(
        description="about how many visitors each arm needs before the test can tell this effect (or, until "
        "there is one, a 20 % relative lift) from none; none when it is decided"
    )
    guidance: str


class ExperimentPublic(BaseModel):
    id: uuid.UUID
    bot_id: uuid.UUID | None
    name: str
    intent: str | None
    stage: str | None
    metric: Metric
    arms: list[dict[str, Any]]
    status: ExperimentStatus
    auto_promote: bool
    winner: str | None
    created_at: datetime
    started_at: datetime
    stopped_at: datetime | None
    stopped_reason: str | None
    results: ExperimentResults


# -- settings and conversations -------------------------------------------------------------------------


class BotSettingsIn(Strict):
    enabled: StrictBool
    goal: Goal


class BotSettingsPublic(BaseModel):
    bot_id: uuid.UUID
    enabled: bool
    goal: Goal
    updated_at: datetime | None = Field(description="none: never set (the defaults apply)")


class AdviceTurn(BaseModel):
    created_at: datetime
    analysis: dict[str, Any]
    guidance: dict[str, Any]


class ApplicationPublic(BaseModel):
    message_id: uuid.UUID
    pattern_id: uuid.UUID | None
    experiment_id: uuid.UUID | None
    arm: str | None
    situation: str | None
    rating: int | None
    created_at: datetime


class ConversationView(BaseModel):
    """What the helper saw and advised per turn, the guidance each bot message carried, and the outcome."""

    conversation_id: uuid.UUID
    bot_id: uuid.UUID | None
    started_at: datetime | None
    closed_at: datetime | None
    outcome: str | None
    outcomes: list[str]
    turns: list[AdviceTurn]
    applications: list[ApplicationPublic]
