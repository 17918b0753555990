"""End to end: duplicates, bad input of every kind, authentication, SNS fan-out, and what
reaches the logs — all through real HTTP requests to acd-local."""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import pytest
from click.testing import CliRunner

from acd_cli.report_cli import cli
from acd_local.hub import LocalHub
from tests.e2e.conftest import E2E_ROTATED_TOKEN, E2E_TOKEN
from tests.e2e.test_callbacks import get, report, send

NOW_MS = int(datetime.now(UTC).timestamp() * 1000)
PHONE = "+492212601599"


def agentstate(**overrides: str) -> dict[str, str]:
    return {
        "cmd": "agentstate",
        "agentid": "100777",
        "mode": "0",
        "state": "connected",
        "eventtime": str(NOW_MS),
        "callingnumber": PHONE,
        "taskid": "abc123",
        **overrides,
    }


def test_the_same_event_three_times_is_stored_once(local_stack: LocalHub) -> None:
    params = agentstate(eventtime=str(NOW_MS + 1))
    answers = [get(local_stack, params) for _ in range(3)]
    assert [(s, b["status"]) for s, b in answers] == [(200, "stored"), (200, "duplicate"), (200, "duplicate")]
    # by PUT with a form body and the names in other case: still the same event
    body = urlencode({k.upper(): v for k, v in params.items()}).encode()
    status, _, raw = send(
        local_stack, "PUT", f"/callback/{E2E_TOKEN}", body, "application/x-www-form-urlencoded"
    )
    assert (status, json.loads(raw)["status"]) == (200, "duplicate")
    day = answers[0][1]["day"]
    events = report(local_stack, "events", "--agent", "100777", "--day", day)
    assert [e["event_key"] for e in events].count(answers[0][1]["event_key"]) == 1


BAD_INPUT = [
    ({"agentid": "100001"}, "cmd"),
    ({"cmd": "lunch"}, "cmd"),
    (agentstate(agentid="12345"), "agentid"),
    (agentstate(mode="2"), "mode"),
    (agentstate(state="asleep"), "state"),
    (agentstate(eventtime="yesterday"), "eventtime"),
    (agentstate(taskid="not-hex"), "taskid"),
    (
        {"cmd": "callevent", "id": "1", "taskid": "ab", "eventtype": "Ringing", "eventtime": "1763629200000"},
        "eventtype",
    ),
    (
        {"cmd": "schedulecallevent", "scheduleid": "1", "eventtime": "1763629200000", "timefrom": "25:00"},
        "timefrom",
    ),
    ({"cmd": "configchanged", "type": "agent", "eventtime": "1763629200000"}, "action"),
]


@pytest.mark.parametrize(
    ("params", "parameter"), BAD_INPUT, ids=[b[1] + str(i) for i, b in enumerate(BAD_INPUT)]
)
def test_bad_input_is_a_named_400_and_kept(
    local_stack: LocalHub, params: dict[str, str], parameter: str
) -> None:
    status, body = get(local_stack, params)
    assert status == 400
    assert parameter in [e["parameter"] for e in body["errors"]]
    day = datetime.now(local_stack_zone()).date().isoformat()
    kept = {r["request_id"]: r for r in report(local_stack, "rejected", "--day", day)}
    assert body["request_id"] in kept
    assert parameter in kept[body["request_id"]]["reason"]
    assert E2E_TOKEN not in json.dumps(kept[body["request_id"]])


def test_bad_bodies_are_400_and_kept(local_stack: LocalHub) -> None:
    for body, content_type in (
        (b"{broken", "application/json"),
        (b"<x/>", "application/xml"),
        (b"[1]", "application/json"),
    ):
        status, _, raw = send(local_stack, "PUT", f"/callback/{E2E_TOKEN}", body, content_type)
        assert status == 400
        assert json.loads(raw)["errors"][0]["parameter"] in ("body", "content-type")


def local_stack_zone() -> Any:
    from zoneinfo import ZoneInfo  # noqa: PLC0415

    return ZoneInfo("Europe/Berlin")


@pytest.mark.parametrize(
    "target",
    [
        "/callback?{q}",
        "/callback/wrong-token?{q}",
        "/callback?{q}&token=wrong",
        "/callback/?{q}",
    ],
)
def test_requests_without_a_valid_token_are_401(local_stack: LocalHub, target: str) -> None:
    status, headers, body = send(local_stack, "GET", target.format(q=urlencode(agentstate())))
    assert status == 401
    assert json.loads(body)["error"] == "unauthorized"
    assert "www-authenticate" in headers


@pytest.mark.parametrize("method", ["GET", "HEAD", "PUT", "POST"])
def test_an_empty_token_gets_the_hint_a_missing_token_gets(local_stack: LocalHub, method: str) -> None:
    query = urlencode(agentstate())
    missing = send(local_stack, method, f"/callback?{query}")
    empty = send(local_stack, method, f"/callback/?{query}")
    assert missing[0] == empty[0] == 401
    if method != "HEAD":
        assert json.loads(empty[2])["token"] == json.loads(missing[2])["token"]
        assert "/callback/<token>" in json.loads(empty[2])["token"]["path"]
    # Any other path is still a 404, now the ingest's own.
    assert send(local_stack, method, "/elsewhere")[0] == 404


def test_both_rotation_tokens_and_the_query_token_are_accepted(local_stack: LocalHub) -> None:
    assert get(local_stack, agentstate(eventtime=str(NOW_MS + 2)), token=E2E_ROTATED_TOKEN)[0] == 200
    params = urlencode({**agentstate(eventtime=str(NOW_MS + 3)), "token": E2E_TOKEN})
    assert send(local_stack, "GET", f"/callback?{params}")[0] == 200
    # the ACD appends its own "?..." to a URL that already carries ?token=
    appended = f"/callback?token={E2E_TOKEN}?{urlencode(agentstate(eventtime=str(NOW_MS + 4)))}"
    assert send(local_stack, "GET", appended)[0] == 200


def test_head_answers_have_no_body(local_stack: LocalHub) -> None:
    status, _, body = send(
        local_stack, "HEAD", f"/callback/{E2E_TOKEN}?{urlencode(agentstate(eventtime=str(NOW_MS + 5)))}"
    )
    assert (status, body) == (200, b"")
    status, _, body = send(local_stack, "HEAD", f"/callback/{E2E_TOKEN}?cmd=nope")
    assert (status, body) == (400, b"")


def receive_until(
    stack: LocalHub, queue_url: str, event_key: str, timeout: float = 20
) -> list[dict[str, Any]]:
    """Drain the subscriber queue until the message of ``event_key`` is in (or time is up)."""
    sqs = stack.clients().sqs
    messages: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for message in sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
            "Messages", []
        ):
            messages.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        if any(json.loads(m["Message"])["event_key"] == event_key for m in messages):
            break
    return messages


def test_config_and_broadcast_reach_their_topic_subscribers(local_stack: LocalHub) -> None:
    config = {
        "cmd": "configchanged",
        "action": "edit",
        "type": "hotline",
        "customerNumber": "4711",
        "eventtime": str(NOW_MS + 6),
    }
    broadcast = {
        "cmd": "broadcastevent",
        "groupid": "12",
        "message": "Grüße an alle",
        "admin": "Jörg",
        "eventtime": str(NOW_MS + 7),
    }
    keys = {
        "configchanged": get(local_stack, config)[1]["event_key"],
        "broadcastevent": get(local_stack, broadcast)[1]["event_key"],
    }
    get(local_stack, config)  # a duplicate publishes nothing
    queues = local_stack.subscriber_queue_urls
    for topic, cmd in (("ConfigChangedTopic", "configchanged"), ("BroadcastTopic", "broadcastevent")):
        found = [
            m
            for m in receive_until(local_stack, queues[topic], keys[cmd])
            if json.loads(m["Message"])["event_key"] == keys[cmd]
        ]
        assert len(found) == 1, topic
        assert found[0]["MessageAttributes"]["cmd"]["Value"] == cmd
        if cmd == "broadcastevent":
            assert json.loads(found[0]["Message"])["event"]["message"] == "Grüße an alle"
    local_stack.wait_for_stream_idle(20)
    time.sleep(0.5)
    leftovers = [
        json.loads(m["Message"])["event_key"]
        for m in receive_until(local_stack, queues["ConfigChangedTopic"], "none", timeout=2)
    ]
    assert keys["configchanged"] not in leftovers


def test_no_log_line_holds_the_token_or_a_full_phone_number(
    local_stack: LocalHub, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    get(local_stack, agentstate(eventtime=str(NOW_MS + 8)))
    get(local_stack, agentstate(agentid="1"))  # rejected: logged too
    get(local_stack, agentstate(), token="wrong-token-value")
    send(
        local_stack,
        "PUT",
        f"/callback/{E2E_TOKEN}",
        urlencode(agentstate(eventtime=str(NOW_MS + 9))).encode(),
        "application/x-www-form-urlencoded",
    )
    local_stack.wait_for_stream_idle(20)
    out, err = capfd.readouterr()
    logged = (
        out
        + err
        + "\n".join(
            r.getMessage() + json.dumps(getattr(r, "__dict__", {}), default=str) for r in caplog.records
        )
    )
    assert "callback" in logged  # the access log and the handler did log something
    for secret in (E2E_TOKEN, "wrong-token-value", PHONE, PHONE.lstrip("+"), "2212601599"):
        assert secret not in logged, secret


# --- what hostile input found (issue 8) ---------------------------------------------------------


def kept_request(stack: LocalHub, request_id: str) -> dict[str, Any]:
    """The quarantined item of ``request_id``, every attribute (a test may scan)."""
    from boto3.dynamodb.types import TypeDeserializer  # noqa: PLC0415

    table = stack.table_names["EventsTable"]
    items = stack.clients().dynamodb.scan(
        TableName=table,
        FilterExpression="request_id = :id",
        ExpressionAttributeValues={":id": {"S": request_id}},
    )["Items"]
    assert len(items) == 1, items
    return {k: TypeDeserializer().deserialize(v) for k, v in items[0].items()}


@pytest.mark.parametrize(
    "query",
    [
        "cmd=callevent&id=1&taskid=ab&eventtype=CallStart&eventtime=0001-01-01T00:00:00%2B14:00",
        "cmd=callevent&id=1&taskid=ab&eventtype=CallStart&eventtime=9999-12-31T23:59:59-05:00",
        "cmd=recordedcall&taskid=ab&eventtime=0001-01-01%2000:30:00",
        "cmd=schedulecallevent&scheduleid=1&eventtime=1796130000000&nextretrystartdate=0001-01-01%2000:00",
    ],
)
def test_times_outside_datetimes_range_are_a_400_and_kept(local_stack: LocalHub, query: str) -> None:
    status, _, raw = send(local_stack, "GET", f"/callback/{E2E_TOKEN}?{query}")
    body = json.loads(raw)
    assert status == 400, body
    assert "2000..2100" in body["errors"][0]["message"]
    assert kept_request(local_stack, body["request_id"])["status"] == 400


def test_text_the_store_refuses_is_a_400_not_a_503(local_stack: LocalHub) -> None:
    payload = (
        b'{"cmd":"configchanged","action":"a","type":"agent","eventtime":"1796130000000","note":"\\ud800"}'
    )
    status, headers, raw = send(local_stack, "PUT", f"/callback/{E2E_TOKEN}", payload, "application/json")
    assert (status, "retry-after" in headers) == (400, False), raw
    body = json.loads(raw)
    assert body["errors"][0]["parameter"] == "note"
    assert "\\ud800" in kept_request(local_stack, body["request_id"])["body"]


def test_a_windows_1252_form_keeps_no_token(local_stack: LocalHub) -> None:
    import base64  # noqa: PLC0415

    form = b"token=" + E2E_TOKEN.encode() + b"&cmd=agentstate&agentid=1&hotline=M\xfcller"
    status, _, raw = send(local_stack, "PUT", "/callback", form, "application/x-www-form-urlencoded")
    assert status == 400
    kept = kept_request(local_stack, json.loads(raw)["request_id"])
    assert base64.b64decode(kept["body_base64"]).startswith(b"token=***&cmd=agentstate")
    assert E2E_TOKEN not in json.dumps(kept, default=str)


@pytest.mark.parametrize("name", ["%74oken", "+token", "token%20", "TOKEN"])
def test_an_encoded_token_name_is_redacted_as_it_authenticates(local_stack: LocalHub, name: str) -> None:
    status, _, raw = send(local_stack, "GET", f"/callback?{name}={E2E_TOKEN}&cmd=agentstate&agentid=1")
    assert status == 400
    kept = kept_request(local_stack, json.loads(raw)["request_id"])
    assert kept["query"].startswith(f"{name}=***&")
    assert E2E_TOKEN not in json.dumps(kept, default=str)


def test_an_event_key_is_stored_once_and_a_conflict_is_a_409(local_stack: LocalHub) -> None:
    first = {
        "cmd": "callevent",
        "id": "5500002",
        "taskid": "ab02e8",
        "eventtype": "CallStart",
        "mode": "0",
        "eventtime": str(NOW_MS + 20),
    }
    assert get(local_stack, first)[1]["status"] == "stored"
    assert get(local_stack, first)[1]["status"] == "duplicate"
    for conflicting in (
        {**first, "eventtype": "CallEnd", "eventtime": str(NOW_MS + 5020)},
        {**first, "taskid": "ab02e9"},
    ):
        status, body = get(local_stack, conflicting)
        assert (status, body["error"]) == (409, "conflict")
        assert kept_request(local_stack, body["request_id"])["status"] == 409
    assert [e["event_key"] for e in report(local_stack, "events", "--call", "ab02e8")] == ["ce-5500002"]
    taskid_changed = CliRunner().invoke(
        cli, ["--endpoint-url", local_stack.aws_endpoint, "events", "--call", "ab02e9", "--format", "json"]
    )
    assert "No events found" in taskid_changed.output


def test_an_unencoded_plus_in_the_query_is_a_plus(local_stack: LocalHub) -> None:
    query = urlencode(agentstate(eventtime=str(NOW_MS + 21), taskid="abc124")).replace(
        "callingnumber=%2B", "callingnumber=+"
    )
    status, _, raw = send(local_stack, "GET", f"/callback/{E2E_TOKEN}?{query}")
    assert status == 200, raw
    (event,) = report(local_stack, "events", "--call", "abc124")
    assert event["data"]["callingnumber"]["e164"] == PHONE
