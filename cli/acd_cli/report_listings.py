"""``acd-report``'s listings: stored events (``events``, ``rejected``, ``warnings``), the
aggregators' calls and board (``call``, ``calls``, ``board``) and the day's ``hotlines`` and
``agents``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

import click

from acd_cli import labels, output
from acd_cli.names import NO_NAMES, Names
from acd_cli.output import Column, format_option
from acd_cli.report_context import (
    DAY_OPTION,
    HOTLINE_OPTION,
    NO_HOTLINE,
    ReportContext,
    _agent,
    _task,
    day_value,
    require_hotline,
    unknown_agent,
)
from acd_cli.report_figures import emit_reports, show_freshness
from acd_hub import keys
from acd_hub.models import CALLBACK_MODELS

# -- events ------------------------------------------------------------------------------------

CMDS: tuple[str, ...] = tuple(CALLBACK_MODELS)
MODE_NAMES = {0: "in", 1: "out"}
# The fields that tell one event of a kind from another, as the table's "details" column.
SUMMARY_FIELDS: dict[str, tuple[str, ...]] = {
    "agentstate": ("state", "mode", "hotline", "group", "mandator", "pause-reason", "callingnumber"),
    "callevent": ("eventtype", "mode", "hotlineid", "groupid", "callingnumber", "callednumber", "connected"),
    "recordedcall": ("mode",),
    "classificationevent": ("classificationreason", "classificationcategoryid", "hotlineid", "mandatorid"),
    "enqueuecall": ("mandatorid",),
    "schedulecallevent": ("scheduleid", "callednumber", "nextretrystartdate", "agenttype"),
    "configchanged": ("action", "type", "secondtype"),
    "broadcastevent": ("groupid", "admin", "message"),
}


def _show(name: str, value: object, zone: ZoneInfo) -> object:
    if isinstance(value, dict) and "raw" in value:  # a phone number
        return value.get("e164") or value.get("raw")
    if name == "mode" and isinstance(value, int):
        return MODE_NAMES.get(value, value)
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, str) and value.endswith("Z") and output.parse_utc(value):
        return output.local_time(value, zone, "%Y-%m-%d %H:%M")
    return value


def event_details(item: output.Item, zone: ZoneInfo) -> str:
    """``state=connected mode=in hotline=Service callingnumber=+492212601599``."""
    data = item.get("data") or {}
    raw = item.get("raw") or {}
    names = SUMMARY_FIELDS.get(str(item.get("cmd")), ())
    values = ((name, data.get(name, raw.get(name))) for name in names)
    return output.pairs((name, _show(name, value, zone)) for name, value in values)


def event_columns(zone: ZoneInfo) -> list[Column]:
    return [
        output.time_field("event_time", f"time ({zone.key})", zone, no_wrap=True),
        output.field("cmd"),
        output.field("agent"),
        output.field("task_id", "task"),
        # The event key is in --format json/csv: beside a 120-column terminal's other columns it
        # left the details three characters.
        Column("details", lambda i: event_details(i, zone), max_width=120),
    ]


EVENT_CSV_LEAD = ("event_time", "day", "cmd", "event_key", "agent", "task_id", "received_at", "pk", "sk")


@click.command()
@click.option(
    "--call", "task_id", metavar="TASKID", callback=_task, help="Every event of one call (task id)."
)
@click.option(
    "--agent",
    metavar="AGENTID",
    callback=_agent,
    help="An agent's day: agentstate plus events naming the agent.",
)
@click.option("--cmd", type=click.Choice(CMDS, case_sensitive=False), help="Every event of one type and day.")
@click.option("--day", metavar="YYYY-MM-DD", callback=day_value, help="With --agent/--cmd (default: today).")
@format_option
@click.pass_obj
def events(
    report: ReportContext,
    *,
    task_id: str | None,
    agent: str | None,
    cmd: str | None,
    day: str | None,
    fmt: str | None,
) -> None:
    """Stored events: by call (--call), by agent and day (--agent), by type and day (--cmd)."""
    chosen = [flag for flag, value in (("--call", task_id), ("--agent", agent), ("--cmd", cmd)) if value]
    if len(chosen) != 1:
        given = f" (got {' and '.join(chosen)})" if chosen else ""
        raise click.UsageError(f"give exactly one of --call TASKID, --agent AGENTID or --cmd CMD{given}")
    if task_id is not None:
        if day is not None:
            raise click.UsageError("--day does not apply to --call: a call is listed whatever its day")
        items = report.queries.events_by_call(task_id)
        subject = f"call {task_id}"
    elif agent is not None:
        day = day or report.today()
        items = report.queries.events_by_agent_day(agent, day)
        if not items:
            raise unknown_agent(report, agent, day)
        subject = f"agent {report.names.agent(agent)} on {day}"
    else:
        assert cmd is not None
        cmd = cmd.lower()
        day = day or report.today()
        items = report.queries.events_by_cmd_day(cmd, day)
        subject = f"cmd {cmd} on {day}"
    output.emit(
        items,
        report.output_format(fmt),
        columns=event_columns(report.zone),
        title=f"Events of {subject}",
        empty_message=f"No events found for {subject}.",
        csv_lead=EVENT_CSV_LEAD,
    )


# -- rejected ----------------------------------------------------------------------------------


def _errors_text(item: output.Item) -> str | None:
    errors = item.get("errors")
    if isinstance(errors, list) and errors:
        return "; ".join(f"{e.get('parameter')}: {e.get('message')}" for e in errors if isinstance(e, dict))
    reason = item.get("reason")
    return str(reason) if reason else None


def rejected_columns(zone: ZoneInfo) -> list[Column]:
    return [
        output.time_field("received_at", f"received ({zone.key})", zone, no_wrap=True),
        output.field("status", justify="right"),
        output.field("method"),
        Column("errors", _errors_text, max_width=120),
        output.field("source_ip", "source"),
        output.field("request_id", "request id", no_wrap=True),
    ]


REJECTED_CSV_LEAD = ("received_at", "day", "status", "reason", "method", "path", "query", "request_id")


@click.command()
@click.option("--day", metavar="YYYY-MM-DD", callback=day_value, help="Day of receipt (default: today).")
@format_option
@click.pass_obj
def rejected(report: ReportContext, *, day: str | None, fmt: str | None) -> None:
    """Quarantined requests (bad input kept for replay) received on a day."""
    day = day or report.today()
    items = report.queries.rejected(day)
    output.emit(
        items,
        report.output_format(fmt),
        columns=rejected_columns(report.zone),
        title=f"Rejected requests of {day}",
        empty_message=f"No rejected requests found for {day}.",
        csv_lead=REJECTED_CSV_LEAD,
    )


# -- call, calls ---------------------------------------------------------------------------------

CALL_CSV_LEAD = (
    "task_id",
    "direction",
    "hotline",
    "group",
    "agents",
    "started",
    "answered",
    "ended",
    "wait_s",
    "talk_s",
    "hold_s",
    "acw_s",
    "outcome",
    "recorded",
    "classification",
    "day",
    "interval",
    "event_count",
    "started_ms",
    "problems",
)


def _problems(item: output.Item) -> str | None:
    """Why a call's durations are unknown (events out of time order), in words."""
    problems = item.get("problems")
    if not isinstance(problems, list) or not problems:
        return None
    return ", ".join(labels.CALL_PROBLEMS.get(str(p), str(p)) for p in problems)


def _agents(item: output.Item, names: Names = NO_NAMES) -> str | None:
    agents = item.get("agents")
    return ", ".join(names.agent(a) for a in agents) if isinstance(agents, list) and agents else None


def summary_rows(summary: output.Item, zone: ZoneInfo, names: Names = NO_NAMES) -> list[tuple[str, object]]:
    def moment(name: str) -> object:
        return output.local_time(summary.get(name), zone)

    hotline = summary.get("hotline")
    return [
        ("task", summary.get("task_id")),
        ("direction", summary.get("direction")),
        ("hotline", hotline if hotline is None else names.hotline(hotline)),
        ("group", summary.get("group")),
        ("agents", _agents(summary, names)),
        (f"started ({zone.key})", moment("started")),
        ("answered", moment("answered")),
        ("ended", moment("ended")),
        ("wait", output.duration(summary.get("wait_s"))),
        ("talk", output.duration(summary.get("talk_s"))),
        ("hold", output.duration(summary.get("hold_s"))),
        ("after-call work", output.duration(summary.get("acw_s"))),
        ("outcome", labels.outcome_label(summary.get("outcome"))),
        ("recorded", output.yes_no(summary.get("recorded"))),
        ("classification", summary.get("classification")),
        ("day", summary.get("day")),
        ("interval", output.local_time(summary.get("interval"), zone, "%H:%M")),
        ("call events", summary.get("event_count")),
        *([("problems", _problems(summary))] if summary.get("problems") else []),
    ]


@click.command("call")
@click.option(
    "--call", "task_id", metavar="TASKID", required=True, callback=_task, help="The call's task id."
)
@format_option
@click.pass_obj
def call_report(report: ReportContext, *, task_id: str, fmt: str | None) -> None:
    """One call: its summary and its events (CSV: the summary only; see ``events --call``)."""
    chosen = report.output_format(fmt)
    found = report.reports.call(task_id)
    summary = None if found is None else found.as_dict()
    items = report.queries.events_by_call(task_id)
    if summary is not None:  # not stored with the summary (every event would rewrite it): counted
        summary["event_count"] = call_events(task_id, items)
    if summary is None and not items:
        output.show_empty(chosen, f"Nothing stored for call {task_id} yet.", single=True)
        return
    no_summary = f"No summary for call {task_id} yet (the aggregator has not seen its events)."
    if chosen == "json":
        output.show_json({"summary": summary, "events": items})
    elif chosen == "csv":
        if summary is None:
            output.show_empty(chosen, no_summary)
        else:
            output.show_csv([summary], lead=CALL_CSV_LEAD)
    else:
        if summary is None:
            click.echo(no_summary)
        else:
            output.console().print(
                output.key_value_table(summary_rows(summary, report.zone, report.names), f"Call {task_id}")
            )
        click.echo()
        if items:
            output.show_table(items, event_columns(report.zone), title=f"Events of call {task_id}")
        else:
            click.echo(f"No events found for call {task_id}.")
        show_freshness(report, chosen)


def call_events(task_id: str, events: Sequence[output.Item]) -> int:
    """How many events a call has, as its summary counted them before it left the count out:
    its own (``callevent``, ``recordedcall``, ...), not its agents' states that name it."""
    own = keys.call_pk(task_id)
    return sum(1 for event in events if event.get("pk") == own)


def call_columns(zone: ZoneInfo, *, problems: bool = False, names: Names = NO_NAMES) -> list[Column]:
    """The calls table; ``problems``: a column saying why a call's durations are unknown;
    ``names``: the operator's names beside the agents' numbers."""
    return [
        output.time_field("started", "started", zone, "%H:%M:%S", no_wrap=True),
        output.field("task_id", "task", no_wrap=True),
        Column("outcome", lambda i: labels.outcome_label(i.get("outcome"))),
        Column("wait", lambda i: output.duration(i.get("wait_s")), justify="right"),
        Column("talk", lambda i: output.duration(i.get("talk_s")), justify="right"),
        Column("hold", lambda i: output.duration(i.get("hold_s")), justify="right"),
        Column("ACW", lambda i: output.duration(i.get("acw_s")), justify="right"),  # after-call work
        Column("agents", lambda i: _agents(i, names)),
        Column("recorded", lambda i: output.yes_no(i.get("recorded"))),
        output.field("classification"),
        *([Column("problems", _problems)] if problems else []),
    ]


@click.command()
@HOTLINE_OPTION
@DAY_OPTION
@format_option
@click.pass_obj
def calls(report: ReportContext, *, hotline: str, day: str | None, fmt: str | None) -> None:
    """The calls a hotline got on a day (by start time), one summary each."""
    day = day or report.today()
    items = [summary.as_dict() for summary in report.reports.calls(hotline, day)]
    if not items and hotline != NO_HOTLINE:
        require_hotline(report, hotline, day)
    emit_reports(
        report,
        fmt,
        items,
        columns=call_columns(
            report.zone, problems=any(item.get("problems") for item in items), names=report.names
        ),
        title=f"Calls of hotline {report.names.hotline(hotline)} on {day} ({report.zone.key}; ACW: after-call work)",
        empty_message=f"No calls for hotline {hotline} on {day} yet.",
        csv_lead=CALL_CSV_LEAD,
    )


# -- board -----------------------------------------------------------------------------------------

BOARD_CSV_LEAD = (
    "agent",
    "state",
    "since",
    "pause_reason",
    "hotline",
    "hotline_name",
    "task_id",
    "mode",
    "since_ms",
    "event_key",
)


def board_columns(zone: ZoneInfo, now: datetime, names: Names | None = None) -> list[Column]:
    now_ms = int(now.timestamp() * 1000)
    names = names or Names()

    def state(item: output.Item) -> object:
        return labels.state_text(item.get("state"), item.get("pause_reason"))

    def in_state(item: output.Item) -> object:
        since = item.get("since_ms")
        if not isinstance(since, int):
            return None
        return output.duration(max(0, now_ms - since) // 1000)

    def hotline(item: output.Item) -> object:
        # the operator's name first (acd-names.toml), else the one the ACD sent
        number = item.get("hotline")
        if number is not None and str(number) in names.hotlines:
            return names.hotline(number)
        return item.get("hotline_name") or number

    return [
        Column("agent", lambda i: names.agent(i.get("agent")), no_wrap=True),
        Column("state", state),
        output.time_field("since", f"since ({zone.key})", zone, no_wrap=True),
        Column("in state", in_state, justify="right"),
        Column("hotline", hotline),
        output.field("task_id", "task"),
    ]


@click.command()
@format_option
@click.pass_obj
def board(report: ReportContext, *, fmt: str | None) -> None:
    """The live board: every agent's latest state and how long it has lasted so far."""
    emit_reports(
        report,
        fmt,
        [entry.as_dict() for entry in report.reports.board()],
        columns=board_columns(report.zone, report.now(), report.names),
        title="Live board",
        empty_message="The board is empty: no agent has reported a state yet.",
        csv_lead=BOARD_CSV_LEAD,
    )


# -- warnings: parameters the ACD sends that the hub does not know ------------------------------


@click.command()
@click.option("--day", metavar="YYYY-MM-DD", callback=day_value, help="Day of the events (default: today).")
@format_option
@click.pass_obj
def warnings(report: ReportContext, *, day: str | None, fmt: str | None) -> None:
    """Unknown parameters of a day's stored events (a misspelling, or a new ACD version's), each
    with the known name it is closest to. The events were stored; the parameters are unused."""
    day = day or report.today()
    zone = report.zone
    output.emit(
        report.queries.warnings(day, CMDS),
        report.output_format(fmt),
        columns=[
            output.time_field("event_time", "time", zone, "%H:%M:%S", no_wrap=True),
            output.field("cmd"),
            output.field("agent"),
            output.field("parameter", "unknown parameter", max_width=30),
            output.field("value", max_width=30),
            output.field("closest", "did you mean"),
            output.field("task_id", "task"),
        ],
        title=f"Unknown parameters of {day}'s events ({zone.key}; kept under data.extra, not used)",
        empty_message=f"No unknown parameters in the events of {day}.",
        csv_lead=("event_time", "cmd", "agent", "parameter", "value", "closest", "task_id", "event_key"),
    )


# -- the day's hotlines and agents: what to pass to --hotline and --agent ------------------------


@click.command()
@DAY_OPTION
@format_option
@click.pass_obj
def hotlines(report: ReportContext, *, day: str | None, fmt: str | None) -> None:
    """The hotlines of a day (those its call events name), with their calls."""
    day = day or report.today()
    zone = report.zone
    output.emit(
        report.queries.day_hotlines(day),
        report.output_format(fmt),
        columns=[
            Column("hotline", lambda i: report.names.hotline(i.get("hotline")), no_wrap=True),
            output.field("inbound_calls", "inbound calls", justify="right"),
            output.field("outbound_calls", "outbound calls", justify="right"),
            output.time_field("first_event", f"first call event ({zone.key})", zone),
            output.time_field("last_event", "last call event", zone),
        ],
        title=f"Hotlines of {day}",
        empty_message=f"No call events on {day}: no hotlines.",
        csv_lead=("hotline", "inbound_calls", "outbound_calls", "first_event", "last_event"),
    )


@click.command()
@DAY_OPTION
@format_option
@click.pass_obj
def agents(report: ReportContext, *, day: str | None, fmt: str | None) -> None:
    """The agents of a day (those who reported a state), with their latest state that day."""
    day = day or report.today()
    zone = report.zone

    def last_state(item: output.Item) -> object:
        return labels.state_text(item.get("last_state"), item.get("last_pause_reason"))

    output.emit(
        report.queries.day_agents(day),
        report.output_format(fmt),
        columns=[
            Column("agent", lambda i: report.names.agent(i.get("agent")), no_wrap=True),
            output.field("state_events", "state events", justify="right"),
            output.time_field("first_event", f"first ({zone.key})", zone),
            output.time_field("last_event", "last", zone),
            Column("state then", last_state, max_width=40),
        ],
        title=f"Agents of {day}",
        empty_message=f"No agent reported a state on {day}.",
        csv_lead=("agent", "state_events", "first_event", "last_event", "last_state", "last_pause_reason"),
    )


COMMANDS = (events, rejected, call_report, calls, board, warnings, hotlines, agents)
