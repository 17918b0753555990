"""Stream aggregators: constant work per event, exact under duplicates, retried and bisected
batches, reordering and concurrent shards.

Each aggregator works in two steps per batch: ``touched`` names what an event changes, then
``refresh`` applies each of those once, in one conditional transaction each:

* **AgentStats** inserts each ``agentstate`` event into the agent's chain of applied intervals.
  The event splits exactly one link (predecessor -> successor): the predecessor is found in the
  day items' first/last copies, or by one ``Query`` when the event lands inside the day. The
  milliseconds that move between states are written with the new interval item, under version
  conditions on the (at most three) agent days it read. A duplicate fails the interval item's
  ``attribute_not_exists`` and changes nothing.
* **CallStats** recomputes a touched call from its own events (a call has a handful) and adds the
  difference between its new and stored KPI contribution to the interval and day counters, in
  the same transaction that stores the summary under a version condition ("retract and add").

A transaction whose conditions fail was computed from a state someone else changed meanwhile:
it is recomputed from fresh reads (at most ``MAX_ATTEMPTS`` times, then the records are
retried by the event source mapping).
"""

from __future__ import annotations

import copy
import itertools
import random
import time
from collections.abc import Hashable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from acd_hub import agent_stats, call_stats, keys
from acd_hub.agent_stats import Link
from acd_hub.events import StoredEvent
from acd_hub.reports_store import (
    KPI_DAY_SK,
    Cancelled,
    EventLog,
    Key,
    ReportsStore,
    Transaction,
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
    wait_sk,
)
from acd_hub.settings import HubSettings

CALL_CMDS = frozenset({"callevent", "recordedcall", "classificationevent", "enqueuecall"})
MAX_ATTEMPTS = 8


class Aggregator(Protocol):
    name: str

    def prepare(self, items: list[dict[str, Any]]) -> None:
        """See the batch's stored events before ``touched`` is asked about each."""
        ...

    def touched(self, item: dict[str, Any]) -> set[Hashable]: ...

    def refresh(self, reports: Iterable[Hashable]) -> dict[Hashable, Exception]:
        """Apply the changes; returns those that failed, and why (their events are retried)."""
        ...

    def note_batch(self, figures: dict[str, Any]) -> None: ...


class Conflict(Exception):
    """Other writers kept changing what this change depends on; the record is retried."""


def shift(day: str, days: int) -> str:
    return (date.fromisoformat(day) + timedelta(days=days)).isoformat()


def now_iso() -> str:
    return keys.iso_utc(datetime.now(UTC))


def _backoff(attempt: int) -> None:
    # concurrent writers of one agent or call are rare; a short jittered pause lets one win
    time.sleep(random.uniform(0, 0.01 * 2**attempt))  # noqa: S311 - jitter, not security


# -- agent stats ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class AgentEvent:
    agent: str
    day: str
    key: str
    event: StoredEvent = field(compare=False, hash=False)


def link_item(link: Link) -> dict[str, Any]:
    return {
        "day": link.day,
        "sort_key": link.sort_key,
        "start_ms": link.start_ms,
        "state": link.state,
        "pause_reason": link.pause_reason,
        "next_ms": link.next_ms,
    }


def link_of(item: dict[str, Any] | None) -> Link | None:
    if not item:
        return None
    return Link(
        day=item["day"],
        sort_key=item.get("sort_key") or item["sk"],
        start_ms=int(item["start_ms"]),
        state=item["state"],
        pause_reason=item.get("pause_reason"),
        next_ms=None if item.get("next_ms") is None else int(item["next_ms"]),
    )


def new_agent_day(agent: str, day: str, zone: ZoneInfo) -> dict[str, Any]:
    pk, sk = agent_day_key(agent, day)
    # the day's bounds in the reporting zone, so readers cut the timeline without knowing it
    start_ms, end_ms = agent_stats.day_bounds_ms(date.fromisoformat(day), zone)
    return {
        "day_start_ms": start_ms,
        "day_end_ms": end_ms,
        "pk": pk,
        "sk": sk,
        "kind": "agent_day",
        "agent": agent,
        "day": day,
        "state_ms": {},
        "pause_ms": {},
        "calls_handled": 0,
        "events": 0,
    }


class AgentWindow:
    """What one batch has read or written of agent days and board entries.

    After its own transaction commits, the aggregator knows the new items (it wrote them), so
    the next event of the same agent in the batch needs no read; if someone else wrote
    meanwhile, the version conditions fail and the agent's entries are read again.
    """

    def __init__(self, reports: ReportsStore, board_shards: int) -> None:
        self._reports = reports
        self._board_shards = board_shards
        self.days: dict[tuple[str, str], dict[str, Any] | None] = {}
        self.boards: dict[str, dict[str, Any] | None] = {}
        self.talked: set[Key] = set()

    def load(
        self, agent: str, days: list[str]
    ) -> tuple[dict[str, dict[str, Any] | None], dict[str, Any] | None]:
        missing = [day for day in days if (agent, day) not in self.days]
        board = board_key(agent, self._board_shards)
        if missing or agent not in self.boards:
            wanted = [agent_day_key(agent, day) for day in missing]
            if agent not in self.boards:
                wanted.append(board)
            found = self._reports.get_many(wanted)
            for day in missing:
                self.days[(agent, day)] = found.get(agent_day_key(agent, day))
            if agent not in self.boards:
                self.boards[agent] = found.get(board)
        return {day: self.days[(agent, day)] for day in days}, self.boards[agent]

    def forget(self, agent: str) -> None:
        for key in [key for key in self.days if key[0] == agent]:
            del self.days[key]
        self.boards.pop(agent, None)


@dataclass
class _AgentPlan:
    transaction: Transaction
    interval_index: int
    talk: Key | None
    talk_index: int | None
    days: dict[str, dict[str, Any] | None]
    board: dict[str, Any] | None


class AgentStatsAggregator:
    name = "agent-stats"

    def __init__(self, log: EventLog, reports: ReportsStore, settings: HubSettings) -> None:
        self._log = log
        self._reports = reports
        self._settings = settings

    def prepare(self, items: list[dict[str, Any]]) -> None:
        """Nothing to read ahead: the batch's events are applied agent by agent."""

    def touched(self, item: dict[str, Any]) -> set[Hashable]:
        if item.get("cmd") != "agentstate" or not item.get("agent"):
            return set()
        event = StoredEvent.from_item(item)
        return {AgentEvent(str(item["agent"]), str(item["day"]), event.key, event)}

    def refresh(self, reports: Iterable[Hashable]) -> dict[Hashable, Exception]:
        failed: dict[Hashable, Exception] = {}
        window = AgentWindow(self._reports, self._settings.cmd_day_shards)
        events = sorted(
            (r for r in reports if isinstance(r, AgentEvent)), key=lambda r: (r.agent, r.event.order)
        )
        for report in events:
            try:
                self.apply(report, window)
            except Exception as exc:  # one event's failure must not stop the batch
                failed[report] = exc
        return failed

    def note_batch(self, figures: dict[str, Any]) -> None:
        self._reports.note_batch(self.name, figures)

    def apply(self, report: AgentEvent, window: AgentWindow) -> bool:
        """Insert one event into its agent's chain; False if it was applied before."""
        days = [shift(report.day, -1), report.day, shift(report.day, 1)]
        for attempt in range(MAX_ATTEMPTS):
            day_items, board = window.load(report.agent, days)
            plan = None
            try:
                plan = self._plan(report, day_items, board, window)
                if plan is None:
                    return False
                self._reports.commit(plan.transaction)
            except Cancelled as cancelled:
                if plan is None:  # read a state that moved under us
                    window.forget(report.agent)
                    continue
                if cancelled.failed(plan.interval_index):
                    return False  # stored by an earlier delivery: a duplicate
                if (
                    plan.talk is not None
                    and plan.talk_index is not None
                    and cancelled.failed(plan.talk_index)
                ):
                    window.talked.add(plan.talk)
                window.forget(report.agent)
                _backoff(attempt)
                continue
            for day, item in plan.days.items():
                window.days[(report.agent, day)] = item
            window.boards[report.agent] = plan.board
            if plan.talk is not None:
                window.talked.add(plan.talk)
            return True
        raise Conflict(f"agent {report.agent}: gave up after {MAX_ATTEMPTS} conflicting attempts")

    def _neighbours(
        self, report: AgentEvent, sort_key: str, day_items: dict[str, dict[str, Any] | None]
    ) -> tuple[Link | None, int | None] | None:
        """The applied predecessor and the successor's time; None if the event is applied."""
        earlier, today, later = (
            day_items[d] for d in (shift(report.day, -1), report.day, shift(report.day, 1))
        )
        first_of_later = link_of(later["first"]) if later else None
        after_ms = first_of_later.start_ms if first_of_later else None
        if today is None:
            return link_of(earlier["last"]) if earlier else None, after_ms
        first, last = link_of(today["first"]), link_of(today["last"])
        assert first is not None
        assert last is not None
        if sort_key in (first.sort_key, last.sort_key):
            return None
        if sort_key > last.sort_key:
            return last, after_ms
        if sort_key < first.sort_key:
            return (link_of(earlier["last"]) if earlier else None), first.start_ms
        before = link_of(self._reports.interval_before(report.agent, report.day, sort_key))
        if before is None:  # the day's first item moved under us: read again
            raise Cancelled(["StaleRead"])
        return before, before.next_ms

    def _plan(
        self,
        report: AgentEvent,
        day_items: dict[str, dict[str, Any] | None],
        board: dict[str, Any] | None,
        window: AgentWindow,
    ) -> _AgentPlan | None:
        event, agent, day = report.event, report.agent, report.day
        sort_key = interval_sk(event.time_ms, event.key)
        neighbours = self._neighbours(report, sort_key, day_items)
        if neighbours is None:
            return None
        before, after_ms = neighbours
        state = event.state or "unknown"
        new = Link(day, sort_key, event.time_ms, state, agent_stats.pause_reason_of(event.state, event.data))
        moves, placed, relinked = agent_stats.insert_event(new, before, after_ms, self._settings.report_zone)

        items = copy.deepcopy(day_items)
        today = items[day] = items[day] or new_agent_day(agent, day, self._settings.report_zone)
        for moved_day, entries in moves.items():
            target = items.get(moved_day)
            assert target is not None, f"ms moved to {moved_day}, outside the event's window"
            totals = agent_stats.DayTotals(target["state_ms"], target["pause_ms"])
            for link, ms in entries:
                totals.add(link, ms)
        today["events"] = int(today.get("events") or 0) + 1
        today["complete_to_ms"] = max(int(today.get("complete_to_ms") or 0), event.time_ms)
        first, last = link_of(today.get("first")), link_of(today.get("last"))
        if first is None or sort_key < first.sort_key:
            today["first"] = link_item(placed)
        if last is None or sort_key > last.sort_key:
            today["last"] = link_item(placed)
        if relinked is not None:
            owner = items[relinked.day]
            assert owner is not None
            for end in ("first", "last"):
                if owner[end]["sort_key"] == relinked.sort_key:
                    owner[end] = link_item(relinked)

        transaction = self._reports.transaction()
        interval_index = transaction.put(
            {
                "pk": timeline_pk(agent, day),
                "sk": sort_key,
                "kind": "interval",
                "agent": agent,
                "event_key": event.key,
                "task_id": event.task_id,
                "hotline": event.data.get("hotlineid"),
                **link_item(placed),
            },
            "attribute_not_exists(pk)",
        )
        if relinked is not None:
            transaction.update(
                (timeline_pk(agent, relinked.day), relinked.sort_key),
                "SET #next = :next",
                {"#next": "next_ms"},
                {":next": relinked.next_ms},
            )
        talk, talk_index = None, None
        if event.state in agent_stats.TALK_STATES:
            talk = talk_key(agent, day, event.task_id) if event.task_id else None
            if talk is None or talk not in window.talked:
                today["calls_handled"] = int(today.get("calls_handled") or 0) + 1
                if talk is not None:
                    talk_index = transaction.put(
                        {"pk": talk[0], "sk": talk[1], "kind": "talk"}, "attribute_not_exists(pk)"
                    )
        stamp = now_iso()
        for each_day, item in items.items():
            read = day_items[each_day]
            read_version = None if read is None else int(read.get("version") or 0)
            if item is None or item == read:
                transaction.check_version(agent_day_key(agent, each_day), read_version)
                continue
            item["updated_at"] = stamp
            body = {name: value for name, value in item.items() if name != "version"}
            transaction.put_versioned(body, read_version)
            item["version"] = (read_version or 0) + 1
        board = self._board(event, board, transaction)
        return _AgentPlan(transaction, interval_index, talk, talk_index, items, board)

    def _board(
        self, event: StoredEvent, board: dict[str, Any] | None, transaction: Transaction
    ) -> dict[str, Any] | None:
        """The board shows the agent's newest event: replace the entry only with a newer one."""
        if board is not None and (int(board["since_ms"]), str(board["event_key"])) >= event.order:
            return board
        pk, sk = board_key(str(event.agent), self._settings.cmd_day_shards)
        entry = {"pk": pk, "sk": sk, **agent_stats.board_entry(event), "kind": "board"}
        if board is None:
            transaction.put(entry, "attribute_not_exists(pk)")
        else:
            transaction.put(
                entry,
                "since_ms = :since AND event_key = :key",
                values={":since": board["since_ms"], ":key": board["event_key"]},
            )
        return entry


# -- call stats -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    task_id: str


# What a stored call summary holds beside the summary itself.
SUMMARY_BOOKKEEPING = frozenset({"pk", "sk", "kind", "version", "next_version", "kpi", "updated_at"})


def listing_key(summary: dict[str, Any]) -> Key | None:
    if not summary.get("started") or not summary.get("day"):
        return None
    return calls_pk(summary.get("hotline"), summary["day"]), f"{summary['started']}#{summary['task_id']}"


def wait_keys(contribution: dict[str, Any] | None, task_id: str) -> list[Key]:
    if not contribution or contribution.get("wait_ms") is None:
        return []
    sk = wait_sk(int(contribution["wait_ms"]), task_id)
    hotline, day = contribution["hotline"], contribution["day"]
    return [(wait_pk(hotline, day), sk), (wait_pk(hotline, day, contribution["interval"]), sk)]


class CallStatsAggregator:
    name = "call-stats"

    def __init__(self, log: EventLog, reports: ReportsStore, settings: HubSettings) -> None:
        self._log = log
        self._reports = reports
        self._settings = settings
        # an agent state's previous stored event, read ahead for a batch (see prepare)
        self._previous: dict[str, StoredEvent] = {}

    def prepare(self, items: list[dict[str, Any]]) -> None:
        """Each agent state may close the after-call work of the state before it. For an
        agent's events of one day in this batch, one read of the stored events between the first
        and the last tells that for all but the first (if few others lie between them: at most
        twice the batch's, so the read stays bounded; else each event asks on its own)."""
        self._previous = {}
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
            for before, event_sk in itertools.pairwise(window):
                self._previous[event_sk[1]] = before[0]

    def touched(self, item: dict[str, Any]) -> set[Hashable]:
        cmd, task = item.get("cmd"), item.get("task_id")
        if cmd in CALL_CMDS and task:
            return {Call(str(task))}
        if cmd != "agentstate" or not item.get("agent"):
            return set()
        calls: set[Hashable] = set()
        if task and item.get("data", {}).get("state") in agent_stats.WORK_STATES:
            calls.add(Call(str(task)))
        # This event may close the agent's after-call work of the call before it.
        agent, day, sort_key = str(item["agent"]), str(item["day"]), str(item["sk"])
        previous = self._previous.get(sort_key)
        if previous is None:
            previous = self._log.agent_before(agent, day, sort_key) or self._log.agent_edge(
                agent, shift(day, -1), last=True
            )
        if previous and previous.task_id and previous.state in agent_stats.WORK_STATES:
            calls.add(Call(previous.task_id))
        return calls

    def refresh(self, reports: Iterable[Hashable]) -> dict[Hashable, Exception]:
        failed: dict[Hashable, Exception] = {}
        calls = sorted((r for r in reports if isinstance(r, Call)), key=lambda r: r.task_id)
        try:  # the stored summaries of the whole batch in one read (100 to a request)
            stored = self._reports.get_many([call_summary_key(c.task_id) for c in calls])
        except Exception:  # each call reads its own then
            stored = None
        for report in calls:
            try:
                known = None if stored is None else (stored.get(call_summary_key(report.task_id)),)
                self.refresh_call(report.task_id, known)
            except Exception as exc:  # one call's failure must not stop the batch
                failed[report] = exc
        return failed

    def note_batch(self, figures: dict[str, Any]) -> None:
        self._reports.note_batch(self.name, figures)

    def refresh_call(self, task_id: str, known: tuple[dict[str, Any] | None] | None = None) -> bool:
        """Recompute one call from its events; True if anything changed. ``known``: the stored
        summary as just read (a 1-tuple, None inside if there is none), saving the first read."""
        for attempt in range(MAX_ATTEMPTS):
            if attempt == 0 and known is not None:
                old = known[0]
            else:
                old = self._reports.get(call_summary_key(task_id))
            events = self._log.call(task_id)
            if not events:
                return False
            transaction = self._plan(task_id, self.summarize(task_id, events), old)
            if transaction is None:
                return False
            try:
                self._reports.commit(transaction)
            except Cancelled:
                _backoff(attempt)
                continue
            return True
        raise Conflict(f"call {task_id}: gave up after {MAX_ATTEMPTS} conflicting attempts")

    def summarize(self, task_id: str, events: list[StoredEvent]) -> dict[str, Any]:
        agents = list(dict.fromkeys(e.data["agentid"] for e in events if e.data.get("agentid")))
        # read only when the summary needs them (an answered call that ended: its after-call work)
        per_agent = (list(self._agent_events(task_id, agent, events)) for agent in agents)
        return call_stats.call_summary(task_id, events, per_agent, self._settings.report_zone)

    def _agent_events(self, task_id: str, agent: str, calls: list[StoredEvent]) -> Iterator[StoredEvent]:
        """The agent's events from the call's start up to the one that ends its wrap-up of this
        call — not the agent's whole day: bounded by the call, whatever the size of the day."""
        start_ms = min(e.time_ms for e in calls)
        end_ms = max(e.time_ms for e in calls)
        for event in self._log.agent_since(agent, start_ms, self._settings.report_zone):
            yield event
            wrapping_up = event.state in agent_stats.WORK_STATES and event.task_id == task_id
            if event.time_ms > end_ms and not wrapping_up:
                return

    def _plan(self, task_id: str, summary: dict[str, Any], old: dict[str, Any] | None) -> Transaction | None:
        sl_seconds = self._settings.service_level_seconds
        contribution = call_stats.contribution(summary, sl_seconds)
        record = {**summary, "kind": "call"}
        if old is not None:
            stored = {name: value for name, value in old.items() if name not in SUMMARY_BOOKKEEPING}
            if stored == summary and old.get("kpi") == contribution:
                return None
        stored_contribution = old.get("kpi") if old else None
        stamp = now_iso()
        transaction = self._reports.transaction()
        pk, sk = call_summary_key(task_id)
        read_version = None if old is None else int(old.get("version") or 0)
        transaction.put_versioned(
            {"pk": pk, "sk": sk, **record, "kpi": contribution, "updated_at": stamp}, read_version
        )
        new_listing, old_listing = listing_key(summary), listing_key(old) if old else None
        if new_listing:
            transaction.put({"pk": new_listing[0], "sk": new_listing[1], **record, "updated_at": stamp})
        if old_listing and old_listing != new_listing:
            transaction.delete(old_listing)
        for key, (counters, fields) in self._counter_changes(
            task_id, stored_contribution, contribution
        ).items():
            transaction.add(key, counters, {**fields, "updated_at": stamp})
        old_waits, new_waits = wait_keys(stored_contribution, task_id), wait_keys(contribution, task_id)
        for key in old_waits:
            if key not in new_waits:
                transaction.delete(key)
        for key in new_waits:
            if key not in old_waits:
                assert contribution is not None
                wait = {"kind": "wait", "wait_ms": contribution["wait_ms"], "task_id": task_id}
                transaction.put({"pk": key[0], "sk": key[1], **wait})
        return transaction

    def _counter_changes(
        self, task_id: str, old: dict[str, Any] | None, new: dict[str, Any] | None
    ) -> dict[Key, tuple[dict[str, int], dict[str, Any]]]:
        """Retract the stored contribution, add the new one: the non-zero differences per item."""
        changes: dict[Key, tuple[dict[str, int], dict[str, Any]]] = {}
        shard = keys.shard_of(task_id, self._settings.kpi_shards)
        for contribution, sign in ((old, -1), (new, 1)):
            if not contribution:
                continue
            pk = kpi_pk(contribution["hotline"], contribution["day"], shard)
            day_fields = {
                "kind": "kpi_counters",
                "hotline": contribution["hotline"],
                "date": contribution["day"],
                "sl_seconds": self._settings.service_level_seconds,
            }
            interval_fields = {"kind": "kpi_counters", "start": contribution["interval"]}
            for sk, fields in (
                (KPI_DAY_SK, day_fields),
                (kpi_interval_sk(contribution["interval"]), interval_fields),
            ):
                counters, _ = changes.setdefault((pk, sk), ({}, fields))
                for name, value in contribution["counters"].items():
                    counters[name] = counters.get(name, 0) + sign * int(value)
        out = {}
        for key, (counters, fields) in changes.items():
            nonzero = {name: value for name, value in counters.items() if value}
            if nonzero:
                out[key] = (nonzero, fields)
        return out
