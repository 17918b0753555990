"""Stream aggregators: constant work per event, exact under duplicates, retried and bisected
batches, reordering and concurrent shards.

A stream batch goes through :func:`aggregate_batch`: ``touched`` names what each event changes,
then ``refresh`` applies each of those once (a batch of a hundred events of one hotline
refreshes its KPIs once). Each change is one function that reads, computes and writes, in that
order: :meth:`~acd_hub.agent_aggregator.AgentStatsAggregator.apply_all` and
:meth:`~acd_hub.call_aggregator.CallStatsAggregator.refresh_call`.

* **AgentStats** inserts each ``agentstate`` event into the agent's chain of applied states.
  The event splits exactly one link (predecessor -> successor): they are found in the day
  reports' first/last links, or in the stored timeline when the event lands inside the day,
  read ahead for the agent's events of the batch (one stretch of the day, or the entries around
  each event, side by side; a timeline entry stores where its state starts; it ends where the
  next one starts). The milliseconds that move between states are written with the new
  timeline entry, under version conditions on the agent days it read. An agent's events of one
  batch are inserted one after another onto what was read and written as one transaction
  (``agent_aggregator._Fold``), split where it would pass DynamoDB's 100 items. A duplicate
  fails its timeline entry's "must not exist": it is dropped and the others are planned again.
* **CallStats** recomputes a touched call from its own events (a call has a handful) and adds the
  difference between its new and stored KPI contribution to its interval's counters (a day's
  are its intervals' summed on read), in the same transaction that stores the summary under a version condition ("retract and add").

What the store answers decides what happens next, reason by reason (DynamoDB's cancellation
reasons, translated by the adapter into the ports' errors):

* a failed condition (:class:`~acd_hub.ports.Cancelled`): the change was computed from a state
  someone else changed meanwhile; it is read and computed again (at most ``MAX_ATTEMPTS`` times);
* a ``TransactionConflict`` (also ``Cancelled``, no condition failed): another transaction held
  an item; tried again after a short jittered pause;
* throttling (:class:`~acd_hub.ports.Throttled`, a read or a write): exponential backoff with a
  cap, within one budget for the whole batch (:class:`acd_hub.backoff.Patience`), counted for
  the log line; once the budget is spent the records are retried by the event source mapping;
* a refused write (:class:`~acd_hub.ports.Refused`, a ``ValidationError``): poison, it fails at
  once, without retries that cannot succeed.

The stores are ports (:mod:`acd_hub.ports`): nothing here knows DynamoDB.
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Protocol

from acd_hub import backoff, concurrency, freshness, keys
from acd_hub.events import StreamRecord
from acd_hub.ports import BatchProgress, ReportsStore, Throttled
from acd_hub.settings import HubSettings
from acd_hub.times import Clock, utc_now

MAX_ATTEMPTS = 8


class Aggregator(Protocol):
    name: str  # the consumer's name in its freshness notes
    cmds: frozenset[str]  # the cmds whose events it reads (its share of a stream batch)
    clock: Clock  # when its reports were written and its progress noted

    def prepare(self, items: list[dict[str, Any]]) -> None:
        """See the batch's stored events before ``touched`` is asked about each."""
        ...

    def touched(self, item: dict[str, Any]) -> set[Hashable]: ...

    def refresh(self, reports: Iterable[Hashable], patience: backoff.Patience) -> dict[Hashable, Exception]:
        """Apply the changes; returns those that failed, and why (their events are retried)."""
        ...

    def note_batch(self, progress: BatchProgress) -> None: ...


class Conflict(Exception):
    """Other writers kept changing what this change depends on; the record is retried."""


def shift(day: str, days: int) -> str:
    return (date.fromisoformat(day) + timedelta(days=days)).isoformat()


def stamp(clock: Clock) -> str:
    """When a report was written (its ``updated_at``), by the writer's clock."""
    return keys.iso_utc(clock())


def throttled(patience: backoff.Patience, attempt: int, exc: Throttled) -> None:
    """Wait before trying again, or give up (raise) once the batch's budget is spent."""
    if not patience.wait(attempt):
        raise Throttled(f"{exc} (still throttled after {patience.waited_s:.1f} s of backoff)") from exc


# -- one stream batch -------------------------------------------------------------------------------


@dataclass
class BatchOutcome:
    """What became of a batch: the records to retry (in batch order) and what to log."""

    failed: list[str] = field(default_factory=list)
    warnings: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    throttled: int = 0  # how often the store throttled this batch

    def item_failures(self) -> dict[str, list[dict[str, str]]]:
        """The answer Lambda's ``ReportBatchItemFailures`` reads: it retries from the first."""
        return {"batchItemFailures": [{"itemIdentifier": sequence} for sequence in self.failed]}

    def answer(self) -> dict[str, Any]:
        """The handler's answer: the failures, and the tumbling window's ``state``, which Lambda
        requires of every answer once the mapping has a window (the window is there only to
        have the shard id in the event: the state is not used)."""
        return {**self.item_failures(), "state": {}}


def aggregate_batch(aggregator: Aggregator, records: Sequence[StreamRecord], shard: str = "") -> BatchOutcome:
    """Refresh the reports a batch's events touch, each once, and record how far it got on
    its ``shard`` (:mod:`acd_hub.freshness`).

    A record fails alone: when its image cannot be read or placed, or when a report it touches
    could not be refreshed; the others' reports are applied."""
    outcome = _apply(aggregator, records)
    progress = _progress(records, records, set(outcome.failed), shard, aggregator.clock())
    outcome.warnings += _note(aggregator, progress)
    return outcome


def aggregate_together(
    aggregators: Sequence[Aggregator], records: Sequence[StreamRecord], shard: str = ""
) -> BatchOutcome:
    """Several aggregators on one stream batch, as one function reading the stream: each gets
    the records of its ``cmds`` (and any record whose image could not be read: its cmd is not
    known) and they run side by side (:func:`acd_hub.concurrency.side_by_side`), so the batch
    takes as long as the slower one. The answer is the union of their failures, in batch order.

    Lambda retries the function from the lowest failed sequence number, so a record one
    aggregator failed is delivered again to both, with the records after it. That is safe:
    both aggregators are idempotent (an agent state already in its chain fails the timeline
    entry's "must not exist" and changes nothing; a call is recomputed from its own events
    under a version condition), so the other one applying its records again changes nothing.

    Freshness: one function has one position in the shard, so a record either aggregator failed
    holds both. Each notes its progress under its own name (``agent-stats``, ``call-stats``) from
    its own records, held below the first failed record of the batch, whichever failed it: what
    it claims complete is then also what Lambda will not deliver again."""
    shares = [[r for r in records if r.item is None or r.item.get("cmd") in a.cmds] for a in aggregators]
    outcomes = concurrency.side_by_side(
        [
            functools.partial(_apply, aggregator, share)
            for aggregator, share in zip(aggregators, shares, strict=True)
        ]
    )
    failed = set().union(*(outcome.failed for outcome in outcomes))
    merged = BatchOutcome(
        failed=[r.sequence for r in records if r.sequence in failed],
        throttled=sum(outcome.throttled for outcome in outcomes),
    )
    for aggregator, share, outcome in zip(aggregators, shares, outcomes, strict=True):
        progress = _progress(share, records, failed, shard, aggregator.clock())
        warnings = outcome.warnings + _note(aggregator, progress)
        merged.warnings += [
            (message, {"consumer": aggregator.name, **fields}) for message, fields in warnings
        ]
    return merged


def _apply(aggregator: Aggregator, records: Sequence[StreamRecord]) -> BatchOutcome:
    """The reports of a batch refreshed: which records failed (in batch order), and why."""
    outcome = BatchOutcome()
    unplannable = {record.sequence: record.unreadable for record in records if record.unreadable}
    events = {r.sequence: r.item for r in records if r.item is not None and r.item.get("kind") == "event"}
    touched: dict[str, set[Hashable]] = {r.sequence: set() for r in records if r.sequence not in events}
    try:
        aggregator.prepare(list(events.values()))
    except Exception as exc:  # a read ahead only saves reads: each record then reads its own
        outcome.warnings.append(("batch read-ahead failed", {"error": type(exc).__name__}))
    for sequence, item in events.items():
        try:
            touched[sequence] = aggregator.touched(item)
        except Exception as exc:
            unplannable[sequence] = type(exc).__name__
    patience = backoff.Patience()
    failed = aggregator.refresh(set().union(*touched.values()) if touched else set(), patience)
    outcome.throttled = patience.throttled
    outcome.failed = [
        r.sequence
        for r in records
        if r.sequence in unplannable or touched.get(r.sequence, set()) & failed.keys()
    ]
    if failed or unplannable:
        problems = {
            "failed_reports": len(failed),
            "throttled": patience.throttled,
            "errors": sorted({f"{type(e).__name__}: {str(e)[:200]}" for e in failed.values()}),
            "unplannable_records": sorted(str(why) for why in unplannable.values()),
        }
        outcome.warnings.append(("reports not refreshed", problems))
    return outcome


def _note(aggregator: Aggregator, progress: BatchProgress | None) -> list[tuple[str, dict[str, Any]]]:
    """Note how far the aggregator got on the shard; the warning to log if that failed
    (freshness is advisory: never fail a batch over it)."""
    if progress is None:
        return []
    try:
        aggregator.note_batch(progress)
    except Exception as exc:
        return [("freshness not recorded", {"error": type(exc).__name__})]
    return []


def batch_progress(
    records: Sequence[StreamRecord], failed: Collection[str], shard: str, clock: Clock = utc_now
) -> BatchProgress | None:
    """:func:`_progress` of a consumer that is not an aggregator (the fan-out notes its own)."""
    return _progress(records, records, set(failed), shard, clock())


def _progress(
    own: Sequence[StreamRecord], batch: Sequence[StreamRecord], failed: set[str], shard: str, now: datetime
) -> BatchProgress | None:
    """How far this consumer has got on the shard: its reports include every record of its
    own received up to the batch's newest (when nothing in the batch failed); else up to just
    before the batch's first failed record (Lambda retries from there). The batch's oldest
    record had waited ``behind_ms`` in the stream (Lambda's IteratorAge, as a reader can see it)."""
    received = [r.received_ms for r in own if r.received_ms is not None]
    pending = [r.received_ms for r in batch if r.sequence in failed and r.received_ms is not None]
    if failed and not pending and received:
        pending = [min(received)]  # the failed records carry no receipt time: hold at the batch's
    happened = [ms for ms in (record.event_ms for record in own) if ms is not None]
    return freshness.progress_of(
        shard, received, pending, max(happened) if happened else None, int(now.timestamp() * 1000)
    )


class AggregatorBase:
    """What both aggregators keep: the reports store, the settings, the clock, and when each last
    noted a batch's progress (for ``acd-report freshness``)."""

    name: str

    def __init__(self, reports: ReportsStore, settings: HubSettings, clock: Clock = utc_now) -> None:
        self._reports = reports
        self._settings = settings
        self.clock = clock
        self._notes = freshness.FreshnessNotes()

    def note_batch(self, progress: BatchProgress) -> None:
        if self._notes.wanted(progress):
            self._reports.note_batch(self.name, progress)
