"""A pattern's statistics for the API: successes per metric, the Wilson interval, the ranking."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from cortex.helper.schemas import PatternPublic
from cortex.helper.service.stats import pattern_stats, ranked


def _row(situation: str, uses: int, **counts: int) -> dict:
    base = dict.fromkeys(("resolutions", "leads", "bookings", "escalations", "thumbs_up", "thumbs_down"), 0)
    return {"situation": situation, "uses": uses, **base, **counts}


def test_successes_are_counted_for_the_metric_over_every_situation() -> None:
    rows = [_row("pricing/consideration", 60, resolutions=45, leads=6), _row("pricing/decision", 40, resolutions=35)]
    stats = pattern_stats(rows, "resolution")
    assert (stats.uses, stats.successes, stats.rate) == (100, 80, 0.8)
    assert 0.70 < stats.lower < 0.72 and 0.86 < stats.upper < 0.88
    assert [s.situation for s in stats.situations] == ["pricing/decision", "pricing/consideration"]
    assert pattern_stats(rows, "lead").successes == 6 and pattern_stats(rows, "booking").successes == 0


def test_no_use_is_an_interval_of_everything() -> None:
    stats = pattern_stats([], "lead")
    assert (stats.uses, stats.rate, stats.lower, stats.upper, stats.situations) == (0, 0.0, 0.0, 1.0, [])


def test_more_successes_than_uses_never_make_a_rate_above_one() -> None:
    assert pattern_stats([_row("s", 2, leads=5)], "lead").rate == 1.0


def _pattern(name: str, rows: list[dict], age: int) -> PatternPublic:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    return PatternPublic(
        id=uuid.uuid4(),
        bot_id=None,
        name=name,
        intent=None,
        stage=None,
        example="",
        instruction="Answer first, then offer a demo.",
        status="active",
        origin="owner",
        retired_reason=None,
        created_at=now - timedelta(days=age),
        updated_at=now,
        stats=pattern_stats(rows, "resolution"),
    )


def test_ranking_is_by_the_lower_bound_not_the_raw_rate() -> None:
    lucky = _pattern("lucky", [_row("s", 1, resolutions=1)], 1)
    proven = _pattern("proven", [_row("s", 100, resolutions=80)], 2)
    unused = _pattern("unused", [], 3)
    older_unused = _pattern("older unused", [], 4)
    assert [p.name for p in ranked([unused, lucky, older_unused, proven])] == [
        "proven",
        "lucky",
        "older unused",
        "unused",
    ]
