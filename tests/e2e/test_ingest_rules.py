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

from acd_tools.local import LocalStack
from tests.e2e.conftest import E2E_ROTATED_TOKEN, E2E_TOKEN
from tests.e2e.test_callbacks import report, send

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


def get(stack: LocalStack, params: dict[str, str], token: str = E2E_TOKEN) -> tuple[int, Any]:
    status, _, body = send(stack, "GET", f"/callback/{token}?{urlencode(params)}")
    return status, json.loads(body) if body else None


def test_the_same_event_three_times_is_stored_once(local_stack: LocalStack) -> None:
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
    local_stack: LocalStack, params: dict[str, str], parameter: str
) -> None:
    status, body = get(local_stack, params)
    assert status == 400
    assert parameter in [e["parameter"] for e in body["errors"]]
    day = datetime.now(local_stack_zone()).date().isoformat()
    kept = {r["request_id"]: r for r in report(local_stack, "rejected", "--day", day)}
    assert body["request_id"] in kept
    assert parameter in kept[body["request_id"]]["reason"]
    assert E2E_TOKEN not in json.dumps(kept[body["request_id"]])


def test_bad_bodies_are_400_and_kept(local_stack: LocalStack) -> None:
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
def test_requests_without_a_valid_token_are_401(local_stack: LocalStack, target: str) -> None:
    status, headers, body = send(local_stack, "GET", target.format(q=urlencode(agentstate())))
    assert status in (401, 404) if target.startswith("/callback/?") else status == 401
    if status == 401:
        assert json.loads(body)["error"] == "unauthorized"
        assert "www-authenticate" in headers


def test_both_rotation_tokens_and_the_query_token_are_accepted(local_stack: LocalStack) -> None:
    assert get(local_stack, agentstate(eventtime=str(NOW_MS + 2)), token=E2E_ROTATED_TOKEN)[0] == 200
    params = urlencode({**agentstate(eventtime=str(NOW_MS + 3)), "token": E2E_TOKEN})
    assert send(local_stack, "GET", f"/callback?{params}")[0] == 200
    # the ACD appends its own "?..." to a URL that already carries ?token=
    appended = f"/callback?token={E2E_TOKEN}?{urlencode(agentstate(eventtime=str(NOW_MS + 4)))}"
    assert send(local_stack, "GET", appended)[0] == 200


def test_head_answers_have_no_body(local_stack: LocalStack) -> None:
    status, _, body = send(
        local_stack, "HEAD", f"/callback/{E2E_TOKEN}?{urlencode(agentstate(eventtime=str(NOW_MS + 5)))}"
    )
    assert (status, body) == (200, b"")
    status, _, body = send(local_stack, "HEAD", f"/callback/{E2E_TOKEN}?cmd=nope")
    assert (status, body) == (400, b"")


def receive_until(
    stack: LocalStack, queue_url: str, event_key: str, timeout: float = 20
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


def test_config_and_broadcast_reach_their_topic_subscribers(local_stack: LocalStack) -> None:
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
    local_stack: LocalStack, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
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
