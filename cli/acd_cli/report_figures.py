"""``acd-report``'s figures of a day: ``kpis``, ``freshness``, ``agent-day`` and
``agent-timeline``."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import click

from acd_cli import labels, output
from acd_cli.output import Column, format_option
from acd_cli.report_context import (
    AGENT_OPTION,
    DAY_OPTION,
    HOTLINE_OPTION,
    ReportContext,
    require_agent,
    require_hotline,
)
from acd_hub.events import CALL_CMDS
from acd_hub.freshness import SILENT_AFTER_MS
from acd_hub.kpis import NAMES as KPI_NAMES
from acd_hub.reports.freshness import FANOUT_CONSUMER, Freshness

# -- kpis ------------------------------------------------------------------------------------------

# (KPI, table header, how the table shows it); CSV and JSON carry the raw figures. Counts show
# as stored (a missing one as "-"); times and ratios as every picture shows them (labels.KPIS).
KPI_DISPLAY: tuple[tuple[str, str, Any], ...] = tuple(
    (kpi.name, kpi.header, None if kpi.unit == "count" else kpi.show) for kpi in labels.KPIS
)
assert tuple(name for name, _, _ in KPI_DISPLAY) == KPI_NAMES
DAY_ROW = "Day"


def _kpi_cell(name: str, show: Any) -> Any:
    if show is None:
        return lambda item: item.get(name)
    return lambda item: show(item.get(name))


def kpi_columns(zone: ZoneInfo, kinds: tuple[str, ...] | None = None) -> list[Column]:
    """The KPI table's columns; ``kinds``: only the KPIs of those units (``count``, ...)."""

    def start(item: output.Item) -> object:
        if item.get("start") == DAY_ROW:
            return DAY_ROW
        return output.local_time(item.get("start"), zone, "%H:%M")

    units = {kpi.name: kpi.unit for kpi in labels.KPIS}
    return [
        Column("start", start, no_wrap=True),
        *(
            Column(header, _kpi_cell(name, show), justify="right")
            for name, header, show in KPI_DISPLAY
            if kinds is None or units[name] in kinds
        ),
    ]


# The table in two: all 15 KPIs side by side were 225 columns, unreadable at 120.
COUNT_UNITS = ("count",)


KPI_CSV_COLUMNS = [output.field("start"), *(output.field(name) for name in KPI_NAMES)]


# -- freshness ------------------------------------------------------------------------------------


def describe_freshness(fresh: Freshness, zone: ZoneInfo) -> str:
    """One line that tells a supervisor whether the figures above are finished."""
    if not fresh.consumers:
        return "Freshness: no stream batch recorded yet: the aggregators have not run."
    complete = output.local_time(fresh.complete_to, zone) or "not yet known"
    aggregators = [c for c in fresh.consumers if c.consumer != FANOUT_CONSUMER]  # the reports' makers
    silent = [c for c in aggregators if c.state == "silent"]
    if silent:
        since = output.local_time(silent[0].updated_at, zone)
        names = ", ".join(c.consumer for c in silent)
        return f"Silent: {names} noted no batch since {since} while the others went on: figures may be incomplete."
    failing = sum(c.failing_shards for c in aggregators)
    if failing:
        shards = "shard" if failing == 1 else "shards"
        return f"A batch is failing and retried on {failing} stream {shards}: complete up to {complete} only."
    if fresh.catching_up:
        return f"Catching up ({fresh.behind_s or 0:.0f} s behind): complete up to {complete} only."
    if fresh.complete_to is None:
        return "Not yet known how complete the figures are: no batch has finished yet."
    last = output.local_time(fresh.updated_at, zone)
    return f"Complete up to {complete} ({zone.key}): every callback until then is in; last batch {last}."


# A day's freshness in CSV, as the last columns of every row (JSON has it as a "freshness" object).
FRESHNESS_CSV_COLUMNS = [
    output.field(f"freshness.{name}", f"freshness.{name}") for name in ("complete_to", "state", "final")
]


def day_freshness(report: ReportContext, day: str) -> dict[str, Any]:
    """What a script needs to tell a day's final figures from partial ones: up to when the
    reports are complete, what holds them back, and whether that covers the whole day (in the
    reporting time zone). A silent consumer makes nothing final."""
    fresh = report.reports.freshness()
    states = {c.state for c in fresh.consumers}
    state = next((s for s in ("silent", "retrying", "catching up") if s in states), "up to date")
    end = datetime.combine(date.fromisoformat(day) + timedelta(days=1), datetime.min.time(), report.zone)
    complete = output.parse_utc(str(fresh.complete_to or ""))
    final = complete is not None and complete >= end and state != "silent"
    return {
        "complete_to": fresh.complete_to,
        "state": state if fresh.consumers else "not started",
        "final": final,
    }


def emit_reports(
    report: ReportContext,
    fmt: str | None,
    items: list[dict[str, Any]],
    *,
    columns: list[Column],
    title: str,
    empty_message: str,
    csv_lead: tuple[str, ...],
) -> None:
    """A listing of reports in the chosen format; under a table, how fresh the reports are."""
    chosen = report.output_format(fmt)
    output.emit(items, chosen, columns=columns, title=title, empty_message=empty_message, csv_lead=csv_lead)
    if items:
        show_freshness(report, chosen)


def show_freshness(report: ReportContext, chosen: str) -> None:
    # table output only: json and csv stay exactly the report (see the freshness command)
    if chosen == "table":
        click.echo(describe_freshness(report.reports.freshness(), report.zone))


# The stored events the aggregators read (their mappings' filters): a newer one than every
# note means the stream functions stopped, not that the hub is idle.
AGGREGATED_CMDS = sorted(CALL_CMDS | {"agentstate"})


def stalled_since(fresh: Freshness, arrived: str | None) -> str | None:
    """The newest note of any consumer (or "" for none), when callbacks the aggregators read
    arrived more than ``SILENT_AFTER_MS`` after it; None while the consumers keep up."""
    if arrived is None:
        return None
    latest = output.parse_utc(arrived)
    noted = output.parse_utc(str(fresh.updated_at or ""))
    if latest is None:
        return None
    if noted is None:
        return ""
    return fresh.updated_at if (latest - noted).total_seconds() * 1000 > SILENT_AFTER_MS else None


def stalled_line(since: str, arrived: str | None, zone: ZoneInfo) -> str:
    last = output.local_time(since, zone) if since else "never"
    return (
        f"Stalled: callbacks arrived until {output.local_time(arrived, zone)}, but no stream consumer "
        f"noted a batch since {last}: the aggregators are not running (see acd-local's log, or "
        "the functions' errors and the StreamLag alarm)."
    )


@click.command()
@format_option
@click.pass_obj
def freshness(report: ReportContext, *, fmt: str | None) -> None:
    """Up to when the reports are complete, and how far behind each stream consumer is."""
    chosen = report.output_format(fmt)
    fresh = report.reports.freshness()
    arrived = report.queries.latest_arrival(report.today(), AGGREGATED_CMDS)
    stalled = stalled_since(fresh, arrived)
    if chosen == "json":
        output.show_json({**fresh.as_dict(), "latest_callback": arrived, "stalled": stalled is not None})
        return
    columns = [
        output.field("consumer"),
        output.time_field("complete_to", f"complete up to ({report.zone.key})", report.zone),
        output.time_field("updated_at", "last batch", report.zone),
        Column("behind", lambda i: output.duration(i.get("behind_s")), justify="right"),
        output.field("state"),
        Column("shards", lambda i: i.get("shards"), justify="right"),
    ]
    consumers = fresh.as_dict()["consumers"]
    if consumers and not any(c["consumer"] == FANOUT_CONSUMER for c in consumers):
        # it notes a batch only when there was a config change or a broadcast to publish
        consumers.append({"consumer": FANOUT_CONSUMER, "complete_to": None, "updated_at": None})
    output.emit(
        consumers,
        chosen,
        columns=columns,
        title="Freshness of the reports and the fan-out (no batch yet: nothing to publish so far)"
        if any(c["consumer"] == FANOUT_CONSUMER and c["updated_at"] is None for c in consumers)
        else "Freshness of the reports and the fan-out",
        empty_message="No stream batch recorded yet: the aggregators have not run.",
        csv_lead=("consumer", "state", "complete_to", "updated_at", "behind_s", "shards"),
    )
    if stalled is not None and chosen == "table":
        click.echo(stalled_line(stalled, arrived, report.zone))
        return
    show_freshness(report, chosen)


@click.command()
@HOTLINE_OPTION
@DAY_OPTION
@format_option
@click.pass_obj
def kpis(report: ReportContext, *, hotline: str, day: str | None, fmt: str | None) -> None:
    """A hotline's KPIs of a day: the day and each 15-minute interval with offered calls."""
    day = day or report.today()
    chosen = report.output_format(fmt)
    found = report.reports.kpis(hotline, day)
    if found is None:
        require_hotline(report, hotline, day)
        output.show_empty(chosen, f"No KPIs for hotline {hotline} on {day} yet.", single=True)
        return
    document = found.as_dict()
    figures, intervals, shown = document["day"], document["intervals"], found.hotline
    if chosen == "json":
        output.show_json({**document, "freshness": day_freshness(report, day)})
    elif chosen == "csv":
        fresh = {"freshness": day_freshness(report, day)}  # on every row: a partial day says so
        rows = [{**row, **fresh} for row in [*intervals, {**figures, "start": "day"}]]
        output.show_csv(rows, [*KPI_CSV_COLUMNS, *FRESHNESS_CSV_COLUMNS])
    else:
        other_units = tuple({kpi.unit for kpi in labels.KPIS} - set(COUNT_UNITS))
        title = f"KPIs of hotline {report.names.hotline(shown)} on {day} (15-minute intervals from start, {report.zone.key})"
        for kinds, heading in ((COUNT_UNITS, f"{title}: calls"), (other_units, "Times and ratios")):
            if kinds is not COUNT_UNITS:
                click.echo()
            output.show_table(
                intervals,
                kpi_columns(report.zone, kinds),
                title=heading,
                totals=[{**figures, "start": DAY_ROW}],
            )
        if found.sl_seconds is not None:
            click.echo(f"Service level: answered within {found.sl_seconds} s.")
        show_freshness(report, chosen)


# -- agent-day, agent-timeline ------------------------------------------------------------------


@click.command("agent-day")
@AGENT_OPTION
@DAY_OPTION
@format_option
@click.pass_obj
def agent_day(report: ReportContext, *, agent: str, day: str | None, fmt: str | None) -> None:
    """An agent's day: time per state and pause reason, and the calls handled."""
    day = day or report.today()
    chosen = report.output_format(fmt)
    found = report.reports.agent_day(agent, day, with_timeline=False)
    if found is None:
        require_agent(report, agent, day)
        output.show_empty(chosen, f"No statistics for agent {agent} on {day} yet.", single=True)
        return
    document = found.as_dict()
    states, pauses = found.state_seconds, found.pause_seconds
    if chosen == "json":
        output.show_json({**document, "freshness": day_freshness(report, day)})
    elif chosen == "csv":
        fresh = {"freshness": day_freshness(report, day)}
        trail = [column.header for column in FRESHNESS_CSV_COLUMNS]
        output.show_csv([{**document, **fresh}], lead=("agent", "day", "calls_handled"), trail=trail)
    else:
        time_column = Column("time", lambda i: output.duration(i["seconds"]), justify="right")
        output.show_table(
            [{"name": labels.state_label(state), "seconds": seconds} for state, seconds in states.items()],
            [output.field("name", "state"), time_column],
            title=f"Agent {report.names.agent(found.agent)} on {found.day}: time per state",
            totals=[{"name": "total", "seconds": sum(states.values())}],
        )
        if pauses:
            click.echo()
            output.show_table(
                [{"name": reason, "seconds": seconds} for reason, seconds in pauses.items()],
                [output.field("name", "pause reason"), time_column],
            )
        click.echo()
        click.echo(f"Calls handled: {found.calls_handled}")
        show_freshness(report, chosen)


def timeline_columns(zone: ZoneInfo) -> list[Column]:
    def end(item: output.Item) -> object:
        return "open" if item.get("end") is None else output.local_time(item["end"], zone, "%H:%M:%S")

    def length(item: output.Item) -> object:
        return "open" if item.get("end") is None else output.duration(item.get("seconds"))

    return [
        output.time_field("start", "start", zone, "%H:%M:%S"),
        Column("end", end, no_wrap=True),
        Column("state", lambda i: labels.state_label(i.get("state"))),
        Column("duration", length, justify="right"),
        output.field("pause_reason", "pause reason"),
        output.field("task_id", "task"),
        output.field("hotline"),
    ]


TIMELINE_CSV_LEAD = (
    "start",
    "end",
    "state",
    "seconds",
    "pause_reason",
    "task_id",
    "hotline",
    "carried",
    "start_ms",
    "end_ms",
)


@click.command("agent-timeline")
@AGENT_OPTION
@DAY_OPTION
@format_option
@click.pass_obj
def agent_timeline(report: ReportContext, *, agent: str, day: str | None, fmt: str | None) -> None:
    """An agent's state intervals of a day; the last one stays open until the next event."""
    day = day or report.today()
    intervals = [interval.as_dict() for interval in report.reports.agent_timeline(agent, day)]
    if not intervals:
        require_agent(report, agent, day)
    emit_reports(
        report,
        fmt,
        intervals,
        columns=timeline_columns(report.zone),
        title=f"Timeline of agent {report.names.agent(agent)} on {day} ({report.zone.key})",
        empty_message=f"No timeline for agent {agent} on {day} yet.",
        csv_lead=TIMELINE_CSV_LEAD,
    )


COMMANDS = (freshness, kpis, agent_day, agent_timeline)
