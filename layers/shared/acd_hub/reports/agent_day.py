"""An agent's day as it is shown (``acd-report agent-day``, the day report, the wallboard): time
per state and pause reason, calls handled, the handling figures, and the timeline when asked for.

It is built from the stored day (:class:`acd_hub.agent_stats.AgentDay`: its item, key and codec
are still :mod:`acd_hub.agent_stats`'s and the reports table adapter's), by
:meth:`AgentDayReport.of`; ``acd_cli.reporting.ReportQueries`` reads the stored days and
timelines.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from acd_hub.agent_stats import AgentDay, StateInterval, seconds
from acd_hub.times import iso_of_ms

Seconds = int | float
# An agent's handling: talking (inbound, outbound, the dialer's) and after-call work; idle:
# available or ringing (labels.STATE_GROUPS).
BUSY_STATES = ("connected", "outconnect", "bconnected", "working", "outworking")
IDLE_STATES = ("online", "outonline", "alerting", "outalerting", "balerting")


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

    @classmethod
    def of(cls, stored: AgentDay, timeline: list[StateInterval] | None) -> AgentDayReport:
        """The stored day as shown: seconds, the states the agent never was in left out."""
        return cls(
            agent=stored.agent,
            day=stored.day,
            state_seconds={s: seconds(ms) for s, ms in sorted(stored.state_ms.items()) if ms},
            pause_seconds={r: seconds(ms) for r, ms in sorted(stored.totals().pause_totals().items())},
            calls_handled=stored.calls_handled,
            latest_event=iso_of_ms(stored.complete_to_ms),
            updated_at=stored.updated_at,
            timeline=timeline,
        )

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
