"""CSV and JSON renderings of the delay report: UTF-8 with BOM, and cells a spreadsheet cannot run (L3)."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from typing import Any, Iterable

from ..i18n import format_local

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
NUMBER_COLUMNS = (
    "incidents",
    "late",
    "late_share",
    "unknown",
    "median_seconds",
    "p90_seconds",
    "p95_seconds",
    "max_seconds",
)


def safe_cell(value: Any) -> Any:
    """A text cell starting like a formula is prefixed with ' so spreadsheets show it as text."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def _csv(header: list[str], rows: Iterable[list[Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow(["" if cell is None else safe_cell(cell) for cell in row])
    return "\ufeff" + buffer.getvalue()


def numbers_csv(report: dict[str, Any]) -> str:
    """One table: the summary row, a row a month, a row a histogram bin (documented in docs/reports.md)."""
    rows: list[list[Any]] = [["summary", "all", *[report["summary"][c] for c in NUMBER_COLUMNS]]]
    rows += [["month", month["month"], *[month[c] for c in NUMBER_COLUMNS]] for month in report["months"]]
    rows += [
        ["histogram", item["bin"], item["incidents"], *[None] * (len(NUMBER_COLUMNS) - 1)]
        for item in report["histogram"]
    ]
    return _csv(["section", "label", *NUMBER_COLUMNS], rows)


INCIDENT_COLUMNS = [
    "reference",
    "customer",
    "channel",
    "first_received_gmt7",
    "first_received_utc",
    "discovered_gmt7",
    "delay_seconds",
    "lateness",
    "threshold_hours",
    "policy_version",
    "review_decision",
    "status",
]


def _utc(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def incidents_csv(rows: list[dict[str, Any]]) -> str:
    return _csv(
        INCIDENT_COLUMNS,
        (
            [
                row["reference"],
                row["customer"],
                row["channel"],
                format_local(row["first_received_at"]),
                _utc(row["first_received_at"]),
                format_local(row["discovered_at"]) or None,
                row["delay_seconds"],
                row["lateness"],
                row["threshold_hours"],
                row["policy_version"] or "default",
                row["review_decision"],
                row["status"],
            ]
            for row in rows
        ),
    )


def report_json(report: dict[str, Any]) -> str:
    return json.dumps(report, ensure_ascii=False, indent=2, default=str)
