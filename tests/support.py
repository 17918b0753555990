"""Test doubles, constants and helpers shared by the suites (tests is a package:
`from tests.support import ...`).

The aggregation helpers (:class:`Harness`, :func:`agent_state`, :func:`call_event`) are shared by
the aggregator tests (in-process moto) and the report command tests (moto server over HTTP):
they store events with the real ingest code and deliver them to the aggregators as the stream
batches Lambda would hand them.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import os
import random
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from pathlib import Path
from time import monotonic, sleep
from types import ModuleType
from typing import Any
from urllib.parse import unquote

from boto3.dynamodb.types import TypeSerializer

from acd_cli.reporting import ReportQueries
from acd_devkit.lambda_events import FakeLambdaContext, patched_env, stream_record
from acd_devkit.template import dynamodb_tables, load_template
from acd_hub import kpis
from acd_hub.adapters.dynamodb import wire_key
from acd_hub.adapters.events_table import EventsTable
from acd_hub.adapters.reports_table import ReportsTable
from acd_hub.agent_aggregator import AgentStatsAggregator
from acd_hub.aggregation import aggregate_batch
from acd_hub.auth import static_tokens
from acd_hub.call_aggregator import CallStatsAggregator
from acd_hub.errors import EventConflict, StoreUnavailable
from acd_hub.events import StoredEvent
from acd_hub.ingest import CallbackIngest
from acd_hub.items import event_item
from acd_hub.models import ParseContext, parse_callback
from acd_hub.rebuild import Rebuilder, days_between
from acd_hub.reports.freshness import Freshness
from acd_hub.request import CallbackRequest
from acd_hub.settings import HubSettings
from acd_local.lambda_runtime import HttpRequest, Route, build_http_api_event, load_handler, match_route

TOKEN = "test-token-0123456789"
# A region and credentials boto3 accepts, for moto's in-process mocks (never a real account).
FAKE_AWS = {
    "AWS_DEFAULT_REGION": "eu-central-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
}
# The key of both of the template's tables: a string partition key pk and a string sort key sk.
PK_SK = {
    "KeySchema": [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ],
    "AttributeDefinitions": [
        {"AttributeName": "pk", "AttributeType": "S"},
        {"AttributeName": "sk", "AttributeType": "S"},
    ],
}


class MemoryStore:
    """The EventStore port with DynamoDB's conditional-put semantics (key claims included)."""

    def __init__(self) -> None:
        self.events: dict[tuple[str, str], dict[str, Any]] = {}
        self.rejected: list[dict[str, Any]] = []
        self.claims: dict[tuple[str, str], dict[str, Any]] = {}
        self.down = False

    def put_event(self, item: dict[str, Any], claim: dict[str, Any] | None = None) -> bool:
        if self.down:
            raise StoreUnavailable("down")
        if claim is not None:
            claim_key = (claim["pk"], claim["sk"])
            stored_claim = self.claims.setdefault(claim_key, claim)
            EventConflict.check(item["event_key"], claim, stored_claim)
        key = (item["pk"], item["sk"])
        if key in self.events:
            return False
        self.events[key] = item
        return True

    def put_rejected(self, item: dict[str, Any]) -> None:
        if self.down:
            raise StoreUnavailable("down")
        self.rejected.append(item)


# -- stream aggregation over the real tables --------------------------------------------------

RECEIVED = datetime(2025, 11, 20, 12, 0, tzinfo=UTC)
SERIALIZE = TypeSerializer().serialize


class Harness:
    """The ingest's store and both aggregators over one DynamoDB client (the template's tables)."""

    def __init__(self, client: Any, settings: HubSettings | None = None) -> None:
        self.settings = settings or HubSettings()
        self.store = self.log = EventsTable(client, self.settings.events_table)
        self.reports = ReportsTable(client, self.settings.reports_table, self.settings.board_shards)
        self.context = ParseContext(self.settings.acd_zone)
        self.sequence = 0

    def store_event(self, params: dict[str, str], received: datetime = RECEIVED) -> dict[str, Any]:
        item = event_item(parse_callback(params, self.context), params, self.settings, received)
        self.store.put_event(item)
        return item

    def store_many(self, sent: list[dict[str, str]]) -> list[dict[str, Any]]:
        """Days of tens of thousands of events: the ingest's items, written 25 to a request
        (the aggregators read them; the ingest's one-by-one conditional put is not under test)."""
        items = [event_item(parse_callback(p, self.context), p, self.settings, RECEIVED) for p in sent]
        self.log.write_batch(items, [])
        return items

    def record(self, item: dict[str, Any]) -> dict[str, Any]:
        """The stream's next INSERT record, of ``item``."""
        self.sequence += 1
        return stream_record(item, self.sequence)

    def run(self, aggregator: Any, items: list[dict[str, Any]]) -> dict[str, Any]:
        event = {"Records": [self.record(i) for i in items]}
        return aggregate_batch(aggregator, self.log.stream_records(event)).item_failures()

    def agents(self) -> AgentStatsAggregator:
        return AgentStatsAggregator(self.reports, self.settings)

    def calls(self) -> CallStatsAggregator:
        return CallStatsAggregator(self.log, self.reports, self.settings)


def callback_request(
    query: str = "",
    body: bytes = b"",
    content_type: str = "",
    path_token: str | None = TOKEN,
    *,
    method: str | None = None,
    source_ip: str = "203.0.113.7",
    user_agent: str = "ACD/4.9.6",
    request_id: str = "req-1",
) -> CallbackRequest:
    """A callback as the ingest function hands it to the use case: by default a GET (a PUT when
    it has a body) to ``/callback/<TOKEN>``."""
    return CallbackRequest(
        method=method or ("PUT" if body else "GET"),
        path=f"/callback/{path_token}" if path_token else "/callback",
        raw_query=query,
        body=body,
        content_type=content_type,
        source_ip=source_ip,
        user_agent=user_agent,
        request_id=request_id,
        path_token=path_token,
    )


# The KPIs that are ratios or means: null over no calls (never 0 nor 100).
# The KPIs that are ratios or means (None over nothing, never 0): all but the counts.
RATIOS = tuple(kpi.name for kpi in kpis.KPIS if kpi.unit != "count")

# When the unit tests' callbacks arrive (after the event times they use).
CALLBACK_RECEIVED = datetime(2025, 11, 20, 9, 0, 5, tzinfo=UTC)


def callback_ingest(
    settings: HubSettings, store: Any, received: datetime = CALLBACK_RECEIVED
) -> CallbackIngest:
    """The callback use case over ``store`` (an EventStore), accepting the settings' own tokens,
    its clock stopped at ``received``."""
    return CallbackIngest(settings, store, static_tokens(settings), clock=lambda: received)


def table_key(pk: str, sk: str = "s") -> dict[str, Any]:
    """An item's key as DynamoDB's wire writes it (for the tables' own tests: sk ``s`` unless
    given)."""
    return wire_key((pk, sk))


def free_port() -> int:
    """A loopback port no one listens on now (for a server a test starts, or an address that
    refuses connections)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class BackgroundProcess:
    """A command of ours running in the background, in a session of its own (what it starts
    stops with it), its output in a file."""

    args: list[str]
    log: Path
    env: Mapping[str, str] | None = None  # its whole environment (None: this process's)
    cwd: Path | None = None
    popen: subprocess.Popen[bytes] | None = None

    def start(self) -> BackgroundProcess:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("wb") as out:
            self.popen = subprocess.Popen(
                self.args,
                cwd=self.cwd,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def wait_for(self, pattern: str, timeout: float = 60) -> re.Match[str]:
        """The first match of ``pattern`` in its output; a failure if it exits or ``timeout``
        seconds pass first."""
        assert self.popen is not None, "not started"
        deadline = monotonic() + timeout
        while True:
            text = self.log.read_text(encoding="utf-8", errors="replace")
            if found := re.search(pattern, text):
                return found
            if self.popen.poll() is not None:
                raise AssertionError(
                    f"{self.args[0]} exited {self.popen.returncode} before {pattern!r}:\n{text[-3000:]}"
                )
            if monotonic() >= deadline:
                raise AssertionError(
                    f"{self.args[0]} printed no {pattern!r} within {timeout} s:\n{text[-3000:]}"
                )
            sleep(0.2)

    def stop(self) -> None:
        """SIGTERM to its session (a make, an acd-local and its workers), SIGKILL if that is
        not enough in 30 s."""
        if self.popen is not None and self.popen.poll() is None:
            os.killpg(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(10)


def queue_depth(sqs: Any, queue_url: str) -> int:
    """The messages in an SQS queue, those received and not yet deleted included."""
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


def stream_failure_document(
    *,
    function_arn: str,
    stream_arn: str,
    shard_id: str,
    span: tuple[str, str],
    batch_size: int,
    arrival: str,
    request_id: str,
    timestamp: str,
    function_error: str,
) -> dict[str, Any]:
    """What Lambda sends to a DynamoDB stream mapping's on-failure destination once it gives up
    on a batch, in AWS's documented shape: the span of the stream (``span``: its first and last
    sequence numbers), not the records (docs: 'Retain discarded records for a DynamoDB event
    source in Lambda')."""
    first, last = span
    return {
        "requestContext": {
            "requestId": request_id,
            "functionArn": function_arn,
            "condition": "RetryAttemptsExhausted",
            "approximateInvokeCount": 11,
        },
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": function_error},
        "version": "1.0",
        "timestamp": timestamp,
        "DDBStreamBatchInfo": {
            "shardId": shard_id,
            "startSequenceNumber": first,
            "endSequenceNumber": last,
            "approximateArrivalOfFirstRecord": arrival,
            "approximateArrivalOfLastRecord": arrival,
            "batchSize": batch_size,
            "streamArn": stream_arn,
        },
    }


def ms(text: str) -> str:
    """``2025-11-20 09:00:00`` (UTC) as ms since the epoch, the way agentstate sends it."""
    return str(int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000))


def agent_state(at: str | int, state: str, **extra: str) -> dict[str, str]:
    """Agent 100001 (``agentid=`` in ``extra`` for another) enters ``state`` at ``at`` (UTC text,
    or ms since the epoch)."""
    return {
        "cmd": "agentstate",
        "agentid": "100001",
        "mode": "0",
        "state": state,
        "eventtime": str(at) if isinstance(at, int) else ms(at),
        **extra,
    }


class EmptyReports:
    """The reports' read side (what the wallboard and the day report read) with nothing in it."""

    def board(self) -> list[Any]:
        return []

    def kpis(self, hotline: str, day: str) -> None:
        return None

    def kpis_of(self, hotlines: list[str], day: str) -> dict[str, None]:
        return {hotline: self.kpis(hotline, day) for hotline in hotlines}

    def calls(self, hotline: str, day: str) -> list[Any]:
        return []

    def agent_day(self, agent: str, day: str) -> None:
        return None

    def agent_days(self, agents: list[str], day: str, *, with_timeline: bool = True) -> dict[str, Any]:
        return {}

    def freshness(self) -> Freshness:
        return Freshness(None, None, None, False, [])


def kept_text(item: dict[str, Any]) -> str:
    """Everything a stored or quarantined item keeps of a request, as text: its JSON, its body
    decoded, and both percent-decoded (to look for a secret in any of its spellings)."""
    text = json.dumps(item, ensure_ascii=False, default=str)
    if "body_base64" in item:
        text += base64.b64decode(item["body_base64"]).decode("latin-1")
    return text + unquote(text)


def stored_call_events(sent: Iterable[tuple[str, str]], received: datetime) -> list[StoredEvent]:
    """Call c0ffee's events as stored, numbered in the order given: an inbound call of hotline
    501, each (event type, ``eventtime`` as the ACD sends it) read in Europe/Berlin."""
    settings = HubSettings(acd_timezone="Europe/Berlin", report_timezone="Europe/Berlin")
    context = ParseContext(settings.acd_zone)
    stored = []
    for index, (kind, at) in enumerate(sent):
        params = {
            "cmd": "callevent",
            "id": str(index + 1),
            "taskid": "c0ffee",
            "eventtype": kind,
            "eventtime": at,
            "mode": "0",
            "hotlineid": "501",
        }
        stored.append(
            StoredEvent.from_item(event_item(parse_callback(params, context), params, settings, received))
        )
    return stored


def poison_item(event_time_ms: int) -> dict[str, Any]:
    """An events-table item (as DynamoDB's wire holds it) no ingest would write, having no day:
    the aggregators cannot place it (both read agentstate), so its record fails every retry."""
    return {
        "pk": {"S": "AGENT#100999#broken"},
        "sk": {"S": "x"},
        "kind": {"S": "event"},
        "cmd": {"S": "agentstate"},
        "agent": {"S": "100999"},
        "event_key": {"S": "poison"},
        "event_time_ms": {"N": str(event_time_ms)},
    }


CALL_ID = iter(range(1000, 10**6))


def call_event(at: str, event_type: str, **extra: str) -> dict[str, str]:
    """A callevent of call c0ffee (``taskid=`` in ``extra`` for another) at ``at`` (UTC)."""
    # callevent times as the ACD's local string (Berlin: UTC+1 in November)
    local = datetime.fromisoformat(at).replace(tzinfo=UTC).astimezone(HubSettings().acd_zone)
    return {
        "cmd": "callevent",
        "id": str(next(CALL_ID)),
        "taskid": "c0ffee",
        "eventtype": event_type,
        "eventtime": local.strftime("%Y-%m-%d %H:%M:%S"),
        **extra,
    }


# -- the ingest function itself ------------------------------------------------------------------

INGEST_CODE = Path(__file__).resolve().parents[1] / "functions" / "ingest"
# What the ingest reads at import besides the ACD_ settings: a region and credentials for its
# client (Lambda's come from the environment too), and where its metrics go (tests that compare
# with the template's alarms import it under the template's values).
FUNCTION_ENVIRONMENT = {
    **FAKE_AWS,
    "POWERTOOLS_SERVICE_NAME": "acd-callback-hub-test",
    "POWERTOOLS_METRICS_NAMESPACE": "AcdCallbackHubTest",
}


def ingest_module(environment: Mapping[str, str] = FUNCTION_ENVIRONMENT) -> ModuleType:
    """``functions/ingest/app.py``, imported once per environment, as a container imports it at
    cold start (its settings, client, logger and metrics read from ``environment``)."""
    return _imported(tuple(sorted(environment.items())))


@cache
def _imported(environment: tuple[tuple[str, str], ...]) -> ModuleType:
    with patched_env(dict(environment)):
        handler = load_handler(INGEST_CODE, "app.lambda_handler")
    return sys.modules[handler.__module__]


@contextmanager
def ingest_function(
    ingest: CallbackIngest, environment: Mapping[str, str] = FUNCTION_ENVIRONMENT
) -> Iterator[ModuleType]:
    """The ingest function (:func:`ingest_module`) with its use case swapped for ``ingest`` (over
    an in-memory store, a stubbed or a dead client) while the block runs. Call its
    ``lambda_handler`` as Lambda does."""
    module: Any = ingest_module(environment)  # its globals are not known to mypy
    saved = module.ingest
    module.ingest = ingest
    try:
        yield module
    finally:
        module.ingest = saved


@contextmanager
def function_log(module: ModuleType, level: int = logging.DEBUG) -> Iterator[io.StringIO]:
    """Every line the function's logger writes while the block runs, as it writes them (JSON)."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(module.logger.registered_formatter)
    saved_level = module.logger.level
    module.logger.addHandler(handler)
    module.logger.setLevel(level)
    try:
        yield out
    finally:
        module.logger.removeHandler(handler)
        module.logger.setLevel(saved_level)


# The template's routes to the ingest function.
INGEST_ROUTES = [
    Route(method=m, path=p, function="IngestFunction")
    for m in ("GET", "HEAD", "PUT", "POST")
    for p in ("/callback", "/callback/{token}")
] + [Route(method="ANY", path="$default", function="IngestFunction")]


def ingest_answer(
    ingest: CallbackIngest,
    target: str,
    source_ip: str = "203.0.113.5",
    environment: Mapping[str, str] = FUNCTION_ENVIRONMENT,
) -> dict[str, Any]:
    """The ingest function's answer (its use case swapped for ``ingest``, see
    :func:`ingest_function`) to a GET of ``target`` (path and query), the event routed by the
    template's routes as API Gateway hands it over (``$default`` takes what no other does)."""
    request = HttpRequest("GET", target, [("Host", "x")], b"", source_ip)
    matched = match_route(INGEST_ROUTES, "GET", request.path)
    assert matched, target
    with ingest_function(ingest, environment) as function:
        answer: dict[str, Any] = function.lambda_handler(
            build_http_api_event(request, *matched), lambda_context()
        )
    return answer


def lambda_context() -> FakeLambdaContext:
    return FakeLambdaContext(function_name="IngestFunction")


# -- the stream functions on DynamoDB in memory ------------------------------------------------------

FUNCTIONS = Path(__file__).resolve().parents[1] / "functions"
STREAM_FUNCTIONS = {"StatsFunction": "stats"}


@contextmanager
def stream_functions(db: Any, names: tuple[str, ...] = tuple(STREAM_FUNCTIONS)) -> Iterator[dict[str, Any]]:
    """The real handlers of ``functions/<name>/app.py``, imported as a cold start imports them,
    with ``acd_hub.aws.dynamodb_client`` answering ``db`` (their module-level wiring runs as
    written)."""
    import acd_hub.aws  # noqa: PLC0415

    saved = acd_hub.aws.dynamodb_client
    acd_hub.aws.dynamodb_client = lambda *_args, **_kwargs: db  # type: ignore[assignment]
    try:
        with patched_env(FUNCTION_ENVIRONMENT):
            yield {
                name: load_handler(FUNCTIONS / STREAM_FUNCTIONS[name], "app.lambda_handler") for name in names
            }
    finally:
        acd_hub.aws.dynamodb_client = saved


# -- random days, and every report of one ------------------------------------------------------------

REPORT_ZONE = HubSettings().report_zone
# an ordinary day, and both DST days of 2026 in Europe/Berlin
DAYS = (date(2026, 11, 20), date(2026, 3, 29), date(2026, 10, 25))
STATES = ("online", "alerting", "connected", "working", "paused", "outconnect", "outworking", "offline")
AGENTS = ("100001", "100002", "100003")
TASKS = tuple(f"c0ffee{n}" for n in range(6))


def local_text(moment: datetime) -> str:
    return moment.astimezone(REPORT_ZONE).strftime("%Y-%m-%d %H:%M:%S")


def short_call(
    number: int,
    task: str,
    hotline: str,
    start: datetime,
    answered: datetime,
    *,
    connected: bool = True,
    agent: str | None = None,
) -> list[dict[str, str]]:
    """The callevents of an inbound call of ``hotline`` (ids ``<number>1`` to ``<number>3``):
    CallStart at ``start``, Connected at ``answered`` (to ``agent``, if one is given; none unless
    ``connected``) and CallEnd 99 s after ``answered``."""
    common = {"cmd": "callevent", "taskid": task, "mode": "0", "hotlineid": hotline}
    sent = [{**common, "id": f"{number}1", "eventtype": "CallStart", "eventtime": local_text(start)}]
    if connected:
        connect = {**common, "id": f"{number}2", "eventtype": "Connected", "eventtime": local_text(answered)}
        sent.append(connect | ({"agentid": agent} if agent else {}))
    end = answered + timedelta(seconds=99)
    sent.append({**common, "id": f"{number}3", "eventtype": "CallEnd", "eventtime": local_text(end)})
    return sent


def random_day(rng: random.Random, day: date) -> list[dict[str, str]]:
    """Agents' states across the day and its midnights, and calls with their agents' work."""
    begin = datetime.combine(day - timedelta(days=1), time(20), tzinfo=REPORT_ZONE)
    span = int(
        (datetime.combine(day + timedelta(days=1), time(4), tzinfo=REPORT_ZONE) - begin).total_seconds()
    )
    sent: list[dict[str, str]] = []
    event_id = iter(range(1, 10**6))
    for agent in AGENTS[: rng.randint(1, 3)]:
        for _ in range(rng.randint(1, 14)):
            at = begin + timedelta(seconds=rng.randint(0, span), milliseconds=rng.choice((0, 250)))
            state = rng.choice(STATES)
            params = {"cmd": "agentstate", "agentid": agent, "mode": "0", "state": state}
            params["eventtime"] = str(int(at.timestamp() * 1000))
            if state in ("connected", "working", "outconnect", "outworking") and rng.random() < 0.8:
                params["taskid"] = rng.choice(TASKS)
            if state == "paused":
                params["pause-reason"] = rng.choice(("Kaffee", "Technik"))
            sent.append(params)
    for task in TASKS[: rng.randint(0, len(TASKS))]:
        start = begin + timedelta(seconds=rng.randint(0, span))
        common = {"cmd": "callevent", "taskid": task}
        sent.append(
            {
                **common,
                "id": str(next(event_id)),
                "eventtype": "CallStart",
                "eventtime": local_text(start),
                "mode": rng.choice("001"),
                "hotlineid": rng.choice(("501", "502")),
            }
        )
        at = start
        for kind in rng.sample(
            ["Connected", "Holdstart", "Holdstop", "Connected", "Mailbox", "CallEnd"], rng.randint(0, 4)
        ):
            at += timedelta(seconds=rng.randint(1, 400))
            extra = {"agentid": rng.choice(AGENTS)} if kind == "Connected" else {}
            sent.append(
                {**common, "id": str(next(event_id)), "eventtype": kind, "eventtime": local_text(at), **extra}
            )
    return sent


def every_report(harness: Harness, sent: list[dict[str, str]], day: date) -> dict[str, Any]:
    queries = ReportQueries(
        harness.log.client, harness.settings.reports_table, harness.settings.cmd_day_shards
    )
    days = [d.isoformat() for d in (day - timedelta(days=1), day, day + timedelta(days=1))]
    out: dict[str, Any] = {}
    for agent in AGENTS:
        for each in days:
            day_report = queries.agent_day(agent, each)
            out[f"agent {agent} {each}"] = day_report and replace(
                day_report, latest_event=None, updated_at=None
            )
    for each in days:  # the day's listing of its hotlines with KPIs
        out[f"hotlines {each}"] = queries.day_hotlines(each)
    for hotline in ("501", "502"):
        for each in days:
            kpis = queries.kpis(hotline, each)
            out[f"kpis {hotline} {each}"] = kpis and replace(kpis, updated_at=None)
            out[f"calls {hotline} {each}"] = queries.calls(hotline, each)
    for task in {p["taskid"] for p in sent if "taskid" in p}:
        out[f"call {task}"] = queries.call(task)
    out["board"] = queries.board()
    return out


# -- live reports against a rebuild ------------------------------------------------------------------


def fresh_harness(client: Any, name: str) -> Harness:
    """The template's tables under their own names (one set per way of building reports)."""
    definitions = dynamodb_tables(load_template())
    names = {"EventsTable": f"Events{name}", "ReportsTable": f"Reports{name}"}
    for logical_id, table in names.items():
        if table in client.list_tables()["TableNames"]:
            client.delete_table(TableName=table)
        client.create_table(**{**definitions[logical_id], "TableName": table})
    return Harness(
        client, HubSettings(events_table=names["EventsTable"], reports_table=names["ReportsTable"])
    )


def deliver(harness: Harness, items: list[dict[str, Any]], rng: random.Random) -> None:
    """Random order, duplicates, random batch sizes, some batches retried."""
    delivery = items + rng.sample(items, k=len(items) // 4)
    rng.shuffle(delivery)
    while delivery:
        size = rng.randint(1, 12)
        batch, delivery = delivery[:size], delivery[size:]
        for _ in range(2 if rng.random() < 0.2 else 1):
            assert harness.run(harness.agents(), batch) == {"batchItemFailures": []}
            assert harness.run(harness.calls(), batch) == {"batchItemFailures": []}


def around(day: date) -> list[str]:
    """The day and two days either side: what a rebuild of the day's events reports on."""
    return days_between((day - timedelta(days=2)).isoformat(), (day + timedelta(days=2)).isoformat())


def rebuilt_reports(client: Any, name: str, sent: list[dict[str, str]], day: date) -> dict[str, Any]:
    """:func:`every_report` of the reports a rebuild computes from ``sent`` alone, in tables of
    their own (``name``)."""
    rebuilt = fresh_harness(client, name)
    for params in sent:
        rebuilt.store_event(params)
    Rebuilder(rebuilt.log, rebuilt.reports, rebuilt.settings).days(around(day))
    return every_report(rebuilt, sent, day)


def assert_same_reports(shown: dict[str, Any], expected: dict[str, Any]) -> None:
    """Two :func:`every_report` results equal, report by report (the failing one named)."""
    assert shown.keys() == expected.keys()
    for name, report in expected.items():
        assert shown[name] == report, name
