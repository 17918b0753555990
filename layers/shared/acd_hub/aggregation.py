"""Stream aggregators: which reports a new event touches, and recomputing them.

Each aggregator works in two steps per batch: ``touched`` names the reports an event affects
(reads allowed), then ``refresh`` recomputes each touched report once, from the events table,
and writes it with a versioned write. Recomputing instead of incrementing is what makes the
figures exact under duplicates, retried batches and reordering.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Protocol

from acd_hub import agent_stats, call_stats
from acd_hub.events import StoredEvent
from acd_hub.reports_store import (
    EventLog,
    ReportsStore,
    agent_day_key,
    board_key,
    call_summary_key,
    calls_pk,
    kpi_key,
)
from acd_hub.settings import HubSettings

CALL_CMDS = frozenset({"callevent", "recordedcall", "classificationevent", "enqueuecall"})


class Aggregator(Protocol):
    def touched(self, item: dict[str, Any]) -> set[Hashable]: ...

    def refresh(self, reports: Iterable[Hashable]) -> dict[Hashable, Exception]:
        """Recompute the reports; returns those that failed, and why (their events are retried)."""
        ...


def _day(moment_ms: int, settings: HubSettings) -> str:
    return datetime.fromtimestamp(moment_ms / 1000, tz=settings.report_zone).date().isoformat()


def _shift(day: str, days: int) -> str:
    return (date.fromisoformat(day) + timedelta(days=days)).isoformat()


@dataclass(frozen=True)
class AgentDay:
    agent: str
    day: str


@dataclass(frozen=True)
class Board:
    agent: str
    day: str


class AgentStatsAggregator:
    def __init__(self, log: EventLog, reports: ReportsStore, settings: HubSettings) -> None:
        self._log = log
        self._reports = reports
        self._settings = settings

    def touched(self, item: dict[str, Any]) -> set[Hashable]:
        if item.get("cmd") != "agentstate" or not item.get("agent"):
            return set()
        agent, day = str(item["agent"]), str(item["day"])
        return {AgentDay(agent, day), Board(agent, day)}

    def refresh(self, reports: Iterable[Hashable]) -> dict[Hashable, Exception]:
        failed: dict[Hashable, Exception] = {}
        pending = set(reports)
        done: set[Hashable] = set()
        while pending:
            report = pending.pop()
            done.add(report)
            try:
                if isinstance(report, AgentDay):
                    # the neighbouring days share an interval across midnight with this one
                    pending |= self._refresh_day(report) - done
                elif isinstance(report, Board):
                    self._refresh_board(report)
            except Exception as exc:  # one report's failure must not stop the batch
                failed[report] = exc
        return failed

    def _refresh_day(self, report: AgentDay) -> set[AgentDay]:
        agent, day = report.agent, report.day
        neighbours: set[AgentDay] = set()

        def compute() -> dict[str, Any] | None:
            events = self._log.agent_day(agent, day)
            if not events:
                return None
            before = self._log.agent_edge(agent, _shift(day, -1), last=True)
            after = self._log.agent_edge(agent, _shift(day, 1), last=False)
            if before is not None:
                neighbours.add(AgentDay(agent, _shift(day, -1)))
            if after is not None:
                neighbours.add(AgentDay(agent, _shift(day, 1)))
            intervals = agent_stats.day_intervals(
                events, before, after, date.fromisoformat(day), self._settings.report_zone
            )
            stats = agent_stats.day_stats(agent, date.fromisoformat(day), events, intervals)
            return {**stats, "timeline": [i.as_dict() for i in intervals], "kind": "agent_day"}

        self._reports.versioned_write(agent_day_key(agent, day), compute)
        return neighbours

    def _refresh_board(self, report: Board) -> None:
        latest = self._log.agent_edge(report.agent, report.day, last=True)
        if latest is not None:
            entry = {**agent_stats.board_entry(latest), "kind": "board"}
            self._reports.put_board_entry(board_key(report.agent, self._settings.cmd_day_shards), entry)


@dataclass(frozen=True)
class Call:
    task_id: str


@dataclass(frozen=True)
class HotlineDay:
    hotline: str
    day: str


@dataclass
class _CallRefresh:
    touched_kpis: set[HotlineDay] = field(default_factory=set)


class CallStatsAggregator:
    def __init__(self, log: EventLog, reports: ReportsStore, settings: HubSettings) -> None:
        self._log = log
        self._reports = reports
        self._settings = settings

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
        agent, day = str(item["agent"]), str(item["day"])
        previous = self._log.agent_before(agent, day, str(item["sk"])) or self._log.agent_edge(
            agent, _shift(day, -1), last=True
        )
        if previous and previous.task_id and previous.state in agent_stats.WORK_STATES:
            calls.add(Call(previous.task_id))
        return calls

    def refresh(self, reports: Iterable[Hashable]) -> dict[Hashable, Exception]:
        failed: dict[Hashable, Exception] = {}
        kpi_sources: dict[HotlineDay, set[Hashable]] = {}
        for report in reports:
            if not isinstance(report, Call):
                continue
            try:
                for hotline_day in self._refresh_call(report.task_id):
                    kpi_sources.setdefault(hotline_day, set()).add(report)
            except Exception as exc:  # one report's failure must not stop the batch
                failed[report] = exc
        for hotline_day, calls in kpi_sources.items():
            try:
                self._refresh_kpis(hotline_day)
            except Exception as exc:
                # their events are retried, which recomputes these KPIs
                failed.update(dict.fromkeys(calls, exc))
        return failed

    def _agent_events(
        self, task_id: str, agents: Iterable[str], calls: list[StoredEvent]
    ) -> list[list[StoredEvent]]:
        """Each agent's events from the call's start up to the one that ends its wrap-up of
        this call — not the agent's whole day, which would make a day's refreshes quadratic."""
        start_ms = min(e.time_ms for e in calls)
        end_ms = max(e.time_ms for e in calls)
        per_agent = []
        for agent in agents:
            events: list[StoredEvent] = []
            for event in self._log.agent_since(agent, start_ms, self._settings.report_zone):
                events.append(event)
                wrapping_up = event.state in agent_stats.WORK_STATES and event.task_id == task_id
                if event.time_ms > end_ms and not wrapping_up:
                    break
            per_agent.append(events)
        return per_agent

    def _refresh_call(self, task_id: str) -> set[HotlineDay]:
        old = self._reports.get(call_summary_key(task_id))
        summary: dict[str, Any] = {}

        def compute() -> dict[str, Any] | None:
            events = self._log.call(task_id)
            if not events:
                return None
            agents = list(dict.fromkeys(e.data["agentid"] for e in events if e.data.get("agentid")))
            summary.update(
                call_stats.call_summary(
                    task_id, events, self._agent_events(task_id, agents, events), self._settings.report_zone
                )
            )
            return {**summary, "kind": "call"}

        written, version = self._reports.versioned_write(call_summary_key(task_id), compute)
        if not written:
            return set()
        touched: set[HotlineDay] = set()
        new_listing = self._listing_key(summary)
        old_listing = self._listing_key(old) if old else None
        if new_listing:
            self._reports.write_if_newer(new_listing, {**summary, "kind": "call"}, version)
        if old_listing and old_listing != new_listing:
            self._reports.delete_if_older(old_listing, version)
        for source in (summary, old or {}):
            if (
                source.get("hotline") is not None
                and source.get("day")
                and source.get("direction") == "inbound"
            ):
                touched.add(HotlineDay(str(source["hotline"]), source["day"]))
        return touched

    @staticmethod
    def _listing_key(summary: dict[str, Any]) -> tuple[str, str] | None:
        if not summary.get("started") or not summary.get("day"):
            return None
        return calls_pk(summary.get("hotline"), summary["day"]), f"{summary['started']}#{summary['task_id']}"

    def _refresh_kpis(self, report: HotlineDay) -> None:
        def compute() -> dict[str, Any]:
            calls = list(self._reports.query(calls_pk(report.hotline, report.day), consistent=True))
            figures = call_stats.hotline_day_kpis(
                report.hotline, date.fromisoformat(report.day), calls, self._settings.service_level_seconds
            )
            return {**figures, "kind": "kpis"}

        self._reports.versioned_write(kpi_key(report.hotline, report.day), compute)
