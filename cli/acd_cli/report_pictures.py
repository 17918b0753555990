"""``acd-report``'s pictures: the HTML day report (``html``), a range of days (``range``) and
the live wallboard (``serve``)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import click
from click.decorators import FC

from acd_cli import labels, output
from acd_cli.numbers import FloatRange
from acd_cli.output import Column, format_option
from acd_cli.report_context import (
    DAY_OPTION,
    ReportContext,
    ReportError,
    agent_values,
    day_value,
    given,
    hotline_values,
    parse_day,
)
from acd_hub import kpis

# -- pictures: the HTML day report and the wallboard ------------------------------------------------


def hotlines_option(help_text: str) -> Callable[[FC], FC]:
    """``--hotline``, repeatable, each a hotline id: the command gets them as ``hotlines``."""
    return click.option(
        "--hotline", "hotlines", metavar="HOTLINEID", multiple=True, callback=hotline_values, help=help_text
    )


SL_TARGET_OPTION = click.option(
    "--sl-target",
    type=FloatRange(0, 100),
    default=80.0,
    show_default=True,
    help="Service-level target in percent, drawn on the charts.",
)
MIN_SL_CALLS_OPTION = click.option(
    "--min-sl-calls",
    type=click.IntRange(1, 1000),
    default=5,
    show_default=True,
    help="An interval's service level over fewer calls is marked as too few to judge.",
)


@click.command()
@DAY_OPTION
@hotlines_option("Hotline to show (repeatable; default: every hotline with calls that day).")
@click.option(
    "--agent",
    "agents",
    metavar="AGENTID",
    multiple=True,
    callback=agent_values,
    help="Agent to show (repeatable; default: every agent with statistics that day).",
)
@SL_TARGET_OPTION
@MIN_SL_CALLS_OPTION
@click.option(
    "--out",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    required=True,
    help="The HTML file to write (self-contained: opens offline).",
)
@click.pass_obj
def html(
    report: ReportContext,
    *,
    day: str | None,
    hotlines: list[str],
    agents: list[str],
    sl_target: float,
    min_sl_calls: int,
    out: Path,
) -> None:
    """The day report as one self-contained HTML file: KPIs, 15-minute charts, agent timelines."""
    from acd_cli import html_report  # noqa: PLC0415 - the chart renderer loads only for pictures

    day = day or report.today()
    with html_report.warming_up():  # the renderer starts while the reads run
        found = html_report.gather(
            report.reports,
            report.queries,
            day,
            report.zone,
            hotlines=hotlines,
            agents=agents,
            now=report.now(),
            sl_target_pct=sl_target,
            min_sl_calls=min_sl_calls,
        )
    found.names = report.names
    page = html_report.render(found)
    try:
        out.write_text(page, encoding="utf-8")
    except OSError as exc:
        raise ReportError(f"--out: cannot write {out}: {exc.strerror}") from None
    click.echo(
        f"Wrote {out} ({len(page.encode()) / 1024:.0f} KB): day {day}, "
        f"{len(found.hotlines)} hotline(s), {len(found.agents)} agent(s)."
    )


# ``range --format csv``: which hotline and period, then every KPI in the order of ``kpis``.
RANGE_CSV_COLUMNS = ("hotline", "period", "from", "to", *kpis.NAMES)


@click.command("range")
@hotlines_option(
    "Hotline (repeatable; default: the named ones, else those with calls on the range's last day,"
    " or today when the range ends later)."
)
@click.option(
    "--period",
    type=click.Choice(("day", "week", "month")),
    default="week",
    show_default=True,
    help="The day, week (Mon-Sun) or month of --day.",
)
@DAY_OPTION
@click.option(
    "--from", "first", metavar="YYYY-MM-DD", callback=day_value, help="Any range: its first day (with --to)."
)
@click.option("--to", "last", metavar="YYYY-MM-DD", callback=day_value, help="... and its last day.")
@format_option
@click.pass_obj
def range_command(
    report: ReportContext,
    *,
    hotlines: list[str],
    period: str,
    day: str | None,
    first: str | None,
    last: str | None,
    fmt: str | None,
) -> None:
    """KPIs of a range of days per hotline, next to the period of the same length before it."""
    from acd_cli import range_report  # noqa: PLC0415

    if (first is None) != (last is None):
        raise click.UsageError("--from and --to go together")
    if first is not None and (day is not None or given(click.get_current_context(), "period")):
        raise click.UsageError("--day and --period do not apply to --from/--to: the range is its days")
    try:
        if first is None or last is None:
            first, last = range_report.period_of(period, day or report.today())
        found = range_report.gather(
            report.reports, range_report.range_hotlines(report, hotlines, last), first, last
        )
    except range_report.RangeError as exc:
        raise ReportError(str(exc)) from None
    document = found.as_dict()
    chosen = report.output_format(fmt)
    if chosen == "json":
        output.show_json(document)
        return
    if chosen == "csv":
        # A row per hotline and period with every KPI, as in the JSON (before, ``--format csv``
        # printed the table: a script read a box-drawn page as CSV). A period without counters
        # has its KPIs empty, as JSON's ``"figures": null``.
        periods = [
            {
                "hotline": d["hotline"],
                "period": kind,
                "from": p["from"],
                "to": p["to"],
                **(p["figures"] or {}),
            }
            for d in document
            for kind, p in (("range", d), ("previous", d["previous"]))
        ]
        output.show_csv(periods, [output.field(name) for name in RANGE_CSV_COLUMNS])
        return
    rows = [
        {
            "hotline": report.names.hotline(d["hotline"]),
            "period": f"{p['from']}..{p['to'][5:]}",
            **(p.get("figures") or {}),
        }
        for d in document
        for p in (d, d["previous"])
    ]

    def kpi_column(name: str) -> Column:
        return Column(
            labels.KPI_BY_NAME[name].header, lambda i: labels.kpi_text(name, i.get(name)), justify="right"
        )

    # fits 120 columns with the hotlines' names (the rest: --format json)
    columns = [output.field("hotline"), output.field("period")] + [
        kpi_column(name) for name in ("offered", "answered", "service_level_pct", "abandon_rate_pct", "asa_s")
    ]
    output.show_table(rows, columns, title=f"KPIs from {first} to {last}, and the period before")


@click.command()
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8080,
    show_default=True,
    envvar="ACD_REPORT_SERVE_PORT",
    show_envvar=True,
    help="Port on 127.0.0.1 (0: any free one).",
)
@hotlines_option("Hotline on the wallboard (repeatable; default: every hotline with calls today).")
@click.option(
    "--refresh",
    type=FloatRange(1, 300),
    default=3.0,
    show_default=True,
    help="Seconds between the wallboard's refreshes.",
)
@SL_TARGET_OPTION
@MIN_SL_CALLS_OPTION
@click.option(
    "--wait-warning",
    type=FloatRange(1, 7200),
    default=60.0,
    show_default=True,
    help="Seconds the oldest waiting call may wait before its hotline turns amber.",
)
@click.option(
    "--wait-alarm",
    type=FloatRange(1, 7200),
    default=180.0,
    show_default=True,
    help="... and red.",
)
@click.option(
    "--as-of",
    metavar="'YYYY-MM-DD HH:MM'",
    help="Run the wallboard's clock from this moment (reporting time zone) instead of now: "
    "replay a past day on the wall, a demo, a screenshot.",
)
@click.pass_obj
def serve(
    report: ReportContext,
    *,
    port: int,
    hotlines: list[str],
    refresh: float,
    sl_target: float,
    min_sl_calls: int,
    wait_warning: float,
    wait_alarm: float,
    as_of: str | None,
) -> None:
    """Serve the live wallboard and the day report on http://127.0.0.1:PORT (Ctrl-C stops)."""
    from acd_cli import wallboard  # noqa: PLC0415

    if as_of is not None:
        try:
            moment = datetime.strptime(as_of.strip(), "%Y-%m-%d %H:%M").replace(tzinfo=report.zone)
        except ValueError:
            raise ReportError(f"--as-of: {as_of!r} is not a moment in the form 'YYYY-MM-DD HH:MM'") from None
        parse_day(moment.date().isoformat(), "--as-of")
        report.clock_offset = moment - datetime.now(UTC)
    # Read once for the whole run: a broken names file is this command's error (exit 2) before it
    # listens, not a 400 on every figure a browser asks for while the server says it is serving.
    report.names  # noqa: B018

    try:
        server = wallboard.WallboardServer(
            ("127.0.0.1", port),
            wallboard.Wallboard(
                report,
                hotlines=hotlines,
                refresh_s=refresh,
                sl_target_pct=sl_target,
                min_sl_calls=min_sl_calls,
                wait_targets=wallboard.WaitTargets(wait_warning, max(wait_alarm, wait_warning)),
            ),
        )
    except OSError as exc:
        raise ReportError(f"--port: cannot listen on 127.0.0.1:{port}: {exc.strerror}") from None
    address = f"http://127.0.0.1:{server.server_address[1]}"
    clock = f" (clock from {as_of}, {report.zone.key})" if as_of else ""
    click.echo(f"Wallboard   {address}/{clock}\nDay report  {address}/report?day=YYYY-MM-DD\nCtrl-C stops.")
    try:
        server.serve_forever(poll_interval=0.25)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


COMMANDS = (html, range_command, serve)
