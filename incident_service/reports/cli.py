"""`flask reports delay [--from D] [--to D] [--format csv|json]`: the same numbers as the console page."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from .export import numbers_csv, report_json
from .service import DelayFilter, FilterError, build_delay_report

reports_cli = click.Group("reports", help="Reports for legal.")


@reports_cli.command("delay")
@click.option("--from", "received_from", default=None, help="First day (YYYY-MM-DD, display time zone).")
@click.option("--to", "received_to", default=None, help="Last day (YYYY-MM-DD), included.")
@click.option("--channel", default=None, help="Channel of the first report.")
@click.option("--lateness", default=None, help="on_time, late or unknown.")
@click.option("--policy", default=None, help="A policy version id, or 'default'.")
@click.option("--decision", default=None, help="A review decision, or 'none'.")
@click.option("--format", "output", type=click.Choice(["csv", "json"]), default="csv", show_default=True)
@with_appcontext
def delay_command(
    received_from: str | None,
    received_to: str | None,
    channel: str | None,
    lateness: str | None,
    policy: str | None,
    decision: str | None,
    output: str,
) -> None:
    """The delay report: summary, month by month, histogram (columns in docs/reports.md)."""
    try:
        filters = DelayFilter.parse(
            {
                "from": received_from,
                "to": received_to,
                "channel": channel,
                "lateness": lateness,
                "policy": policy,
                "decision": decision,
            },
            strict=True,
        )
    except FilterError as exc:
        raise click.ClickException(str(exc)) from None
    report = build_delay_report(filters)
    click.echo(numbers_csv(report) if output == "csv" else report_json(report), nl=output == "json")
