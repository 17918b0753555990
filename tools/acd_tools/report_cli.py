"""``acd-report``: list what the callback hub stored, with DynamoDB ``Query`` only.

Against AWS::

    acd-report --profile prod --region eu-central-1 --stack-name acd-callback-hub \\
        events --call 5f3a9c01b2d4e6f708192a3b

Against the local stack (``make run``), where the tables carry the template's logical ids::

    acd-report --endpoint-url http://127.0.0.1:5000 events --cmd callevent --day 2026-11-20 -f csv

Value problems and AWS errors end in one ``Error: ...`` line and exit code 2, never a traceback.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cached_property
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

from acd_hub.models import CALLBACK_MODELS
from acd_hub.reporting import MAX_WORKERS, EventQueries
from acd_tools import output
from acd_tools.output import Column, OutputFormat, format_option

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
    fmt: str | None = None

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
    def stack_outputs(self) -> dict[str, str]:
        assert self.stack_name
        cloudformation: CloudFormationClient = self.client("cloudformation")
        stacks = cloudformation.describe_stacks(StackName=self.stack_name)["Stacks"]
        return {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", []) if "OutputKey" in o}

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
        return EventQueries(self.dynamodb, self.events_table, self.shards)

    def today(self) -> str:
        return datetime.now(self.zone).date().isoformat()

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


def parse_day(value: str | None, flag: str = "--day") -> str | None:
    """``YYYY-MM-DD`` (a real date) or None."""
    if value is None:
        return None
    text = value.strip()
    try:
        if not _DAY.match(text):
            raise ValueError(text)
        return date.fromisoformat(text).isoformat()
    except ValueError:
        raise ReportError(f"{flag}: {value!r} is not a day in the form YYYY-MM-DD") from None


def _day(_ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    return parse_day(value, f"--{param.name}")


def _task(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    if not _TASK_ID.match(value.strip()):
        raise ReportError(f"--call: {value!r} is not a task id (1 to 24 hex digits)")
    return value.strip().lower()


# -- the command group -----------------------------------------------------------------------


@click.group(cls=ReportGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--endpoint-url",
    envvar="AWS_ENDPOINT_URL",
    show_envvar=True,
    help="Local stack (moto server), e.g. http://127.0.0.1:5000. Tables then default to the "
    "template's logical ids, the region to eu-central-1 and credentials to dummies.",
)
@click.option("--profile", help="AWS profile.")
@click.option("--region", help="AWS region.")
@click.option("--stack-name", help="Read the table names from this CloudFormation stack's outputs.")
@click.option("--events-table", help="Events table name (overrides the stack output).")
@click.option("--reports-table", help="Reports table name (overrides the stack output).")
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
    "--shards",
    type=click.IntRange(1, 64),
    default=8,
    show_default=True,
    envvar="ACD_CMD_DAY_SHARDS",
    show_envvar=True,
    help="Shards of the by-cmd-day listings; must match the stack's ACD_CMD_DAY_SHARDS.",
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
        fmt=fmt,
    )


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
        Column("details", lambda i: event_details(i, zone), max_width=120),
        output.field("event_key", "event key", no_wrap=True),
    ]


EVENT_CSV_LEAD = ("event_time", "day", "cmd", "event_key", "agent", "task_id", "received_at", "pk", "sk")


@cli.command()
@click.option(
    "--call", "task_id", metavar="TASKID", callback=_task, help="Every event of one call (task id)."
)
@click.option("--agent", metavar="AGENTID", help="An agent's day: agentstate plus events naming the agent.")
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
        agent = agent.strip()
        day = day or report.today()
        items = report.queries.events_by_agent_day(agent, day)
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


def main(argv: Sequence[str] | None = None) -> None:
    cli.main(args=argv, prog_name="acd-report")
