"""`make bench`: run every benchmark, print one table, write docs/benchmarks.md."""

from __future__ import annotations

import datetime
import sys

from . import delay_report, import_rate
from .common import RESULTS, machine


def main() -> None:
    rows = []
    print("running: email import …", file=sys.stderr)
    imp = import_rate.run()
    rows.append(("Email import", f"{imp['import_per_s']:.0f} messages/s end to end",
                 f"{imp['bare_per_s']:.0f} messages/s bare `email.message_from_bytes`",
                 f"{imp['ratio']:.2f} ×", "≥ 0.7 ×"))
    print("running: delay report over 1,000,000 incidents …", file=sys.stderr)
    rep = delay_report.run()
    rows.append(("Delay report, 1,000,000 incidents (SQLite)", f"{rep['report_s']:.2f} s",
                 f"{rep['bare_fetch_s']:.2f} s bare fetch of the same 3 columns", f"{rep['ratio']:.2f} ×", "≤ 0.5 s"))
    header = "| benchmark | figure | baseline (same run) | ratio | target |\n|---|---|---|---|---|\n"
    table = header + "".join(f"| {' | '.join(row)} |\n" for row in rows)
    print(table)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(
        "# Benchmarks\n\n"
        f"Measured by `make bench` on {datetime.date.today().isoformat()}: {machine()}.\n"
        "Each figure stands next to a baseline measured in the same run, since absolute times on shared\n"
        "machines drift. Tests never assert timings; these numbers are for reading.\n\n"
        + table
        + "\n## What each measures\n\n"
        "- **Email import**: `flask intake import`'s per-message path (store the bytes, parse, match, open\n"
        "  the incident with lock, stamp rotation, grant, queued acknowledgement and audit events, commit\n"
        f"  each message) over {imp['messages']:.0f} distinct messages from the test corpus, 150 of 200 senders\n"
        "  being customers, on SQLite; baseline: parsing the same bytes with `email.message_from_bytes`\n"
        "  (`policy.default`), best of three.\n"
        "- **Delay report**: `build_delay_report` with no filter (summary, months, histogram) over\n"
        f"  {rep['incidents']:,} generated incidents on SQLite, best of three; baseline: fetching the same three\n"
        "  columns with the sqlite3 module and nothing else.\n"
    )
    print(f"written to {RESULTS}", file=sys.stderr)


if __name__ == "__main__":
    main()
