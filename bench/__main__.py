"""`make bench`: run every benchmark, print one table, write docs/benchmarks.md.

Each figure stands beside a baseline measured in the same run. `BENCH_MASS_CUSTOMERS` (default
100,000) and `BENCH_DELAY_INCIDENTS` (default 1,000,000) shrink the two long ones for a quick look.
"""

from __future__ import annotations

import datetime
import logging
import os
import sys

from . import (
    audit_log,
    delay_report,
    flows,
    import_rate,
    import_writers,
    intake,
    r3_load,
    r3_timing,
    scale,
    smtp_listener,
)
from .common import RESULTS, machine

logging.disable(logging.INFO)  # the service's own INFO lines would only slow the measured paths


def main() -> None:
    rows: list[tuple[str, str, str, str, str]] = []

    def step(name: str) -> None:
        print(f"running: {name} …", file=sys.stderr, flush=True)

    step("web report intake under gunicorn (SQLite)")
    web = intake.run()
    rows.append(
        (
            f"`POST /report`, fresh known customers (full reactivation), SQLite, gunicorn 2 workers, "
            f"{intake.CONNECTIONS} connections",
            f"{web['known_per_s']:.0f} reports/s, p50 {web['known_p50_ms']:.0f} ms, p99 {web['known_p99_ms']:.0f} ms",
            f"{web['floor_per_s']:.0f} inserts/s, bare Flask one-row insert",
            f"{web['known_ratio']:.2f} ×",
            "≥ 0.3 ×, p99 ≤ 250 ms",
        )
    )
    rows.append(
        (
            "`POST /report`, unknown addresses, SQLite, the same app and load",
            f"{web['unknown_per_s']:.0f} reports/s, p50 {web['unknown_p50_ms']:.0f} ms, "
            f"p99 {web['unknown_p99_ms']:.0f} ms",
            "the same floor",
            f"{web['unknown_ratio']:.2f} ×",
            "—",
        )
    )
    rows.append(
        (
            "SQLite's write lock during the known customers' load (one writer at a time: what caps it)",
            f"held {web['lock_held_share']:.0%} of the time; {web['lock_transactions']:,} write transactions, "
            f"{web['lock_hold_ms']:.1f} ms each ({web['lock_commit_ms']:.1f} ms of it the commit)",
            f"{web['lock_cap_per_s']:.0f} transactions/s, one hold after another",
            f"{web['known_per_s'] / web['lock_cap_per_s']:.2f} ×",
            "—",
        )
    )
    rows.append(
        (
            "The report answers' floor (R3) the workers learned from that load: 1.5 × the p99 of customers' "
            "work, or `ANSWER_FLOOR_MS` if more",
            (
                f"{web['answer_floor_ms']:.0f} ms (customers' work p99 {web['customers_work_p99_ms']:.1f} ms), "
                f"the highest of {web['answer_floor_workers']:.0f} workers"
                if web["answer_floor_workers"]
                else f"not recorded ({web['answer_floor_files']:.0f} workers wrote a floor, none with customers' work)"
            ),
            f"`ANSWER_FLOOR_MS` {web['answer_floor_minimum_ms']:.0f} ms" if web["answer_floor_workers"] else "—",
            "—",
            "above the p99 of customers' work",
        )
    )
    rows.append(
        ("Web worker memory under that load", f"{web['worker_peak_rss_mb']:.0f} MB peak RSS", "—", "—", "≤ 150 MB")
    )
    step("web report intake on PostgreSQL, 1/2/4 gunicorn workers")
    for workers, pg in intake.postgres_workers().items():
        rows.append(
            (
                f"`POST /report`, fresh known customers, PostgreSQL, {workers} gunicorn worker(s), "
                f"{intake.CONNECTIONS} connections",
                f"{pg['per_second']:.0f} reports/s, p50 {pg['p50_ms']:.0f} ms, p99 {pg['p99_ms']:.0f} ms; "
                + (
                    f"answer floors {pg['answer_floor_lowest_ms']:.0f}–{pg['answer_floor_ms']:.0f} ms in "
                    f"{pg['answer_floor_workers']:.0f} worker(s) (the highest learned from a customers' work p99 "
                    f"of {pg['customers_work_p99_ms']:.1f} ms), at which {intake.CONNECTIONS} connections make "
                    f"at most {pg['answer_floor_cap_per_s']:.0f}/s"
                    + (
                        f", {pg['answer_floor_cold_workers']:.0f} worker(s) still cold"
                        if pg["answer_floor_cold_workers"]
                        else ""
                    )
                    if pg["answer_floor_workers"]
                    else "answer floor not recorded"
                )
                + f"; CPU {pg['cpu_busy_share']:.0%} busy",
                (
                    f"{pg['floor_per_s']:.0f} inserts/s, bare one-row insert, {workers} worker(s)"
                    if pg["floor_per_s"]
                    else f"none: the floor's {pg['floor_errors']:.0f} inserts all failed, {workers} worker(s)"
                ),
                f"{pg['ratio']:.2f} ×" if pg["floor_per_s"] else "—",
                "grows with workers; what caps it named",
            )
        )
    step("R3 timing: customers' addresses against unknown ones")
    for database, r3 in r3_timing.run().items():
        rows.append(
            (
                f"`POST /report` timing, customer vs unknown address ({database}, 200 each)",
                f"medians {r3['known_ms']:.1f} / {r3['unknown_ms']:.1f} ms (Δ {r3['difference_ms']:.1f} ms)",
                f"KS D = {r3['ks_d']:.3f}",
                f"p = {r3['ks_p']:.2f}",
                "Δ ≤ 5 ms, p > 0.01",
            )
        )
    step("R3 timing under load: both interleaved through gunicorn")
    r3_loads = [("SQLite", r3) for r3 in r3_load.run().items()]
    r3_loads += [("PostgreSQL", r3) for r3 in r3_load.run_postgres().items()]
    for database, (connections, r3) in r3_loads:
        rows.append(
            (
                f"`POST /report` timing under load, customers' and unknown addresses interleaved ({database}, gunicorn "
                f"2 workers, {connections} connections, {r3_load.SECONDS:.0f} s; the {r3['known']:.0f} / "
                f"{r3['unknown']:.0f} answers of the second half)",
                f"medians {r3['known_ms']:.1f} / {r3['unknown_ms']:.1f} ms, p99 {r3['known_p99_ms']:.1f} / "
                f"{r3['unknown_p99_ms']:.1f} ms; above the other's p99: customers' {r3['known_above_unknown_p99']:.1%}, "
                f"strangers' {r3['unknown_above_known_p99']:.1%}; cold workers' first {r3_load.COLD} each: medians "
                f"{r3['cold_known_ms']:.0f} / {r3['cold_unknown_ms']:.0f} ms (floor {r3['floor_ms']:.0f} ms, "
                f"{r3['cold_floor_ms']:.0f} ms cold); the whole run's KS p {r3['ks_p_whole_run']:.2f}",
                f"KS D = {r3['ks_d']:.3f}",
                f"p = {r3['ks_p']:.2f}",
                "p > 0.01",
            )
        )
    step("reset POST")
    reset = flows.reset_post()
    rows.append(
        (
            "Reset POST",
            f"{reset['reset_s'] * 1000:.0f} ms",
            f"{reset['argon2_s'] * 1000:.0f} ms of argon2 work (a verify per near form, one hash)",
            f"{reset['ratio']:.2f} ×",
            "≤ 1.25 ×",
        )
    )
    step("delay report")
    rep = delay_report.run(int(os.environ.get("BENCH_DELAY_INCIDENTS", "1000000")))
    rows.append(
        (
            f"Delay report, {rep['incidents']:,} incidents (SQLite)",
            f"{rep['report_s']:.2f} s",
            f"{rep['bare_fetch_s']:.2f} s bare fetch of the same 3 columns",
            f"{rep['ratio']:.2f} ×",
            "≤ 0.5 s",
        )
    )
    step("email import")
    imp = import_rate.run()
    rows.append(
        (
            "Email import (a batch of 200 messages or 0.1 s read in children, then written set-based and committed)",
            f"{imp['import_per_s']:.0f} messages/s end to end ({imp['commit_each_per_s']:.0f}/s committing each)",
            f"{imp['bare_per_s']:.0f} messages/s bare `email.message_from_bytes`",
            f"{imp['ratio']:.2f} ×",
            "≥ 0.5 ×",
        )
    )
    step("a writer's wait for SQLite's lock during an import")
    waits = import_writers.run()
    during, idle = waits["during"], waits["idle"]
    rows.append(
        (
            "Another process's writer waiting for SQLite's lock during `flask intake import` (random moments)",
            f"p50 {during['p50_ms']:.1f} ms, max {during['max_ms']:.0f} ms ({during['writes']} writes; "
            f"the import {waits['import_per_s']:.0f} messages/s)",
            f"p50 {idle['p50_ms']:.1f} ms, max {idle['max_ms']:.1f} ms with no import running",
            "—",
            "about one batch's write (0.1 s) at most",
        )
    )
    step("SMTP listener, 8 concurrent senders")
    smtp = smtp_listener.run()
    rows.append(
        (
            f"SMTP listener, {smtp['senders']} concurrent senders, each message durable before its 250 (SQLite)",
            f"{smtp['listener_per_s']:.0f} messages/s, p50 {smtp['listener_p50_ms']:.0f} ms, "
            f"p99 {smtp['listener_p99_ms']:.0f} ms",
            f"{smtp['floor_per_s']:.0f} messages/s, bare aiosmtpd storing one SQLite row (FULL) before each 250",
            f"{smtp['ratio']:.2f} ×",
            "measured, bound named",
        )
    )
    step("mass reactivation, SQLite and PostgreSQL")
    for database, mass in flows.mass_databases(int(os.environ.get("BENCH_MASS_CUSTOMERS", "100000"))).items():
        rows.append(
            (
                f"Mass reactivation, {mass['customers']:,} customers ({database})",
                f"{mass['seconds']:.1f} s",
                f"{mass['floor_seconds']:.1f} s bare executemany of the same {mass['floor_rows']:,} rows",
                f"{mass['ratio']:.2f} ×",
                "≤ 10 s for 100,000",
            )
        )
    step("the console and the delay report at 10k, 100k and 1M incidents")
    grown = scale.growth()
    for database, sizes in grown.items():
        largest = max(sizes)
        at = sizes[largest]
        for label, key, bare in (
            ("by channel", "channel_s", "channel_bare_s"),
            ("by a quarter", "quarter_s", "quarter_bare_s"),
        ):
            rows.append(
                (
                    f"Delay report {label}, {largest:,} incidents ({database})",
                    f"{at[key]:.2f} s",
                    f"{at[bare]:.2f} s bare fetch of the same rows' 3 columns",
                    f"{at[key] / at[bare]:.2f} ×",
                    "≤ 0.3 s",
                )
            )
        rows.append(
            (
                f"Console queue at {largest:,} incidents ({database}): first page / filter / search by "
                "reference / by address, medians",
                f"{at['first_page_ms']:.0f} / {at['filter_ms']:.0f} / {at['reference_ms']:.0f} / "
                f"{at['address_ms']:.0f} ms",
                f"{at['healthz_ms']:.1f} ms `GET /healthz`",
                "—",
                "≤ 50 ms each",
            )
        )
        rows.append(
            (
                f"Legal's late reports at {largest:,} incidents ({database}): first page awaiting a decision / "
                "page 40 of all, medians",
                f"{at['reviews_ms']:.0f} / {at['reviews_page_40_ms']:.0f} ms",
                f"{at['healthz_ms']:.1f} ms `GET /healthz`",
                "—",
                "≤ 50 ms each, as the queue",
            )
        )
        rows.append(
            (
                f"Growth ({database}): queue first page / filter / reference / address, legal's first page, and a "
                "known customer's `POST /report` in-process, medians at "
                + " / ".join(f"{size:,}" for size in sorted(sizes)),
                "; ".join(
                    f"{sizes[size]['first_page_ms']:.0f} / {sizes[size]['filter_ms']:.0f} / "
                    f"{sizes[size]['reference_ms']:.0f} / {sizes[size]['address_ms']:.0f} ms, legal "
                    f"{sizes[size]['reviews_ms']:.0f} ms, report {sizes[size]['report_ms']:.1f} ms"
                    for size in sorted(sizes)
                ),
                "—",
                "—",
                "flat with history",
            )
        )
    step("audit log: writers holding the chain's lock, and not")
    held = audit_log.lock_hold()
    rows.append(
        (
            f"Audit appends, {held['threads']} writers on PostgreSQL, {held['work_ms']:.0f} ms of work after each",
            f"{held['after_per_s']:.0f} transactions/s (no lock)",
            f"{held['before_per_s']:.0f} transactions/s holding the chain's lock as before",
            f"{held['after_per_s'] / held['before_per_s']:.1f} ×",
            "the lock gone from the write path",
        )
    )
    step("audit log: the sequencer")
    seq = audit_log.sequencer()
    rows.append(
        (
            f"Sequencer, {seq['events']:,} events into the Merkle tree (SQLite, batches of 1000)",
            f"{seq['per_second']:.0f} events/s",
            f"{seq['bare_per_second']:.0f} leaves/s hashed into a root in memory",
            f"{seq['ratio']:.3f} ×",
            "—",
        )
    )
    step("audit log: verifying an evidence pack")
    pack = audit_log.pack_verification()
    rows.append(
        (
            f"`verify_pack` on a real pack (log of {pack['history']:,} events)",
            f"{pack['verify_s'] * 1000:.1f} ms",
            f"{pack['bare_s'] * 1000:.2f} ms unzip and parse of its evidence.json",
            f"{pack['ratio']:.1f} ×",
            "—",
        )
    )
    step("outbox delivery")
    out = flows.outbox()
    rows.append(
        (
            "Outbox delivery to a local aiosmtpd sink (render, send, record)",
            f"{out['per_second']:.0f} emails/s",
            f"{out['bare_per_second']:.0f} emails/s, bare smtplib sending the same messages to the same sink",
            f"{out['ratio']:.2f} ×",
            "≥ 300 emails/s",
        )
    )

    header = "| benchmark | figure | baseline (same run) | ratio | target |\n|---|---|---|---|---|\n"
    table = header + "".join(f"| {' | '.join(row)} |\n" for row in rows)
    print(table)
    notes = RESULTS.parent / "benchmarks-notes.md"
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(
        "# Benchmarks\n\n"
        f"Measured by `make bench` on {datetime.date.today().isoformat()}: {machine()}.\n"
        "Each figure stands next to a baseline measured in the same run, since absolute times on shared\n"
        "machines drift. Tests never assert timings; these numbers are for reading.\n\n"
        + table
        + "\n"
        + (notes.read_text() if notes.exists() else "")
    )
    print(f"written to {RESULTS}", file=sys.stderr)


if __name__ == "__main__":
    main()
