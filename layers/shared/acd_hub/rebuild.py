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
* a hotline day's counters and wait index are then checked against the sum of its calls'
  contributions, and corrected by the difference (``ADD``, as the live path writes them).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from acd_hub import agent_stats, keys
from acd_hub.agent_stats import Link
from acd_hub.aggregation import (
    CALL_CMDS,
    MAX_ATTEMPTS,
    CallStatsAggregator,
    Conflict,
    link_item,
    listing_key,
    new_agent_day,
    now_iso,
    shift,
    wait_keys,
)
from acd_hub.call_stats import COUNTERS
from acd_hub.events import StoredEvent
from acd_hub.reports_store import (
    KPI_DAY_SK,
    Cancelled,
    EventLog,
    Key,
    ReportsStore,
    agent_day_key,
    board_key,
    call_summary_key,
    calls_pk,
    interval_sk,
    kpi_interval_sk,
    kpi_pk,
    talk_key,
    timeline_pk,
    wait_pk,
)
from acd_hub.settings import HubSettings

Report = tuple[str, ...]
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


class Rebuilder:
    def __init__(self, log: EventLog, reports: ReportsStore, settings: HubSettings) -> None:
        self._log = log
        self._reports = reports
        self._settings = settings
        self._calls = CallStatsAggregator(log, reports, settings)
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
        """Replace an agent day's timeline, markers and day item by the whole-day recompute."""
        for _attempt in range(MAX_ATTEMPTS):
            read = self._reports.get(agent_day_key(agent, day))
            events = self._log.agent_day(agent, day)
            if not events:
                return
            before = self._log.agent_edge(agent, shift(day, -1), last=True)
            after = self._log.agent_edge(agent, shift(day, 1), last=False)
            timeline, markers, day_item = self._agent_truth(agent, day, events, before, after)
            stored = list(self._reports.query(timeline_pk(agent, day), consistent=True))
            self._replace(stored, [*timeline, *markers])
            transaction = self._reports.transaction()
            read_version = None if read is None else int(read.get("version") or 0)
            transaction.put_versioned(day_item, read_version)
            try:
                self._reports.commit(transaction)
            except Cancelled:
                continue  # the live path applied an event meanwhile: again, from the top
            self.summary.agent_days += 1
            self.summary.reports.append(("agent_day", agent, day))
            self._board(max(events, key=lambda e: e.order))
            return
        raise Conflict(f"agent {agent} on {day}: the stream kept changing it; try again")

    def _board(self, latest: StoredEvent) -> None:
        """The board shows the agent's newest event: put this day's last one if it is newer."""
        key = board_key(str(latest.agent), self._settings.cmd_day_shards)
        entry = {"pk": key[0], "sk": key[1], **agent_stats.board_entry(latest), "kind": "board"}
        stored = self._reports.get(key)
        if stored == entry or (stored and (int(stored["since_ms"]), str(stored["event_key"])) > latest.order):
            return
        transaction = self._reports.transaction()
        if stored is None:
            transaction.put(entry, "attribute_not_exists(pk)")
        else:
            transaction.put(
                entry,
                "since_ms = :since AND event_key = :key",
                values={":since": stored["since_ms"], ":key": stored["event_key"]},
            )
        with contextlib.suppress(Cancelled):  # a newer event got there first: it stays
            self._reports.commit(transaction)
        self.summary.items_written += 1

    def _agent_truth(
        self,
        agent: str,
        day: str,
        events: list[StoredEvent],
        before: StoredEvent | None,
        after: StoredEvent | None,
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, Any]]:
        zone = self._settings.report_zone
        ordered = sorted({e.key: e for e in events}.values(), key=lambda e: e.order)
        intervals = agent_stats.day_intervals(ordered, before, after, date.fromisoformat(day), zone)
        links, timeline, markers = [], [], []
        for index, event in enumerate(ordered):
            following = ordered[index + 1] if index + 1 < len(ordered) else after
            link = Link(
                day,
                interval_sk(event.time_ms, event.key),
                event.time_ms,
                event.state or "unknown",
                agent_stats.pause_reason_of(event.state, event.data),
                None if following is None else following.time_ms,
            )
            links.append(link)
            timeline.append(
                {
                    "pk": timeline_pk(agent, day),
                    "sk": link.sort_key,
                    "kind": "interval",
                    "agent": agent,
                    "event_key": event.key,
                    "task_id": event.task_id,
                    "hotline": event.data.get("hotlineid"),
                    **link_item(link),
                }
            )
        talked = {e.task_id for e in ordered if e.state in agent_stats.TALK_STATES and e.task_id}
        for task in sorted(talked):
            pk, sk = talk_key(agent, day, task)
            markers.append({"pk": pk, "sk": sk, "kind": "talk"})
        totals = agent_stats.DayTotals()
        for interval in intervals:
            if interval.duration_ms:
                totals.add(Link(day, "", 0, interval.state, interval.pause_reason), interval.duration_ms)
        untracked = sum(1 for e in ordered if e.state in agent_stats.TALK_STATES and not e.task_id)
        day_item = {
            **new_agent_day(agent, day, zone),
            "state_ms": totals.state_ms,
            "pause_ms": totals.pause_ms,
            "calls_handled": len(talked) + untracked,
            "events": len(ordered),
            "first": link_item(links[0]),
            "last": link_item(links[-1]),
            "complete_to_ms": ordered[-1].time_ms,
            "updated_at": now_iso(),
        }
        return timeline, markers, day_item

    def _replace(self, stored: list[dict[str, Any]], wanted: list[dict[str, Any]]) -> None:
        """Write what differs, delete what should not be there (in batches of 25)."""
        have = {(i["pk"], i["sk"]): i for i in stored}
        want = {(i["pk"], i["sk"]): i for i in wanted}
        puts = [item for key, item in want.items() if have.get(key) != item]
        deletes = [key for key in have if key not in want]
        self._reports.write_batch(puts, deletes)
        self.summary.items_written += len(puts)
        self.summary.items_deleted += len(deletes)

    # -- calls and hotline days ---------------------------------------------------------------

    def call(self, task_id: str, hotlines: set[str] | None = None) -> set[tuple[str, str]]:
        """Recompute one call (retract and add); the hotline days it counts in, before and after."""
        old = self._reports.get(call_summary_key(task_id))
        if hotlines is not None:
            # the hotlines the call's events name, and the one it counted in: no recompute twice
            named = {str(e.data["hotlineid"]) for e in self._log.call(task_id) if "hotlineid" in e.data}
            if not (named | {str((old or {}).get("hotline"))}) & hotlines:
                return set()
        self._calls.refresh_call(task_id)
        new = self._reports.get(call_summary_key(task_id))
        self.summary.calls += 1
        self.summary.reports.append(("call", task_id))
        return {
            (str(s["hotline"]), str(s["day"]))
            for s in (old, new)
            if s and s.get("hotline") is not None and s.get("day")
        }

    def hotline_day(self, hotline: str, day: str) -> None:
        """Make the counters and the wait index of a hotline day equal the sum of its calls'
        stored contributions (and drop listing entries no call claims)."""
        listing = list(self._reports.query(calls_pk(hotline, day), consistent=True))
        summaries = self._reports.get_many([call_summary_key(str(i["task_id"])) for i in listing])
        truth: dict[Key, dict[str, int]] = {}
        waits: set[Key] = set()
        stale_listing: list[Key] = []
        shards = self._settings.kpi_shards
        for entry in listing:
            task = str(entry["task_id"])
            summary = summaries.get(call_summary_key(task))
            if summary is None or listing_key(summary) != (entry["pk"], entry["sk"]):
                stale_listing.append((entry["pk"], entry["sk"]))
                continue
            contribution = summary.get("kpi")
            if not contribution or (contribution["hotline"], contribution["day"]) != (hotline, day):
                continue
            pk = kpi_pk(hotline, day, keys.shard_of(task, shards))
            for sk in (KPI_DAY_SK, kpi_interval_sk(contribution["interval"])):
                counters = truth.setdefault((pk, sk), {})
                for name, value in contribution["counters"].items():
                    counters[name] = counters.get(name, 0) + int(value)
            waits |= set(wait_keys(contribution, task))
        stored: dict[Key, dict[str, Any]] = {}
        for shard in range(shards):
            for item in self._reports.query(kpi_pk(hotline, day, shard), consistent=True):
                stored[(item["pk"], item["sk"])] = item
        corrections = 0
        for key in sorted(set(truth) | set(stored)):
            have = stored.get(key, {})
            want = truth.get(key, {})
            delta = {n: want.get(n, 0) - int(have.get(n) or 0) for n in COUNTERS}
            delta = {n: v for n, v in delta.items() if v}
            if delta:
                self._reports.add_counters(key, delta)
                corrections += 1
        stored_waits = self._wait_items(hotline, day, set(truth) | set(stored))
        self._reports.write_batch(
            [
                {
                    "pk": pk,
                    "sk": sk,
                    "kind": "wait",
                    "wait_ms": int(sk.split("#")[0]),
                    "task_id": sk.split("#", 1)[1],
                }
                for pk, sk in waits - stored_waits
            ],
            sorted(stored_waits - waits) + stale_listing,
        )
        self.summary.counters_corrected += corrections
        self.summary.hotline_days += 1
        self.summary.reports.append(("hotline_day", hotline, day))

    def _wait_items(self, hotline: str, day: str, counters: set[Key]) -> set[Key]:
        partitions = {wait_pk(hotline, day)}
        for _pk, sk in counters:
            if sk != KPI_DAY_SK:
                partitions.add(wait_pk(hotline, day, sk.removeprefix("IV#")))
        found: set[Key] = set()
        for pk in partitions:
            found |= {(i["pk"], i["sk"]) for i in self._reports.query(pk, consistent=True)}
        return found
