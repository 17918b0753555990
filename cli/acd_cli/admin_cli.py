"""``acd-admin``: operator actions that write (``acd-report`` stays read-only).

* ``replay --day D [--request-id ID] [--dry-run]``: quarantined requests of a day through the
  ingest code again (after a fix or a configuration change). Each is then marked on its
  quarantine item as replayed and stored (or already stored), or as still rejected with its new
  reason. The ingest's conditional write keeps a replay from ever storing an event twice.
* ``redrive fanout|stats [--dry-run]``: empties a stream consumer's on-failure
  destination (``agent-stats`` and ``call-stats`` name ``stats``, which runs both). Each record names a span of the events table's stream (Lambda's
  ``DDBStreamBatchInfo``); the fan-out's (an S3 bucket on AWS) also carries the records
  themselves, so it outlives the stream's 24 hours; the aggregators' (SQS queues) are read back
  from the stream. The fan-out republishes the stored events they name, the aggregators' reports
  they touch are rebuilt from the event log. A record is deleted only once it was handled.

Connection options are those of ``acd-report``: ``--endpoint-url`` for the local stack (tables,
queues and topics then carry the template's logical ids), ``--stack-name`` (with
``--profile/--region``) to read table names, queues, topics and settings from the stack.

Examples::

    acd-admin --endpoint-url http://127.0.0.1:5000 replay --day 2026-11-20 --dry-run
    acd-admin --stack-name acd-callback-hub-prod --region eu-central-1 redrive fanout

A new command takes the :class:`AdminContext` (``@click.pass_obj``): it holds the clients, the
table names and the hub's settings, all built lazily so ``--help`` never touches AWS.
"""

from __future__ import annotations

import base64
import contextlib
import json
import secrets
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click
from botocore.exceptions import BotoCoreError, ClientError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from acd_cli import output
from acd_cli.options import connection_options
from acd_cli.output import Column
from acd_cli.report_cli import ReportContext, ReportError, ReportGroup, given, parse_day
from acd_hub.adapters.events_table import EventsTable
from acd_hub.errors import Conflict, Invalid, ParameterError, Quarantined, StoreUnavailable
from acd_hub.fanout import FANOUT_CMDS, SnsFanout
from acd_hub.ingest import CallbackIngest
from acd_hub.quarantine import RECORDED_STATUS
from acd_hub.request import CallbackRequest
from acd_hub.settings import HubSettings

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodbstreams import DynamoDBStreamsClient
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sqs import SQSClient

    from acd_hub.rebuild import Rebuilder

# Stack parameters that are hub settings: an operator action must read the ACD's local times,
# cut days and compute service levels exactly as the deployed functions do.
STACK_SETTINGS = {
    "AcdTimeZone": "acd_timezone",
    "ReportTimeZone": "report_timezone",
    "DefaultPhoneRegion": "default_phone_region",
    "RetentionDays": "retention_days",
    "ServiceLevelSeconds": "service_level_seconds",
    "KpiShards": "kpi_shards",
    "ListingShards": "listing_shards",
    "BoardShards": "board_shards",
}
# Topics of the fan-out: (template logical id, stack output).
TOPICS = {
    "configchanged": ("ConfigChangedTopic", "ConfigChangedTopicArn"),
    "broadcastevent": ("BroadcastTopic", "BroadcastTopicArn"),
}
MAX_REASON = 2048  # as the ingest keeps it (acd_hub.items)


@dataclass(frozen=True)
class Consumer:
    """A stream consumer whose on-failure destination ``redrive`` empties."""

    name: str
    function: str  # template logical id (the local stack's DLQ is "<function>-local-dlq")
    dlq_output: str  # stack output with the queue URL, or the bucket name for an S3 destination
    # The cmds its mapping's filter lets through (INSERTs of kind "event"); the template tests
    # hold these equal to the template's FilterCriteria.
    cmds: frozenset[str]
    # The kinds of report it keeps (Rebuilder.touched_by names them); none for the fan-out.
    reports: frozenset[str] = frozenset()
    # "sqs" or "s3" on AWS (acd-local keeps every consumer's in an SQS queue).
    destination: str = "sqs"

    def wants(self, record: Mapping[str, Any]) -> bool:
        image = (record.get("dynamodb") or {}).get("NewImage") or {}
        return (
            record.get("eventName") == "INSERT"
            and (image.get("kind") or {}).get("S") == "event"
            and (image.get("cmd") or {}).get("S") in self.cmds
        )


CONSUMERS = {
    consumer.name: consumer
    for consumer in (
        Consumer(
            "fanout", "FanoutFunction", "FanoutFailuresBucketName", frozenset(FANOUT_CMDS), destination="s3"
        ),
        # Both aggregators in one function (one DLQ): a message may stand for a record either
        # of them failed, so a redrive rebuilds the reports of both.
        Consumer(
            "stats",
            "StatsFunction",
            "StatsDLQUrl",
            frozenset({"callevent", "recordedcall", "classificationevent", "enqueuecall", "agentstate"}),
            frozenset({"agent_day", "call"}),
        ),
    )
}
# The names of the aggregators' consumers when each had a function and a DLQ of its own (and
# still their names in the freshness notes): accepted for the one consumer that runs both.
CONSUMER_ALIASES = {"agent-stats": "stats", "call-stats": "stats"}


# -- the context every command gets ---------------------------------------------------------------


@dataclass
class AdminContext(ReportContext):
    """``acd-report``'s connection plumbing (session, clients, table names from the stack
    outputs or the local stack's logical ids), plus what writing commands need: the streams,
    SQS and SNS clients, the DLQs and topics, and the hub's settings as deployed."""

    acd_timezone_option: str | None = None
    report_timezone_option: str | None = None
    quiet: bool = False

    @cached_property
    def streams(self) -> DynamoDBStreamsClient:
        client: DynamoDBStreamsClient = self.client("dynamodbstreams")
        return client

    @cached_property
    def sqs(self) -> SQSClient:
        client: SQSClient = self.client("sqs")
        return client

    @cached_property
    def s3(self) -> Any:  # no mypy-boto3-s3 in the lock for one list/get/delete
        return self.client("s3")

    @cached_property
    def sns(self) -> SNSClient:
        client: SNSClient = self.client("sns")
        return client

    @cached_property
    def settings(self) -> HubSettings:
        """The hub's settings as the stack's functions see them: stack parameters (with
        ``--stack-name``), else ``ACD_*`` environment variables, else the defaults; the time
        zone options win over both."""
        values: dict[str, Any] = {}
        if self.stack_name:
            params = self.stack_parameters
            values.update({name: params[key] for key, name in STACK_SETTINGS.items() if key in params})
        if self.acd_timezone_option:
            values["acd_timezone"] = self.acd_timezone_option
        if self.report_timezone_option:
            values["report_timezone"] = self.report_timezone_option
        values.update(
            events_table=self.events_table,
            reports_table=self.reports_table,
            cmd_day_shards=self.cmd_day_shards,
            # An operator action is authenticated by the operator's AWS credentials: no
            # callback token, and no source allow-list (the operator is not the ACD).
            callback_tokens=[],
            token_parameter="",
            allowed_source_cidrs=[],
        )
        try:
            return HubSettings(**values)
        except ValueError as exc:
            raise ReportError(f"hub settings: {exc}") from None

    def queue_url(self, consumer: Consumer, option: str | None) -> str:
        if option:
            return option
        if self.stack_name:
            try:
                return self.stack_outputs[consumer.dlq_output]
            except KeyError:
                raise ReportError(
                    f"stack {self.stack_name!r} has no output {consumer.dlq_output!r}"
                ) from None
        if self.local:
            return self.sqs.get_queue_url(QueueName=f"{consumer.function}-local-dlq")["QueueUrl"]
        raise ReportError("which queue? Pass --stack-name (reads its outputs) or --queue-url")

    def failure_bucket(self, consumer: Consumer, option: str | None) -> str | None:
        """The consumer's S3 on-failure destination, or None where it is a queue (acd-local's
        are all queues)."""
        if option:
            return option
        if consumer.destination != "s3" or not self.stack_name:
            return None
        try:
            return self.stack_outputs[consumer.dlq_output]
        except KeyError:
            raise ReportError(f"stack {self.stack_name!r} has no output {consumer.dlq_output!r}") from None

    def topic_arn(self, cmd: str) -> str:
        logical_id, output_key = TOPICS[cmd]
        if self.stack_name:
            try:
                return self.stack_outputs[output_key]
            except KeyError:
                raise ReportError(f"stack {self.stack_name!r} has no output {output_key!r}") from None
        if not self.local:
            raise ReportError("which topics? Pass --stack-name (reads its outputs)")
        # The local stack names each topic after its logical id.
        for page in self.sns.get_paginator("list_topics").paginate():
            for topic in page.get("Topics", []):
                if topic["TopicArn"].rsplit(":", 1)[-1] == logical_id:
                    return topic["TopicArn"]
        raise ReportError(f"topic {logical_id} not found at {self.where()}")

    @cached_property
    def fanout(self) -> SnsFanout:
        settings = self.settings.model_copy(
            update={
                "config_topic_arn": self.topic_arn("configchanged"),
                "broadcast_topic_arn": self.topic_arn("broadcastevent"),
            }
        )
        return SnsFanout(self.sns, settings)

    @cached_property
    def events(self) -> EventsTable:
        return EventsTable(self.dynamodb, self.events_table)

    @cached_property
    def rebuilder(self) -> Rebuilder:
        from acd_hub.adapters.reports_table import ReportsTable  # noqa: PLC0415  (only redrive/rebuild)
        from acd_hub.rebuild import Rebuilder  # noqa: PLC0415

        return Rebuilder(
            self.events,
            ReportsTable(self.dynamodb, self.reports_table, self.settings.board_shards),
            self.settings,
        )

    def progress(self) -> Progress:
        """A progress bar on stderr (stdout keeps the results)."""
        return Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            disable=self.quiet,
        )


def _zone_name(_ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ReportError(f"--{param.name}: unknown time zone {value!r} (e.g. Europe/Berlin)") from None
    return value


@click.group(cls=ReportGroup, context_settings={"help_option_names": ["-h", "--help"]})
@connection_options
@click.option(
    "--acd-timezone",
    callback=_zone_name,
    help="Time zone of the ACD's local times (default: the stack's AcdTimeZone, else Europe/Berlin).",
)
@click.option(
    "--report-timezone",
    callback=_zone_name,
    help="Time zone that cuts days (default: the stack's ReportTimeZone, else Europe/Berlin).",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
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
    shards: int,
    acd_timezone: str | None,
    report_timezone: str | None,
    quiet: bool,
) -> None:
    """Operator actions on the ACD callback hub: replay quarantined requests, redrive DLQs."""
    ctx.obj = AdminContext(
        endpoint_url=endpoint_url or None,
        profile=profile,
        region=region,
        stack_name=stack_name,
        events_table_option=events_table,
        reports_table_option=reports_table,
        zone=ZoneInfo(report_timezone or "Europe/Berlin"),
        shards=shards,
        shards_given=given(ctx, "shards"),
        acd_timezone_option=acd_timezone,
        report_timezone_option=report_timezone,
        quiet=quiet,
    )


def _day(_ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    return parse_day(value, f"--{param.name}")


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# -- replay -----------------------------------------------------------------------------------------

# Outcomes that put the request's event in the log: such an item is done.
REPLAYED_INTO_LOG = frozenset({"stored", "duplicate"})
STILL_REJECTED = frozenset({"rejected", "conflict"})


class DryRunClient:
    """A DynamoDB client that reads but does not write: ``PutItem`` is answered as DynamoDB
    would answer it, from a consistent read of the item's key (a conditional put on a key that
    holds an item fails, and hands the item back when asked to), so the store adapter decides
    exactly as it would for real, whichever conditional puts it makes."""

    def __init__(self, client: DynamoDBClient) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def put_item(self, **request: Any) -> dict[str, Any]:
        item = request["Item"]
        found = self._client.get_item(
            TableName=request["TableName"], Key={"pk": item["pk"], "sk": item["sk"]}, ConsistentRead=True
        ).get("Item")
        if found is not None and "attribute_not_exists" in request.get("ConditionExpression", ""):
            error: dict[str, Any] = {
                "Error": {"Code": "ConditionalCheckFailedException", "Message": "dry run: the item exists"}
            }
            if request.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD":
                error["Item"] = found
            raise ClientError(error, "PutItem")  # type: ignore[arg-type]
        return {}


# Every write a DynamoDB client can make, with what DynamoDB answers when it has nothing to add.
_WRITES: dict[str, dict[str, Any]] = {
    "put_item": {},
    "update_item": {},
    "delete_item": {},
    "transact_write_items": {},
    "batch_write_item": {"UnprocessedItems": {}},
}


class NoWritesClient:
    """A DynamoDB client for ``rebuild --dry-run``: reads as usual, answers every write as done
    without sending it (and counts it). The rebuild compares what is stored with the recompute
    before it writes, so what it counts is what it would write."""

    def __init__(self, client: DynamoDBClient) -> None:
        self._client = client
        self.writes: Counter[str] = Counter()

    def __getattr__(self, name: str) -> Any:
        if name in _WRITES:

            def swallowed(**_request: Any) -> dict[str, Any]:
                self.writes[name] += 1
                return dict(_WRITES[name])

            return swallowed
        return getattr(self._client, name)


class ReplayStore(EventsTable):
    """The real events-table adapter, except for quarantine: a replay's own rejection is not
    kept as a second item (the replayed item is updated instead). In a dry run it writes
    nothing (see :class:`DryRunClient`)."""

    def __init__(self, client: DynamoDBClient, table_name: str, *, dry_run: bool) -> None:
        super().__init__(DryRunClient(client) if dry_run else client, table_name)  # type: ignore[arg-type]

    def put_rejected(self, item: dict[str, Any]) -> None:
        pass  # the replay marks the original quarantine item with the new reason


def kept_request(item: Mapping[str, Any], operator_token: str) -> CallbackRequest:
    """The request as quarantined: method, query, body (text, form, JSON or raw bytes kept as
    base64), content type, source. The token was redacted before it was kept; the replay
    presents ``operator_token`` instead, as the path segment."""
    body: bytes
    if item.get("body_base64"):
        body = base64.b64decode(str(item["body_base64"]))
    elif isinstance(item.get("body"), str):
        body = str(item["body"]).encode("utf-8", "surrogateescape")
    elif item.get("form") is not None:
        form = item["form"]
        body = (form if isinstance(form, str) else urlencode(form, doseq=True)).encode("utf-8")
    elif item.get("json") is not None:
        document = item["json"]
        body = (document if isinstance(document, str) else json.dumps(document)).encode("utf-8")
    else:
        body = b""
    return CallbackRequest(
        method=str(item.get("method") or "GET"),
        path=str(item.get("path") or "/callback"),
        raw_query=str(item.get("query") or ""),
        body=body,
        content_type=str(item.get("content_type") or ""),
        source_ip=str(item.get("source_ip") or ""),
        user_agent=str(item.get("user_agent") or ""),
        request_id=str(item["request_id"]),
        path_token=operator_token,
    )


@dataclass
class ReplayResult:
    item: Mapping[str, Any]
    outcome: str  # stored | duplicate | rejected | conflict | skipped
    status: int | None = None  # the ingest's answer when still rejected (400, 409)
    event_key: str | None = None
    cmd: str | None = None
    errors: list[ParameterError] = field(default_factory=list)
    note: str | None = None

    @property
    def reason(self) -> str:
        return "; ".join(f"{e.parameter}: {e.message}" for e in self.errors)[:MAX_REASON]

    def row(self) -> dict[str, Any]:
        detail = self.note or (self.event_key if self.outcome in REPLAYED_INTO_LOG else self.reason)
        return {
            "request_id": self.item.get("request_id"),
            "received_at": self.item.get("received_at"),
            "outcome": self.outcome,
            "cmd": self.cmd,
            "detail": detail,
        }


def _received_at(item: Mapping[str, Any]) -> datetime:
    try:
        return datetime.fromisoformat(str(item["received_at"]))
    except (KeyError, ValueError):
        return _now()


class Replayer:
    """Runs kept requests through :class:`CallbackIngest` (validation, normalization, keys and
    the conditional write exactly as the endpoint does) and marks each quarantine item."""

    def __init__(self, admin: AdminContext, *, dry_run: bool) -> None:
        self._admin = admin
        self._dry_run = dry_run
        # A fresh secret per run: the ingest's token check passes for this process only.
        self._token = secrets.token_urlsafe(24)
        self._store = ReplayStore(admin.dynamodb, admin.events_table, dry_run=dry_run)

    def replay(self, item: Mapping[str, Any]) -> ReplayResult:
        received_at = _received_at(item)
        ingest = CallbackIngest(
            self._admin.settings,
            self._store,
            lambda: (self._token,),
            # The event keeps the time it first reached the hub, not the time of the replay.
            clock=lambda: received_at,
        )
        try:
            stored = ingest.handle(kept_request(item, self._token))
        except Quarantined as rejected:
            # Conflict: the event key is stored with other content
            status = RECORDED_STATUS[type(rejected)]
            outcome = "conflict" if isinstance(rejected, Conflict) else "rejected"
            result = ReplayResult(
                item, outcome, status=status, cmd=rejected.cmd, errors=list(rejected.errors)
            )
        else:
            result = ReplayResult(item, stored.outcome, event_key=stored.event_key, cmd=stored.cmd)
        if not self._dry_run:
            self._mark(item, result)
        return result

    def _mark(self, item: Mapping[str, Any], result: ReplayResult) -> None:
        """Record the replay on the quarantine item itself (never a second item)."""
        fields: dict[str, Any] = {"replay_outcome": result.outcome, "replayed_at": _iso(_now())}
        if result.event_key:
            fields["replay_event_key"] = result.event_key
        if result.outcome in STILL_REJECTED:
            # The current reason is what `acd-report rejected` shows; the first one stays.
            fields |= {
                "reason": result.reason,
                "errors": [e.as_dict() for e in result.errors],
                "status": result.status or RECORDED_STATUS[Invalid],
            }
            if "first_reason" not in item:
                fields |= {"first_reason": item.get("reason", ""), "first_errors": item.get("errors") or []}
        if not self._admin.events.mark_replay((str(item["pk"]), str(item["sk"])), fields):
            result.note = "quarantine item gone (expired?); not marked"


def _select(items: Sequence[Mapping[str, Any]], request_id: str | None) -> list[Mapping[str, Any]]:
    if request_id is None:
        return list(items)
    chosen = [item for item in items if item.get("request_id") == request_id]
    if not chosen:
        raise ReportError(f"no quarantined request {request_id!r} on that day (see acd-report rejected)")
    return chosen


def replay_columns(zone: ZoneInfo) -> list[Column]:
    return [
        Column(
            f"received ({zone.key})", lambda i: output.local_time(i.get("received_at"), zone), no_wrap=True
        ),
        output.field("request_id", "request id", no_wrap=True),
        output.field("cmd"),
        output.field("outcome"),
        Column("event key / reason", lambda i: i.get("detail"), max_width=120),
    ]


def _counts(results: Iterable[ReplayResult]) -> str:
    counted: dict[str, int] = {}
    for result in results:
        counted[result.outcome] = counted.get(result.outcome, 0) + 1
    order = ("stored", "duplicate", "rejected", "conflict", "skipped")
    words = {
        "rejected": "still rejected",
        "conflict": "in conflict with a stored event",
        "duplicate": "already stored",
        "skipped": "skipped",
    }
    return ", ".join(f"{counted[o]} {words.get(o, o)}" for o in order if counted.get(o))


@cli.command()
@click.option("--day", metavar="YYYY-MM-DD", required=True, callback=_day, help="Day of receipt.")
@click.option("--request-id", metavar="ID", help="Only this request (replayed even if replayed before).")
@click.option("--dry-run", is_flag=True, help="Say what would happen; write nothing.")
@output.format_option
@click.pass_obj
def replay(admin: AdminContext, *, day: str, request_id: str | None, dry_run: bool, fmt: str | None) -> None:
    """Re-submit the quarantined requests of a day through the ingest code.

    Each is validated and stored exactly as if the ACD sent it now (same keys, same
    conditional write: an event already stored is not stored again), then marked on its
    quarantine item: replay_outcome stored / duplicate, or rejected with the new reason.
    Requests already replayed into the log are skipped unless named with --request-id."""
    items = _select(admin.queries.rejected(day), request_id)
    replayer = Replayer(admin, dry_run=dry_run)
    results: list[ReplayResult] = []
    with admin.progress() as progress:
        task = progress.add_task("replaying" if not dry_run else "checking", total=len(items))
        for item in items:
            if request_id is None and item.get("replay_outcome") in REPLAYED_INTO_LOG:
                results.append(
                    ReplayResult(item, "skipped", note=f"replayed before: {item['replay_outcome']}")
                )
            else:
                try:
                    results.append(replayer.replay(item))
                except StoreUnavailable as exc:
                    # What was replayed so far is marked; a second run picks up the rest.
                    _report(admin, results, fmt, day, dry_run)
                    raise ReportError(
                        f"the events table did not take a write ({exc}): run the replay again"
                    ) from None
            progress.advance(task)
    _report(admin, results, fmt, day, dry_run)


def _report(
    admin: AdminContext, results: list[ReplayResult], fmt: str | None, day: str, dry_run: bool
) -> None:
    rows = [result.row() for result in results]
    chosen = admin.output_format(fmt)
    if chosen == "json":
        output.show_json(rows)
        return
    if chosen == "csv":
        output.show_csv(rows, lead=("received_at", "request_id", "cmd", "outcome", "detail"))
        return
    if not rows:
        click.echo(f"No quarantined requests on {day}.")
        return
    title = f"Replay of {day}" + (" (dry run: nothing written)" if dry_run else "")
    output.show_table(rows, replay_columns(admin.settings.report_zone), title=title)
    click.echo(("Would be: " if dry_run else "Replayed: ") + _counts(results) + ".")


# -- rebuild ----------------------------------------------------------------------------------------

# A quarter: the longest repair that makes sense at once (ACD_MAX_REBUILD_DAYS to change it).
MAX_REBUILD_DAYS = 92


@cli.command()
@click.option("--day", metavar="YYYY-MM-DD", required=True, callback=_day, help="First day to rebuild.")
@click.option("--to", "last", metavar="YYYY-MM-DD", callback=_day, help="Last day (default: --day).")
@click.option(
    "--hotline",
    "hotlines",
    multiple=True,
    metavar="H",
    help="Only this hotline's calls and KPIs (repeatable).",
)
@click.option("--agent", "agents", multiple=True, metavar="A", help="Only this agent's days (repeatable).")
@click.option(
    "--max-days",
    type=click.IntRange(1),
    default=MAX_REBUILD_DAYS,
    show_default=True,
    envvar="ACD_MAX_REBUILD_DAYS",
    show_envvar=True,
    help="Refuse a longer range: a rebuild reads every event of every day in it.",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Recompute and say what would be replaced; write nothing. Agent days and calls are counted "
    "exactly; hotline days only as the calls are stored now (a call the rebuild would change counts "
    "in its hotline day after the real run).",
)
@output.format_option
@click.pass_obj
def rebuild(
    admin: AdminContext,
    *,
    day: str,
    last: str | None,
    hotlines: tuple[str, ...],
    agents: tuple[str, ...],
    max_days: int,
    dry_run: bool,
    fmt: str | None,
) -> None:
    """Recompute the reports of these days from the events table and replace what is there.

    The repair path after a bug fix or records left in a DLQ. Idempotent (a second run writes
    nothing) and safe while the stream keeps running: a report the live path changes meanwhile is
    recomputed. Without --hotline/--agent: every agent day, call and hotline KPI of the days."""
    from acd_hub.rebuild import days_between  # noqa: PLC0415

    try:
        days = days_between(day, last or day)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--to") from None
    if len(days) > max_days:
        raise ReportError(
            f"--to: {len(days):,} days from {day} to {last} is more than --max-days {max_days} "
            "(each day's events are all read again): rebuild in parts, or raise --max-days"
        )
    with admin.progress() as progress:
        task = progress.add_task("rebuilding", total=None)

        def advance(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        rebuilder = admin.rebuilder if not dry_run else _dry_rebuilder(admin)
        summary = rebuilder.days(
            days,
            hotlines={h.strip().lstrip("0") or "0" for h in hotlines} or None,
            agents={a.strip() for a in agents} or None,
            progress=advance,
        )
    figures = {
        "days": len(days),
        "agent_days": summary.agent_days,
        "calls": summary.calls,
        "hotline_days": summary.hotline_days,
        "items_written": summary.items_written,
        "items_deleted": summary.items_deleted,
        "counters_corrected": summary.counters_corrected,
    }
    chosen = admin.output_format(fmt)
    if chosen == "json":
        output.show_json(figures)
    elif chosen == "csv":
        output.show_csv([figures])
    else:
        days_text = day + (f" to {last}" if last and last != day else "")
        title = (
            f"Dry run of the rebuild of {days_text} (nothing written)" if dry_run else f"Rebuilt {days_text}"
        )
        output.console().print(output.key_value_table(list(figures.items()), title))
        unchanged = not (summary.items_written or summary.items_deleted or summary.counters_corrected)
        if dry_run:
            click.echo(
                "Nothing is out of date."
                if unchanged
                else "A rebuild would replace these reports (the figures say what it would write)."
            )
        else:
            click.echo("Nothing was out of date." if unchanged else "Reports replaced by the recompute.")


def _dry_rebuilder(admin: AdminContext) -> Rebuilder:
    """The rebuild on a client that writes nothing: both tables, so no path of it can write."""
    from acd_hub.adapters.reports_table import ReportsTable  # noqa: PLC0415  (only redrive/rebuild)
    from acd_hub.rebuild import Rebuilder  # noqa: PLC0415

    client: Any = NoWritesClient(admin.dynamodb)
    return Rebuilder(
        EventsTable(client, admin.events_table),
        ReportsTable(client, admin.reports_table, admin.cmd_day_shards),
        admin.settings,
    )


# -- redrive ----------------------------------------------------------------------------------------

# Visibility while a message is being handled: long enough to rebuild a batch's reports. A dry
# run only peeks and gives every message back when it is done.
VISIBILITY_SECONDS = 900
PEEK_VISIBILITY_SECONDS = 60
# Arrival times in an on-failure record are whole seconds; the ingest stamps received_at just
# before its write reaches the stream.
ARRIVAL_MARGIN = timedelta(seconds=5)
# DynamoDB Streams may answer empty pages before the data of a shard: give up on a span only
# after this many in a row.
MAX_EMPTY_PAGES = 5
STREAM_GONE = frozenset(
    {
        "TrimmedDataAccessException",
        "ResourceNotFoundException",
        "ExpiredIteratorException",
        "ValidationException",
    }
)


class SpanUnavailable(Exception):
    """The stream no longer holds (all of) a failed batch's records."""


@dataclass(frozen=True)
class FailedBatch:
    """A stream span an event source mapping gave up on: Lambda's on-failure record for a
    DynamoDB stream (``DDBStreamBatchInfo``). An SQS destination gets no records; an S3 one gets
    the whole invocation under ``payload`` (its ``Records``); the local stack's poller adds the
    failed records under ``Records``."""

    stream_arn: str
    shard_id: str
    start: str
    end: str
    batch_size: int
    first_arrival: str | None = None
    last_arrival: str | None = None
    records: tuple[dict[str, Any], ...] = ()

    @classmethod
    def from_body(cls, body: str) -> FailedBatch:
        document = json.loads(body)
        info = document["DDBStreamBatchInfo"]
        return cls(
            stream_arn=str(info["streamArn"]),
            shard_id=str(info["shardId"]),
            start=str(info["startSequenceNumber"]),
            end=str(info["endSequenceNumber"]),
            batch_size=int(info.get("batchSize") or 0),
            first_arrival=info.get("approximateArrivalOfFirstRecord"),
            last_arrival=info.get("approximateArrivalOfLastRecord"),
            records=tuple(document.get("Records") or _payload_records(document.get("payload"))),
        )

    def where(self) -> str:
        return f"{self.shard_id[-12:]} {self.start}..{self.end}"


def _payload_records(payload: Any) -> tuple[dict[str, Any], ...]:
    """The records of the invocation an S3 on-failure record keeps (as a JSON text or object)."""
    if isinstance(payload, str):
        payload = json.loads(payload)
    records = payload.get("Records") if isinstance(payload, dict) else None
    return tuple(record for record in records or () if isinstance(record, dict))


def read_span(streams: DynamoDBStreamsClient, batch: FailedBatch) -> list[dict[str, Any]]:
    """The records of ``batch`` read back from the stream: from its first sequence number
    (AT_SEQUENCE_NUMBER) up to and including its last."""
    end = int(batch.end)
    try:
        iterator: str | None = streams.get_shard_iterator(
            StreamArn=batch.stream_arn,
            ShardId=batch.shard_id,
            ShardIteratorType="AT_SEQUENCE_NUMBER",
            SequenceNumber=batch.start,
        )["ShardIterator"]
        records: list[dict[str, Any]] = []
        empty = 0
        while iterator and empty < MAX_EMPTY_PAGES:
            page = streams.get_records(ShardIterator=iterator, Limit=1000)
            empty = 0 if page.get("Records") else empty + 1
            for record in page.get("Records", []):
                sequence = int(record["dynamodb"]["SequenceNumber"])
                if sequence > end:
                    return records
                records.append(dict(record))
                if sequence == end:
                    return records
            iterator = page.get("NextShardIterator")
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "ClientError")
        if code in STREAM_GONE:
            raise SpanUnavailable(f"{code}: the stream no longer holds these records") from None
        raise
    raise SpanUnavailable("the span's last record was not found in the stream")


@dataclass
class Handled:
    batch: FailedBatch | None
    records: int = 0
    done: list[str] = field(default_factory=list)  # what was (or would be) republished / rebuilt
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


class Redrive:
    """One on-failure destination (a queue or a bucket): read each record, handle it, delete it
    once handled."""

    def __init__(
        self,
        admin: AdminContext,
        consumer: Consumer,
        queue_url: str,
        *,
        dry_run: bool,
        by_arrival: bool = False,
        bucket: str | None = None,
    ) -> None:
        self._admin = admin
        self._consumer = consumer
        self._queue = queue_url
        self._bucket = bucket
        self._dry_run = dry_run
        self._by_arrival = by_arrival
        self._rebuilt: set[tuple[str, ...]] = set()

    # -- the queue --

    def pending(self) -> int:
        attributes = self._admin.sqs.get_queue_attributes(
            QueueUrl=self._queue, AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]
        return int(attributes.get("ApproximateNumberOfMessages", "0"))

    def run(self, progress: Progress) -> list[Handled]:
        return self._run_bucket(progress) if self._bucket else self._run_queue(progress)

    def _run_bucket(self, progress: Progress) -> list[Handled]:
        """Every object of the bucket once (it holds nothing but this consumer's on-failure
        records); deleted once handled, else left for the next redrive."""
        assert self._bucket
        s3 = self._admin.s3
        keys = [
            found["Key"]
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=self._bucket)
            for found in page.get("Contents", [])
            if "Key" in found
        ]
        task = progress.add_task(f"redrive {self._consumer.name}", total=len(keys) or None)
        results: list[Handled] = []
        for key in keys:
            body = s3.get_object(Bucket=self._bucket, Key=key)["Body"].read().decode("utf-8", "replace")
            handled = self.handle(body)
            results.append(handled)
            if handled.ok and not self._dry_run:
                s3.delete_object(Bucket=self._bucket, Key=key)
            progress.update(task, advance=1)
        return results

    def _run_queue(self, progress: Progress) -> list[Handled]:
        """Every message once. Each stays invisible while it is handled and is deleted once
        handled; one that is kept (a problem, or a dry run) is made visible again at the end,
        for the next redrive and for the DLQ-depth alarm."""
        results: list[Handled] = []
        seen: set[str] = set()
        kept: list[str] = []
        expected = self.pending()  # approximate: the bar grows if more arrive
        task = progress.add_task(f"redrive {self._consumer.name}", total=expected or None)
        visibility = PEEK_VISIBILITY_SECONDS if self._dry_run else VISIBILITY_SECONDS
        try:
            while True:
                received = self._admin.sqs.receive_message(
                    QueueUrl=self._queue,
                    MaxNumberOfMessages=10,
                    VisibilityTimeout=visibility,
                    WaitTimeSeconds=1,
                ).get("Messages", [])
                fresh = [m for m in received if m["MessageId"] not in seen]
                if not fresh:
                    return results
                for message in fresh:
                    seen.add(message["MessageId"])
                    handled = self.handle(message["Body"])
                    results.append(handled)
                    if handled.ok and not self._dry_run:
                        self._admin.sqs.delete_message(
                            QueueUrl=self._queue, ReceiptHandle=message["ReceiptHandle"]
                        )
                    else:
                        kept.append(message["ReceiptHandle"])
                    progress.update(task, advance=1, total=max(expected, len(results)))
        finally:
            for handle in kept:
                # If this fails, the message becomes visible anyway once its timeout has passed.
                with contextlib.suppress(ClientError, BotoCoreError):
                    self._admin.sqs.change_message_visibility(
                        QueueUrl=self._queue, ReceiptHandle=handle, VisibilityTimeout=0
                    )

    # -- one message --

    def handle(self, body: str) -> Handled:
        try:
            batch = FailedBatch.from_body(body)
        except (ValueError, KeyError, TypeError):
            return Handled(
                None, problem="not a stream on-failure record (no DDBStreamBatchInfo); left in the queue"
            )
        handled = Handled(batch)
        try:
            try:
                # the records themselves where the destination kept them (S3, the local stack):
                # no need for the stream, which keeps them only 24 hours
                events = self._events(
                    list(batch.records) if batch.records else read_span(self._admin.streams, batch)
                )
            except SpanUnavailable as gone:
                if self._by_arrival and batch.first_arrival and batch.last_arrival:
                    events = [(item, item) for item in self._received_between(batch)]
                    if not events:  # then the window missed them: never delete on a guess
                        handled.problem = "by arrival time: no events received then found; left in the queue"
                        return handled
                    handled.done.append("by arrival time:")
                else:
                    handled.problem = f"{gone}; {self._beyond_retention_hint(batch)}"
                    return handled
            handled.records = len(events)
            if self._consumer.name == "fanout":
                self._republish(events, handled)
            else:
                self._rebuild(events, handled)
        except (ClientError, BotoCoreError, RuntimeError) as exc:
            handled.problem = f"{type(exc).__name__}: {str(exc)[:200]}; left in the queue"
        return handled

    def _events(
        self, records: Iterable[Mapping[str, Any]]
    ) -> list[tuple[dict[str, Any] | None, dict[str, Any]]]:
        """(stored item or None if gone, the record's image) of each record this consumer's
        mapping would have delivered. The stored item is read consistently: the log is the truth."""
        events = []
        for record in records:
            if not self._consumer.wants(record):
                continue
            events_table = self._admin.events
            key = events_table.decode(record["dynamodb"]["Keys"])
            stored = events_table.get((str(key["pk"]), str(key["sk"])))
            events.append((stored, events_table.decode(record["dynamodb"].get("NewImage") or {})))
        return events

    def _received_between(self, batch: FailedBatch) -> list[dict[str, Any]]:
        """The consumer's events the ingest received while the batch arrived in the stream
        (its arrival times, a few seconds either side), from the by-cmd-day listings of the
        event days from the day before the first arrival to the day of the last: what the stream
        no longer holds. Events delivered more than a day late are not among them."""
        zone = self._admin.settings.report_zone
        first = datetime.fromisoformat(str(batch.first_arrival)) - ARRIVAL_MARGIN
        last = datetime.fromisoformat(str(batch.last_arrival)) + ARRIVAL_MARGIN
        day, end = (first - timedelta(days=1)).astimezone(zone).date(), last.astimezone(zone).date()
        days = []
        while day <= end:
            days.append(day.isoformat())
            day += timedelta(days=1)
        found = []
        for cmd in sorted(self._consumer.cmds):
            for listed_day in days:
                for item in self._admin.queries.events_by_cmd_day(cmd, listed_day):
                    received = datetime.fromisoformat(str(item.get("received_at")))
                    if first <= received <= last:
                        found.append(dict(item))
        return found

    def _republish(
        self, events: Sequence[tuple[dict[str, Any] | None, dict[str, Any]]], handled: Handled
    ) -> None:
        for stored, _image in events:
            if stored is None:
                handled.done.append("gone (expired): not republished")
                continue
            if not self._dry_run:
                self._admin.fanout.publish(stored)  # subscribers deduplicate on event_key
            handled.done.append(f"{stored['cmd']} {stored['event_key']}")

    def _rebuild(
        self, events: Sequence[tuple[dict[str, Any] | None, dict[str, Any]]], handled: Handled
    ) -> None:
        rebuilder = self._admin.rebuilder
        touched: set[tuple[str, ...]] = set()
        for stored, image in events:
            # An event gone from the log still names the reports it was part of. Only this
            # consumer's reports: an agent state also touches its agent day, which is the agent
            # statistics' business, not the call statistics'.
            reports = rebuilder.touched_by(stored or image)
            touched |= {report for report in reports if report[0] in self._consumer.reports}
        handled.done.extend(" ".join(report) for report in sorted(touched))
        # Rebuilt once per run: a rebuild reads the whole log, which already holds every record
        # of every message in the queue.
        todo = sorted(touched - self._rebuilt)
        if self._dry_run or not todo:
            return
        # agent days and calls, then the hotline days those calls count in (their KPI counters
        # checked against the calls' contributions)
        rebuilder.rebuild(todo)
        self._rebuilt.update(todo)

    def _beyond_retention_hint(self, batch: FailedBatch) -> str:
        days = sorted(
            {
                datetime.fromisoformat(moment).astimezone(self._admin.settings.report_zone).date().isoformat()
                for moment in (batch.first_arrival, batch.last_arrival)
                if moment
            }
        )
        span = f"--day {days[0]}" + (f" --to {days[-1]}" if len(days) > 1 else "") if days else "--day <day>"
        if self._consumer.name == "fanout":
            return "redrive with --by-arrival-time to republish the events received then"
        return f"redrive with --by-arrival-time, or rebuild the days: acd-admin rebuild {span}"


def redrive_columns() -> list[Column]:
    return [
        output.field("span", "stream span", no_wrap=True),
        output.field("records", justify="right"),
        output.field("status"),
        Column("done / problem", lambda i: i.get("detail"), max_width=160),
    ]


@contextmanager
def _rebuild_api() -> Iterator[None]:
    try:
        yield
    except ImportError as exc:
        raise ReportError(f"the rebuild API is not available in this version ({exc})") from None


@cli.command()
@click.argument("consumer", type=click.Choice(sorted({*CONSUMERS, *CONSUMER_ALIASES})))
@click.option("--queue-url", help="The DLQ (default: the stack output, or the local stack's queue).")
@click.option(
    "--bucket",
    help="The S3 on-failure destination (fanout; default: the stack output FanoutFailuresBucketName).",
)
@click.option("--dry-run", is_flag=True, help="Say what would be done; change nothing (messages stay).")
@click.option(
    "--by-arrival-time",
    is_flag=True,
    help="For a message whose records the stream no longer holds (24 h retention): take the events "
    "received while its batch arrived instead (from the by-day listings; events more than a day late "
    "are missed).",
)
@output.format_option
@click.pass_obj
def redrive(
    admin: AdminContext,
    *,
    consumer: str,
    queue_url: str | None,
    bucket: str | None,
    dry_run: bool,
    by_arrival_time: bool,
    fmt: str | None,
) -> None:
    """Empty a stream consumer's on-failure destination the right way.

    Each record names a span of the events table's stream. fanout (an S3 bucket on AWS) keeps
    the records themselves; the aggregators' queues do not, and their records are read back from
    the stream (it keeps them 24 hours). fanout: the stored events they name are published again
    (subscribers deduplicate on event_key). stats: the agent and call reports they touch are
    rebuilt from the event log (agent-stats and call-stats are names of stats: one function runs
    both aggregators, with one DLQ). A record is deleted only after it was handled."""
    if consumer in CONSUMER_ALIASES:
        consumer = CONSUMER_ALIASES[consumer]
        click.echo(f"(one function runs both aggregators now: redriving {consumer})", err=True)
    chosen = CONSUMERS[consumer]
    with _rebuild_api():
        if chosen.name != "fanout":
            _ = admin.rebuilder  # fail early, before touching the queue
        source = admin.failure_bucket(chosen, bucket)
        runner = Redrive(
            admin,
            chosen,
            "" if source else admin.queue_url(chosen, queue_url),
            dry_run=dry_run,
            by_arrival=by_arrival_time,
            bucket=source,
        )
        with admin.progress() as progress:
            results = runner.run(progress)
    rows = [
        {
            "span": result.batch.where() if result.batch else "?",
            "records": result.records,
            "status": ("kept" if not result.ok else "would delete" if dry_run else "deleted"),
            "detail": result.problem or ", ".join(result.done) or "nothing to do",
        }
        for result in results
    ]
    fmt_chosen = admin.output_format(fmt)
    if fmt_chosen == "json":
        output.show_json(rows)
    elif fmt_chosen == "csv":
        output.show_csv(rows)
    elif not rows:
        click.echo(f"The {consumer} DLQ is empty.")
    else:
        title = f"Redrive {consumer}" + (" (dry run: nothing changed)" if dry_run else "")
        output.show_table(rows, redrive_columns(), title=title)
        kept = sum(1 for result in results if not result.ok)
        click.echo(
            f"{len(results) - kept} message(s) {'handled' if dry_run else 'handled and deleted'}, "
            f"{kept} left in the queue."
        )
    if any(not result.ok for result in results):
        raise SystemExit(1)


def main(argv: Sequence[str] | None = None) -> None:
    cli.main(args=argv, prog_name="acd-admin")
