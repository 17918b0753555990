"""Both aggregators on one stream batch (``acd_hub.aggregation.aggregate_together``, what the
stats function runs): each on its share, side by side in threads of their own, the answer the
union of their failures, and each consumer's freshness held below the batch's first failure."""

from __future__ import annotations

import threading
from collections.abc import Hashable, Iterable
from datetime import UTC, datetime
from typing import Any

import pytest

from acd_hub import backoff, concurrency
from acd_hub.aggregation import aggregate_together
from acd_hub.events import StreamRecord
from acd_hub.ports import BatchProgress

RECEIVED = {"1": "2026-11-20T08:00:01Z", "2": "2026-11-20T08:00:02Z", "3": "2026-11-20T08:00:03Z"}
MS = {sequence: int(datetime.fromisoformat(text).timestamp() * 1000) for sequence, text in RECEIVED.items()}


def record(sequence: str, cmd: str) -> StreamRecord:
    item = {"kind": "event", "cmd": cmd, "event_key": f"k{sequence}", "received_at": RECEIVED[sequence]}
    return StreamRecord(sequence, item)


class Stand:
    """An aggregator that fails the events named, and notes what it saw and where it ran."""

    def __init__(self, name: str, cmds: frozenset[str], fail: frozenset[str] = frozenset()) -> None:
        self.name, self.cmds, self.fail = name, cmds, fail
        self.seen: list[str] = []
        self.notes: list[BatchProgress] = []
        self.thread = ""
        self.clock = lambda: datetime(2026, 11, 20, 9, 0, tzinfo=UTC)

    def prepare(self, items: list[dict[str, Any]]) -> None:
        self.thread = threading.current_thread().name

    def touched(self, item: dict[str, Any]) -> set[Hashable]:
        self.seen.append(str(item["event_key"]))
        return {item["event_key"]}

    def refresh(self, reports: Iterable[Hashable], patience: backoff.Patience) -> dict[Hashable, Exception]:
        return {report: RuntimeError("no") for report in reports if report in self.fail}

    def note_batch(self, progress: BatchProgress) -> None:
        self.notes.append(progress)


BATCH = [record("1", "agentstate"), record("2", "callevent"), record("3", "agentstate")]


def test_each_aggregator_gets_its_share_in_a_thread_of_its_own() -> None:
    agents = Stand("agent-stats", frozenset({"agentstate"}))
    calls = Stand("call-stats", frozenset({"agentstate", "callevent"}))
    outcome = aggregate_together((agents, calls), BATCH, "shard-1")
    assert outcome.answer() == {"batchItemFailures": [], "state": {}}
    assert (agents.seen, calls.seen) == (["k1", "k3"], ["k1", "k2", "k3"])
    main = threading.current_thread().name
    assert {agents.thread, calls.thread} == {f"{main}.0", f"{main}.1"}
    # nothing failed: each complete to its own newest record
    ((agent_note,), (call_note,)) = agents.notes, calls.notes
    assert (agent_note.complete_to_ms, agent_note.pending_from_ms, agent_note.shard) == (
        MS["3"],
        None,
        "shard-1",
    )
    assert (call_note.complete_to_ms, call_note.pending_from_ms) == (MS["3"], None)


def test_the_answer_is_the_union_and_a_failure_holds_both_consumers() -> None:
    """call-stats fails the callevent: Lambda retries the function from it, so agent-stats'
    third record comes again too (it is idempotent), and its note claims nothing past the
    failed record either."""
    agents = Stand("agent-stats", frozenset({"agentstate"}))
    calls = Stand("call-stats", frozenset({"agentstate", "callevent"}), fail=frozenset({"k2"}))
    outcome = aggregate_together((agents, calls), BATCH, "shard-1")
    assert outcome.item_failures() == {"batchItemFailures": [{"itemIdentifier": "2"}]}
    for stand in (agents, calls):
        (note,) = stand.notes
        assert (note.complete_to_ms, note.pending_from_ms) == (None, MS["2"]), stand.name
    assert [fields["consumer"] for _, fields in outcome.warnings] == ["call-stats"]


def test_failures_of_both_come_in_batch_order() -> None:
    agents = Stand("agent-stats", frozenset({"agentstate"}), fail=frozenset({"k3"}))
    calls = Stand("call-stats", frozenset({"agentstate", "callevent"}), fail=frozenset({"k2"}))
    outcome = aggregate_together((agents, calls), BATCH)
    assert [f["itemIdentifier"] for f in outcome.item_failures()["batchItemFailures"]] == ["2", "3"]
    assert sorted(fields["consumer"] for _, fields in outcome.warnings) == ["agent-stats", "call-stats"]


def test_an_unreadable_record_fails_in_both() -> None:
    """Its cmd is not known, so both get it (and both fail it)."""
    agents = Stand("agent-stats", frozenset({"agentstate"}))
    calls = Stand("call-stats", frozenset({"agentstate", "callevent"}))
    broken = StreamRecord("4", None, "TypeError")
    outcome = aggregate_together((agents, calls), [*BATCH, broken])
    assert outcome.item_failures() == {"batchItemFailures": [{"itemIdentifier": "4"}]}
    assert len(outcome.warnings) == 2


def test_a_crash_in_one_thread_fails_the_invocation() -> None:
    """Not an answer of half a batch: the exception reaches Lambda, which retries it all."""

    class Crashing(Stand):
        def refresh(
            self, reports: Iterable[Hashable], patience: backoff.Patience
        ) -> dict[Hashable, Exception]:
            raise MemoryError("out of memory")

    agents = Stand("agent-stats", frozenset({"agentstate"}))
    with pytest.raises(MemoryError):
        aggregate_together((agents, Crashing("call-stats", frozenset({"callevent"}))), BATCH)


def test_side_by_side_really_overlaps() -> None:
    """Each waits for the other: done one after the other, the barrier would break."""
    barrier = threading.Barrier(2, timeout=5)
    assert concurrency.side_by_side([lambda: barrier.wait() + 10, lambda: barrier.wait() + 20]) in (
        [10, 21],
        [11, 20],
    )


def test_each_reads_every_value_in_shares_side_by_side_and_answers_in_the_values_order() -> None:
    seen: dict[int, str] = {}

    def read(value: int) -> int:
        seen[value] = threading.current_thread().name
        return value * 10

    assert concurrency.each(read, list(range(7)), readers=3) == [v * 10 for v in range(7)]
    assert len(set(seen.values())) == 3  # three shares, each in a thread of its own
    assert seen[0] == seen[3] == seen[6]  # a share is every third value
    # one value (or one reader) is read in the caller's thread
    seen.clear()
    assert concurrency.each(read, [4], readers=3) == [40]
    assert seen == {4: threading.current_thread().name}
