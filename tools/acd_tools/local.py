"""``acd-local``: the whole stack on one machine, with no AWS account and no Docker.

* a moto server (``ThreadedMotoServer``) holds the tables, streams and topics of
  ``template.yaml`` — read from it (:mod:`acd_tools.template`), so they cannot drift;
* the callback endpoint on ``http://127.0.0.1:3000``, which hands each request to the ingest
  handler exactly as API Gateway's HTTP API (payload format 2.0) would;
* one poller per stream event source mapping, feeding the stream consumers like Lambda does
  (filter criteria, batches, partial-batch failures, bisect, bounded retries, a DLQ);
* a local subscriber printing what the SNS topics fan out.

Everything runs in this process: :class:`LocalStack` is what ``acd-local`` starts and what the
end-to-end tests start on free ports.

moto keeps its state in process-wide globals, whichever server object serves it. A LocalStack
therefore owns that state while it runs: it resets it when it starts and when it stops.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import signal
import socket
import sys
import threading
import time
import traceback
import urllib.request
import uuid
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import unquote
from zoneinfo import ZoneInfo

import click

from acd_tools import moto_fixes
from acd_tools.lambda_runtime import (
    LOCAL_ACCOUNT_ID,
    LOCAL_REGION,
    BatchOutcome,
    FakeLambdaContext,
    Handler,
    HttpRequest,
    HttpResponse,
    Route,
    batch_outcome,
    batched,
    build_http_api_event,
    clear_function_caches,
    drop_phantom_inserts,
    http_api_error,
    http_api_response,
    lambda_stream_record,
    load_handler,
    masked_path,
    match_route,
    new_request_id,
    parse_filter_patterns,
    passes_filters,
)

if TYPE_CHECKING:
    from moto.server import ThreadedMotoServer
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
# SSM, and X-Ray / EMF output would only be noise on a terminal.
_LOCAL_FUNCTION_ENV = {
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
    report_batch_item_failures: bool = False
    batching_window: float = 0.0  # seconds to gather records before invoking (MaximumBatchingWindowInSeconds)


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
        from acd_tools import template as tpl  # noqa: PLC0415 - keep `--help` fast

        source = tpl.find_template(path)
        return cls.from_template(tpl.load_template(source), source.resolve().parent)

    @classmethod
    def from_template(cls, template: Mapping[str, Any], base_dir: Path) -> StackSpec:
        from acd_tools import template as tpl  # noqa: PLC0415

        globals_ = dict((template.get("Globals") or {}).get("Function") or {})
        functions: dict[str, FunctionSpec] = {}
        for logical_id, resource in tpl.resources_of_type(template, tpl.SERVERLESS_FUNCTION).items():
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
                report_batch_item_failures=m.get("report_batch_item_failures", True),
                batching_window=float(m.get("batching_window", 0)),
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
    for resource in (template.get("Resources") or {}).values():
        if not isinstance(resource, dict) or resource.get("Type") != "AWS::Serverless::LayerVersion":
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
    from acd_tools import template as tpl  # noqa: PLC0415

    return StackSpec.from_template(template, tpl.find_template().resolve().parent)


# --- environment ---------------------------------------------------------------------------------


def function_environments(
    spec: StackSpec, resources: ProvisionedResources, account_id: str = ACCOUNT_ID
) -> dict[str, dict[str, str]]:
    """Each function's environment as Lambda would set it, with Refs resolved against the local
    resources: tables -> name, topics -> local ARN, parameters -> their default."""
    from acd_tools import template as tpl  # noqa: PLC0415

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
    Each handler still imports under its own function's environment (see LocalStack), which
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
        # One invocation of a function at a time, like one container: a function's module state
        # (the resolver's current_event, Powertools Logger keys) is not made for concurrent
        # requests. Different functions run side by side, as on AWS — the ingest must not wait
        # for an aggregator's batch. (They share Powertools' per-service logger, so under load a
        # log line may carry another function's context keys; the data is unaffected.)
        with self._lock:
            return self.handler(event, context)


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
        self, routes: Sequence[Route], invokers: Mapping[str, FunctionInvoker], errors: ErrorLog, port: int
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


class _BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class ApiServer(ThreadingHTTPServer):
    daemon_threads = True
    # Idle keep-alive connections must not hold up a shutdown.
    block_on_close = False

    def __init__(self, address: tuple[str, int]) -> None:
        super().__init__(address, _ApiRequestHandler)
        self.gateway: Gateway | None = None

    def handle_error(self, request: Any, client_address: Any) -> None:  # noqa: ARG002 - stdlib signature
        # A client that hung up mid-answer is its business; the stdlib would print a traceback.
        if isinstance(sys.exception(), ConnectionError | TimeoutError):
            return
        LOG.exception("error serving %s", client_address[0])


class _ApiRequestHandler(BaseHTTPRequestHandler):
    """Any method on any path; the gateway decides (404 like API Gateway for unknown routes)."""

    protocol_version = "HTTP/1.1"  # keep-alive: a simulator can reuse its connection
    # Headers and body go out in two writes; with Nagle on, a keep-alive client waits ~40 ms
    # for the second one (delayed ACK).
    disable_nagle_algorithm = True
    server_version = "acd-local"
    timeout = 120  # an idle keep-alive connection ends eventually
    server: ApiServer

    def __getattr__(self, name: str) -> Any:
        # BaseHTTPRequestHandler dispatches to do_<METHOD>; every method is the gateway's call.
        if name.startswith("do_"):
            return self._serve
        raise AttributeError(name)

    def version_string(self) -> str:
        return self.server_version

    def _serve(self) -> None:
        started = time.perf_counter()
        gateway = self.server.gateway
        raw_path = self.path.split("?", 1)[0]
        try:
            if gateway is None:
                raise _BadRequest(503, "Service Unavailable")
            body = self._read_body()
        except _BadRequest as exc:
            self.close_connection = True
            response = http_api_error(exc.status, exc.message)
            log_path = gateway.log_path(raw_path) if gateway else masked_path(raw_path)
        else:
            request = HttpRequest(
                method=self.command,
                target=self.path,
                headers=list(self.headers.items()),
                body=body,
                source_ip=self.client_address[0],
                protocol=self.request_version,
            )
            try:
                response, log_path = gateway.handle(request)
            except Exception:  # a bug of this emulation, not of the function: still answer
                LOG.exception("the local gateway failed")
                response, log_path = http_api_error(500, "Internal Server Error"), gateway.log_path(raw_path)
        self._send(response, head=self.command == "HEAD")
        # The access log: never the query string (token, phone numbers), tokens in paths masked.
        ACCESS_LOG.info(
            "%s %s %s %d %.1fms",
            self.client_address[0],
            self.command,
            log_path,
            response.status,
            (time.perf_counter() - started) * 1000,
        )

    def _read_body(self) -> bytes:
        encoding = self.headers.get("Transfer-Encoding")
        if encoding is not None:
            if encoding.strip().lower() != "chunked":
                raise _BadRequest(400, "Bad Request")
            return self._read_chunked()
        length = self.headers.get("Content-Length")
        if length is None:
            return b""
        try:
            size = int(length)
        except ValueError:
            raise _BadRequest(400, "Bad Request") from None
        if size < 0:
            raise _BadRequest(400, "Bad Request")
        if size > MAX_REQUEST_BYTES:
            raise _BadRequest(413, "Request Entity Too Large")
        body = self.rfile.read(size)
        if len(body) != size:
            raise _BadRequest(400, "Bad Request")
        return body

    def _read_chunked(self) -> bytes:
        chunks: list[bytes] = []
        total = 0
        while True:
            line = self.rfile.readline(65537)
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise _BadRequest(400, "Bad Request") from None
            if size == 0:
                break
            total += size
            if total > MAX_REQUEST_BYTES:
                raise _BadRequest(413, "Request Entity Too Large")
            chunk = self.rfile.read(size)
            if len(chunk) != size or self.rfile.readline(3) not in (b"\r\n", b"\n"):
                raise _BadRequest(400, "Bad Request")
            chunks.append(chunk)
        while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
            pass  # trailers: nothing of ours
        return b"".join(chunks)

    def _send(self, response: HttpResponse, *, head: bool) -> None:
        self.send_response(response.status)
        for name, value in response.headers:
            self.send_header(name, value)
        # HEAD: the length the body would have, no body (RFC 9110 9.3.2).
        if response.status >= 200 and response.status not in (204, 304):
            self.send_header("Content-Length", str(len(response.body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if not head and response.body:
            self.wfile.write(response.body)

    # The stdlib logs the raw request line (path and query: token, phone numbers) on errors and
    # for every request; the access log line of _serve replaces both.
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass

    def log_error(self, format: str, *args: Any) -> None:  # noqa: ARG002 - the stdlib signature
        code = args[0] if args and isinstance(args[0], int) else "-"
        ACCESS_LOG.info("%s request rejected before routing (%s)", self.client_address[0], code)

    def log_message(self, format: str, *args: Any) -> None:
        pass


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


class StreamPoller(threading.Thread):
    """Feeds one stream consumer from its table's stream the way Lambda's event source mapping
    does: filter criteria, batches of at most ``batch_size``, ``eventSourceARN`` on each record,
    partial-batch failures (retry from the first failed record), bisect on error, at most
    ``max_retries`` retries, then the failed records to a DLQ queue and on.

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
        self._stop_event = threading.Event()
        self._wake_event = threading.Event()
        self._idle = threading.Condition()
        self._idle_cycles = 0
        self.stream_arn = stream_arn
        self._iterators: dict[str, str] = {}  # open shards being read
        self._checkpoints: dict[str, str] = {}  # shard -> last sequence number handled
        self._closed_shards: set[str] = set()
        self._last_problem: str | None = None
        self.invocations = 0
        self.dead_lettered = 0

    @property
    def function_arn(self) -> str:
        default = f"arn:aws:lambda:{self._region}:{ACCOUNT_ID}:function:{self.mapping.function}"
        return str(getattr(self._invoke, "arn", default))

    # -- control --

    def stop(self) -> None:
        self._stop_event.set()
        self._wake_event.set()

    def wait_idle(self, timeout: float) -> bool:
        """True once two full polling cycles that found nothing new have passed since the call
        (the second began after the call, so it saw every record written before it)."""
        deadline = time.monotonic() + timeout
        with self._idle:
            target = self._idle_cycles + 2
        while True:
            self._wake_event.set()
            with self._idle:
                if self._idle_cycles >= target:
                    return True
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not self.is_alive():
                    return False
                self._idle.wait(min(remaining, 0.05))

    # -- the loop --

    def run(self) -> None:
        next_discovery = 0.0
        while not self._stop_event.is_set():
            if time.monotonic() >= next_discovery:
                self._discover()
                next_discovery = time.monotonic() + self._discovery_interval
            delivered = False
            for shard_id in list(self._iterators):
                raw = self._gather(shard_id)
                if raw and not self._stop_event.is_set():
                    delivered = True
                    self._deliver(shard_id, raw)
            if not delivered:
                with self._idle:
                    self._idle_cycles += 1
                    self._idle.notify_all()
                if self._wake_event.wait(self._poll_interval):
                    self._wake_event.clear()

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
        """An iterator after the shard's checkpoint, so nothing is delivered twice; a shard never
        read starts at TRIM_HORIZON (the tables are created empty at start, so that is every
        record, and a new shard is read from its beginning)."""
        kwargs: dict[str, Any] = {"StreamArn": arn, "ShardId": shard_id}
        if shard_id in self._checkpoints:
            kwargs.update(
                ShardIteratorType="AFTER_SEQUENCE_NUMBER", SequenceNumber=self._checkpoints[shard_id]
            )
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
            # the next discovery reopens it after its checkpoint (or finds the table gone).
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
        return cast("list[dict[str, Any]]", list(response.get("Records", [])))

    def _gather(self, shard_id: str) -> list[dict[str, Any]]:
        """Read, and — like the mapping's batching window — keep reading until a full batch or
        the window has passed: bigger batches mean fewer recomputations per event."""
        raw = self._read(shard_id)
        if not raw or self.mapping.batching_window <= 0:
            return raw
        deadline = time.monotonic() + self.mapping.batching_window
        while len(raw) < self.mapping.batch_size and shard_id in self._iterators:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self._stop_event.wait(min(self._poll_interval, remaining)):
                break
            raw += self._read(shard_id)
        return raw

    def _deliver(self, shard_id: str, raw: list[dict[str, Any]]) -> None:
        records = [
            lambda_stream_record(record, self.stream_arn or "", self._region)
            for record in drop_phantom_inserts(raw)
        ]
        kept = [record for record in records if passes_filters(self.mapping.filter_patterns, record)]
        for batch in batched(kept, self.mapping.batch_size):
            if not self._process(shard_id, batch):
                return
        # Filtered-out records are checkpointed too: Lambda drops them for good.
        self._checkpoints[shard_id] = raw[-1]["dynamodb"]["SequenceNumber"]

    def _process(self, shard_id: str, batch: list[dict[str, Any]]) -> bool:
        """Deliver one batch until it succeeds or its records are dead-lettered; False if the
        poller was stopped meanwhile."""
        pending: deque[tuple[list[dict[str, Any]], int]] = deque([(batch, 0)])
        while pending:
            records, attempt = pending.popleft()
            outcome = self._invoke_batch(records)
            if outcome.ok:
                continue
            failed = records[outcome.retry_from :]
            if 0 <= self.mapping.max_retries <= attempt:
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

    def _invoke_batch(self, records: list[dict[str, Any]]) -> BatchOutcome:
        self.invocations += 1
        try:
            response = self._invoke({"Records": records})
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
        return batch_outcome(records, response, report_failures=self.mapping.report_batch_item_failures)

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


class LocalStack:
    """The whole stack in this process. ``port``/``aws_port`` 0 pick free ports (see
    :attr:`port` and :attr:`aws_port` after :meth:`start`).

    ``tokens`` None: from ``$ACD_CALLBACK_TOKENS`` or generated. ``spec`` replaces the template
    (tests use stand-ins). ``local_subscriber`` False leaves the subscriber queues to the caller.
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

        self.resources: ProvisionedResources | None = None
        self.environment: dict[str, str] = {}
        self.handlers: dict[str, Handler] = {}
        self.invokers: dict[str, FunctionInvoker] = {}
        self.pollers: list[StreamPoller] = []
        self.fanout_messages: deque[FanoutMessage] = deque(maxlen=1000)
        self._errors = ErrorLog()
        self._moto: ThreadedMotoServer | None = None
        self._httpd: ApiServer | None = None
        self._http_thread: threading.Thread | None = None
        self._subscriber: LocalSubscriber | None = None
        self._saved_env: dict[str, str | None] = {}
        self._state = "new"

    # -- what callers read --

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
        """Exceptions raised by handlers (HTTP: answered 500; stream: retried)."""
        return list(self._errors.entries)

    def clients(self) -> AwsClients:
        return aws_clients(self.aws_endpoint, self.region)

    # -- lifecycle --

    def __enter__(self) -> LocalStack:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> LocalStack:
        if self._state != "new":
            raise RuntimeError("a LocalStack starts once")
        self._state = "starting"
        try:
            spec = self.spec = self.spec or StackSpec.load(self._template_path)
            # Bind first: a busy port fails before anything else has started.
            self._httpd = ApiServer((self.host, self.port))
            self.port = self._httpd.server_address[1]
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
            self._load_functions(spec, self.resources)
            self._start_pollers(spec, clients)
            if self._local_subscriber and self.resources.subscriber_queue_urls:
                self._subscriber = LocalSubscriber(
                    clients.sqs, self.resources.subscriber_queue_urls, self.fanout_messages
                )
                self._subscriber.start()
            self._httpd.gateway = Gateway(spec.routes, self.invokers, self._errors, self.port)
            self._http_thread = threading.Thread(
                target=self._httpd.serve_forever,
                kwargs={"poll_interval": 0.2},
                name="callback-http",
                daemon=True,
            )
            self._http_thread.start()
        except BaseException:
            self.stop()
            raise
        self._state = "running"
        return self

    def _start_moto(self) -> None:
        from moto.server import ThreadedMotoServer  # noqa: PLC0415 - heavy import

        if self.aws_port:
            _ensure_port_free(self.aws_port)
        # werkzeug logs each request line of the moto server; the AWS calls are not worth a line.
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        moto_fixes.install()  # transactions and queries at DynamoDB's cost, thread-safe
        self._moto = ThreadedMotoServer(ip_address=self.host, port=self.aws_port, verbose=False)
        self._moto.start()
        self.aws_port = self._moto.get_host_and_port()[1]
        reset_moto(self.aws_endpoint)

    def _load_functions(self, spec: StackSpec, resources: ProvisionedResources) -> None:
        local = {**_LOCAL_FUNCTION_ENV, TOKENS_ENV: ",".join(self.tokens)}
        environments = {fid: {**env, **local} for fid, env in function_environments(spec, resources).items()}
        # A new stack is a new container for every function: no client cached by an earlier one.
        clear_function_caches(spec.layer_packages)
        needed = dict.fromkeys([r.function for r in spec.routes] + [m.function for m in spec.stream_mappings])
        imported_under: set[str] = set()
        for function in needed:
            if function not in spec.functions:
                raise ValueError(f"{function} has an HTTP or stream event but is not a runnable function")
            fn = spec.functions[function]
            # Settings are read at import (cold start): import under this function's own
            # environment, without what the previous function had on top.
            environment = environments.get(function, local)
            self._set_env(environment, unset=sorted(imported_under - set(environment)))
            imported_under = set(environment)
            self.handlers[function] = load_handler(fn.code_uri, fn.handler)
            self.invokers[function] = FunctionInvoker(
                fn, self.handlers[function], threading.Lock(), self.region
            )
        self.environment = merged_environment(environments) if environments else dict(local)
        self._set_env(self.environment)

    def _start_pollers(self, spec: StackSpec, clients: AwsClients) -> None:
        assert self.resources is not None
        for mapping in spec.stream_mappings:
            poller = StreamPoller(
                mapping,
                self.invokers[mapping.function],
                clients,
                stream_arn=self.resources.stream_arns.get(mapping.table),
                dlq_url=self.resources.dlq_urls.get(mapping.function),
                region=self.region,
                errors=self._errors,
                poll_interval=self._poll_interval,
                retry_delay=self._retry_delay,
                max_retry_delay=self._max_retry_delay,
            )
            poller.start()
            self.pollers.append(poller)

    def stop(self) -> None:
        """Stop everything that started; safe to call more than once."""
        if self._state in ("new", "stopped"):
            self._state = "stopped"
            return
        self._state = "stopping"
        if self._httpd is not None:
            if self._http_thread is not None:
                self._httpd.shutdown()
                self._http_thread.join(timeout=10)
            self._httpd.server_close()
        for poller in self.pollers:
            poller.stop()
        for poller in self.pollers:
            poller.join(timeout=10)
        if self._subscriber is not None:
            self._subscriber.stop()
            self._subscriber.join(timeout=10)
        if self._moto is not None:
            # Leave no tables behind for the next user of moto's process-wide state.
            with contextlib.suppress(Exception):
                reset_moto(self.aws_endpoint)
            self._moto.stop()
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
        """Return once every stream consumer has processed every record written so far
        (raises ``TimeoutError`` otherwise)."""
        deadline = time.monotonic() + timeout
        for poller in self.pollers:
            if not poller.wait_idle(max(0.0, deadline - time.monotonic())):
                raise TimeoutError(f"{poller.mapping.function} still busy after {timeout}s")

    def invoke(self, function: str, event: dict[str, Any]) -> Any:
        """Invoke a loaded function directly (``sam local invoke``, in-process)."""
        return self.invokers[function](event)


# --- the command ---------------------------------------------------------------------------------


def _configure_logging() -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)-20s %(message)s", "%H:%M:%S"))
    LOG.addHandler(handler)
    LOG.setLevel(logging.INFO)
    LOG.propagate = False
    logging.getLogger("werkzeug").setLevel(logging.ERROR)


def _banner(stack: LocalStack) -> str:
    spec = stack.spec
    assert spec is not None
    zone = ZoneInfo(str(spec.parameters.get("ReportTimeZone", "Europe/Berlin")))
    today = datetime.now(zone).date().isoformat()
    now_ms = int(time.time() * 1000)
    url = stack.callback_url
    token_note = {
        "generated": f"(generated; set {TOKENS_ENV}=tok1,tok2 to choose)",
        "environment": f"(from {TOKENS_ENV})",
    }.get(stack.tokens_source, "")
    if len(stack.tokens) > 1:
        token_note += f" +{len(stack.tokens) - 1} more"
    consumers = ", ".join(f"{m.function} <- {m.table}" for m in spec.stream_mappings) or "-"
    lines = [
        "",
        "acd-local: the callback hub on this machine (moto server, no AWS account)",
        "",
        f"  callback URL   {url}",
        f"  token          {stack.tokens[0]} {token_note}",
        f"  AWS endpoint   {stack.aws_endpoint}  (region {stack.region}, credentials 'testing')",
        f"  tables         {', '.join(stack.table_names) or '-'}",
        f"  topics         {', '.join(stack.topic_arns) or '-'}  (the local subscriber prints fan-out)",
        f"  stream         {consumers}",
        "",
        "Try:",
        f"  curl -i '{url}?cmd=agentstate&agentid=100001&mode=0&state=online&eventtime={now_ms}'",
        "  curl -i -X PUT \\",
        f"       -d 'cmd=configchanged&action=edit&type=agent&customerNumber=4711&eventtime={now_ms}' \\",
        f"       '{url}'",
        f"  acd-report --endpoint-url {stack.aws_endpoint} events --cmd agentstate --day {today}",
        f"  acd-report --endpoint-url {stack.aws_endpoint} rejected",
        "",
        "Wallboard and day report (pictures):",
        f"  acd-report --endpoint-url {stack.aws_endpoint} serve      # then open http://127.0.0.1:8080/",
        f"  acd-report --endpoint-url {stack.aws_endpoint} html --day {today} --out day-report.html",
        "",
        "Ctrl-C stops everything.",
        "",
    ]
    return "\n".join(lines)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
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
def main(port: int, aws_port: int, host: str, template_path: Path | None) -> None:
    """Run the ACD callback hub locally: moto, the callback endpoint, the stream consumers and a
    subscriber printing the SNS fan-out."""
    del host  # fixed: the option exists to say so
    _configure_logging()
    stop = threading.Event()

    def request_stop(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    stack = LocalStack(port, aws_port, template_path=template_path)
    try:
        try:
            stack.start()
        except (FileNotFoundError, ValueError) as exc:  # no template, or one we cannot run
            raise click.ClickException(f"cannot start: {exc}") from exc
        except OSError as exc:  # a port in use
            raise click.ClickException(f"cannot start: {exc} (try --port/--aws-port)") from exc
        click.echo(_banner(stack))
        while not stop.wait(0.5):
            pass
        click.echo("stopping ...")
    finally:
        stack.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    click.echo("stopped.")


if __name__ == "__main__":
    main()
