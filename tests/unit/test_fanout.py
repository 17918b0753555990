"""Fan-out: message body and attributes, and the stream handler's partial failures."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from acd_devkit.lambda_events import patched_env
from acd_hub.fanout import SnsFanout, fanout_message
from acd_hub.items import event_item
from acd_hub.models import ParseContext, parse_callback
from acd_hub.settings import HubSettings
from acd_local.lambda_runtime import load_handler
from tests.support import FAKE_AWS, FUNCTION_ENVIRONMENT, FUNCTIONS, lambda_context

RECEIVED = datetime(2025, 11, 20, 9, 0, 5, tzinfo=UTC)


def stored(params: dict[str, str]) -> dict[str, Any]:
    settings = HubSettings()
    return event_item(parse_callback(params, ParseContext(settings.acd_zone)), params, settings, RECEIVED)


BROADCAST = {
    "cmd": "broadcastevent",
    "groupid": "12",
    "message": "Bitte alle zur Besprechung – Grüße",
    "admin": "Jörg",
    "customernumber": "4711",
    "eventtime": "1763629200000",
}
CONFIG = {"cmd": "configchanged", "action": "edit", "type": "agent", "eventtime": "1763629200000"}


def test_message_is_versioned_json_with_filterable_attributes() -> None:
    body, attributes = fanout_message(stored(BROADCAST))
    message = json.loads(body)
    assert (message["schema"], message["version"], message["cmd"]) == (
        "acd-callback-hub/event",
        1,
        "broadcastevent",
    )
    assert message["event"]["message"] == "Bitte alle zur Besprechung – Grüße"
    assert message["event_time"] == "2025-11-20T09:00:00.000Z"
    assert attributes["cmd"] == {"DataType": "String", "StringValue": "broadcastevent"}
    assert attributes["groupid"]["StringValue"] == "12"
    assert attributes["customerNumber"] == {"DataType": "Number", "StringValue": "4711"}
    assert attributes["event_key"]["StringValue"] == message["event_key"]
    _, config_attributes = fanout_message(stored(CONFIG))
    assert config_attributes["type"]["StringValue"] == "agent"
    assert "customerNumber" not in config_attributes


@pytest.fixture
def sns(fake_aws: None) -> Iterator[tuple[Any, Any, dict[str, str]]]:
    with mock_aws():
        sns, sqs = boto3.client("sns"), boto3.client("sqs")
        queues = {}
        for name in ("config", "broadcast"):
            topic = sns.create_topic(Name=name)["TopicArn"]
            url = sqs.create_queue(QueueName=f"{name}-sub")["QueueUrl"]
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
                "QueueArn"
            ]
            sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
            queues[name] = (topic, url)
        yield sns, sqs, queues


def test_each_cmd_reaches_its_topic(sns: tuple[Any, Any, dict[str, Any]]) -> None:
    client, sqs, queues = sns
    settings = HubSettings(config_topic_arn=queues["config"][0], broadcast_topic_arn=queues["broadcast"][0])
    fanout = SnsFanout(client, settings)
    assert fanout.publish(stored(CONFIG))
    assert fanout.publish(stored(BROADCAST))
    assert (
        fanout.publish(
            stored({**CONFIG, "cmd": "agentstate"} | {"agentid": "100001", "mode": "0", "state": "online"})
        )
        is None
    )
    for name, cmd in (("config", "configchanged"), ("broadcast", "broadcastevent")):
        (message,) = sqs.receive_message(QueueUrl=queues[name][1], MaxNumberOfMessages=10)["Messages"]
        envelope = json.loads(message["Body"])
        assert envelope["MessageAttributes"]["cmd"]["Value"] == cmd
        assert json.loads(envelope["Message"])["cmd"] == cmd


def test_sns_failure_raises_so_the_record_is_retried(sns: tuple[Any, Any, dict[str, Any]]) -> None:
    client, _, _ = sns
    missing = "arn:aws:sns:eu-central-1:123456789012:gone"
    fanout = SnsFanout(client, HubSettings(config_topic_arn=missing, broadcast_topic_arn=missing))
    with pytest.raises(ClientError):
        fanout.publish(stored(CONFIG))


@pytest.mark.parametrize("event", [{"Records": []}, {}])
def test_an_empty_batch_is_answered_with_no_failures(event: dict[str, Any]) -> None:
    """As the stats function answers it (Powertools' batch processing raises on one)."""
    with patched_env({**FAKE_AWS, **FUNCTION_ENVIRONMENT}):
        handler = load_handler(FUNCTIONS / "fanout", "app.lambda_handler")
        assert handler(event, lambda_context()) == {"batchItemFailures": []}


@pytest.mark.parametrize("function", ["fanout", "stats"])
def test_powertools_log_event_setting_does_not_log_the_stream_records(
    function: str, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    """POWERTOOLS_LOGGER_LOG_EVENT=true (a Powertools switch to debug with) logs the whole event
    unless the function says log_event=False: a stream record's image holds the caller's full
    phone number."""
    caplog.set_level(logging.DEBUG)
    with patched_env({**FAKE_AWS, **FUNCTION_ENVIRONMENT, "POWERTOOLS_LOGGER_LOG_EVENT": "true"}):
        handler = load_handler(FUNCTIONS / function, "app.lambda_handler")
        handler({"Records": [], "image": {"callingnumber": {"S": "+492212601599"}}}, lambda_context())
    logged = caplog.text + capsys.readouterr().out
    assert "2212601599" not in logged
