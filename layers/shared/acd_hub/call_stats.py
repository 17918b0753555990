"""Call summaries and their share of the hotline KPIs — pure functions, no AWS.

A summary is recomputed from all of a call's events, so duplicates, retries and reordering
cannot change it. Its share of its hotline's KPIs (:func:`contribution`) is a handful of
integer counters (counts and millisecond sums, defined once in :mod:`acd_hub.kpis`); the live
path adds the difference between a call's new and stored contribution to the interval and day
counters, and readers turn summed counters into the KPIs (:func:`acd_hub.kpis.figures`).

The call reports as they are stored (:class:`CallSummary` with its :class:`Contribution`, the
hotline's counters and wait index entries) live here too, each with its conversion to and from
the attributes of its item; the reports table's adapter adds the keys.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from acd_hub import keys, kpis
from acd_hub.agent_stats import seconds
from acd_hub.events import StoredEvent
from acd_hub.keys import iso_utc
from acd_hub.vocabulary import TERMINAL_ROUTING, WORK_STATES

INTERVAL_MINUTES = 15
# A call lists the agents it reached in the order it reached them, the first MAX_CALL_AGENTS of
# them (and how many more): a call forwarded round a group thousands of times must not grow its
# summary and listing items towards DynamoDB's 400 KB. A function of the call's events, so the
# same whatever order they came in.
MAX_CALL_AGENTS = 50


@dataclass(frozen=True)
class CallSummary:
    """One call as ``acd-report call`` shows it; ``day`` and ``interval`` (where it counts) only
    once its start is known."""

    task_id: str
    direction: str
    hotline: int | None
    group: int | None
    agents: list[str]
    started: str | None
    answered: str | None
    ended: str | None
    wait_s: int | float | None
    talk_s: int | float | None
    hold_s: int | float | None
    acw_s: int | float | None
    outcome: str
    recorded: bool
    classification: str | None
    started_ms: int | None
    event_count: int | None  # None in a listing copy, which leaves it out (see ListedCall)
    day: str | None = None
    interval: str | None = None
    # What makes a duration unknown: events whose times contradict their order (PROBLEMS).
    problems: list[str] = field(default_factory=list)
    more_agents: int = 0  # agents reached beyond the MAX_CALL_AGENTS listed

    def as_dict(self) -> dict[str, Any]:
        summary = asdict(self)
        if self.started_ms is None:
            del summary["day"], summary["interval"]
        if not self.problems:
            del summary["problems"]
        if not self.more_agents:
            del summary["more_agents"]
        return summary

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> CallSummary:
        return cls(
            task_id=str(item["task_id"]),
            direction=str(item.get("direction")),
            hotline=item.get("hotline"),
            group=item.get("group"),
            agents=list(item.get("agents") or []),
            started=item.get("started"),
            answered=item.get("answered"),
            ended=item.get("ended"),
            wait_s=item.get("wait_s"),
            talk_s=item.get("talk_s"),
            hold_s=item.get("hold_s"),
            acw_s=item.get("acw_s"),
            outcome=str(item.get("outcome")),
            recorded=bool(item.get("recorded")),
            classification=item.get("classification"),
            started_ms=item.get("started_ms"),
            event_count=None if item.get("event_count") is None else int(item["event_count"]),
            day=item.get("day"),
            interval=item.get("interval"),
            problems=list(item.get("problems") or []),
            more_agents=int(item.get("more_agents") or 0),
        )

    @property
    def listing_place(self) -> tuple[str, str, str, str] | None:
        """Where the call stands in its hotline's listing of the day (by start); None until its
        start is known."""
        if not self.started or not self.day:
            return None
        return ("none" if self.hotline is None else str(self.hotline), self.day, self.started, self.task_id)


def _iso(ms: int | None) -> str | None:
    return None if ms is None else iso_utc(datetime.fromtimestamp(ms / 1000, tz=ZoneInfo("UTC")))


def interval_start(moment_ms: int, zone: ZoneInfo) -> datetime:
    local = datetime.fromtimestamp(moment_ms / 1000, tz=zone)
    return local.replace(minute=local.minute - local.minute % INTERVAL_MINUTES, second=0, microsecond=0)


def _first(events: list[StoredEvent], *types: str) -> StoredEvent | None:
    return next((e for e in events if e.event_type in types), None)


# Events whose times contradict the order a call goes through (a wrong clock, or local times
# the DST change made doubtful): the durations they would give are unknown, not negative.
ANSWERED_BEFORE_START = "answered_before_start"
ENDED_BEFORE_ANSWER = "ended_before_answer"
HOLD_OUTSIDE_CALL = "hold_outside_call"
DST_DOUBTFUL = "dst_doubtful_times"


def _hold_ms(events: list[StoredEvent], answered_ms: int, ended_ms: int) -> tuple[int, bool]:
    """Time on hold within [answered, ended], and whether a hold event lay outside it."""
    total, held_since, outside = 0, None, False
    for event in events:
        if event.event_type not in ("Holdstart", "Holdstop"):
            continue
        outside |= not answered_ms <= event.time_ms <= ended_ms
        moment = min(max(event.time_ms, answered_ms), ended_ms)
        if event.event_type == "Holdstart" and held_since is None:
            held_since = moment
        elif event.event_type == "Holdstop" and held_since is not None:
            total += moment - held_since
            held_since = None
    if held_since is not None:
        total += ended_ms - held_since
    return total, outside


def after_call_work_ms(task_id: str, agent_events: Iterable[list[StoredEvent]]) -> int:
    """Sum of the agents' ``working`` intervals that carry this call's task id; each interval
    ends at the agent's next event (unknown yet: not counted)."""
    total = 0
    for events in agent_events:
        ordered = sorted({e.key: e for e in events}.values(), key=lambda e: e.order)
        for event, following in itertools.pairwise(ordered):
            if event.state in WORK_STATES and event.task_id == task_id:
                total += following.time_ms - event.time_ms
    return total


def call_summary(
    task_id: str,
    events: list[StoredEvent],
    agent_events: Iterable[list[StoredEvent]],
    zone: ZoneInfo,
) -> CallSummary:
    """One call from its ``callevent``/``recordedcall``/``classificationevent``/``enqueuecall``
    events (any order, duplicates removed by key) and its agents' ``agentstate`` events."""
    unique = sorted({e.key: e for e in events}.values(), key=lambda e: e.order)
    calls = [e for e in unique if e.cmd == "callevent"]
    start = _first(calls, "CallStart")
    end = _first(calls, "CallEnd")
    mode = next((e.data["mode"] for e in ([start] if start else []) + calls if e and "mode" in e.data), None)
    inbound = mode != 1
    answer = _first(calls, "Connected") if inbound else _first(calls, "BConnected")
    hotline = next(
        (e.data["hotlineid"] for e in ([start] if start else []) + calls if "hotlineid" in e.data), None
    )
    group = next((e.data["groupid"] for e in reversed(calls) if "groupid" in e.data), None)
    agents = list(dict.fromkeys(e.data["agentid"] for e in calls if "agentid" in e.data))
    terminal = _first(calls, *TERMINAL_ROUTING)
    classifications = [e for e in unique if e.cmd == "classificationevent"]

    started_ms = start.time_ms if start else None
    ended_ms = end.time_ms if end else None
    answered_ms = answer.time_ms if answer else None
    if inbound:
        if answer:
            outcome = "answered"
        elif terminal:
            outcome = TERMINAL_ROUTING[terminal.event_type or ""]
        else:
            outcome = "abandoned" if end else "in_progress"
    else:
        outcome = "connected" if answer else ("not_connected" if end else "in_progress")

    wait_ms = talk_ms = hold_ms = acw_ms = None
    problems: list[str] = []
    if inbound and answered_ms is not None and started_ms is not None:
        wait_ms = answered_ms - started_ms
        if wait_ms < 0:
            wait_ms = None
            problems.append(ANSWERED_BEFORE_START)
    if inbound and answered_ms is not None and ended_ms is not None:
        if ended_ms < answered_ms:
            problems.append(ENDED_BEFORE_ANSWER)
        else:
            hold_ms, outside = _hold_ms(calls, answered_ms, ended_ms)
            if outside:
                problems.append(HOLD_OUTSIDE_CALL)
            talk_ms = ended_ms - answered_ms - hold_ms
            acw_ms = after_call_work_ms(task_id, agent_events)
    if problems and any(e.data.get("time_flags") for e in calls):
        problems.append(DST_DOUBTFUL)

    day = interval = None
    if started_ms is not None:
        day = datetime.fromtimestamp(started_ms / 1000, tz=zone).date().isoformat()
        interval = interval_start(started_ms, zone).isoformat()
    return CallSummary(
        task_id=task_id,
        direction="inbound" if inbound else "outbound",
        hotline=hotline,
        group=group,
        agents=agents[:MAX_CALL_AGENTS],
        more_agents=max(0, len(agents) - MAX_CALL_AGENTS),
        started=_iso(started_ms),
        answered=_iso(answered_ms),
        ended=_iso(ended_ms),
        wait_s=None if wait_ms is None else seconds(wait_ms),
        talk_s=None if talk_ms is None else seconds(talk_ms),
        hold_s=None if hold_ms is None else seconds(hold_ms),
        acw_s=None if acw_ms is None else seconds(acw_ms),
        outcome=outcome,
        recorded=any(e.cmd == "recordedcall" for e in unique),
        classification=classifications[-1].data.get("classificationreason") if classifications else None,
        started_ms=started_ms,
        event_count=len(unique),
        day=day,
        interval=interval,
        problems=problems,
    )


# -- the live path: integer counters ------------------------------------------------------------


def _ms(value: float | None) -> int | None:
    # summaries hold exact milliseconds as seconds with 3 decimals: this inverts seconds()
    return None if value is None else round(value * 1000)


@dataclass(frozen=True)
class Contribution:
    """A call's share of its hotline's KPIs: where it counts and what (non-zero counters)."""

    hotline: str
    day: str
    interval: str
    counters: dict[str, int]
    wait_ms: int | None = None

    def to_item(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> Contribution:
        return cls(
            hotline=str(item["hotline"]),
            day=str(item["day"]),
            interval=str(item["interval"]),
            counters={name: int(value) for name, value in (item.get("counters") or {}).items()},
            wait_ms=None if item.get("wait_ms") is None else int(item["wait_ms"]),
        )


def contribution(summary: CallSummary, sl_seconds: int) -> Contribution | None:
    """A call's share of its hotline's KPIs: where it counts (hotline, day, interval) and what.

    None for calls that are not offered (outbound, not started, no hotline). ``wait_ms`` of an
    answered call also feeds the max-wait index.
    """
    if summary.direction != "inbound" or not summary.interval or summary.hotline is None:
        return None
    call = kpis.OfferedCall(
        outcome=summary.outcome,
        wait_ms=_ms(summary.wait_s),
        talk_ms=_ms(summary.talk_s),
        hold_ms=_ms(summary.hold_s),
        acw_ms=_ms(summary.acw_s),
    )
    return Contribution(
        hotline=str(summary.hotline),
        day=str(summary.day),
        interval=summary.interval,
        counters=kpis.call_counters(call, sl_seconds),
        wait_ms=call.wait_ms if call.answered else None,
    )


@dataclass(frozen=True)
class ShardCounts:
    """How many partitions a hotline day's reports are spread over, by task id: its KPI
    counters (``kpi``) and its call listing and wait index (``listing``). A call's reports are
    where these counts put them when it was written, so a later change of the call finds them
    there (its summary records the counts), whatever the setting is by then."""

    kpi: int
    listing: int

    def kpi_shard(self, task_id: str) -> int:
        return keys.shard_of(task_id, self.kpi)

    def listing_shard(self, task_id: str) -> int:
        # one partition: the key the listing had before it was sharded (shard 0, no suffix)
        return 0 if self.listing == 1 else keys.shard_of(task_id, self.listing)

    def to_item(self) -> dict[str, int]:
        return {"kpi": self.kpi, "listing": self.listing}

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> ShardCounts:
        return cls(kpi=int(item["kpi"]), listing=int(item["listing"]))


@dataclass(frozen=True)
class StoredCall:
    """A call summary as stored: with the contribution its counters hold, the shard counts its
    reports were written with (None: stored before they were recorded), and a version (the
    one read: 0 if stored before items carried one, None if not stored)."""

    summary: CallSummary
    contribution: Contribution | None
    updated_at: str | None = None
    version: int | None = None
    shards: ShardCounts | None = None

    def written(self, stamp: str) -> StoredCall:
        return replace(self, updated_at=stamp, version=(self.version or 0) + 1)

    def to_item(self) -> dict[str, Any]:
        item = {
            **self.summary.as_dict(),
            "kind": "call",
            "kpi": None if self.contribution is None else self.contribution.to_item(),
            "updated_at": self.updated_at,
        }
        if self.version is not None:
            item["version"] = self.version
        if self.shards is not None:
            item["shards"] = self.shards.to_item()
        return item

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> StoredCall:
        kpi = item.get("kpi")
        return cls(
            summary=CallSummary.from_item(item),
            contribution=Contribution.from_item(kpi) if kpi else None,
            updated_at=item.get("updated_at"),
            version=int(item.get("version") or 0),
            shards=ShardCounts.from_item(item["shards"]) if item.get("shards") else None,
        )


@dataclass(frozen=True)
class ListedCall:
    """A copy of a call's summary in its hotline's listing of the day (``acd-report calls``),
    in one of the listing's shards. It leaves out the count of the call's events, which most
    events change and nothing listed shows: the copy (a transactional put, 2 WRU) is written
    only when a field it holds changes."""

    summary: CallSummary
    updated_at: str | None = None
    shard: int = 0

    @property
    def listed(self) -> CallSummary:
        return replace(self.summary, event_count=None)

    def to_item(self) -> dict[str, Any]:
        listed = self.listed.as_dict()
        del listed["event_count"]
        return {**listed, "kind": "call", "updated_at": self.updated_at}


@dataclass(frozen=True)
class CounterKey:
    """One item of a hotline's counters: the day's (``interval`` None) or a 15-minute one, in
    one of its shards."""

    hotline: str
    day: str
    shard: int
    interval: str | None = None


@dataclass(frozen=True)
class WaitEntry:
    """An answered call in the wait index of its hotline's day (``interval`` None) or interval:
    the longest wait is the index's last entry."""

    hotline: str
    day: str
    interval: str | None
    wait_ms: int
    task_id: str
    shard: int = 0  # the index is spread like the listing (ShardCounts.listing)

    def to_item(self) -> dict[str, Any]:
        return {"kind": "wait", "wait_ms": self.wait_ms, "task_id": self.task_id}


def wait_entries(contribution: Contribution | None, task_id: str, shard: int = 0) -> list[WaitEntry]:
    """Where an answered call stands in the wait index: its day's and its interval's."""
    if contribution is None or contribution.wait_ms is None:
        return []
    hotline, day, wait = contribution.hotline, contribution.day, contribution.wait_ms
    return [
        WaitEntry(hotline, day, None, wait, task_id, shard),
        WaitEntry(hotline, day, contribution.interval, wait, task_id, shard),
    ]
