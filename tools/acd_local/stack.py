"""``acd-local``: the whole stack on one machine, with no AWS account and no Docker.

* a moto server holds the tables, streams and topics of ``template.yaml`` — read from it
  (:mod:`acd_devkit.template`), so they cannot drift;
* the callback endpoint on ``http://127.0.0.1:3000`` (waitress), which hands each request to the
  ingest handler exactly as API Gateway's HTTP API (payload format 2.0) would;
* one poller per stream event source mapping, feeding the stream consumers like Lambda does
  (filter criteria, batches, partial-batch failures, bisect, bounded retries, a DLQ);
* a local subscriber printing what the SNS topics fan out;
* a data folder (default ``.acd-local/``) where tables and stream positions are kept across a
  restart (:mod:`acd_local.state`: a journal of every write, written by moto's process),
  unless ephemeral.

Processes (:mod:`acd_local.worker`): the endpoint and the HTTP functions run in the
caller's process; moto, each stream consumer and the keeper (which compacts the data folder) run
in their own, so a busy aggregator does not slow the callbacks down through a shared GIL.
:class:`LocalHub` is what ``acd-local`` starts and what the end-to-end tests start on free
ports.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import queue
import secrets
import shlex
import signal
import socket
import sys
import threading
import time
import traceback
import urllib.request
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import unquote

import click

from acd_devkit.lambda_events import FakeLambdaContext, new_request_id
from acd_local import running
from acd_local import state as local_state
from acd_local.lambda_runtime import (
    LOCAL_ACCOUNT_ID,
    LOCAL_REGION,
    BatchOutcome,
    Handler,
    HttpRequest,
    HttpResponse,
    Route,
    batch_outcome,
    build_http_api_event,
    clear_function_caches,
    drop_phantom_inserts,
    http_api_error,
    http_api_response,
    http_request_from_wsgi,
    lambda_stream_record,
    load_handler,
    masked_path,
    match_route,
    parse_filter_patterns,
    passes_filters,
    stream_event,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodbstreams import DynamoDBStreamsClient
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sqs import SQSClient

LOG = logging.getLogger("acd_local")
ACCESS_LOG = logging.getLogger("acd_local.access")
STREAM_LOG = logging.getLogger("acd_local.streams")
SUBSCRIBER_LOG = logging.getLogger("acd_local.subscriber")

HOST = "127.0.0.1"  # never anything else: the stack has no authentication of its own
REGION = LOCAL_REGION
ACCOUNT_ID = LOCAL_ACCOUNT_ID
STACK_NAME = "acd-callback-hub-local"
DUMMY_CREDENTIAL = "testing"
MAX_REQUEST_BYTES = 10 * 1024 * 1024  # API Gateway's request payload limit
TOKENS_ENV = "ACD_CALLBACK_TOKENS"

# What a local container gets on top of the template's environment: tokens come from here, not
# SSM, and X-Ray / EMF output would only be noise on a terminal. acd-sim sends today's whole
# day at once, its afternoon hours ahead of their time: a day ahead is let in here (an event
# years ahead is still refused).
_LOCAL_FUNCTION_ENV = {
    "ACD_MAX_FUTURE_SECONDS": "86400",
    "ACD_TOKEN_PARAMETER": "",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_DISABLED": "true",
}
# A real profile or session token in the developer's shell must not leak into the local stack.
_UNSET_AWS_ENV = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")
_NO_VALUE = object()  # what Ref AWS::NoValue stands for: drop the variable


# --- what the template declares ------------------------------------------------------------------


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    code_uri: Path
    handler: str
    memory_mb: int = 128
    timeout_seconds: float = 3.0


@dataclass(frozen=True)
class StreamMapping:
    """One DynamoDB stream event source mapping (the subset a local poller honours)."""

    function: str
    table: str
    batch_size: int = 100
    filter_patterns: tuple[Mapping[str, Any], ...] = ()
    bisect: bool = False
    max_retries: int = -1  # -1: until the record expires, as on AWS
    max_record_age: int = -1  # seconds (MaximumRecordAgeInSeconds); -1: until it expires
    report_batch_item_failures: bool = False
    batching_window: float = 0.0  # seconds to gather records before invoking (MaximumBatchingWindowInSeconds)
    tumbling_window: int = 0  # TumblingWindowInSeconds: the event names its shard


@dataclass(frozen=True)
class StackSpec:
    """Everything the local stack takes from ``template.yaml``.

    Tests may build one by hand (stand-in tables and functions); :meth:`load` reads the real
    template.
    """

    tables: Mapping[str, Mapping[str, Any]]  # logical id -> create_table kwargs
    ttl_attributes: Mapping[str, str] = field(default_factory=dict)
    topics: Sequence[str] = ()
    functions: Mapping[str, FunctionSpec] = field(default_factory=dict)
    environments: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # raw, per function
    stream_mappings: Sequence[StreamMapping] = ()
    routes: Sequence[Route] = ()
    parameters: Mapping[str, Any] = field(default_factory=dict)  # defaults
    # Top-level packages shipped as layers: their per-container caches are reset per stack.
    layer_packages: Sequence[str] = ()

    @classmethod
    def load(cls, path: str | os.PathLike[str] | None = None) -> StackSpec:
        from acd_devkit import template as tpl  # noqa: PLC0415 - keep `--help` fast

        source = tpl.find_template(path)
        return cls.from_template(tpl.load_template(source), source.resolve().parent)

    @classmethod
    def from_template(cls, template: Mapping[str, Any], base_dir: Path) -> StackSpec:
        from acd_devkit import template as tpl  # noqa: PLC0415

        globals_ = dict((template.get("Globals") or {}).get("Function") or {})
        functions: dict[str, FunctionSpec] = {}
        for logical_id, resource in tpl.resources_of_type(template, tpl.SERVERLESS_FUNCTION).items():
            if not tpl.deployed(template, logical_id):
                continue  # not in a stack with the default parameters: the board (BoardLogin=false)
            properties = {**globals_, **(resource.get("Properties") or {})}
            code_uri, handler = properties.get("CodeUri"), properties.get("Handler")
            if not isinstance(code_uri, str) or not isinstance(handler, str):
                LOG.warning("%s: CodeUri/Handler are not plain strings; not runnable locally", logical_id)
                continue
            functions[logical_id] = FunctionSpec(
                logical_id=logical_id,
                code_uri=(base_dir / code_uri).resolve(),
                handler=handler,
                memory_mb=_int_or(properties.get("MemorySize"), 128),
                timeout_seconds=float(_int_or(properties.get("Timeout"), 3)),
            )
        routes = []
        for route in tpl.http_routes(template):
            if route["payload_format"] != "2.0":
                raise tpl.TemplateError(
                    f"{route['function']}.{route['event']}: only payload format 2.0 runs locally"
                )
            routes.append(Route(method=route["method"], path=route["path"], function=route["function"]))
        mappings = [
            StreamMapping(
                function=m["function"],
                table=m["table"],
                batch_size=m["batch_size"],
                filter_patterns=tuple(parse_filter_patterns(m["filter_patterns"])),
                bisect=m["bisect"],
                max_retries=m["max_retries"],
                max_record_age=m["max_record_age"],
                report_batch_item_failures=m.get("report_batch_item_failures", True),
                batching_window=float(m.get("batching_window", 0)),
                tumbling_window=int(m.get("tumbling_window", 0)),
            )
            for m in tpl.stream_mappings(template)
        ]
        return cls(
            tables=tpl.dynamodb_tables(template),
            ttl_attributes=tpl.ttl_attributes(template),
            topics=tuple(tpl.sns_topics(template)),
            functions=functions,
            environments={fid: tpl.function_environment(template, fid) for fid in functions},
            stream_mappings=tuple(mappings),
            routes=tuple(routes),
            parameters=tpl.parameter_defaults(template),
            layer_packages=tuple(_layer_packages(template, base_dir)),
        )


def _int_or(value: Any, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _layer_packages(template: Mapping[str, Any], base_dir: Path) -> Iterator[str]:
    from acd_devkit import template as tpl  # noqa: PLC0415

    for logical_id, resource in (template.get("Resources") or {}).items():
        if not isinstance(resource, dict) or resource.get("Type") != "AWS::Serverless::LayerVersion":
            continue
        if not tpl.deployed(template, logical_id):
            continue
        content = (resource.get("Properties") or {}).get("ContentUri")
        if not isinstance(content, str):
            continue
        root = base_dir / content
        for directory in (root, root / "python"):
            if directory.is_dir():
                for child in sorted(directory.iterdir()):
                    if (child / "__init__.py").is_file():
                        yield child.name


# --- provisioning --------------------------------------------------------------------------------


@dataclass(frozen=True)
class AwsClients:
    dynamodb: DynamoDBClient
    streams: DynamoDBStreamsClient
    sns: SNSClient
    sqs: SQSClient


def aws_clients(endpoint_url: str, region: str = REGION) -> AwsClients:
    """Clients bound to the endpoint explicitly (not through the environment, which a test or
    another stack in this process may change)."""
    import boto3  # noqa: PLC0415

    session = boto3.session.Session(
        aws_access_key_id=DUMMY_CREDENTIAL, aws_secret_access_key=DUMMY_CREDENTIAL, region_name=region
    )
    return AwsClients(
        dynamodb=session.client("dynamodb", endpoint_url=endpoint_url),
        streams=session.client("dynamodbstreams", endpoint_url=endpoint_url),
        sns=session.client("sns", endpoint_url=endpoint_url),
        sqs=session.client("sqs", endpoint_url=endpoint_url),
    )


@dataclass(frozen=True)
class ProvisionedResources:
    endpoint_url: str
    region: str
    table_names: dict[str, str]  # logical id -> table name (the same string)
    stream_arns: dict[str, str]  # table logical id -> latest stream ARN
    topic_arns: dict[str, str]  # topic logical id -> ARN
    subscriber_queue_urls: dict[str, str]  # topic logical id -> "<topic>-local-subscriber" queue
    dlq_urls: dict[str, str]  # stream consumer logical id -> "<function>-local-dlq" queue


def reset_moto(endpoint_url: str) -> None:
    """Drop all of moto's state (it is process-wide: every server in the process shares it)."""
    # Our own loopback URL (http://127.0.0.1:<port>), not user input.
    request = urllib.request.Request(f"{endpoint_url}/moto-api/reset", data=b"", method="POST")  # noqa: S310
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        response.read()


def provision(
    endpoint_url: str,
    template: Mapping[str, Any] | StackSpec | None = None,
    *,
    region: str = REGION,
    clients: AwsClients | None = None,
) -> ProvisionedResources:
    """Create the template's tables (with their streams and TTL), its topics, a subscriber queue
    per topic and a DLQ per stream consumer on the AWS endpoint (a moto server).

    ``template`` is a loaded template, a :class:`StackSpec`, or None for ``template.yaml``.
    """
    spec = _as_spec(template)
    clients = clients or aws_clients(endpoint_url, region)
    table_names: dict[str, str] = {}
    stream_arns: dict[str, str] = {}
    for logical_id, kwargs in spec.tables.items():
        # Table name = logical id: the settings' defaults and what acd-report assumes locally.
        description = clients.dynamodb.create_table(**{**kwargs, "TableName": logical_id})["TableDescription"]  # type: ignore[arg-type]
        table_names[logical_id] = logical_id
        if description.get("LatestStreamArn"):
            stream_arns[logical_id] = description["LatestStreamArn"]
        if logical_id in spec.ttl_attributes:
            clients.dynamodb.update_time_to_live(
                TableName=logical_id,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": spec.ttl_attributes[logical_id]},
            )
    topic_arns: dict[str, str] = {}
    queue_urls: dict[str, str] = {}
    for topic in spec.topics:
        topic_arns[topic] = clients.sns.create_topic(Name=topic)["TopicArn"]
        queue_url = clients.sqs.create_queue(QueueName=f"{topic}-local-subscriber")["QueueUrl"]
        queue_arn = clients.sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        # Not raw delivery: the SNS envelope keeps the topic and the message attributes together.
        clients.sns.subscribe(TopicArn=topic_arns[topic], Protocol="sqs", Endpoint=queue_arn)
        queue_urls[topic] = queue_url
    dlq_urls = {
        mapping.function: clients.sqs.create_queue(QueueName=f"{mapping.function}-local-dlq")["QueueUrl"]
        for mapping in spec.stream_mappings
    }
    return ProvisionedResources(
        endpoint_url, region, table_names, stream_arns, topic_arns, queue_urls, dlq_urls
    )


def _as_spec(template: Mapping[str, Any] | StackSpec | None) -> StackSpec:
    if isinstance(template, StackSpec):
        return template
    if template is None:
        return StackSpec.load()
    from acd_devkit import template as tpl  # noqa: PLC0415

    return StackSpec.from_template(template, tpl.find_template().resolve().parent)


# --- environment ---------------------------------------------------------------------------------


def function_environments(
    spec: StackSpec, resources: ProvisionedResources, account_id: str = ACCOUNT_ID
) -> dict[str, dict[str, str]]:
    """Each function's environment as Lambda would set it, with Refs resolved against the local
    resources: tables -> name, topics -> local ARN, parameters -> their default."""
    from acd_devkit import template as tpl  # noqa: PLC0415

    region = resources.region
    refs: dict[str, Any] = {
        "AWS::Region": region,
        "AWS::AccountId": account_id,
        "AWS::Partition": "aws",
        "AWS::StackName": STACK_NAME,
        "AWS::StackId": f"arn:aws:cloudformation:{region}:{account_id}:stack/{STACK_NAME}/local",
        "AWS::URLSuffix": "amazonaws.com",
        "AWS::NoValue": _NO_VALUE,
        **{name: _env_string(value) for name, value in spec.parameters.items()},
    }
    for table, name in resources.table_names.items():
        refs[table] = name
        refs[f"{table}.Arn"] = f"arn:aws:dynamodb:{region}:{account_id}:table/{name}"
        if table in resources.stream_arns:
            refs[f"{table}.StreamArn"] = resources.stream_arns[table]
    for topic, arn in resources.topic_arns.items():
        refs[topic] = arn
        refs[f"{topic}.TopicArn"] = arn
        refs[f"{topic}.TopicName"] = topic
    environments: dict[str, dict[str, str]] = {}
    for function, raw in spec.environments.items():
        resolved: dict[str, str] = {}
        for name, value in raw.items():
            try:
                result = tpl.resolve(value, refs)
            except (KeyError, tpl.TemplateError) as exc:
                LOG.warning("%s: %s is left unset locally (cannot resolve %s)", function, name, exc)
                continue
            if result is not _NO_VALUE:
                resolved[name] = _env_string(result)
        environments[function] = resolved
    return environments


def _env_string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def merged_environment(environments: Mapping[str, Mapping[str, str]]) -> dict[str, str]:
    """One environment for the whole process.

    Assumption: where two functions set the same variable they set the same value (the
    template's Globals plus disjoint per-function additions), so one process can hold them all.
    Each handler still imports under its own function's environment (see LocalHub), which
    covers settings read at cold start; a conflict is reported, and the first value wins.
    """
    merged: dict[str, str] = {}
    for function, environment in environments.items():
        for name, value in environment.items():
            if name in merged and merged[name] != value:
                LOG.warning("%s sets %s differently from another function; keeping the first", function, name)
                continue
            merged.setdefault(name, value)
    return merged


# --- invoking functions --------------------------------------------------------------------------


@dataclass(frozen=True)
class InvocationError:
    function: str
    source: str  # "http" or "stream"
    error: str
    traceback: str


class FunctionInvoker:
    """Calls one function's handler the way one Lambda container would."""

    def __init__(
        self, spec: FunctionSpec, handler: Handler, lock: threading.Lock, region: str = REGION
    ) -> None:
        self.spec = spec
        self.handler = handler
        self._lock = lock
        self._region = region

    @property
    def arn(self) -> str:
        return f"arn:aws:lambda:{self._region}:{ACCOUNT_ID}:function:{self.spec.logical_id}"

    def __call__(self, event: dict[str, Any]) -> Any:
        context = FakeLambdaContext(
            function_name=self.spec.logical_id,
            memory_limit_in_mb=self.spec.memory_mb,
            timeout_seconds=self.spec.timeout_seconds,
            region=self._region,
        )
        # One invocation of a container at a time: a function's module state (the resolver's
        # current_event) is not made for concurrent requests. Concurrency comes from more
        # containers (see InvokerPool), as on Lambda.
        with self._lock:
            return self.handler(event, context)


class InvokerPool:
    """Several containers of one function (each its own import of the module, so its own module
    state), as Lambda runs concurrent invocations: a request takes a free one. Without this the
    endpoint answered one callback at a time, each waiting for moto's answer to its write.

    The containers share the layer's module-level objects (one boto3 client, thread-safe) and
    Powertools' per-service logger, so under concurrency a log line may carry another
    invocation's request id (never another function's name)."""

    def __init__(self, invokers: Sequence[FunctionInvoker]) -> None:
        self.invokers = list(invokers)
        self.spec = self.invokers[0].spec
        self._free: queue.SimpleQueue[FunctionInvoker] = queue.SimpleQueue()
        for invoker in self.invokers:
            self._free.put(invoker)

    @property
    def arn(self) -> str:
        return self.invokers[0].arn

    def __call__(self, event: dict[str, Any]) -> Any:
        invoker = self._free.get()
        try:
            return invoker(event)
        finally:
            self._free.put(invoker)


class ErrorLog:
    """Handler exceptions, kept so tests can assert there were none."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.entries: list[InvocationError] = []

    def record(self, function: str, source: str, exc: BaseException) -> None:
        entry = InvocationError(function, source, repr(exc), "".join(traceback.format_exception(exc)))
        with self._lock:
            self.entries.append(entry)


# --- API Gateway ---------------------------------------------------------------------------------


class Gateway:
    """Routes a request to its function the way API Gateway's HTTP API does."""

    def __init__(
        self,
        routes: Sequence[Route],
        invokers: Mapping[str, Callable[[dict[str, Any]], Any]],
        errors: ErrorLog,
        port: int,
    ) -> None:
        self._routes = list(routes)
        self._invokers = invokers
        self._errors = errors
        self._port = port
        self._known_segments = {s for r in routes for s in r.path.split("/") if s and "{" not in s}

    def log_path(self, raw_path: str) -> str:
        """``raw_path`` fit for a log line: a route's parameters (the token) as ``***``."""
        path = unquote(raw_path)
        for route in self._routes:
            if Route("ANY", route.path, route.function).match("ANY", path) is not None:
                return route.masked_path()
        return masked_path(path, self._known_segments)

    def handle(self, request: HttpRequest) -> tuple[HttpResponse, str]:
        """The response, and the path to log (tokens masked, never the query string)."""
        found = match_route(self._routes, request.method, request.path)
        if found is None:
            return http_api_error(404, "Not Found"), self.log_path(request.raw_path)
        route, params = found
        request_id = new_request_id()
        event = build_http_api_event(request, route, params, request_id=request_id, port=self._port)
        try:
            response = http_api_response(self._invokers[route.function](event))
        except Exception as exc:
            # API Gateway's answer to a failed integration. This must never happen: tests assert
            # the error log stays empty.
            LOG.error(
                "%s raised on %s %s", route.function, request.method, route.masked_path(), exc_info=True
            )
            self._errors.record(route.function, "http", exc)
            response = http_api_error(500, "Internal Server Error")
        response.headers.append(("apigw-requestid", request_id))
        return response, route.masked_path()


class ApiServer:
    """The callback endpoint: waitress (a maintained, strict HTTP/1.1 server) in front of the
    :class:`Gateway`.

    Waitress does the HTTP: keep-alive, a listen backlog of ``backlog`` (the stdlib server had
    5), strict parsing (a chunk size that is not plain hex — ``-1``, ``0x5`` — is a 400), and a
    request is handed on only once its headers and body are complete, so a client that hangs up
    mid-request causes nothing. The body limit is API Gateway's (413 beyond it).
    """

    def __init__(self, address: tuple[str, int], *, threads: int = 8, backlog: int = 1024) -> None:
        from waitress.server import create_server  # noqa: PLC0415 - keep `--help` fast

        self.gateway: Gateway | None = None
        self._server = create_server(
            self._wsgi,
            host=address[0],
            port=address[1],
            threads=threads,
            backlog=backlog,
            # Every connection is accepted (the default caps them at 100; the rest would wait in
            # the backlog until one closes).
            connection_limit=4096,
            # select() stops at file descriptor 1024; poll() does not.
            asyncore_use_poll=True,
            max_request_body_size=MAX_REQUEST_BYTES,
            channel_timeout=120,  # an idle keep-alive connection ends eventually
            ident="acd-local",
            expose_tracebacks=False,
        )
        # Waitress answers malformed requests itself (never reaching the gateway); say so in the
        # access log, without the request line (it may hold the token).
        self._server.channel_class = _logging_channel()
        # Waitress logs a warning per queued task under load ("Task queue depth is N"): noise.
        logging.getLogger("waitress.queue").setLevel(logging.ERROR)
        self.server_address: tuple[str, int] = (address[0], int(self._server.effective_port))
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="callback-http", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        with contextlib.suppress(Exception):  # closed under it while stopping
            self._server.run()

    def stop(self, timeout: float = 3.0) -> None:
        """Stop accepting, close every connection, let running requests finish (at most
        ``timeout`` seconds)."""
        server = self._server

        def close_all() -> None:
            # Runs in the server's own loop thread (via its trigger): no race with the loop.
            for channel in list(server._map.values()):
                if channel is not server.trigger:
                    channel.close()  # connections, and the listening socket(s)
            server.trigger.close()

        if self._thread is not None and self._thread.is_alive():
            with contextlib.suppress(Exception):
                server.trigger.pull_trigger(close_all)
            self._thread.join(timeout)
        else:
            with contextlib.suppress(Exception):
                server.close()
        server.task_dispatcher.shutdown(cancel_pending=True, timeout=timeout)

    def _wsgi(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        started = time.perf_counter()
        request = http_request_from_wsgi(environ)
        gateway = self.gateway
        if gateway is None:
            response, log_path = http_api_error(503, "Service Unavailable"), masked_path(request.raw_path)
        else:
            try:
                response, log_path = gateway.handle(request)
            except Exception:  # a bug of this emulation, not of the function: still answer
                LOG.exception("the local gateway failed")
                response = http_api_error(500, "Internal Server Error")
                log_path = gateway.log_path(request.raw_path)
        # HEAD: the length the body would have, no body (RFC 9110 9.3.2); waitress accepts that.
        headers = list(response.headers)
        if response.status >= 200 and response.status not in (204, 304):
            headers.append(("Content-Length", str(len(response.body))))
        start_response(_status_line(response.status), headers)
        # The access log: never the query string (token, phone numbers), tokens in paths masked.
        ACCESS_LOG.info(
            "%s %s %s %d %.1fms",
            request.source_ip,
            request.method,
            log_path,
            response.status,
            (time.perf_counter() - started) * 1000,
        )
        return [b"" if request.method == "HEAD" else response.body]


def _status_line(status: int) -> str:
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"{status} Unknown"


def _logging_error_task() -> type[Any]:
    from waitress.task import ErrorTask  # noqa: PLC0415

    class LoggingErrorTask(ErrorTask):  # type: ignore[misc]
        def execute(self) -> None:
            code = getattr(self.request.error, "code", "-")
            ACCESS_LOG.info("%s request rejected before routing (%s)", self.channel.addr[0], code)
            super().execute()

    return LoggingErrorTask


@functools.cache
def _strict_parser() -> type[Any]:
    from waitress.parser import HTTPRequestParser, ParsingError  # noqa: PLC0415

    class StrictParser(HTTPRequestParser):  # type: ignore[misc]
        """RFC 9112 6.3: a request with both Content-Length and Transfer-Encoding may be an
        attempt to smuggle a second request past a front end that reads the other header. Waitress
        reads it by Transfer-Encoding and keeps the connection; we answer 400 and close it."""

        def parse_header(self, header_plus: bytes) -> None:
            super().parse_header(header_plus)
            if "CONTENT_LENGTH" in self.headers and (self.chunked or "TRANSFER_ENCODING" in self.headers):
                self.connection_close = True
                raise ParsingError("both Content-Length and Transfer-Encoding")

    return StrictParser


@functools.cache
def _logging_channel() -> type[Any]:
    from waitress.channel import HTTPChannel  # noqa: PLC0415

    class LoggingChannel(HTTPChannel):  # type: ignore[misc]
        error_task_class = _logging_error_task()
        parser_class = _strict_parser()

    return LoggingChannel


# --- the stream event source mapping -------------------------------------------------------------

_RESOURCE_GONE = {"ResourceNotFoundException"}


def _forget_iterator(iterator: str, region: str) -> None:
    """moto keeps every shard iterator it ever handed out (each ``get_records`` mints a new one,
    ~2 KB): a poller running for a day would hold hundreds of MB. Drop the used one when moto
    runs in this process — the local stack's always does."""
    if "moto" not in sys.modules:
        return
    with contextlib.suppress(Exception):
        from moto.dynamodbstreams.models import dynamodbstreams_backends  # noqa: PLC0415

        dynamodbstreams_backends[ACCOUNT_ID][region].shard_iterators.pop(iterator, None)


@dataclass(frozen=True)
class StreamLag:
    """How far one stream consumer is behind: records read from (or carried into) its stream but
    not handled yet, and the age of the oldest of them (what Lambda's IteratorAge measures)."""

    records_behind: int
    oldest_age_seconds: float | None
    # The read-ahead buffer is full: more records may wait in the stream than counted here.
    at_least: bool = False

    def describe(self) -> str:
        if not self.records_behind:
            return "up to date"
        count = f"{'>=' if self.at_least else ''}{self.records_behind:,} behind"
        age = f", oldest {self.oldest_age_seconds:.1f} s" if self.oldest_age_seconds is not None else ""
        return count + age


@dataclass
class _Pending:
    """A record read from the stream (or carried over from an earlier run), not handled yet."""

    shard_id: str
    sequence: str
    record: dict[str, Any] | None  # Lambda's shape; None when the filter criteria drop it
    created: float | None  # ApproximateCreationDateTime, epoch seconds
    arrived: float  # time.monotonic() when read


def _created_epoch(raw: Mapping[str, Any]) -> float | None:
    value = raw.get("dynamodb", {}).get("ApproximateCreationDateTime")
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


class StreamPoller(threading.Thread):
    """Feeds one stream consumer from its table's stream the way Lambda's event source mapping
    does: filter criteria, batches of at most ``batch_size``, ``eventSourceARN`` on each record,
    partial-batch failures (retry from the first failed record), bisect on error, at most
    ``max_retries`` retries, then the failed records to a DLQ queue and on.

    A reader thread keeps reading the stream ahead into a bounded buffer while this thread
    invokes the function, so :meth:`lag` can say how many records wait and how old the oldest
    is (the buffer holds at most ``max_buffered``; beyond that the lag is a lower bound).

    Where it starts: after ``checkpoints`` (shard -> last sequence number handled) where given,
    else at TRIM_HORIZON. ``carried`` records (kept by the data folder from an earlier run, not yet
    handled then) are delivered first. After every delivered batch ``on_progress(self)`` is
    called: :attr:`checkpoints` and :attr:`carried_left` then say what is done.

    Like a real mapping it is bound to one stream (``stream_arn``, else the table's stream when
    first seen): if the table is deleted or recreated, the poller goes quiet rather than
    following the new stream. That also keeps a stack whose moto state was reset (by a test, or
    another stack in the process) from consuming someone else's records.

    The batching window is honoured (records are gathered until a full batch or the window has
    passed). Not emulated: the maximum record age (a local stream never gets that old).
    """

    def __init__(
        self,
        mapping: StreamMapping,
        invoke: FunctionInvoker | Any,
        clients: AwsClients,
        *,
        stream_arn: str | None = None,
        dlq_url: str | None = None,
        region: str = REGION,
        errors: ErrorLog | None = None,
        poll_interval: float = 0.25,
        discovery_interval: float = 2.0,
        retry_delay: float = 0.2,
        max_retry_delay: float = 2.0,
        checkpoints: Mapping[str, str] | None = None,
        carried: Sequence[Mapping[str, Any]] = (),
        on_progress: Callable[[StreamPoller], None] | None = None,
        max_buffered: int = 10_000,
    ) -> None:
        super().__init__(name=f"stream-poller-{mapping.function}", daemon=True)
        self.mapping = mapping
        self._invoke = invoke
        self._clients = clients
        self._dlq_url = dlq_url
        self._region = region
        self._errors = errors or ErrorLog()
        self._poll_interval = poll_interval
        self._discovery_interval = discovery_interval
        self._retry_delay = retry_delay
        self._max_retry_delay = max_retry_delay
        self._on_progress = on_progress
        self._max_buffered = max(1, max_buffered)
        self._stop_event = threading.Event()
        self._wake_event = threading.Event()
        # Guards the buffer, the carried records, what is in flight and the idle/pause state.
        self._cond = threading.Condition()
        self._buffer: deque[_Pending] = deque()
        self._carried: deque[Mapping[str, Any]] = deque(carried)
        self._in_flight: list[_Pending] = []
        self._idle_cycles = 0
        self._pauses = 0  # pause() calls not resumed yet (several callers' may overlap)
        self._paused = False
        self.stream_arn = stream_arn
        self._iterators: dict[str, str] = {}  # open shards being read
        self._read_up_to: dict[str, str] = {}  # shard -> last sequence number read into the buffer
        self._checkpoints: dict[str, str] = dict(checkpoints or {})  # shard -> last handled
        self._closed_shards: set[str] = set()
        self._last_problem: str | None = None
        self._reader = threading.Thread(
            target=self._read_loop, name=f"stream-reader-{mapping.function}", daemon=True
        )
        self.invocations = 0
        self.dead_lettered = 0

    @property
    def function_arn(self) -> str:
        default = f"arn:aws:lambda:{self._region}:{ACCOUNT_ID}:function:{self.mapping.function}"
        return str(getattr(self._invoke, "arn", default))

    @property
    def checkpoints(self) -> dict[str, str]:
        """Shard -> the last sequence number handled (delivered, filtered out or dead-lettered)."""
        with self._cond:
            return dict(self._checkpoints)

    @property
    def carried_left(self) -> int:
        with self._cond:
            return len(self._carried)

    # -- control --

    def stop(self) -> None:
        self._stop_event.set()
        self._wake_event.set()
        with self._cond:
            self._cond.notify_all()

    def join(self, timeout: float | None = None) -> None:
        super().join(timeout)
        if self._reader.is_alive():
            self._reader.join(timeout)

    def wake(self) -> None:
        self._wake_event.set()

    def idle_cycles(self) -> int:
        with self._cond:
            return self._idle_cycles

    def wait_idle(self, timeout: float) -> bool:
        """True once two full reads of the stream that found nothing new, with nothing left to
        deliver, have passed since the call (the second began after the call, so it saw every
        record written before it)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            target = self._idle_cycles + 2
        while True:
            self._wake_event.set()
            with self._cond:
                if self._idle_cycles >= target:
                    return True
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not self.is_alive():
                    return False
                self._cond.wait(min(remaining, 0.05))

    def pause(self, timeout: float) -> bool:
        """Stop invoking after the batch in flight (if any); True once paused. The checkpoints
        then match exactly what the function has done."""
        deadline = time.monotonic() + timeout
        with self._cond:
            self._pauses += 1
            self._cond.notify_all()
            while not self._paused:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not self.is_alive():
                    return not self.is_alive()  # a stopped poller invokes nothing either
                self._cond.wait(min(remaining, 0.05))
            return True

    def resume(self) -> None:
        with self._cond:
            self._pauses = max(0, self._pauses - 1)
            self._cond.notify_all()

    def lag(self) -> StreamLag:
        with self._cond:
            behind = len(self._carried) + len(self._in_flight) + len(self._buffer)
            created: float | None = None
            if self._carried:
                created = _created_epoch(self._carried[0])
            elif self._in_flight:
                created = self._in_flight[0].created
            elif self._buffer:
                created = self._buffer[0].created
            full = len(self._buffer) >= self._max_buffered
        age = max(0.0, time.time() - created) if created is not None and behind else None
        return StreamLag(behind, age, full)

    # -- reading ahead --

    def _read_loop(self) -> None:
        next_discovery = 0.0
        while not self._stop_event.is_set():
            if time.monotonic() >= next_discovery:
                self._discover()
                next_discovery = time.monotonic() + self._discovery_interval
            found = 0
            for shard_id in list(self._iterators):
                with self._cond:
                    # Back-pressure: a consumer far behind does not pull the whole stream in.
                    while len(self._buffer) >= self._max_buffered and not self._stop_event.is_set():
                        self._cond.wait(0.2)
                raw = self._read(shard_id)
                if raw:
                    found += len(raw)
                    pending = [self._pending(shard_id, record) for record in raw]
                    with self._cond:
                        self._buffer.extend(pending)
                        self._cond.notify_all()
            if not found:
                with self._cond:
                    if not (self._buffer or self._in_flight or self._carried):
                        self._idle_cycles += 1
                    self._cond.notify_all()
                if self._wake_event.wait(self._poll_interval):
                    self._wake_event.clear()

    def _pending(self, shard_id: str, raw: Mapping[str, Any]) -> _Pending:
        record = lambda_stream_record(raw, self.stream_arn or "", self._region)
        kept = passes_filters(self.mapping.filter_patterns, record)
        return _Pending(
            shard_id,
            str(raw["dynamodb"]["SequenceNumber"]),
            record if kept else None,
            _created_epoch(raw),
            time.monotonic(),
        )

    def _problem(self, message: str) -> None:
        # Say it once, not four times a second.
        if message != self._last_problem:
            STREAM_LOG.warning("%s: %s", self.mapping.function, message)
            self._last_problem = message

    def _discover(self) -> None:
        """Bind to the stream (once) and open an iterator on every shard not being read."""
        from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

        try:
            table = self._clients.dynamodb.describe_table(TableName=self.mapping.table)["Table"]
            enabled = table.get("StreamSpecification", {}).get("StreamEnabled")
            arn = table.get("LatestStreamArn") if enabled else None
            if self.stream_arn is None and arn is not None:
                self.stream_arn = arn
            if arn is None or arn != self.stream_arn:
                self._iterators.clear()
                self._problem(f"the stream of {self.mapping.table} is gone; not following a new one")
                return
            shards: list[dict[str, Any]] = []
            kwargs: dict[str, Any] = {"StreamArn": arn}
            while True:
                description = self._clients.streams.describe_stream(**kwargs)["StreamDescription"]
                shards.extend(cast("list[dict[str, Any]]", description.get("Shards", [])))
                if not description.get("LastEvaluatedShardId"):
                    break
                kwargs["ExclusiveStartShardId"] = description["LastEvaluatedShardId"]
            for shard in shards:
                shard_id = shard["ShardId"]
                if shard_id not in self._iterators and shard_id not in self._closed_shards:
                    self._iterators[shard_id] = self._open(arn, shard_id)
            self._last_problem = None
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _RESOURCE_GONE:
                self._iterators.clear()
                self._problem(f"table {self.mapping.table} not found")
            else:
                self._problem(f"describing the stream failed: {exc}")
        except BotoCoreError as exc:
            self._problem(f"describing the stream failed: {exc}")

    def _open(self, arn: str, shard_id: str) -> str:
        """An iterator after what was read (or handled) of the shard, so nothing is delivered
        twice; a shard never read starts at TRIM_HORIZON (a new shard is read from its
        beginning)."""
        kwargs: dict[str, Any] = {"StreamArn": arn, "ShardId": shard_id}
        with self._cond:
            after = self._read_up_to.get(shard_id) or self._checkpoints.get(shard_id)
        if after is not None:
            kwargs.update(ShardIteratorType="AFTER_SEQUENCE_NUMBER", SequenceNumber=after)
        else:
            kwargs["ShardIteratorType"] = "TRIM_HORIZON"
        return self._clients.streams.get_shard_iterator(**kwargs)["ShardIterator"]

    def _read(self, shard_id: str) -> list[dict[str, Any]]:
        from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

        iterator = self._iterators[shard_id]
        try:
            response = self._clients.streams.get_records(ShardIterator=iterator, Limit=1000)
        except (ClientError, BotoCoreError) as exc:
            # An expired or unknown iterator, a table gone, a stopping server: drop the shard;
            # the next discovery reopens it after what was read (or finds the table gone).
            self._iterators.pop(shard_id, None)
            self._problem(f"reading the stream failed: {exc}")
            return []
        _forget_iterator(iterator, self._region)
        next_iterator = response.get("NextShardIterator")
        if next_iterator is None:
            del self._iterators[shard_id]
            self._closed_shards.add(shard_id)
        else:
            self._iterators[shard_id] = next_iterator
        raw = cast("list[dict[str, Any]]", list(response.get("Records", [])))
        if raw:
            with self._cond:
                self._read_up_to[shard_id] = str(raw[-1]["dynamodb"]["SequenceNumber"])
        return drop_phantom_inserts(raw)  # type: ignore[return-value]

    # -- delivering --

    def run(self) -> None:
        self._reader.start()
        try:
            while not self._stop_event.is_set():
                self._pause_point()
                if self._stop_event.is_set():
                    break
                if self.carried_left:
                    self._deliver_carried()
                    continue
                taken = self._take()
                if taken:
                    self._deliver(taken)
        finally:
            self._stop_event.set()
            self._wake_event.set()

    def _pause_point(self) -> None:
        with self._cond:
            if not self._pauses:
                return
            self._paused = True
            self._cond.notify_all()
            while self._pauses and not self._stop_event.is_set():
                self._cond.wait(0.2)
            self._paused = False

    def _take(self) -> list[_Pending]:
        """The next batch: records of one shard in order, up to ``batch_size`` the filters keep
        (records they drop come along, to be checkpointed). Waits for the batching window."""
        with self._cond:
            while not self._buffer:
                if self._stop_event.is_set() or self._pauses:
                    return []
                self._cond.wait(self._poll_interval)
            if self.mapping.batching_window > 0:
                deadline = self._buffer[0].arrived + self.mapping.batching_window
                while (
                    sum(1 for p in self._buffer if p.record is not None) < self.mapping.batch_size
                    and not self._stop_event.is_set()
                    and not self._pauses
                ):
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self._cond.wait(min(remaining, self._poll_interval))
            shard_id = self._buffer[0].shard_id
            taken: list[_Pending] = []
            kept = 0
            while self._buffer and self._buffer[0].shard_id == shard_id:
                if self._buffer[0].record is not None:
                    if kept == self.mapping.batch_size:
                        break
                    kept += 1
                taken.append(self._buffer.popleft())
            self._in_flight = taken
            self._cond.notify_all()  # room in the buffer again
            return taken

    def _deliver(self, taken: list[_Pending]) -> None:
        shard_id = taken[0].shard_id
        batch = [p.record for p in taken if p.record is not None]
        done = self._process(shard_id, batch) if batch else True
        with self._cond:
            if done:
                # Filtered-out records are checkpointed too: Lambda drops them for good.
                self._checkpoints[shard_id] = taken[-1].sequence
            self._in_flight = []
            self._cond.notify_all()
        if done and self._on_progress is not None:
            self._on_progress(self)

    def _deliver_carried(self) -> None:
        """Records the data folder kept as not yet handled by this consumer: delivered first, in
        order, in batches like the stream's (their sequence numbers are from the earlier run)."""
        with self._cond:
            take: list[Mapping[str, Any]] = []
            kept: list[dict[str, Any]] = []
            for raw in self._carried:
                record = lambda_stream_record(raw, self.stream_arn or "", self._region)
                if passes_filters(self.mapping.filter_patterns, record):
                    if len(kept) == self.mapping.batch_size:
                        break
                    kept.append(record)
                take.append(raw)
            self._in_flight = [
                _Pending("carried", str(r["dynamodb"]["SequenceNumber"]), None, _created_epoch(r), 0.0)
                for r in take
            ]
        done = self._process("carried", kept) if kept else True
        with self._cond:
            if done:
                for _ in take:
                    self._carried.popleft()
            self._in_flight = []
            self._cond.notify_all()
        if done and self._on_progress is not None:
            self._on_progress(self)

    def _process(self, shard_id: str, batch: list[dict[str, Any]]) -> bool:
        """Deliver one batch until it succeeds or its records are dead-lettered; False if the
        poller was stopped meanwhile."""
        pending: deque[tuple[list[dict[str, Any]], int]] = deque([(batch, 0)])
        while pending:
            records, attempt = pending.popleft()
            outcome = self._invoke_batch(shard_id, records)
            if outcome.ok:
                continue
            failed = records[outcome.retry_from :]
            if 0 <= self.mapping.max_retries <= attempt or self._too_old(failed):
                self._dead_letter(shard_id, failed, outcome, attempt + 1)
                continue
            if self._stop_event.wait(min(self._retry_delay * 2**attempt, self._max_retry_delay)):
                return False
            if self.mapping.bisect and len(failed) > 1:
                half = len(failed) // 2
                pending.appendleft((failed[half:], attempt + 1))
                pending.appendleft((failed[:half], attempt + 1))
            else:
                pending.appendleft((failed, attempt + 1))
        return True

    def _too_old(self, records: list[dict[str, Any]]) -> bool:
        """Lambda stops retrying once the oldest record is older than MaximumRecordAgeInSeconds."""
        if self.mapping.max_record_age < 0:
            return False
        created = [r["dynamodb"].get("ApproximateCreationDateTime") for r in records]
        oldest = min((c for c in created if isinstance(c, int | float)), default=None)
        return oldest is not None and time.time() - oldest > self.mapping.max_record_age

    def _invoke_batch(self, shard_id: str, records: list[dict[str, Any]]) -> BatchOutcome:
        self.invocations += 1
        window = self.mapping.tumbling_window
        try:
            response = self._invoke(
                stream_event(records, shard_id=shard_id, stream_arn=self.stream_arn or "", window_s=window)
            )
        except Exception as exc:
            STREAM_LOG.warning(
                "%s failed on a batch of %d record(s): %r",
                self.mapping.function,
                len(records),
                exc,
                exc_info=True,
            )
            self._errors.record(self.mapping.function, "stream", exc)
            sequence = frozenset(str(r["dynamodb"]["SequenceNumber"]) for r in records)
            return BatchOutcome(0, sequence, function_error=True)
        return batch_outcome(
            records, response, report_failures=self.mapping.report_batch_item_failures, windowed=window > 0
        )

    def _dead_letter(
        self, shard_id: str, span: list[dict[str, Any]], outcome: BatchOutcome, invokes: int
    ) -> None:
        """Give up on ``span`` like Lambda's on-failure destination: a message naming the shard
        and sequence range (Lambda's format) plus, locally, the failed records themselves."""
        failed = [r for r in span if str(r["dynamodb"]["SequenceNumber"]) in outcome.failed] or span
        self.dead_lettered += len(failed)
        STREAM_LOG.error(
            "%s: %d record(s) failed %d time(s); sent to the DLQ and skipped",
            self.mapping.function,
            len(failed),
            invokes,
        )
        if self._dlq_url is None:
            return
        arrivals = [r["dynamodb"].get("ApproximateCreationDateTime") for r in span]
        message = {
            "requestContext": {
                "requestId": str(uuid.uuid4()),
                "functionArn": self.function_arn,
                "condition": "RetryAttemptsExhausted",
                "approximateInvokeCount": invokes,
            },
            "responseContext": {
                "statusCode": 200,
                "executedVersion": "$LATEST",
                "functionError": "Unhandled" if outcome.function_error else "",
            },
            "version": "1.0",
            "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "DDBStreamBatchInfo": {
                "shardId": shard_id,
                "startSequenceNumber": span[0]["dynamodb"]["SequenceNumber"],
                "endSequenceNumber": span[-1]["dynamodb"]["SequenceNumber"],
                "approximateArrivalOfFirstRecord": _iso(arrivals[0]),
                "approximateArrivalOfLastRecord": _iso(arrivals[-1]),
                "batchSize": len(span),
                "streamArn": self.stream_arn,
            },
            "Records": failed,
        }
        try:
            self._clients.sqs.send_message(QueueUrl=self._dlq_url, MessageBody=json.dumps(message))
        except Exception:
            STREAM_LOG.exception("%s: could not write to the DLQ", self.mapping.function)


def _iso(epoch: Any) -> str | None:
    if not isinstance(epoch, int | float):
        return None
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# --- the local subscriber ------------------------------------------------------------------------


@dataclass(frozen=True)
class FanoutMessage:
    topic: str
    attributes: dict[str, str]
    body: Any


class LocalSubscriber(threading.Thread):
    """Shows what SNS fans out: reads each topic's subscriber queue and logs every message."""

    def __init__(
        self, sqs: SQSClient, queue_urls: Mapping[str, str], sink: deque[FanoutMessage], interval: float = 0.3
    ) -> None:
        super().__init__(name="local-subscriber", daemon=True)
        self._sqs = sqs
        self._queues = dict(queue_urls)
        self._sink = sink
        self._interval = interval
        self._stop_event = threading.Event()

    def stop(self) -> None:
        self._stop_event.set()

    def run(self) -> None:
        while not self._stop_event.is_set():
            for topic, url in self._queues.items():
                try:
                    self._drain(topic, url)
                except Exception as exc:  # a reset moto, a stopping server: keep going
                    SUBSCRIBER_LOG.debug("reading %s failed: %r", topic, exc)
            self._stop_event.wait(self._interval)

    def _drain(self, topic: str, url: str) -> None:
        messages = self._sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get(
            "Messages", []
        )
        for message in messages:
            note = describe_fanout(topic, message["Body"])
            self._sink.append(note)
            SUBSCRIBER_LOG.info("%s", format_fanout(note))
        if messages:
            self._sqs.delete_message_batch(
                QueueUrl=url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)],
            )


def describe_fanout(topic: str, sqs_body: str) -> FanoutMessage:
    """An SQS message from an SNS subscription (the SNS envelope) -> topic, attributes, body."""
    try:
        envelope = json.loads(sqs_body)
    except ValueError:
        return FanoutMessage(topic, {}, sqs_body)
    attributes = {
        name: str(value.get("Value")) for name, value in (envelope.get("MessageAttributes") or {}).items()
    }
    message = envelope.get("Message")
    try:
        body = json.loads(message) if isinstance(message, str) else message
    except ValueError:
        body = message
    return FanoutMessage(topic, attributes, body)


def format_fanout(note: FanoutMessage) -> str:
    attributes = dict(note.attributes)
    parts = [f"fan-out {note.topic}: cmd={attributes.pop('cmd', '?')}"]
    parts += [f"{name}={value}" for name, value in sorted(attributes.items())]
    if isinstance(note.body, Mapping):
        parts.append(f"| body cmd={note.body.get('cmd')} event_key={note.body.get('event_key')}")
    return " ".join(parts)


# --- the stack -----------------------------------------------------------------------------------


def default_tokens() -> tuple[tuple[str, ...], bool]:
    """Tokens from ``$ACD_CALLBACK_TOKENS`` (comma-separated), else one generated token.
    The flag says whether it was generated."""
    configured = [part.strip() for part in os.environ.get(TOKENS_ENV, "").split(",") if part.strip()]
    if configured:
        return tuple(configured), False
    return ("local-" + secrets.token_urlsafe(12),), True


def _ensure_port_free(port: int) -> None:
    # ThreadedMotoServer.start() waits forever if its thread cannot bind: find out first.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((HOST, port))
        except OSError as exc:
            raise OSError(exc.errno, f"{HOST}:{port} is in use ({exc.strerror})") from None


SYNC_INTERVAL = local_state.SYNC_INTERVAL  # seconds between fsyncs of the data folder's journal
COMPACT_CHECK_INTERVAL = 10.0  # seconds between looks at whether the journal wants compacting
STOP_GRACE = 2.0  # seconds a stream consumer may take to finish its batch when stopping
STATUS_INTERVAL = 5.0  # seconds between stream lag lines while a consumer is behind
# A stream consumer that dies is started again from its last checkpoint, at most this many times
# in RESTART_WINDOW seconds; beyond that (it dies at once, again and again) the stack stops.
MAX_RESTARTS = 3
RESTART_WINDOW = 60.0
# Stream consumers yield the CPU to the endpoint and moto (a Lambda's aggregation is background
# work; the ACD waits on the ingest only).
CONSUMER_NICE = 5
# Containers per HTTP function: callbacks answered side by side (tests that read one container's
# module state ask for 1).
HTTP_CONCURRENCY = 4


def _in_parallel(calls: Iterable[Callable[[], Any]]) -> None:
    threads = [threading.Thread(target=call) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


@dataclass
class _Consumer:
    """A stream consumer's process, and what the parent last heard from it."""

    mapping: StreamMapping
    worker: Any  # local_worker.Worker
    checkpoints: dict[str, str]
    carried_left: int  # records carried from an earlier run still to handle
    lag: StreamLag = field(default_factory=lambda: StreamLag(0, None))
    invocations: int = 0
    dead_lettered: int = 0
    # What it was started with, to start it again should its process die.
    config: dict[str, Any] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    restarts: list[float] = field(default_factory=list)  # time.monotonic() of each
    problem: str | None = None  # why it is not running, while it is not

    def describe(self) -> str:
        return f"{self.mapping.function} {self.problem or self.lag.describe()}"


class LocalHub:
    """The whole stack on this machine. ``port``/``aws_port`` 0 pick free ports (see
    :attr:`port` and :attr:`aws_port` after :meth:`start`).

    Processes: this one serves the callback endpoint and runs the HTTP functions (the ingest) —
    their module state stays reachable through :attr:`handlers`; moto runs in a process of its
    own, and so does each stream consumer (one per event source mapping, like a Lambda
    container: see :mod:`acd_local.worker`), so a busy aggregator cannot slow the endpoint
    down through the GIL.

    ``tokens`` None: from ``$ACD_CALLBACK_TOKENS`` or generated. ``spec`` replaces the template
    (tests use stand-ins). ``local_subscriber`` False leaves the subscriber queues to the caller.
    ``data_dir``: keep the tables and stream positions there across a stop and start (see
    :mod:`acd_local.state`; the journal is synced to disk every ``sync_interval`` seconds);
    None: ephemeral, everything is gone at stop.
    """

    def __init__(
        self,
        port: int = 3000,
        aws_port: int = 5000,
        tokens: Sequence[str] | None = None,
        template_path: str | os.PathLike[str] | None = None,
        *,
        spec: StackSpec | None = None,
        local_subscriber: bool = True,
        poll_interval: float = 0.25,
        retry_delay: float = 0.2,
        max_retry_delay: float = 2.0,
        data_dir: str | os.PathLike[str] | None = None,
        sync_interval: float = SYNC_INTERVAL,
        status_interval: float | None = None,
        stop_grace: float = STOP_GRACE,
        consumer_nice: int = CONSUMER_NICE,
        http_concurrency: int = HTTP_CONCURRENCY,
    ) -> None:
        # Where the tokens came from, for the banner: "argument", "environment" or "generated".
        self.tokens_source = "argument"
        if tokens is None:
            tokens, generated = default_tokens()
            self.tokens_source = "generated" if generated else "environment"
        self.tokens = tuple(tokens)
        if not self.tokens or any(not t or "," in t or "/" in t or t != t.strip() for t in self.tokens):
            raise ValueError("tokens must be non-empty, without commas, slashes or surrounding blanks")
        self.host = HOST
        self.region = REGION
        self.port = port
        self.aws_port = aws_port
        self._template_path = template_path
        self.spec = spec
        self._local_subscriber = local_subscriber
        self._poll_interval = poll_interval
        self._retry_delay = retry_delay
        self._max_retry_delay = max_retry_delay
        self.data_dir = Path(data_dir).resolve() if data_dir is not None else None
        self.sync_interval = sync_interval
        self._status_interval = status_interval
        self._stop_grace = stop_grace
        self._consumer_nice = consumer_nice
        self._http_concurrency = max(1, http_concurrency)

        self.resources: ProvisionedResources | None = None
        self.environment: dict[str, str] = {}
        self.handlers: dict[str, Handler] = {}
        self.invokers: dict[str, InvokerPool] = {}
        self.fanout_messages: deque[FanoutMessage] = deque(maxlen=1000)
        # What the start restored from the data folder (counts), None if nothing.
        self.restored: dict[str, Any] | None = None
        # What the data folder held when the stack stopped (items, journal bytes), None if none.
        self.last_saved: dict[str, Any] | None = None
        self._errors = ErrorLog()
        self._moto: Any = None  # local_worker.Worker
        self._keeper: Any = None
        self._consumers: dict[str, _Consumer] = {}
        self._httpd: ApiServer | None = None
        self._subscriber: LocalSubscriber | None = None
        self._housekeeping: threading.Thread | None = None
        self._stopping = threading.Event()
        # Set when a child died beyond repair (see _supervise): why, for the owner to stop on.
        self.failure: str | None = None
        self.failed = threading.Event()
        self._compaction: Any = None  # the keeper's compaction under way (a Future)
        self._lock_file: Any = None
        self._original_env: dict[str, str] = {}
        self._saved_env: dict[str, str | None] = {}
        self._state = "new"

    # -- what callers read --

    @property
    def persistent(self) -> bool:
        return self.data_dir is not None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def callback_url(self) -> str:
        return f"{self.base_url}/callback/{self.tokens[0]}"

    @property
    def aws_endpoint(self) -> str:
        return f"http://{self.host}:{self.aws_port}"

    @property
    def table_names(self) -> dict[str, str]:
        return dict(self.resources.table_names) if self.resources else {}

    @property
    def topic_arns(self) -> dict[str, str]:
        return dict(self.resources.topic_arns) if self.resources else {}

    @property
    def subscriber_queue_urls(self) -> dict[str, str]:
        return dict(self.resources.subscriber_queue_urls) if self.resources else {}

    @property
    def dlq_urls(self) -> dict[str, str]:
        return dict(self.resources.dlq_urls) if self.resources else {}

    @property
    def stream_arns(self) -> dict[str, str]:
        return dict(self.resources.stream_arns) if self.resources else {}

    @property
    def errors(self) -> list[InvocationError]:
        """Exceptions raised by handlers (HTTP: answered 500; stream: retried), of every
        process."""
        return list(self._errors.entries)

    def clients(self) -> AwsClients:
        return aws_clients(self.aws_endpoint, self.region)

    def stream_lag(self) -> dict[str, StreamLag]:
        """Per stream consumer: records not handled yet and the age of the oldest (as its
        process last said, at most half a second ago)."""
        return {name: consumer.lag for name, consumer in self._consumers.items()}

    def stream_status(self) -> str:
        return " | ".join(consumer.describe() for consumer in self._consumers.values()) or "-"

    # -- lifecycle --

    def __enter__(self) -> LocalHub:
        self.start()
        return self

    def __exit__(self, *_exc_info: object) -> None:
        self.stop()

    def start(self) -> LocalHub:
        if self._state != "new":
            raise RuntimeError("a LocalHub starts once")
        self._state = "starting"
        try:
            spec = self.spec = self.spec or StackSpec.load(self._template_path)
            if self.data_dir is not None:
                self._lock_data_dir(self.data_dir)
            # Bind first: a busy port fails before anything else has started.
            self._httpd = ApiServer((self.host, self.port))
            self.port = self._httpd.server_address[1]
            self._original_env = dict(os.environ)
            self._start_moto()
            self._set_env(
                {
                    "AWS_ENDPOINT_URL": self.aws_endpoint,
                    "AWS_DEFAULT_REGION": self.region,
                    "AWS_REGION": self.region,
                    "AWS_ACCESS_KEY_ID": DUMMY_CREDENTIAL,
                    "AWS_SECRET_ACCESS_KEY": DUMMY_CREDENTIAL,
                    "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
                },
                unset=_UNSET_AWS_ENV,
            )
            clients = self.clients()
            self.resources = provision(self.aws_endpoint, spec, region=self.region, clients=clients)
            positions = self._restore(spec) if self.data_dir is not None else {}
            environments = self._load_functions(spec, self.resources)
            self._start_consumers(spec, environments, positions)
            if self.data_dir is not None:
                self._start_keeper()
            if self._local_subscriber and self.resources.subscriber_queue_urls:
                self._subscriber = LocalSubscriber(
                    clients.sqs, self.resources.subscriber_queue_urls, self.fanout_messages
                )
                self._subscriber.start()
            self._httpd.gateway = Gateway(spec.routes, self.invokers, self._errors, self.port)
            self._httpd.start()
            self._housekeeping = threading.Thread(target=self._housekeep, name="housekeeping", daemon=True)
            self._housekeeping.start()
        except BaseException:
            self.stop()
            raise
        self._state = "running"
        return self

    def _lock_data_dir(self, data_dir: Path) -> None:
        import fcntl  # noqa: PLC0415 - POSIX only, like the rest of acd-local

        data_dir.mkdir(parents=True, exist_ok=True)
        self._lock_file = (data_dir / "lock").open("w")
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock_file.close()
            self._lock_file = None
            raise OSError(f"{data_dir} is in use by another acd-local") from None

    def _worker_env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """A worker's environment: the user's (without AWS profiles), the local AWS settings and
        ``extra`` (a function's own environment)."""
        env = {k: v for k, v in self._original_env.items() if k not in _UNSET_AWS_ENV}
        env.update(
            {
                "AWS_DEFAULT_REGION": self.region,
                "AWS_REGION": self.region,
                "AWS_ACCESS_KEY_ID": DUMMY_CREDENTIAL,
                "AWS_SECRET_ACCESS_KEY": DUMMY_CREDENTIAL,
                "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
                "PYTHONUNBUFFERED": "1",  # its log lines reach us as they are written
            }
        )
        if self.aws_port:
            env["AWS_ENDPOINT_URL"] = self.aws_endpoint
        env.update(extra or {})
        return env

    def _worker_config(self, role: str, **config: Any) -> dict[str, Any]:
        return {"role": role, "sys_path": [p for p in sys.path if p], "region": self.region, **config}

    def _start_moto(self) -> None:
        from acd_local.worker import Worker  # noqa: PLC0415

        if self.aws_port:
            _ensure_port_free(self.aws_port)
        self._moto = Worker(
            "moto",
            self._worker_config("moto", host=self.host, port=self.aws_port, account_id=ACCOUNT_ID),
            self._worker_env(),
            log_name="acd_local.moto",
        )
        self.aws_port = int(self._moto.wait_ready(60))

    def _start_keeper(self) -> None:
        from acd_local.worker import Worker  # noqa: PLC0415

        assert self.data_dir is not None
        self._keeper = Worker(
            "keeper",
            self._worker_config("keeper", data_dir=str(self.data_dir)),
            self._worker_env(),
            log_name="acd_local.keeper",
        )
        self._keeper.wait_ready(60)

    def _restore(self, spec: StackSpec) -> dict[str, tuple[dict[str, str], list[dict[str, Any]]]]:
        """Load the data folder into the fresh tables (in moto's process, which journals every
        write from then on). Returns, per stream consumer, where it starts (the new stream's
        beginning) and the records it has still to handle."""
        assert self.data_dir is not None
        consumers = {m.function: m.table for m in spec.stream_mappings}
        loaded = self._moto.call("restore", str(self.data_dir), consumers, self.sync_interval, timeout=600)
        carried: dict[str, list[dict[str, Any]]] = loaded["carried"]
        if loaded["found"]:
            self.restored = {
                "items": loaded["items"],
                "carried": {name: len(records) for name, records in carried.items()},
                "taken_at": loaded["taken_at"],
                "seconds": loaded["seconds"],
                "bytes": loaded["bytes"],
            }
        return {name: ({}, carried.get(name, [])) for name in consumers}

    def _load_functions(self, spec: StackSpec, resources: ProvisionedResources) -> dict[str, dict[str, str]]:
        """Import the HTTP functions here (the stream consumers import theirs in their own
        process); returns every function's environment."""
        local = {**_LOCAL_FUNCTION_ENV, TOKENS_ENV: ",".join(self.tokens)}
        environments = {fid: {**env, **local} for fid, env in function_environments(spec, resources).items()}
        # A new stack is a new container for every function: no client cached by an earlier one.
        clear_function_caches(spec.layer_packages)
        for function in dict.fromkeys(
            [r.function for r in spec.routes] + [m.function for m in spec.stream_mappings]
        ):
            if function not in spec.functions:
                raise ValueError(f"{function} has an HTTP or stream event but is not a runnable function")
        imported_under: set[str] = set()
        for function in dict.fromkeys(r.function for r in spec.routes):
            fn = spec.functions[function]
            # Settings are read at import (cold start): import under this function's own
            # environment, without what the previous function had on top.
            environment = environments.get(function, local)
            self._set_env(environment, unset=sorted(imported_under - set(environment)))
            imported_under = set(environment)
            containers = [
                FunctionInvoker(fn, load_handler(fn.code_uri, fn.handler), threading.Lock(), self.region)
                for _ in range(self._http_concurrency)
            ]
            self.handlers[function] = containers[0].handler
            self.invokers[function] = InvokerPool(containers)
        self.environment = merged_environment(environments) if environments else dict(local)
        self._set_env(self.environment)
        return {fid: environments.get(fid, local) for fid in spec.functions}

    def _start_consumers(
        self,
        spec: StackSpec,
        environments: Mapping[str, Mapping[str, str]],
        positions: Mapping[str, tuple[dict[str, str], list[dict[str, Any]]]],
    ) -> None:
        from acd_local.worker import Worker  # noqa: PLC0415

        assert self.resources is not None
        for mapping in spec.stream_mappings:
            checkpoints, carried = positions.get(mapping.function, ({}, []))
            name = mapping.function
            config = self._worker_config(
                "consumer",
                function=spec.functions[name],
                mapping=mapping,
                endpoint_url=self.aws_endpoint,
                stream_arn=self.resources.stream_arns.get(mapping.table),
                dlq_url=self.resources.dlq_urls.get(name),
                poll_interval=self._poll_interval,
                retry_delay=self._retry_delay,
                max_retry_delay=self._max_retry_delay,
                checkpoints=checkpoints,
                carried=carried,
                nice=self._consumer_nice,
            )
            env = self._worker_env(environments.get(name, {}))
            worker = Worker(name, config, env, on_push=functools.partial(self._on_consumer_push, name))
            self._consumers[name] = _Consumer(
                mapping, worker, dict(checkpoints), len(carried), config=config, env=env
            )
        for consumer in self._consumers.values():
            consumer.worker.wait_ready(120)

    def _restart_consumer(self, consumer: _Consumer) -> None:
        """Start a consumer whose process died again, from its last checkpoint (what it had not
        checkpointed is handled twice: the consumers are idempotent)."""
        from acd_local.worker import Worker, WorkerError  # noqa: PLC0415

        name = consumer.mapping.function
        carried = list(consumer.config.get("carried") or [])
        config = {
            **consumer.config,
            "checkpoints": dict(consumer.checkpoints),
            "carried": carried[len(carried) - consumer.carried_left :] if consumer.carried_left else [],
        }
        worker = Worker(name, config, consumer.env, on_push=functools.partial(self._on_consumer_push, name))
        try:
            worker.wait_ready(120)
        except WorkerError:
            worker.stop(0)
            raise
        consumer.worker, consumer.config = worker, config

    def _supervise(self) -> None:
        """A child that died (killed, out of memory) must not go unnoticed: a consumer is started
        again; moto cannot be (its tables live in its memory), so the stack fails loudly."""
        if self._stopping.is_set() or self.failure is not None:
            return
        if self._moto is not None and not self._moto.alive:
            self._fail(
                f"moto (the AWS endpoint {self.aws_endpoint}) died (exit code {self._moto.process.returncode}): "
                "no callback can be stored; acd-local stops. "
                + (f"Every write so far is kept in {self.data_dir}: start it again." if self.data_dir else "")
            )
            return
        for consumer in self._consumers.values():
            if consumer.worker.alive or self._stopping.is_set():
                continue
            now = time.monotonic()
            consumer.restarts = [t for t in consumer.restarts if now - t < RESTART_WINDOW]
            code = consumer.worker.process.returncode
            if len(consumer.restarts) >= MAX_RESTARTS:
                self._fail(
                    f"stream consumer {consumer.mapping.function} died {len(consumer.restarts) + 1} times "
                    f"within {RESTART_WINDOW:.0f} s (last exit code {code}); acd-local stops"
                )
                return
            consumer.problem = f"DIED (exit code {code}): restarting"
            STREAM_LOG.error(
                "stream consumer %s died (exit code %s): starting it again", consumer.mapping.function, code
            )
            consumer.restarts.append(now)
            try:
                self._restart_consumer(consumer)
            except Exception as exc:
                self._fail(
                    f"stream consumer {consumer.mapping.function} died and could not be started again: {exc}"
                )
                return
            consumer.problem = None
            STREAM_LOG.info(
                "stream consumer %s running again (restart %d)",
                consumer.mapping.function,
                len(consumer.restarts),
            )

    def _fail(self, reason: str) -> None:
        LOG.error("%s", reason)
        self.failure = reason
        if self._httpd is not None:
            self._httpd.gateway = None  # every callback a 503 until the owner stops the stack
        self.failed.set()

    def _on_consumer_push(self, name: str, kind: str, payload: Any) -> None:
        consumer = self._consumers.get(name)
        if consumer is None:
            return
        if kind == "progress":
            checkpoints, carried_left = payload
            consumer.checkpoints, consumer.carried_left = dict(checkpoints), carried_left
            if self.data_dir is not None and self._moto is not None:
                # Into moto's journal, after the lines of the writes this batch made.
                self._moto.notify("checkpoint", name, consumer.checkpoints, carried_left)
        elif kind == "lag":
            consumer.lag, consumer.invocations, consumer.dead_lettered = payload
        elif kind == "error":
            with self._errors._lock:
                self._errors.entries.append(payload)

    def _housekeep(self) -> None:
        """The data folder's journal compacted by the keeper now and then (when it has grown);
        a stream lag line every ``status_interval`` seconds while a consumer is behind."""
        next_compaction = time.monotonic() + COMPACT_CHECK_INTERVAL
        next_status = time.monotonic() + (self._status_interval or 0)
        was_behind = False
        while not self._stopping.wait(0.25):
            self._supervise()
            now = time.monotonic()
            if self._keeper is not None and now >= next_compaction:
                if self._compaction is None or self._compaction.done():
                    self._compaction = self._keeper.call_async("compact", local_state.COMPACT_MIN_BYTES)
                    self._compaction.add_done_callback(self._compacted)
                next_compaction = now + COMPACT_CHECK_INTERVAL
            if self._status_interval and now >= next_status:
                behind = any(c.lag.records_behind or c.problem for c in self._consumers.values())
                if behind or was_behind:
                    STREAM_LOG.info("stream lag: %s", self.stream_status())
                was_behind = behind
                next_status = now + self._status_interval

    def _compacted(self, done: Any) -> None:
        try:
            summary = done.result()
        except Exception as exc:
            if not self._stopping.is_set():
                LOG.warning("compacting the data folder failed (its journal is kept whole): %s", exc)
            return
        if summary:
            LOG.info(
                "data folder compacted: %s items, %.1f MB of journal folded in %.1f s",
                f"{summary['items']:,}",
                summary["journal_bytes"] / 1e6,
                summary["seconds"],
            )

    def snapshot(self) -> dict[str, Any] | None:
        """Compact the data folder now: the journal so far folded into a new base (the keeper
        does it now and then anyway). Returns what the base holds and how long it took; None if
        the stack keeps nothing."""
        if self._keeper is None or self._moto is None:
            return None
        started = time.monotonic()
        self._moto.call("rotate")
        summary: dict[str, Any] | None = self._keeper.call("compact", 0, timeout=600)
        if summary is not None:
            summary["total_seconds"] = time.monotonic() - started
        return summary

    def stop(self) -> None:
        """Stop everything that started, in order: the endpoint (no new callbacks), the stream
        consumers (each finishes its batch if it can within ``stop_grace``), their last positions
        into the journal and the journal synced, then the rest. Safe to call more than once."""
        if self._state in ("new", "stopped"):
            self._state = "stopped"
            return
        self._state = "stopping"
        self._stopping.set()
        if self._httpd is not None:
            # Requests in flight get a moment; their answers no longer matter to anyone.
            self._httpd.stop(timeout=min(1.0, self._stop_grace))
        if self._housekeeping is not None:
            self._housekeeping.join(timeout=10)
        answers = [
            (c, c.worker.request_stop(self._stop_grace)) for c in self._consumers.values() if c.worker.alive
        ]
        keeping = self.data_dir is not None and self._moto is not None and self._moto.alive
        for consumer, answer in answers:
            with contextlib.suppress(Exception):
                checkpoints, carried_left = answer.result(self._stop_grace + 2)
                consumer.checkpoints, consumer.carried_left = dict(checkpoints), carried_left
                if keeping:
                    self._moto.notify(
                        "checkpoint", consumer.mapping.function, consumer.checkpoints, carried_left
                    )
        _in_parallel(functools.partial(c.worker.stop, 0.5) for c in self._consumers.values())
        if keeping:
            try:
                self.last_saved = self._moto.call("close", timeout=30)
            except Exception:
                LOG.exception("closing the data folder's journal failed (what it holds so far is kept)")
        if self._subscriber is not None:
            self._subscriber.stop()
            self._subscriber.join(timeout=5)
        # Neither holds anything worth a goodbye any more: SIGTERM, at once.
        _in_parallel(functools.partial(w.stop, 0.0) for w in (self._keeper, self._moto) if w is not None)
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None
        if self.spec is not None:
            clear_function_caches(self.spec.layer_packages)
        self._restore_env()
        self._state = "stopped"

    def _set_env(self, values: Mapping[str, str], unset: Sequence[str] = ()) -> None:
        for name in [*values, *unset]:
            self._saved_env.setdefault(name, os.environ.get(name))
        for name in unset:
            os.environ.pop(name, None)
        os.environ.update(values)

    def _restore_env(self) -> None:
        for name, value in self._saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_env.clear()

    # -- helpers for tests and tools --

    def wait_for_stream_idle(self, timeout: float = 10.0) -> None:
        """Return once every stream consumer has handled every record written so far
        (raises ``TimeoutError`` otherwise)."""
        deadline = time.monotonic() + timeout
        targets = {}
        for name, consumer in self._consumers.items():
            targets[name] = (
                consumer.worker.call("idle_cycles", timeout=max(1.0, deadline - time.monotonic())) + 2
            )
        for name, target in targets.items():
            worker = self._consumers[name].worker
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not worker.alive:
                    raise TimeoutError(f"{name} still busy after {timeout}s")
                if worker.call("idle_cycles", timeout=max(1.0, remaining)) >= target:
                    break
                time.sleep(min(0.05, remaining))

    def invoke(self, function: str, event: dict[str, Any]) -> Any:
        """Invoke an HTTP function directly (``sam local invoke``, in this process)."""
        return self.invokers[function](event)

    def in_consumer(self, function: str, call: Callable[..., Any], *args: Any, timeout: float = 30.0) -> Any:
        """Run ``call(handler, *args)`` inside a stream consumer's process (its container), e.g.
        to point its SNS client elsewhere. ``call`` must be importable by name (a module-level
        function) and its result picklable."""
        return self._consumers[function].worker.call("call", call, *args, timeout=timeout)

    def pause_consumers(self, timeout: float = 10.0) -> None:
        """Hold every stream consumer between batches (for tests: records then wait)."""
        for consumer in self._consumers.values():
            ok, _, _ = consumer.worker.call("pause", timeout, timeout=timeout + 5)
            if not ok:
                raise TimeoutError(f"{consumer.mapping.function} did not pause within {timeout}s")

    def resume_consumers(self) -> None:
        for consumer in self._consumers.values():
            consumer.worker.notify("resume")


# --- the command ---------------------------------------------------------------------------------


def _configure_logging() -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)-20s %(message)s", "%H:%M:%S"))
    LOG.addHandler(handler)
    LOG.setLevel(logging.INFO)
    LOG.propagate = False
    logging.getLogger("werkzeug").setLevel(logging.ERROR)


def default_data_dir(template_path: str | os.PathLike[str] | None = None) -> Path:
    """``.acd-local/`` beside the template (the repository's root)."""
    from acd_devkit import template as tpl  # noqa: PLC0415

    try:
        return tpl.find_template(template_path).resolve().parent / ".acd-local"
    except FileNotFoundError:
        return Path.cwd() / ".acd-local"


def _data_line(stack: LocalHub) -> list[str]:
    if stack.data_dir is None:
        return ["  data           ephemeral (--ephemeral): tables and queues are gone when it stops"]
    lines = [
        f"  data           kept in {stack.data_dir}",
        "                 (every write journaled as moto makes it, synced to disk every "
        f"{stack.sync_interval:g} s: a crash of acd-local",
        f"                 loses none, a power loss the last {stack.sync_interval:g} s at most; --ephemeral for a throwaway run)",
    ]
    if stack.restored:
        items = ", ".join(f"{count:,} in {table}" for table, count in stack.restored["items"].items())
        carried = sum(stack.restored["carried"].values())
        lines.append(
            f"  restored       {items or 'nothing'} from {stack.restored['taken_at']}"
            + (f"; {carried:,} stream record(s) still to handle" if carried else "")
        )
    return lines


# The README's quick start after `make run`, printed by the banner as it is: the commands find the
# ports and the token through `acd-local env` (the running stack's file, acd_local.running), so
# one text works on any port. Agent 100000: acd-sim numbers its agents from 100001, so the first
# callback does not touch the simulated day's ground truth. Days default to today in the report
# time zone: no `date +%F` (a UTC date, the wrong day after midnight in Berlin).
QUICK_START: tuple[tuple[str, str], ...] = (
    ('eval "$(.venv/bin/acd-local env)"', "sets TOKEN, ACD_CALLBACK_URL, AWS_ENDPOINT_URL"),
    (
        'curl -i "$ACD_CALLBACK_URL/$TOKEN?cmd=agentstate&agentid=100000&mode=0&state=online'
        '&eventtime=$(date +%s000)"',
        "",
    ),
    (".venv/bin/acd-report events --agent 100000", "today's, in the report time zone"),
    ('.venv/bin/acd-sim --token "$TOKEN" --expect-out .acd-local/expected.json', "a day of calls"),
    (".venv/bin/acd-report hotlines", "today's hotlines and agents:"),
    (".venv/bin/acd-report agents", "what to pass to kpis, agent-day, ..."),
    (".venv/bin/acd-report kpis --hotline 501", ""),
    (".venv/bin/acd-report freshness", "how far behind the consumers are"),
    (".venv/bin/acd-report serve", "the wallboard: open the address it prints"),
)


COMMENT_COLUMN = 44


def quick_start_lines() -> list[str]:
    """The quick start's commands, short comments aligned as the README shows them."""
    return [
        f"{command:<{COMMENT_COLUMN}} # {comment}" if comment else command for command, comment in QUICK_START
    ]


def _banner(stack: LocalHub) -> str:
    spec = stack.spec
    assert spec is not None
    # A token the user chose is a secret: never printed (a generated one is ours to show).
    if stack.tokens_source == "generated":
        token_line = f"{stack.tokens[0]}  (generated; set {TOKENS_ENV}=tok1,tok2 to choose)"
        export, mine = f"  export TOKEN={stack.tokens[0]}", ""
    else:
        # not even a few characters: they narrow a guess, and a banner gets pasted into tickets
        token_line = f"(from {TOKENS_ENV}; not shown)"
        if len(stack.tokens) > 1:
            token_line += f" +{len(stack.tokens) - 1} more"
        export, mine = "  export TOKEN=...", f"   # TOKEN: one of your {TOKENS_ENV}"
    url = f"{stack.base_url}/callback/$TOKEN"
    consumers = ", ".join(f"{m.function} <- {m.table}" for m in spec.stream_mappings) or "-"
    aws = stack.aws_endpoint
    by_hand = f"ACD_CALLBACK_URL={stack.base_url}/callback AWS_ENDPOINT_URL={aws}"
    lines = [
        "",
        "acd-local: the callback hub on this machine (moto server, no AWS account)",
        "",
        f"  callback URL   {url}",
        f"  token          {token_line}",
        f"  AWS endpoint   {aws}  (region {stack.region}, credentials 'testing')",
        f"  tables         {', '.join(stack.table_names) or '-'}",
        f"  topics         {', '.join(stack.topic_arns) or '-'}  (the local subscriber prints fan-out)",
        f"  stream         {consumers}  (a lag line every few seconds while behind)",
        *_data_line(stack),
        "",
        "Quick start, in another shell in this directory (the README's first commands; they find",
        "this stack's ports and token themselves):",
        *(f"  {line}" for line in quick_start_lines()),
        "",
        "Or set the variables by hand:",
        f"{export} {by_hand}{mine}",
        "",
        "Ctrl-C (or SIGTERM) stops everything.",
        "",
    ]
    return "\n".join(lines)


@click.group(invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--port", type=click.IntRange(0, 65535), default=3000, show_default=True, help="Callback endpoint port."
)
@click.option(
    "--aws-port",
    type=click.IntRange(0, 65535),
    default=5000,
    show_default=True,
    help="Port of the moto server.",
)
@click.option(
    "--host",
    type=click.Choice([HOST]),
    default=HOST,
    show_default=True,
    help="Listen address; loopback only, the local stack has no protection of its own.",
)
@click.option(
    "--template",
    "template_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="SAM template to read (default: template.yaml of the repository).",
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where tables and stream positions are kept across a restart (default: .acd-local/ in the repository).",
)
@click.option(
    "--ephemeral",
    is_flag=True,
    help="Keep nothing: every start begins empty (the data folder is not touched).",
)
@click.option(
    "--sync-interval",
    "--snapshot-interval",
    "sync_interval",
    type=click.FloatRange(0.1),
    default=SYNC_INTERVAL,
    show_default=True,
    help="Seconds between syncs of the data folder's journal to disk (what a power loss may lose; "
    "a crash of acd-local loses no write).",
)
@click.pass_context
def main(  # noqa: PLR0917 - click passes every option by keyword-capable position
    ctx: click.Context,
    port: int,
    aws_port: int,
    host: str,
    template_path: Path | None,
    data_dir: Path | None,
    ephemeral: bool,
    sync_interval: float,
) -> None:
    """Run the ACD callback hub locally: moto, the callback endpoint, the stream consumers and a
    subscriber printing the SNS fan-out. Keeps its data in a folder unless --ephemeral.

    `acd-local env` (in another shell) prints the running stack's TOKEN, ACD_CALLBACK_URL and
    AWS_ENDPOINT_URL as shell exports: eval "$(.venv/bin/acd-local env)"."""
    del host  # fixed: the option exists to say so
    if ctx.invoked_subcommand is not None:
        return
    from acd_local.worker import WorkerError  # noqa: PLC0415 - keep `--help` fast

    if ephemeral and data_dir is not None:
        raise click.UsageError("--ephemeral and --data-dir exclude each other")
    _configure_logging()
    stop = threading.Event()

    def request_stop(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    stack = LocalHub(
        port,
        aws_port,
        template_path=template_path,
        data_dir=None if ephemeral else (data_dir or default_data_dir(template_path)),
        sync_interval=sync_interval,
        status_interval=STATUS_INTERVAL,
    )
    try:
        try:
            stack.start()
        except (FileNotFoundError, ValueError, WorkerError) as exc:
            # no template, one we cannot run, or a data folder that cannot be loaded
            raise click.ClickException(f"cannot start: {exc}") from exc
        except OSError as exc:  # a port (or the data folder) in use
            raise click.ClickException(f"cannot start: {exc} (try --port/--aws-port/--data-dir)") from exc
        click.echo(_banner(stack))
        _announce(stack)
        while not stop.wait(0.5) and not stack.failed.is_set():
            pass
        click.echo("stopping ...")
    finally:
        running.remove(os.getpid())
        stack.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if stack.last_saved:
        click.echo(f"stopped; data kept in {stack.data_dir} ({stack.last_saved['items']:,} items).")
    else:
        click.echo("stopped.")
    if stack.failure:
        raise click.ClickException(stack.failure)


def _announce(stack: LocalHub) -> None:
    """Say where this stack listens, for `acd-local env` and `acd-sim` in another shell."""
    try:
        running.write(
            running.RunningStack(
                pid=os.getpid(),
                callback_url=f"{stack.base_url}/callback",
                aws_endpoint=stack.aws_endpoint,
                region=stack.region,
                token=stack.tokens[0] if stack.tokens_source == "generated" else None,
            )
        )
    except OSError as exc:  # a read-only checkout: the banner's commands by hand still work
        LOG.warning(
            "could not write %s (%s): acd-local env will not find this stack", running.run_file(), exc
        )


@main.command("env")
def env_command() -> None:
    """Print the running stack's TOKEN, ACD_CALLBACK_URL and AWS_ENDPOINT_URL as shell exports
    (eval "$(.venv/bin/acd-local env)"); exit 1 when no acd-local runs."""
    found = running.read()
    if found is None:
        raise click.ClickException(
            f"no running acd-local found ({running.run_file()}): start one with `make run`"
        )
    exports = {"ACD_CALLBACK_URL": found.callback_url, "AWS_ENDPOINT_URL": found.aws_endpoint}
    if found.token is not None:
        exports = {"TOKEN": found.token, **exports}
    for name, value in exports.items():
        click.echo(f"export {name}={shlex.quote(value)}")
    if found.token is None:
        click.echo(f"# TOKEN is one of your {TOKENS_ENV} (not shown): export TOKEN=...")


if __name__ == "__main__":
    # Run the imported module's main, not this __main__ copy's: objects pickled for the worker
    # processes must name their classes acd_local.stack.*, which the workers can import.
    from acd_local import stack as _self  # noqa: PLW0406 - the point

    _self.main()
