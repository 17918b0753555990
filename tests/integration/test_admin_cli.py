"""``acd-admin replay`` and ``acd-admin redrive`` against the moto server over HTTP: the
template's tables, stream, topics (with their local subscriber queues) and DLQs, as
``acd-local`` provisions them; requests quarantined by the real ingest code; DLQ messages in
Lambda's on-failure shape naming real spans of the events table's stream."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from click.testing import CliRunner, Result

from acd_cli.admin_cli import cli
from acd_cli.reporting import EventQueries
from acd_devkit.moto_resources import REGION, AwsClients, ProvisionedResources
from acd_devkit.stream_mapping import lambda_stream_record
from acd_hub import keys, params, redact
from acd_hub.adapters.events_table import EventsTable
from acd_hub.errors import Invalid, ParameterError, StoreRefused
from acd_hub.ingest import CallbackIngest
from acd_hub.quarantine import rejected_item
from acd_hub.request import CallbackRequest
from acd_hub.settings import HubSettings
from acd_local.spec import StackSpec
from tests.support import TOKEN, callback_ingest, free_port, queue_depth, stream_failure_document
from tests.support import callback_request as request

RECEIVED = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
DAY = "2026-11-20"
EVENT_MS = "1795161600000"  # 2026-11-20 08:00 UTC
AGENT = "100777"


def admin(endpoint: str, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--endpoint-url", endpoint, *args], catch_exceptions=False)


def settings() -> HubSettings:
    return HubSettings(callback_tokens=[TOKEN])


def quarantine_by_ingest(aws: AwsClients, kept: CallbackRequest) -> None:
    """Bad input through the real ingest: it quarantines the request and raises Invalid."""
    ingest = callback_ingest(settings(), EventsTable(aws.dynamodb, "EventsTable"), RECEIVED)
    with pytest.raises(Invalid):
        ingest.handle(kept)


def quarantine_as_if_by_a_bug(aws: AwsClients, kept: CallbackRequest, reason: str) -> None:
    """A request an older, buggy version rejected (valid today): the quarantine item that
    version would have written, made by today's item builder."""
    errors = [ParameterError("eventtime", reason)]
    receipt = keys.rejected(kept.request_id, RECEIVED, settings())
    item = rejected_item(kept, redact.redacted(kept, params.read(kept), ()).kept, errors, receipt, 400)
    EventsTable(aws.dynamodb, "EventsTable").put_rejected(item)


def quarantined(aws: AwsClients) -> dict[str, dict[str, Any]]:
    return {item["request_id"]: item for item in EventQueries(aws.dynamodb, "EventsTable", 8).rejected(DAY)}


def agent_events(aws: AwsClients) -> list[dict[str, Any]]:
    return EventQueries(aws.dynamodb, "EventsTable", 8).events_by_agent_day(AGENT, DAY)


VALID = f"cmd=agentstate&agentid={AGENT}&mode=0&state=online&eventtime={EVENT_MS}"
VALID_FORM = f"cmd=agentstate&agentid={AGENT}&mode=0&state=paused&pause-reason=M\xfcller&eventtime={int(EVENT_MS) + 60000}"


@pytest.fixture
def quarantine(aws_resources: ProvisionedResources, aws: AwsClients) -> AwsClients:
    # still wrong today: a 2-digit agent number
    quarantine_by_ingest(
        aws,
        request(f"cmd=agentstate&agentid=12&mode=0&state=online&eventtime={EVENT_MS}", request_id="bad-1"),
    )
    # valid today, rejected by an earlier bug; the token it carried in the query was redacted
    quarantine_as_if_by_a_bug(
        aws, request(f"token={TOKEN}&{VALID}", request_id="fixed-1"), "out of range (bug 41)"
    )
    # the ACD sent the same callback again after the 400: the same event, kept twice
    quarantine_as_if_by_a_bug(aws, request(VALID, request_id="fixed-2"), "out of range (bug 41)")
    # a Windows-1252 form body (not UTF-8: kept as body_base64)
    windows_body = VALID_FORM.encode("cp1252")
    quarantine_as_if_by_a_bug(
        aws,
        request(body=windows_body, content_type="application/x-www-form-urlencoded", request_id="fixed-form"),
        "out of range (bug 41)",
    )
    return aws


def test_kept_items_carry_no_token(quarantine: AwsClients) -> None:
    items = quarantined(quarantine)
    assert set(items) == {"bad-1", "fixed-1", "fixed-2", "fixed-form"}
    assert "body_base64" in items["fixed-form"]
    assert TOKEN not in json.dumps(items)


def test_dry_run_says_what_would_happen_and_writes_nothing(quarantine: AwsClients, moto_server: str) -> None:
    before = quarantined(quarantine)
    result = admin(moto_server, "replay", "--day", DAY, "--dry-run", "--format", "json")
    assert result.exit_code == 0, result.output
    outcomes = {row["request_id"]: row["outcome"] for row in json.loads(result.stdout)}
    # fixed-1 and fixed-2 are the same event: each alone would be stored (nothing is written)
    assert outcomes == {"bad-1": "rejected", "fixed-1": "stored", "fixed-2": "stored", "fixed-form": "stored"}
    assert agent_events(quarantine) == []
    assert quarantined(quarantine) == before


def test_replay_stores_once_and_marks_each_quarantine_item(quarantine: AwsClients, moto_server: str) -> None:
    result = admin(moto_server, "replay", "--day", DAY)
    assert result.exit_code == 0, result.output
    assert "Replayed: 2 stored, 1 already stored, 1 still rejected." in result.stdout

    events = agent_events(quarantine)
    assert sorted(e["data"]["state"] for e in events) == ["online", "paused"]
    pause = next(e for e in events if e["data"]["state"] == "paused")
    assert pause["data"]["pause-reason"] == "Müller"  # the Windows-1252 body, decoded as the ingest does
    # the time the request first reached the hub, not the replay's
    assert {e["received_at"] for e in events} == {"2026-11-20T09:00:00.000Z"}

    items = quarantined(quarantine)
    assert set(items) == {"bad-1", "fixed-1", "fixed-2", "fixed-form"}  # no second quarantine item
    online_key = next(e["event_key"] for e in events if e["data"]["state"] == "online")
    assert (items["fixed-1"]["replay_outcome"], items["fixed-1"]["replay_event_key"]) == (
        "stored",
        online_key,
    )
    assert (items["fixed-2"]["replay_outcome"], items["fixed-2"]["replay_event_key"]) == (
        "duplicate",
        online_key,
    )
    assert items["fixed-form"]["replay_outcome"] == "stored"
    bad = items["bad-1"]
    assert bad["replay_outcome"] == "rejected"
    assert (bad["replay_count"], bad["status"]) == (1, 400)
    assert bad["errors"][0]["parameter"] == "agentid"
    assert bad["first_reason"].startswith("agentid")


def test_replaying_twice_never_stores_twice(quarantine: AwsClients, moto_server: str) -> None:
    assert admin(moto_server, "-q", "replay", "--day", DAY).exit_code == 0
    stored = agent_events(quarantine)
    assert len(stored) == 2

    again = admin(moto_server, "-q", "replay", "--day", DAY, "--format", "json")
    outcomes = {row["request_id"]: row["outcome"] for row in json.loads(again.stdout)}
    assert outcomes == {
        "bad-1": "rejected",
        "fixed-1": "skipped",
        "fixed-2": "skipped",
        "fixed-form": "skipped",
    }
    # forced through the ingest once more: the conditional write finds the event there
    forced = admin(moto_server, "-q", "replay", "--day", DAY, "--request-id", "fixed-1", "--format", "json")
    assert [row["outcome"] for row in json.loads(forced.stdout)] == ["duplicate"]
    assert agent_events(quarantine) == stored
    items = quarantined(quarantine)
    assert items["bad-1"]["replay_count"] == 2
    assert items["fixed-1"]["replay_count"] == 2


def test_replay_against_the_local_stack_judges_event_times_as_its_ingest_does(
    aws_resources: ProvisionedResources, aws: AwsClients, moto_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # acd-local's ingest lets events in up to a day ahead (acd-sim sends a whole day at once):
    # a request it quarantined for another reason, now fixed, with an event 2 h ahead of its
    # arrival, is stored by a replay against it, not refused by the deployed 900 s bound.
    monkeypatch.delenv("ACD_MAX_FUTURE_SECONDS", raising=False)
    two_hours_ahead = str(int(RECEIVED.timestamp() * 1000) + 2 * 3600 * 1000)
    ahead = f"cmd=agentstate&agentid={AGENT}&mode=0&state=online&eventtime={two_hours_ahead}"
    quarantine_as_if_by_a_bug(aws, request(ahead, request_id="ahead-1"), "out of range (bug 41)")
    result = admin(moto_server, "-q", "replay", "--day", DAY, "--format", "json")
    assert result.exit_code == 0, result.output
    assert [row["outcome"] for row in json.loads(result.stdout)] == ["stored"]
    assert len(agent_events(aws)) == 1


class _RefusesFullQuarantineItems(EventsTable):
    """The store refusing a quarantine item whole (too large): the ingest keeps it trimmed."""

    def put_rejected(self, item: dict[str, Any]) -> None:
        if "trimmed" not in item:
            raise StoreRefused("Item size has exceeded the maximum allowed size")
        super().put_rejected(item)


def test_a_request_kept_trimmed_is_not_replayed_as_an_empty_one(
    aws_resources: ProvisionedResources, aws: AwsClients, moto_server: str
) -> None:
    # Its query and body were not kept: a replay would send an empty request and record
    # "cmd: ..." as the reason it is still rejected, in place of the real one.
    ingest = callback_ingest(settings(), _RefusesFullQuarantineItems(aws.dynamodb, "EventsTable"), RECEIVED)
    with pytest.raises(Invalid):
        ingest.handle(
            request(f"cmd=agentstate&agentid=12&mode=0&state=online&eventtime={EVENT_MS}", request_id="cut-1")
        )
    (kept,) = quarantined(aws).values()
    assert "trimmed" in kept
    result = admin(moto_server, "-q", "replay", "--day", DAY, "--format", "json")
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.stdout)
    assert (row["outcome"], row["detail"]) == (
        "skipped",
        "kept trimmed (no query, no body): nothing to replay",
    )
    assert quarantined(aws)["cut-1"] == kept  # its reason stays the real one


def test_unknown_request_id_is_one_line_error(quarantine: AwsClients, moto_server: str) -> None:
    result = admin(moto_server, "replay", "--day", DAY, "--request-id", "nope")
    assert result.exit_code == 2
    assert "no quarantined request 'nope'" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--acd-timezone", "Mars/Base", "rebuild", "--day", DAY],
            "--acd-timezone: unknown time zone 'Mars/Base'",
        ),
        (["rebuild", "--day", DAY, "--to", "2026-02-30"], "--to: '2026-02-30' is not a day"),
        (["rebuild", "--day", DAY, "--hotline", "x"], "--hotline: 'x' is not a hotline id"),
        (["redrive", "fanout", "--bucket", ""], "--bucket: must not be blank"),
        (["redrive", "stats", "--queue-url", " "], "--queue-url: must not be blank"),
        (["rebuild", "--day", DAY, "--hotline", " "], "--hotline: must not be blank"),
        (["rebuild", "--day", DAY, "--agent", "\x1b[31m"], "--agent: '\\x1b[31m' is not an agent number"),
        (
            ["--endpoint-url", "notaurl", "replay", "--day", DAY],
            "--endpoint-url: 'notaurl' is not an http(s) URL",
        ),
        (
            ["--report-timezone", "x" * 5000, "rebuild", "--day", DAY],
            "--report-timezone: unknown time zone 'xxx",
        ),
    ],
)
def test_a_bad_option_is_named_as_typed(moto_server: str, args: list[str], message: str) -> None:
    result = admin(moto_server, *args)
    assert result.exit_code == 2
    assert f"Error: {message}" in result.output


@pytest.mark.parametrize("args", [["rebuild", "--day", DAY], ["redrive", "stats"]])
def test_unreachable_endpoint_is_one_line_even_without_quiet(args: list[str]) -> None:
    """Not a terminal (a pipe, a log): no progress bar left before the error."""
    url = f"http://127.0.0.1:{free_port()}"
    result = CliRunner().invoke(cli, ["--endpoint-url", url, *args])
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        f"Error: cannot reach {url}/ - is the local stack running (make run)?"
    ]


# -- redrive ------------------------------------------------------------------------------------------

CONFIG = f"cmd=configchanged&action=update&type=agent&eventtime={EVENT_MS}"


def stored_by_ingest(aws: AwsClients, query: str, request_id: str) -> str:
    ingest = CallbackIngest(settings(), EventsTable(aws.dynamodb, "EventsTable"), lambda: (TOKEN,))
    return ingest.handle(request(query, request_id=request_id)).event_key


def stream_records(aws: AwsClients, stream_arn: str) -> tuple[str, list[dict[str, Any]]]:
    (shard,) = aws.streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"]
    iterator = aws.streams.get_shard_iterator(
        StreamArn=stream_arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    return shard["ShardId"], list(aws.streams.get_records(ShardIterator=iterator)["Records"])


def on_failure_record(
    stream_arn: str,
    shard_id: str,
    span: list[dict[str, Any]],
    function: str,
    arrival: str = "2026-11-20T09:00:19Z",
) -> str:
    """What Lambda sends to the on-failure destination of ``function``'s stream mapping for the
    batch ``span``."""
    return json.dumps(
        stream_failure_document(
            function_arn=f"arn:aws:lambda:eu-central-1:123456789012:function:{function}",
            stream_arn=stream_arn,
            shard_id=shard_id,
            span=(span[0]["dynamodb"]["SequenceNumber"], span[-1]["dynamodb"]["SequenceNumber"]),
            batch_size=len(span),
            arrival=arrival,
            request_id="316aa6d0-8154-4e0f-9af7-85d5f4a6bc81",
            timestamp="2026-11-20T09:00:49.717Z",
            function_error="Unhandled",
        )
    )


def drain(aws: AwsClients, queue_url: str) -> list[dict[str, Any]]:
    bodies: list[dict[str, Any]] = []
    while messages := aws.sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", []):
        for message in messages:
            bodies.append(json.loads(message["Body"]))
            aws.sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return bodies


@pytest.fixture
def fanout_dlq(aws_resources: ProvisionedResources, aws: AwsClients) -> dict[str, Any]:
    """A configchanged and an agentstate stored; the fan-out 'gave up' on the span holding both,
    and on a message that is no on-failure record at all."""
    config_key = stored_by_ingest(aws, CONFIG, "r-config")
    stored_by_ingest(aws, VALID, "r-agent")
    stream_arn = aws_resources.stream_arns["EventsTable"]
    shard_id, records = stream_records(aws, stream_arn)
    assert len(records) == 2
    queue = aws_resources.dlq_urls["FanoutFunction"]
    aws.sqs.send_message(
        QueueUrl=queue, MessageBody=on_failure_record(stream_arn, shard_id, records, "FanoutFunction")
    )
    aws.sqs.send_message(QueueUrl=queue, MessageBody="{not an on-failure record")
    subscriber = aws_resources.subscriber_queue_urls["ConfigChangedTopic"]
    return {"queue": queue, "subscriber": subscriber, "config_key": config_key}


def test_redrive_fanout_dry_run_changes_nothing(
    fanout_dlq: dict[str, Any], aws: AwsClients, moto_server: str
) -> None:
    result = admin(moto_server, "-q", "redrive", "fanout", "--dry-run", "--format", "json")
    rows = json.loads(result.stdout)
    assert result.exit_code == 1  # a message stays in the queue
    assert sorted(row["status"] for row in rows) == ["kept", "would delete"]
    handled = next(row for row in rows if row["status"] == "would delete")
    assert handled["records"] == 1  # the agentstate is not the fan-out's business
    assert fanout_dlq["config_key"] in handled["detail"]
    assert drain(aws, fanout_dlq["subscriber"]) == []
    assert queue_depth(aws.sqs, fanout_dlq["queue"]) == 2
    # given back at once, not after the peek's visibility timeout
    visible = aws.sqs.get_queue_attributes(
        QueueUrl=fanout_dlq["queue"], AttributeNames=["ApproximateNumberOfMessages"]
    )
    assert visible["Attributes"]["ApproximateNumberOfMessages"] == "2"


def test_redrive_fanout_republishes_and_deletes_only_what_it_handled(
    fanout_dlq: dict[str, Any], aws: AwsClients, moto_server: str
) -> None:
    result = admin(moto_server, "redrive", "fanout")
    assert result.exit_code == 1, result.output  # the unrecognised message is left
    assert "1 message(s) handled and deleted, 1 left in the queue." in result.stdout
    published = drain(aws, fanout_dlq["subscriber"])
    assert len(published) == 1
    envelope = published[0]
    assert envelope["MessageAttributes"]["event_key"]["Value"] == fanout_dlq["config_key"]
    body = json.loads(envelope["Message"])
    assert (body["cmd"], body["event"]["action"]) == ("configchanged", "update")
    # only the unrecognised message is left, and it is visible for the next redrive
    remaining = aws.sqs.receive_message(QueueUrl=fanout_dlq["queue"], MaxNumberOfMessages=10)["Messages"]
    assert [m["Body"] for m in remaining] == ["{not an on-failure record"]


def test_records_past_the_stream_are_kept_or_found_by_arrival_time(
    aws_resources: ProvisionedResources, aws: AwsClients, moto_server: str
) -> None:
    """A message whose span the stream no longer holds (its records past the 24-hour retention;
    here: sequence numbers not in the stream) and that carries no records, as on AWS: kept with
    a hint; with --by-arrival-time, the events received while it arrived are republished."""
    stream_arn = aws_resources.stream_arns["EventsTable"]
    now = datetime.now(UTC)
    config_key = stored_by_ingest(aws, CONFIG.replace(EVENT_MS, str(int(now.timestamp() * 1000))), "r-config")
    today = now.astimezone(settings().report_zone).date().isoformat()
    (stored,) = EventQueries(aws.dynamodb, "EventsTable", 8).events_by_cmd_day("configchanged", today)
    arrival = stored["received_at"][:19] + "Z"  # Lambda gives whole seconds
    shard_id, records = stream_records(aws, stream_arn)
    gone = [{"dynamodb": {"SequenceNumber": str(int(records[-1]["dynamodb"]["SequenceNumber"]) + 100)}}]
    queue = aws_resources.dlq_urls["FanoutFunction"]
    message = on_failure_record(stream_arn, shard_id, gone, "FanoutFunction", arrival=arrival)
    aws.sqs.send_message(QueueUrl=queue, MessageBody=message)
    subscriber = aws_resources.subscriber_queue_urls["ConfigChangedTopic"]

    kept = admin(moto_server, "-q", "redrive", "fanout", "--format", "json")
    (row,) = json.loads(kept.stdout)
    assert (kept.exit_code, row["status"]) == (1, "kept")
    assert "not found in the stream" in row["detail"]
    assert "--by-arrival-time" in row["detail"]
    assert drain(aws, subscriber) == []
    assert queue_depth(aws.sqs, queue) == 1

    found = admin(moto_server, "-q", "redrive", "fanout", "--by-arrival-time", "--format", "json")
    (row,) = json.loads(found.stdout)
    assert (found.exit_code, row["status"]) == (0, "deleted")
    (published,) = drain(aws, subscriber)
    assert published["MessageAttributes"]["event_key"]["Value"] == config_key
    assert queue_depth(aws.sqs, queue) == 0


def test_redrive_fanout_from_its_bucket_after_the_stream_dropped_the_records(
    aws_resources: ProvisionedResources, aws: AwsClients, moto_server: str
) -> None:
    """The fan-out's S3 on-failure destination keeps the whole invocation (payload): the
    records are republished from it although the stream no longer holds them (their sequence
    numbers past its end, as after its 24 hours), and the object is deleted once handled."""
    import boto3  # noqa: PLC0415

    config_key = stored_by_ingest(aws, CONFIG, "r-config")
    stream_arn = aws_resources.stream_arns["EventsTable"]
    shard_id, records = stream_records(aws, stream_arn)
    gone = [{"dynamodb": {"SequenceNumber": str(int(records[-1]["dynamodb"]["SequenceNumber"]) + 100)}}]
    document = json.loads(on_failure_record(stream_arn, shard_id, gone, "FanoutFunction"))
    lambda_records = [lambda_stream_record(record, stream_arn, REGION) for record in records]
    document["payload"] = json.dumps({"Records": lambda_records})
    s3 = boto3.client(
        "s3",
        endpoint_url=moto_server,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    bucket = "fanout-failures"
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    key = f"aws/lambda/esm-uuid/{shard_id}/2026/11/20/2026-11-20T09.00.49-1"
    s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(document).encode())
    s3.put_object(Bucket=bucket, Key="aws/lambda/esm-uuid/other", Body=b"{not an on-failure record")
    subscriber = aws_resources.subscriber_queue_urls["ConfigChangedTopic"]

    result = admin(moto_server, "-q", "redrive", "fanout", "--bucket", bucket, "--format", "json")
    rows = json.loads(result.stdout)
    assert result.exit_code == 1  # the unrecognised object is left
    assert sorted(row["status"] for row in rows) == ["deleted", "kept"]
    (published,) = drain(aws, subscriber)
    assert published["MessageAttributes"]["event_key"]["Value"] == config_key
    left = [found["Key"] for found in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert left == ["aws/lambda/esm-uuid/other"]


def test_empty_dlq(aws_resources: ProvisionedResources, moto_server: str) -> None:
    result = admin(moto_server, "redrive", "fanout")
    assert result.exit_code == 0
    assert "The fanout DLQ is empty." in result.stdout


# -- redrive of the aggregators' DLQs -----------------------------------------------------------------

TASK = "c0ffee01"
CALL_START = (
    f"cmd=callevent&id=7001&taskid={TASK}&eventtype=CallStart&mode=0&hotlineid=501&eventtime={EVENT_MS}"
)
CALL_END = f"cmd=callevent&id=7002&taskid={TASK}&eventtype=CallEnd&mode=0&hotlineid=501&eventtime={int(EVENT_MS) + 90000}"
PAUSED = f"cmd=agentstate&agentid={AGENT}&mode=0&state=paused&eventtime={int(EVENT_MS) + 600000}"


class RecordingRebuilder:
    """The rebuild API's interface (acd_hub.rebuild.Rebuilder) as the lead specified it, with
    ``touched_by`` per its contract; records what it is asked to rebuild. Fails on request."""

    def __init__(self, fail_on: set[tuple[str, ...]] | None = None) -> None:
        self.rebuilt: list[tuple[str, ...]] = []
        self.seen: list[dict[str, Any]] = []
        self.fail_on = fail_on or set()

    def touched_by(self, item: dict[str, Any]) -> set[tuple[str, ...]]:
        self.seen.append(item)
        touched: set[tuple[str, ...]] = set()
        if item["cmd"] == "agentstate":
            touched.add(("agent_day", item["agent"], item["day"]))
        if item.get("task_id"):
            touched.add(("call", item["task_id"]))
        return touched

    def _rebuild(self, report: tuple[str, ...]) -> None:
        if report in self.fail_on:
            raise RuntimeError(f"cannot rebuild {report}")
        self.rebuilt.append(report)

    def rebuild(self, reports: list[tuple[str, ...]]) -> None:
        for report in reports:
            self._rebuild(report)


@pytest.fixture
def day_in_stream(aws_resources: ProvisionedResources, aws: AwsClients) -> str:
    """An agent going online then paused, a call started and ended, a configchanged: all in the
    stream; in the stats DLQ a message naming the first three records, and one naming the rest.
    Returns the queue's URL."""
    for number, query in enumerate((VALID, CALL_START, CONFIG, CALL_END, PAUSED)):
        stored_by_ingest(aws, query, f"r-{number}")
    stream_arn = aws_resources.stream_arns["EventsTable"]
    shard_id, records = stream_records(aws, stream_arn)
    # the events' records (a callevent's key claim has a record of its own, which no consumer takes)
    records = [r for r in records if r["dynamodb"]["NewImage"]["kind"]["S"] == "event"]
    assert len(records) == 5
    queue = aws_resources.dlq_urls["StatsFunction"]
    for span in (records[:3], records[3:]):
        aws.sqs.send_message(
            QueueUrl=queue, MessageBody=on_failure_record(stream_arn, shard_id, span, "StatsFunction")
        )
    return queue


@pytest.fixture
def recording(monkeypatch: pytest.MonkeyPatch) -> RecordingRebuilder:
    """The DLQ handling with a rebuild that can be made to fail (the real one: below)."""
    from acd_cli.admin_context import AdminContext  # noqa: PLC0415

    stand_in = RecordingRebuilder()
    monkeypatch.setattr(AdminContext, "rebuilder", property(lambda _self: stand_in))
    return stand_in


def test_redrive_stats_rebuilds_the_agent_days_and_calls_it_names(
    day_in_stream: str, recording: RecordingRebuilder, aws: AwsClients, moto_server: str
) -> None:
    """One function runs both aggregators, so a message may stand for a record either failed:
    the agent days and the calls its records touch are rebuilt, each once."""
    result = admin(moto_server, "-q", "redrive", "stats", "--format", "json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [row["status"] for row in rows] == ["deleted", "deleted"]
    # callevents and agentstates pass the stats function's filter; configchanged does not
    assert {item["cmd"] for item in recording.seen} == {"agentstate", "callevent"}
    assert recording.rebuilt == [("agent_day", AGENT, DAY), ("call", TASK)]
    assert queue_depth(aws.sqs, day_in_stream) == 0


@pytest.mark.parametrize("old_name", ["agent-stats", "call-stats"])
def test_the_old_consumer_names_redrive_the_stats_dlq(
    day_in_stream: str, recording: RecordingRebuilder, aws: AwsClients, moto_server: str, old_name: str
) -> None:
    """agent-stats and call-stats had a function and a DLQ each; both name the one now, and the
    whole message is handled (half of it would lose the other aggregator's repair)."""
    result = admin(moto_server, "-q", "redrive", old_name, "--format", "json")
    assert result.exit_code == 0, result.output
    assert "redriving stats" in result.stderr
    assert [row["status"] for row in json.loads(result.stdout)] == ["deleted", "deleted"]
    assert recording.rebuilt == [("agent_day", AGENT, DAY), ("call", TASK)]
    assert queue_depth(aws.sqs, day_in_stream) == 0


def test_redrive_stats_keeps_what_failed(
    day_in_stream: str, recording: RecordingRebuilder, aws: AwsClients, moto_server: str
) -> None:
    recording.fail_on = {("call", TASK)}
    failed = admin(moto_server, "-q", "redrive", "stats", "--format", "json")
    assert failed.exit_code == 1
    assert [row["status"] for row in json.loads(failed.stdout)] == ["kept", "kept"]
    assert queue_depth(aws.sqs, day_in_stream) == 2  # nothing deleted that was not handled

    recording.fail_on = set()
    recording.rebuilt = []
    dry = admin(moto_server, "-q", "redrive", "stats", "--dry-run", "--format", "json")
    assert [row["status"] for row in json.loads(dry.stdout)] == ["would delete", "would delete"]
    assert recording.rebuilt == []

    done = admin(moto_server, "-q", "redrive", "stats", "--format", "json")
    assert done.exit_code == 0, done.output
    assert recording.rebuilt == [("agent_day", AGENT, DAY), ("call", TASK)]
    assert queue_depth(aws.sqs, day_in_stream) == 0


def test_redrive_with_the_real_rebuild_api(day_in_stream: str, aws: AwsClients, moto_server: str) -> None:
    """The lead's acd_hub.rebuild (issue 7): the reports exist after the redrive, and equal what
    a second redrive-free rebuild computes."""
    from acd_cli.reporting import ReportQueries  # noqa: PLC0415

    reports = ReportQueries(aws.dynamodb, "ReportsTable", 8)
    assert reports.agent_day(AGENT, DAY) is None
    assert admin(moto_server, "-q", "redrive", "stats").exit_code == 0
    agent_day = reports.agent_day(AGENT, DAY)
    assert agent_day is not None
    assert agent_day.state_seconds["online"] == 600  # online at 08:00, paused at 08:10
    summary = reports.call(TASK)
    assert summary is not None
    assert (str(summary.hotline), summary.outcome) == ("501", "abandoned")
    kpis = reports.kpis("501", DAY)
    assert kpis is not None
    assert (kpis.day.offered, kpis.day.abandoned) == (1, 1)
    assert queue_depth(aws.sqs, day_in_stream) == 0


def test_by_arrival_time_never_deletes_on_a_guess(
    aws_resources: ProvisionedResources, aws: AwsClients, moto_server: str
) -> None:
    """The event arrived late (its day is not near the arrival): the window finds nothing, so
    the message stays."""
    stream_arn = aws_resources.stream_arns["EventsTable"]
    stored_by_ingest(aws, CONFIG, "r-config")  # event day 2026-11-20, received today
    shard_id, records = stream_records(aws, stream_arn)
    gone = [{"dynamodb": {"SequenceNumber": str(int(records[-1]["dynamodb"]["SequenceNumber"]) + 100)}}]
    arrival = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    queue = aws_resources.dlq_urls["FanoutFunction"]
    aws.sqs.send_message(
        QueueUrl=queue,
        MessageBody=on_failure_record(stream_arn, shard_id, gone, "FanoutFunction", arrival=arrival),
    )
    result = admin(moto_server, "-q", "redrive", "fanout", "--by-arrival-time", "--format", "json")
    (row,) = json.loads(result.stdout)
    assert (result.exit_code, row["status"]) == (1, "kept")
    assert "no events received then found" in row["detail"]
    assert queue_depth(aws.sqs, queue) == 1


def test_the_local_pollers_dlq_messages_redrive_too(
    aws_resources: ProvisionedResources, aws: AwsClients, moto_server: str, stack_spec: StackSpec
) -> None:
    """acd-local's stream poller gives up on a batch the way Lambda does (its _dead_letter):
    acd-admin reads that message back like Lambda's."""
    from acd_devkit.moto_resources import REGION  # noqa: PLC0415
    from acd_devkit.stream_mapping import BatchOutcome, lambda_stream_record  # noqa: PLC0415
    from acd_local.streams import StreamPoller  # noqa: PLC0415

    config_key = stored_by_ingest(aws, CONFIG, "r-config")
    stream_arn = aws_resources.stream_arns["EventsTable"]
    shard_id, raw = stream_records(aws, stream_arn)
    (mapping,) = [m for m in stack_spec.stream_mappings if m.function == "FanoutFunction"]
    queue = aws_resources.dlq_urls["FanoutFunction"]
    poller = StreamPoller(mapping, lambda _event: None, aws, stream_arn=stream_arn, dlq_url=queue)
    span = [lambda_stream_record(record, stream_arn, REGION) for record in raw]
    failed = frozenset(str(r["dynamodb"]["SequenceNumber"]) for r in span)
    poller._dead_letter(shard_id, span, BatchOutcome(0, failed, function_error=True), 101)
    assert queue_depth(aws.sqs, queue) == 1

    result = admin(moto_server, "-q", "redrive", "fanout", "--format", "json")
    (row,) = json.loads(result.stdout)
    assert (result.exit_code, row["status"]) == (0, "deleted")
    (published,) = drain(aws, aws_resources.subscriber_queue_urls["ConfigChangedTopic"])
    assert published["MessageAttributes"]["event_key"]["Value"] == config_key


def test_rebuild_dry_run_says_what_it_would_write_and_writes_nothing(
    day_in_stream: dict[str, str], aws: AwsClients, moto_server: str
) -> None:
    """README: every acd-admin command has --dry-run. Its figures are the real run's, and the
    reports table is left exactly as it was."""

    def reports_items() -> list[dict[str, Any]]:
        pages = aws.dynamodb.get_paginator("scan").paginate(TableName="ReportsTable", ConsistentRead=True)
        return sorted(
            (item for page in pages for item in page["Items"]), key=lambda i: (str(i["pk"]), str(i["sk"]))
        )

    before = reports_items()
    dry = admin(moto_server, "-q", "rebuild", "--day", DAY, "--dry-run", "--format", "json")
    assert dry.exit_code == 0, dry.output
    would = json.loads(dry.stdout)
    assert would["items_written"] > 0
    assert reports_items() == before  # nothing written
    table = admin(moto_server, "-q", "rebuild", "--day", DAY, "--dry-run")
    assert "Dry run of the rebuild of " + DAY + " (nothing written)" in table.stdout
    assert "A rebuild would replace these reports" in table.stdout

    done = json.loads(admin(moto_server, "-q", "rebuild", "--day", DAY, "--format", "json").stdout)
    assert reports_items() != before
    for figure in ("days", "agent_days", "calls"):
        assert would[figure] == done[figure], figure
    assert 0 < would["items_written"] <= done["items_written"]
    # the hotline days a call counts in are read back from its stored summary: a call the dry
    # run recomputed but did not write is not counted there (said in --help)
    assert would["hotline_days"] <= done["hotline_days"]
    again = json.loads(admin(moto_server, "-q", "rebuild", "--day", DAY, "--dry-run", "-f", "json").stdout)
    assert (again["items_written"], again["items_deleted"], again["counters_corrected"]) == (0, 0, 0)


def test_rebuild_recomputes_days_and_a_second_run_changes_nothing(
    day_in_stream: dict[str, str], aws: AwsClients, moto_server: str
) -> None:
    """acd-admin rebuild against the moto server: the reports of the day from the events alone
    (no stream consumer ran), then again: nothing out of date."""
    from acd_cli.reporting import ReportQueries  # noqa: PLC0415

    reports = ReportQueries(aws.dynamodb, "ReportsTable", 8)
    first = admin(moto_server, "-q", "rebuild", "--day", DAY, "--format", "json")
    assert first.exit_code == 0, first.output
    done = json.loads(first.stdout)
    assert (done["agent_days"] >= 1, done["calls"], done["hotline_days"]) == (True, 1, 1)
    assert done["items_written"] > 0
    agent_day = reports.agent_day(AGENT, DAY)
    assert agent_day is not None
    assert agent_day.state_seconds["online"] == 600
    kpis = reports.kpis("501", DAY)
    assert kpis is not None
    assert (kpis.day.offered, kpis.day.abandoned) == (1, 1)

    again = json.loads(admin(moto_server, "-q", "rebuild", "--day", DAY, "--format", "json").stdout)
    assert (again["items_written"], again["items_deleted"], again["counters_corrected"]) == (0, 0, 0)
    # an agent filter rebuilds only that agent's days
    only = json.loads(
        admin(moto_server, "-q", "rebuild", "--day", DAY, "--agent", AGENT, "-f", "json").stdout
    )
    assert (only["calls"], only["hotline_days"]) == (0, 0)
    # a hotline filter rebuilds only the calls that hotline holds
    mine = json.loads(
        admin(moto_server, "-q", "rebuild", "--day", DAY, "--hotline", "501", "-f", "json").stdout
    )
    assert (mine["calls"], mine["hotline_days"]) == (1, 1)
    other = json.loads(
        admin(moto_server, "-q", "rebuild", "--day", DAY, "--hotline", "999", "-f", "json").stdout
    )
    assert other["calls"] == 0
    table = admin(moto_server, "-q", "rebuild", "--day", DAY)
    assert "Nothing was out of date." in table.stdout
    bad = admin(moto_server, "-q", "rebuild", "--day", DAY, "--to", "2020-01-01")
    assert bad.exit_code == 2
    assert "before --day" in bad.output


def malformed_on_failure_records(stream_arn: str, shard_id: str, gone: str) -> dict[str, dict[str, Any]]:
    """On-failure messages in Lambda's envelope whose content is not what Lambda writes; their
    span is ``gone`` from the stream (so the arrival times are read)."""
    span = [{"dynamodb": {"SequenceNumber": gone}}]
    good = json.loads(on_failure_record(stream_arn, shard_id, span, "StatsFunction"))
    info = good["DDBStreamBatchInfo"]
    insert = {
        "eventName": "INSERT",
        "dynamodb": {"NewImage": {"kind": {"S": "event"}, "cmd": {"S": "agentstate"}}},
    }
    return {
        "a sequence number that is no number": {
            **good,
            "DDBStreamBatchInfo": {**info, "endSequenceNumber": "x"},
        },
        "an arrival time that is no time": {
            **good,
            "DDBStreamBatchInfo": {**info, "approximateArrivalOfFirstRecord": "yesterday"},
        },
        "an arrival time without its zone": {
            **good,
            "DDBStreamBatchInfo": {**info, "approximateArrivalOfLastRecord": "2026-11-20T09:00:19"},
        },
        "records that are no list of records": {**good, "Records": {"a": 1}},
        "a record without its keys": {**good, "Records": [insert]},
        "a record whose image DynamoDB could not have written": {
            **good,
            "Records": [
                {
                    "eventName": "INSERT",
                    "dynamodb": {
                        "Keys": {"pk": {"S": "p"}, "sk": {"S": "s"}},
                        "NewImage": {**insert["dynamodb"]["NewImage"], "odd": {"Q": "1"}},
                    },
                }
            ],
        },
    }


@pytest.mark.parametrize("case", list(malformed_on_failure_records("arn", "shard", "1")))
def test_a_message_it_cannot_read_is_kept_and_the_others_are_handled(
    day_in_stream: str,
    recording: RecordingRebuilder,
    aws: AwsClients,
    aws_resources: ProvisionedResources,
    moto_server: str,
    case: str,
) -> None:
    """A message in the DLQ that is not in the shape Lambda writes (sent by hand, truncated, by
    another producer) stops nothing: it is kept, visible again, with why; the others are
    handled. (It used to end the redrive with a traceback, its message hidden for 15 minutes.)"""
    stream_arn = aws_resources.stream_arns["EventsTable"]
    shard_id, records = stream_records(aws, stream_arn)
    gone = str(int(records[-1]["dynamodb"]["SequenceNumber"]) + 100)
    body = json.dumps(malformed_on_failure_records(stream_arn, shard_id, gone)[case])
    aws.sqs.send_message(QueueUrl=day_in_stream, MessageBody=body)

    result = admin(moto_server, "-q", "redrive", "stats", "--by-arrival-time", "--format", "json")
    assert result.exit_code == 1, result.output
    rows = json.loads(result.stdout)
    assert sorted(row["status"] for row in rows) == ["deleted", "deleted", "kept"]
    (kept,) = [row for row in rows if row["status"] == "kept"]
    assert kept["detail"].endswith("left in the queue")
    assert recording.rebuilt == [("agent_day", AGENT, DAY), ("call", TASK)]
    remaining = aws.sqs.receive_message(QueueUrl=day_in_stream, MaxNumberOfMessages=10)["Messages"]
    assert [m["Body"] for m in remaining] == [body]


def test_an_interrupted_redrive_gives_back_every_message_it_did_not_delete(
    day_in_stream: str, recording: RecordingRebuilder, aws: AwsClients, moto_server: str
) -> None:
    """Ctrl-C (or an error) while the first message is handled: that message and the others
    received with it are visible again at once, so the next redrive (and the DLQ-depth alarm)
    sees them, rather than an empty queue for their 15 minutes of visibility timeout."""

    def interrupted(_reports: list[tuple[str, ...]]) -> None:
        raise KeyboardInterrupt

    recording.rebuild = interrupted  # type: ignore[method-assign]
    result = admin(moto_server, "-q", "redrive", "stats", "--format", "json")
    assert result.exit_code == 1
    assert "Aborted!" in result.output
    visible = aws.sqs.get_queue_attributes(
        QueueUrl=day_in_stream, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    assert visible["ApproximateNumberOfMessages"] == "2"

    del recording.rebuild
    again = admin(moto_server, "-q", "redrive", "stats", "--format", "json")
    assert again.exit_code == 0, again.output
    assert [row["status"] for row in json.loads(again.stdout)] == ["deleted", "deleted"]
    assert queue_depth(aws.sqs, day_in_stream) == 0


class ThrottledTransactions:
    """A DynamoDB client whose every TransactWriteItems is throttled past botocore's retries
    (a busy reports table): what a rebuild's commits get."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def transact_write_items(self, **_request: Any) -> dict[str, Any]:
        from botocore.exceptions import ClientError  # noqa: PLC0415

        error = {"Code": "ProvisionedThroughputExceededException", "Message": "Rate of requests exceeded"}
        raise ClientError({"Error": error}, "TransactWriteItems")  # type: ignore[arg-type,typeddict-item]


@pytest.fixture
def throttled_reports(monkeypatch: pytest.MonkeyPatch) -> None:
    from acd_cli.admin_context import AdminContext  # noqa: PLC0415

    plain_client = AdminContext.dynamodb.fget  # type: ignore[attr-defined]
    monkeypatch.setattr(
        AdminContext, "dynamodb", property(lambda self: ThrottledTransactions(plain_client(self)))
    )


@pytest.mark.usefixtures("throttled_reports")
def test_a_rebuild_the_reports_table_throttles_stops_with_one_line(
    day_in_stream: str, moto_server: str
) -> None:
    """Not a traceback (Throttled, or Conflict when the stream keeps changing a report): what
    stopped it and that running it again carries on."""
    result = CliRunner().invoke(cli, ["--endpoint-url", moto_server, "-q", "rebuild", "--day", DAY])
    assert result.exit_code == 2, result.output
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("Error: the rebuild stopped (Throttled: ")
    assert "run it again" in line


@pytest.mark.usefixtures("throttled_reports")
def test_a_redrive_whose_rebuild_is_throttled_keeps_its_messages(
    day_in_stream: str, aws: AwsClients, moto_server: str
) -> None:
    result = CliRunner().invoke(cli, ["--endpoint-url", moto_server, "-q", "redrive", "stats", "-f", "json"])
    assert result.exit_code == 1, result.output
    rows = json.loads(result.stdout)
    assert [row["status"] for row in rows] == ["kept", "kept"]
    assert all("the rebuild stopped (Throttled" in row["detail"] for row in rows)
    assert queue_depth(aws.sqs, day_in_stream) == 2


def test_a_rebuild_of_days_whose_events_may_have_expired_is_refused(
    day_in_stream: str, aws: AwsClients, moto_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Events expire RetentionDays after their time, the reports are kept for good: a rebuild
    of a day whose events are (partly) gone would replace right reports with what is left of
    them. It is refused, naming the earliest day it can take; a day still whole is rebuilt."""
    today = datetime.now(settings().report_zone).date()
    age = (today - datetime.fromisoformat(DAY).date()).days

    monkeypatch.setenv("ACD_RETENTION_DAYS", str(age + 2))  # the day before DAY: expiring
    refused = CliRunner().invoke(cli, ["--endpoint-url", moto_server, "-q", "rebuild", "--day", DAY])
    assert refused.exit_code == 2, refused.output
    (line,) = refused.stderr.strip().splitlines()
    assert line.startswith(f"Error: --day: the events of {DAY} ")
    assert "The earliest day it can take now is " in line
    assert admin(moto_server, "-q", "rebuild", "--day", DAY, "--dry-run").exit_code == 2

    monkeypatch.setenv("ACD_RETENTION_DAYS", str(age + 4))
    kept = admin(moto_server, "-q", "rebuild", "--day", DAY, "--format", "json")
    assert kept.exit_code == 0, kept.output
    assert json.loads(kept.stdout)["calls"] == 1
