"""Agent statistics from ``agentstate`` events — pure functions, no AWS.

A state lasts from its event's time to the same agent's next event's time. The last known
state is open: its length is unknown until the next event arrives, so it is shown on the
timeline and the board but not counted. Intervals are cut at midnight of the reporting zone;
the part after midnight belongs to the next day (from midnight to that day's first event).
An agent's "next event" is looked for on the same day and the day after only: a day without
any event breaks the chain (the state before it stays open).

Two ways to the same figures:

* :func:`day_intervals` / :func:`day_stats` recompute a whole day from its events (the rebuild
  path and the test oracle);
* :func:`insert_event` is the live path: a new event splits exactly one link of the agent's
  chain (predecessor -> successor), so it moves milliseconds between states of at most three
  days, whatever the size of the day.

The agent reports as they are stored (:class:`AgentDay`, :class:`TimelineEntry`,
:class:`TalkMarker`) live here too, each with its conversion to and from the attributes of its
item; the reports table's adapter adds the keys. The board's entry is :mod:`acd_hub.reports.board`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from acd_hub.events import StoredEvent
from acd_hub.keys import iso_utc
from acd_hub.reports.stored import attribute
from acd_hub.vocabulary import PAUSE_STATES, TALK_STATES

# Pause reasons are free text from the ACD (up to 1,024 characters each, any number of them):
# an agent day keeps the first PAUSE_REASON_CHARS characters of each, its own durations for the
# PAUSE_REASONS_KEPT reasons that sort first and one sum for the rest, so the day item stays a
# few KB whatever the ACD sends (DynamoDB refuses items over 400 KB). Which reasons are kept
# depends only on the set of the day's reasons, never on the order events arrive in: the set
# only grows as events are applied, so a reason folded into the rest never has to come back
# out of it, and the live path and the rebuild fold the same way (README "Items stay bounded").
PAUSE_REASON_CHARS = 80
PAUSE_REASONS_KEPT = 20
OTHER_PAUSE_REASONS = "(other reasons)"


def bounded_reason(reason: str) -> str:
    return reason[:PAUSE_REASON_CHARS]


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
        pause_reason=pause_reason_of(event.state, event.data),
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
    totals = DayTotals.for_reasons(own_pause_reasons(events))
    for interval in intervals:
        duration = interval.duration_ms
        if not duration:
            continue
        state_ms[interval.state] = state_ms.get(interval.state, 0) + duration
        if interval.pause_reason is not None:
            totals.add_pause(interval.pause_reason, duration, carried=interval.carried)
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
        "pause_seconds": {reason: seconds(ms) for reason, ms in sorted(totals.pause_totals().items())},
        "calls_handled": len(handled) + untracked,
    }


def own_pause_reasons(events: list[StoredEvent]) -> set[str]:
    """The pause reasons of a day's own events (what decides which reasons a day keeps)."""
    return {reason for e in events if (reason := pause_reason_of(e.state, e.data)) is not None}


# -- the live path: one event splits one link ---------------------------------------------------


def pause_reason_of(state: str | None, data: Mapping[str, Any]) -> str | None:
    return bounded_reason(str(data.get("pause-reason") or "unknown")) if state in PAUSE_STATES else None


@dataclass(frozen=True)
class Link:
    """An applied event as the agent's chain holds it: its state from ``start_ms`` until the
    agent's next applied event (``next_ms``; None while it is the last one within reach)."""

    day: str
    sort_key: str
    start_ms: int
    state: str
    pause_reason: str | None = None
    next_ms: int | None = None

    def spans(self, zone: ZoneInfo, next_ms: int | object | None = ...) -> dict[str, int]:
        """Milliseconds this state lasts on each day (its own, and the next one across midnight)."""
        end_ms = self.next_ms if next_ms is ... else next_ms
        if end_ms is None:
            return {}
        assert isinstance(end_ms, int)
        day = date.fromisoformat(self.day)
        _, midnight = day_bounds_ms(day, zone)
        spans = {self.day: min(end_ms, midnight) - self.start_ms}
        if end_ms > midnight:
            spans[(day + timedelta(days=1)).isoformat()] = end_ms - midnight
        return {d: ms for d, ms in spans.items() if ms > 0}


def link_sort_key(time_ms: int, event_key: str) -> str:
    """A link's place in the agent's chain, ``IV#<time>#<event key>``: it sorts as the events
    do, and it is the timeline item's sort key (so the item before a link is one ``Query``)."""
    moment = datetime.fromtimestamp(time_ms / 1000, tz=UTC)
    return f"IV#{iso_utc(moment)}#{event_key}"


@dataclass(frozen=True)
class TimelineEntry:
    """One applied state of an agent (an ``interval`` item): its link, and what it was about.

    The item keeps where the state starts, not where it ends: that is the next entry's start
    (the day's last ends where the agent day's ``last`` link says), so inserting a state
    writes its own entry only, never its predecessor's again. ``link.next_ms`` is None once
    stored (entries stored before kept an end: it is not read). Its sort key is the item's: the
    reader gives it."""

    KIND: ClassVar[str] = "interval"

    agent: str
    link: Link = field(metadata=attribute(inline=True, leave_out=("next_ms",)))
    event_key: str
    task_id: str | None = None
    hotline: int | None = None

    @classmethod
    def of_event(cls, event: StoredEvent, link: Link) -> TimelineEntry:
        return cls(str(event.agent), link, event.key, event.task_id, event.data.get("hotlineid"))


@dataclass(frozen=True)
class TalkMarker:
    """The agent talked in this call on this day: counted once in its calls handled (its key
    holds all it says)."""

    KIND: ClassVar[str] = "talk"

    agent: str = field(metadata=attribute(omit="always"))
    day: str = field(metadata=attribute(omit="always"))
    task_id: str = field(metadata=attribute(omit="always"))


@dataclass(frozen=True)
class AgentDay:
    """An agent's day as stored: milliseconds per state and pause reason, calls handled, the
    day's first and last link (its chain's ends, which the days around it meet) and a version.

    ``version`` is the version read (0: stored before items carried one; None: not stored);
    the aggregators write each change under a condition on it.
    """

    KIND: ClassVar[str] = "agent_day"

    agent: str
    day: str
    day_start_ms: int
    day_end_ms: int
    state_ms: dict[str, int] = field(default_factory=dict)
    pause_ms: dict[str, int] = field(default_factory=dict)  # see DayTotals for the pause fields
    calls_handled: int = 0
    events: int = 0
    first: Link | None = field(default=None, metadata=attribute(omit="none"))
    last: Link | None = field(default=None, metadata=attribute(omit="none"))
    complete_to_ms: int | None = field(default=None, metadata=attribute(omit="none"))
    updated_at: str | None = field(default=None, metadata=attribute(omit="none"))
    # an item stored before items carried a version is version 0 (its writes condition on that)
    version: int | None = field(default=None, metadata=attribute(omit="none", absent=0))
    pause_other_ms: int = field(default=0, metadata=attribute(omit="empty"))
    carried_pause_ms: dict[str, int] = field(default_factory=dict, metadata=attribute(omit="empty"))
    pause_folded: bool = field(default=False, metadata=attribute(omit="empty"))

    @classmethod
    def empty(cls, agent: str, day: str, zone: ZoneInfo) -> AgentDay:
        # the day's bounds in the reporting zone, so readers cut the timeline without knowing it
        start_ms, end_ms = day_bounds_ms(date.fromisoformat(day), zone)
        return cls(agent, day, start_ms, end_ms)

    def written(self, stamp: str) -> AgentDay:
        """As it is once written over the version read."""
        return replace(self, updated_at=stamp, version=(self.version or 0) + 1)

    def totals(self) -> DayTotals:
        """Its time per state and pause reason, as a copy to add to."""
        return DayTotals(
            dict(self.state_ms),
            dict(self.pause_ms),
            self.pause_other_ms,
            dict(self.carried_pause_ms),
            self.pause_folded,
        )

    def with_totals(self, totals: DayTotals) -> AgentDay:
        return replace(
            self,
            state_ms=totals.state_ms,
            pause_ms=totals.pause_ms,
            pause_other_ms=totals.pause_other_ms,
            carried_pause_ms=totals.carried_pause_ms,
            pause_folded=totals.pause_folded,
        )


@dataclass
class DayTotals:
    """Milliseconds per state and per pause reason of one agent-day (integers; seconds on read).

    Pause time is kept in three parts (see PAUSE_REASONS_KEPT): ``pause_ms``, the day's own
    pauses of the kept reasons (the keys are the kept reasons, zero included: a reason whose
    only pause is still open is kept all the same); ``pause_other_ms``, the day's own pauses of
    the other reasons; ``carried_pause_ms``, the part after midnight of the day before's last
    state, by reason (one link at a time, so at most one reason once a change is applied).
    ``pause_folded``: the day has had more reasons than it keeps."""

    state_ms: dict[str, int] = field(default_factory=dict)
    pause_ms: dict[str, int] = field(default_factory=dict)
    pause_other_ms: int = 0
    carried_pause_ms: dict[str, int] = field(default_factory=dict)
    pause_folded: bool = False

    @classmethod
    def for_reasons(cls, reasons: set[str]) -> DayTotals:
        """Empty totals of a day whose own pauses have these reasons (the rebuild, the oracle)."""
        totals = cls()
        for reason in sorted(reasons):
            totals.admit(reason)
        return totals

    def admit(self, reason: str) -> None:
        """A pause of the day's own with ``reason`` is applied: keep the reason if it is among
        the first PAUSE_REASONS_KEPT (in sort order) the day has seen, folding the last kept one
        into the rest when it no longer is."""
        reason = bounded_reason(reason)
        if reason in self.pause_ms:
            return
        if len(self.pause_ms) < PAUSE_REASONS_KEPT and not self.pause_folded:
            self.pause_ms[reason] = 0
            return
        self.pause_folded = True
        last = max(self.pause_ms)
        if reason < last:
            # a reason folded before sorts after ``last`` (else it would be kept): this one is new
            self.pause_other_ms += self.pause_ms.pop(last)
            self.pause_ms[reason] = 0

    def add(self, link: Link, ms: int, day: str) -> None:
        """``ms`` of ``link``'s state fall on ``day`` (negative: no longer)."""
        value = self.state_ms.get(link.state, 0) + ms
        if value:
            self.state_ms[link.state] = value
        else:
            self.state_ms.pop(link.state, None)
        if link.pause_reason is not None:
            self.add_pause(link.pause_reason, ms, carried=link.day != day)

    def add_pause(self, reason: str, ms: int, *, carried: bool) -> None:
        reason = bounded_reason(reason)
        if carried:
            value = self.carried_pause_ms.get(reason, 0) + ms
            if value:
                self.carried_pause_ms[reason] = value
            else:
                self.carried_pause_ms.pop(reason, None)
            return
        if reason not in self.pause_ms and not self.pause_folded and len(self.pause_ms) < PAUSE_REASONS_KEPT:
            self.admit(reason)  # a day stored before reasons were kept explicitly
        if reason in self.pause_ms:
            self.pause_ms[reason] += ms
        else:
            self.pause_other_ms += ms

    def pause_totals(self) -> dict[str, int]:
        """Pause time as reports show it: each kept reason (with its part carried in from the day
        before), the part carried in of a reason the day has no pause of when nothing is folded,
        and the rest under OTHER_PAUSE_REASONS. Sums to the day's whole pause time."""
        shown = dict(self.pause_ms)
        other = self.pause_other_ms
        for reason, ms in self.carried_pause_ms.items():
            if reason in shown or not self.pause_folded:
                shown[reason] = shown.get(reason, 0) + ms
            else:
                other += ms
        if other:
            shown[OTHER_PAUSE_REASONS] = shown.get(OTHER_PAUSE_REASONS, 0) + other
        return {reason: ms for reason, ms in shown.items() if ms}


def insert_event(
    new: Link, before: Link | None, after_ms: int | None, zone: ZoneInfo
) -> tuple[dict[str, list[tuple[Link, int]]], Link, Link | None]:
    """Apply ``new`` between its applied predecessor ``before`` and the successor's time.

    Returns the milliseconds to move per day (``(link, +/-ms)`` pairs), ``new`` with its
    ``next_ms`` set, and ``before`` with its new ``next_ms``. Before the insert, ``before``
    lasted until its stored ``next_ms``; after it, until ``new``, and ``new`` until ``after_ms``.
    """
    moves: dict[str, list[tuple[Link, int]]] = {}

    def move(link: Link, spans: dict[str, int], sign: int) -> None:
        for day, ms in spans.items():
            moves.setdefault(day, []).append((link, sign * ms))

    placed = Link(new.day, new.sort_key, new.start_ms, new.state, new.pause_reason, after_ms)
    move(placed, placed.spans(zone), +1)
    relinked = None
    if before is not None:
        move(before, before.spans(zone), -1)
        relinked = Link(
            before.day, before.sort_key, before.start_ms, before.state, before.pause_reason, new.start_ms
        )
        move(relinked, relinked.spans(zone), +1)
    return moves, placed, relinked
