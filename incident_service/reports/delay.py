"""The delay report's numbers as plain functions of the incidents' rows: no database, no clock.

Definitions (also in docs/reports.md):
- an incident counts once, in the month (display zone) of its first report's received time;
- delay = first report received − effective discovery time, in seconds; unknown when no discovery time;
- percentiles interpolate linearly between the two nearest ranks (Excel PERCENTILE.INC, NumPy "linear");
- histogram bins are half-open on the left: ≤ 1 h holds 0 to 3,600 s, 1–6 h holds 3,601 to 21,600 s, …
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any, Callable, Iterable
from zoneinfo import ZoneInfo

HOUR = 3600
DAY = 24 * HOUR
# (label, upper bound in seconds, inclusive; None = no bound)
BINS: tuple[tuple[str, int | None], ...] = (
    ("≤ 1 h", HOUR),
    ("1–6 h", 6 * HOUR),
    ("6–24 h", DAY),
    ("1–3 d", 3 * DAY),
    ("3–7 d", 7 * DAY),
    ("7–30 d", 30 * DAY),
    ("> 30 d", None),
)


@dataclass(frozen=True)
class Row:
    first_received_at: datetime
    delay_seconds: int | None
    lateness: str


def quantile(known: int, value: Callable[[int], int], q: float) -> float | None:
    """The q-quantile (0 ≤ q ≤ 1) of `known` sorted values, `value(k)` being the k-th from 0,
    interpolating linearly between the two nearest ranks; None for no values."""
    if not known:
        return None
    rank = q * (known - 1)
    low, high = math.floor(rank), math.ceil(rank)
    lower = value(low)
    upper = value(high) if high != low else lower
    return lower + (upper - lower) * (rank - low)


def percentile(ordered: list[int], q: float) -> float | None:
    """The q-quantile of a sorted list (see quantile)."""
    return quantile(len(ordered), ordered.__getitem__, q)


def bin_index(delay_seconds: int) -> int:
    for index, (_label, upper) in enumerate(BINS):
        if upper is None or delay_seconds <= upper:
            return index
    raise AssertionError("unreachable")


def bin_bounds(index: int) -> tuple[int | None, int | None]:
    """(exclusive lower, inclusive upper) seconds of a bin, for drill-down queries."""
    lower = BINS[index - 1][1] if index > 0 else None
    return lower, BINS[index][1]


def summarize(rows: Iterable[Row], zone: str) -> dict[str, Any]:
    """Summary, month-by-month table and histogram of `rows`, months in `zone` (any zone, daylight
    saving or not): counted here, then reported as the database's counts are (summarize_months)."""
    tz = ZoneInfo(zone)
    months: dict[str, list[int]] = {}
    delays: dict[str, list[int]] = {}
    for row in rows:
        month = row.first_received_at.astimezone(tz).strftime("%Y-%m")
        counts = months.setdefault(month, [0, 0, 0])
        counts[0] += 1
        counts[1] += row.lateness == "late"
        if row.delay_seconds is None:
            counts[2] += 1
        else:
            delays.setdefault(month, []).append(row.delay_seconds)
    for values in delays.values():
        values.sort()
    return summarize_months({month: (n, late, unknown) for month, (n, late, unknown) in months.items()}, delays)


MonthCounts = tuple[int, int, int]  # incidents, late, unknown


def report_from_ranks(
    months: dict[str, MonthCounts],
    month_value: Callable[[str, int], int],
    overall_value: Callable[[int], int],
    histogram: list[int],
) -> dict[str, Any]:
    """The report from per-month counts and order statistics: `month_value(month, k)` is the k-th
    smallest known delay of the month (from 0), `overall_value(k)` the k-th of all. Only the ranks the
    percentiles need are asked for, so a database with the delays indexed hands over a few values."""

    def statistics(counts: MonthCounts, value: Callable[[int], int]) -> Statistics:
        known = counts[0] - counts[2]
        return (
            quantile(known, value, 0.5),
            quantile(known, value, 0.9),
            quantile(known, value, 0.95),
            value(known - 1) if known else None,
        )

    return report_from_statistics(
        months,
        {month: statistics(months[month], partial(month_value, month)) for month in months},
        statistics(_totals(months), overall_value),
        histogram,
    )


Statistics = tuple[float | None, float | None, float | None, int | None]  # median, p90, p95, max


def _totals(months: dict[str, MonthCounts]) -> MonthCounts:
    totals = [sum(values) for values in zip(*months.values(), strict=False)] if months else [0, 0, 0]
    return totals[0], totals[1], totals[2]


def report_from_statistics(
    months: dict[str, MonthCounts], statistics: dict[str, Statistics], overall: Statistics, histogram: list[int]
) -> dict[str, Any]:
    """The report from per-month counts and delay statistics already computed (by report_from_ranks,
    or by a database's own percentile_cont, which interpolates as `quantile` does)."""

    def numbers(counts: MonthCounts, figures: Statistics) -> dict[str, float | int | None]:
        incidents, late, unknown = counts
        return {
            "incidents": incidents,
            "late": late,
            "late_share": (late / incidents) if incidents else None,
            "unknown": unknown,
            "median_seconds": figures[0],
            "p90_seconds": figures[1],
            "p95_seconds": figures[2],
            "max_seconds": figures[3],
        }

    return {
        "summary": numbers(_totals(months), overall),
        "months": [{"month": month, **numbers(months[month], statistics[month])} for month in sorted(months)],
        "histogram": [
            {"bin": label, "upper_seconds": upper, "incidents": count}
            for (label, upper), count in zip(BINS, histogram, strict=False)
        ],
    }


def summarize_months(months: dict[str, MonthCounts], delays: dict[str, list[int]]) -> dict[str, Any]:
    """The same report from per-month counts and each month's sorted known delays."""
    histogram = [0] * len(BINS)
    everything: list[int] = []
    for ordered in delays.values():
        everything.extend(ordered)
        for value in ordered:
            histogram[bin_index(value)] += 1
    everything.sort()
    return report_from_ranks(months, lambda month, k: delays[month][k], everything.__getitem__, histogram)
