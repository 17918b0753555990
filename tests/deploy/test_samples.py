"""Every file in events/ through the deployed functions, answered as ``make sam-local-test``
expects it of ``sam local invoke`` (tools/sam_local/check.py), and the fan-out of
configchanged/broadcastevent reaching an SQS subscriber of each topic with its attributes, also
when ``acd-admin redrive fanout`` republishes them from the fan-out's failures bucket.

The functions are invoked by the Lambda API with the file as the payload, as ``sam local
invoke -e`` does; the ingest reads its tokens from SSM (the samples carry the documented local
token, which the parameter holds beside the run's own) under its execution role.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from acd_deploy.stack import DeployedStack
from acd_devkit import sample_events
from acd_hub.fanout import FANOUT_CMDS, fanout_message
from sam_local.check import expected_bad_parameters
from tests.deploy.conftest import admin, on_failure_record, stream_insert

EVENTS = Path(__file__).resolve().parents[2] / "events"
INGEST = sorted((EVENTS / "ingest").glob("*.json"))
FANOUT = sorted((EVENTS / "fanout").glob("*.json"))
TOPIC_OUTPUTS = {"configchanged": "ConfigChangedTopicArn", "broadcastevent": "BroadcastTopicArn"}
DELIVERY_TIMEOUT = 60.0


def invoke(stack: DeployedStack, logical_id: str, payload: bytes) -> Any:
    answer = stack.clients.lambda_.invoke(
        FunctionName=stack.resources[logical_id], Payload=payload, LogType="None"
    )
    body = answer["Payload"].read()
    assert "FunctionError" not in answer, f"{logical_id} failed: {body[:500]!r}"
    return json.loads(body)


@pytest.fixture(scope="module")
def subscribers(stack: DeployedStack) -> dict[str, str]:
    """One SQS queue subscribed to each fan-out topic (from the stack's outputs), with the queue
    policy AWS requires for SNS to deliver, before any event is stored."""
    sqs, sns = stack.clients.sqs, stack.clients.sns
    queues = {}
    for cmd, output in TOPIC_OUTPUTS.items():
        topic = stack.outputs[output]
        url = sqs.create_queue(QueueName=f"subscriber-{cmd}")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        policy = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "sns.amazonaws.com"},
                    "Action": "sqs:SendMessage",
                    "Resource": arn,
                    "Condition": {"ArnEquals": {"aws:SourceArn": topic}},
                }
            ],
        }
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(policy)})
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
        queues[cmd] = url
    return queues


def receive(stack: DeployedStack, queue: str, wanted: set[str]) -> dict[str, list[dict[str, Any]]]:
    """SNS envelopes from ``queue`` by their message's event_key, until every key in ``wanted``
    arrived or the time is up (what arrived is returned either way)."""
    got: dict[str, list[dict[str, Any]]] = {}
    deadline = time.monotonic() + DELIVERY_TIMEOUT
    while time.monotonic() < deadline and not wanted <= set(got):
        messages = stack.clients.sqs.receive_message(
            QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=1
        ).get("Messages", [])
        for message in messages:
            envelope = json.loads(message["Body"])
            got.setdefault(json.loads(envelope["Message"])["event_key"], []).append(envelope)
            stack.clients.sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
    return got


def expected_attributes(item: dict[str, Any]) -> dict[str, str]:
    return {name: value["StringValue"] for name, value in fanout_message(item)[1].items()}


def shown_attributes(envelope: dict[str, Any]) -> dict[str, str]:
    return {name: value["Value"] for name, value in envelope.get("MessageAttributes", {}).items()}


def stored_keys(stack: DeployedStack, item: dict[str, Any]) -> list[str]:
    found = stack.clients.dynamodb.query(
        TableName=stack.outputs["EventsTableName"],
        KeyConditionExpression="pk = :pk AND sk = :sk",
        ExpressionAttributeValues={":pk": {"S": str(item["pk"])}, ":sk": {"S": str(item["sk"])}},
        ConsistentRead=True,
    )["Items"]
    return [i["event_key"]["S"] for i in found]


def quarantined(stack: DeployedStack, request_id: str) -> int:
    pages = stack.clients.dynamodb.get_paginator("scan").paginate(
        TableName=stack.outputs["EventsTableName"],
        FilterExpression="begins_with(pk, :rejected)",
        ExpressionAttributeValues={":rejected": {"S": "REJECTED#"}},
        ConsistentRead=True,
    )
    return sum(1 for page in pages for item in page["Items"] if item["sk"]["S"].endswith(f"#{request_id}"))


@pytest.fixture(scope="module")
def ingest_answers(stack: DeployedStack, subscribers: dict[str, str]) -> dict[str, Any]:
    """Every ingest sample invoked once, in file order (the subscribers exist first)."""
    return {path.stem: invoke(stack, "IngestFunction", path.read_bytes()) for path in INGEST}


@pytest.mark.parametrize("path", INGEST, ids=lambda p: p.stem)
def test_ingest_sample_answers_as_sam_local_expects(
    stack: DeployedStack, ingest_answers: dict[str, Any], path: Path
) -> None:
    name = path.stem
    answer = ingest_answers[name]
    method = name.rsplit("-", 1)[1]
    if name.startswith("bad-"):
        assert answer["statusCode"] == 400, answer
        named = {str(e.get("parameter")) for e in json.loads(answer["body"])["errors"]}
        assert named == expected_bad_parameters(name)
        request_id = json.loads(path.read_text())["requestContext"]["requestId"]
        assert quarantined(stack, request_id) == 1
        return
    assert answer["statusCode"] == 200, answer
    item = sample_events.stored_item(name)
    if method == "head":
        body = answer.get("body") or ""
        assert (base64.b64decode(body) if answer.get("isBase64Encoded") else body.encode()) == b""
    else:
        parsed = json.loads(answer["body"])
        assert parsed["status"] == "stored"
        assert parsed["event_key"] == item["event_key"]
    assert stored_keys(stack, item) == [item["event_key"]]


def test_a_sample_sent_again_is_a_duplicate(stack: DeployedStack, ingest_answers: dict[str, Any]) -> None:
    again = invoke(stack, "IngestFunction", (EVENTS / "ingest" / "callevent-get.json").read_bytes())
    assert again["statusCode"] == 200
    assert json.loads(again["body"])["status"] == "duplicate"


def test_stored_fanout_events_reach_the_subscriber_of_their_topic(
    stack: DeployedStack, subscribers: dict[str, str], ingest_answers: dict[str, Any]
) -> None:
    """Through the stream: the ingest stored them, the FanoutFunction's mapping (its filter)
    published them; each arrives once per store with the attributes the fan-out code gives it."""
    for cmd in FANOUT_CMDS:
        items = {n: sample_events.stored_item(n) for n in ingest_answers if n.startswith(f"{cmd}-")}
        wanted = {str(item["event_key"]) for item in items.values()}
        got = receive(stack, subscribers[cmd], wanted)
        assert wanted <= set(got), f"{cmd}: missing {sorted(wanted - set(got))}"
        for name, item in items.items():
            envelopes = got[str(item["event_key"])]
            assert len(envelopes) == 1, name
            assert envelopes[0]["TopicArn"] == stack.outputs[TOPIC_OUTPUTS[cmd]]
            assert shown_attributes(envelopes[0]) == expected_attributes(item), name


@pytest.mark.parametrize("path", FANOUT, ids=lambda p: p.stem)
def test_fanout_sample_answers_as_sam_local_expects(
    stack: DeployedStack, subscribers: dict[str, str], path: Path, ingest_answers: dict[str, Any]
) -> None:
    record = json.loads(path.read_text())["Records"][0]["dynamodb"]["NewImage"]
    cmd, key = record["cmd"]["S"], record["event_key"]["S"]
    assert invoke(stack, "FanoutFunction", path.read_bytes()) == {"batchItemFailures": []}
    got = receive(stack, subscribers[cmd], {key})
    assert len(got.get(key, [])) == 1, f"{path.name}: {len(got.get(key, []))} messages"


def test_redrive_fanout_republishes_what_its_bucket_keeps(
    stack: DeployedStack, subscribers: dict[str, str], ingest_answers: dict[str, Any]
) -> None:
    """The fan-out's failures go to an S3 bucket (the stack's FanoutFailuresBucketName), which
    keeps the records: ``acd-admin --stack-name redrive fanout`` publishes the stored event again
    to its topic, with the fan-out's attributes, and deletes the object. The object is put
    there in Lambda's shape (the emulator writes nothing to an S3 destination: README)."""
    item = sample_events.stored_item("configchanged-get")
    key = str(item["event_key"])
    bucket = stack.outputs["FanoutFailuresBucketName"]
    found = stream_insert(stack, key)
    s3 = stack.clients.client("s3")
    s3.put_object(
        Bucket=bucket,
        Key=f"aws/lambda/{uuid.uuid4()}/{found['shard']}/failed-batch",
        Body=on_failure_record(stack, "FanoutFunction", found, with_records=True).encode(),
    )

    rows = admin(stack, "redrive", "fanout")

    assert [(row["records"], row["status"]) for row in rows] == [(1, "deleted")], rows
    got = receive(stack, subscribers["configchanged"], {key})
    assert len(got.get(key, [])) == 1, got
    assert shown_attributes(got[key][0]) == expected_attributes(item)
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount", 0) == 0
