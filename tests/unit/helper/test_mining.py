"""Pattern mining on synthetic conversations: what a bot's reply achieved, clustering the successful
conversations, the candidates proposed (only strategies that beat the situation's rate, never a copy
of anyone's words) and the patterns retired with their reason."""

from __future__ import annotations

import re

from cortex.helper import mining
from cortex.helper.advisor import MAX_GUIDANCE_CHARS
from cortex.helper.bandit import ArmStats
from cortex.helper.mining import Baseline, Sample, Turn

PRICING = "pricing/consideration"
BOT = "bot-1"


def turn(intent: str = "pricing", stage: str = "consideration", **kw: object) -> Turn:
    return Turn(intent=intent, stage=stage, **kw)  # type: ignore[arg-type]


def test_the_next_visitor_turn_shows_what_the_bots_reply_achieved() -> None:
    asked = turn(collected=frozenset({"service"}))
    gave_email = turn("booking", "decision", booking=0.8, collected=frozenset({"service", "email"}))
    assert mining.moves_of(asked, gave_email) == {"answer", "next_step", "offer_booking", "ask_contact"}
    angry = turn("complaint", "consideration", frustration=0.9)
    calmer = turn("complaint", "consideration", frustration=0.4)
    assert mining.moves_of(angry, calmer) == {"calm"}, "same question again: not answered, but calmer"
    assert mining.moves_of(angry, turn("complaint", "consideration", frustration=0.8)) == frozenset()
    assert mining.moves_of(turn(), None) == {"answer"}, "the visitor wrote nothing more"
    assert mining.moves_of(turn(buying=0.1), turn(buying=0.7, stage="consideration")) == {"value"}


def test_a_conversation_gives_one_sample_per_situation_with_the_moves_of_its_replies_there() -> None:
    turns = [
        turn("pricing", "consideration", pattern_id="p1"),
        turn("pricing", "decision"),
        turn("booking", "decision", booking=0.9, collected=frozenset({"time"})),
    ]
    samples = {s.situation: s for s in mining.samples_of_conversation("c1", BOT, turns, succeeded=True)}
    assert set(samples) == {"pricing/consideration", "pricing/decision", "booking/decision"}
    assert samples["pricing/consideration"].moves == {"answer", "next_step"}
    assert samples["pricing/consideration"].guided and not samples["pricing/decision"].guided
    assert samples["pricing/decision"].moves == {"answer", "offer_booking", "ask_details"}
    assert all(s.success for s in samples.values())


def test_the_goal_decides_which_conversations_count_as_successful() -> None:
    assert mining.success("resolution", ["resolved"], "resolved")
    assert mining.success("resolution", ["lead_captured", "escalated"], "lead_captured")
    assert not mining.success("resolution", ["escalated"], "escalated")
    assert mining.success("lead", ["lead_captured"], None) and not mining.success("lead", ["booked"], "booked")
    assert mining.success("booking", ["booked", "resolved"], "booked")
    assert not mining.success("booking", ["resolved"], "resolved")


def test_clustering_groups_similar_move_sets_and_keeps_what_most_members_share() -> None:
    contact = frozenset({"answer", "ask_contact"})
    contact_plus = frozenset({"answer", "ask_contact", "offer_booking"})
    calm = frozenset({"calm"})
    clusters = mining.cluster([contact] * 6 + [contact_plus] * 3 + [calm] * 4 + [frozenset()] * 5)
    assert [c.leader for c in clusters] == [contact, calm]
    assert clusters[0].strategy == contact and len(clusters[0].members) == 9
    assert clusters[1].strategy == calm and len(clusters[1].members) == 4


def _situation(works: int, fails_with: int, without_ok: int, without_fail: int) -> list[Sample]:
    """A situation where asking for contact details and offering a slot works better than answering alone."""
    strategy = frozenset({"answer", "offer_booking", "ask_contact"})
    plain = frozenset({"answer"})
    samples = [Sample(f"w{i}", BOT, PRICING, strategy, True, False) for i in range(works)]
    samples += [Sample(f"x{i}", BOT, PRICING, strategy, False, False) for i in range(fails_with)]
    samples += [Sample(f"y{i}", BOT, PRICING, plain, True, False) for i in range(without_ok)]
    samples += [Sample(f"z{i}", BOT, PRICING, plain, False, False) for i in range(without_fail)]
    return samples


def test_a_strategy_that_beats_the_situations_rate_becomes_a_candidate_with_its_evidence() -> None:
    proposals = mining.propose(_situation(works=12, fails_with=2, without_ok=6, without_fail=20))
    [proposal] = proposals
    assert proposal.situation == PRICING and (proposal.intent, proposal.stage) == ("pricing", "consideration")
    assert proposal.instruction == (
        "Answer the question directly, offer to book a slot, then ask for their name and email."
    )
    assert (proposal.successes, proposal.uses) == (12, 14)
    assert proposal.lower > proposal.baseline == 18 / 40
    assert proposal.name == "Mined: answer, offer booking, ask contact (pricing/consideration)"


def test_a_strategy_no_better_than_usual_or_too_rare_is_not_proposed() -> None:
    # As often successful as the situation overall: frequent, but not better.
    assert mining.propose(_situation(works=10, fails_with=10, without_ok=10, without_fail=10)) == []
    # Better, but only 4 successful conversations followed it.
    assert mining.propose(_situation(works=4, fails_with=0, without_ok=2, without_fail=20)) == []
    assert mining.propose(_situation(works=4, fails_with=0, without_ok=2, without_fail=20), min_support=3) != []


def test_a_known_strategy_is_not_proposed_again_and_open_candidates_are_bounded() -> None:
    samples = _situation(works=12, fails_with=2, without_ok=6, without_fail=20)
    [proposal] = mining.propose(samples)
    assert mining.propose(samples, existing={(BOT, PRICING): {proposal.instruction}}) == []
    assert mining.propose(samples, open_candidates={(BOT, PRICING): mining.MAX_OPEN_CANDIDATES}) == []
    assert mining.propose(samples, open_candidates={(BOT, PRICING): mining.MAX_OPEN_CANDIDATES - 1}) != []


def test_instructions_come_only_from_the_move_vocabulary_and_fit_the_prompt() -> None:
    every = mining.instruction(mining.MOVE_NAMES)
    assert len(every) <= MAX_GUIDANCE_CHARS
    assert every.startswith("Acknowledge the visitor's frustration") and every.endswith("name and email.")
    words = set(re.findall(r"[a-z']+", every.lower()))
    vocabulary = {w for move in mining.MOVES for w in re.findall(r"[a-z']+", move.phrase.lower())} | {"then"}
    assert words <= vocabulary
    assert mining.instruction([]) == ""


def test_baselines_prefer_conversations_without_guidance_and_need_enough_of_them() -> None:
    unguided = [Sample(f"u{i}", BOT, PRICING, frozenset(), i < 10, False) for i in range(25)]
    guided = [Sample(f"g{i}", BOT, PRICING, frozenset(), True, True) for i in range(25)]
    assert mining.baselines(unguided + guided)[PRICING] == Baseline(10 / 25, 25, True)
    few = unguided[:5] + guided  # 5 without guidance: judged against all 30
    assert mining.baselines(few)[PRICING] == Baseline(30 / 30, 30, False)
    assert mining.baselines(unguided[:19]) == {}


def test_a_pattern_whose_upper_bound_fell_below_the_baseline_is_retired_with_the_figures() -> None:
    baseline = {PRICING: Baseline(0.45, 60, True)}
    stats = {
        "failing": {PRICING: ArmStats(successes=4, failures=36)},
        "fine": {PRICING: ArmStats(successes=20, failures=20)},
        "young": {PRICING: ArmStats(successes=0, failures=10)},  # too few uses to judge
        "unknown": {"other/awareness": ArmStats(successes=0, failures=50)},  # no baseline there
    }
    scopes = {pattern_id: baseline for pattern_id in stats}
    [retired] = mining.retirements(stats, scopes)
    assert retired.pattern_id == "failing"
    assert "4 successes in 40 uses" in retired.reason and "0.45 (without guidance, 60 conversations)" in retired.reason
    assert mining.retirements(stats, scopes, in_experiments={"failing"}) == [], "an experiment decides its arms"


def test_a_pattern_failing_in_one_situation_but_working_in_another_stays() -> None:
    baselines = {PRICING: Baseline(0.5, 60, True), "pricing/decision": Baseline(0.3, 40, False)}
    stats = {"p": {PRICING: ArmStats(4, 36), "pricing/decision": ArmStats(20, 20)}}
    assert mining.retirements(stats, {"p": baselines}) == []


def test_samples_survive_the_ray_data_rows_unchanged() -> None:
    """Past --ray-data-min conversations the job computes samples on Ray Data, as rows of plain columns."""
    import json

    from ingest import mine_patterns

    turns = [
        ["pricing", "consideration", 0.0, 0.0, 0.0, [], "p1"],
        ["booking", "decision", 0.0, 0.0, 0.9, ["email"], None],
    ]
    row = {"conversation_id": "c1", "bot_id": BOT, "success": True, "turns": json.dumps(turns)}
    direct = mine_patterns._samples_of_row(row)
    assert list(mine_patterns._from_rows(mine_patterns._sample_rows(row))) == direct
    assert {s.situation: s.guided for s in direct} == {"pricing/consideration": True, "booking/decision": False}
