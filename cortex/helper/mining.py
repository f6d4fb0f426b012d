"""Pattern mining, as pure logic: from the helper's own records to candidate patterns and retirements.

The Ray job `ingest/mine_patterns.py` reads one workspace's rows and calls these functions.

**Where the bot's strategy comes from.** The bot's words live in core, and a service never reads
another's schema. Two ways were open: fetch the bot messages of the successful conversations from
core through a deployment handle, or derive the strategy from what the helper already stores. This
module does the second, because it gives the owner an instruction that says *what worked*, not
what was written: the advice log keeps, for every visitor turn, the helper's analysis (intent,
funnel stage, frustration, buying and booking signals, the names of the facts collected so far).
What changed between a turn and the visitor's next one is what the bot's reply achieved: the
visitor gave their email after it (the bot asked for it), moved from consideration to decision
(the bot proposed a next step), started asking to book (the bot offered a slot), calmed down (the
bot acknowledged the frustration), moved on to something else (the bot answered). Those moves are
named from a fixed vocabulary (`MOVES`) and the instruction is composed from their phrases, so a
mined pattern can never carry a visitor's words, nor the bot's echo of them (a bot message often
repeats a visitor's name, address or order number; its text would have to leave core to be
mined, and an erasure would have to chase it). Analyses hold no words by construction, so an
erased visitor's conversations leave nothing readable in a pattern either.

**Mining.** Per bot and situation (the analysis's "intent/stage"), each closed conversation that
passed through the situation is one sample: the moves of the bot's replies in that situation, and
whether the conversation reached the bot's goal (resolution: resolved, lead_captured or booked;
lead: lead_captured; booking: booked). The successful samples are clustered by their moves
(leader clustering on Jaccard similarity, most common move sets first); a cluster's strategy is the
moves most of its members share. A strategy is proposed when at least `min_support` successful
conversations followed it and the lower bound of its success rate's 95 % Wilson interval, over
every conversation of the situation that followed it, is above the situation's rate: better than
what the bot usually does there, not merely frequent. Proposals are candidates (origin mined):
the bandit tries them in a bounded share of turns, or an experiment does; mining never makes a
pattern active.

**Retiring.** A pattern (active or candidate) is retired when, in a situation where it has
`MIN_USES_TO_PROMOTE` credited uses or more, even the upper bound of its 95 % Wilson interval is
below the situation's baseline (the success rate without guidance when enough such conversations
exist, else the rate of all its conversations), and in no situation with enough uses does it reach
the baseline. Patterns that are arms of a running experiment are left to the experiment. The
reason names the figures.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cortex.helper.analysis import FUNNEL
from cortex.helper.analysis import SIGNAL_THRESHOLD as SIGNAL
from cortex.helper.bandit import MIN_USES_TO_PROMOTE, ArmStats, should_retire, wilson_interval

# Frustration must fall this much after the bot's reply for it to count as calming the visitor.
CALMED_BY = 0.2
#: Successful conversations a strategy needs before it is proposed: below five, one busy visitor
#: with several conversations can make a "pattern".
MIN_SUPPORT = 5
#: Conversations a baseline needs: below 20 a situation's rate is too uncertain to retire against.
MIN_BASELINE = 20
#: Candidates proposed per situation and run, and open candidates a situation may have at most:
#: each candidate takes a share of the bandit's exploration, which is bounded.
MAX_NEW_PER_SITUATION = 2
MAX_OPEN_CANDIDATES = 3
# Move sets at least this similar (Jaccard) fall into one cluster.
CLUSTER_SIMILARITY = 0.5


@dataclass(frozen=True)
class Move:
    name: str
    phrase: str


#: What a bot's reply can be seen to have achieved, in the order an instruction lists them.
MOVES: tuple[Move, ...] = (
    Move("calm", "acknowledge the visitor's frustration in one sentence"),
    Move("answer", "answer the question directly"),
    Move("value", "make the offer concrete (what is included and what it costs)"),
    Move("next_step", "propose a concrete next step"),
    Move("offer_booking", "offer to book a slot"),
    Move("ask_details", "ask which service and time suit them"),
    Move("ask_contact", "ask for their name and email"),
)
MOVE_NAMES = tuple(move.name for move in MOVES)
_PHRASES = {move.name: move.phrase for move in MOVES}


def success(goal: str, outcomes: Sequence[str], outcome: str | None) -> bool:
    """Whether a closed conversation reached the goal (the helper's crediting rule)."""
    labels = set(outcomes) | ({outcome} if outcome else set())
    if goal == "lead":
        return "lead_captured" in labels
    if goal == "booking":
        return "booked" in labels
    return bool(labels & {"resolved", "lead_captured", "booked"})


@dataclass(frozen=True)
class Turn:
    """What mining reads of one advice-log row: the analysis's facts, and the pattern applied (if any)."""

    intent: str
    stage: str
    frustration: float = 0.0
    buying: float = 0.0
    booking: float = 0.0
    collected: frozenset[str] = frozenset()
    pattern_id: str | None = None

    @property
    def situation(self) -> str:
        return f"{self.intent}/{self.stage}"

    @classmethod
    def from_log(cls, analysis: Mapping[str, Any], guidance: Mapping[str, Any] | None) -> Turn:
        return cls(
            intent=str(analysis.get("intent") or "other"),
            stage=str(analysis.get("stage") or "awareness"),
            frustration=float(analysis.get("frustration") or 0.0),
            buying=float(analysis.get("buying_signal") or 0.0),
            booking=float(analysis.get("booking_signal") or 0.0),
            collected=frozenset(str(fact) for fact in analysis.get("collected") or ()),
            pattern_id=(str(guidance["pattern_id"]) if guidance and guidance.get("pattern_id") else None),
        )


def moves_of(before: Turn, after: Turn | None) -> frozenset[str]:
    """What the bot's reply to `before` achieved, read from the visitor's next turn (None: there was none)."""
    moves: set[str] = set()
    if after is None:
        # The visitor wrote nothing more: the reply answered (or lost) them; the outcome tells which.
        moves.add("answer")
        if before.frustration >= SIGNAL:
            moves.add("calm")
        return frozenset(moves)
    advanced = _stage_index(after.stage) > _stage_index(before.stage)
    if after.intent != before.intent or advanced:
        moves.add("answer")
    if advanced:
        moves.add("next_step")
    if before.frustration >= SIGNAL and after.frustration <= before.frustration - CALMED_BY:
        moves.add("calm")
    if after.buying >= SIGNAL > before.buying:
        moves.add("value")
    if (after.booking >= SIGNAL > before.booking) or (after.intent == "booking" != before.intent):
        moves.add("offer_booking")
    gained = after.collected - before.collected
    if gained & {"name", "email"}:
        moves.add("ask_contact")
    if gained & {"service", "time"}:
        moves.add("ask_details")
    return frozenset(moves)


def _stage_index(stage: str) -> int:
    return FUNNEL.index(stage) if stage in FUNNEL else -1


@dataclass(frozen=True)
class Sample:
    """One closed conversation in one situation: what the bot's replies there achieved, and how it ended."""

    conversation_id: str
    bot_id: str
    situation: str
    moves: frozenset[str]
    success: bool
    guided: bool  # a pattern steered at least one of its replies in this situation


def samples_of_conversation(
    conversation_id: str, bot_id: str, turns: Sequence[Turn], *, succeeded: bool
) -> list[Sample]:
    """A conversation's samples, one per situation it passed through (its turns in time order)."""
    moves: dict[str, set[str]] = {}
    guided: dict[str, bool] = {}
    for index, turn in enumerate(turns):
        after = turns[index + 1] if index + 1 < len(turns) else None
        moves.setdefault(turn.situation, set()).update(moves_of(turn, after))
        guided[turn.situation] = guided.get(turn.situation, False) or turn.pattern_id is not None
    return [
        Sample(conversation_id, bot_id, situation, frozenset(found), succeeded, guided[situation])
        for situation, found in moves.items()
    ]


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    union = a | b
    return len(a & b) / len(union) if union else 1.0


@dataclass
class Cluster:
    leader: frozenset[str]
    members: list[frozenset[str]] = field(default_factory=list)

    @property
    def strategy(self) -> frozenset[str]:
        """The moves at least half of the members share."""
        counts = Counter(move for member in self.members for move in member)
        return frozenset(move for move, count in counts.items() if 2 * count >= len(self.members))


def cluster(move_sets: Iterable[frozenset[str]], *, similarity: float = CLUSTER_SIMILARITY) -> list[Cluster]:
    """Leader clustering: the most common move sets lead; each set joins the most similar leader
    at least `similarity` alike, else leads a cluster of its own. Deterministic (ties by name)."""
    counts = Counter(moves for moves in move_sets if moves)
    clusters: list[Cluster] = []
    for moves, count in sorted(counts.items(), key=lambda item: (-item[1], sorted(item[0]))):
        best = max(clusters, key=lambda c: jaccard(c.leader, moves), default=None)
        if best is None or jaccard(best.leader, moves) < similarity:
            best = Cluster(leader=moves)
            clusters.append(best)
        best.members.extend([moves] * count)
    return clusters


def instruction(moves: Iterable[str]) -> str:
    """The instruction for a set of moves, in a fixed order: "Acknowledge …, answer …, then offer …"."""
    chosen = [name for name in MOVE_NAMES if name in set(moves)]
    phrases = [_PHRASES[name] for name in chosen]
    if not phrases:
        return ""
    text = phrases[0] if len(phrases) == 1 else ", ".join(phrases[:-1]) + ", then " + phrases[-1]
    return text[0].upper() + text[1:] + "."


def pattern_name(moves: Iterable[str], situation: str) -> str:
    chosen = [name.replace("_", " ") for name in MOVE_NAMES if name in set(moves)]
    return f"Mined: {', '.join(chosen)} ({situation})"


@dataclass(frozen=True)
class Proposal:
    """A candidate pattern to insert: its situation, moves, instruction and the evidence for it."""

    bot_id: str
    situation: str
    moves: frozenset[str]
    instruction: str
    name: str
    successes: int
    uses: int
    lower: float
    baseline: float

    @property
    def intent(self) -> str:
        return self.situation.split("/", 1)[0]

    @property
    def stage(self) -> str:
        return self.situation.split("/", 1)[1]

    def evidence(self) -> dict[str, Any]:
        return {
            "bot_id": self.bot_id,
            "situation": self.situation,
            "instruction": self.instruction,
            "successes": self.successes,
            "conversations": self.uses,
            "rate": round(self.successes / self.uses, 4),
            "lower": round(self.lower, 4),
            "baseline": round(self.baseline, 4),
        }


def propose(
    samples: Sequence[Sample],
    *,
    existing: Mapping[tuple[str, str], set[str]] | None = None,
    open_candidates: Mapping[tuple[str, str], int] | None = None,
    min_support: int = MIN_SUPPORT,
) -> list[Proposal]:
    """Candidate patterns from one bot's or several bots' samples (see the module doc).

    `existing`: per (bot id, situation), the instructions of the patterns already in scope (any
    status: a retired one is not proposed again); `open_candidates`: per (bot id, situation), how
    many candidates are already being tried."""
    existing = existing or {}
    open_candidates = open_candidates or {}
    by_group: dict[tuple[str, str], list[Sample]] = {}
    for sample in samples:
        by_group.setdefault((sample.bot_id, sample.situation), []).append(sample)
    proposals: list[Proposal] = []
    for (bot_id, situation), group in sorted(by_group.items()):
        room = min(MAX_NEW_PER_SITUATION, MAX_OPEN_CANDIDATES - open_candidates.get((bot_id, situation), 0))
        if room <= 0:
            continue
        baseline = sum(s.success for s in group) / len(group)
        found: list[Proposal] = []
        seen: set[frozenset[str]] = set()
        for group_cluster in cluster(s.moves for s in group if s.success):
            strategy = group_cluster.strategy
            if not strategy or strategy in seen:
                continue
            seen.add(strategy)
            followed = [s for s in group if strategy <= s.moves]
            successes = sum(s.success for s in followed)
            if successes < min_support:
                continue
            lower, _ = wilson_interval(successes, len(followed))
            if lower <= baseline:
                continue
            text = instruction(strategy)
            if text in existing.get((bot_id, situation), set()):
                continue
            found.append(
                Proposal(
                    bot_id=bot_id,
                    situation=situation,
                    moves=strategy,
                    instruction=text,
                    name=pattern_name(strategy, situation),
                    successes=successes,
                    uses=len(followed),
                    lower=lower,
                    baseline=baseline,
                )
            )
        found.sort(key=lambda p: (-p.lower, -p.uses, p.instruction))
        proposals.extend(found[:room])
    return proposals


@dataclass(frozen=True)
class Baseline:
    rate: float
    conversations: int
    unguided: bool  # the rate without guidance (else: of all the situation's conversations)

    def describe(self) -> str:
        which = "without guidance" if self.unguided else "all conversations"
        return f"{self.rate:.2f} ({which}, {self.conversations} conversations)"


def baselines(samples: Iterable[Sample], *, minimum: int = MIN_BASELINE) -> dict[str, Baseline]:
    """Per situation, the success rate to judge patterns against: without guidance when at least
    `minimum` such conversations exist, else over all of them (when at least `minimum`)."""
    unguided: dict[str, list[bool]] = {}
    every: dict[str, list[bool]] = {}
    for sample in samples:
        every.setdefault(sample.situation, []).append(sample.success)
        if not sample.guided:
            unguided.setdefault(sample.situation, []).append(sample.success)
    found: dict[str, Baseline] = {}
    for situation, outcomes in every.items():
        plain = unguided.get(situation, [])
        if len(plain) >= minimum:
            found[situation] = Baseline(sum(plain) / len(plain), len(plain), True)
        elif len(outcomes) >= minimum:
            found[situation] = Baseline(sum(outcomes) / len(outcomes), len(outcomes), False)
    return found


@dataclass(frozen=True)
class Retirement:
    pattern_id: str
    reason: str


def retirements(
    stats: Mapping[str, Mapping[str, ArmStats]],
    baselines_by_pattern: Mapping[str, Mapping[str, Baseline]],
    *,
    in_experiments: Collection[str] = (),
) -> list[Retirement]:
    """Patterns that stopped working: `stats` per pattern id, per situation (successes for the
    pattern's goal); `baselines_by_pattern`: the baselines of the pattern's scope, per situation."""
    found: list[Retirement] = []
    for pattern_id, per_situation in sorted(stats.items()):
        if pattern_id in in_experiments:
            continue
        scope = baselines_by_pattern.get(pattern_id, {})
        failing: list[str] = []
        working = False
        for situation, arm in sorted(per_situation.items()):
            baseline = scope.get(situation)
            if baseline is None:
                continue
            if should_retire(arm, baseline.rate):
                _, upper = wilson_interval(arm.successes, arm.uses)
                failing.append(
                    f"{situation}: {arm.successes} successes in {arm.uses} uses, upper 95% bound {upper:.2f} "
                    f"below the baseline {baseline.describe()}"
                )
            elif arm.uses >= MIN_USES_TO_PROMOTE:
                working = True
        if failing and not working:
            found.append(Retirement(pattern_id, "stopped working (mined): " + "; ".join(failing)))
    return found
