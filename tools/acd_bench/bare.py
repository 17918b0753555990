"""The baselines the ingest is measured against: the least a callback handler does, as a
function (warm, :mod:`acd_bench.ingest_warm`) and as a Lambda module (cold start,
:mod:`acd_bench.cold_start`); and, warm, a handler that makes the very DynamoDB requests the
ingest made for each event (the same items, a ``callevent``'s key claim included) and nothing
else, so that the difference is the hub's own work alone. Beside them, the floor: the libraries
the standards ask for (Powertools' HTTP resolver, logger and metrics as the ingest sets them up;
pydantic) around the same requests, warm, and imported with boto3, cold: what any handler built on
them pays before the hub does any work of its own."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

BARE_HANDLER = '''\
"""The baseline: the least a callback handler does - parse the query (or form body), one
conditional PutItem of the parameters as strings."""

import base64
from urllib.parse import parse_qs


def make_handler(client, table):
    def lambda_handler(event, context):
        params = parse_qs(event.get("rawQueryString") or "")
        body = event.get("body")
        if body:
            raw = base64.b64decode(body) if event.get("isBase64Encoded") else body.encode()
            params.update(parse_qs(raw.decode("utf-8", "replace")))
        item = {name: {"S": values[0]} for name, values in params.items()}
        cmd = params.get("cmd", ["?"])[0]
        item["pk"] = {"S": "BARE#" + cmd + "#" + event["requestContext"]["requestId"]}
        item["sk"] = {"S": params.get("eventtime", ["-"])[0]}
        client.put_item(TableName=table, Item=item, ConditionExpression="attribute_not_exists(pk)")
        return {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": '{"status":"stored"}'}

    return lambda_handler
'''
BARE_MODULE = (
    BARE_HANDLER
    + """

import boto3

client = boto3.client("dynamodb")
lambda_handler = make_handler(client, "EventsTable")
"""
)


# The floor's module for the cold start: the bare handler behind the libraries the ingest imports
# (Powertools' resolver, logger, metrics; pydantic with one model, its validator deferred as the
# hub's are), configured alike, and none of the hub.
LIBRARIES_MODULE = (
    BARE_HANDLER
    + """

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit
from pydantic import BaseModel, ConfigDict


class Accepted(BaseModel):
    model_config = ConfigDict(defer_build=True)
    status: str


client = boto3.client("dynamodb")
logger = Logger()
metrics = EphemeralMetrics()
app = APIGatewayHttpResolver()
store = make_handler(client, "EventsTable")


@app.route("/callback", method=["GET", "HEAD", "PUT", "POST"])
@app.route("/callback/<token>", method=["GET", "HEAD", "PUT", "POST"])
def callback(token=None):
    store(app.current_event.raw_event, None)
    metrics.add_metric(name="Callbacks", unit=MetricUnit.Count, value=1)
    logger.info("callback stored")
    return Response(200, "application/json", Accepted(status="stored").model_dump_json())


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event, context):
    try:
        return app.resolve(event, context)
    finally:
        metrics.flush_metrics()
"""
)


def bare_handler(client: Any, table: str = "EventsTable") -> Callable[[dict[str, Any], Any], Any]:
    namespace: dict[str, Any] = {}
    exec(compile(BARE_HANDLER, "<bare handler>", "exec"), namespace)  # noqa: S102 - our own constant
    handler: Callable[[dict[str, Any], Any], Any] = namespace["make_handler"](client, table)
    return handler


def same_requests_handler(
    client: Any, requests: Mapping[str, Sequence[Mapping[str, Any]]]
) -> Callable[[dict[str, Any], Any], Any]:
    """A handler that sends, for each event (by its request id), the ``put_item`` requests the
    ingest sent for it, as recorded (wire-format items: no parsing, validation, item building,
    serialization to DynamoDB's types, logging or metrics); and answers as the bare one does."""

    def lambda_handler(event: dict[str, Any], _context: Any) -> dict[str, Any]:
        for request in requests[event["requestContext"]["requestId"]]:
            client.put_item(**request)
        return {
            "statusCode": 200,
            "headers": {"Content-Type": "application/json"},
            "body": '{"status":"stored"}',
        }

    return lambda_handler


_FLOORS = itertools.count()


def libraries_handler(
    client: Any, requests: Mapping[str, Sequence[Mapping[str, Any]]]
) -> Callable[[dict[str, Any], Any], Any]:
    """The floor, warm: the same requests as :func:`same_requests_handler`, behind the libraries
    the ingest is built on and as it sets them up: Powertools' HTTP resolver (its two routes), its
    logger (the Lambda context injected, one line with the ingest's fields, the ingest's
    serializer) and two ephemeral EMF metric sets flushed per invocation (the cmd and outcome
    dimensions, one count), and the answer a pydantic model. Nothing of the hub's own work:
    no parameters read, no validation, no items built."""
    from aws_lambda_powertools import Logger  # noqa: PLC0415 - the bench's import, not the module's
    from aws_lambda_powertools.event_handler import (  # noqa: PLC0415
        APIGatewayHttpResolver,
        Response,
        content_types,
    )
    from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit  # noqa: PLC0415
    from pydantic import BaseModel  # noqa: PLC0415

    from acd_hub.logs import log_metrics, log_serializer  # noqa: PLC0415

    class Accepted(BaseModel):
        status: str
        cmd: str
        event_key: str

    # a logger of its own (Powertools sets a logger up once per service name, on the stdout of
    # that time): a second floor in one process logs where it runs
    logger = Logger(service=f"acd-bench-floor-{next(_FLOORS)}", json_serializer=log_serializer())
    metrics, refusals = EphemeralMetrics(), EphemeralMetrics()
    app = APIGatewayHttpResolver()
    methods = ["GET", "HEAD", "PUT", "POST"]

    def store(**_path: str) -> Response:  # the token the route takes: the floor does not check it
        event = app.current_event.raw_event
        for request in requests[event["requestContext"]["requestId"]]:
            client.put_item(**request)
        metrics.add_dimension(name="cmd", value="agentstate")
        metrics.add_dimension(name="outcome", value="stored")
        metrics.add_metric(name="Callbacks", unit=MetricUnit.Count, value=1)
        logged = {"cmd": "agentstate", "event_key": event["requestContext"]["requestId"], "outcome": "stored"}
        logger.info("callback stored", extra=logged)
        body = Accepted(status="stored", cmd="agentstate", event_key=logged["event_key"])
        return Response(200, content_types.APPLICATION_JSON, body.model_dump_json())

    app.route("/callback", method=methods)(store)
    app.route("/callback/<token>", method=methods)(store)

    @logger.inject_lambda_context(clear_state=True)
    @log_metrics(metrics)
    @log_metrics(refusals)
    def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        return app.resolve(event, context)

    return lambda_handler
