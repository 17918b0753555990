"""The local stack (``acd-local``): provisioning from the template, the API Gateway emulation,
the stream event source mapping emulation and the access log.

Stand-in functions (written to ``tmp_path``) stand for the real ones where a test needs to see
exactly what a function receives; the real ingest handler gets one round trip at the end.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import http.client
import json
import logging
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from acd_devkit import lambda_events
from acd_devkit.lambda_events import FakeLambdaContext, query_parameters
from acd_devkit.moto_resources import AwsClients, ProvisionedResources, provision, reset_moto
from acd_devkit.stream_mapping import (
    batch_outcome,
    lambda_stream_record,
    matches_pattern,
    parse_filter_patterns,
    passes_filters,
    validate_filter_pattern,
)
from acd_devkit.template import load_template
from acd_local.gateway import MAX_REQUEST_BYTES, ApiServer, Gateway
from acd_local.hub import LocalHub
from acd_local.invoke import ErrorLog, FunctionInvoker, InvokerPool
from acd_local.lambda_runtime import (
    HttpRequest,
    Route,
    build_http_api_event,
    http_api_response,
    load_handler,
    match_route,
)
from acd_local.spec import FunctionSpec, StackSpec, StreamMapping
from acd_local.streams import StreamPoller
from acd_local.subscriber import describe_fanout, format_fanout
from tests.support import PK_SK

REPO = Path(__file__).resolve().parents[2]
TOKEN = "it-token-Zx81Lq"
METHODS = ("GET", "HEAD", "PUT", "POST")
CALLBACK_ROUTES = tuple(
    Route(method, path, "EchoFunction") for method in METHODS for path in ("/callback", "/callback/{token}")
)


# --- helpers ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module", autouse=True)
def leave_moto_empty(moto_server: str) -> Iterator[None]:
    """moto's state is process-wide: the tables these tests create on the in-process server
    must not meet the next module's tests (acd-local's own moto runs in a process of its own
    and no longer wipes this one when it stops)."""
    yield
    reset_moto(moto_server)


def table_kwargs() -> dict[str, Any]:
    return {
        **PK_SK,
        "BillingMode": "PAY_PER_REQUEST",
        "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
    }


ECHO_APP = """
import base64, json, os

EVENTS = []

def lambda_handler(event, context):
    EVENTS.append(event)
    if event["rawPath"].endswith("/boom"):
        raise RuntimeError("boom")
    body = json.dumps({
        "events_table": os.environ.get("ACD_EVENTS_TABLE"),
        "topic": os.environ.get("ACD_CONFIG_TOPIC_ARN"),
        "log_level": os.environ.get("POWERTOOLS_LOG_LEVEL"),
        "function": context.function_name,
        "remaining": context.get_remaining_time_in_millis(),
    })
    return {
        "statusCode": 201,
        "headers": {"Content-Type": "application/json", "X-Echo": "1"},
        "cookies": ["seen=1; Path=/", "other=2"],
        "body": body,
    }
"""

# Runs in its own process (a container of its own): it leaves its batches in a file.
CONSUMER_APP = """
import json, os

def lambda_handler(event, context):
    records = event["Records"]
    with open(os.environ["BATCHES_FILE"], "a") as out:
        out.write(json.dumps({
            "keys": [r["dynamodb"]["NewImage"]["pk"]["S"] for r in records],
            "function": context.function_name,
        }) + "\\n")
    failures = [
        {"itemIdentifier": r["dynamodb"]["SequenceNumber"]}
        for r in records
        if r["dynamodb"]["NewImage"].get("fail", {}).get("S") == "always"
    ]
    return {"batchItemFailures": failures}
"""


def write_function(root: Path, name: str, source: str) -> Path:
    code = root / "functions" / name
    code.mkdir(parents=True)
    (code / "app.py").write_text(textwrap.dedent(source))
    return code


def standin_spec(root: Path, *, max_retries: int = 1) -> StackSpec:
    echo = write_function(root, "echo", ECHO_APP)
    consumer = write_function(root, "consumer", CONSUMER_APP)
    return StackSpec(
        tables={"EventsTable": table_kwargs()},
        ttl_attributes={"EventsTable": "ttl"},
        topics=("ConfigChangedTopic",),
        functions={
            "EchoFunction": FunctionSpec("EchoFunction", echo, "app.lambda_handler", 256, 10),
            "ConsumerFunction": FunctionSpec("ConsumerFunction", consumer, "app.lambda_handler"),
        },
        environments={
            "EchoFunction": {
                "ACD_EVENTS_TABLE": {"Ref": "EventsTable"},
                "ACD_CONFIG_TOPIC_ARN": {"Ref": "ConfigChangedTopic"},
                "POWERTOOLS_LOG_LEVEL": {"Ref": "LogLevel"},
            },
            "ConsumerFunction": {
                "ACD_EVENTS_TABLE": {"Ref": "EventsTable"},
                "BATCHES_FILE": str(root / "batches.jsonl"),
            },
        },
        stream_mappings=(
            StreamMapping(
                "ConsumerFunction",
                "EventsTable",
                batch_size=3,
                filter_patterns=({"eventName": ["INSERT"]},),
                max_retries=max_retries,
                report_batch_item_failures=True,
            ),
        ),
        routes=CALLBACK_ROUTES,
        parameters={"LogLevel": "DEBUG"},
    )


def request(
    stack: LocalHub,
    method: str,
    target: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, http.client.HTTPMessage, bytes, list[tuple[str, str]]]:
    connection = http.client.HTTPConnection(stack.host, stack.port, timeout=10)
    try:
        connection.request(method, target, body=body, headers=headers or {})
        response = connection.getresponse()
        data = response.read()
        # Header names are case-insensitive (waitress capitalizes them): read them as such.
        return response.status, response.headers, data, response.getheaders()
    finally:
        connection.close()


def req(
    method: str, target: str, body: bytes = b"", headers: list[tuple[str, str]] | None = None
) -> HttpRequest:
    return HttpRequest(method, target, headers or [("Host", "127.0.0.1:3000")], body, "10.1.2.3")


def event_for(
    method: str, target: str, body: bytes = b"", headers: list[tuple[str, str]] | None = None
) -> dict:
    request_ = req(method, target, body, headers)
    found = match_route(CALLBACK_ROUTES, method, request_.path)
    assert found is not None
    return build_http_api_event(request_, *found, request_id="rid", port=3000)


def put_item(aws: AwsClients, pk: str, **attributes: str) -> None:
    item = {"pk": {"S": pk}, "sk": {"S": "0"}, **{k: {"S": v} for k, v in attributes.items()}}
    aws.dynamodb.put_item(TableName="EventsTable", Item=item)


# --- provisioning from the template -----------------------------------------------------------------


def test_template_tables_exist_with_indexes_streams_and_ttl(
    aws_resources: ProvisionedResources, stack_spec: StackSpec, aws: AwsClients
) -> None:
    assert set(aws_resources.table_names) == set(stack_spec.tables)
    assert "EventsTable" in aws_resources.table_names
    for logical_id, kwargs in stack_spec.tables.items():
        table = aws.dynamodb.describe_table(TableName=logical_id)["Table"]
        assert table["KeySchema"] == kwargs["KeySchema"]
        expected_indexes = {index["IndexName"] for index in kwargs.get("GlobalSecondaryIndexes", [])}
        assert {index["IndexName"] for index in table.get("GlobalSecondaryIndexes", [])} == expected_indexes
        if "StreamSpecification" in kwargs:
            assert table["StreamSpecification"]["StreamEnabled"] is True
            assert (
                table["StreamSpecification"]["StreamViewType"]
                == kwargs["StreamSpecification"]["StreamViewType"]
            )
            assert aws_resources.stream_arns[logical_id] == table["LatestStreamArn"]
        if logical_id in stack_spec.ttl_attributes:
            ttl = aws.dynamodb.describe_time_to_live(TableName=logical_id)["TimeToLiveDescription"]
            assert ttl == {
                "TimeToLiveStatus": "ENABLED",
                "AttributeName": stack_spec.ttl_attributes[logical_id],
            }
    # The key design of keys.py, as the template declares it.
    events = aws.dynamodb.describe_table(TableName="EventsTable")["Table"]
    assert {i["IndexName"] for i in events["GlobalSecondaryIndexes"]} >= {"ByAgentDay", "ByCall", "ByCmdDay"}


def test_template_topics_have_a_local_subscriber_and_consumers_a_dlq(
    aws_resources: ProvisionedResources, stack_spec: StackSpec, aws: AwsClients
) -> None:
    assert set(aws_resources.topic_arns) == set(stack_spec.topics) >= {"ConfigChangedTopic", "BroadcastTopic"}
    for topic, arn in aws_resources.topic_arns.items():
        assert arn == f"arn:aws:sns:eu-central-1:123456789012:{topic}"
        subscriptions = aws.sns.list_subscriptions_by_topic(TopicArn=arn)["Subscriptions"]
        assert [s["Protocol"] for s in subscriptions] == ["sqs"]
        assert subscriptions[0]["Endpoint"].endswith(f":{topic}-local-subscriber")
    assert set(aws_resources.dlq_urls) == {m.function for m in stack_spec.stream_mappings}
    for function, url in aws_resources.dlq_urls.items():
        assert url.endswith(f"/{function}-local-dlq")
    assert any(m.function == "FanoutFunction" for m in stack_spec.stream_mappings)


def test_template_routes_and_stream_mappings_are_read(stack_spec: StackSpec) -> None:
    keys = {route.route_key for route in stack_spec.routes if route.function == "IngestFunction"}
    assert {"GET /callback/{token}", "HEAD /callback/{token}", "PUT /callback", "GET /callback"} <= keys
    fanout = next(m for m in stack_spec.stream_mappings if m.function == "FanoutFunction")
    assert fanout.table == "EventsTable"
    assert fanout.report_batch_item_failures
    # retried by record age (a day), not by attempts, as on AWS
    assert (fanout.max_retries, fanout.max_record_age) == (-1, 86400)
    assert fanout.filter_patterns  # and they parsed and validated
    assert "acd_hub" in stack_spec.layer_packages


def test_the_local_poller_gives_up_on_records_older_than_the_mappings_age() -> None:
    """As Lambda: with unbounded attempts (the fan-out's), the record's age ends the retries."""
    from types import SimpleNamespace  # noqa: PLC0415

    from acd_local.spec import StreamMapping  # noqa: PLC0415
    from acd_local.streams import StreamPoller  # noqa: PLC0415

    poller: Any = SimpleNamespace(mapping=StreamMapping("F", "T", max_retries=-1, max_record_age=86400))
    record = {"dynamodb": {"ApproximateCreationDateTime": time.time() - 86401}}
    young = {"dynamodb": {"ApproximateCreationDateTime": time.time() - 60}}
    assert StreamPoller._too_old(poller, [young, record])
    assert not StreamPoller._too_old(poller, [young])
    poller.mapping = StreamMapping("F", "T", max_retries=-1)  # no age: until the record expires
    assert not StreamPoller._too_old(poller, [record])


def test_provision_accepts_a_loaded_template(clean_moto: str, aws: AwsClients, stack_spec: StackSpec) -> None:
    resources = provision(clean_moto, load_template())
    assert "EventsTable" in aws.dynamodb.list_tables()["TableNames"]
    assert resources.table_names["EventsTable"] == "EventsTable"


# --- the filter matcher ----------------------------------------------------------------------------


def stream_record(cmd: str | None = "configchanged", event_name: str = "INSERT", **extra: Any) -> dict:
    """A record of the events table's stream (the shared builder's), as a filter sees it."""
    item: dict[str, Any] = {"pk": "CALL#abc", "sk": "2026-11-20T09:00:00.000Z", "count": 5}
    if cmd is not None:
        item["cmd"] = cmd
    return {**lambda_events.stream_record(item, 1), "eventName": event_name, **extra}


FANOUT_PATTERN = {
    "eventName": ["INSERT"],
    "dynamodb": {"NewImage": {"cmd": {"S": ["configchanged", "broadcastevent"]}}},
}


@pytest.mark.parametrize(
    ("pattern", "record", "expected"),
    [
        (FANOUT_PATTERN, stream_record("configchanged"), True),
        (FANOUT_PATTERN, stream_record("broadcastevent"), True),
        (FANOUT_PATTERN, stream_record("agentstate"), False),
        (FANOUT_PATTERN, stream_record("configchanged", "MODIFY"), False),
        (FANOUT_PATTERN, stream_record(None), False),
        (FANOUT_PATTERN, {"eventName": "INSERT", "dynamodb": {"Keys": {}}}, False),
        ({"dynamodb": {"Keys": {"pk": {"S": [{"prefix": "CALL#"}]}}}}, stream_record(), True),
        ({"dynamodb": {"Keys": {"pk": {"S": [{"prefix": "AGENT#"}]}}}}, stream_record(), False),
        ({"dynamodb": {"NewImage": {"cmd": [{"exists": True}]}}}, stream_record(), True),
        ({"dynamodb": {"NewImage": {"cmd": [{"exists": True}]}}}, stream_record(None), False),
        ({"dynamodb": {"NewImage": {"cmd": [{"exists": False}]}}}, stream_record(None), True),
        ({"dynamodb": {"NewImage": {"cmd": [{"exists": False}]}}}, stream_record(), False),
        ({"dynamodb": {"OldImage": {"cmd": [{"exists": False}]}}}, stream_record(), True),
        ({"eventName": [{"anything-but": ["REMOVE"]}]}, stream_record(), True),
        ({"eventName": [{"anything-but": ["INSERT", "MODIFY"]}]}, stream_record(), False),
        ({"eventName": [{"anything-but": "REMOVE"}]}, stream_record(), True),
        ({"missing": [{"anything-but": ["x"]}]}, stream_record(), False),
        ({"eventName": [{"anything-but": {"prefix": "IN"}}]}, stream_record(), False),
        ({"dynamodb": {"NewImage": {"count": {"N": [{"numeric": ["=", 5]}]}}}}, stream_record(), True),
        (
            {"dynamodb": {"NewImage": {"count": {"N": [{"numeric": [">", 1, "<=", 5]}]}}}},
            stream_record(),
            True,
        ),
        ({"dynamodb": {"NewImage": {"count": {"N": [{"numeric": ["<", 5]}]}}}}, stream_record(), False),
        ({"size": [5]}, {"size": 5.0}, True),
        ({"size": [5]}, {"size": "5"}, False),
        ({"flag": [True]}, {"flag": True}, True),
        ({"flag": [True]}, {"flag": 1}, False),
        ({"value": [None]}, {"value": None}, True),
        ({"value": [None]}, {}, False),
        ({"tags": ["a"]}, {"tags": ["b", "a"]}, True),
        ({"tags": ["c"]}, {"tags": ["b", "a"]}, False),
        ({"eventName": [{"equals-ignore-case": "insert"}]}, stream_record(), True),
        ({"eventName": [{"suffix": "ERT"}]}, stream_record(), True),
        ({"eventName": [{"wildcard": "I*T"}]}, stream_record(), True),
        ({"eventName": [{"wildcard": "M*"}]}, stream_record(), False),
        ({"eventName": [""]}, {"eventName": ""}, True),
    ],
)
def test_filter_pattern(pattern: dict, record: dict, expected: bool) -> None:
    validate_filter_pattern(pattern)
    assert matches_pattern(pattern, record) is expected


def test_filter_patterns_any_matches_and_none_means_all() -> None:
    patterns = parse_filter_patterns(['{"eventName": ["REMOVE"]}', {"eventName": ["INSERT"]}])
    assert passes_filters(patterns, stream_record())
    assert not passes_filters(patterns[:1], stream_record())
    assert passes_filters([], stream_record())


@pytest.mark.parametrize(
    "pattern",
    [
        {"eventName": "INSERT"},  # a leaf must be an array
        {"eventName": [{"cidr": "10.0.0.0/8"}]},  # not emulated: refuse, never misread
        {"eventName": [{"numeric": [">"]}]},
        {"eventName": [["INSERT"]]},
        ["INSERT"],
    ],
)
def test_unsupported_filter_patterns_are_refused(pattern: Any) -> None:
    with pytest.raises(ValueError, match=r"filter|numeric|array|operator"):
        validate_filter_pattern(pattern)


# --- the API Gateway event builder ----------------------------------------------------------------


def test_get_event_keeps_the_raw_query_and_joins_repeated_parameters() -> None:
    raw = "cmd=agentstate&a=1&a=2&sp=x%20y&plus=a+b&pct=%2B49&empty=&flag&again=1?b=2"
    event = event_for(
        "GET", f"/callback/{TOKEN}?{raw}", headers=[("Host", "h:3000"), ("User-Agent", "Java/11")]
    )
    assert event["version"] == "2.0"
    assert event["routeKey"] == "GET /callback/{token}"
    assert event["rawPath"] == f"/callback/{TOKEN}"
    assert event["rawQueryString"] == raw  # exactly as received, including the second "?"
    assert event["queryStringParameters"] == {
        "cmd": "agentstate",
        "a": "1,2",
        "sp": "x y",
        "plus": "a b",
        "pct": "+49",
        "empty": "",
        "flag": "",
        "again": "1?b=2",
    }
    assert event["pathParameters"] == {"token": TOKEN}
    assert "body" not in event
    assert event["isBase64Encoded"] is False
    context = event["requestContext"]
    assert context["http"] == {
        "method": "GET",
        "path": f"/callback/{TOKEN}",
        "protocol": "HTTP/1.1",
        "sourceIp": "10.1.2.3",
        "userAgent": "Java/11",
    }
    assert context["routeKey"] == "GET /callback/{token}"
    assert context["stage"] == "$default"
    assert context["accountId"] == "123456789012"
    assert context["apiId"] == "local"
    assert context["domainName"] == "h"
    assert context["requestId"] == "rid"
    assert isinstance(context["timeEpoch"], int)
    assert context["time"].endswith(" +0000")


def test_head_without_query_has_no_query_parameters_and_no_body() -> None:
    event = event_for("HEAD", "/callback")
    assert event["routeKey"] == "HEAD /callback"
    assert event["rawQueryString"] == ""
    assert "queryStringParameters" not in event
    assert "pathParameters" not in event
    assert "body" not in event


def test_headers_are_lower_case_and_duplicates_comma_joined_cookies_apart() -> None:
    headers = [
        ("Host", "127.0.0.1"),
        ("X-Thing", "a"),
        ("x-thing", "b"),
        ("Cookie", "c1=1; c2=2"),
        ("Cookie", "c3=3"),
    ]
    event = event_for("GET", "/callback", headers=headers)
    assert event["headers"]["x-thing"] == "a,b"
    assert "cookie" not in event["headers"]
    assert event["cookies"] == ["c1=1", "c2=2", "c3=3"]
    assert event["headers"]["x-forwarded-for"] == "10.1.2.3"
    assert all(name == name.lower() for name in event["headers"])


def test_form_put_body_is_base64_like_http_apis_do() -> None:
    body = b"cmd=configchanged&action=edit&type=agent&message=Gr%C3%BC%C3%9Fe"
    event = event_for(
        "PUT",
        f"/callback/{TOKEN}",
        body,
        [("Content-Type", "application/x-www-form-urlencoded"), ("Host", "h")],
    )
    assert event["routeKey"] == "PUT /callback/{token}"
    assert event["headers"]["content-type"] == "application/x-www-form-urlencoded"
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == body


@pytest.mark.parametrize(
    ("content_type", "body", "as_text"),
    [
        ("application/json", '{"cmd": "broadcastevent", "message": "Grüße"}'.encode(), True),
        ("application/json; charset=utf-8", b"{}", True),
        ("text/plain", "Grüße".encode(), True),
        ("text/plain", b"\xff\xfe\x00", False),  # not UTF-8: base64 after all
        ("application/octet-stream", b"\x00\x01\x02\xff", False),
        (None, b"cmd=agentstate", False),
    ],
)
def test_body_is_text_only_for_textual_types(content_type: str | None, body: bytes, as_text: bool) -> None:
    headers = [("Host", "h")] + ([("Content-Type", content_type)] if content_type else [])
    event = event_for("POST", "/callback", body, headers)
    assert event["isBase64Encoded"] is (not as_text)
    assert event["body"] == (body.decode() if as_text else base64.b64encode(body).decode())


def test_routes_match_like_api_gateway() -> None:
    assert match_route(CALLBACK_ROUTES, "GET", "/callback")[0].path == "/callback"  # type: ignore[index]
    assert match_route(CALLBACK_ROUTES, "PUT", "/callback/t x") == (
        Route("PUT", "/callback/{token}", "EchoFunction"),
        {"token": "t x"},
    )
    assert match_route(CALLBACK_ROUTES, "GET", "/callback/a/b") is None
    assert match_route(CALLBACK_ROUTES, "GET", "/callback/") is None
    assert match_route(CALLBACK_ROUTES, "DELETE", "/callback") is None
    assert match_route(CALLBACK_ROUTES, "GET", "/other") is None
    routes = [Route("ANY", "/x/{p}", "A"), Route("GET", "/x/fixed", "B"), Route("ANY", "$default", "C")]
    assert match_route(routes, "GET", "/x/fixed")[0].function == "B"  # type: ignore[index]
    assert match_route(routes, "POST", "/x/fixed")[0].function == "A"  # type: ignore[index]
    assert match_route(routes, "GET", "/anything")[0].route_key == "$default"  # type: ignore[index]


def test_path_and_path_parameters_arrive_decoded_as_http_apis_send_them() -> None:
    event = event_for("GET", "/callback/a%20b%2Bc+d?x=%20")
    assert event["rawPath"] == event["requestContext"]["http"]["path"] == "/callback/a b+c+d"
    assert event["pathParameters"] == {"token": "a b+c+d"}
    assert event["rawQueryString"] == "x=%20"  # the query string stays as received
    # An encoded slash is a slash by the time API Gateway routes: no such route.
    assert match_route(CALLBACK_ROUTES, "GET", req("GET", "/callback/a%2Fb").path) is None


def test_query_parameters_decode_and_join() -> None:
    assert query_parameters("") == {}
    assert query_parameters("a=1&&a=%26&=x&b") == {"a": "1,&", "b": ""}


def test_function_response_becomes_the_http_response() -> None:
    response = http_api_response(
        {
            "statusCode": 200,
            "headers": {"Content-Type": "text/plain", "Content-Length": "999"},
            "multiValueHeaders": {"X-Multi": ["1", "2"]},
            "cookies": ["a=1", "b=2"],
            "body": base64.b64encode(b"\x00bin").decode(),
            "isBase64Encoded": True,
        }
    )
    assert response.status == 200
    assert response.body == b"\x00bin"
    assert ("Content-Length", "999") not in response.headers  # the server sets the real one
    assert [v for k, v in response.headers if k == "Set-Cookie"] == ["a=1", "b=2"]
    assert [v for k, v in response.headers if k == "X-Multi"] == ["1", "2"]
    # Without statusCode API Gateway assumes 200 and sends the answer as JSON.
    bare = http_api_response({"status": "ok"})
    assert (bare.status, json.loads(bare.body)) == (200, {"status": "ok"})
    assert http_api_response({"statusCode": 204}).body == b""


@pytest.mark.parametrize(
    "answer",
    [
        {"statusCode": 42},
        {"statusCode": 100},
        {"statusCode": 999},
        {"statusCode": 200, "headers": {"Bad Name": "v"}},
        {"statusCode": 200, "headers": {"X-Split": "a\r\nInjected: 1"}},
        {"statusCode": 200, "headers": {"X-Text": "\u4e2d"}},
        {"statusCode": 200, "multiValueHeaders": {"X-Multi": ["ok", "a\nb"]}},
        {"statusCode": 200, "cookies": ["a=1\r\nX: y"]},
    ],
)
def test_a_malformed_function_answer_is_api_gateway_s_500_over_http(
    answer: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    """A status that is not a final HTTP one, a header HTTP cannot carry: API Gateway's 500 for
    a malformed integration answer, recorded; before, waitress met it while answering (a
    traceback and its own 500, a status line clients refuse, or no answer at all)."""
    server = ApiServer(("127.0.0.1", 0))
    errors = ErrorLog()
    server.gateway = Gateway(
        [Route("GET", "/callback/{token}", "F")], {"F": lambda _event: answer}, errors, 0
    )
    server.start()
    try:
        connection = http.client.HTTPConnection(*server.server_address, timeout=10)
        connection.request("GET", "/callback/t")
        response = connection.getresponse()
        assert (response.status, json.loads(response.read())) == (500, {"message": "Internal Server Error"})
        connection.close()
    finally:
        server.stop()
    (error,) = errors.entries
    assert "ValueError" in error.error
    assert "Exception while serving" not in caplog.text


def test_fake_context_has_what_powertools_reads() -> None:
    context = FakeLambdaContext(function_name="IngestFunction", memory_limit_in_mb=512, timeout_seconds=10)
    assert context.invoked_function_arn == "arn:aws:lambda:eu-central-1:123456789012:function:IngestFunction"
    assert 9_000 < context.get_remaining_time_in_millis() <= 10_000
    assert context.aws_request_id != FakeLambdaContext(function_name="x").aws_request_id
    assert context.log_group_name == "/aws/lambda/IngestFunction"


def test_load_handler_gives_each_function_its_own_module(tmp_path: Path) -> None:
    first = write_function(tmp_path, "one", "NAME = 'one'\ndef handler(event, context):\n    return NAME\n")
    second = write_function(tmp_path, "two", "NAME = 'two'\ndef handler(event, context):\n    return NAME\n")
    one, two = load_handler(first, "app.handler"), load_handler(second, "app.handler")
    assert (one({}, None), two({}, None)) == ("one", "two")
    with pytest.raises(AttributeError):
        load_handler(first, "app.missing")
    with pytest.raises(FileNotFoundError):
        load_handler(first, "nothing.handler")


# A Powertools app whose route waits until every container has a request of its own in hand.
ROUTER_APP = """
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

app = APIGatewayHttpResolver()
BARRIER = None  # the test's


@app.get("/agents/<agent>")
def agent(agent):
    BARRIER.wait(10)
    return {"route": agent, "current_event": app.current_event.path}


def lambda_handler(event, context):
    return app.resolve(event, context)
"""


def test_concurrent_containers_each_see_their_own_request(tmp_path: Path) -> None:
    """Powertools keeps the request being resolved on a class shared by the process; on Lambda
    a container is a process, here two containers are threads of one. Both resolve before
    either reads ``app.current_event``: each must read its own (before the fix the first read
    the second one's, and acd-local's ingest stored the other request's event in its place)."""
    code = write_function(tmp_path, "router", ROUTER_APP)
    spec = FunctionSpec("RouterFunction", code, "app.lambda_handler")
    barrier = threading.Barrier(2)
    containers = []
    for _ in range(2):
        handler = load_handler(code, spec.handler)
        handler.__globals__["BARRIER"] = barrier  # type: ignore[attr-defined]
        containers.append(FunctionInvoker(spec, handler, threading.Lock()))
    pool = InvokerPool(containers)
    route = Route("GET", "/agents/{agent}", "RouterFunction")
    answers: dict[str, Any] = {}

    def invoke(agent: str) -> None:
        request = HttpRequest("GET", f"/agents/{agent}", [("host", "local")], b"", "127.0.0.1")
        answers[agent] = json.loads(pool(build_http_api_event(request, route, {"agent": agent}))["body"])

    threads = [threading.Thread(target=invoke, args=(agent,)) for agent in ("100001", "100002")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert answers == {
        agent: {"route": agent, "current_event": f"/agents/{agent}"} for agent in ("100001", "100002")
    }


def slow_gateway(tmp_path: Path, release: threading.Event, **pool_options: float) -> tuple[Gateway, ErrorLog]:
    """A gateway in front of one container of a function with a 0.2 s ``Timeout`` whose
    ``/callback/hang`` waits for ``release`` and ``/callback/exit`` calls ``sys.exit``."""

    def handler(event: dict[str, Any], _context: Any) -> dict[str, Any]:
        if event["rawPath"].endswith("/hang"):
            release.wait(20)
        if event["rawPath"].endswith("/exit"):
            sys.exit(3)
        return {"statusCode": 200, "body": "answered"}

    spec = FunctionSpec("SlowFunction", tmp_path, "app.lambda_handler", 128, 0.2)
    pool = InvokerPool([FunctionInvoker(spec, handler, threading.Lock())])
    errors = ErrorLog()
    invoke = functools.partial(pool, **pool_options) if pool_options else pool
    return Gateway(
        [Route("GET", "/callback/{token}", "SlowFunction")], {"SlowFunction": invoke}, errors, 3000
    ), errors


def test_a_handler_past_its_timeout_is_a_500_and_the_next_request_is_served(tmp_path: Path) -> None:
    """Lambda ends an invocation at the function's Timeout and API Gateway answers 500; before,
    the request waited for the handler however long it took."""
    release = threading.Event()
    gateway, errors = slow_gateway(tmp_path, release)
    try:
        response, _ = gateway.handle(req("GET", "/callback/hang"))
        assert (response.status, json.loads(response.body)) == (500, {"message": "Internal Server Error"})
        (error,) = errors.entries
        assert "Task timed out after 0.20 seconds" in error.error
    finally:
        release.set()
    response, _ = gateway.handle(req("GET", "/callback/next"))
    assert (response.status, response.body) == (200, b"answered")


def test_a_handler_that_calls_sys_exit_is_a_500_and_the_next_request_is_served(tmp_path: Path) -> None:
    """Lambda: Runtime.ExitError, API Gateway's 500. Before, the SystemExit ended the gateway's
    thread: no answer at all, and nothing in the error log."""
    gateway, errors = slow_gateway(tmp_path, threading.Event())
    response, _ = gateway.handle(req("GET", "/callback/exit"))
    assert (response.status, json.loads(response.body)) == (500, {"message": "Internal Server Error"})
    (error,) = errors.entries
    assert "Runtime exited: SystemExit(3)" in error.error
    response, _ = gateway.handle(req("GET", "/callback/next"))
    assert (response.status, response.body) == (200, b"answered")


def test_no_free_container_within_the_integration_timeout_is_a_503_then_it_serves_again(
    tmp_path: Path,
) -> None:
    """Every container stuck in a handler: API Gateway's integration timeout (503), not a
    request waiting for a container forever."""
    release = threading.Event()
    gateway, errors = slow_gateway(tmp_path, release, timeout=0.5)
    try:
        assert gateway.handle(req("GET", "/callback/hang"))[0].status == 500  # the container stays busy
        response, _ = gateway.handle(req("GET", "/callback/queued"))
        assert (response.status, json.loads(response.body)) == (503, {"message": "Service Unavailable"})
        assert len(errors.entries) == 2
        assert "no container of SlowFunction free within 0.5 s" in errors.entries[1].error
    finally:
        release.set()
    response, _ = gateway.handle(req("GET", "/callback/next"))
    assert (response.status, response.body) == (200, b"answered")


# --- the stack over HTTP (stand-in functions) ---------------------------------------------------


def echo_events(stack: LocalHub) -> list[dict]:
    return stack.handlers["EchoFunction"].__globals__["EVENTS"]  # type: ignore[attr-defined, no-any-return]


def test_stack_serves_the_function_with_its_environment(standin_stack: LocalHub) -> None:
    status, headers, body, raw_headers = request(
        standin_stack, "GET", f"/callback/{TOKEN}?cmd=agentstate&agentid=100001&agentid=2"
    )
    assert status == 201
    assert headers["X-Echo"] == "1"
    assert headers["apigw-requestid"]
    assert [v for k, v in raw_headers if k == "Set-Cookie"] == ["seen=1; Path=/", "other=2"]
    answer = json.loads(body)
    assert answer["events_table"] == "EventsTable"  # Ref to a table -> its name
    assert answer["topic"] == standin_stack.topic_arns["ConfigChangedTopic"]  # Ref to a topic -> ARN
    assert answer["log_level"] == "DEBUG"  # Ref to a parameter -> its default
    assert answer["function"] == "EchoFunction"
    assert 0 < answer["remaining"] <= 10_000
    (event,) = echo_events(standin_stack)
    assert event["queryStringParameters"] == {"cmd": "agentstate", "agentid": "100001,2"}
    assert event["requestContext"]["http"]["sourceIp"] == "127.0.0.1"
    assert event["headers"]["x-forwarded-port"] == str(standin_stack.port)
    env = standin_stack.environment
    assert env["ACD_CALLBACK_TOKENS"] == TOKEN
    assert env["ACD_TOKEN_PARAMETER"] == ""
    assert env["POWERTOOLS_TRACE_DISABLED"] == env["POWERTOOLS_METRICS_DISABLED"] == "true"
    assert os.environ["AWS_ENDPOINT_URL"] == standin_stack.aws_endpoint
    assert standin_stack.errors == []


def test_put_form_and_binary_bodies_reach_the_function_as_api_gateway_sends_them(
    standin_stack: LocalHub,
) -> None:
    form = b"cmd=configchanged&action=edit"
    request(standin_stack, "PUT", "/callback", form, {"Content-Type": "application/x-www-form-urlencoded"})
    request(standin_stack, "POST", "/callback", b"\x00\xff", {"Content-Type": "application/octet-stream"})
    request(standin_stack, "POST", "/callback", b'{"cmd":"x"}', {"Content-Type": "application/json"})
    put, binary, as_json = echo_events(standin_stack)
    assert put["routeKey"] == "PUT /callback"
    assert (put["isBase64Encoded"], base64.b64decode(put["body"])) == (True, form)
    assert (binary["isBase64Encoded"], base64.b64decode(binary["body"])) == (True, b"\x00\xff")
    assert (as_json["isBase64Encoded"], as_json["body"]) == (False, '{"cmd":"x"}')


def test_chunked_request_body_is_read_whole(standin_stack: LocalHub) -> None:
    with socket.create_connection((standin_stack.host, standin_stack.port), timeout=10) as sock:
        sock.sendall(
            b"PUT /callback HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
            b'5\r\n{"a":\r\n4;ext=1\r\n"bc"\r\n1\r\n}\r\n0\r\n\r\n'
        )
        answer = b"".join(iter(lambda: sock.recv(65536), b""))
    assert answer.startswith(b"HTTP/1.1 201")
    assert echo_events(standin_stack)[-1]["body"] == '{"a":"bc"}'


def test_oversized_request_is_refused_unread(standin_stack: LocalHub) -> None:
    with socket.create_connection((standin_stack.host, standin_stack.port), timeout=10) as sock:
        sock.sendall(b"PUT /callback HTTP/1.1\r\nHost: x\r\nContent-Length: 20000000\r\n\r\n")
        answer = b"".join(iter(lambda: sock.recv(65536), b""))  # the server closes the connection
    assert answer.startswith(b"HTTP/1.1 413")
    assert echo_events(standin_stack) == []
    # API Gateway's own JSON message (docs/openapi.yaml's GatewayMessage), not a text page
    head, _, body = answer.partition(b"\r\n\r\n")
    assert b"\r\nContent-Type: application/json\r\n" in head
    assert json.loads(body) == {"message": "Request Entity Too Large"}


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        (b"Content-Length: 20000000\r\n", b"413"),
        (b"Content-Length: abc\r\n", b"400"),
        (b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", b"400"),
    ],
)
def test_a_refused_request_expecting_100_continue_is_answered_at_once(
    standin_stack: LocalHub, headers: bytes, status: bytes
) -> None:
    """The client sends its headers and waits for '100 Continue' before its body: a request
    refused from its headers gets the refusal instead (before, '100 Continue' and then nothing
    until the client gave up)."""
    with socket.create_connection((standin_stack.host, standin_stack.port), timeout=10) as sock:
        sock.sendall(b"PUT /callback HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n" + headers + b"\r\n")
        answer = b""
        with contextlib.suppress(TimeoutError):  # (before: '100 Continue', then nothing)
            while data := sock.recv(65536):  # until the server closes the connection
                answer += data
    assert answer.startswith(b"HTTP/1.1 " + status), answer[:80]
    assert echo_events(standin_stack) == []


def test_a_request_line_and_headers_beyond_10_kb_are_api_gateway_s_414(standin_stack: LocalHub) -> None:
    """API Gateway's quota: request line and header values at most 10,240 bytes together; beyond
    it the gateway answers 414 and the function never sees the request (it was quarantined)."""
    target = f"/callback/{TOKEN}?cmd=agentstate&x="
    for long_target, headers in (
        (target + "a" * 10240, {}),  # a long query
        (f"/callback/{'t' * 10240}", {}),  # a long path, no route needed
        (target + "a", {f"X-Pad-{n}": "p" * 100 for n in range(103)}),  # many headers
    ):
        status, _, body, _ = request(standin_stack, "GET", long_target, headers=headers)
        assert (status, json.loads(body)) == (414, {"message": "Request-URI Too Long"})
    assert echo_events(standin_stack) == []
    status, _, _, _ = request(standin_stack, "GET", target + "a" * 9000)  # within the quota
    assert status == 201


def test_a_body_of_exactly_10_mb_is_within_the_limit(standin_stack: LocalHub) -> None:
    """Waitress refuses a body as long as its limit; API Gateway takes one of 10 MB."""
    body = b"a" * MAX_REQUEST_BYTES
    status, _, _, _ = request(standin_stack, "PUT", "/callback", body, {"Content-Type": "text/plain"})
    assert status == 201
    assert [len(e["body"]) for e in echo_events(standin_stack)] == [MAX_REQUEST_BYTES]


def test_head_answers_headers_only_and_unknown_routes_404_without_invoking(standin_stack: LocalHub) -> None:
    status, headers, body, _ = request(standin_stack, "HEAD", f"/callback/{TOKEN}?cmd=agentstate")
    assert (status, body) == (201, b"")
    assert int(headers["Content-Length"]) > 0  # the length a GET would have had
    for method, target in [("GET", "/nowhere"), ("DELETE", "/callback"), ("GET", "/callback/a/b")]:
        status, _, body, _ = request(standin_stack, method, target)
        assert (status, json.loads(body)) == (404, {"message": "Not Found"})
    assert len(echo_events(standin_stack)) == 1


def test_keep_alive_connection_serves_several_requests(standin_stack: LocalHub) -> None:
    connection = http.client.HTTPConnection(standin_stack.host, standin_stack.port, timeout=10)
    try:
        for index in range(3):
            connection.request("PUT", "/callback", body=f"n={index}", headers={"Content-Type": "text/plain"})
            response = connection.getresponse()
            response.read()
            assert response.status == 201
    finally:
        connection.close()
    assert [e["body"] for e in echo_events(standin_stack)] == ["n=0", "n=1", "n=2"]


def test_handler_exception_is_a_500_and_recorded(
    standin_stack: LocalHub, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="acd_local"):
        status, _, body, _ = request(standin_stack, "GET", "/callback/boom")
    assert (status, json.loads(body)) == (500, {"message": "Internal Server Error"})
    (error,) = standin_stack.errors
    assert (error.function, error.source) == ("EchoFunction", "http")
    assert "RuntimeError: boom" in error.traceback
    assert "RuntimeError: boom" in caplog.text  # the traceback is logged


def test_access_log_never_shows_tokens_or_query_strings(
    standin_stack: LocalHub, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    secret_query = "token=QUERYSECRET&callingnumber=022112345678"
    with caplog.at_level(logging.DEBUG):
        request(standin_stack, "GET", f"/callback/{TOKEN}?{secret_query}")
        request(standin_stack, "PUT", f"/callback?{secret_query}", b"a=1", {"Content-Type": "text/plain"})
        request(standin_stack, "GET", f"/callbak/{TOKEN}?{secret_query}")  # a typo: unknown route
        request(standin_stack, "GET", f"/{TOKEN}")
        with socket.create_connection((standin_stack.host, standin_stack.port), timeout=10) as sock:
            # A malformed request line: the stdlib would log it verbatim.
            sock.sendall(f"GET /callback/{TOKEN}?{secret_query} HTTP/1.1 junk\r\n\r\n".encode())
            sock.recv(65536)
        time.sleep(0.1)
    logged = caplog.text + "".join(capfd.readouterr())
    for secret in (TOKEN, "QUERYSECRET", "022112345678", "?"):
        assert secret not in logged
    # Each line is written once its response is out, so lines of quick requests may swap places.
    access = sorted(r.getMessage() for r in caplog.records if r.name == "acd_local.access")
    assert len(access) == 5
    assert all(line.startswith("127.0.0.1 ") for line in access)
    assert any(line.startswith("127.0.0.1 GET /callback/*** 201 ") and line.endswith("ms") for line in access)
    assert any(line.startswith("127.0.0.1 PUT /callback 201 ") for line in access)
    assert any(line.startswith("127.0.0.1 GET /***/*** 404 ") for line in access)  # the typo
    assert any(line.startswith("127.0.0.1 GET /*** 404 ") for line in access)
    assert any(line.endswith("rejected before routing (400)") for line in access)


def test_stop_restores_the_environment_and_frees_the_ports(tmp_path: Path, moto_server: str) -> None:
    before = dict(os.environ)
    stack = LocalHub(port=0, aws_port=0, tokens=[TOKEN], spec=standin_spec(tmp_path))
    with stack:
        assert os.environ["AWS_ENDPOINT_URL"] == stack.aws_endpoint != moto_server
        assert os.environ["ACD_CALLBACK_TOKENS"] == TOKEN
    assert dict(os.environ) == before
    for port in (stack.port, stack.aws_port):
        with socket.socket() as probe:
            assert probe.connect_ex((stack.host, port)) != 0
    stack.stop()  # idempotent


def test_tokens_come_from_the_environment_or_are_generated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACD_CALLBACK_TOKENS", "one, two")
    stack = LocalHub(port=0, aws_port=0)
    assert (stack.tokens, stack.tokens_source) == (("one", "two"), "environment")
    monkeypatch.delenv("ACD_CALLBACK_TOKENS")
    generated = LocalHub(port=0, aws_port=0)
    assert generated.tokens_source == "generated"
    assert generated.tokens[0].startswith("local-")
    assert len(generated.tokens[0]) > 12
    assert generated.callback_url == f"http://127.0.0.1:0/callback/{generated.tokens[0]}"
    with pytest.raises(ValueError, match="commas"):
        LocalHub(tokens=["a,b"])


# --- the stream event source mapping --------------------------------------------------------------


def poller_spec(**mapping: Any) -> tuple[StackSpec, StreamMapping]:
    stream_mapping = StreamMapping("StandIn", "EventsTable", **mapping)
    return StackSpec(
        tables={"EventsTable": table_kwargs()}, stream_mappings=(stream_mapping,)
    ), stream_mapping


@pytest.fixture
def run_poller(
    clean_moto: str, aws: AwsClients
) -> Iterator[Callable[..., tuple[StreamPoller, ProvisionedResources]]]:
    started: list[StreamPoller] = []

    def run(
        handler: Callable[[dict], Any],
        items: tuple[str | tuple[str, dict[str, str]], ...] = (),
        **mapping: Any,
    ) -> tuple[StreamPoller, ProvisionedResources]:
        """Create the table, write ``items`` (keys, or (key, attributes)), then start polling:
        batches are then as big as the mapping allows, not as the writes happened to race."""
        spec, stream_mapping = poller_spec(**mapping)
        resources = provision(clean_moto, spec, clients=aws)
        for item in items:
            key, attributes = item if isinstance(item, tuple) else (item, {})
            put_item(aws, key, **attributes)
        poller = StreamPoller(
            stream_mapping,
            handler,
            aws,
            stream_arn=resources.stream_arns["EventsTable"],
            dlq_url=resources.dlq_urls["StandIn"],
            poll_interval=0.05,
            retry_delay=0.001,
        )
        poller.start()
        started.append(poller)
        return poller, resources

    yield run
    for poller in started:
        poller.stop()
        poller.join(5)


def keys_of(event: dict) -> list[str]:
    return [r["dynamodb"]["NewImage"]["pk"]["S"] for r in event["Records"]]


def dlq_messages(aws: AwsClients, url: str) -> list[dict]:
    messages = aws.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(m["Body"]) for m in messages]


def test_poller_delivers_batches_in_lambda_shape(run_poller: Callable, aws: AwsClients) -> None:
    seen: list[dict] = []
    poller, resources = run_poller(seen.append, tuple("abcde"), batch_size=2)
    assert poller.wait_idle(10)
    assert [keys_of(e) for e in seen] == [["a", "b"], ["c", "d"], ["e"]]
    record = seen[0]["Records"][0]
    assert record["eventSourceARN"] == resources.stream_arns["EventsTable"]
    assert record["awsRegion"] == "eu-central-1"  # not moto's us-east-1
    assert record["eventName"] == "INSERT"
    assert record["eventSource"] == "aws:dynamodb"
    assert isinstance(record["dynamodb"]["ApproximateCreationDateTime"], int)
    json.dumps(seen)  # JSON only, like a real event


def test_poller_applies_filter_criteria(run_poller: Callable, aws: AwsClients) -> None:
    seen: list[dict] = []
    patterns = parse_filter_patterns([json.dumps(FANOUT_PATTERN)])
    items = (
        ("a", {"cmd": "agentstate"}),
        ("b", {"cmd": "configchanged"}),
        ("b", {"cmd": "broadcastevent"}),  # an overwrite: MODIFY, filtered out
        ("c", {"cmd": "broadcastevent"}),
    )
    poller, _ = run_poller(seen.append, items, filter_patterns=tuple(patterns))
    assert poller.wait_idle(10)
    assert [keys_of(e) for e in seen] == [["b", "c"]]


def test_poller_retries_from_the_first_reported_failure(run_poller: Callable, aws: AwsClients) -> None:
    calls: list[list[str]] = []
    failures_left = {"b": 2}

    def handler(event: dict) -> dict:
        calls.append(keys_of(event))
        failed = []
        for record in event["Records"]:
            key = record["dynamodb"]["NewImage"]["pk"]["S"]
            if failures_left.get(key, 0) > 0:
                failures_left[key] -= 1
                failed.append({"itemIdentifier": record["dynamodb"]["SequenceNumber"]})
        return {"batchItemFailures": failed}

    poller, resources = run_poller(
        handler, tuple("abc"), batch_size=3, max_retries=5, report_batch_item_failures=True
    )
    assert poller.wait_idle(10)
    assert calls == [["a", "b", "c"], ["b", "c"], ["b", "c"]]
    assert dlq_messages(aws, resources.dlq_urls["StandIn"]) == []


def test_poller_sends_records_to_the_dlq_after_max_retries(run_poller: Callable, aws: AwsClients) -> None:
    calls: list[list[str]] = []

    def handler(event: dict) -> dict:
        calls.append(keys_of(event))
        return {
            "batchItemFailures": [
                {"itemIdentifier": r["dynamodb"]["SequenceNumber"]}
                for r in event["Records"]
                if r["dynamodb"]["NewImage"]["pk"]["S"] == "poison"
            ]
        }

    poller, resources = run_poller(
        handler, ("a", "poison", "c", "d"), batch_size=3, max_retries=2, report_batch_item_failures=True
    )
    assert poller.wait_idle(10)
    # One try and two retries of the poison record, then on with the rest.
    assert calls == [["a", "poison", "c"], ["poison", "c"], ["poison", "c"], ["d"]]
    (message,) = dlq_messages(aws, resources.dlq_urls["StandIn"])
    assert [r["dynamodb"]["NewImage"]["pk"]["S"] for r in message["Records"]] == ["poison"]
    assert message["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert message["requestContext"]["approximateInvokeCount"] == 3
    info = message["DDBStreamBatchInfo"]
    assert info["streamArn"] == resources.stream_arns["EventsTable"]
    assert info["batchSize"] == 2
    assert poller.dead_lettered == 1


def test_poller_treats_an_exception_as_whole_batch_failure_and_bisects(
    run_poller: Callable, aws: AwsClients
) -> None:
    calls: list[list[str]] = []

    def handler(event: dict) -> None:
        keys = keys_of(event)
        calls.append(keys)
        if "bad" in keys:
            raise RuntimeError("cannot handle bad")

    poller, resources = run_poller(handler, ("a", "b", "c", "bad"), batch_size=4, max_retries=3, bisect=True)
    assert poller.wait_idle(10)
    assert calls == [["a", "b", "c", "bad"], ["a", "b"], ["c", "bad"], ["c"], ["bad"], ["bad"]]
    (message,) = dlq_messages(aws, resources.dlq_urls["StandIn"])
    assert [r["dynamodb"]["NewImage"]["pk"]["S"] for r in message["Records"]] == ["bad"]
    assert message["responseContext"]["functionError"] == "Unhandled"


def test_poller_treats_a_handler_s_sys_exit_as_a_failed_batch_and_polls_on(
    run_poller: Callable, aws: AwsClients
) -> None:
    """Lambda: Runtime.ExitError, the batch retried. Before, the SystemExit ended the poller's
    thread: nothing after it was ever delivered."""
    calls: list[list[str]] = []

    def handler(event: dict) -> None:
        calls.append(keys_of(event))
        if len(calls) == 1:
            sys.exit(3)

    poller, _ = run_poller(handler, ("a",), batch_size=1, max_retries=3)
    assert poller.wait_idle(10)
    put_item(aws, "b")
    assert poller.wait_idle(10)
    assert calls == [["a"], ["a"], ["b"]]


def test_poller_without_report_batch_item_failures_ignores_the_answer(
    run_poller: Callable, aws: AwsClients
) -> None:
    calls: list[list[str]] = []

    def handler(event: dict) -> dict:
        calls.append(keys_of(event))
        return {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["dynamodb"]["SequenceNumber"]}]}

    poller, _ = run_poller(handler, ("a",), batch_size=10, report_batch_item_failures=False)
    assert poller.wait_idle(10)
    assert calls == [["a"]]


def test_poller_hides_moto_s_double_insert_of_update_item(run_poller: Callable, aws: AwsClients) -> None:
    seen: list[dict] = []
    poller, _ = run_poller(seen.append)
    aws.dynamodb.update_item(
        TableName="EventsTable",
        Key={"pk": {"S": "u"}, "sk": {"S": "0"}},
        UpdateExpression="SET v = :v",
        ExpressionAttributeValues={":v": {"S": "1"}},
    )
    assert poller.wait_idle(10)
    records = [record for event in seen for record in event["Records"]]
    assert [(r["eventName"], r["dynamodb"]["NewImage"].get("v")) for r in records] == [("INSERT", {"S": "1"})]


def test_poller_stays_with_its_stream_when_the_table_is_recreated(
    run_poller: Callable, aws: AwsClients, clean_moto: str
) -> None:
    seen: list[dict] = []
    poller, _ = run_poller(seen.append)
    put_item(aws, "a")
    assert poller.wait_idle(10)
    reset_moto(clean_moto)
    provision(clean_moto, poller_spec()[0], clients=aws)  # same table name, a new stream
    put_item(aws, "b")
    time.sleep(0.3)
    assert poller.wait_idle(10)
    assert [keys_of(e) for e in seen] == [["a"]]


def test_a_windowed_mapping_names_the_shard_and_needs_the_state_back(
    run_poller: Callable, aws: AwsClients
) -> None:
    """With a tumbling window Lambda names the shard in the event, and an answer without
    ``state`` is a failed invocation (retried, then dead-lettered like any failure)."""
    seen: list[dict] = []

    def forgetful(event: dict) -> dict:
        seen.append(event)
        return {"batchItemFailures": []}  # no state

    poller, resources = run_poller(forgetful, ("a",), tumbling_window=900, max_retries=1)
    assert poller.wait_idle(10)
    shards = aws.streams.describe_stream(StreamArn=resources.stream_arns["EventsTable"])
    shard_ids = {shard["ShardId"] for shard in shards["StreamDescription"]["Shards"]}
    assert {event["shardId"] for event in seen} <= shard_ids
    assert all(event["state"] == {} and event["window"]["start"] < event["window"]["end"] for event in seen)
    assert len(seen) == 2, "the answer without state failed: tried again, then given up"
    assert poller.dead_lettered == 1


@pytest.mark.parametrize(
    ("response", "retry_from", "failed"),
    [
        (None, None, set()),
        ({}, None, set()),
        ({"batchItemFailures": []}, None, set()),
        ({"batchItemFailures": None}, None, set()),
        ({"batchItemFailures": [{"itemIdentifier": "3"}, {"itemIdentifier": "2"}]}, 1, {"2", "3"}),
        ({"batchItemFailures": [{"itemIdentifier": ""}]}, 0, {"1", "2", "3"}),
        ({"batchItemFailures": [{"itemIdentifier": "99"}]}, 0, {"1", "2", "3"}),
        ({"batchItemFailures": [{"wrong": "2"}]}, 0, {"1", "2", "3"}),
        ("not an object", 0, {"1", "2", "3"}),
    ],
)
def test_batch_outcome_reads_partial_batch_responses_like_lambda(
    response: Any, retry_from: int | None, failed: set[str]
) -> None:
    records = [{"dynamodb": {"SequenceNumber": str(n)}} for n in (1, 2, 3)]
    outcome = batch_outcome(records, response, report_failures=True)
    assert (outcome.retry_from, set(outcome.failed)) == (retry_from, failed)
    if isinstance(response, dict):  # with a tumbling window, the same answer plus its state
        windowed = batch_outcome(records, {**response, "state": {}}, report_failures=True, windowed=True)
        assert (windowed.retry_from, set(windowed.failed)) == (retry_from, failed)
    without_state = batch_outcome(records, response, report_failures=True, windowed=True)
    assert (without_state.retry_from, set(without_state.failed)) == (0, {"1", "2", "3"})


def test_stream_record_conversion_makes_json() -> None:
    created = datetime(2026, 11, 20, 9, 0, 1, 500000, tzinfo=UTC)
    raw = {
        "eventName": "INSERT",
        "awsRegion": "us-east-1",
        "dynamodb": {
            "ApproximateCreationDateTime": created,
            "NewImage": {"blob": {"B": b"\x00\x01"}, "set": {"BS": [b"\xff"]}},
            "SequenceNumber": "1",
        },
    }
    record = lambda_stream_record(raw, "arn:stream", "eu-central-1")
    assert record["dynamodb"]["ApproximateCreationDateTime"] == int(created.timestamp())  # epoch seconds
    assert record["dynamodb"]["NewImage"] == {"blob": {"B": "AAE="}, "set": {"BS": ["/w=="]}}
    assert (record["awsRegion"], record["eventSourceARN"]) == ("eu-central-1", "arn:stream")


# --- the stack's stream consumers and subscriber (stand-ins) ----------------------------------------


def consumer_batches(root: Path) -> list[dict]:
    path = root / "batches.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_stack_feeds_consumers_and_dead_letters(standin_stack: LocalHub, tmp_path: Path) -> None:
    aws = standin_stack.clients()
    for key in ("a", "b", "c"):
        put_item(aws, key)
    put_item(aws, "x", fail="always")
    standin_stack.wait_for_stream_idle(10)
    seen = consumer_batches(tmp_path)
    assert {batch["function"] for batch in seen} == {"ConsumerFunction"}
    batches = [batch["keys"] for batch in seen]
    # How the writes fall into batches depends on timing; what each record went through does not.
    delivered = [key for batch in batches for key in batch]
    assert sorted(delivered) == ["a", "b", "c", "x", "x"]  # x: a try and max_retries=1 retry
    assert all(len(batch) <= 3 for batch in batches)
    messages = aws.sqs.receive_message(QueueUrl=standin_stack.dlq_urls["ConsumerFunction"]).get(
        "Messages", []
    )
    assert len(messages) == 1
    assert standin_stack.errors == []


def test_local_subscriber_prints_the_fan_out(
    standin_stack: LocalHub, caplog: pytest.LogCaptureFixture
) -> None:
    aws = standin_stack.clients()
    body = {"schema": "acd-callback-hub/event", "version": 1, "cmd": "configchanged", "event_key": "h-1"}
    with caplog.at_level(logging.INFO, logger="acd_local.subscriber"):
        aws.sns.publish(
            TopicArn=standin_stack.topic_arns["ConfigChangedTopic"],
            Message=json.dumps(body),
            MessageAttributes={
                "cmd": {"DataType": "String", "StringValue": "configchanged"},
                "type": {"DataType": "String", "StringValue": "agent"},
            },
        )
        deadline = time.monotonic() + 10
        while not standin_stack.fanout_messages and time.monotonic() < deadline:
            time.sleep(0.05)
    (note,) = standin_stack.fanout_messages
    assert (note.topic, note.attributes, note.body) == (
        "ConfigChangedTopic",
        {"cmd": "configchanged", "type": "agent"},
        body,
    )
    assert (
        "fan-out ConfigChangedTopic: cmd=configchanged type=agent | body cmd=configchanged event_key=h-1"
        in (caplog.text)
    )


def test_fanout_description_tolerates_odd_messages() -> None:
    assert describe_fanout("T", "not json").body == "not json"
    note = describe_fanout("T", json.dumps({"Message": "plain text"}))
    assert (note.attributes, note.body) == ({}, "plain text")
    assert format_fanout(note) == "fan-out T: cmd=?"


# --- the real ingest handler ---------------------------------------------------------------------


def test_real_ingest_round_trip(moto_server: str) -> None:
    if not (REPO / "functions" / "ingest" / "app.py").is_file():
        pytest.fail("functions/ingest/app.py is missing")
    try:
        spec = StackSpec.load()
    except (ImportError, FileNotFoundError) as exc:
        pytest.fail(f"template not readable: {exc}")
    with LocalHub(port=0, aws_port=0, tokens=[TOKEN], spec=spec, local_subscriber=False) as stack:
        eventtime = int(time.time() * 1000)
        query = f"cmd=agentstate&agentid=100001&mode=0&state=online&eventtime={eventtime}"
        status, _, body, _ = request(stack, "GET", f"/callback/{TOKEN}?{query}")
        assert status == 200, body
        stored = json.loads(body)
        assert stored["cmd"] == "agentstate"
        status, _, body, _ = request(stack, "HEAD", f"/callback/{TOKEN}?{query}")
        assert (status, body) == (200, b"")
        status, _, _, _ = request(stack, "GET", f"/callback/wrong-token?{query}")
        assert status == 401
        items = stack.clients().dynamodb.scan(TableName="EventsTable")["Items"]
        assert any(item.get("event_key", {}).get("S") == stored["event_key"] for item in items)
        stack.wait_for_stream_idle(10)
        assert stack.errors == []


# --- the endpoint is a strict, well-kept HTTP server (issue 8, item 7) ------------------------------


def raw_exchange(stack: LocalHub, data: bytes) -> bytes:
    with socket.create_connection((stack.host, stack.port), timeout=10) as sock:
        sock.sendall(data)
        return b"".join(iter(lambda: sock.recv(65536), b""))


@pytest.mark.parametrize("size", [b"-1", b"0x5", b"+5", b" 5"])
def test_chunk_sizes_that_are_not_plain_hex_are_refused(standin_stack: LocalHub, size: bytes) -> None:
    answer = raw_exchange(
        standin_stack,
        b"PUT /callback HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        + size
        + b"\r\nhello\r\n0\r\n\r\n",
    )
    assert answer.startswith(b"HTTP/1.1 400"), answer[:80]
    assert echo_events(standin_stack) == []


def test_a_client_hanging_up_mid_request_causes_nothing(standin_stack: LocalHub) -> None:
    for partial in (
        f"GET /callback/{TOKEN}?cmd=agentstate HTTP/1.1\r\nHost: x\r\n".encode(),  # headers unfinished
        b"PUT /callback HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc",  # body unfinished
    ):
        with socket.create_connection((standin_stack.host, standin_stack.port), timeout=10) as sock:
            sock.sendall(partial)
    status, _, _, _ = request(standin_stack, "GET", f"/callback/{TOKEN}?after=1")
    assert status == 201
    time.sleep(0.3)
    assert [e["rawQueryString"] for e in echo_events(standin_stack)] == ["after=1"]


def test_the_listen_backlog_holds_a_burst(standin_stack: LocalHub) -> None:
    # ss shows a listening socket's backlog as its Send-Q.
    shown = subprocess.run(
        ["ss", "-ltnH", f"sport = :{standin_stack.port}"], capture_output=True, text=True, check=True
    ).stdout.split()
    assert int(shown[2]) >= 128, shown


def test_100_concurrent_connections_are_all_answered(standin_stack: LocalHub) -> None:
    barrier = threading.Barrier(100)
    answers: list[int] = []

    def client(n: int) -> None:
        connection = http.client.HTTPConnection(standin_stack.host, standin_stack.port, timeout=30)
        try:
            connection.connect()
            barrier.wait(10)  # all connected before any request goes out
            connection.request("GET", f"/callback/{TOKEN}?n={n}")
            response = connection.getresponse()
            response.read()
            answers.append(response.status)
        finally:
            connection.close()

    # A connection left waiting in the backlog is one without an answer: its client gives up
    # after 30 s (how long it takes otherwise is the bench's business, not a test's).
    threads = [threading.Thread(target=client, args=(n,)) for n in range(100)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert answers == [201] * 100
    assert len(echo_events(standin_stack)) == 100


# --- the stream consumers run in processes of their own --------------------------------------------


def test_stack_reports_the_stream_lag_of_each_consumer(standin_stack: LocalHub, tmp_path: Path) -> None:
    aws = standin_stack.clients()
    standin_stack.pause_consumers()
    try:
        for key in ("a", "b", "c", "d"):
            put_item(aws, key)
        deadline = time.monotonic() + 10
        while (
            standin_stack.stream_lag()["ConsumerFunction"].records_behind < 4 and time.monotonic() < deadline
        ):
            time.sleep(0.1)
        time.sleep(1.0)
        lag = standin_stack.stream_lag()["ConsumerFunction"]
        assert lag.records_behind == 4
        assert lag.oldest_age_seconds is not None
        assert lag.oldest_age_seconds >= 1.0
        assert "4 behind" in standin_stack.stream_status()
        assert consumer_batches(tmp_path) == []  # paused: nothing handled
    finally:
        standin_stack.resume_consumers()
    standin_stack.wait_for_stream_idle(10)
    deadline = time.monotonic() + 5
    while standin_stack.stream_lag()["ConsumerFunction"].records_behind and time.monotonic() < deadline:
        time.sleep(0.1)
    assert standin_stack.stream_lag()["ConsumerFunction"].records_behind == 0
    assert sorted(k for batch in consumer_batches(tmp_path) for k in batch["keys"]) == ["a", "b", "c", "d"]


# --- the data folder's journal, written inside moto ------------------------------------------------


def test_the_journal_of_moto_s_writes_folds_into_what_the_tables_hold(
    aws_resources: ProvisionedResources, aws: AwsClients, tmp_path: Path
) -> None:
    from botocore.exceptions import ClientError  # noqa: PLC0415

    from acd_devkit import moto_fixes  # noqa: PLC0415
    from acd_local import state as local_state  # noqa: PLC0415

    db = aws.dynamodb
    events, reports = aws_resources.table_names["EventsTable"], aws_resources.table_names["ReportsTable"]

    def key(pk: str, sk: str = "s") -> dict[str, Any]:
        return {"pk": {"S": pk}, "sk": {"S": sk}}

    journal = local_state.Journal(tmp_path, 0, segment_bytes=2_000)  # several segments
    moto_fixes.observe_writes(local_state.MotoRecorder(journal))
    try:
        db.put_item(TableName=events, Item={**key("a"), "blob": {"B": b"\x00\xff"}, "n": {"N": "1.50"}})
        db.put_item(TableName=events, Item={**key("b"), "v": {"S": "1"}})
        with pytest.raises(ClientError):  # refused by its condition: changes nothing
            db.put_item(TableName=events, Item=key("a"), ConditionExpression="attribute_not_exists(pk)")
        db.update_item(  # creates its item (moto's double INSERT)
            TableName=reports,
            Key=key("c"),
            UpdateExpression="ADD n :one",
            ExpressionAttributeValues={":one": {"N": "1"}},
        )
        db.update_item(
            TableName=reports,
            Key=key("c"),
            UpdateExpression="ADD n :one",
            ExpressionAttributeValues={":one": {"N": "1"}},
        )
        db.delete_item(TableName=events, Key=key("b"))
        db.batch_write_item(
            RequestItems={
                events: [
                    {"PutRequest": {"Item": {**key(f"batch-{n}"), "v": {"S": "x" * 100}}}} for n in range(20)
                ]
                + [{"DeleteRequest": {"Key": key("a")}}]
            }
        )
        db.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": reports, "Item": {**key("t"), "v": {"S": "1"}}}},
                {
                    "Update": {
                        "TableName": reports,
                        "Key": key("c"),
                        "UpdateExpression": "SET m = :m",
                        "ExpressionAttributeValues": {":m": {"S": "y"}},
                    }
                },
                {"Delete": {"TableName": events, "Key": key("batch-0")}},
            ]
        )
        with pytest.raises(ClientError):  # cancelled: one condition fails, nothing is written
            db.transact_write_items(
                TransactItems=[
                    {"Put": {"TableName": reports, "Item": key("never")}},
                    {
                        "ConditionCheck": {
                            "TableName": reports,
                            "Key": key("t"),
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    },
                ]
            )
    finally:
        moto_fixes.observe_writes(None)
        journal.close()

    assert len(local_state.segments(tmp_path)) > 1
    state, _ = local_state.fold(tmp_path, {events: ["pk", "sk"], reports: ["pk", "sk"]})
    for table in (events, reports):
        scanned = [local_state.wire(i) for i in db.scan(TableName=table, ConsistentRead=True)["Items"]]
        held = {local_state.key_string({"pk": i["pk"], "sk": i["sk"]}): i for i in scanned}
        assert state.tables.get(table, {}) == held, table
    assert "never" not in json.dumps(state.tables)
    # Every stream record moto made is journaled, in order, with its image.
    shard = aws.streams.describe_stream(StreamArn=aws_resources.stream_arns["EventsTable"])[
        "StreamDescription"
    ]["Shards"][0]["ShardId"]
    iterator = aws.streams.get_shard_iterator(
        StreamArn=aws_resources.stream_arns["EventsTable"], ShardId=shard, ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    streamed = aws.streams.get_records(ShardIterator=iterator, Limit=1000)["Records"]
    journaled = [
        entry["record"]
        for _, path in local_state.segments(tmp_path)
        for entry in local_state.read_segment(path)
        if entry["t"] == "rec" and entry["table"] == events
    ]
    assert [r["dynamodb"]["SequenceNumber"] for r in journaled] == [
        r["dynamodb"]["SequenceNumber"] for r in streamed
    ]
    assert journaled[0]["dynamodb"]["NewImage"]["blob"] == {"B": "AP8="}
