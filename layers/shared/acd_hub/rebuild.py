"""Rebuild reports from the event log: the repair path (a bug fixed, records left in a DLQ) and
the oracle the live, incremental path is tested against.

Every report is recomputed with the whole-day functions (:func:`agent_stats.day_intervals`,
:func:`call_stats.call_summary`) and what is stored is replaced by it. It is idempotent, and safe
while the stream keeps running:

* an agent day's items are rewritten, then its day item is put under the version read before
  the events were; if the live path applied an event meanwhile, the version moved and the day is
  rebuilt again;
* a call is recomputed by the live path's own retract-and-add, so its KPI counters stay the sum
  of the stored contributions;
* a hotline day's counters are then checked against the sum of its calls' contributions, and
  corrected by the difference (``ADD``, as the live path writes them), each correction only
  onto the counters it was computed from, a stale listing item (one where its call is not)
  dropped only while the call is at the version read: a call the stream changed meanwhile cancels the
  correction, and the hotline day is read again. Items versions before wrote and nothing
  reads now (a day's ``DAY`` counters, the wait index) are deleted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any

from acd_hub import agent_stats, backoff, vocabulary
from acd_hub.agent_stats import AgentDay, DayTotals, Link, TalkMarker, TimelineEntry
from acd_hub.aggregation import MAX_ATTEMPTS, Conflict, shift, stamp
from acd_hub.call_aggregator import CallStatsAggregator
from acd_hub.events import CALL_CMDS, StoredEvent
from acd_hub.kpis import COUNTER_NAMES
from acd_hub.ports import (
    Cancelled,
    CheckCall,
    CheckShards,
    CorrectCounters,
    Delete,
    DropCounters,
    EventLog,
    ListHotlineDay,
    Put,
    PutVersioned,
    Refused,
    ReportsStore,
    ReportWrite,
    Throttled,
)
from acd_hub.reports.board import BoardEntry
from acd_hub.reports.call import ListedCall, listed_at
from acd_hub.reports.hotline_day import CounterKey, ShardCounts, WaitEntry
from acd_hub.reports.stored import Key
from acd_hub.settings import HubSettings
from acd_hub.times import Clock, utc_now

# a call's version as read, and where (None: at its SUMMARY key; else its listing item)
CallRead = tuple[int | None, Key | None]

Report = tuple[str, ...]
# What stops a rebuild before its end: the reports table throttled past the client's retries, the
# stream changed a report at every attempt (Conflict), a write the table refused. What it rebuilt
# until then stays, and running it again (idempotent) carries on; its callers say so, not crash.
STOPPED: tuple[type[Exception], ...] = (Throttled, Conflict, Refused)
MAX_TRANSACTION = 100  # items in one TransactWriteItems
Progress = Callable[[int, int], None]


@dataclass
class RebuildSummary:
    agent_days: int = 0
    calls: int = 0
    hotline_days: int = 0
    items_written: int = 0
    items_deleted: int = 0
    counters_corrected: int = 0
    reports: list[Report] = field(default_factory=list)


def days_between(first: str, last: str) -> list[str]:
    start, end = date.fromisoformat(first), date.fromisoformat(last)
    if end < start:
        raise ValueError(f"--to {last} is before --day {first}")
    return [(start + timedelta(days=n)).isoformat() for n in range((end - start).days + 1)]


def earliest_day(settings: HubSettings, now: datetime) -> str | None:
    """The earliest first day a rebuild can take at ``now``; None when events are kept forever.

    Events expire ``retention_days`` after their time (their ``ttl``) and DynamoDB deletes them
    some time after, in no order, while the reports are kept for good. A rebuild recomputes each
    report from what the log still holds and replaces what is stored: over a day whose events are
    partly gone, it would replace right reports by wrong ones. A day is whole while its start is
    less than ``retention_days`` ago, and a rebuild of day D reads back to D - 2 (it rebuilds the
    agent days beside D, and each of those reads the day before it for the state carried in)."""
    if not settings.retention_days:
        return None
    expired_up_to = (now - timedelta(days=settings.retention_days)).astimezone(settings.report_zone)
    return (expired_up_to.date() + timedelta(days=1 + 2)).isoformat()


def _place(entry: TimelineEntry | TalkMarker) -> tuple[str, str]:
    """An entry's place in its agent day's timeline."""
    if isinstance(entry, TalkMarker):
        return "talk", entry.task_id
    return "state", entry.link.sort_key


class Rebuilder:
    def __init__(
        self, log: EventLog, reports: ReportsStore, settings: HubSettings, clock: Clock = utc_now
    ) -> None:
        self._log = log
        self._reports = reports
        self._settings = settings
        self._clock = clock
        self._calls = CallStatsAggregator(log, reports, settings, clock)
        self.summary = RebuildSummary()

    # -- what to rebuild --------------------------------------------------------------------

    def touched_by(self, item: dict[str, Any]) -> set[Report]:
        """The reports a stored event item feeds (for a redrive of a failed stream batch)."""
        touched: set[Report] = set()
        cmd, agent, task = item.get("cmd"), item.get("agent"), item.get("task_id")
        if cmd == "agentstate" and agent and item.get("day"):
            touched.add(("agent_day", str(agent), str(item["day"])))
        if task and (cmd in CALL_CMDS or cmd == "agentstate"):
            touched.add(("call", str(task)))
        return touched

    def rebuild(self, reports: Iterable[Report]) -> None:
        hotline_days: set[tuple[str, str]] = set()
        wanted = set(reports)
        # a day's first and last states reach into the days around it
        wanted |= {
            ("agent_day", r[1], shift(r[2], step))
            for r in list(wanted)
            if r[0] == "agent_day"
            for step in (-1, 1)
        }
        for report in sorted(wanted):
            if report[0] == "agent_day":
                self.agent_day(report[1], report[2])
            elif report[0] == "call":
                hotline_days |= self.call(report[1])
        for hotline, day in sorted(hotline_days):
            self.hotline_day(hotline, day)

    def days(
        self,
        days: list[str],
        *,
        hotlines: set[str] | None = None,
        agents: set[str] | None = None,
        progress: Progress | None = None,
    ) -> RebuildSummary:
        """Every report of these days (or only those of some hotlines or agents)."""
        agent_days: set[tuple[str, str]] = set()
        calls: set[str] = set()
        for day in days:
            if hotlines is None or agents is not None:
                for event in self._log.cmd_day("agentstate", day, self._settings.cmd_day_shards):
                    if event.agent and (agents is None or event.agent in agents):
                        agent_days.add((event.agent, day))
            if agents is None or hotlines is not None:
                for cmd in sorted(CALL_CMDS):
                    for event in self._log.cmd_day(cmd, day, self._settings.cmd_day_shards):
                        if event.task_id:
                            calls.add(event.task_id)
        # a day's first and last states reach into the days around it
        edges = {(a, shift(d, step)) for a, d in agent_days for step in (-1, 1)} - agent_days
        work: list[Report] = sorted(("agent_day", a, d) for a, d in agent_days | edges)
        work += sorted(("call", task) for task in calls)
        hotline_days: set[tuple[str, str]] = {(h, d) for h in hotlines or () for d in days}
        total = len(work)
        for done, report in enumerate(work, 1):
            if report[0] == "agent_day":
                self.agent_day(report[1], report[2])
            else:
                hotline_days |= self.call(report[1], hotlines)
            if progress:
                progress(done, total + len(hotline_days))
        for done, (hotline, day) in enumerate(sorted(hotline_days), total + 1):
            self.hotline_day(hotline, day)
            if progress:
                progress(done, total + len(hotline_days))
        return self.summary

    # -- agent days -------------------------------------------------------------------------

    def agent_day(self, agent: str, day: str) -> None:
        """Replace an agent day's timeline, markers and day report by the whole-day recompute."""
        for _attempt in range(MAX_ATTEMPTS):
            read = self._reports.agent_day(agent, day)
            events = self._log.agent_day(agent, day)
            if not events:
                return
            before = self._log.agent_edge(agent, shift(day, -1), last=True)
            after = self._log.agent_edge(agent, shift(day, 1), last=False)
            timeline, markers, truth = self._agent_truth(agent, day, events, before, after)
            replaced = self._replace(self._reports.timeline(agent, day), [*timeline, *markers])
            read_version = None if read is None else read.version
            # A day that is already the recompute (and whose timeline was) is left as it is: put
            # again, it would only move its version and updated_at, on every rebuild, while the
            # rebuild reports nothing written.
            unchanged = (
                read is not None and replace(truth, version=read.version, updated_at=read.updated_at) == read
            )
            if replaced or not unchanged:
                written = replace(truth, version=read_version).written(stamp(self._clock))
                try:
                    self._reports.commit([PutVersioned(written, read_version)])
                except Cancelled:
                    continue  # the live path applied an event meanwhile: again, from the top
            self.summary.agent_days += 1
            self.summary.reports.append(("agent_day", agent, day))
            self._board(max(events, key=lambda e: e.order))
            return
        raise Conflict(f"agent {agent} on {day}: the stream kept changing it; try again")

    def _board(self, latest: StoredEvent) -> None:
        """The board shows the agent's newest event: put this day's last one if it is newer."""
        entry = BoardEntry.of_event(latest)
        stored = self._reports.board_entry(str(latest.agent))
        if stored == entry or (stored and stored.order > latest.order):
            return
        if self._reports.show_on_board(entry):  # else a newer event got there first: it stays
            self.summary.items_written += 1

    def _agent_truth(
        self,
        agent: str,
        day: str,
        events: list[StoredEvent],
        before: StoredEvent | None,
        after: StoredEvent | None,
    ) -> tuple[list[TimelineEntry], list[TalkMarker], AgentDay]:
        zone = self._settings.report_zone
        ordered = sorted({e.key: e for e in events}.values(), key=lambda e: e.order)
        intervals = agent_stats.day_intervals(ordered, before, after, date.fromisoformat(day), zone)
        timeline = []
        ends = []
        for index, event in enumerate(ordered):
            following = ordered[index + 1] if index + 1 < len(ordered) else after
            ends.append(None if following is None else following.time_ms)
            # an entry keeps where its state starts (where it ends is the next one's start)
            link = Link(
                day,
                agent_stats.link_sort_key(event.time_ms, event.key),
                event.time_ms,
                event.state or "unknown",
                agent_stats.pause_reason_of(event.state, event.data),
            )
            timeline.append(TimelineEntry.of_event(event, link))
        talked = {e.task_id for e in ordered if e.state in vocabulary.TALK_STATES and e.task_id}
        markers = [TalkMarker(agent, day, task) for task in sorted(talked)]
        totals = DayTotals.for_reasons(agent_stats.own_pause_reasons(ordered))
        for interval in intervals:
            if interval.duration_ms:
                # a state carried in from the day before is that day's link
                link_day = shift(day, -1) if interval.carried else day
                totals.add(
                    Link(link_day, "", 0, interval.state, interval.pause_reason), interval.duration_ms, day
                )
        untracked = sum(1 for e in ordered if e.state in vocabulary.TALK_STATES and not e.task_id)
        truth = replace(
            AgentDay.empty(agent, day, zone).with_totals(totals),
            calls_handled=len(talked) + untracked,
            events=len(ordered),
            first=replace(timeline[0].link, next_ms=ends[0]),
            last=replace(timeline[-1].link, next_ms=ends[-1]),
            complete_to_ms=ordered[-1].time_ms,
        )
        return timeline, markers, truth

    def _replace(
        self, stored: list[TimelineEntry | TalkMarker], wanted: list[TimelineEntry | TalkMarker]
    ) -> int:
        """Write what differs, delete what should not be there (in batches of 25); how many
        items that was."""
        have = {_place(entry): entry for entry in stored}
        want = {_place(entry): entry for entry in wanted}
        puts = [entry for place, entry in want.items() if have.get(place) != entry]
        deletes = [entry for place, entry in have.items() if place not in want]
        self._reports.replace(puts, deletes)
        self.summary.items_written += len(puts)
        self.summary.items_deleted += len(deletes)
        return len(puts) + len(deletes)

    # -- calls and hotline days ---------------------------------------------------------------

    def call(self, task_id: str, hotlines: set[str] | None = None) -> set[tuple[str, str]]:
        """Recompute one call (retract and add); the hotline days it counts in, before and after."""
        old = self._reports.call(task_id)
        if hotlines is not None:
            # the hotlines the call's events name, and the one it counted in: no recompute twice
            named = {str(e.data["hotlineid"]) for e in self._log.call(task_id) if "hotlineid" in e.data}
            if not (named | {str(old.summary.hotline if old else None)}) & hotlines:
                return set()
        self._calls.refresh_call(task_id)
        new = self._reports.call(task_id)
        self.summary.calls += 1
        self.summary.reports.append(("call", task_id))
        return {
            (str(s.summary.hotline), str(s.summary.day))
            for s in (old, new)
            if s and s.summary.hotline is not None and s.summary.day
        }

    def hotline_day(self, hotline: str, day: str) -> None:
        """Make the counters of a hotline day equal the sum of its calls' stored contributions
        (and drop listing entries no call claims, and the ``DAY`` counter items and wait index
        entries versions before wrote), safe while the stream runs: the counters are read
        before and after the calls, and the corrections are written only onto what was read
        (see :meth:`_correct`); else all is read again."""
        for attempt in range(MAX_ATTEMPTS):
            recorded = self._recorded_shards(hotline, day)
            shards = self._shard_counts(recorded)
            before = self._counters(hotline, day, shards.kpi)
            found = self._truth_or_none(hotline, day, shards.listing)
            stored_counters = self._counters(hotline, day, shards.kpi)
            if found is None or stored_counters != before or self._recorded_shards(hotline, day) != recorded:
                backoff.after_conflict(attempt)  # a call was counted (or moved) meanwhile
                continue
            truth, stale_listing, versions = found
            touched = set(truth) | set(stored_counters)
            stored_waits: set[WaitEntry] = set()
            for interval in {None} | {key.interval for key in touched if key.interval is not None}:
                stored_waits |= self._reports.waits(hotline, day, interval, shards.listing)
            corrections: dict[CounterKey, dict[str, int]] = {}
            retired = []
            for key in sorted(touched, key=_counter_order):
                if key.interval is None:  # a DAY item of before: the intervals are summed on read
                    retired.append(DropCounters(key, stored_counters[key]))
                    continue
                have, want = stored_counters.get(key, {}), truth.get(key, {})
                delta = {n: want.get(n, 0) - have.get(n, 0) for n in COUNTER_NAMES}
                if delta := {n: v for n, v in delta.items() if v}:
                    corrections[key] = delta
            by_call: dict[str, list[ReportWrite]] = {}
            for entry in stale_listing:
                by_call.setdefault(entry.summary.task_id, []).append(Delete(entry))
            unread = [task for task in by_call if task not in versions]
            versions |= dict.fromkeys(unread, (None, None)) | {
                task: (call.version, call.at) for task, call in self._reports.calls(unread).items()
            }
            if retired:  # the day items held the service-level target: each interval now does
                corrections |= {
                    key: {} for key in stored_counters if key.interval is not None and key not in corrections
                }
            sl_seconds = self._settings.service_level_seconds
            groups: list[list[ReportWrite]] = [
                [CorrectCounters(key, delta, stored_counters.get(key, {}), sl_seconds)]
                for key, delta in sorted(corrections.items(), key=lambda kv: _counter_order(kv[0]))
            ]
            groups += [[write] for write in retired]
            # a wait index of before, unread now (the listing shows the waits): nothing to guard
            groups += [[Delete(wait)] for wait in sorted(stored_waits, key=_wait_order)]
            groups += [
                [CheckCall(task, *versions[task]), *writes] for task, writes in sorted(by_call.items())
            ]
            if truth:  # listed under its day as the live path lists it (a day from before: now)
                groups.append([ListHotlineDay(hotline, day)])
            try:
                self._correct(groups, CheckShards(hotline, day, recorded))
            except Cancelled:  # a call changed, or a shard count recorded, since the reads
                backoff.after_conflict(attempt)
                continue
            self.summary.counters_corrected += sum(bool(d) for d in corrections.values()) + len(retired)
            writes = [write for group in groups for write in group]
            self.summary.items_written += sum(isinstance(w, Put) for w in writes)
            self.summary.items_deleted += sum(isinstance(w, Delete) for w in writes)
            self.summary.hotline_days += 1
            self.summary.reports.append(("hotline_day", hotline, day))
            return
        raise Conflict(f"hotline {hotline} on {day}: the stream kept changing it; try again")

    def _recorded_shards(self, hotline: str, day: str) -> tuple[frozenset[int], frozenset[int]] | None:
        recorded = self._reports.shard_counts(hotline, day)
        return None if recorded is None else (frozenset(recorded[0]), frozenset(recorded[1]))

    def _shard_counts(self, recorded: tuple[frozenset[int], frozenset[int]] | None) -> ShardCounts:
        kpi, listing = recorded or (frozenset(), frozenset())
        return ShardCounts(max(kpi or {self._settings.kpi_shards}), max(listing or {1}))

    def _truth_or_none(
        self, hotline: str, day: str, listing_shards: int
    ) -> tuple[dict[CounterKey, dict[str, int]], list[ListedCall], dict[str, CallRead]] | None:
        """:meth:`_truth`; None if a call kept moving while it was read."""
        try:
            return self._truth(hotline, day, listing_shards)
        except Cancelled:
            return None

    def _truth(
        self, hotline: str, day: str, listing_shards: int
    ) -> tuple[dict[CounterKey, dict[str, int]], list[ListedCall], dict[str, CallRead]]:
        """The interval counters the day's listed calls add up to, the stale listings
        (an item where its call is not: see :mod:`acd_hub.reports.call`), and the version of
        each listed call as read, with where it was read (None: none stored; at SUMMARY)."""
        listing = self._reports.listed_calls(hotline, day, listing_shards)
        stored_calls = self._reports.calls([entry.summary.task_id for entry in listing])
        truth: dict[CounterKey, dict[str, int]] = {}
        stale_listing: list[ListedCall] = []
        versions: dict[str, CallRead] = {}
        for entry in listing:
            task_id = entry.summary.task_id
            stored = stored_calls.get(task_id)
            versions[task_id] = (None, None) if stored is None else (stored.version, stored.at)
            written_with = self._calls.written_with(stored)
            if stored is None or (
                # stored in its listing: this is it, or a stale item
                stored.at != listed_at(entry.summary, entry.shard)
                if stored.at is not None
                # at SUMMARY (as versions before stored it): this is its copy, or a stale one
                else stored.summary.listing_place != entry.summary.listing_place
                or written_with.listing_shard(task_id) != entry.shard
            ):
                stale_listing.append(entry)
                continue
            contribution = stored.contribution
            if contribution is None or (contribution.hotline, contribution.day) != (hotline, day):
                continue
            key = CounterKey(hotline, day, written_with.kpi_shard(task_id), contribution.interval)
            counters = truth.setdefault(key, {})
            for name, value in contribution.counters.items():
                counters[name] = counters.get(name, 0) + value
        return truth, stale_listing, versions

    def _counters(self, hotline: str, day: str, shards: int) -> dict[CounterKey, dict[str, int]]:
        stored: dict[CounterKey, dict[str, int]] = {}
        for shard in range(shards):
            stored |= self._reports.counters(hotline, day, shard)
        return stored

    def _correct(self, groups: list[list[ReportWrite]], recorded: CheckShards) -> None:
        """Each write here holds only on what it was worked out from. A counter correction
        adds its difference only if the interval item still holds what was read (a call
        counted there meanwhile cancels it); a call's stale listing item is dropped only if the
        call is still at the version read, where it was read (every live change of a call
        writes it, and a move deletes it where it was).
        Every transaction is also conditional on the shard counts recorded for the day
        (``recorded``): a writer with another count moves a call's listing to a shard this
        rebuild did not read. Large days take several transactions, a call's writes always in
        one (a later one failing leaves the earlier ones right: a retry reads them back)."""
        room = MAX_TRANSACTION - 1
        chunk: list[ReportWrite] = []
        for group in groups:
            if chunk and len(chunk) + len(group) > room:
                self._reports.commit([recorded, *chunk])
                chunk = []
            chunk += group
        if chunk:
            self._reports.commit([recorded, *chunk])


def _counter_order(key: CounterKey) -> tuple[int, str]:
    return key.shard, key.interval or ""


def _wait_order(wait: WaitEntry) -> tuple[str, int, str]:
    return wait.interval or "", wait.wait_ms, wait.task_id
