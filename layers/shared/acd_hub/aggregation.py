"""Stream aggregators: constant work per event, exact under duplicates, retried and bisected
batches, reordering and concurrent shards.

A stream batch goes through :func:`aggregate_batch`: ``touched`` names what each event changes,
then ``refresh`` applies each of those once (a batch of a hundred events of one hotline
refreshes its KPIs once). Each change is one function that reads, computes and writes, in that
order: :meth:`AgentStatsAggregator.apply` and :meth:`CallStatsAggregator.refresh_call`.

* **AgentStats** inserts each ``agentstate`` event into the agent's chain of applied states.
  The event splits exactly one link (predecessor -> successor): they are found in the day
  reports' first/last links, or by a ``Query`` each when the event lands inside the day (a
  timeline entry stores where its state starts; it ends where the next one starts). The
  milliseconds that move between states are written with the new timeline entry, under version
  conditions on the agent days it read. An agent's events of one batch are inserted one after
  another onto what was read and written as one transaction (:class:`_Fold`), split where it
  would pass DynamoDB's 100 items. A duplicate fails its timeline entry's "must not exist": it
  is dropped and the others are planned again.
* **CallStats** recomputes a touched call from its own events (a call has a handful) and adds the
  difference between its new and stored KPI contribution to the interval and day counters, in
  the same transaction that stores the summary under a version condition ("retract and add").

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
import itertools
from collections.abc import Collection, Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any, Protocol

from acd_hub import agent_stats, backoff, call_stats, concurrency, freshness, keys, vocabulary
from acd_hub.agent_stats import AgentDay, Link, TalkMarker, TimelineEntry
from acd_hub.events import CALL_CMDS, StoredEvent, StreamRecord
from acd_hub.ports import (
    AddCounters,
    BatchProgress,
    Cancelled,
    CheckAgentDay,
    Create,
    Delete,
    EventLog,
    ListHotlineDay,
    Put,
    PutVersioned,
    RecordShards,
    ReportsStore,
    ReportWrite,
    Throttled,
)
from acd_hub.reports.board import BoardEntry
from acd_hub.reports.call import CallSummary, Contribution, ListedCall, StoredCall
from acd_hub.reports.hotline_day import CounterKey, ShardCounts
from acd_hub.settings import HubSettings
from acd_hub.times import Clock, utc_now

MAX_ATTEMPTS = 8
# CallStats reads an agent state's neighbours this many at a time (within boto3's 10 pooled
# connections, which the AgentStats thread shares).
NEIGHBOUR_READERS = 6


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


def _throttled(patience: backoff.Patience, attempt: int, exc: Throttled) -> None:
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


# -- agent stats ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class AgentEvent:
    agent: str
    day: str
    key: str
    event: StoredEvent = field(compare=False, hash=False)


class AgentWindow:
    """What one batch has read or written of agent days and board entries.

    After its own transaction commits, the aggregator knows the new reports (it wrote them), so
    the next event of the same agent in the batch needs no read; if someone else wrote
    meanwhile, the version conditions fail and the agent's entries are read again.
    """

    def __init__(self, reports: ReportsStore) -> None:
        self._reports = reports
        self.days: dict[tuple[str, str], AgentDay | None] = {}
        self.boards: dict[str, BoardEntry | None] = {}
        self.talked: set[TalkMarker] = set()

    def load(self, agent: str, days: list[str]) -> tuple[dict[str, AgentDay | None], BoardEntry | None]:
        missing = [day for day in days if (agent, day) not in self.days]
        if missing or agent not in self.boards:
            found, board = self._reports.agent_days(agent, missing, with_board=agent not in self.boards)
            for day in missing:
                self.days[(agent, day)] = found[day]
            if agent not in self.boards:
                self.boards[agent] = board
        return {day: self.days[(agent, day)] for day in days}, self.boards[agent]

    def remember(self, agent: str, days: dict[str, AgentDay | None], board: BoardEntry | None) -> None:
        for day, report in days.items():
            self.days[(agent, day)] = report
        self.boards[agent] = board

    def forget(self, agent: str) -> None:
        for key in [key for key in self.days if key[0] == agent]:
            del self.days[key]
        self.boards.pop(agent, None)


class _StaleRead(Exception):
    """Two reads disagree (a day's first link moved between them, or a link ends on a day read
    as empty): read again."""


# One transaction holds at most 100 items (and 4 MB: a fold's items are a timeline entry or a
# talk marker of well under 1 KB each and at most a few agent days, each bounded to a few KB by
# PAUSE_REASONS_KEPT, so 100 of them stay far below it).
MAX_TRANSACTION_ITEMS = 100
EVENT_ITEMS = 2  # what one event adds at most: its timeline entry and a talk marker


@dataclass
class _Fold:
    """An agent's events of one batch, applied one after another onto what was read and written
    as one transaction: the same insertions, in the same order, as one transaction per event
    would make, but each item written once (a day changed by every event is put once, under the
    version read).

    ``read``: the agent days as read (their versions are the conditions); ``days``: as they
    will be once the fold commits. ``links``: the timeline links it creates, by (day, sort key),
    and ``created`` their events; ``told``: the days whose reports told where a predecessor or
    successor is (checked if the fold does not change them); ``taken``: the events it handled,
    applied by it or found applied before."""

    agent: str
    read: dict[str, AgentDay | None]
    days: dict[str, AgentDay | None]
    board: BoardEntry | None
    links: dict[tuple[str, str], Link] = field(default_factory=dict)
    created: dict[tuple[str, str], AgentEvent] = field(default_factory=dict)
    talks: list[TalkMarker] = field(default_factory=list)
    told: set[str] = field(default_factory=set)
    taken: list[AgentEvent] = field(default_factory=list)

    def has_room(self, days: Collection[str]) -> bool:
        """Whether one more event, reading ``days``, surely fits in the transaction."""
        items = len(self.links) + len(self.talks) + len(set(self.days) | set(days))
        return items + EVENT_ITEMS <= MAX_TRANSACTION_ITEMS

    def around(
        self, day: str, sort_key: str, stored: tuple[Link | None, Link | None]
    ) -> tuple[Link | None, Link | None]:
        """The links just before and just after ``sort_key`` on ``day`` once the fold commits:
        the stored ones (``stored``) or the fold's own in between."""
        before, after = stored
        for (link_day, key), link in self.links.items():
            if link_day != day:
                continue
            if key < sort_key and (before is None or key > before.sort_key):
                before = link
            if key > sort_key and (after is None or key < after.sort_key):
                after = link
        return before, after

    def writes(self, stamp: str) -> tuple[list[ReportWrite], dict[int, AgentEvent], dict[int, TalkMarker]]:
        """The transaction, and which of its writes create which event's entry and talk marker
        (a failed "must not exist" there: applied, or counted, before)."""
        writes: list[ReportWrite] = []
        entries: dict[int, AgentEvent] = {}
        talks: dict[int, TalkMarker] = {}
        for place, link in self.links.items():
            report = self.created[place]
            event = report.event
            entries[len(writes)] = report
            writes.append(
                Create(TimelineEntry(self.agent, link, event.key, event.task_id, event.data.get("hotlineid")))
            )
        for talk in self.talks:
            talks[len(writes)] = talk
            writes.append(Create(talk))
        for day, changed in self.days.items():
            was = self.read[day]
            read_version = None if was is None else was.version
            if changed is None or changed == was:
                if day in self.told:
                    writes.append(CheckAgentDay(self.agent, day, read_version))
                continue
            written = self.days[day] = changed.written(stamp)
            writes.append(PutVersioned(written, read_version))
        return writes, entries, talks


class _Aggregating:
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


class AgentStatsAggregator(_Aggregating):
    name = "agent-stats"
    cmds = frozenset({"agentstate"})

    def prepare(self, items: list[dict[str, Any]]) -> None:
        """Nothing to read ahead: the batch's events are applied agent by agent."""

    def touched(self, item: dict[str, Any]) -> set[Hashable]:
        if item.get("cmd") != "agentstate" or not item.get("agent"):
            return set()
        event = StoredEvent.from_item(item)
        return {AgentEvent(str(item["agent"]), str(item["day"]), event.key, event)}

    def refresh(
        self, reports: Iterable[Hashable], patience: backoff.Patience | None = None
    ) -> dict[Hashable, Exception]:
        failed: dict[Hashable, Exception] = {}
        window = AgentWindow(self._reports)
        patience = patience or backoff.Patience()
        events = sorted(
            (r for r in reports if isinstance(r, AgentEvent)), key=lambda r: (r.agent, r.event.order)
        )
        for _agent, group in itertools.groupby(events, key=lambda r: r.agent):
            pending = list(group)
            while pending:
                try:
                    done = self.apply_all(pending, window, patience)
                except Exception as exc:  # one agent's failure must not stop the batch
                    failed.update(dict.fromkeys(pending, exc))
                    break
                pending = pending[len(done) :]
        return failed

    def apply_all(
        self, reports: Sequence[AgentEvent], window: AgentWindow, patience: backoff.Patience | None = None
    ) -> list[AgentEvent]:
        """Insert an agent's events (in the order of events) into its chain, as many of the first
        as one transaction holds (at least one); returns those it handled: applied now, or found
        applied before."""
        agent = reports[0].agent
        patience = patience or backoff.Patience()
        attempt = throttled = 0
        applied_before: set[AgentEvent] = set()
        last: Cancelled | None = None
        while attempt < MAX_ATTEMPTS:
            attempt += 1
            try:
                # read and compute: the events inserted one after another onto what was read
                try:
                    fold = self._fold(reports, applied_before, window)
                except _StaleRead:
                    window.forget(agent)
                    continue
                writes, entries, talks = fold.writes(stamp(self.clock))
                # write, under conditions on what was read
                if entries:
                    self._reports.commit(writes)
            except Throttled as exc:
                window.forget(agent)
                _throttled(patience, throttled, exc)
                throttled += 1
                attempt -= 1  # throttling says nothing about the data: not a conflict
                continue
            except Cancelled as cancelled:
                last = cancelled
                found = {report for index, report in entries.items() if cancelled.failed(index)}
                # counted by an earlier delivery
                window.talked.update(talk for index, talk in talks.items() if cancelled.failed(index))
                window.forget(agent)
                if found - applied_before:
                    applied_before |= found  # stored by an earlier delivery: duplicates
                    attempt -= 1  # fewer events each time: this ends
                    continue
                backoff.after_conflict(attempt)
                continue
            if entries:
                window.remember(agent, fold.days, fold.board)
                window.talked.update(fold.talks)
            self._board_after(max(fold.taken, key=lambda r: r.event.order), window, patience)
            return fold.taken
        raise Conflict(f"agent {agent}: gave up after {MAX_ATTEMPTS} conflicting attempts ({last})")

    def _fold(
        self, reports: Sequence[AgentEvent], applied_before: set[AgentEvent], window: AgentWindow
    ) -> _Fold:
        """The first of ``reports`` that fit in one transaction, inserted one after another."""
        agent = reports[0].agent
        fold: _Fold | None = None
        for report in reports:
            around = [shift(report.day, -1), report.day, shift(report.day, 1)]
            if fold is not None and not fold.has_room(around):
                break
            # read: the day reports around the event and the board entry (kept for the batch)
            read, board = window.load(agent, around)
            if fold is None:
                fold = _Fold(agent, dict(read), dict(read), board)
            for day in around:
                if day not in fold.days:
                    fold.read[day] = fold.days[day] = read[day]
            fold.taken.append(report)
            if report in applied_before:
                continue
            sort_key = agent_stats.link_sort_key(report.event.time_ms, report.event.key)
            neighbours = self._neighbours(report, sort_key, fold)
            if neighbours is not None:
                self._insert(report, sort_key, neighbours, fold, window.talked)
        assert fold is not None
        return fold

    def _board_after(self, report: AgentEvent, window: AgentWindow, patience: backoff.Patience) -> None:
        throttled = 0
        while True:
            try:
                self._show_on_board(report.event, report.agent, window)
            except Throttled as exc:
                _throttled(patience, throttled, exc)
                throttled += 1
                continue
            return

    def _neighbours(
        self, report: AgentEvent, sort_key: str, fold: _Fold
    ) -> tuple[Link | None, int | None, set[str]] | None:
        """The applied predecessor, the successor's time, and the days whose reports told them
        (an absent report tells something too: nobody there); None if the event is applied."""
        read = fold.days
        earlier_day, later_day = shift(report.day, -1), shift(report.day, 1)
        earlier, today, later = read[earlier_day], read[report.day], read[later_day]
        after_ms = later.first.start_ms if later and later.first else None
        if today is None:
            return (earlier.last if earlier else None), after_ms, {earlier_day, later_day}
        first, last = today.first, today.last
        assert first is not None
        assert last is not None
        if sort_key in (first.sort_key, last.sort_key):
            return None
        if sort_key > last.sort_key:
            # an event inserted first into the next day takes today's last as its predecessor,
            # so it conditions on today too: today's version guards the successor here
            return last, after_ms, set()
        if sort_key < first.sort_key:
            return (earlier.last if earlier else None), first.start_ms, {earlier_day}
        # inside the day: the entries around it (an entry's end is the next one's start)
        stored = self._reports.links_around(report.agent, report.day, sort_key)
        before, after = fold.around(report.day, sort_key, stored)
        if before is None or after is None:  # the day's first or last entry moved under us
            raise _StaleRead
        return replace(before, next_ms=after.start_ms), after.start_ms, set()

    def _insert(
        self,
        report: AgentEvent,
        sort_key: str,
        neighbours: tuple[Link | None, int | None, set[str]],
        fold: _Fold,
        talked: set[TalkMarker],
    ) -> None:
        """Insert one event into the fold: the milliseconds that move between states, the new
        link and the relinked predecessor, the day's first and last links, calls handled."""
        event, agent, day = report.event, report.agent, report.day
        zone = self._settings.report_zone
        before, after_ms, told = neighbours
        new = Link(
            day,
            sort_key,
            event.time_ms,
            event.state or "unknown",
            agent_stats.pause_reason_of(event.state, event.data),
        )
        moves, placed, relinked = agent_stats.insert_event(new, before, after_ms, zone)

        days = fold.days
        own = days[day] = days[day] or AgentDay.empty(agent, day, zone)
        if new.pause_reason is not None:  # the day's reasons grow by this one before any ms move
            admitted = own.totals()
            admitted.admit(new.pause_reason)
            days[day] = own.with_totals(admitted)
        for moved_day, entries in moves.items():
            target = days.get(moved_day)
            if target is None:
                # a link ends on a day read as empty: the days were read at different moments
                # (BatchGetItem is no snapshot; unprocessed keys come later), around another
                # shard's writer of this agent. Read again rather than fail the batch.
                raise _StaleRead
            totals = target.totals()
            for link, ms in entries:
                totals.add(link, ms, moved_day)
            days[moved_day] = target.with_totals(totals)
        today = days[day]
        assert today is not None
        days[day] = replace(
            today,
            events=today.events + 1,
            complete_to_ms=max(today.complete_to_ms or 0, event.time_ms),
            first=placed if today.first is None or sort_key < today.first.sort_key else today.first,
            last=placed if today.last is None or sort_key > today.last.sort_key else today.last,
        )
        if relinked is not None:
            owner = days[relinked.day]
            assert owner is not None
            days[relinked.day] = replace(
                owner,
                first=relinked if owner.first and owner.first.sort_key == relinked.sort_key else owner.first,
                last=relinked if owner.last and owner.last.sort_key == relinked.sort_key else owner.last,
            )
        fold.links[(day, sort_key)] = placed
        fold.created[(day, sort_key)] = report
        if event.state in vocabulary.TALK_STATES:
            talk = TalkMarker(agent, day, event.task_id) if event.task_id else None
            if talk is None or (talk not in talked and talk not in fold.talks):
                counted = days[day]
                assert counted is not None
                days[day] = replace(counted, calls_handled=counted.calls_handled + 1)
                if talk is not None:
                    fold.talks.append(talk)
        # A neighbour day this insertion read but does not change is checked only if it told
        # where the predecessor or the successor is (its absence included). One it only looked
        # at, as both neighbours of an event appended after today's last, needs no
        # ConditionCheck (billed as a transactional write): a change there that would matter
        # here goes through today, whose version is a condition already.
        fold.told |= told | {day}

    def _show_on_board(self, event: StoredEvent, agent: str, window: AgentWindow) -> None:
        """The board shows the agent's newest event: put the entry only if this one is newer
        than the one this batch knows of (the store checks again: a newer one stays). Outside
        the agent's transaction, after it (or after finding the event applied before, so a
        retry after a lost answer still shows it)."""
        board = window.boards.get(agent)
        if board is not None and board.order >= event.order:
            return
        entry = BoardEntry.of_event(event)
        if self._reports.show_on_board(entry):
            window.boards[agent] = entry
        else:
            window.boards.pop(agent, None)  # a newer one is there: read it with the next load


# -- call stats -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    task_id: str


class CallStatsAggregator(_Aggregating):
    name = "call-stats"
    # an agent state ends the after-call work of the call before it (and a work state names its call)
    cmds = CALL_CMDS | {"agentstate"}

    def __init__(
        self, log: EventLog, reports: ReportsStore, settings: HubSettings, clock: Clock = utc_now
    ) -> None:
        super().__init__(reports, settings, clock)
        self._log = log
        # an agent state's previous and following stored events, read ahead for a batch (prepare)
        self._previous: dict[str, StoredEvent | None] = {}
        self._following: dict[str, StoredEvent | None] = {}
        # the shard counts this one writes with, and the hotline days it has recorded them for
        self._shards = ShardCounts(settings.kpi_shards, settings.listing_shards)
        self._recorded: set[RecordShards] = set()
        # the hotline days it has listed under their day (HOTLINES#<day>), with their counters
        self._listed: set[ListHotlineDay] = set()

    def prepare(self, items: list[dict[str, Any]]) -> None:
        """Each agent state may close the after-call work of the state before it, or cut short
        the wrap-up that follows it (:meth:`touched`). For an agent's events of one day in this
        batch, one read of the stored events between the first and the last tells that for all
        but the first and the last (if few others lie between them: at most twice the batch's,
        so the read stays bounded). The neighbours that read does not tell (a shuffled batch's,
        the first's and the last's) are read here too, one query each as :meth:`touched` would,
        but side by side (``NEIGHBOUR_READERS`` at a time): the same reads and read units, and
        a batch no longer waits for them one after another."""
        previous: dict[str, StoredEvent | None] = {}
        following: dict[str, StoredEvent | None] = {}
        self._previous, self._following = previous, following
        by_agent_day: dict[tuple[str, str], set[str]] = {}
        for item in items:
            if item.get("cmd") == "agentstate" and item.get("agent") and item.get("sk") and item.get("day"):
                by_agent_day.setdefault((str(item["agent"]), str(item["day"])), set()).add(str(item["sk"]))
        for (agent, day), sort_keys in by_agent_day.items():
            if len(sort_keys) < 2:
                continue
            first, last, most = min(sort_keys), max(sort_keys), 2 * len(sort_keys)
            window = self._log.agent_between(agent, day, first, last, most + 1)
            if len(window) > most:
                continue
            for (before, before_sk), (after, after_sk) in itertools.pairwise(window):
                previous[after_sk] = before
                following[before_sk] = after
        wanted = [
            (side, agent, day, sort_key)
            for (agent, day), sort_keys in by_agent_day.items()
            for sort_key in sorted(sort_keys)
            for side, known in ((-1, previous), (1, following))
            if sort_key not in known
        ]
        shares = [wanted[start::NEIGHBOUR_READERS] for start in range(min(NEIGHBOUR_READERS, len(wanted)))]
        for share, found in zip(
            shares,
            concurrency.side_by_side([functools.partial(self._read_neighbours, share) for share in shares]),
            strict=True,
        ):
            for (side, _agent, _day, sort_key), event in zip(share, found, strict=True):
                (previous if side < 0 else following)[sort_key] = event

    def _read_neighbours(self, wanted: list[tuple[int, str, str, str]]) -> list[StoredEvent | None]:
        return [self._neighbour(side, agent, day, sort_key) for side, agent, day, sort_key in wanted]

    def _neighbour(self, side: int, agent: str, day: str, sort_key: str) -> StoredEvent | None:
        """The agent's stored event just before (``side`` -1) or after (1) ``sort_key``, on its
        day or at the edge of the day beside it."""
        if side < 0:
            return self._log.agent_before(agent, day, sort_key) or self._log.agent_edge(
                agent, shift(day, -1), last=True
            )
        return self._log.agent_after(agent, day, sort_key) or self._log.agent_edge(
            agent, shift(day, 1), last=False
        )

    def touched(self, item: dict[str, Any]) -> set[Hashable]:
        cmd, task = item.get("cmd"), item.get("task_id")
        if cmd in CALL_CMDS and task:
            return {Call(str(task))}
        if cmd != "agentstate" or not item.get("agent"):
            return set()
        calls: set[Hashable] = set()
        if task and item.get("data", {}).get("state") in vocabulary.WORK_STATES:
            calls.add(Call(str(task)))
        # This event may close the agent's after-call work of the call before it.
        agent, day, sort_key = str(item["agent"]), str(item["day"]), str(item["sk"])
        if sort_key in self._previous:
            previous = self._previous[sort_key]
        else:
            previous = self._neighbour(-1, agent, day, sort_key)
        if previous and previous.task_id and previous.state in vocabulary.WORK_STATES:
            calls.add(Call(previous.task_id))
        # A call's after-call work is its agent's wrap-up right after it (``_agent_events``):
        # a state landing between a call's end and a wrap-up of it cuts that wrap-up off.
        if sort_key in self._following:
            following = self._following[sort_key]
        else:
            following = self._neighbour(1, agent, day, sort_key)
        if following and following.task_id and following.state in vocabulary.WORK_STATES:
            calls.add(Call(following.task_id))
        return calls

    def refresh(
        self, reports: Iterable[Hashable], patience: backoff.Patience | None = None
    ) -> dict[Hashable, Exception]:
        failed: dict[Hashable, Exception] = {}
        patience = patience or backoff.Patience()
        calls = sorted((r for r in reports if isinstance(r, Call)), key=lambda r: r.task_id)
        try:  # the stored summaries of the whole batch in one read (100 to a request)
            stored: dict[str, StoredCall] | None = self._reports.calls([c.task_id for c in calls])
        except Exception:  # each call reads its own then
            stored = None
        for report in calls:
            try:
                known = None if stored is None else (stored.get(report.task_id),)
                self.refresh_call(report.task_id, known, patience)
            except Exception as exc:  # one call's failure must not stop the batch
                failed[report] = exc
        return failed

    def refresh_call(
        self,
        task_id: str,
        known: tuple[StoredCall | None] | None = None,
        patience: backoff.Patience | None = None,
    ) -> bool:
        """Recompute one call from its events; True if anything changed. ``known``: the stored
        summary as just read (a 1-tuple, None inside if there is none), saving the first read."""
        patience = patience or backoff.Patience()
        attempt = throttled = 0
        last: Cancelled | None = None
        while attempt < MAX_ATTEMPTS:
            try:
                # read
                old = known[0] if attempt == 0 and known is not None else self._reports.call(task_id)
                events = self._log.call(task_id)
                if not events:
                    return False
                # compute
                writes = self._plan(task_id, self.summarize(task_id, events), old)
                if not writes:
                    return False
                # write, under the version read
                self._reports.commit(writes)
                self._recorded.update(w for w in writes if isinstance(w, RecordShards))
                self._listed.update(w for w in writes if isinstance(w, ListHotlineDay))
            except Throttled as exc:
                known = None
                _throttled(patience, throttled, exc)
                throttled += 1
                continue
            except Cancelled as cancelled:
                last = cancelled
                attempt += 1
                backoff.after_conflict(attempt)
                continue
            return True
        raise Conflict(f"call {task_id}: gave up after {MAX_ATTEMPTS} conflicting attempts ({last})")

    def summarize(self, task_id: str, events: list[StoredEvent]) -> CallSummary:
        agents = list(dict.fromkeys(e.data["agentid"] for e in events if e.data.get("agentid")))
        # read only when the summary needs them (an answered call that ended: its after-call work)
        per_agent = (list(self._agent_events(task_id, agent, events)) for agent in agents)
        return call_stats.call_summary(task_id, events, per_agent, self._settings.report_zone)

    def _agent_events(self, task_id: str, agent: str, calls: list[StoredEvent]) -> Iterator[StoredEvent]:
        """The agent's events from the call's start up to the one that ends its wrap-up of this
        call — not the agent's whole day: bounded by the call, whatever the size of the day. So a
        call's after-call work is the wrap-up right after it: a wrap-up naming the call after the
        agent did something else is not counted (and a state that lands there later cuts it off,
        which is why :meth:`touched` recomputes the call a state's following wrap-up names)."""
        start_ms = min(e.time_ms for e in calls)
        end_ms = max(e.time_ms for e in calls)
        for event in self._log.agent_since(agent, start_ms, self._settings.report_zone):
            yield event
            wrapping_up = event.state in vocabulary.WORK_STATES and event.task_id == task_id
            if event.time_ms > end_ms and not wrapping_up:
                return

    def _plan(self, task_id: str, summary: CallSummary, old: StoredCall | None) -> list[ReportWrite]:
        """The summary under its version, its listing, the counters' differences and the wait
        index; nothing if the stored summary and contribution are already these. The old
        reports are retracted from the shards the stored summary says they were written to,
        the new ones go to the shards of today's counts."""
        contribution = call_stats.contribution(summary, self._settings.service_level_seconds)
        now = self._shards
        if old is not None and old.summary == summary and old.contribution == contribution:
            return []  # where it is stays where it is: readers read every shard recorded
        stored = old.contribution if old else None
        was = self.written_with(old)
        written_at = stamp(self.clock)
        read_version = None if old is None else old.version
        writes: list[ReportWrite] = [
            PutVersioned(
                StoredCall(summary, contribution, version=read_version, shards=now).written(written_at),
                read_version,
            )
        ]
        listed = (
            ListedCall(summary, written_at, now.listing_shard(task_id)) if summary.listing_place else None
        )
        unlisted = None
        if old is not None and old.summary.listing_place is not None:
            unlisted = ListedCall(old.summary, shard=was.listing_shard(task_id))
        moved = unlisted is not None and (
            listed is None or self._reports_key(unlisted) != self._reports_key(listed)
        )
        if moved and unlisted is not None:
            writes.append(Delete(unlisted))
        if listed is not None and (unlisted is None or moved or unlisted.listed != listed.listed):
            writes.append(Put(listed))
        for key, deltas in self._counter_changes(task_id, stored, was, contribution, now).items():
            writes.append(AddCounters(key, deltas, self._settings.service_level_seconds, written_at))
        old_waits = call_stats.wait_entries(stored, task_id, was.listing_shard(task_id))
        new_waits = call_stats.wait_entries(contribution, task_id, now.listing_shard(task_id))
        writes += [Delete(wait) for wait in old_waits if wait not in new_waits]
        writes += [Put(wait) for wait in new_waits if wait not in old_waits]
        places = {(contribution.hotline, contribution.day)} if contribution else set()
        if summary.listing_place:
            places.add(summary.listing_place[:2])
        for hotline, day in sorted(places):
            record = RecordShards(hotline, day, now)
            if record not in self._recorded:
                writes.append(record)
        # a hotline day with counters is listed under its day, in the counters' transaction
        if contribution is not None:
            hotline_day = ListHotlineDay(contribution.hotline, contribution.day)
            if hotline_day not in self._listed:
                writes.append(hotline_day)
        return writes

    @staticmethod
    def _reports_key(listed: ListedCall) -> tuple[Any, ...]:
        return (listed.summary.listing_place, listed.shard)

    def written_with(self, stored: StoredCall | None) -> ShardCounts:
        """The shard counts a stored call's reports are in: recorded with it, or for a call
        stored before they were, the listing in one partition and the KPI setting's count."""
        if stored is not None and stored.shards is not None:
            return stored.shards
        return ShardCounts(self._settings.kpi_shards, 1)

    def _counter_changes(
        self,
        task_id: str,
        old: Contribution | None,
        was: ShardCounts,
        new: Contribution | None,
        now: ShardCounts,
    ) -> dict[CounterKey, dict[str, int]]:
        """Retract the stored contribution, add the new one: the non-zero differences per item."""
        changes: dict[CounterKey, dict[str, int]] = {}
        for contribution, sign, counts in ((old, -1, was), (new, 1, now)):
            if contribution is None:
                continue
            shard = counts.kpi_shard(task_id)
            for interval in (None, contribution.interval):
                counters = changes.setdefault(
                    CounterKey(contribution.hotline, contribution.day, shard, interval), {}
                )
                for name, value in contribution.counters.items():
                    counters[name] = counters.get(name, 0) + sign * value
        nonzero = {key: {n: v for n, v in counters.items() if v} for key, counters in changes.items()}
        return {key: counters for key, counters in nonzero.items() if counters}
