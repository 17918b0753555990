"""Agent statistics from ``agentstate`` events — pure functions, no AWS.

A state lasts from its event's time to the same agent's next event's time. The last known
state is open: its length is unknown until the next event arrives, so it is shown on the
timeline and the board but not counted. Intervals are cut at midnight of the reporting zone;
the part after midnight belongs to the next day (from midnight to that day's first event).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from acd_hub.events import StoredEvent
from acd_hub.keys import iso_utc

PAUSE_STATES = frozenset({"paused", "outpaused"})
TALK_STATES = frozenset({"connected", "outconnect"})
WORK_STATES = frozenset({"working", "outworking"})


def day_bounds_ms(day: date, zone: ZoneInfo) -> tuple[int, int]:
    """[start, end) of a local day in ms; 23 or 25 hours long on DST days."""
    start = datetime.combine(day, time(), tzinfo=zone)
    end = datetime.combine(day + timedelta(days=1), time(), tzinfo=zone)
    return int(start.timestamp() * 1000), int(end.timestamp() * 1000)


def seconds(ms: int) -> int | float:
    value = ms / 1000
    return int(value) if ms % 1000 == 0 else round(value, 3)


@dataclass(frozen=True)
class StateInterval:
    state: str
    start_ms: int
    end_ms: int | None  # None: still open
    pause_reason: str | None = None
    task_id: str | None = None
    hotline: int | None = None
    carried: bool = False  # continues the previous day's last state

    @property
    def duration_ms(self) -> int | None:
        return None if self.end_ms is None else self.end_ms - self.start_ms

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["start"] = iso_utc(datetime.fromtimestamp(self.start_ms / 1000, tz=ZoneInfo("UTC")))
        out["end"] = (
            None
            if self.end_ms is None
            else iso_utc(datetime.fromtimestamp(self.end_ms / 1000, tz=ZoneInfo("UTC")))
        )
        out["seconds"] = None if self.duration_ms is None else seconds(self.duration_ms)
        return out


def _interval(event: StoredEvent, start_ms: int, end_ms: int | None, carried: bool = False) -> StateInterval:
    return StateInterval(
        state=event.state or "unknown",
        start_ms=start_ms,
        end_ms=end_ms,
        pause_reason=(event.data.get("pause-reason") or "unknown") if event.state in PAUSE_STATES else None,
        task_id=event.task_id,
        hotline=event.data.get("hotlineid"),
        carried=carried,
    )


def day_intervals(
    events: list[StoredEvent],
    before: StoredEvent | None,
    after: StoredEvent | None,
    day: date,
    zone: ZoneInfo,
) -> list[StateInterval]:
    """The agent's state intervals within one day.

    ``events``: the agent's events of the day (any order, duplicates by key removed);
    ``before``: the agent's last event of an earlier day (carries into this day's morning);
    ``after``: the agent's first event of a later day (closes this day's last interval).
    """
    start_of_day, end_of_day = day_bounds_ms(day, zone)
    ordered = sorted({e.key: e for e in events}.values(), key=lambda e: e.order)
    if not ordered:
        return []
    intervals = []
    if before is not None and before.time_ms < start_of_day < ordered[0].time_ms:
        intervals.append(_interval(before, start_of_day, ordered[0].time_ms, carried=True))
    for index, event in enumerate(ordered):
        following = ordered[index + 1] if index + 1 < len(ordered) else after
        end = None if following is None else min(following.time_ms, end_of_day)
        intervals.append(_interval(event, event.time_ms, end))
    return intervals


def day_stats(
    agent: str, day: date, events: list[StoredEvent], intervals: list[StateInterval]
) -> dict[str, Any]:
    state_ms: dict[str, int] = {}
    pause_ms: dict[str, int] = {}
    for interval in intervals:
        duration = interval.duration_ms
        if not duration:
            continue
        state_ms[interval.state] = state_ms.get(interval.state, 0) + duration
        if interval.pause_reason is not None:
            pause_ms[interval.pause_reason] = pause_ms.get(interval.pause_reason, 0) + duration
    handled: set[str] = set()
    untracked = 0
    for event in {e.key: e for e in events}.values():
        if event.state in TALK_STATES:
            if event.task_id:
                handled.add(event.task_id)
            else:
                untracked += 1
    return {
        "agent": agent,
        "day": day.isoformat(),
        "state_seconds": {state: seconds(ms) for state, ms in sorted(state_ms.items())},
        "pause_seconds": {reason: seconds(ms) for reason, ms in sorted(pause_ms.items())},
        "calls_handled": len(handled) + untracked,
    }


def board_entry(event: StoredEvent) -> dict[str, Any]:
    """One agent on the live board: the current state and since when."""
    entry: dict[str, Any] = {
        "agent": event.agent,
        "state": event.state,
        "since": iso_utc(datetime.fromtimestamp(event.time_ms / 1000, tz=ZoneInfo("UTC"))),
        "since_ms": event.time_ms,
        "event_key": event.key,
        "mode": event.data.get("mode"),
        "task_id": event.task_id,
        "hotline": event.data.get("hotlineid"),
        "hotline_name": event.data.get("hotline"),
        "pause_reason": event.data.get("pause-reason"),
    }
    return entry
