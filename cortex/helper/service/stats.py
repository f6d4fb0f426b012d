"""A pattern's statistics for the API: successes per metric, the rate and its 95 % Wilson interval, overall
and per situation, and the ranking by the interval's lower bound (pure logic over pattern_stats rows)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from cortex.helper.advisor import SUCCESS_COLUMN
from cortex.helper.bandit import wilson_interval
from cortex.helper.schemas import Metric, PatternPublic, PatternStats, SituationStats

COUNTS = ("resolutions", "leads", "bookings", "escalations", "thumbs_up", "thumbs_down")


def pattern_stats(rows: Iterable[Mapping[str, Any]], metric: Metric) -> PatternStats:
    """One pattern's statistics from its pattern_stats rows (one per situation)."""
    column = SUCCESS_COLUMN[metric]
    totals = dict.fromkeys(("uses", *COUNTS), 0)
    situations = []
    for row in rows:
        for name in totals:
            totals[name] += int(row[name])
        uses = int(row["uses"])
        successes = min(int(row[column]), uses)
        lower, upper = wilson_interval(successes, uses)
        situations.append(
            SituationStats(
                situation=row["situation"],
                uses=uses,
                successes=successes,
                rate=round(successes / uses, 6) if uses else 0.0,
                lower=round(lower, 6),
                upper=round(upper, 6),
            )
        )
    uses = totals["uses"]
    successes = min(totals[column], uses)
    lower, upper = wilson_interval(successes, uses)
    situations.sort(key=lambda s: (-s.lower, -s.uses, s.situation))
    return PatternStats(
        metric=metric,
        uses=uses,
        successes=successes,
        rate=round(successes / uses, 6) if uses else 0.0,
        lower=round(lower, 6),
        upper=round(upper, 6),
        situations=situations,
        **{name: totals[name] for name in COUNTS},
    )


def ranked(patterns: Sequence[PatternPublic]) -> list[PatternPublic]:
    """Best first by the lower bound of the 95 % Wilson interval (1 success in 1 use does not beat 80 in
    100); ties: more uses, then the older pattern."""
    return sorted(patterns, key=lambda p: (-p.stats.lower, -p.stats.uses, p.created_at, str(p.id)))
