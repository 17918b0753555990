"""The baselines the ingest is measured against: the least a callback handler does, as a
function (warm, :mod:`acd_bench.ingest_warm`) and as a Lambda module (cold start,
:mod:`acd_bench.cold_start`); and, warm, a handler that makes the very DynamoDB requests the
ingest made for each event (the same items, a ``callevent``'s key claim included) and nothing
else, so that the difference is the hub's own work alone."""

from __future__ import annotations

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
