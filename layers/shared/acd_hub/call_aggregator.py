"""The CallStats consumer: a touched call recomputed from its own events, and the difference to
its stored contribution added to the counters in the summary's transaction (how, and what each
store answer leads to: :mod:`acd_hub.aggregation`)."""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Hashable, Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Any

from acd_hub import backoff, call_stats, concurrency, vocabulary
from acd_hub.aggregation import MAX_ATTEMPTS, AggregatorBase, Conflict, shift, stamp
from acd_hub.aggregation import throttled as throttled_wait
from acd_hub.events import CALL_CMDS, StoredEvent
from acd_hub.ports import (
    AddCounters,
    Cancelled,
    Delete,
    DeleteVersioned,
    EventLog,
    ListHotlineDay,
    Put,
    PutVersioned,
    RecordShards,
    Repoint,
    ReportsStore,
    ReportWrite,
    Throttled,
)
from acd_hub.reports.call import CallAt, CallSummary, Contribution, ListedCall, StoredCall, listed_at
from acd_hub.reports.hotline_day import CounterKey, ShardCounts
from acd_hub.settings import HubSettings
from acd_hub.times import Clock, utc_now

# A batch's agent-state neighbours are read this many at a time (within boto3's 10 pooled
# connections, which the AgentStats thread shares).
NEIGHBOUR_READERS = 6
# The stretch between an agent's first and last state of a batch is read on, a page of twice the
# batch's states at a time, while it holds at most this many stored events per state of the batch
# it has told the neighbours of: a stored agent state is ~600 bytes, so that many cost what the two
# queries of each such state would (a strongly consistent query is at least one unit of 4 KB).
STRETCH_EVENTS_PER_STATE = 12


@dataclass(frozen=True)
class Call:
    task_id: str


class CallStatsAggregator(AggregatorBase):
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
        but the first and the last. It is read a page (twice the batch's states) at a time, on
        while it pays for itself (:data:`STRETCH_EVENTS_PER_STATE`); what it read tells the
        neighbours of every state inside it, whether or not it reached the last. The neighbours
        it does not tell (a shuffled batch's beyond what was read, the first's and the last's)
        are read here too, one query each as :meth:`touched` would, but side by side
        (``NEIGHBOUR_READERS`` at a time): a batch does not wait for them one after another."""
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
            for (before, before_sk), (after, after_sk) in itertools.pairwise(
                self._stretch(agent, day, sorted(sort_keys))
            ):
                previous[after_sk] = before
                following[before_sk] = after
        wanted = [
            (side, agent, day, sort_key)
            for (agent, day), sort_keys in by_agent_day.items()
            for sort_key in sorted(sort_keys)
            for side, known in ((-1, previous), (1, following))
            if sort_key not in known
        ]
        found = concurrency.each(lambda want: self._neighbour(*want), wanted, NEIGHBOUR_READERS)
        for (side, _agent, _day, sort_key), event in zip(wanted, found, strict=True):
            (previous if side < 0 else following)[sort_key] = event

    def _stretch(self, agent: str, day: str, sort_keys: list[str]) -> list[tuple[StoredEvent, str]]:
        """The agent's stored events from the first of ``sort_keys`` (sorted) on, in order: up to
        the last, or as far as the pages read paid for themselves. Each page starts at the last
        event of the one before (read again), so the events read are one unbroken stretch."""
        page = 2 * len(sort_keys) + 1
        read: list[tuple[StoredEvent, str]] = []
        while True:
            start = read[-1][1] if read else sort_keys[0]
            found = self._log.agent_between(agent, day, start, sort_keys[-1], page)
            read += [event for event in found if event[1] > start] if read else found
            if len(found) < page or read[-1][1] >= sort_keys[-1]:
                return read  # the whole stretch
            told = bisect.bisect_left(sort_keys, read[-1][1])  # the states with both neighbours read
            if len(read) > STRETCH_EVENTS_PER_STATE * told:
                return read

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
        # their events, read after the summaries (each call's are read after its summary)
        events = {} if stored is None else self._read_calls([c.task_id for c in calls])
        for report in calls:
            try:
                known = None if stored is None else (stored.get(report.task_id),)
                self.refresh_call(report.task_id, known, patience, events.get(report.task_id))
            except Exception as exc:  # one call's failure must not stop the batch
                failed[report] = exc
        return failed

    def _read_calls(self, task_ids: list[str]) -> dict[str, list[StoredEvent]]:
        """The stored events of each call, read after their summaries (as :meth:`refresh_call`
        reads them), ``NEIGHBOUR_READERS`` at a time: one query each, as each call would make
        one after another. Nothing when a read failed: each call reads its own then."""
        if len(task_ids) < 2:
            return {}  # one call reads its own, as it would
        try:
            found = concurrency.each(self._log.call, task_ids, NEIGHBOUR_READERS)
        except Exception:
            return {}
        return dict(zip(task_ids, found, strict=True))

    def refresh_call(
        self,
        task_id: str,
        known: tuple[StoredCall | None] | None = None,
        patience: backoff.Patience | None = None,
        events_read: list[StoredEvent] | None = None,
    ) -> bool:
        """Recompute one call from its events; True if anything changed. ``known``: the stored
        summary as just read (a 1-tuple, None inside if there is none), saving the first read;
        ``events_read``: its events, read after that summary, saving the first read of them.
        A retry reads both again."""
        patience = patience or backoff.Patience()
        attempt = throttled = 0
        last: Cancelled | None = None
        while attempt < MAX_ATTEMPTS:
            try:
                # read
                old = known[0] if attempt == 0 and known is not None else self._reports.call(task_id)
                events = events_read if attempt == 0 and events_read is not None else self._log.call(task_id)
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
                known = events_read = None
                throttled_wait(patience, throttled, exc)
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
        """The call under its version, where it belongs, and the counters' differences; nothing
        if the stored summary and contribution are already these. The old
        reports are retracted from the shards the stored summary says they were written to,
        the new ones go to the shards of today's counts.

        A call is stored once (:mod:`acd_hub.reports.call`): at its ``SUMMARY`` key until it
        has a place in its hotline's listing, then in the listing's item, ``SUMMARY`` saying
        where. A change that leaves it where it is writes that one item under its version; a
        move (a start or hotline changed, another listing shard count) puts it at its new place,
        drops it from the old one under its version, and repoints ``SUMMARY`` under what it
        read there."""
        contribution = call_stats.contribution(summary, self._settings.service_level_seconds)
        now = self._shards
        if old is not None and old.summary == summary and old.contribution == contribution:
            return []  # where it is stays where it is: readers read every shard recorded
        stored = old.contribution if old else None
        was = self.written_with(old)
        written_at = stamp(self.clock)
        read_version = None if old is None else old.version
        at = listed_at(summary, now.listing_shard(task_id))
        new = replace(
            StoredCall(summary, contribution, version=read_version, shards=now).written(written_at), at=at
        )
        writes: list[ReportWrite] = []
        if old is not None and old.at is not None:  # in its listing, SUMMARY saying where
            assert old.version is not None
            if at == old.at:
                writes.append(PutVersioned(new, old.version))
            else:
                writes.append(DeleteVersioned(old, old.version))
                writes += [Put(new), Repoint(CallAt(task_id, *at), old.at)] if at else [Repoint(new, old.at)]
        else:  # new (nothing at SUMMARY: its condition), or at SUMMARY: not listed yet, or as
            # versions before stored it, with a copy in the listing
            if at is None:
                writes.append(PutVersioned(new, read_version))
            else:
                writes += [Put(new), PutVersioned(CallAt(task_id, *at), read_version)]
            copy = None if old is None else listed_at(old.summary, was.listing_shard(task_id))
            if old is not None and copy is not None and copy != at:
                writes.append(Delete(ListedCall(old.summary, shard=was.listing_shard(task_id))))
        for key, deltas in self._counter_changes(task_id, stored, was, contribution, now).items():
            writes.append(AddCounters(key, deltas, self._settings.service_level_seconds, written_at))
        # no wait index: the listing shows each call's wait (hotline_day.longest_waits); the
        # entries versions before wrote stay where they are, unread, until a rebuild drops them
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
        """Retract the stored contribution, add the new one: the non-zero differences per item.
        Only the interval's items: a day's counters are its intervals' summed on read (a day
        item beside them cost 2 write units a change; see :mod:`acd_hub.reports.hotline_day`)."""
        changes: dict[CounterKey, dict[str, int]] = {}
        for contribution, sign, counts in ((old, -1, was), (new, 1, now)):
            if contribution is None:
                continue
            key = CounterKey(
                contribution.hotline, contribution.day, counts.kpi_shard(task_id), contribution.interval
            )
            counters = changes.setdefault(key, {})
            for name, value in contribution.counters.items():
                counters[name] = counters.get(name, 0) + sign * value
        nonzero = {key: {n: v for n, v in counters.items() if v} for key, counters in changes.items()}
        return {key: counters for key, counters in nonzero.items() if counters}
