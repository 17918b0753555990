"""What ``acd-report`` shows, as typed models: a hotline's KPIs, an agent's day, the reports'
freshness. Each is built from the stored items by :mod:`acd_cli.reporting` and turned into the
JSON/CSV documents by its ``as_dict`` (the output formats' field order is the models').

A call summary and a board entry are shown as they are stored:
:class:`acd_hub.call_stats.CallSummary` and :class:`acd_hub.agent_stats.BoardEntry`; an
agent's timeline is :class:`acd_hub.agent_stats.StateInterval` s.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from acd_hub import kpis
from acd_hub.agent_stats import StateInterval
from acd_hub.call_stats import CallSummary
from acd_hub.kpis import Figure

Seconds = int | float
# An agent's handling: talking (inbound, outbound, the dialer's) and after-call work; idle:
# available or ringing (labels.STATE_GROUPS).
BUSY_STATES = ("connected", "outconnect", "bconnected", "working", "outworking")
IDLE_STATES = ("online", "outonline", "alerting", "outalerting", "balerting")


class KpiFigures:
    """A hotline's KPIs over some calls (a day, a 15-minute interval, a range of days), named
    and ordered as :data:`acd_hub.kpis.KPIS` defines them. Ratios and means over nothing are
    None, never 0."""

    __slots__ = ("_figures",)

    def __init__(self, **figures: Figure) -> None:
        wrong = sorted(set(figures) ^ set(kpis.NAMES))
        if wrong:
            raise TypeError(f"KPI figures must be exactly those of acd_hub.kpis.KPIS; wrong: {wrong}")
        self._figures = {name: figures[name] for name in kpis.NAMES}

    @classmethod
    def of_counters(cls, counters: Mapping[str, int], max_wait_ms: int | None) -> KpiFigures:
        # whole numbers as ints, as they read back from DynamoDB when reports were stored whole
        figures = kpis.figures(counters, max_wait_ms)
        return cls(
            **{
                name: int(value) if isinstance(value, float) and value.is_integer() else value
                for name, value in figures.items()
            }
        )

    def __getitem__(self, name: str) -> Figure:
        return self._figures[name]

    def __getattr__(self, name: str) -> Figure:
        # ``figures.offered`` as well as ``figures["offered"]``: the table's names, no others
        if name.startswith("_") or name not in kpis.BY_NAME:
            raise AttributeError(name)
        return self._figures[name]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, KpiFigures) and self._figures == other._figures

    def __hash__(self) -> int:
        return hash(tuple(self._figures.items()))

    def __repr__(self) -> str:
        return f"KpiFigures({self._figures!r})"

    def as_dict(self) -> dict[str, Any]:
        return dict(self._figures)


KPI_NAMES = kpis.NAMES


@dataclass(frozen=True)
class IntervalKpis:
    start: str  # the interval's start, ISO 8601 in the reporting zone
    figures: KpiFigures

    def as_dict(self) -> dict[str, Any]:
        return {"start": self.start, **self.figures.as_dict()}


@dataclass(frozen=True)
class HotlineKpis:
    """A hotline's day: the day's KPIs and each 15-minute interval with offered calls."""

    hotline: str
    date: str
    day: KpiFigures
    intervals: list[IntervalKpis]
    sl_seconds: int | None
    updated_at: str | None  # when its counters last changed

    def as_dict(self) -> dict[str, Any]:
        """What ``acd-report kpis --format json`` prints."""
        return {
            "hotline": self.hotline,
            "day": self.day.as_dict(),
            "intervals": [interval.as_dict() for interval in self.intervals],
        }


@dataclass(frozen=True)
class DayKpis:
    day: str
    figures: KpiFigures

    def as_dict(self) -> dict[str, Any]:
        return {"day": self.day, **self.figures.as_dict()}


@dataclass(frozen=True)
class RangeKpis:
    """A hotline's KPIs over a range of days (from the days' counters summed) and of each day."""

    hotline: str
    first: str
    last: str
    figures: KpiFigures
    days: list[DayKpis]

    def as_dict(self) -> dict[str, Any]:
        return {
            "hotline": self.hotline,
            "from": self.first,
            "to": self.last,
            "figures": self.figures.as_dict(),
            "days": [day.as_dict() for day in self.days],
        }


@dataclass(frozen=True)
class AgentDayReport:
    """An agent's day: time per state and pause reason, calls handled, and (when asked for) the
    timeline of state intervals."""

    agent: str
    day: str
    state_seconds: dict[str, Seconds]
    pause_seconds: dict[str, Seconds]
    calls_handled: int
    latest_event: str | None  # up to which event the day is built
    updated_at: str | None  # when it last changed
    timeline: list[StateInterval] | None = None

    def handling(self) -> dict[str, Seconds | None]:
        """Average handling time (talk and after-call work per call handled) and occupancy (the
        share of talk and after-call work in that plus the time available or ringing), both
        from ``state_seconds`` and ``calls_handled`` as ``agent-day --format json`` shows them;
        None where there is nothing to divide by."""
        seconds = self.state_seconds
        busy = sum(seconds.get(s, 0) for s in BUSY_STATES)
        idle = sum(seconds.get(s, 0) for s in IDLE_STATES)
        return {
            "aht_s": round(busy / self.calls_handled, 2) if self.calls_handled else None,
            "occupancy_pct": round(100 * busy / (busy + idle), 1) if busy + idle else None,
        }

    def as_dict(self) -> dict[str, Any]:
        """What ``acd-report agent-day --format json`` prints."""
        return {
            "agent": self.agent,
            "day": self.day,
            "state_seconds": self.state_seconds,
            "pause_seconds": self.pause_seconds,
            "calls_handled": self.calls_handled,
        }


@dataclass(frozen=True)
class ConsumerFreshness:
    """How far one stream consumer has got over the stream's shards."""

    consumer: str
    complete_to: str | None  # every callback received until then is in its reports
    updated_at: str | None  # when it noted its latest batch
    latest_event: str | None
    behind_s: float | None  # the longest wait of a shard that is behind or failing
    state: str  # up to date | catching up | retrying | silent
    shards: int  # stream shards it has noted (idle ones not counted)
    failing_shards: int
    catching_up_shards: int


@dataclass(frozen=True)
class Freshness:
    """Up to when the reports are complete (the slowest consumer's), and whether anything holds
    them back (a shard behind or failing, a silent consumer)."""

    complete_to: str | None
    updated_at: str | None
    behind_s: float | None
    catching_up: bool
    consumers: list[ConsumerFreshness]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def outbound_figures(calls: list[CallSummary]) -> dict[str, Any]:
    """The dialer's day from its calls (``acd-report calls --hotline none``): calls dialed,
    connected with a customer or not, the connect rate and the mean talk time of the connected
    ones. The reports keep no counters for outbound calls; the listing is their record."""
    outbound = [call for call in calls if call.direction == "outbound"]
    connected = [call for call in outbound if call.outcome == "connected"]
    talks = [call.talk_s for call in connected if call.talk_s is not None]
    return {
        "dialed": len(outbound),
        "connected": len(connected),
        "not_connected": sum(1 for call in outbound if call.outcome == "not_connected"),
        "connect_rate_pct": round(100 * len(connected) / len(outbound), 1) if outbound else None,
        "avg_talk_s": round(sum(talks) / len(talks), 2) if talks else None,
    }
