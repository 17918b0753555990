"""Every hotline KPI once: what an offered call adds to its hotline's counters, and how each KPI
is read from summed counters, with the unit and the words it is shown with.

A new KPI is a row of :data:`KPIS` (and a row of :data:`COUNTERS` if it needs a sum no counter
keeps yet) plus its test. Everything else is derived from these two tables: the call
aggregator's contribution and the rebuild's corrections (:data:`COUNTER_NAMES`), the figures
``acd-report`` reads (:func:`figures`, :class:`acd_hub.reports.hotline_day.KpiFigures`), their
labels and units (``acd_cli.labels``), the table columns and the CSV header.

Counters are integers (counts and millisecond sums) so that adding and subtracting a call's
share never drifts; ratios and means are computed on read, from exact integer sums, with one
division each. Definitions in words: the README, "KPIs".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

from acd_hub.agent_stats import seconds

Unit = Literal["count", "seconds", "percent"]
Figure = int | float | None


@dataclass(frozen=True)
class OfferedCall:
    """What the counters read of an offered (inbound, started) call: its outcome and its
    durations in whole milliseconds (None: unknown, see ``call_stats.PROBLEMS``)."""

    outcome: str
    wait_ms: int | None
    talk_ms: int | None
    hold_ms: int | None
    acw_ms: int | None

    @property
    def answered(self) -> bool:
        return self.outcome == "answered"

    @property
    def timed(self) -> bool:
        """Answered with a known wait: in the service level and the ASA."""
        return self.answered and self.wait_ms is not None

    @property
    def talked(self) -> bool:
        """Answered with a known talk time: in AHT, talk and hold."""
        return self.answered and self.talk_ms is not None


@dataclass(frozen=True)
class Counter:
    """One additive sum of a hotline's calls, per 15-minute interval and per day."""

    name: str
    of: Callable[[OfferedCall, int], int]  # one call's share, given the service level in seconds


def _outcome(name: str) -> Counter:
    return Counter(name, lambda call, _sl: int(call.outcome == name))


COUNTERS: tuple[Counter, ...] = (
    Counter("offered", lambda _call, _sl: 1),
    *(_outcome(name) for name in ("answered", "abandoned", "rejected", "badcall", "mailbox", "forwarded")),
    Counter("answered_within_sl", lambda c, sl: int(c.timed and (c.wait_ms or 0) <= sl * 1000)),
    # answered, but when is unknown: neither in the ASA nor in the service level
    Counter("answered_untimed", lambda c, _sl: int(c.answered and c.wait_ms is None)),
    Counter("wait_ms", lambda c, _sl: (c.wait_ms or 0) if c.timed else 0),
    Counter("talked", lambda c, _sl: int(c.talked)),  # the denominator of AHT, talk and hold
    Counter("talk_ms", lambda c, _sl: (c.talk_ms or 0) if c.talked else 0),
    Counter("hold_ms", lambda c, _sl: (c.hold_ms or 0) if c.talked else 0),
    Counter(
        "handle_ms",
        lambda c, _sl: (c.talk_ms or 0) + (c.hold_ms or 0) + (c.acw_ms or 0) if c.talked else 0,
    ),
)
COUNTER_NAMES = tuple(counter.name for counter in COUNTERS)


def call_counters(call: OfferedCall, sl_seconds: int) -> dict[str, int]:
    """An offered call's share of its hotline's counters: the non-zero ones."""
    shares = ((counter.name, counter.of(call, sl_seconds)) for counter in COUNTERS)
    return {name: value for name, value in shares if value}


class Totals:
    """Summed counters as a KPI's formula reads them: a counter no call added to is 0. The
    longest wait is not a sum: it comes from the hotline day's call listing."""

    def __init__(self, counters: Mapping[str, int], max_wait_ms: int | None) -> None:
        self._counters = counters
        self.max_wait_ms = max_wait_ms

    def __getitem__(self, name: str) -> int:
        return int(self._counters.get(name) or 0)


def _pct(part: int, whole: int) -> float | None:
    return round(part / whole * 100, 2) if whole else None


def _mean_s(total_ms: int, count: int) -> float | None:
    # one division of exact integers: the same double as a mean of whole-millisecond seconds
    return round(total_ms / (count * 1000), 2) if count else None


@dataclass(frozen=True)
class Kpi:
    """One KPI: its name in the reports, how a person reads it (``unit``: counts as numbers,
    times as ``m:ss``, ratios as ``6.2 %``), its label in sentences and its table header, and
    its formula over summed counters (ratios and means over nothing are None, never 0)."""

    name: str
    unit: Unit
    label: str
    header: str
    formula: Callable[[Totals], Figure]


def _count(name: str, label: str | None = None, header: str | None = None) -> Kpi:
    return Kpi(name, "count", label or name, header or label or name, lambda t: t[name])


def _handled(t: Totals) -> int:
    return t["answered"] + t["abandoned"]


KPIS: tuple[Kpi, ...] = (
    _count("offered"),
    _count("answered"),
    _count("abandoned"),
    _count("rejected"),
    _count("badcall", "failed (bad call)", "bad call"),
    _count("mailbox"),
    _count("forwarded"),
    _count("answered_within_sl", "answered within the service level", "in service level"),
    Kpi(
        "service_level_pct",
        "percent",
        "service level",
        "service level",
        lambda t: _pct(t["answered_within_sl"], _handled(t)),
    ),
    Kpi(
        "abandon_rate_pct",
        "percent",
        "abandon rate",
        "abandon rate",
        lambda t: _pct(t["abandoned"], _handled(t)),
    ),
    Kpi(
        "asa_s",
        "seconds",
        "average speed of answer",
        "avg answer (ASA)",
        lambda t: _mean_s(t["wait_ms"], t["answered"] - t["answered_untimed"]),
    ),
    Kpi(
        "max_wait_s",
        "seconds",
        "longest wait",
        "longest wait",
        lambda t: None if t.max_wait_ms is None else seconds(t.max_wait_ms),
    ),
    Kpi(
        "aht_s",
        "seconds",
        "average handling time",
        "avg handling (AHT)",
        lambda t: _mean_s(t["handle_ms"], t["talked"]),
    ),
    Kpi(
        "avg_talk_s", "seconds", "average talk time", "avg talk", lambda t: _mean_s(t["talk_ms"], t["talked"])
    ),
    Kpi(
        "avg_hold_s", "seconds", "average hold time", "avg hold", lambda t: _mean_s(t["hold_ms"], t["talked"])
    ),
)
NAMES = tuple(kpi.name for kpi in KPIS)
BY_NAME = {kpi.name: kpi for kpi in KPIS}


def figures(counters: Mapping[str, int], max_wait_ms: int | None) -> dict[str, Figure]:
    """The KPIs of summed counters (a day, an interval, a range), in the order of :data:`KPIS`."""
    totals = Totals(counters, max_wait_ms)
    return {kpi.name: kpi.formula(totals) for kpi in KPIS}
