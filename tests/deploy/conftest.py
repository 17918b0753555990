"""``make deploy-test``: template.yaml deployed with ``sam build``/``sam deploy`` into MiniStack
(loopback, IAM enforced); the tests here go through the deployed stack only.

Not in the default testpaths (``make test`` does not run it twice). Everything the run writes
(build, emulator state and log, the functions' unpacked code) is under one temporary directory,
removed at the end; a failed run keeps it and says where. SIGTERM unwinds like Ctrl-C, so the
emulator is stopped either way.
"""

from __future__ import annotations

import json
import shutil
import signal
import tempfile
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from acd_deploy import settle
from acd_deploy.emulator import Emulator
from acd_deploy.stack import DeployedStack, deploy, new_token
from acd_deploy.steps import REGION, interrupted
from acd_devkit.lambda_events import TOKEN as SAMPLE_TOKEN
from acd_devkit.stream_mapping import lambda_stream_record
from tests.support import stream_failure_document

SETTLE_TIMEOUT = 300.0


def pytest_configure(config: pytest.Config) -> None:
    signal.signal(signal.SIGTERM, interrupted)


@pytest.fixture(scope="session")
def work_dir(request: pytest.FixtureRequest) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="acd-deploy-test-"))
    yield path
    if request.session.testsfailed:
        print(f"\nthe failed run's logs are kept in {path}")
    else:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def emulator(work_dir: Path) -> Iterator[Emulator]:
    started = Emulator(work_dir / "ministack")
    try:
        started.start()
        yield started
    finally:
        started.stop()


@pytest.fixture(scope="session")
def stack(emulator: Emulator, work_dir: Path) -> DeployedStack:
    """The deployed stack. Two tokens, as while rotating: a new random one for HTTP callbacks,
    and the samples' documented token, which every file in events/ carries in its path."""
    return deploy(emulator, work_dir, [new_token(), SAMPLE_TOKEN])


def connection(stack: DeployedStack) -> tuple[list[str], dict[str, str]]:
    """acd-report/acd-admin's arguments and environment for the deployed stack, as an operator
    runs them: ``--stack-name``, and the emulator as the AWS endpoint with its root key."""
    env = {k: v for k, v in stack.env.items() if k.startswith("AWS_")}
    return ["--stack-name", stack.stack_name], env


@pytest.fixture(scope="session")
def day(stack: DeployedStack, work_dir: Path) -> settle.Sent:
    """The simulated day sent through the deployed HTTP API by acd-sim (every answer 2xx)."""
    sent = settle.send_day(stack.callback_url, stack.token, work_dir)
    print(f"acd-sim: {sent.requests} requests in {sent.seconds:.1f}s ({sent.per_second:.1f}/s), all 2xx")
    return sent


def admin(stack: DeployedStack, *args: str) -> Any:
    connect, env = connection(stack)
    return settle.cli("acd-admin", [*connect, "-q"], env, *args)


def stream_insert(stack: DeployedStack, event_key: str) -> dict[str, Any]:
    """The INSERT of the stored event ``event_key`` as the events table's deployed stream holds
    it: its shard, the record (as get_records returns it) and the stream's ARN."""
    streams = stack.clients.client("dynamodbstreams")
    arn = stack.outputs["EventsTableStreamArn"]
    for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
        iterator = streams.get_shard_iterator(
            StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        while iterator:
            page = streams.get_records(ShardIterator=iterator, Limit=1000)
            for record in page["Records"]:
                if record["dynamodb"].get("NewImage", {}).get("event_key") == {"S": event_key}:
                    return {"shard": shard["ShardId"], "record": record, "stream": arn}
            iterator = page.get("NextShardIterator") if page["Records"] else None
    raise AssertionError(f"the INSERT of {event_key} is not in the stream")


def on_failure_record(
    stack: DeployedStack, logical_id: str, found: dict[str, Any], *, with_records: bool = False
) -> str:
    """What Lambda sends to a stream mapping's on-failure destination once it gives up on the
    one-record batch ``found`` (from :func:`stream_insert`), in AWS's documented shape: the span
    of the stream; for an S3 destination (``with_records``) also the invocation, records
    included, under ``payload``."""
    record = found["record"]["dynamodb"]
    arrival = record["ApproximateCreationDateTime"].isoformat()
    function = stack.clients.lambda_.get_function(FunctionName=stack.resources[logical_id])
    document = stream_failure_document(
        function_arn=function["Configuration"]["FunctionArn"],
        stream_arn=found["stream"],
        shard_id=found["shard"],
        span=(record["SequenceNumber"], record["SequenceNumber"]),
        batch_size=1,
        arrival=arrival,
        request_id=str(uuid.uuid4()),
        timestamp=datetime.now(UTC).isoformat(),
        function_error="",
    )
    if with_records:
        records = [lambda_stream_record(found["record"], found["stream"], REGION)]
        document["payload"] = json.dumps({"Records": records})
    return json.dumps(document)
