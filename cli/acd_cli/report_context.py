"""``acd-report``'s ground: its context (connection, tables, time zone, names), its errors, its
option callbacks and the options and checks its commands share."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

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
from botocore.parsers import ResponseParserError

from acd_cli import output
from acd_cli.names import Names, NamesError
from acd_cli.names import find as find_names
from acd_cli.output import OutputFormat
from acd_cli.reporting import MAX_WORKERS, EventQueries, ReportQueries
from acd_hub import times
from acd_hub.ports import Refused, Throttled

if TYPE_CHECKING:
    from mypy_boto3_cloudformation import CloudFormationClient
    from mypy_boto3_dynamodb import DynamoDBClient

LOCAL_REGION = "eu-central-1"
# What a read of the tables can fail with: botocore's errors, and DynamoDB's throttling and
# refusals as the table adapters raise them (the ports' errors, not ClientErrors: see
# acd_hub.adapters.dynamodb.translated), after botocore's retries and the adapters' own rounds.
STORE_ERRORS = (ClientError, BotoCoreError, Throttled, Refused)
LOCAL_ACCESS_KEY = "testing"  # moto accepts any credentials
# Template logical ids (the local stack names its tables after them) and the stack outputs.
EVENTS_TABLE = ("EventsTable", "EventsTableName")
REPORTS_TABLE = ("ReportsTable", "ReportsTableName")
ERROR_EXIT = 2

_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
MAX_ID_DIGITS = 20  # the ingest's bound on ids
_TASK_ID = re.compile(r"^[0-9a-fA-F]{1,24}$")


class ReportError(click.ClickException):
    """One line on stderr (``Error: ...``) and exit code 2. Text it quotes from elsewhere (an AWS
    error's message, a profile or region as typed) is shown inert, as in tables
    (:func:`output.printable`): no escape sequence reaches the terminal."""

    exit_code = ERROR_EXIT

    def format_message(self) -> str:
        return output.printable(self.message)


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
    # The reporting time zone as given (--timezone, $ACD_REPORT_TIMEZONE) or its default; the
    # zone the reports use is :attr:`zone` (the stack's, with --stack-name).
    zone_option: ZoneInfo = field(default_factory=lambda: ZoneInfo("Europe/Berlin"))
    zone_given: bool = False
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

    def stack_output(self, key: str) -> str:
        """The stack's output ``key`` (with ``--stack-name``); its absence is an error naming it."""
        try:
            return self.stack_outputs[key]
        except KeyError:
            raise ReportError(f"stack {self.stack_name!r} has no output {key!r}") from None

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
    def zone(self) -> ZoneInfo:
        """The zone that cuts the reports' days and shows their times: as given (--timezone,
        $ACD_REPORT_TIMEZONE; acd-admin's --report-timezone), else with --stack-name the stack's
        ReportTimeZone, where its functions cut days and intervals (before, a stack in another
        zone than Europe/Berlin had its days shown in Berlin's times and "today", while acd-admin
        rebuilt them in the stack's), else Europe/Berlin."""
        if self.zone_given or not self.stack_name or "ReportTimeZone" not in self.stack_parameters:
            return self.zone_option
        return ZoneInfo(self.stack_parameters["ReportTimeZone"])

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
            return self.stack_output(output_key)
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
def aws_errors(connection: Callable[[], ReportContext]) -> Iterator[None]:
    """AWS failures as one readable line, described against ``connection()`` (asked only on a
    failure: a group's context is made inside the block)."""
    try:
        yield
    except STORE_ERRORS as exc:
        raise ReportError(describe_aws_error(exc, connection())) from None
    except ResponseParserError as exc:  # not an AWS answer: a wrong endpoint, a proxy's page
        report = connection()
        reason = str(exc).splitlines()[0].split(". Further retries", 1)[0]
        hint = " - is --endpoint-url the local stack's AWS endpoint?" if report.local else ""
        raise ReportError(f"{report.where()} did not answer as AWS does ({reason}){hint}") from None


def describe_aws_error(exc: Exception, report: ReportContext) -> str:
    if isinstance(exc, Throttled | Refused):
        if not isinstance(exc.__cause__, ClientError):  # keys still unprocessed after every round
            return f"DynamoDB throttled the reads ({exc}): try again"
        exc = exc.__cause__  # DynamoDB's answer, as botocore raised it
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
        with aws_errors(lambda: ctx.obj if isinstance(ctx.obj, ReportContext) else ReportContext()):
            return super().invoke(ctx)


# -- option callbacks: value problems are one-line errors, not usage dumps ---------------------


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


def option_flag(param: click.Parameter) -> str:
    """The option as it is typed (``--to``), not the name the command gets it by (``last``):
    what an error must name."""
    return max(param.opts, key=len, default=f"--{param.name}")


def day_value(_ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    return parse_day(value, option_flag(param))


def text_value(_ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    if not value.strip():
        raise ReportError(f"{option_flag(param)}: must not be blank")
    return value.strip()


# The call listing's key for calls that name no hotline (acd_hub.reports.call.listing_pk).
NO_HOTLINE = "none"


def _hotline(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A hotline id as the reports key it (``012`` is hotline ``12``); the ACD's ``hotlineid`` is
    a number, so anything else is a typo, not a hotline without figures. ``none``: the calls
    that name no hotline (outbound and dialer calls), as the call listing keys them."""
    text = text_value(ctx, param, value)
    if text is None:
        return None
    if text.lower() == NO_HOTLINE:
        return NO_HOTLINE
    if not (text.isascii() and text.isdigit() and len(text) <= MAX_ID_DIGITS):
        raise ReportError(
            f"{option_flag(param)}: {text!r} is not a hotline id (a number, as the ACD's hotlineid)"
        )
    return str(int(text))


def _agent(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """An agent number (the ACD's ``agentid``: digits)."""
    text = text_value(ctx, param, value)
    if text is not None and not (text.isascii() and text.isdigit() and len(text) <= MAX_ID_DIGITS):
        raise ReportError(
            f"{option_flag(param)}: {text!r} is not an agent number (digits, as the ACD's agentid)"
        )
    return text


def hotline_values(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> list[str]:
    """A repeatable ``--hotline``: each a hotline id (:func:`_hotline`)."""
    return [h for value in values if (h := _hotline(ctx, param, value)) is not None]


def agent_values(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> list[str]:
    """A repeatable ``--agent``: each an agent number (:func:`_agent`)."""
    return [a for value in values if (a := _agent(ctx, param, value)) is not None]


def _task(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    if not _TASK_ID.match(value.strip()):
        raise ReportError(f"--call: {value!r} is not a task id (1 to 24 hex digits)")
    return value.strip().lower()


def given(ctx: click.Context, option: str) -> bool:
    """Whether the option was set (command line or environment), not left at its default."""
    return ctx.get_parameter_source(option) not in (None, click.core.ParameterSource.DEFAULT)


# -- reports: shared bits -------------------------------------------------------------------------

DAY_OPTION = click.option(
    "--day", metavar="YYYY-MM-DD", callback=day_value, help="Day in the reporting time zone (default: today)."
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
