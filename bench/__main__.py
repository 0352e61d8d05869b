"""`make bench`: run every benchmark, print one table, write docs/benchmarks.md.

Each figure stands beside a baseline measured in the same run. `BENCH_MASS_CUSTOMERS` (default
100,000) and `BENCH_DELAY_INCIDENTS` (default 1,000,000) shrink the two long ones for a quick look.
"""

from __future__ import annotations

import datetime
import logging
import os
import sys

from . import audit_log, delay_report, flows, import_rate, intake, r3_timing
from .common import RESULTS, machine

logging.disable(logging.INFO)  # the service's own INFO lines would only slow the measured paths


def main() -> None:
    rows: list[tuple[str, str, str, str, str]] = []

    def step(name: str) -> None:
        print(f"running: {name} …", file=sys.stderr, flush=True)

    step("web report intake under gunicorn")
    web = intake.run()
    rows.append(
        (
            "Report intake (gunicorn, 2 workers, 8 connections)",
            f"{web['report_per_s']:.0f} reports/s",
            f"{web['floor_per_s']:.0f} inserts/s, bare Flask one-row insert",
            f"{web['ratio']:.2f} ×",
            "≥ 0.5 ×",
        )
    )
    rows.append(
        ("Web worker memory under that load", f"{web['worker_peak_rss_mb']:.0f} MB peak RSS", "—", "—", "≤ 150 MB")
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
            "Email import",
            f"{imp['import_per_s']:.0f} messages/s end to end",
            f"{imp['bare_per_s']:.0f} messages/s bare `email.message_from_bytes`",
            f"{imp['ratio']:.2f} ×",
            "≥ 0.7 ×",
        )
    )
    step("mass reactivation")
    mass = flows.mass(int(os.environ.get("BENCH_MASS_CUSTOMERS", "100000")))
    rows.append(
        (
            f"Mass reactivation, {mass['customers']:,} customers",
            f"{mass['seconds']:.1f} s",
            f"{mass['per_second']:.0f} customers/s",
            "—",
            "≤ 15 s for 100,000",
        )
    )
    step("audit log: web reports on PostgreSQL before and after the chain lock went, 1/2/4 workers")
    lock = audit_log.web_reports()
    for workers in audit_log.WORKERS:
        before, after = lock["before"][workers], lock["after"][workers]
        rows.append(
            (
                f"`POST /report`, known customers, PostgreSQL, {workers} gunicorn worker(s), "
                f"{audit_log.CONNECTIONS} connections",
                f"{after['per_second']:.0f} reports/s, p99 {after['p99_ms']:.0f} ms (writers take no lock)",
                f"{before['per_second']:.0f} reports/s, p99 {before['p99_ms']:.0f} ms (chain lock, commit "
                f"{audit_log.BEFORE_COMMIT})",
                f"{after['per_second'] / max(before['per_second'], 0.001):.2f} ×",
                "grows with workers",
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
        ("Outbox delivery to a local aiosmtpd sink", f"{out['per_second']:.0f} emails/s", "—", "—", "≥ 300 emails/s")
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
