"""The redrive use case: a stream consumer's on-failure destination emptied the right way. Each
record names a span of the events table's stream (Lambda's ``DDBStreamBatchInfo``); the
fan-out republishes the stored events it names, the aggregators' reports it touches are
rebuilt from the event log. A record is deleted only once it was handled.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError
from rich.progress import Progress

from acd_hub.fanout import FANOUT_CMDS

if TYPE_CHECKING:
    from mypy_boto3_dynamodbstreams import DynamoDBStreamsClient
    from mypy_boto3_sqs import SQSClient

    from acd_cli.reporting import EventQueries
    from acd_hub.adapters.events_table import EventsTable
    from acd_hub.fanout import SnsFanout
    from acd_hub.rebuild import Rebuilder
    from acd_hub.settings import HubSettings


@dataclass(frozen=True)
class Consumer:
    """A stream consumer whose on-failure destination ``redrive`` empties."""

    name: str
    function: str  # template logical id (the local stack's DLQ is "<function>-local-dlq")
    dlq_output: str  # stack output with the queue URL, or the bucket name for an S3 destination
    # The cmds its mapping's filter lets through (INSERTs of kind "event"); the template tests
    # hold these equal to the template's FilterCriteria.
    cmds: frozenset[str]
    # The kinds of report it keeps (Rebuilder.touched_by names them); none for the fan-out.
    reports: frozenset[str] = frozenset()
    # "sqs" or "s3" on AWS (acd-local keeps every consumer's in an SQS queue).
    destination: str = "sqs"

    def wants(self, record: Mapping[str, Any]) -> bool:
        image = (record.get("dynamodb") or {}).get("NewImage") or {}
        return (
            record.get("eventName") == "INSERT"
            and (image.get("kind") or {}).get("S") == "event"
            and (image.get("cmd") or {}).get("S") in self.cmds
        )


CONSUMERS = {
    consumer.name: consumer
    for consumer in (
        Consumer(
            "fanout", "FanoutFunction", "FanoutFailuresBucketName", frozenset(FANOUT_CMDS), destination="s3"
        ),
        # Both aggregators in one function (one DLQ): a message may stand for a record either
        # of them failed, so a redrive rebuilds the reports of both.
        Consumer(
            "stats",
            "StatsFunction",
            "StatsDLQUrl",
            frozenset({"callevent", "recordedcall", "classificationevent", "enqueuecall", "agentstate"}),
            frozenset({"agent_day", "call"}),
        ),
    )
}

# The names of the aggregators' consumers when each had a function and a DLQ of its own (and
# still their names in the freshness notes): accepted for the one consumer that runs both.
CONSUMER_ALIASES = {"agent-stats": "stats", "call-stats": "stats"}

# Visibility while a message is being handled: long enough to rebuild a batch's reports. A dry
# run only peeks and gives every message back when it is done.
VISIBILITY_SECONDS = 900
PEEK_VISIBILITY_SECONDS = 60

# Arrival times in an on-failure record are whole seconds; the ingest stamps received_at just
# before its write reaches the stream.
ARRIVAL_MARGIN = timedelta(seconds=5)

# DynamoDB Streams may answer empty pages before the data of a shard: give up on a span only
# after this many in a row.
MAX_EMPTY_PAGES = 5
STREAM_GONE = frozenset(
    {
        "TrimmedDataAccessException",
        "ResourceNotFoundException",
        "ExpiredIteratorException",
        "ValidationException",
    }
)


class RedriveContext(Protocol):
    """What a redrive works through (``acd-admin``'s context is one), each made when first
    asked for: the fan-out's topics only for the fan-out, the rebuild only for the aggregators."""

    @property
    def sqs(self) -> SQSClient: ...

    @property
    def s3(self) -> Any: ...

    @property
    def streams(self) -> DynamoDBStreamsClient: ...

    @property
    def events(self) -> EventsTable: ...

    @property
    def queries(self) -> EventQueries: ...

    @property
    def settings(self) -> HubSettings: ...

    @property
    def fanout(self) -> SnsFanout: ...

    @property
    def rebuilder(self) -> Rebuilder: ...


class SpanUnavailable(Exception):
    """The stream no longer holds (all of) a failed batch's records."""


class RebuildStopped(RuntimeError):
    """The rebuild of a message's reports stopped before its end (acd_hub.rebuild.STOPPED): the
    message is kept, and the next redrive rebuilds them again."""


class Unreadable(ValueError):
    """A message, or a record in it, not in the shape Lambda writes (by hand, another producer,
    a truncated copy): it is kept with why, and the redrive goes on with the others."""


def _sequence_number(value: Any) -> str:
    """A stream sequence number: DynamoDB Streams writes decimal digits (read_span compares them
    as numbers)."""
    text = str(value)
    if not (text.isascii() and text.isdigit()):
        raise Unreadable(f"sequence number {text[:40]!r} is not a number")
    return text


def _moment(value: Any) -> str | None:
    """An arrival time: absent, or an ISO 8601 time with its offset (Lambda's end in Z), as the
    by-arrival search and the rebuild hint compare it with the events' receipt times."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        raise Unreadable(f"arrival time {str(value)[:40]!r} is not an ISO 8601 time") from None
    if moment.tzinfo is None:
        raise Unreadable(f"arrival time {str(value)[:40]!r} has no time zone")
    return str(value)


def _stream_records(value: Any) -> tuple[dict[str, Any], ...]:
    """The records a message carries: a list of objects, or none at all."""
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(record, dict) for record in value):
        raise Unreadable("its Records are not a list of stream records")
    return tuple(value)


@dataclass(frozen=True)
class FailedBatch:
    """A stream span an event source mapping gave up on: Lambda's on-failure record for a
    DynamoDB stream (``DDBStreamBatchInfo``). An SQS destination gets no records; an S3 one gets
    the whole invocation under ``payload`` (its ``Records``); the local stack's poller adds the
    failed records under ``Records``."""

    stream_arn: str
    shard_id: str
    start: str
    end: str
    batch_size: int
    first_arrival: str | None = None
    last_arrival: str | None = None
    records: tuple[dict[str, Any], ...] = ()

    @classmethod
    def from_body(cls, body: str) -> FailedBatch:
        """The message read, or :class:`Unreadable` (a ``ValueError``; ``KeyError`` and
        ``TypeError`` for a body that is no on-failure record at all)."""
        document = json.loads(body)
        info = document["DDBStreamBatchInfo"]
        return cls(
            stream_arn=str(info["streamArn"]),
            shard_id=str(info["shardId"]),
            start=_sequence_number(info["startSequenceNumber"]),
            end=_sequence_number(info["endSequenceNumber"]),
            batch_size=int(info.get("batchSize") or 0),
            first_arrival=_moment(info.get("approximateArrivalOfFirstRecord")),
            last_arrival=_moment(info.get("approximateArrivalOfLastRecord")),
            records=_stream_records(document.get("Records")) or _payload_records(document.get("payload")),
        )

    def where(self) -> str:
        return f"{self.shard_id[-12:]} {self.start}..{self.end}"


def _payload_records(payload: Any) -> tuple[dict[str, Any], ...]:
    """The records of the invocation an S3 on-failure record keeps (as a JSON text or object)."""
    if isinstance(payload, str):
        payload = json.loads(payload)
    return _stream_records(payload.get("Records") if isinstance(payload, dict) else None)


def read_span(streams: DynamoDBStreamsClient, batch: FailedBatch) -> list[dict[str, Any]]:
    """The records of ``batch`` read back from the stream: from its first sequence number
    (AT_SEQUENCE_NUMBER) up to and including its last."""
    end = int(batch.end)
    try:
        iterator: str | None = streams.get_shard_iterator(
            StreamArn=batch.stream_arn,
            ShardId=batch.shard_id,
            ShardIteratorType="AT_SEQUENCE_NUMBER",
            SequenceNumber=batch.start,
        )["ShardIterator"]
        records: list[dict[str, Any]] = []
        empty = 0
        while iterator and empty < MAX_EMPTY_PAGES:
            page = streams.get_records(ShardIterator=iterator, Limit=1000)
            empty = 0 if page.get("Records") else empty + 1
            for record in page.get("Records", []):
                sequence = int(record["dynamodb"]["SequenceNumber"])
                if sequence > end:
                    return records
                records.append(dict(record))
                if sequence == end:
                    return records
            iterator = page.get("NextShardIterator")
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "ClientError")
        if code in STREAM_GONE:
            raise SpanUnavailable(f"{code}: the stream no longer holds these records") from None
        raise
    raise SpanUnavailable("the span's last record was not found in the stream")


@dataclass
class Handled:
    batch: FailedBatch | None
    records: int = 0
    done: list[str] = field(default_factory=list)  # what was (or would be) republished / rebuilt
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


class Redrive:
    """One on-failure destination (a queue or a bucket): read each record, handle it, delete it
    once handled."""

    def __init__(
        self,
        admin: RedriveContext,
        consumer: Consumer,
        queue_url: str,
        *,
        dry_run: bool,
        by_arrival: bool = False,
        bucket: str | None = None,
    ) -> None:
        self._admin = admin
        self._consumer = consumer
        self._queue = queue_url
        self._bucket = bucket
        self._dry_run = dry_run
        self._by_arrival = by_arrival
        self._rebuilt: set[tuple[str, ...]] = set()

    # -- the queue --

    def pending(self) -> int:
        attributes = self._admin.sqs.get_queue_attributes(
            QueueUrl=self._queue, AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]
        return int(attributes.get("ApproximateNumberOfMessages", "0"))

    def run(self, progress: Progress) -> list[Handled]:
        return self._run_bucket(progress) if self._bucket else self._run_queue(progress)

    def _run_bucket(self, progress: Progress) -> list[Handled]:
        """Every object of the bucket once (it holds nothing but this consumer's on-failure
        records); deleted once handled, else left for the next redrive."""
        assert self._bucket
        s3 = self._admin.s3
        keys = [
            found["Key"]
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=self._bucket)
            for found in page.get("Contents", [])
            if "Key" in found
        ]
        task = progress.add_task(f"redrive {self._consumer.name}", total=len(keys) or None)
        results: list[Handled] = []
        for key in keys:
            body = s3.get_object(Bucket=self._bucket, Key=key)["Body"].read().decode("utf-8", "replace")
            handled = self.handle(body)
            results.append(handled)
            if handled.ok and not self._dry_run:
                s3.delete_object(Bucket=self._bucket, Key=key)
            progress.update(task, advance=1)
        return results

    def _run_queue(self, progress: Progress) -> list[Handled]:
        """Every message once. Each stays invisible while it is handled and is deleted once
        handled; every other message received (kept: a problem, or a dry run; or not handled
        at all, the redrive interrupted by Ctrl-C or an error) is made visible again at the end,
        for the next redrive and for the DLQ-depth alarm, not hidden for its visibility timeout."""
        results: list[Handled] = []
        seen: set[str] = set()
        held: dict[str, str] = {}  # received and not deleted: message id -> its latest receipt
        expected = self.pending()  # approximate: the bar grows if more arrive
        task = progress.add_task(f"redrive {self._consumer.name}", total=expected or None)
        visibility = PEEK_VISIBILITY_SECONDS if self._dry_run else VISIBILITY_SECONDS
        try:
            while True:
                received = self._admin.sqs.receive_message(
                    QueueUrl=self._queue,
                    MaxNumberOfMessages=10,
                    VisibilityTimeout=visibility,
                    WaitTimeSeconds=1,
                ).get("Messages", [])
                held |= {m["MessageId"]: m["ReceiptHandle"] for m in received}
                fresh = [m for m in received if m["MessageId"] not in seen]
                if not fresh:
                    return results
                for message in fresh:
                    seen.add(message["MessageId"])
                    handled = self.handle(message["Body"])
                    results.append(handled)
                    if handled.ok and not self._dry_run:
                        self._admin.sqs.delete_message(
                            QueueUrl=self._queue, ReceiptHandle=message["ReceiptHandle"]
                        )
                        del held[message["MessageId"]]
                    progress.update(task, advance=1, total=max(expected, len(results)))
        finally:
            for handle in held.values():
                # If this fails, the message becomes visible anyway once its timeout has passed.
                with contextlib.suppress(ClientError, BotoCoreError):
                    self._admin.sqs.change_message_visibility(
                        QueueUrl=self._queue, ReceiptHandle=handle, VisibilityTimeout=0
                    )

    # -- one message --

    def handle(self, body: str) -> Handled:
        try:
            batch = FailedBatch.from_body(body)
        except Unreadable as exc:
            return Handled(
                None, problem=f"not a stream on-failure record as Lambda writes it: {exc}; left in the queue"
            )
        except (ValueError, KeyError, TypeError):
            return Handled(
                None, problem="not a stream on-failure record (no DDBStreamBatchInfo); left in the queue"
            )
        handled = Handled(batch)
        try:
            try:
                # the records themselves where the destination kept them (S3, the local stack):
                # no need for the stream, which keeps them only 24 hours
                events = self._events(
                    list(batch.records) if batch.records else read_span(self._admin.streams, batch)
                )
            except SpanUnavailable as gone:
                if self._by_arrival and batch.first_arrival and batch.last_arrival:
                    events = [(item, item) for item in self._received_between(batch)]
                    if not events:  # then the window missed them: never delete on a guess
                        handled.problem = "by arrival time: no events received then found; left in the queue"
                        return handled
                    handled.done.append("by arrival time:")
                else:
                    handled.problem = f"{gone}; {self._beyond_retention_hint(batch)}"
                    return handled
            handled.records = len(events)
            if self._consumer.name == "fanout":
                self._republish(events, handled)
            else:
                self._rebuild(events, handled)
        except Unreadable as exc:
            handled.problem = f"{exc}; left in the queue"
        except (ClientError, BotoCoreError, RuntimeError) as exc:
            handled.problem = f"{type(exc).__name__}: {str(exc)[:200]}; left in the queue"
        return handled

    def _events(
        self, records: Iterable[Mapping[str, Any]]
    ) -> list[tuple[dict[str, Any] | None, dict[str, Any]]]:
        """(stored item or None if gone, the record's image) of each record this consumer's
        mapping would have delivered. The stored item is read consistently: the log is the truth."""
        events = []
        events_table = self._admin.events
        for record in records:
            try:
                if not self._consumer.wants(record):
                    continue
                key = events_table.decode(record["dynamodb"]["Keys"])
                where = (str(key["pk"]), str(key["sk"]))
                image = events_table.decode(record["dynamodb"].get("NewImage") or {})
            except (AttributeError, KeyError, TypeError, ValueError) as exc:
                # one record that cannot be read: the message is kept, never deleted half-read
                raise Unreadable(
                    f"a record it carries cannot be read ({type(exc).__name__}: {exc})"
                ) from None
            events.append((events_table.get(where), image))
        return events

    def _received_between(self, batch: FailedBatch) -> list[dict[str, Any]]:
        """The consumer's events the ingest received while the batch arrived in the stream
        (its arrival times, a few seconds either side), from the by-cmd-day listings of the
        event days from the day before the first arrival to the day of the last: what the stream
        no longer holds. Events delivered more than a day late are not among them."""
        zone = self._admin.settings.report_zone
        first = datetime.fromisoformat(str(batch.first_arrival)) - ARRIVAL_MARGIN
        last = datetime.fromisoformat(str(batch.last_arrival)) + ARRIVAL_MARGIN
        day, end = (first - timedelta(days=1)).astimezone(zone).date(), last.astimezone(zone).date()
        days = []
        while day <= end:
            days.append(day.isoformat())
            day += timedelta(days=1)
        found = []
        for cmd in sorted(self._consumer.cmds):
            for listed_day in days:
                for item in self._admin.queries.events_by_cmd_day(cmd, listed_day):
                    received = datetime.fromisoformat(str(item.get("received_at")))
                    if first <= received <= last:
                        found.append(dict(item))
        return found

    def _republish(
        self, events: Sequence[tuple[dict[str, Any] | None, dict[str, Any]]], handled: Handled
    ) -> None:
        for stored, _image in events:
            if stored is None:
                handled.done.append("gone (expired): not republished")
                continue
            if not self._dry_run:
                self._admin.fanout.publish(stored)  # subscribers deduplicate on event_key
            handled.done.append(f"{stored['cmd']} {stored['event_key']}")

    def _rebuild(
        self, events: Sequence[tuple[dict[str, Any] | None, dict[str, Any]]], handled: Handled
    ) -> None:
        rebuilder = self._admin.rebuilder
        touched: set[tuple[str, ...]] = set()
        for stored, image in events:
            # An event gone from the log still names the reports it was part of. Only this
            # consumer's reports: an agent state also touches its agent day, which is the agent
            # statistics' business, not the call statistics'.
            reports = rebuilder.touched_by(stored or image)
            touched |= {report for report in reports if report[0] in self._consumer.reports}
        handled.done.extend(" ".join(report) for report in sorted(touched))
        # Rebuilt once per run: a rebuild reads the whole log, which already holds every record
        # of every message in the queue.
        todo = sorted(touched - self._rebuilt)
        if self._dry_run or not todo:
            return
        from acd_hub.rebuild import STOPPED  # noqa: PLC0415  (the rebuild API is loaded with the rebuilder)

        # agent days and calls, then the hotline days those calls count in (their KPI counters
        # checked against the calls' contributions)
        try:
            rebuilder.rebuild(todo)
        except STOPPED as exc:  # throttled, or the stream kept changing a report: kept, for next time
            raise RebuildStopped(f"the rebuild stopped ({type(exc).__name__}: {str(exc)[:200]})") from exc
        self._rebuilt.update(todo)

    def _beyond_retention_hint(self, batch: FailedBatch) -> str:
        days = sorted(
            {
                datetime.fromisoformat(moment).astimezone(self._admin.settings.report_zone).date().isoformat()
                for moment in (batch.first_arrival, batch.last_arrival)
                if moment
            }
        )
        span = f"--day {days[0]}" + (f" --to {days[-1]}" if len(days) > 1 else "") if days else "--day <day>"
        if self._consumer.name == "fanout":
            return "redrive with --by-arrival-time to republish the events received then"
        return f"redrive with --by-arrival-time, or rebuild the days: acd-admin rebuild {span}"
