"""The helper's learning, proved end to end: simulated visitors chat with two bots, one learning.

Visitors come from a population of situations (a pricing question, a demo to book, a product
question, a complaint, an account matter), each a set of questions the shipped classifier puts in
that situation ("intent/stage"). Each situation has strategies (the patterns an owner would write),
and every visitor converts (fills in the widget's lead form) with a hidden probability that
depends only on the situation and the strategy the bot was told to follow: no guidance has its own
probability, some strategies do worse than none, one does better. The LLM is the zero-latency
stand-in, which ignores the prompt: what decides a visitor is the pattern id core recorded on the
bot's message, read back as the owner reads it.

Everything goes through the product (`run_live`):
- each visitor gets a token from the widget key (POST /api/auth/visitor-token), asks its question
  (POST /api/chat, the whole turn: embedding, knowledge, the helper's Guide, the prompt, the LLM);
- the owner reads the bot's message (GET /api/conversations/{id}: pattern_id, experiment_id, arm,
  situation, no_guidance) and the simulator draws the visitor's decision from the hidden table;
- a converting visitor sends the lead form (POST /api/chat/lead: `lead.captured`, the conversation
  labelled lead_captured); then the owner closes the conversation (PATCH status closed:
  `conversation.closed`), which the helper's consumer credits to the patterns the conversation
  carried; the Guide reloads the statistics every CORTEX_HELPER_REFRESH_S and its Thompson sampler
  moves traffic to what works.
Two bots of two workspaces on the same stack face the same visitors, pair by pair, interleaved:
bot L with the patterns and the goal "lead", bot B with the helper switched off for it
(PUT /api/helper/bots/{id}/settings enabled=false: no guidance). Conversion is compared with a
two-proportion interval (`lift_interval`) and a bootstrap one (`bootstrap_lift`).

`simulate_bandit` runs the same population and the same Thompson sampler (cortex.helper.bandit) in
this process, no stack: what the statistics should look like, and how often a run of this size
misses the target by chance.

Run: `python -m bench.helper_sim --in-process` (seconds); the live run is part of
`make bench-helper` (bench/helper_bench.py).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx
import numpy as np

from cortex.helper.bandit import ArmStats, Bandit, BanditState, wilson_interval

SEED = 19
BLOCK = 200  # conversations per point of the learning curve
Z_95 = 1.959964
ORIGIN = "https://sim.example"


# -- the population ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Strategy:
    """A pattern an owner would write for a situation, and (hidden) how often its visitors convert."""

    name: str
    instruction: str
    converts: float


@dataclass(frozen=True)
class Situation:
    """Visitors in one "intent/stage": their share of traffic, what they ask, and (hidden) how often
    they convert with no guidance and with each strategy."""

    key: str
    weight: float
    questions: tuple[str, ...]
    no_guidance: float
    strategies: tuple[Strategy, ...] = ()

    @property
    def intent(self) -> str:
        return self.key.split("/")[0]

    @property
    def stage(self) -> str:
        return self.key.split("/")[1]

    def converts(self, strategy: str | None) -> float:
        """The hidden conversion probability with `strategy` (None, or a strategy not written for
        this situation: no guidance)."""
        return next((s.converts for s in self.strategies if s.name == strategy), self.no_guidance)

    @property
    def best(self) -> float:
        return max([self.no_guidance, *(s.converts for s in self.strategies)])


# The hidden truth of the simulation (the goal is a lead: the visitor fills in the lead form). Per
# situation, a strategy better than no guidance, and others worse: a helper advising at random
# converts about as well as no guidance (`Population.rates()["random"]`); only learning which
# strategy works, from outcomes, lifts conversion. Account matters have no pattern at all: the
# helper says nothing there, and they convert the same on both bots.
SITUATIONS: tuple[Situation, ...] = (
    Situation(
        "pricing/consideration",
        0.30,
        (
            "How much does the Pro plan cost per month?",
            "What are your prices for a team of five?",
            "Is there a discount on the yearly plan?",
            "How much is the setup fee?",
            "what does the basic plan cost",
            "Do you charge per user?",
        ),
        no_guidance=0.20,
        strategies=(
            Strategy("price-then-demo", "Answer the pricing question, then offer a short demo and a free trial.", 0.30),
            Strategy("discount-first", "Lead with the yearly discount before answering the question.", 0.12),
            Strategy("compare-all-plans", "Compare every plan in detail, feature by feature.", 0.16),
        ),
    ),
    Situation(
        "booking/decision",
        0.25,
        (
            "Can I book a demo for Tuesday afternoon?",
            "I'd like to schedule a consultation next week",
            "Can I book an onboarding call on Friday?",
            "Is there a slot for a demo tomorrow morning?",
            "book me a call with sales on Monday",
            "I want to book a training session",
        ),
        no_guidance=0.30,
        strategies=(
            Strategy("confirm-and-offer-slots", "Confirm what they want to book and propose two concrete times.", 0.42),
            Strategy("upsell-first", "Suggest the premium plan before booking anything.", 0.22),
            Strategy("collect-everything", "Ask for every detail (company, size, budget) first.", 0.26),
        ),
    ),
    Situation(
        "support/consideration",
        0.20,
        (
            "Does it integrate with Google Calendar?",
            "How do I export my data to CSV?",
            "Can I use it on my phone?",
            "Does it work with Outlook?",
            "how do I add a team member",
            "Is there an API for the reports?",
        ),
        no_guidance=0.10,
        strategies=(
            Strategy("answer-then-trial", "Answer the question, then offer the free trial to try it.", 0.15),
            Strategy("hard-sell", "Push the visitor to buy today.", 0.06),
            Strategy("link-to-docs", "Point to the documentation instead of answering.", 0.09),
        ),
    ),
    Situation(
        "complaint/retention",
        0.15,
        (
            "My invoice was charged twice, this is unacceptable",
            "The app keeps crashing and nobody answers my emails",
            "I am very unhappy with the support I got",
            "Your last update broke my reports, terrible",
            "I was billed after I cancelled, not acceptable",
            "This is the third time the sync fails, I'm fed up",
        ),
        no_guidance=0.04,
        strategies=(
            Strategy("apologise-then-callback", "Apologise once, say what happens next, offer a call back.", 0.08),
            Strategy("offer-coupon", "Offer a discount coupon for the inconvenience.", 0.03),
            Strategy("explain-policy", "Explain the relevant policy in full.", 0.02),
        ),
    ),
    Situation(
        "account/retention",
        0.10,
        ("How do I change the email on my account?", "I can't log in to my account"),
        no_guidance=0.06,
    ),
)

# What the bots know (both the same): a sentence that answers each question above, so every turn is
# written by the LLM (a question knowledge cannot answer gets a fixed "I don't know" with no guidance).
DOCUMENTS: tuple[dict[str, str], ...] = (
    {
        "id": "pricing",
        "title": "Plannly pricing",
        "text": (
            "The Basic plan costs 9 euros per user per month. The Pro plan costs 19 euros per user per month. "
            "We charge per user: a team of five on Pro pays 95 euros per month. "
            "The yearly plan has a 20% discount on every plan. There is no setup fee."
        ),
    },
    {
        "id": "demos",
        "title": "Demos, consultations and training",
        "text": (
            "You can book a free 30-minute demo with our sales team on any weekday, morning or afternoon. "
            "Consultations, onboarding calls and training sessions are booked the same way, on any weekday. "
            "A call with sales can be scheduled for Monday to Friday, from 9am to 5pm. "
            "You can schedule a consultation for next week or any week after. "
            "There are demo slots every morning and afternoon, tomorrow morning included."
        ),
    },
    {
        "id": "integrations",
        "title": "Integrations and apps",
        "text": (
            "Plannly integrates with Google Calendar and with Outlook. "
            "The mobile app works on iPhone and Android phones: you can use Plannly on your phone. "
            "You can export your data to CSV from the Reports page. "
            "The reports API is available on every plan and documented in the developer guide. "
            "To add a team member, open Settings, then Team, and send an invitation."
        ),
    },
    {
        "id": "problems",
        "title": "Billing problems, crashes and support",
        "text": (
            "If your invoice was charged twice or you were billed after you cancelled, we refund the charge within "
            "five working days. If the app keeps crashing or the sync fails, our support team answers every email "
            "within one working day. "
            "If the last update broke your reports, support restores your reports the same day. "
            "If the sync fails again and again, a developer fixes your sync within two days. "
            "If you are unhappy with the support you got, a team lead reviews your case and calls you back."
        ),
    },
    {
        "id": "account",
        "title": "Your account",
        "text": (
            "You can change the email on your account under Settings, then Profile. "
            "If you can't log in to your account, use the password reset link on the login page."
        ),
    },
)


@dataclass(frozen=True)
class Visitor:
    situation: str
    question: str


class Population:
    """The situations with their weights and hidden conversion probabilities."""

    def __init__(self, situations: Sequence[Situation] = SITUATIONS) -> None:
        total = sum(s.weight for s in situations)
        if not math.isclose(total, 1.0, abs_tol=1e-9):
            raise ValueError(f"situation weights sum to {total}, not 1")
        for situation in situations:
            names = [s.name for s in situation.strategies]
            if len(set(names)) != len(names):
                raise ValueError(f"{situation.key}: strategy names repeat")
            if not situation.questions:
                raise ValueError(f"{situation.key}: no questions")
            for p in (situation.no_guidance, *(s.converts for s in situation.strategies)):
                if not 0.0 <= p <= 1.0:
                    raise ValueError(f"{situation.key}: probability {p} outside [0, 1]")
        self.situations = {s.key: s for s in situations}
        self._keys = [s.key for s in situations]
        self._weights = np.array([s.weight for s in situations])

    def draw(self, rng: np.random.Generator) -> Visitor:
        """One visitor: a situation by its weight, one of its questions at random."""
        situation = self.situations[self._keys[int(rng.choice(len(self._keys), p=self._weights))]]
        return Visitor(situation.key, situation.questions[int(rng.integers(len(situation.questions)))])

    def converts(self, situation: str, strategy: str | None) -> float:
        return self.situations[situation].converts(strategy)

    def rates(self) -> dict[str, float]:
        """Expected conversion: no guidance, a helper picking strategies at random where it has any,
        and one that always knew the best (the most learning can give)."""

        def expected(pick: Callable[[Situation], float]) -> float:
            return sum(s.weight * pick(s) for s in self.situations.values())

        return {
            "no_guidance": round(expected(lambda s: s.no_guidance), 4),
            "random_strategy": round(
                expected(
                    lambda s: float(np.mean([x.converts for x in s.strategies])) if s.strategies else s.no_guidance
                ),
                4,
            ),
            "best_strategy": round(expected(lambda s: s.best), 4),
        }

    def describe(self) -> list[dict[str, Any]]:
        """The whole hidden table, for the result file."""
        return [
            {
                "situation": s.key,
                "weight": s.weight,
                "questions": list(s.questions),
                "no_guidance": s.no_guidance,
                "strategies": [asdict(x) for x in s.strategies],
            }
            for s in self.situations.values()
        ]


def converted(seed: int, arm: str, index: int, probability: float) -> bool:
    """Whether visitor `index` of `arm` converts: its own random stream (seed, arm, index), so a
    conversation's draw does not depend on the order conversations finish in."""
    stream = np.random.default_rng([seed, int.from_bytes(arm.encode(), "big"), index])
    return bool(stream.random() < probability)


# -- statistics ---------------------------------------------------------------------------------------


def lift_interval(conv_b: int, n_b: int, conv_l: int, n_l: int) -> dict[str, Any]:
    """Learning (l) against no guidance (b): the difference of two proportions with its 95 % Wald
    interval, and the relative lift (rate ratio − 1) with its 95 % interval from the log rate ratio
    (Katz): two independent samples of conversations."""
    p_b, p_l = conv_b / n_b, conv_l / n_l
    se_diff = math.sqrt(p_b * (1 - p_b) / n_b + p_l * (1 - p_l) / n_l)
    result: dict[str, Any] = {
        "difference": round(p_l - p_b, 4),
        "difference_ci95": [round(p_l - p_b - Z_95 * se_diff, 4), round(p_l - p_b + Z_95 * se_diff, 4)],
    }
    if conv_b == 0 or conv_l == 0:
        result.update(relative_lift=None, lift_ci95=None)
        return result
    ratio = p_l / p_b
    se_log = math.sqrt(1 / conv_l - 1 / n_l + 1 / conv_b - 1 / n_b)
    result.update(
        relative_lift=round(ratio - 1, 4),
        lift_ci95=[round(ratio * math.exp(-Z_95 * se_log) - 1, 4), round(ratio * math.exp(Z_95 * se_log) - 1, 4)],
    )
    return result


def bootstrap_lift(
    no_guidance: Sequence[bool], learning: Sequence[bool], *, seed: int, resamples: int = 10_000
) -> list[float]:
    """95 % percentile bootstrap interval of the relative lift: each arm's conversations resampled
    with replacement, `resamples` times."""
    rng = np.random.default_rng(seed)
    b, l_ = np.asarray(no_guidance, dtype=float), np.asarray(learning, dtype=float)
    rate_b = rng.binomial(len(b), b.mean(), resamples) / len(b)  # resampling 0/1 outcomes = binomial draws
    rate_l = rng.binomial(len(l_), l_.mean(), resamples) / len(l_)
    valid = rate_b > 0
    lifts = rate_l[valid] / rate_b[valid] - 1
    return [round(float(np.percentile(lifts, 2.5)), 4), round(float(np.percentile(lifts, 97.5)), 4)]


def learning_curve(records: Sequence[dict[str, Any]], block: int = BLOCK) -> list[dict[str, Any]]:
    """Conversion of each arm by block of `block` pairs, in the order the pairs were started."""
    by_pair: dict[int, dict[str, bool]] = defaultdict(dict)
    for record in records:
        by_pair[record["pair"]][record["arm"]] = record["converted"]
    pairs = sorted(p for p, arms in by_pair.items() if {"learning", "no_guidance"} <= arms.keys())
    curve = []
    for start in range(0, len(pairs), block):
        chunk = pairs[start : start + block]
        row: dict[str, Any] = {"pairs": [chunk[0], chunk[-1]], "n": len(chunk)}
        for arm in ("no_guidance", "learning"):
            row[arm] = round(sum(by_pair[p][arm] for p in chunk) / len(chunk), 4)
        curve.append(row)
    return curve


def summarize(records: Sequence[dict[str, Any]], *, seed: int, block: int = BLOCK) -> dict[str, Any]:
    """Per-arm counts, conversion, the lift with both intervals, the curve, and per-situation detail."""
    arms: dict[str, list[bool]] = {"no_guidance": [], "learning": []}
    for record in records:
        arms[record["arm"]].append(record["converted"])
    n_b, n_l = len(arms["no_guidance"]), len(arms["learning"])
    c_b, c_l = sum(arms["no_guidance"]), sum(arms["learning"])
    stats = lift_interval(c_b, n_b, c_l, n_l) if n_b and n_l else {}
    situations: dict[str, dict[str, Any]] = defaultdict(lambda: {"no_guidance": [0, 0], "learning": [0, 0]})
    strategies: dict[str, Counter[str]] = defaultdict(Counter)
    for record in records:
        cell = situations[record["situation"]][record["arm"]]
        cell[0] += 1
        cell[1] += record["converted"]
        if record["arm"] == "learning":
            strategies[record["situation"]][record.get("strategy") or "(no guidance)"] += 1
    return {
        "conversations": {"learning": n_l, "no_guidance": n_b},
        "conversions": {"learning": c_l, "no_guidance": c_b},
        "conversion_no_guidance": round(c_b / n_b, 4) if n_b else None,
        "conversion_learning": round(c_l / n_l, 4) if n_l else None,
        **stats,
        "bootstrap_lift_ci95": bootstrap_lift(arms["no_guidance"], arms["learning"], seed=seed)
        if n_b and n_l
        else None,
        "learning_curve": learning_curve(records, block),
        "by_situation": {
            key: {
                arm: {"conversations": n, "conversions": c, "rate": round(c / n, 4) if n else None}
                for arm, (n, c) in value.items()
            }
            for key, value in sorted(situations.items())
        },
        "strategy_share": {key: dict(counter.most_common()) for key, counter in sorted(strategies.items())},
    }


# -- the same statistics in this process ----------------------------------------------------------------


def simulate_bandit(population: Population, *, pairs: int, seed: int, refresh_every: int = 50) -> list[dict[str, Any]]:
    """The learning run without a stack: the same visitors and hidden table, cortex.helper.bandit's
    Thompson sampler choosing among each situation's strategies, its state rebuilt from the credited
    counts every `refresh_every` pairs (as the Guide reloads pattern_stats every few seconds)."""
    rng = np.random.default_rng(seed)
    credited: dict[tuple[str, str], ArmStats] = {}
    bandit = Bandit(rng=np.random.default_rng([seed, 1]))
    records = []
    for pair in range(pairs):
        if pair % refresh_every == 0:
            state = BanditState(stats={key: ArmStats(s.successes, s.failures) for key, s in credited.items()})
            bandit = Bandit(rng=bandit.rng, state=state)
        visitor = population.draw(rng)
        situation = population.situations[visitor.situation]
        choice = bandit.choose(visitor.situation, active=[s.name for s in situation.strategies])
        for arm, strategy in (("learning", choice.pattern_id), ("no_guidance", None)):
            success = converted(seed, arm, pair, population.converts(visitor.situation, strategy))
            records.append(
                {
                    "pair": pair,
                    "arm": arm,
                    "situation": visitor.situation,
                    "strategy": strategy,
                    "converted": success,
                }
            )
            if arm == "learning" and strategy is not None:
                stats = credited.setdefault((visitor.situation, strategy), ArmStats())
                if success:
                    stats.successes += 1
                else:
                    stats.failures += 1
    return records


def in_process_check(population: Population, *, pairs: int, seed: int, runs: int) -> dict[str, Any]:
    """`runs` in-process learning runs of `pairs` pairs: the lift's distribution, and how often the
    run meets the target (≥ 20 % relative, interval above 0) by chance."""
    lifts, met = [], 0
    for run in range(runs):
        summary = summarize(simulate_bandit(population, pairs=pairs, seed=seed + run), seed=seed + run)
        lifts.append(summary["relative_lift"])
        met += summary["relative_lift"] >= 0.20 and summary["lift_ci95"][0] > 0
    lower, upper = wilson_interval(met, runs)
    return {
        "runs": runs,
        "pairs": pairs,
        "relative_lift": {
            "median": round(float(np.median(lifts)), 4),
            "p5": round(float(np.percentile(lifts, 5)), 4),
            "p95": round(float(np.percentile(lifts, 95)), 4),
        },
        "target_met": {"share": round(met / runs, 4), "ci95": [round(lower, 4), round(upper, 4)]},
    }


# -- the live run -------------------------------------------------------------------------------------------


class Member:
    """A workspace owner's session: the access token renewed before it expires (15 min)."""

    RENEW_S = 600.0

    def __init__(self, client: httpx.AsyncClient, owner: dict[str, Any]) -> None:
        self.client = client
        self.workspace_id = owner["workspace"]["id"]
        self._access = owner["access_token"]
        self._refresh = owner["refresh_token"]
        self._since = time.monotonic()
        self._lock = asyncio.Lock()

    async def headers(self) -> dict[str, str]:
        if time.monotonic() - self._since > self.RENEW_S:
            async with self._lock:
                if time.monotonic() - self._since > self.RENEW_S:
                    pair = await self.client.post("/api/auth/refresh", json={"refresh_token": self._refresh})
                    pair.raise_for_status()
                    self._access, self._refresh = pair.json()["access_token"], pair.json()["refresh_token"]
                    self._since = time.monotonic()
        return {"Authorization": f"Bearer {self._access}"}

    async def call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = await self.client.request(method, path, headers=await self.headers(), **kwargs)
        if response.status_code >= 400:
            raise RuntimeError(f"{method} {path}: {response.status_code} {response.text[:300]}")
        return response.json() if response.content else None


@dataclass
class Arm:
    """One bot of the run: its owner, its widget key, and the strategy each of its pattern ids stands for."""

    name: str
    member: Member
    bot_id: str
    public_key: str
    strategies: dict[str, tuple[str, str]] = field(default_factory=dict)  # pattern id → (situation, strategy)


async def make_arm(
    client: httpx.AsyncClient,
    owner: dict[str, Any],
    *,
    name: str,
    population: Population,
    learning: bool,
    teach: Callable[[str, str], Awaitable[None]],
) -> Arm:
    """A bot with the population's knowledge behind a widget key; the learning one gets a pattern per
    strategy (through /api/helper/patterns, active) and the goal lead, the other the helper off."""
    member = Member(client, owner)
    bot = await member.call(
        "POST",
        "/api/bots",
        json={"name": f"Plannly {name}", "llm": {"backend": "openai", "max_tokens": 64}},
    )
    key = await member.call("POST", "/api/auth/widget-keys", json={"bot_id": bot["id"], "allowed_origins": [ORIGIN]})
    await teach(member.workspace_id, bot["id"])
    arm = Arm(name, member, bot["id"], key["public_key"])
    await member.call("PUT", f"/api/helper/bots/{bot['id']}/settings", json={"enabled": learning, "goal": "lead"})
    if learning:
        for situation in population.situations.values():
            for strategy in situation.strategies:
                pattern = await member.call(
                    "POST",
                    "/api/helper/patterns",
                    json={
                        "name": strategy.name,
                        "bot_id": bot["id"],
                        "intent": situation.intent,
                        "stage": situation.stage,
                        "example": situation.questions[0],
                        "instruction": strategy.instruction,
                        "status": "active",
                    },
                )
                arm.strategies[pattern["id"]] = (situation.key, strategy.name)
    return arm


async def converse(
    client: httpx.AsyncClient, arm: Arm, visitor: Visitor, *, pair: int, seed: int, population: Population
) -> dict[str, Any]:
    """One visitor's conversation with `arm`'s bot, its outcome drawn from what the bot was told."""
    token = await client.post(
        "/api/auth/visitor-token", json={"public_key": arm.public_key}, headers={"Origin": ORIGIN}
    )
    token.raise_for_status()
    visitor_headers = {"Authorization": f"Bearer {token.json()['visitor_token']}", "Origin": ORIGIN}
    started = time.perf_counter()
    reply = await client.post(
        "/api/chat",
        json={"bot_id": arm.bot_id, "message": visitor.question, "stream": False},
        headers=visitor_headers,
    )
    if reply.status_code >= 400:
        raise RuntimeError(f"chat: {reply.status_code} {reply.text[:300]}")
    turn_ms = (time.perf_counter() - started) * 1000
    answer = reply.json()
    conversation_id = answer["conversation_id"]
    detail = await arm.member.call("GET", f"/api/conversations/{conversation_id}")
    message = next(m for m in detail["messages"] if m["id"] == answer["message_id"])
    pattern_id = message.get("pattern_id")
    situation_key, strategy = arm.strategies.get(pattern_id, (None, None)) if pattern_id else (None, None)
    # A strategy written for another situation than the visitor's does nothing for them.
    effective = strategy if situation_key == visitor.situation else None
    probability = population.converts(visitor.situation, effective)
    success = converted(seed, arm.name, pair, probability)
    if success:
        lead = await client.post(
            "/api/chat/lead",
            json={"conversation_id": conversation_id, "name": "Sim Visitor", "email": f"v{pair}@sim.example"},
            headers=visitor_headers,
        )
        lead.raise_for_status()
    await arm.member.call("PATCH", f"/api/conversations/{conversation_id}", json={"status": "closed"})
    return {
        "pair": pair,
        "arm": arm.name,
        "situation": visitor.situation,
        "question": visitor.question,
        "recorded_situation": message.get("situation"),
        "pattern_id": pattern_id,
        "strategy": effective,
        "no_guidance": message.get("no_guidance"),
        "experiment_id": message.get("experiment_id"),
        "degraded": answer["degraded"],
        "direct_answer": answer["direct_answer"],
        "probability": probability,
        "converted": success,
        "turn_ms": round(turn_ms, 1),
        "conversation_id": conversation_id,
    }


async def run_live(
    client: httpx.AsyncClient,
    learning: Arm,
    baseline: Arm,
    *,
    population: Population,
    pairs: int,
    seed: int,
    concurrency: int,
    progress: Callable[[str], None] = print,
) -> list[dict[str, Any]]:
    """`pairs` visitors, each chatting once with the learning bot and once with the no-guidance one
    (which first alternates pair by pair), `concurrency` pairs at a time: every conversation's record."""
    rng = np.random.default_rng(seed)
    visitors = [population.draw(rng) for _ in range(pairs)]
    records: list[dict[str, Any]] = []
    next_pair = iter(range(pairs))
    started = time.monotonic()

    async def worker() -> None:
        for pair in next_pair:
            order = (learning, baseline) if pair % 2 == 0 else (baseline, learning)
            for arm in order:
                records.append(await converse(client, arm, visitors[pair], pair=pair, seed=seed, population=population))
            if (pair + 1) % BLOCK == 0:
                done = [r for r in records if r["arm"] == "learning"][-BLOCK:]
                progress(
                    f"  {pair + 1}/{pairs} pairs in {time.monotonic() - started:.0f} s; learning's last {len(done)}: "
                    f"{sum(r['converted'] for r in done) / max(1, len(done)):.3f} converted"
                )

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return records


async def settled_ranking(member: Member, bot_id: str, *, expected_uses: int, timeout_s: float = 90) -> dict[str, Any]:
    """The learning bot's patterns as the helper ranks them, once the consumer has credited every
    closed conversation (their uses add up to the conversations that carried a pattern), or at the timeout."""
    deadline = time.monotonic() + timeout_s
    while True:
        patterns = await member.call("GET", "/api/helper/patterns", params={"bot_id": bot_id})
        uses = sum(_uses(p) for p in patterns)
        if uses >= expected_uses or time.monotonic() > deadline:
            return {"patterns": patterns, "credited_uses": uses, "expected_uses": expected_uses}
        await asyncio.sleep(1.0)


def _uses(pattern: dict[str, Any]) -> int:
    stats = pattern.get("stats")
    if isinstance(stats, list):
        return sum(int(s.get("uses", 0)) for s in stats)
    if isinstance(stats, dict):
        return int(stats.get("uses", 0))
    return int(pattern.get("uses", 0))


def checks(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """What the run's conversations say about the run itself: turns without an LLM answer, degraded
    turns, and learning turns whose recorded situation is not the visitor's."""
    learning = [r for r in records if r["arm"] == "learning"]
    return {
        "no_guidance_reasons": {
            arm: dict(Counter(r["no_guidance"] or "(guided)" for r in records if r["arm"] == arm))
            for arm in ("learning", "no_guidance")
        },
        "degraded_turns": sum(r["degraded"] for r in records),
        "direct_answers": sum(r["direct_answer"] for r in records),
        "situation_mismatches": sum(
            1 for r in learning if r["recorded_situation"] and r["recorded_situation"] != r["situation"]
        ),
        "turn_ms": {
            "p50": round(float(np.percentile([r["turn_ms"] for r in records], 50)), 1),
            "p99": round(float(np.percentile([r["turn_ms"] for r in records], 99)), 1),
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--in-process", action="store_true", help="the statistics only, no stack")
    parser.add_argument("--pairs", type=int, default=2400)
    parser.add_argument("--runs", type=int, default=200, help="in-process runs")
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args(argv)
    population = Population()
    if not args.in_process:
        parser.error("the live run is bench/helper_bench.py (make bench-helper)")
    started = time.perf_counter()
    one = summarize(simulate_bandit(population, pairs=args.pairs, seed=args.seed), seed=args.seed)
    result = {
        "rates": population.rates(),
        "one_run": {k: v for k, v in one.items() if k not in ("by_situation",)},
        "repeated": in_process_check(population, pairs=args.pairs, seed=args.seed, runs=args.runs),
        "seconds": round(time.perf_counter() - started, 1),
    }
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
