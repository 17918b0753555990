"""``acd-report``: what the callback hub stored and computed, with DynamoDB ``Query`` and
``GetItem`` only (never ``Scan``).

Stored events (events table): ``events``, ``rejected``. The aggregators' reports (reports
table): ``kpis``, ``agent-day``, ``agent-timeline``, ``call``, ``calls``, ``board``.

Against AWS::

    acd-report --profile prod --region eu-central-1 --stack-name acd-callback-hub \\
        events --call 5f3a9c01b2d4e6f708192a3b
    acd-report --stack-name acd-callback-hub kpis --hotline 501 --day 2026-11-20

Against the local stack (``make run``), where the tables carry the template's logical ids::

    acd-report --endpoint-url http://127.0.0.1:5000 events --cmd callevent --day 2026-11-20 -f csv
    acd-report --endpoint-url http://127.0.0.1:5000 board

Nothing found is no error: a message (on stderr for ``--format json|csv``, whose stdout stays
parseable: ``[]``/``null``/empty) and exit code 0.

Value problems and AWS errors end in one ``Error: ...`` line and exit code 2, never a traceback.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click

from acd_cli import report_figures, report_listings, report_pictures
from acd_cli.options import Connection, connection_options
from acd_cli.output import format_option
from acd_cli.report_context import ReportContext, ReportError, ReportGroup, given


def _zone(_ctx: click.Context, _param: click.Parameter, value: str) -> ZoneInfo:
    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a name too long for a file
        raise ReportError(f"--timezone: unknown time zone {value!r} (e.g. Europe/Berlin)") from None


# -- the command group -----------------------------------------------------------------------


@click.group(cls=ReportGroup, context_settings={"help_option_names": ["-h", "--help"]})
@connection_options
@click.option(
    "--timezone",
    "zone",
    default="Europe/Berlin",
    show_default=True,
    envvar="ACD_REPORT_TIMEZONE",
    show_envvar=True,
    callback=_zone,
    help="Reporting time zone: days and displayed times.",
)
@click.option(
    "--kpi-shards",
    type=click.IntRange(1, 64),
    default=4,
    show_default=True,
    envvar="ACD_KPI_SHARDS",
    show_envvar=True,
    help="Shards of each hotline's KPI counters; must match the stack's ACD_KPI_SHARDS.",
)
@click.option(
    "--names",
    "names_file",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="ACD_NAMES",
    show_envvar=True,
    help="Names of hotlines and agents (TOML; default: acd-names.toml here, if there is one).",
)
@format_option
@click.pass_context
def cli(
    ctx: click.Context,
    *,
    connection: Connection,
    zone: ZoneInfo,
    kpi_shards: int,
    names_file: Path | None,
    fmt: str | None,
) -> None:
    """Reports over the ACD callback hub's tables (DynamoDB Query only, never Scan)."""
    ctx.obj = ReportContext(
        **connection,
        zone_option=zone,
        zone_given=given(ctx, "zone"),
        kpi_shards=kpi_shards,
        kpi_shards_given=given(ctx, "kpi_shards"),
        fmt=fmt,
        names_file=names_file,
    )


for command in (*report_listings.COMMANDS, *report_figures.COMMANDS, *report_pictures.COMMANDS):
    cli.add_command(command)


def main(argv: Sequence[str] | None = None) -> None:
    cli.main(args=argv, prog_name="acd-report")
