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

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import boto3
import click
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    ProfileNotFound,
)

from acd_cli import labels, output
from acd_cli.names import Names, NamesError
from acd_cli.names import find as find_names
from acd_cli.options import connection_options
from acd_cli.output import Column, OutputFormat, format_option
from acd_cli.report_models import KPI_NAMES, Freshness
from acd_cli.reporting import FANOUT_CONSUMER, MAX_WORKERS, EventQueries, ReportQueries
from acd_hub import times
from acd_hub.events import CALL_CMDS
from acd_hub.freshness import SILENT_AFTER_MS
from acd_hub.models import CALLBACK_MODELS

if TYPE_CHECKING:
    from mypy_boto3_cloudformation import CloudFormationClient
    from mypy_boto3_dynamodb import DynamoDBClient

LOCAL_REGION = "eu-central-1"
LOCAL_ACCESS_KEY = "testing"  # moto accepts any credentials
# Template logical ids (the local stack names its tables after them) and the stack outputs.
EVENTS_TABLE = ("EventsTable", "EventsTableName")
REPORTS_TABLE = ("ReportsTable", "ReportsTableName")
CMDS: tuple[str, ...] = tuple(CALLBACK_MODELS)
ERROR_EXIT = 2

_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
MAX_ID_DIGITS = 20  # the ingest's bound on ids
_TASK_ID = re.compile(r"^[0-9a-fA-F]{1,24}$")


class ReportError(click.ClickException):
    """One line on stderr (``Error: ...``) and exit code 2."""

    exit_code = ERROR_EXIT


@dataclass
class ReportContext:
    """The global options, and the AWS clients and table names derived from them lazily, so
    ``--help`` and usage errors never touch AWS."""

    endpoint_url: str | None = None
    profile: str | None = None
    region: str | None = None
    stack_name: str | None = None
    events_table_option: str | None = None
    reports_table_option: str | None = None
    zone: ZoneInfo = field(default_factory=lambda: ZoneInfo("Europe/Berlin"))
    shards: int = 8
    kpi_shards: int = 4
    # Given on the command line or in the environment (not the option's default): with
    # --stack-name, a value that differs from the stack's is an error, never a silent misread.
    shards_given: bool = False
    kpi_shards_given: bool = False
    fmt: str | None = None
    # ``serve --as-of``: the wallboard's clock runs from a chosen moment instead of now.
    clock_offset: timedelta = timedelta(0)
    names_file: Path | None = None

    @cached_property
    def names(self) -> Names:
        """The operator's names of hotlines and agents (:mod:`acd_cli.names`)."""
        try:
            return find_names(self.names_file)
        except NamesError as exc:
            raise ReportError(f"--names: {exc}") from None

    @property
    def local(self) -> bool:
        return bool(self.endpoint_url)

    def where(self) -> str:
        if self.endpoint_url:
            return self.endpoint_url
        session = self.__dict__.get("session")
        return f"region {(session.region_name if session else self.region) or '?'}"

    @cached_property
    def session(self) -> boto3.Session:
        try:
            session = boto3.Session(profile_name=self.profile, region_name=self.region)
        except ProfileNotFound as exc:
            raise ReportError(str(exc)) from None
        if not self.local:
            return session
        # The local stack: a fixed region and, when none are configured, dummy credentials.
        region = session.region_name or LOCAL_REGION
        if session.get_credentials() is None:
            return boto3.Session(
                aws_access_key_id=LOCAL_ACCESS_KEY, aws_secret_access_key=LOCAL_ACCESS_KEY, region_name=region
            )
        if session.region_name is None:
            return boto3.Session(profile_name=self.profile, region_name=region)
        return session

    def client(self, service: str) -> Any:
        config = Config(
            connect_timeout=5,
            read_timeout=30,
            retries={"max_attempts": 2 if self.local else 5, "mode": "standard"},
            max_pool_connections=MAX_WORKERS,  # the shards are queried in parallel
        )
        try:
            return self.session.client(service, endpoint_url=self.endpoint_url, config=config)  # type: ignore[call-overload]
        except NoRegionError:
            raise ReportError("no AWS region: pass --region or configure one for the profile") from None

    @cached_property
    def dynamodb(self) -> DynamoDBClient:
        client: DynamoDBClient = self.client("dynamodb")
        return client

    @cached_property
    def stack(self) -> dict[str, Any]:
        assert self.stack_name
        cloudformation: CloudFormationClient = self.client("cloudformation")
        return dict(cloudformation.describe_stacks(StackName=self.stack_name)["Stacks"][0])

    @cached_property
    def stack_outputs(self) -> dict[str, str]:
        outputs = self.stack.get("Outputs", [])
        return {o["OutputKey"]: o["OutputValue"] for o in outputs if "OutputKey" in o and "OutputValue" in o}

    @cached_property
    def stack_parameters(self) -> dict[str, str]:
        parameters = self.stack.get("Parameters", [])
        return {
            p["ParameterKey"]: p.get("ResolvedValue", p.get("ParameterValue", ""))
            for p in parameters
            if "ParameterKey" in p
        }

    def _deployed(self, given: int, explicit: bool, parameter: str, flag: str) -> int:
        """A shard count as the stack's functions use it (its parameter), else as given."""
        if not self.stack_name or parameter not in self.stack_parameters:
            return given
        deployed = int(self.stack_parameters[parameter])
        if explicit and given != deployed:
            raise ReportError(
                f"{flag} {given} does not match the stack's {parameter} {deployed}: the reports would be "
                f"read from the wrong shards (leave {flag} out to use the stack's)"
            )
        return deployed

    @cached_property
    def cmd_day_shards(self) -> int:
        """The by-cmd-day listings', the quarantine's and the board's shards."""
        return self._deployed(self.shards, self.shards_given, "CmdDayShards", "--shards")

    @cached_property
    def hotline_kpi_shards(self) -> int:
        return self._deployed(self.kpi_shards, self.kpi_shards_given, "KpiShards", "--kpi-shards")

    def _table(self, option: str | None, names: tuple[str, str], flag: str) -> str:
        logical_id, output_key = names
        if option:
            return option
        if self.stack_name:
            try:
                return self.stack_outputs[output_key]
            except KeyError:
                raise ReportError(f"stack {self.stack_name!r} has no output {output_key!r}") from None
        if self.local:
            return logical_id
        raise ReportError(f"which table? Pass --stack-name (reads its outputs) or {flag}")

    @cached_property
    def events_table(self) -> str:
        return self._table(self.events_table_option, EVENTS_TABLE, "--events-table")

    @cached_property
    def reports_table(self) -> str:
        return self._table(self.reports_table_option, REPORTS_TABLE, "--reports-table")

    @cached_property
    def queries(self) -> EventQueries:
        shards = self.cmd_day_shards  # a mismatch is an error before any client is made
        return EventQueries(self.dynamodb, self.events_table, shards)

    @cached_property
    def reports(self) -> ReportQueries:
        shards, kpi_shards = self.cmd_day_shards, self.hotline_kpi_shards
        return ReportQueries(self.dynamodb, self.reports_table, shards, kpi_shards)

    def now(self) -> datetime:
        return datetime.now(UTC) + self.clock_offset

    def today(self) -> str:
        return self.now().astimezone(self.zone).date().isoformat()

    def output_format(self, fmt: str | None) -> OutputFormat:
        chosen = (fmt or self.fmt or "table").lower()
        assert chosen in output.FORMATS
        return chosen  # type: ignore[return-value]


@contextmanager
def aws_errors(ctx: click.Context) -> Iterator[None]:
    """AWS failures as one readable line."""
    try:
        yield
    except (ClientError, BotoCoreError) as exc:
        report = ctx.obj if isinstance(ctx.obj, ReportContext) else ReportContext()
        raise ReportError(describe_aws_error(exc, report)) from None


def describe_aws_error(exc: ClientError | BotoCoreError, report: ReportContext) -> str:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code, message = error.get("Code", "ClientError"), error.get("Message", str(exc))
        if code == "ResourceNotFoundException":
            tables = ", ".join(repr(name) for name in _known_tables(report)) or "?"
            return (
                f"table not found at {report.where()} (looked for {tables}): check --stack-name, "
                "--events-table/--reports-table and --endpoint-url/--region"
            )
        return f"{code}: {message}"
    if isinstance(exc, EndpointConnectionError):
        hint = " - is the local stack running (make run)?" if report.local else ""
        return f"cannot reach {exc.kwargs.get('endpoint_url', report.where())}{hint}"
    if isinstance(exc, NoCredentialsError):
        return "no AWS credentials: pass --profile or configure credentials"
    return str(exc)


def _known_tables(report: ReportContext) -> list[str]:
    return [report.__dict__[name] for name in ("events_table", "reports_table") if name in report.__dict__]


class ReportGroup(click.Group):
    """Turns AWS errors raised by any subcommand into :class:`ReportError`."""

    def invoke(self, ctx: click.Context) -> Any:
        with aws_errors(ctx):
            return super().invoke(ctx)


# -- option callbacks: value problems are one-line errors, not usage dumps ---------------------


def _zone(_ctx: click.Context, _param: click.Parameter, value: str) -> ZoneInfo:
    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ReportError(f"--timezone: unknown time zone {value!r} (e.g. Europe/Berlin)") from None


# The days an event can fall on (acd_hub.times refuses times outside 2000..2100); a day at
# datetime's ends (9999-12-31) would also overflow the day's bounds.
FIRST_DAY, LAST_DAY = times.EARLIEST.date(), times.LATEST.date() - timedelta(days=1)


def parse_day(value: str | None, flag: str = "--day") -> str | None:
    """``YYYY-MM-DD`` (a real date within the days events can have) or None."""
    if value is None:
        return None
    text = value.strip()
    try:
        if not _DAY.match(text):
            raise ValueError(text)
        day = date.fromisoformat(text)
    except ValueError:
        raise ReportError(f"{flag}: {value!r} is not a day in the form YYYY-MM-DD") from None
    if not FIRST_DAY <= day <= LAST_DAY:
        raise ReportError(f"{flag}: day out of range: {text} (events are kept for {FIRST_DAY} to {LAST_DAY})")
    return day.isoformat()


def _day(_ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    return parse_day(value, f"--{param.name}")


def _text(_ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    if not value.strip():
        raise ReportError(f"--{param.name}: must not be blank")
    return value.strip()


# The call listing's key for calls that name no hotline (acd_hub.adapters.reports_table.calls_pk).
NO_HOTLINE = "none"


def _hotline(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A hotline id as the reports key it (``012`` is hotline ``12``); the ACD's ``hotlineid`` is
    a number, so anything else is a typo, not a hotline without figures. ``none``: the calls
    that name no hotline (outbound and dialer calls), as the call listing keys them."""
    text = _text(ctx, param, value)
    if text is None:
        return None
    if text.lower() == NO_HOTLINE:
        return NO_HOTLINE
    if not (text.isascii() and text.isdigit() and len(text) <= MAX_ID_DIGITS):
        raise ReportError(f"--{param.name}: {text!r} is not a hotline id (a number, as the ACD's hotlineid)")
    return str(int(text))


def _agent(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """An agent number (the ACD's ``agentid``: digits)."""
    text = _text(ctx, param, value)
    if text is not None and not (text.isascii() and text.isdigit() and len(text) <= MAX_ID_DIGITS):
        raise ReportError(f"--{param.name}: {text!r} is not an agent number (digits, as the ACD's agentid)")
    return text


def _task(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    if not _TASK_ID.match(value.strip()):
        raise ReportError(f"--call: {value!r} is not a task id (1 to 24 hex digits)")
    return value.strip().lower()


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
    endpoint_url: str | None,
    profile: str | None,
    region: str | None,
    stack_name: str | None,
    events_table: str | None,
    reports_table: str | None,
    zone: ZoneInfo,
    shards: int,
    kpi_shards: int,
    names_file: Path | None,
    fmt: str | None,
) -> None:
    """Reports over the ACD callback hub's tables (DynamoDB Query only, never Scan)."""
    ctx.obj = ReportContext(
        endpoint_url=endpoint_url or None,
        profile=profile,
        region=region,
        stack_name=stack_name,
        events_table_option=events_table,
        reports_table_option=reports_table,
        zone=zone,
        shards=shards,
        kpi_shards=kpi_shards,
        shards_given=given(ctx, "shards"),
        kpi_shards_given=given(ctx, "kpi_shards"),
        fmt=fmt,
        names_file=names_file,
    )


def given(ctx: click.Context, option: str) -> bool:
    """Whether the option was set (command line or environment), not left at its default."""
    return ctx.get_parameter_source(option) not in (None, click.core.ParameterSource.DEFAULT)


# -- events ------------------------------------------------------------------------------------

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
        Column(f"time ({zone.key})", lambda i: output.local_time(i.get("event_time"), zone), no_wrap=True),
        output.field("cmd"),
        output.field("agent"),
        output.field("task_id", "task"),
        # The event key is in --format json/csv: beside a 120-column terminal's other columns it
        # left the details three characters.
        Column("details", lambda i: event_details(i, zone), max_width=120),
    ]


EVENT_CSV_LEAD = ("event_time", "day", "cmd", "event_key", "agent", "task_id", "received_at", "pk", "sk")


@cli.command()
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
@click.option("--day", metavar="YYYY-MM-DD", callback=_day, help="With --agent/--cmd (default: today).")
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
        subject = f"agent {agent} on {day}"
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
        Column(
            f"received ({zone.key})", lambda i: output.local_time(i.get("received_at"), zone), no_wrap=True
        ),
        output.field("status", justify="right"),
        output.field("method"),
        Column("errors", _errors_text, max_width=120),
        output.field("source_ip", "source"),
        output.field("request_id", "request id", no_wrap=True),
    ]


REJECTED_CSV_LEAD = ("received_at", "day", "status", "reason", "method", "path", "query", "request_id")


@cli.command()
@click.option("--day", metavar="YYYY-MM-DD", callback=_day, help="Day of receipt (default: today).")
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


# -- reports: shared bits -------------------------------------------------------------------------

DAY_OPTION = click.option(
    "--day", metavar="YYYY-MM-DD", callback=_day, help="Day in the reporting time zone (default: today)."
)
HOTLINE_OPTION = click.option(
    "--hotline", metavar="HOTLINEID", required=True, callback=_hotline, help="Hotline id (hotlineid)."
)
AGENT_OPTION = click.option(
    "--agent", metavar="AGENTID", required=True, callback=_agent, help="Agent number (agentid)."
)


# An id nothing of the day names is a typo or the wrong day, not "no figures yet": an error
# (exit 2) naming the day's ids. Asked only when a report is missing, so a found one costs nothing.
SHOWN_IDS = 20


def _listed(ids: Sequence[str], command: str, day: str) -> str:
    if not ids:
        return f"nothing on {day} at all"
    more = f" and {len(ids) - SHOWN_IDS} more" if len(ids) > SHOWN_IDS else ""
    return f"that day's: {', '.join(ids[:SHOWN_IDS])}{more} (acd-report {command} --day {day})"


def require_hotline(report: ReportContext, hotline: str, day: str) -> None:
    """Nothing if a call event of ``day`` names the hotline (its reports may still be on the way)."""
    known = [str(entry["hotline"]) for entry in report.queries.day_hotlines(day)]
    if hotline not in known:
        raise ReportError(f"hotline {hotline} has no calls on {day}; {_listed(known, 'hotlines', day)}")


def unknown_agent(report: ReportContext, agent: str, day: str) -> ReportError:
    known = [str(entry["agent"]) for entry in report.queries.day_agents(day)]
    return ReportError(f"agent {agent} has no events on {day}; {_listed(known, 'agents', day)}")


def require_agent(report: ReportContext, agent: str, day: str) -> None:
    """Nothing if an event of ``day`` names the agent (its reports may still be on the way)."""
    if not report.queries.events_by_agent_day(agent, day):
        raise unknown_agent(report, agent, day)


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


@cli.command()
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
        Column(
            f"complete up to ({report.zone.key})",
            lambda i: output.local_time(i.get("complete_to"), report.zone),
        ),
        Column("last batch", lambda i: output.local_time(i.get("updated_at"), report.zone)),
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


@cli.command()
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


@cli.command("agent-day")
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
            title=f"Agent {found.agent} on {found.day}: time per state",
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
        Column("start", lambda i: output.local_time(i.get("start"), zone, "%H:%M:%S")),
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


@cli.command("agent-timeline")
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
        title=f"Timeline of agent {agent} on {day} ({report.zone.key})",
        empty_message=f"No timeline for agent {agent} on {day} yet.",
        csv_lead=TIMELINE_CSV_LEAD,
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


def _agents(item: output.Item) -> str | None:
    agents = item.get("agents")
    return ", ".join(str(a) for a in agents) if isinstance(agents, list) and agents else None


def summary_rows(summary: output.Item, zone: ZoneInfo) -> list[tuple[str, object]]:
    def moment(name: str) -> object:
        return output.local_time(summary.get(name), zone)

    return [
        ("task", summary.get("task_id")),
        ("direction", summary.get("direction")),
        ("hotline", summary.get("hotline")),
        ("group", summary.get("group")),
        ("agents", _agents(summary)),
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


@cli.command("call")
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
                output.key_value_table(summary_rows(summary, report.zone), f"Call {task_id}")
            )
        click.echo()
        if items:
            output.show_table(items, event_columns(report.zone), title=f"Events of call {task_id}")
        else:
            click.echo(f"No events found for call {task_id}.")
        show_freshness(report, chosen)


def call_columns(zone: ZoneInfo, *, problems: bool = False) -> list[Column]:
    """The calls table; ``problems``: a column saying why a call's durations are unknown."""
    return [
        Column("started", lambda i: output.local_time(i.get("started"), zone, "%H:%M:%S"), no_wrap=True),
        output.field("task_id", "task", no_wrap=True),
        Column("outcome", lambda i: labels.outcome_label(i.get("outcome"))),
        Column("wait", lambda i: output.duration(i.get("wait_s")), justify="right"),
        Column("talk", lambda i: output.duration(i.get("talk_s")), justify="right"),
        Column("hold", lambda i: output.duration(i.get("hold_s")), justify="right"),
        Column("ACW", lambda i: output.duration(i.get("acw_s")), justify="right"),  # after-call work
        Column("agents", _agents),
        Column("recorded", lambda i: output.yes_no(i.get("recorded"))),
        output.field("classification"),
        *([Column("problems", _problems)] if problems else []),
    ]


@cli.command()
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
        columns=call_columns(report.zone, problems=any(item.get("problems") for item in items)),
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
        Column(f"since ({zone.key})", lambda i: output.local_time(i.get("since"), zone), no_wrap=True),
        Column("in state", in_state, justify="right"),
        Column("hotline", hotline),
        output.field("task_id", "task"),
    ]


@cli.command()
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


# -- pictures: the HTML day report and the wallboard ------------------------------------------------


def _hotlines(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> list[str]:
    return [h for value in values if (h := _hotline(ctx, param, value)) is not None]


def _agents_option(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> list[str]:
    return [a for value in values if (a := _agent(ctx, param, value)) is not None]


SL_TARGET_OPTION = click.option(
    "--sl-target",
    type=click.FloatRange(0, 100),
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


@cli.command()
@DAY_OPTION
@click.option(
    "--hotline",
    "hotlines",
    metavar="HOTLINEID",
    multiple=True,
    callback=_hotlines,
    help="Hotline to show (repeatable; default: every hotline with calls that day).",
)
@click.option(
    "--agent",
    "agents",
    metavar="AGENTID",
    multiple=True,
    callback=_agents_option,
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


@cli.command("range")
@click.option(
    "--hotline",
    "hotlines",
    metavar="HOTLINEID",
    multiple=True,
    callback=_hotlines,
    help="Hotline (repeatable; default: the named ones, else those with calls on the range's last day).",
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
    "--from", "first", metavar="YYYY-MM-DD", callback=_day, help="Any range: its first day (with --to)."
)
@click.option("--to", "last", metavar="YYYY-MM-DD", callback=_day, help="... and its last day.")
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
    try:
        if first is None or last is None:
            first, last = range_report.period_of(period, day or report.today())
        found = range_report.gather(
            report.reports, range_report.range_hotlines(report, hotlines, last), first, last
        )
    except range_report.RangeError as exc:
        raise ReportError(str(exc)) from None
    document = found.as_dict()
    if report.output_format(fmt) == "json":
        output.show_json(document)
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


@cli.command()
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8080,
    show_default=True,
    envvar="ACD_REPORT_SERVE_PORT",
    show_envvar=True,
    help="Port on 127.0.0.1 (0: any free one).",
)
@click.option(
    "--hotline",
    "hotlines",
    metavar="HOTLINEID",
    multiple=True,
    callback=_hotlines,
    help="Hotline on the wallboard (repeatable; default: every hotline with calls today).",
)
@click.option(
    "--refresh",
    type=click.FloatRange(1, 300),
    default=3.0,
    show_default=True,
    help="Seconds between the wallboard's refreshes.",
)
@SL_TARGET_OPTION
@MIN_SL_CALLS_OPTION
@click.option(
    "--wait-warning",
    type=click.FloatRange(1, 7200),
    default=60.0,
    show_default=True,
    help="Seconds the oldest waiting call may wait before its hotline turns amber.",
)
@click.option(
    "--wait-alarm",
    type=click.FloatRange(1, 7200),
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


# -- warnings: parameters the ACD sends that the hub does not know ------------------------------


@cli.command()
@click.option("--day", metavar="YYYY-MM-DD", callback=_day, help="Day of the events (default: today).")
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
            Column("time", lambda i: output.local_time(i.get("event_time"), zone, "%H:%M:%S"), no_wrap=True),
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


@cli.command()
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
            output.field("hotline"),
            output.field("inbound_calls", "inbound calls", justify="right"),
            output.field("outbound_calls", "outbound calls", justify="right"),
            Column(f"first call event ({zone.key})", lambda i: output.local_time(i.get("first_event"), zone)),
            Column("last call event", lambda i: output.local_time(i.get("last_event"), zone)),
        ],
        title=f"Hotlines of {day}",
        empty_message=f"No call events on {day}: no hotlines.",
        csv_lead=("hotline", "inbound_calls", "outbound_calls", "first_event", "last_event"),
    )


@cli.command()
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
            output.field("agent"),
            output.field("state_events", "state events", justify="right"),
            Column(f"first ({zone.key})", lambda i: output.local_time(i.get("first_event"), zone)),
            Column("last", lambda i: output.local_time(i.get("last_event"), zone)),
            Column("state then", last_state, max_width=40),
        ],
        title=f"Agents of {day}",
        empty_message=f"No agent reported a state on {day}.",
        csv_lead=("agent", "state_events", "first_event", "last_event", "last_state", "last_pause_reason"),
    )


def main(argv: Sequence[str] | None = None) -> None:
    cli.main(args=argv, prog_name="acd-report")
