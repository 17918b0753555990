"""Faults behind the stream, through the running local stack: SNS down (the notification
arrives once it is back, without the ACD resending) and a poison record (reported as a partial
failure, the rest applied, the record in the DLQ after the bounded retries)."""

from __future__ import annotations

import inspect
import json
import time
from datetime import UTC, datetime
from typing import Any

import boto3
from botocore.config import Config

from acd_local.hub import LocalHub
from tests.e2e.test_callbacks import get, report
from tests.e2e.test_ingest_rules import receive_until
from tests.support import agent_state, free_port, poison_item

NOW_MS = int(datetime.now(UTC).timestamp() * 1000)


def _fanout(handler: Any) -> Any:
    """The FanoutFunction container's SnsFanout (module state of the loaded handler)."""
    return inspect.unwrap(handler).__globals__["fanout"]


def break_sns(handler: Any) -> None:
    """Runs in the FanoutFunction's own process: its SNS client now points at a dead port."""
    fanout = _fanout(handler)
    fanout._healthy_client = fanout._client
    fanout._client = dead_sns()


def mend_sns(handler: Any) -> None:
    fanout = _fanout(handler)
    fanout._client = fanout._healthy_client


def dead_sns() -> Any:
    return boto3.client(
        "sns",
        endpoint_url=f"http://127.0.0.1:{free_port()}",
        region_name="eu-central-1",
        config=Config(connect_timeout=0.5, read_timeout=0.5, retries={"max_attempts": 1}),
    )


def test_sns_outage_is_ridden_out_without_the_acd_resending(local_stack: LocalHub) -> None:
    local_stack.in_consumer("FanoutFunction", break_sns)
    try:
        params = {"cmd": "configchanged", "action": "delete", "type": "group", "eventtime": str(NOW_MS + 50)}
        status, answer = get(local_stack, params)
        assert status == 200  # the ACD never waits on SNS
        key = answer["event_key"]
        time.sleep(1.5)  # the fan-out fails and is retried meanwhile
        queue = local_stack.subscriber_queue_urls["ConfigChangedTopic"]
        early = receive_until(local_stack, queue, key, timeout=1)
        assert key not in [json.loads(m["Message"])["event_key"] for m in early]
    finally:
        local_stack.in_consumer("FanoutFunction", mend_sns)
    delivered = receive_until(local_stack, queue, key, timeout=30)
    assert key in [json.loads(m["Message"])["event_key"] for m in delivered]


def test_poison_record_goes_to_the_dlq_and_the_rest_is_applied(local_stack: LocalHub) -> None:
    clients = local_stack.clients()
    table = local_stack.table_names["EventsTable"]
    clients.dynamodb.put_item(TableName=table, Item=poison_item(NOW_MS))
    good = agent_state(NOW_MS + 60, "online", agentid="100998")
    status, answer = get(local_stack, good)
    assert status == 200
    day = answer["day"]
    local_stack.wait_for_stream_idle(120)

    # the rest of the stream was applied
    assert report(local_stack, "agent-timeline", "--agent", "100998", "--day", day)[0]["state"] == "online"
    # the poison record, after the bounded retries, is in the statistics' DLQ (one function
    # runs both aggregators, one mapping: two readers of the stream with the fan-out)
    assert set(local_stack.stream_lag()) == {"FanoutFunction", "StatsFunction"}
    messages = clients.sqs.receive_message(
        QueueUrl=local_stack.dlq_urls["StatsFunction"], MaxNumberOfMessages=10, WaitTimeSeconds=1
    ).get("Messages", [])
    dead = [json.loads(m["Body"]) for m in messages]
    assert any("poison" in json.dumps(d) for d in dead)
