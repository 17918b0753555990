"""The stream event source mapping: one poller per mapping feeds a stream consumer as Lambda
does (filter criteria, batches, partial-batch failures, bisect, bounded retries, a DLQ).
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from acd_devkit.moto_resources import ACCOUNT_ID, REGION, AwsClients
from acd_devkit.stream_mapping import (
    BatchOutcome,
    batch_outcome,
    drop_phantom_inserts,
    lambda_stream_record,
    passes_filters,
    stream_event,
)
from acd_local.invoke import ErrorLog, FunctionInvoker
from acd_local.spec import StreamMapping

STREAM_LOG = logging.getLogger("acd_local.streams")
_RESOURCE_GONE = {"ResourceNotFoundException"}


def _forget_iterator(iterator: str, region: str) -> None:
    """moto keeps every shard iterator it ever handed out (each ``get_records`` mints a new one,
    ~2 KB): a poller running for a day would hold hundreds of MB. Drop the used one when moto
    runs in this process — the local stack's always does."""
    if "moto" not in sys.modules:
        return
    with contextlib.suppress(Exception):
        from moto.dynamodbstreams.models import dynamodbstreams_backends  # noqa: PLC0415

        dynamodbstreams_backends[ACCOUNT_ID][region].shard_iterators.pop(iterator, None)


@dataclass(frozen=True)
class StreamLag:
    """How far one stream consumer is behind: records read from (or carried into) its stream but
    not handled yet, and the age of the oldest of them (what Lambda's IteratorAge measures)."""

    records_behind: int
    oldest_age_seconds: float | None
    # The read-ahead buffer is full: more records may wait in the stream than counted here.
    at_least: bool = False

    def describe(self) -> str:
        if not self.records_behind:
            return "up to date"
        count = f"{'>=' if self.at_least else ''}{self.records_behind:,} behind"
        age = f", oldest {self.oldest_age_seconds:.1f} s" if self.oldest_age_seconds is not None else ""
        return count + age


@dataclass
class _Pending:
    """A record read from the stream (or carried over from an earlier run), not handled yet."""

    shard_id: str
    sequence: str
    record: dict[str, Any] | None  # Lambda's shape; None when the filter criteria drop it
    created: float | None  # ApproximateCreationDateTime, epoch seconds
    arrived: float  # time.monotonic() when read


def _created_epoch(raw: Mapping[str, Any]) -> float | None:
    value = raw.get("dynamodb", {}).get("ApproximateCreationDateTime")
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


class StreamPoller(threading.Thread):
    """Feeds one stream consumer from its table's stream the way Lambda's event source mapping
    does: filter criteria, batches of at most ``batch_size``, ``eventSourceARN`` on each record,
    partial-batch failures (retry from the first failed record), bisect on error, at most
    ``max_retries`` retries, then the failed records to a DLQ queue and on.

    A reader thread keeps reading the stream ahead into a bounded buffer while this thread
    invokes the function, so :meth:`lag` can say how many records wait and how old the oldest
    is (the buffer holds at most ``max_buffered``; beyond that the lag is a lower bound).

    Where it starts: after ``checkpoints`` (shard -> last sequence number handled) where given,
    else at TRIM_HORIZON. ``carried`` records (kept by the data folder from an earlier run, not yet
    handled then) are delivered first. After every delivered batch ``on_progress(self)`` is
    called: :attr:`checkpoints` and :attr:`carried_left` then say what is done.

    Like a real mapping it is bound to one stream (``stream_arn``, else the table's stream when
    first seen): if the table is deleted or recreated, the poller goes quiet rather than
    following the new stream. That also keeps a stack whose moto state was reset (by a test, or
    another stack in the process) from consuming someone else's records.

    The batching window is honoured (records are gathered until a full batch or the window has
    passed). Not emulated: the maximum record age (a local stream never gets that old).
    """

    def __init__(
        self,
        mapping: StreamMapping,
        invoke: FunctionInvoker | Any,
        clients: AwsClients,
        *,
        stream_arn: str | None = None,
        dlq_url: str | None = None,
        region: str = REGION,
        errors: ErrorLog | None = None,
        poll_interval: float = 0.25,
        discovery_interval: float = 2.0,
        retry_delay: float = 0.2,
        max_retry_delay: float = 2.0,
        checkpoints: Mapping[str, str] | None = None,
        carried: Sequence[Mapping[str, Any]] = (),
        on_progress: Callable[[StreamPoller], None] | None = None,
        max_buffered: int = 10_000,
    ) -> None:
        super().__init__(name=f"stream-poller-{mapping.function}", daemon=True)
        self.mapping = mapping
        self._invoke = invoke
        self._clients = clients
        self._dlq_url = dlq_url
        self._region = region
        self._errors = errors or ErrorLog()
        self._poll_interval = poll_interval
        self._discovery_interval = discovery_interval
        self._retry_delay = retry_delay
        self._max_retry_delay = max_retry_delay
        self._on_progress = on_progress
        self._max_buffered = max(1, max_buffered)
        self._stop_event = threading.Event()
        self._wake_event = threading.Event()
        # Guards the buffer, the carried records, what is in flight and the idle/pause state.
        self._cond = threading.Condition()
        self._buffer: deque[_Pending] = deque()
        self._carried: deque[Mapping[str, Any]] = deque(carried)
        self._in_flight: list[_Pending] = []
        self._idle_cycles = 0
        self._pauses = 0  # pause() calls not resumed yet (several callers' may overlap)
        self._paused = False
        self.stream_arn = stream_arn
        self._iterators: dict[str, str] = {}  # open shards being read
        self._read_up_to: dict[str, str] = {}  # shard -> last sequence number read into the buffer
        self._checkpoints: dict[str, str] = dict(checkpoints or {})  # shard -> last handled
        self._closed_shards: set[str] = set()
        self._last_problem: str | None = None
        self._reader = threading.Thread(
            target=self._read_loop, name=f"stream-reader-{mapping.function}", daemon=True
        )
        self.invocations = 0
        self.dead_lettered = 0

    @property
    def function_arn(self) -> str:
        default = f"arn:aws:lambda:{self._region}:{ACCOUNT_ID}:function:{self.mapping.function}"
        return str(getattr(self._invoke, "arn", default))

    @property
    def checkpoints(self) -> dict[str, str]:
        """Shard -> the last sequence number handled (delivered, filtered out or dead-lettered)."""
        with self._cond:
            return dict(self._checkpoints)

    @property
    def carried_left(self) -> int:
        with self._cond:
            return len(self._carried)

    # -- control --

    def stop(self) -> None:
        self._stop_event.set()
        self._wake_event.set()
        with self._cond:
            self._cond.notify_all()

    def join(self, timeout: float | None = None) -> None:
        super().join(timeout)
        if self._reader.is_alive():
            self._reader.join(timeout)

    def wake(self) -> None:
        self._wake_event.set()

    def idle_cycles(self) -> int:
        with self._cond:
            return self._idle_cycles

    def wait_idle(self, timeout: float) -> bool:
        """True once two full reads of the stream that found nothing new, with nothing left to
        deliver, have passed since the call (the second began after the call, so it saw every
        record written before it)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            target = self._idle_cycles + 2
        while True:
            self._wake_event.set()
            with self._cond:
                if self._idle_cycles >= target:
                    return True
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not self.is_alive():
                    return False
                self._cond.wait(min(remaining, 0.05))

    def pause(self, timeout: float) -> bool:
        """Stop invoking after the batch in flight (if any); True once paused. The checkpoints
        then match exactly what the function has done."""
        deadline = time.monotonic() + timeout
        with self._cond:
            self._pauses += 1
            self._cond.notify_all()
            while not self._paused:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not self.is_alive():
                    return not self.is_alive()  # a stopped poller invokes nothing either
                self._cond.wait(min(remaining, 0.05))
            return True

    def resume(self) -> None:
        with self._cond:
            self._pauses = max(0, self._pauses - 1)
            self._cond.notify_all()

    def lag(self) -> StreamLag:
        with self._cond:
            behind = len(self._carried) + len(self._in_flight) + len(self._buffer)
            created: float | None = None
            if self._carried:
                created = _created_epoch(self._carried[0])
            elif self._in_flight:
                created = self._in_flight[0].created
            elif self._buffer:
                created = self._buffer[0].created
            full = len(self._buffer) >= self._max_buffered
        age = max(0.0, time.time() - created) if created is not None and behind else None
        return StreamLag(behind, age, full)

    # -- reading ahead --

    def _read_loop(self) -> None:
        next_discovery = 0.0
        while not self._stop_event.is_set():
            if time.monotonic() >= next_discovery:
                self._discover()
                next_discovery = time.monotonic() + self._discovery_interval
            found = 0
            for shard_id in list(self._iterators):
                with self._cond:
                    # Back-pressure: a consumer far behind does not pull the whole stream in.
                    while len(self._buffer) >= self._max_buffered and not self._stop_event.is_set():
                        self._cond.wait(0.2)
                raw = self._read(shard_id)
                if raw:
                    found += len(raw)
                    pending = [self._pending(shard_id, record) for record in raw]
                    with self._cond:
                        self._buffer.extend(pending)
                        self._cond.notify_all()
            if not found:
                with self._cond:
                    if not (self._buffer or self._in_flight or self._carried):
                        self._idle_cycles += 1
                    self._cond.notify_all()
                if self._wake_event.wait(self._poll_interval):
                    self._wake_event.clear()

    def _pending(self, shard_id: str, raw: Mapping[str, Any]) -> _Pending:
        record = lambda_stream_record(raw, self.stream_arn or "", self._region)
        kept = passes_filters(self.mapping.filter_patterns, record)
        return _Pending(
            shard_id,
            str(raw["dynamodb"]["SequenceNumber"]),
            record if kept else None,
            _created_epoch(raw),
            time.monotonic(),
        )

    def _problem(self, message: str) -> None:
        # Say it once, not four times a second.
        if message != self._last_problem:
            STREAM_LOG.warning("%s: %s", self.mapping.function, message)
            self._last_problem = message

    def _discover(self) -> None:
        """Bind to the stream (once) and open an iterator on every shard not being read."""
        from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

        try:
            table = self._clients.dynamodb.describe_table(TableName=self.mapping.table)["Table"]
            enabled = table.get("StreamSpecification", {}).get("StreamEnabled")
            arn = table.get("LatestStreamArn") if enabled else None
            if self.stream_arn is None and arn is not None:
                self.stream_arn = arn
            if arn is None or arn != self.stream_arn:
                self._iterators.clear()
                self._problem(f"the stream of {self.mapping.table} is gone; not following a new one")
                return
            shards: list[dict[str, Any]] = []
            kwargs: dict[str, Any] = {"StreamArn": arn}
            while True:
                description = self._clients.streams.describe_stream(**kwargs)["StreamDescription"]
                shards.extend(cast("list[dict[str, Any]]", description.get("Shards", [])))
                if not description.get("LastEvaluatedShardId"):
                    break
                kwargs["ExclusiveStartShardId"] = description["LastEvaluatedShardId"]
            for shard in shards:
                shard_id = shard["ShardId"]
                if shard_id not in self._iterators and shard_id not in self._closed_shards:
                    self._iterators[shard_id] = self._open(arn, shard_id)
            self._last_problem = None
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _RESOURCE_GONE:
                self._iterators.clear()
                self._problem(f"table {self.mapping.table} not found")
            else:
                self._problem(f"describing the stream failed: {exc}")
        except BotoCoreError as exc:
            self._problem(f"describing the stream failed: {exc}")

    def _open(self, arn: str, shard_id: str) -> str:
        """An iterator after what was read (or handled) of the shard, so nothing is delivered
        twice; a shard never read starts at TRIM_HORIZON (a new shard is read from its
        beginning)."""
        kwargs: dict[str, Any] = {"StreamArn": arn, "ShardId": shard_id}
        with self._cond:
            after = self._read_up_to.get(shard_id) or self._checkpoints.get(shard_id)
        if after is not None:
            kwargs.update(ShardIteratorType="AFTER_SEQUENCE_NUMBER", SequenceNumber=after)
        else:
            kwargs["ShardIteratorType"] = "TRIM_HORIZON"
        return self._clients.streams.get_shard_iterator(**kwargs)["ShardIterator"]

    def _read(self, shard_id: str) -> list[dict[str, Any]]:
        from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

        iterator = self._iterators[shard_id]
        try:
            response = self._clients.streams.get_records(ShardIterator=iterator, Limit=1000)
        except (ClientError, BotoCoreError) as exc:
            # An expired or unknown iterator, a table gone, a stopping server: drop the shard;
            # the next discovery reopens it after what was read (or finds the table gone).
            self._iterators.pop(shard_id, None)
            self._problem(f"reading the stream failed: {exc}")
            return []
        _forget_iterator(iterator, self._region)
        next_iterator = response.get("NextShardIterator")
        if next_iterator is None:
            del self._iterators[shard_id]
            self._closed_shards.add(shard_id)
        else:
            self._iterators[shard_id] = next_iterator
        raw = cast("list[dict[str, Any]]", list(response.get("Records", [])))
        if raw:
            with self._cond:
                self._read_up_to[shard_id] = str(raw[-1]["dynamodb"]["SequenceNumber"])
        return drop_phantom_inserts(raw)  # type: ignore[return-value]

    # -- delivering --

    def run(self) -> None:
        self._reader.start()
        try:
            while not self._stop_event.is_set():
                self._pause_point()
                if self._stop_event.is_set():
                    break
                if self.carried_left:
                    self._deliver_carried()
                    continue
                taken = self._take()
                if taken:
                    self._deliver(taken)
        finally:
            self._stop_event.set()
            self._wake_event.set()

    def _pause_point(self) -> None:
        with self._cond:
            if not self._pauses:
                return
            self._paused = True
            self._cond.notify_all()
            while self._pauses and not self._stop_event.is_set():
                self._cond.wait(0.2)
            self._paused = False

    def _take(self) -> list[_Pending]:
        """The next batch: records of one shard in order, up to ``batch_size`` the filters keep
        (records they drop come along, to be checkpointed). Waits for the batching window."""
        with self._cond:
            while not self._buffer:
                if self._stop_event.is_set() or self._pauses:
                    return []
                self._cond.wait(self._poll_interval)
            if self.mapping.batching_window > 0:
                deadline = self._buffer[0].arrived + self.mapping.batching_window
                while (
                    sum(1 for p in self._buffer if p.record is not None) < self.mapping.batch_size
                    and not self._stop_event.is_set()
                    and not self._pauses
                ):
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self._cond.wait(min(remaining, self._poll_interval))
            shard_id = self._buffer[0].shard_id
            taken: list[_Pending] = []
            kept = 0
            while self._buffer and self._buffer[0].shard_id == shard_id:
                if self._buffer[0].record is not None:
                    if kept == self.mapping.batch_size:
                        break
                    kept += 1
                taken.append(self._buffer.popleft())
            self._in_flight = taken
            self._cond.notify_all()  # room in the buffer again
            return taken

    def _deliver(self, taken: list[_Pending]) -> None:
        shard_id = taken[0].shard_id
        batch = [p.record for p in taken if p.record is not None]
        done = self._process(shard_id, batch) if batch else True
        with self._cond:
            if done:
                # Filtered-out records are checkpointed too: Lambda drops them for good.
                self._checkpoints[shard_id] = taken[-1].sequence
            self._in_flight = []
            self._cond.notify_all()
        if done and self._on_progress is not None:
            self._on_progress(self)

    def _deliver_carried(self) -> None:
        """Records the data folder kept as not yet handled by this consumer: delivered first, in
        order, in batches like the stream's (their sequence numbers are from the earlier run)."""
        with self._cond:
            take: list[Mapping[str, Any]] = []
            kept: list[dict[str, Any]] = []
            for raw in self._carried:
                record = lambda_stream_record(raw, self.stream_arn or "", self._region)
                if passes_filters(self.mapping.filter_patterns, record):
                    if len(kept) == self.mapping.batch_size:
                        break
                    kept.append(record)
                take.append(raw)
            self._in_flight = [
                _Pending("carried", str(r["dynamodb"]["SequenceNumber"]), None, _created_epoch(r), 0.0)
                for r in take
            ]
        done = self._process("carried", kept) if kept else True
        with self._cond:
            if done:
                for _ in take:
                    self._carried.popleft()
            self._in_flight = []
            self._cond.notify_all()
        if done and self._on_progress is not None:
            self._on_progress(self)

    def _process(self, shard_id: str, batch: list[dict[str, Any]]) -> bool:
        """Deliver one batch until it succeeds or its records are dead-lettered; False if the
        poller was stopped meanwhile."""
        pending: deque[tuple[list[dict[str, Any]], int]] = deque([(batch, 0)])
        while pending:
            records, attempt = pending.popleft()
            outcome = self._invoke_batch(shard_id, records)
            if outcome.ok:
                continue
            failed = records[outcome.retry_from :]
            if 0 <= self.mapping.max_retries <= attempt or self._too_old(failed):
                self._dead_letter(shard_id, failed, outcome, attempt + 1)
                continue
            if self._stop_event.wait(min(self._retry_delay * 2**attempt, self._max_retry_delay)):
                return False
            if self.mapping.bisect and len(failed) > 1:
                half = len(failed) // 2
                pending.appendleft((failed[half:], attempt + 1))
                pending.appendleft((failed[:half], attempt + 1))
            else:
                pending.appendleft((failed, attempt + 1))
        return True

    def _too_old(self, records: list[dict[str, Any]]) -> bool:
        """Lambda stops retrying once the oldest record is older than MaximumRecordAgeInSeconds."""
        if self.mapping.max_record_age < 0:
            return False
        created = [r["dynamodb"].get("ApproximateCreationDateTime") for r in records]
        oldest = min((c for c in created if isinstance(c, int | float)), default=None)
        return oldest is not None and time.time() - oldest > self.mapping.max_record_age

    def _invoke_batch(self, shard_id: str, records: list[dict[str, Any]]) -> BatchOutcome:
        self.invocations += 1
        window = self.mapping.tumbling_window
        try:
            response = self._invoke(
                stream_event(records, shard_id=shard_id, stream_arn=self.stream_arn or "", window_s=window)
            )
        except BaseException as exc:
            # sys.exit() in a handler too (Lambda: Runtime.ExitError, a failed batch): before,
            # it ended this poller's thread, and the consumer's process lived on handling nothing.
            if not isinstance(exc, Exception):
                failure = RuntimeError(f"Runtime exited: {exc!r}")
                failure.__cause__ = exc
                exc = failure
            STREAM_LOG.warning(
                "%s failed on a batch of %d record(s): %r",
                self.mapping.function,
                len(records),
                exc,
                exc_info=True,
            )
            self._errors.record(self.mapping.function, "stream", exc)
            sequence = frozenset(str(r["dynamodb"]["SequenceNumber"]) for r in records)
            return BatchOutcome(0, sequence, function_error=True)
        return batch_outcome(
            records, response, report_failures=self.mapping.report_batch_item_failures, windowed=window > 0
        )

    def _dead_letter(
        self, shard_id: str, span: list[dict[str, Any]], outcome: BatchOutcome, invokes: int
    ) -> None:
        """Give up on ``span`` like Lambda's on-failure destination: a message naming the shard
        and sequence range (Lambda's format) plus, locally, the failed records themselves."""
        failed = [r for r in span if str(r["dynamodb"]["SequenceNumber"]) in outcome.failed] or span
        self.dead_lettered += len(failed)
        STREAM_LOG.error(
            "%s: %d record(s) failed %d time(s); sent to the DLQ and skipped",
            self.mapping.function,
            len(failed),
            invokes,
        )
        if self._dlq_url is None:
            return
        arrivals = [r["dynamodb"].get("ApproximateCreationDateTime") for r in span]
        message = {
            "requestContext": {
                "requestId": str(uuid.uuid4()),
                "functionArn": self.function_arn,
                "condition": "RetryAttemptsExhausted",
                "approximateInvokeCount": invokes,
            },
            "responseContext": {
                "statusCode": 200,
                "executedVersion": "$LATEST",
                "functionError": "Unhandled" if outcome.function_error else "",
            },
            "version": "1.0",
            "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "DDBStreamBatchInfo": {
                "shardId": shard_id,
                "startSequenceNumber": span[0]["dynamodb"]["SequenceNumber"],
                "endSequenceNumber": span[-1]["dynamodb"]["SequenceNumber"],
                "approximateArrivalOfFirstRecord": _iso(arrivals[0]),
                "approximateArrivalOfLastRecord": _iso(arrivals[-1]),
                "batchSize": len(span),
                "streamArn": self.stream_arn,
            },
            "Records": failed,
        }
        try:
            self._clients.sqs.send_message(QueueUrl=self._dlq_url, MessageBody=json.dumps(message))
        except Exception:
            STREAM_LOG.exception("%s: could not write to the DLQ", self.mapping.function)


def _iso(epoch: Any) -> str | None:
    if not isinstance(epoch, int | float):
        return None
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
