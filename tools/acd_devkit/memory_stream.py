"""A table's stream of several shards, read by Lambda functions the way Lambda's DynamoDB event
source mapping reads it: what the local stack (one shard) and moto cannot show.

* **Shards.** :class:`acd_devkit.memory_dynamodb.MemoryDynamoDB` splits a table's records over
  ``shards`` shards by partition key, as DynamoDB Streams does. Each mapping reads each shard in
  order, one batch at a time; shards are read concurrently, in no order across them.
* **A mapping's semantics**, as the template configures them (:func:`mappings`): filter criteria
  (a record they drop is passed over for good), batches of at most ``BatchSize`` (or any size
  from 1 up to it, drawn from the seed), ``ReportBatchItemFailures`` (retry from the first failed
  record; the records before it are done), ``BisectBatchOnFunctionError``,
  ``MaximumRetryAttempts``, then the on-failure destination: a message naming the shard and the
  sequence numbers, not the records (as Lambda sends to SQS), kept in :attr:`Consumer.dead_letters`.
  The answer is read by :func:`acd_devkit.stream_mapping.batch_outcome`, the filters by
  :func:`~acd_devkit.stream_mapping.passes_filters`: one reading of Lambda's rules for the local
  stack and here.
* **Concurrency.** :meth:`StreamRun.drain` runs every (mapping, shard) reader in its own thread.
  With ``seed`` set, a seeded scheduler lets exactly one thread run between two DynamoDB
  requests and picks the next at random (the database's ``gate``): any interleaving of shards,
  request by request, reproducible from the seed. A function that runs work side by side in
  threads of its own (:func:`acd_hub.concurrency.side_by_side`, the stats function's two
  aggregators) has those threads scheduled the same way. Without a seed the threads run freely.
"""

from __future__ import annotations

import random
import threading
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from acd_devkit import template as tpl
from acd_devkit.dynamodb_table import Stream
from acd_devkit.lambda_events import FakeLambdaContext
from acd_devkit.memory_dynamodb import MemoryDynamoDB
from acd_devkit.stream_mapping import (
    batch_outcome,
    lambda_stream_record,
    parse_filter_patterns,
    passes_filters,
    stream_event,
)
from acd_hub import concurrency

Handler = Callable[[dict[str, Any], Any], Any]


@dataclass(frozen=True)
class MappingSettings:
    """One event source mapping's settings, from the template."""

    function: str
    batch_size: int
    filter_patterns: tuple[Mapping[str, Any], ...]
    bisect: bool
    max_retries: int  # -1: until the record expires
    report_failures: bool
    tumbling_window: int = 0  # seconds; the event then names its shard


def mappings(
    template: Mapping[str, Any] | None = None, table: str = "EventsTable"
) -> dict[str, MappingSettings]:
    """The stream mappings of ``table`` in the template (``template.yaml`` by default)."""
    source = template if template is not None else tpl.load_template()
    return {
        m["function"]: MappingSettings(
            function=m["function"],
            batch_size=int(m["batch_size"]),
            filter_patterns=tuple(parse_filter_patterns(m["filter_patterns"])),
            bisect=bool(m["bisect"]),
            max_retries=int(m["max_retries"]),
            report_failures=bool(m.get("report_batch_item_failures", True)),
            tumbling_window=int(m.get("tumbling_window", 0)),
        )
        for m in tpl.stream_mappings(source)
        if m["table"] == table
    }


@dataclass
class Consumer:
    """One function reading the stream: where it is in each shard, and what it gave up on."""

    mapping: MappingSettings
    handler: Handler
    positions: dict[int, int] = field(default_factory=dict)  # shard -> next record's index
    dead_letters: list[dict[str, Any]] = field(default_factory=list)
    invocations: int = 0
    errors: list[BaseException] = field(default_factory=list)
    # the truth a freshness claim is checked against: sequence numbers of records whose batch
    # succeeded for them, and of records sent to the on-failure destination
    handled: set[str] = field(default_factory=set)
    given_up: set[str] = field(default_factory=set)
    # The records of the invocations running now (one per shard). A function may note its progress before it
    # answers (the stats function notes two consumers, one request each): a claim then covering
    # these is checked against the answer once it comes, and lands in false_claims if the
    # answer does not mark them done.
    in_flight: set[str] = field(default_factory=set)
    claimed_in_flight: set[str] = field(default_factory=set)
    false_claims: list[str] = field(default_factory=list)


class _Scheduler:
    """One thread at a time between two requests; which one is drawn from the seed."""

    def __init__(self, seed: int) -> None:
        self._random = random.Random(seed)  # noqa: S311 - an interleaving, not a secret
        self._cond = threading.Condition()
        self._waiting: list[threading.Thread] = []
        self._running: threading.Thread | None = None
        self._alive: set[threading.Thread] = set()
        # threads waiting for their own threads (side_by_side): alive, but at no gate
        self._suspended: set[threading.Thread] = set()

    def gate(self, _operation: str = "") -> None:
        me = threading.current_thread()
        with self._cond:
            if me not in self._alive:
                return  # the test's own thread (setup, checks) runs freely
            self._waiting.append(me)
            if self._running is me:
                self._running = None
            self._cond.notify_all()
            while self._running is not me:
                self._cond.wait()

    def run(self, tasks: Sequence[Callable[[], None]]) -> None:
        # named by their place, not by the process's thread counter: the draw sorts by name
        threads = [
            threading.Thread(target=self._task(task), name=f"stream-task-{n:03d}", daemon=True)
            for n, task in enumerate(tasks)
        ]
        with self._cond:
            self._alive = set(threads)
        for thread in threads:
            thread.start()
        with self._cond:
            while self._alive:
                # wait until the running thread is at a gate or done, and every other too
                while self._running is not None or len(self._waiting) < len(self._alive) - len(
                    self._suspended
                ):
                    self._cond.wait()
                    if not self._alive:
                        return
                # sorted by name first: the draw must not depend on the order threads arrived
                self._waiting.sort(key=lambda t: t.name)
                chosen = self._waiting.pop(self._random.randrange(len(self._waiting)))
                self._running = chosen
                self._cond.notify_all()

    def side_by_side[T](self, work: Sequence[Callable[[], T]]) -> list[T]:
        """:func:`acd_hub.concurrency.side_by_side` under the scheduler: a scheduled thread's
        own threads are scheduled like every other (named after it, so the draw stays the
        seed's), and it waits for them at no gate, then for its turn."""
        parent = threading.current_thread()
        with self._cond:
            scheduled = parent in self._alive
        if not scheduled or not work:
            return concurrency.in_threads(work)
        results: list[Any] = [None] * len(work)
        errors: list[BaseException | None] = [None] * len(work)
        left = [len(work)]

        def child(index: int) -> None:
            me = threading.current_thread()
            try:
                self.gate("start")
                results[index] = work[index]()
            except BaseException as exc:  # handed to the parent below
                errors[index] = exc
            finally:
                with self._cond:
                    self._alive.discard(me)
                    if self._running is me:
                        self._running = None
                    left[0] -= 1
                    if not left[0]:  # the parent waits for its turn like a thread at a gate
                        self._suspended.discard(parent)
                        self._waiting.append(parent)
                    self._cond.notify_all()

        children = [
            threading.Thread(target=child, args=(index,), name=f"{parent.name}.{index}", daemon=True)
            for index in range(len(work))
        ]
        with self._cond:
            self._suspended.add(parent)
            self._alive.update(children)
            if self._running is parent:
                self._running = None
            self._cond.notify_all()
        for thread in children:
            thread.start()
        for thread in children:
            thread.join()
        with self._cond:
            while self._running is not parent:
                self._cond.wait()
        for error in errors:
            if error is not None:
                raise error
        return results

    def _task(self, task: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                self.gate("start")
                task()
            finally:
                with self._cond:
                    self._alive.discard(threading.current_thread())
                    if self._running is threading.current_thread():
                        self._running = None
                    self._cond.notify_all()

        return run


class StreamRun:
    """Consumers of one table's stream (see the module's docstring)."""

    def __init__(
        self,
        db: MemoryDynamoDB,
        table: str,
        consumers: Mapping[str, tuple[MappingSettings, Handler]],
        *,
        seed: int | None = None,
        random_batch_sizes: bool = True,
    ) -> None:
        self.db = db
        self.stream: Stream = db.stream(table)
        self.consumers = {name: Consumer(mapping, handler) for name, (mapping, handler) in consumers.items()}
        self.seed = seed
        self._random = random.Random(seed)  # noqa: S311
        self._random_sizes = random_batch_sizes
        self._lock = threading.Lock()

    # -- what is left --

    def behind(self, consumer: str) -> int:
        """Records this consumer has not passed yet, over every shard."""
        state = self.consumers[consumer]
        return sum(
            len(records) - state.positions.get(shard, 0) for shard, records in enumerate(self.stream.shards)
        )

    def drained(self) -> bool:
        return all(self.behind(name) == 0 for name in self.consumers)

    # -- running --

    def drain(self, producer: Callable[[], None] | None = None, *more: Callable[[], None]) -> None:
        """Every consumer reads every shard to its end; the producers (storing events, a
        rebuild) run beside them, one thread each, and the readers keep polling until they are
        done."""
        producers = [p for p in (producer, *more) if p is not None]
        left = [len(producers)]
        failures: list[BaseException] = []
        producing = threading.Event()
        tasks: list[Callable[[], None]] = []
        if producers:
            producing.set()
        lock = threading.Lock()

        def producing_with(work: Callable[[], None]) -> Callable[[], None]:
            def produce() -> None:
                try:
                    work()
                except BaseException as exc:  # a check's assertion must fail the test, not warn
                    failures.append(exc)
                    raise
                finally:
                    with lock:
                        left[0] -= 1
                        if not left[0]:
                            producing.clear()

            return produce

        tasks += [producing_with(work) for work in producers]
        for name in sorted(self.consumers):
            for shard in range(len(self.stream.shards)):
                tasks.append(self._reader(name, shard, producing))
        if self.seed is None:
            threads = [threading.Thread(target=task, daemon=True) for task in tasks]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        else:
            scheduler = _Scheduler(self.seed)
            saved, self.db.gate = self.db.gate, scheduler.gate
            saved_side_by_side = concurrency.side_by_side
            concurrency.side_by_side = scheduler.side_by_side  # type: ignore[assignment]
            try:
                scheduler.run(tasks)
            finally:
                self.db.gate = saved
                concurrency.side_by_side = saved_side_by_side  # type: ignore[assignment]
        for consumer in self.consumers.values():
            if consumer.errors:
                raise consumer.errors[0]
        if failures:
            raise failures[0]

    def _reader(self, name: str, shard: int, producing: threading.Event) -> Callable[[], None]:
        consumer = self.consumers[name]

        def read() -> None:
            try:
                while True:
                    if not self._next_batch(consumer, shard):
                        if not producing.is_set():
                            return
                        gate = self.db.gate
                        if gate is not None:
                            gate("GetRecords")  # an empty poll: let the others run
                        else:
                            threading.Event().wait(0.001)
            except BaseException as exc:  # the test must see it, not a silent thread
                consumer.errors.append(exc)
                raise

        return read

    def _next_batch(self, consumer: Consumer, shard: int) -> bool:
        """Deliver this shard's next batch until it is done or dead-lettered; False if nothing
        was left to read."""
        records = self.stream.shards[shard]
        start = consumer.positions.get(shard, 0)
        if start >= len(records):
            return False
        size = consumer.mapping.batch_size
        if self._random_sizes:
            with self._lock:
                size = self._random.randint(1, size)
        taken, kept = 0, list[dict[str, Any]]()
        for raw in records[start:]:
            record = lambda_stream_record(raw, self.stream.arn, "eu-central-1")
            if passes_filters(consumer.mapping.filter_patterns, record):
                if len(kept) == size:
                    break
                kept.append(record)
            taken += 1
        if kept:
            self._process(consumer, shard, kept)
        consumer.positions[shard] = start + taken
        return True

    def _process(self, consumer: Consumer, shard: int, batch: list[dict[str, Any]]) -> None:
        """Lambda's retries of one batch: from the first failed record, halves on error, then
        the on-failure destination."""
        mapping = consumer.mapping
        pending: deque[tuple[list[dict[str, Any]], int]] = deque([(batch, 0)])
        while pending:
            records, attempt = pending.popleft()
            consumer.invocations += 1
            batch_sequences = {_sequence(r) for r in records}
            with self._lock:
                consumer.in_flight |= batch_sequences
            event = stream_event(
                records,
                shard_id=self.stream.shard_id(shard),
                stream_arn=self.stream.arn,
                window_s=mapping.tumbling_window,
            )
            try:
                response = consumer.handler(event, FakeLambdaContext(function_name=mapping.function))
            except Exception:
                response = {"batchItemFailures": [{"itemIdentifier": ""}]}  # a function error: all failed
            outcome = batch_outcome(
                records,
                response,
                report_failures=mapping.report_failures,
                windowed=mapping.tumbling_window > 0,
            )
            done = records if outcome.ok else records[: outcome.retry_from]
            with self._lock:
                consumer.handled.update(_sequence(r) for r in done)
                claimed = consumer.claimed_in_flight & batch_sequences
                consumer.false_claims += sorted(claimed - consumer.handled)
                consumer.in_flight -= batch_sequences
                consumer.claimed_in_flight -= batch_sequences
            if outcome.ok:
                continue
            failed = records[outcome.retry_from :]
            if 0 <= mapping.max_retries <= attempt:
                consumer.dead_letters.append(_destination_message(self.stream, shard, failed, attempt + 1))
                consumer.given_up.update(_sequence(r) for r in failed)
                continue
            if mapping.bisect and len(failed) > 1:
                half = len(failed) // 2
                pending.appendleft((failed[half:], attempt + 1))
                pending.appendleft((failed[:half], attempt + 1))
            else:
                pending.appendleft((failed, attempt + 1))

    # -- the truth behind a freshness claim --

    def unhandled(self, consumer: str, shard_ids: set[str], received_up_to_ms: int) -> list[str]:
        """Sequence numbers of records in ``shard_ids`` that this consumer must see (its filters
        pass them), received up to ``received_up_to_ms``, and neither handled nor given up.
        Records of the invocation running now are not counted: they are checked against its
        answer (:attr:`Consumer.false_claims`)."""
        state = self.consumers[consumer]
        missing = []
        for shard, records in enumerate(self.stream.shards):
            if self.stream.shard_id(shard) not in shard_ids:
                continue
            for raw in records:
                received = _received_ms(raw)
                sequence = _sequence(raw)
                if received is None or received > received_up_to_ms:
                    continue
                if sequence in state.handled or sequence in state.given_up:
                    continue
                with self._lock:
                    if sequence in state.in_flight:
                        state.claimed_in_flight.add(sequence)
                        continue
                record = lambda_stream_record(raw, self.stream.arn, "eu-central-1")
                if passes_filters(state.mapping.filter_patterns, record):
                    missing.append(sequence)
        return missing

    # -- the on-failure destination, read back --

    def redrive(self, consumer: str) -> int:
        """Deliver again the records the consumer gave up on (as ``acd-admin redrive`` does from
        the destination's messages: by shard and sequence numbers); returns how many."""
        state = self.consumers[consumer]
        messages, state.dead_letters = state.dead_letters, []
        count = 0
        for message in messages:
            info = message["DDBStreamBatchInfo"]
            shard = int(info["shardId"].rsplit("-", 1)[1])
            first, last = info["startSequenceNumber"], info["endSequenceNumber"]
            span = [
                lambda_stream_record(raw, self.stream.arn, "eu-central-1")
                for raw in self.stream.shards[shard]
                if first <= raw["dynamodb"]["SequenceNumber"] <= last
            ]
            kept = [r for r in span if passes_filters(state.mapping.filter_patterns, r)]
            count += len(kept)
            if kept:
                self._process(state, shard, kept)
        return count


def _sequence(record: Mapping[str, Any]) -> str:
    return str(record["dynamodb"]["SequenceNumber"])


def _received_ms(record: Mapping[str, Any]) -> int | None:
    text = ((record["dynamodb"].get("NewImage") or {}).get("received_at") or {}).get("S")
    if not text:
        return None
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


def _destination_message(
    stream: Stream, shard: int, records: list[dict[str, Any]], attempts: int
) -> dict[str, Any]:
    """What Lambda sends an SQS on-failure destination: where the records are, not the records."""
    sequence = [str(r["dynamodb"]["SequenceNumber"]) for r in records]
    return {
        "requestContext": {"condition": "RetryAttemptsExhausted", "approximateInvokeCount": attempts},
        "DDBStreamBatchInfo": {
            "shardId": stream.shard_id(shard),
            "startSequenceNumber": sequence[0],
            "endSequenceNumber": sequence[-1],
            "batchSize": len(records),
            "streamArn": stream.arn,
        },
    }
