"""The delay report: every number equals an independent plain-Python computation; CSV, JSON, CLI and
page agree; CSV cells cannot run as formulas."""

from __future__ import annotations

import csv
import io
import json
import random
import re
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import insert, update

from incident_service.customers.models import Customer
from incident_service.extensions import db
from incident_service.incidents.models import Incident
from incident_service.reports.delay import percentile
from incident_service.reports.export import safe_cell
from incident_service.reports.month_index import (
    channel_month_index_name,
    has_channel_month_index,
    has_month_index,
    month_index_name,
)
from incident_service.reports.service import DelayFilter, build_delay_report

HCM = ZoneInfo("Asia/Ho_Chi_Minh")
CHANNELS = ["web", "email", "phone", "post"]


def generate(app, count: int = 3000, seed: int = 7) -> list[dict]:  # type: ignore[no-untyped-def]
    """`count` incidents over 14 months, some without a discovery time, judged at 24 hours."""
    rng = random.Random(seed)
    start = datetime(2025, 9, 1, tzinfo=timezone.utc)
    rows = []
    for n in range(count):
        received = start + timedelta(seconds=rng.randrange(0, 420 * 86400))
        known = rng.random() < 0.8
        delay = int(rng.choice([rng.expovariate(1 / 20000), rng.expovariate(1 / 300000)])) if known else None
        rows.append(
            {
                "id": n + 1,
                "customer_id": n + 1,
                "reference": f"INC-T-{n + 1:06d}",
                "status": "resolved",
                "opened_at": received,
                "first_received_at": received,
                "late_threshold_hours": 24,
                "first_channel": rng.choice(CHANNELS),
                "effective_discovered_at": received - timedelta(seconds=delay) if known else None,
                "reporting_delay_seconds": delay,
                "lateness": "unknown" if not known else ("late" if delay > 86400 else "on_time"),
                "review_decision": rng.choice([None, "exemption_asserted"]) if known and delay > 86400 else None,
            }
        )
    with app.app_context():
        db.session.execute(
            insert(Customer),
            [
                {
                    "id": r["id"],
                    "email": f"c{r['id']}@example.com",
                    "name": "",
                    "locale": "vi",
                    "credential_state": "active",
                    "security_stamp": "s",
                    "created_at": start,
                }
                for r in rows
            ],
        )
        db.session.execute(insert(Incident), rows)
        db.session.commit()
    return rows


def expected(rows: list[dict], zone: ZoneInfo = HCM) -> dict:  # type: ignore[type-arg]
    """The report computed independently, the plain way."""

    def numbers(group: list[dict]) -> dict:  # type: ignore[type-arg]
        delays = sorted(r["reporting_delay_seconds"] for r in group if r["reporting_delay_seconds"] is not None)

        def quantile(q: float) -> float | None:
            if not delays:
                return None
            position = q * (len(delays) - 1)
            below = int(position)
            above = min(below + 1, len(delays) - 1)
            return delays[below] + (delays[above] - delays[below]) * (position - below)

        late = sum(1 for r in group if r["lateness"] == "late")
        return {
            "incidents": len(group),
            "late": late,
            "late_share": late / len(group) if group else None,
            "unknown": sum(1 for r in group if r["reporting_delay_seconds"] is None),
            "median_seconds": quantile(0.5),
            "p90_seconds": quantile(0.9),
            "p95_seconds": quantile(0.95),
            "max_seconds": delays[-1] if delays else None,
        }

    months: dict[str, list[dict]] = {}  # type: ignore[type-arg]
    for r in rows:
        months.setdefault(r["first_received_at"].astimezone(zone).strftime("%Y-%m"), []).append(r)
    edges = [3600, 6 * 3600, 86400, 3 * 86400, 7 * 86400, 30 * 86400]
    histogram = [0] * 7
    for r in rows:
        d = r["reporting_delay_seconds"]
        if d is not None:
            histogram[next((i for i, edge in enumerate(edges) if d <= edge), 6)] += 1
    return {"summary": numbers(rows), "months": {m: numbers(g) for m, g in months.items()}, "histogram": histogram}


def close(a, b) -> bool:  # type: ignore[no-untyped-def]
    return (a is None and b is None) or (a is not None and b is not None and abs(float(a) - float(b)) < 1e-6)


def assert_matches(report: dict, want: dict) -> None:  # type: ignore[type-arg]
    for key, value in want["summary"].items():
        assert close(report["summary"][key], value), key
    assert [m["month"] for m in report["months"]] == sorted(want["months"])
    for month in report["months"]:
        for key, value in want["months"][month["month"]].items():
            assert close(month[key], value), (month["month"], key)
    assert [b["incidents"] for b in report["histogram"]] == want["histogram"]


@pytest.fixture
def legal(staff_login):  # type: ignore[no-untyped-def]
    return staff_login("legal")


def test_json_page_csv_and_cli_agree_with_plain_python(app, legal, runner) -> None:  # type: ignore[no-untyped-def]
    rows = generate(app)
    want = expected(rows)
    report = legal.get("/console/reports/delay.json").get_json()
    assert_matches(report, want)
    assert len(report["months"]) >= 14

    cli = runner.invoke(args=["reports", "delay", "--format", "json"])
    assert cli.exit_code == 0
    assert_matches(json.loads(cli.output), want)

    table = list(
        csv.DictReader(io.StringIO(legal.get("/console/reports/delay.csv").get_data(as_text=True).lstrip("\ufeff")))
    )
    summary = table[0]
    assert summary["section"] == "summary" and int(summary["incidents"]) == want["summary"]["incidents"]
    assert close(summary["median_seconds"], want["summary"]["median_seconds"])
    bins = [int(r["incidents"]) for r in table if r["section"] == "histogram"]
    assert bins == want["histogram"]
    cli_csv = runner.invoke(args=["reports", "delay", "--format", "csv"]).output
    assert (
        cli_csv.lstrip("\ufeff").replace("\r\n", "\n").strip()
        == legal.get("/console/reports/delay.csv").get_data(as_text=True).lstrip("\ufeff").replace("\r\n", "\n").strip()
    )

    page = legal.get("/console/reports/delay", headers={"Accept-Language": "en"}).get_data(as_text=True)
    incidents, late = want["summary"]["incidents"], want["summary"]["late"]
    assert f'class="n-incidents"><a href="/console/reports/delay/incidents">{incidents:,}</a>' in page
    assert f">{late:,}</a>" in page and "<svg" in page and "late after 24 hours" in page
    # Numbers, units and months in the viewer's language (Babel's CLDR data), not hand-written forms.
    vi = legal.get("/console/reports/delay", headers={"Accept-Language": "vi"}).get_data(as_text=True)
    assert f">{incidents:,}</a>".replace(",", ".") in vi and "trễ sau 24 giờ" in vi and "tháng " in vi
    assert re.search(r"\d,\d%", vi) and not re.search(r"\d\.\d %", vi)  # 66,7% in Vietnamese


def test_filters_agree(app, legal, runner) -> None:  # type: ignore[no-untyped-def]
    rows = generate(app, count=1500, seed=3)
    first, last = datetime(2026, 1, 1).date(), datetime(2026, 3, 31).date()
    chosen = [
        r
        for r in rows
        if r["first_channel"] == "email" and first <= r["first_received_at"].astimezone(HCM).date() <= last
    ]
    want = expected(chosen)
    args = {"channel": "email", "from": first.isoformat(), "to": last.isoformat()}
    assert_matches(legal.get("/console/reports/delay.json", query_string=args).get_json(), want)
    cli = runner.invoke(
        args=[
            "reports",
            "delay",
            "--channel",
            "email",
            "--from",
            first.isoformat(),
            "--to",
            last.isoformat(),
            "--format",
            "json",
        ]
    )
    assert_matches(json.loads(cli.output), want)
    decided = [r for r in rows if r["review_decision"] == "exemption_asserted"]
    assert legal.get("/console/reports/delay.json?decision=exemption_asserted").get_json()["summary"][
        "incidents"
    ] == len(decided)


def test_drill_down_lists_the_incidents_behind_a_bin(app, legal) -> None:  # type: ignore[no-untyped-def]
    rows = generate(app, count=400, seed=5)
    in_bin = [
        r for r in rows if r["reporting_delay_seconds"] is not None and 3600 < r["reporting_delay_seconds"] <= 21600
    ]
    listed = legal.get("/console/reports/delay/incidents.csv?bin=1").get_data(as_text=True)
    references = {line.split(",")[0] for line in listed.lstrip("\ufeff").splitlines()[1:]}
    assert references == {r["reference"] for r in in_bin}


def test_cli_refuses_bad_filters(runner) -> None:  # type: ignore[no-untyped-def]
    for args in (["--from", "yesterday"], ["--channel", "pigeon"], ["--decision", "maybe"]):
        result = runner.invoke(args=["reports", "delay", *args])
        assert result.exit_code != 0 and "is not valid" in result.output and "Traceback" not in result.output


@pytest.mark.parametrize("cell", ['=HYPERLINK("x")', "+1+1", "-2+3", "@SUM(A1)", "\t=1"])
def test_formula_cells_are_neutralised(cell: str) -> None:
    assert safe_cell(cell) == "'" + cell
    assert safe_cell("an@example.com") == "an@example.com" and safe_cell(5) == 5


def test_formula_address_in_the_incident_csv(app, legal) -> None:  # type: ignore[no-untyped-def]
    generate(app, count=1)
    with app.app_context():
        db.session.get(Customer, 1).email = "=cmd|'/c calc'!A1@example.com"
        db.session.commit()
    body = legal.get("/console/reports/delay/incidents.csv").get_data(as_text=True)
    assert body.startswith("\ufeff")
    assert "'=cmd" in body and ",=cmd" not in body


def test_percentile_definition() -> None:
    assert percentile([], 0.5) is None
    assert percentile([10], 0.9) == 10
    assert percentile([1, 2, 3, 4], 0.5) == 2.5
    assert percentile([0, 100], 0.9) == 90


@pytest.mark.settings(DISPLAY_TIMEZONE="Europe/Paris")
def test_zone_with_daylight_saving_reads_every_row(app, legal) -> None:  # type: ignore[no-untyped-def]
    rows = generate(app, count=800, seed=11)
    assert_matches(legal.get("/console/reports/delay.json").get_json(), expected(rows, ZoneInfo("Europe/Paris")))


def test_indexed_and_plain_reading_give_the_same_report(app) -> None:  # type: ignore[no-untyped-def]
    """On SQLite the unfiltered report reads the month and delay indexes (a few rows per percentile);
    without the month index it sorts every delay. Both must equal the plain computation."""
    rows = generate(app, count=2000, seed=13)
    want = expected(rows)
    with app.app_context():
        db.session.execute(update(Incident).where(Incident.id.in_([5, 9])).values(late_threshold_hours=72))
        db.session.execute(update(Incident).where(Incident.id == 700).values(late_threshold_hours=48))
        connection = db.session.connection()
        indexed = has_month_index(connection, 420)
        assert indexed == (connection.dialect.name == "sqlite")
        first = build_delay_report(DelayFilter())
        if indexed:
            connection.exec_driver_sql(f"DROP INDEX {month_index_name(420)}")
            assert not has_month_index(connection, 420)
        second = build_delay_report(DelayFilter())
        db.session.rollback()
    assert_matches(first, want)
    assert_matches(second, want)
    assert first == second and first["thresholds_hours"] == [24, 48, 72]


def test_the_histogram_marks_late_bins_and_keeps_its_labels_apart() -> None:
    """Issue 13: bins wholly past the threshold are marked late, and the threshold's label sits in its
    own band above the tallest bar's count, reading away from the nearer edge."""
    from incident_service.reports.chart import histogram_geometry
    from incident_service.reports.delay import BINS

    histogram = [{"bin": label, "incidents": 10 if index == 3 else 1} for index, (label, _upper) in enumerate(BINS)]
    chart = histogram_geometry(histogram, 24)
    assert [bar.late for bar in chart["bars"]] == [False, False, False, True, True, True, True]
    tallest_count_y = min(bar.y for bar in chart["bars"]) - 4
    assert chart["label_y"] <= tallest_count_y - 12  # 12-pixel text: the two lines of text do not overlap
    assert chart["label_anchor"] == "start"
    assert histogram_geometry(histogram, 24 * 20)["label_anchor"] == "end"  # near the right edge


@pytest.mark.parametrize(
    "chosen, f",
    [
        (lambda r: r["first_channel"] == "email", DelayFilter(channel="email")),
        (
            lambda r: (
                datetime(2026, 1, 1).date()
                <= r["first_received_at"].astimezone(HCM).date()
                <= datetime(2026, 3, 31).date()
            ),
            DelayFilter(received_from=datetime(2026, 1, 1).date(), received_to=datetime(2026, 3, 31).date()),
        ),
        (lambda r: r["first_channel"] == "fax", DelayFilter(channel="fax")),  # nothing: every figure empty
    ],
    ids=["channel", "quarter", "empty"],
)
def test_a_filtered_report_equals_plain_python_over_its_rows(app, chosen, f) -> None:  # type: ignore[no-untyped-def]
    """Issue 17: by channel SQLite reads the channel-month and channel-delay indexes, PostgreSQL computes
    every figure in one aggregate (percentile_cont); each must equal the plain computation over the
    rows the filter keeps, thresholds included, and on SQLite the report read without those indexes."""
    rows = generate(app, count=2000, seed=17)
    with app.app_context():
        db.session.execute(update(Incident).where(Incident.id.in_([5, 9, 1500])).values(late_threshold_hours=72))
        for r in rows:
            if r["id"] in (5, 9, 1500):
                r["late_threshold_hours"] = 72
        kept = [r for r in rows if chosen(r)]
        report = build_delay_report(f)
        connection = db.session.connection()
        plain = None
        if has_channel_month_index(connection, 420):
            connection.exec_driver_sql(f"DROP INDEX {channel_month_index_name(420)}")
            plain = build_delay_report(f)
        db.session.rollback()
    assert_matches(report, expected(kept))
    assert report["thresholds_hours"] == sorted({r["late_threshold_hours"] for r in kept})
    assert report["filters"] == f.args()
    if plain is not None:
        assert plain == report
    if not kept:
        assert report["months"] == [] and report["summary"]["median_seconds"] is None
