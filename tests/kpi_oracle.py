"""The test oracle of the hotline KPIs: computed over whole call summaries, written apart from
:mod:`acd_hub.kpis` (which sums each call's counters and reads the KPIs from the sums), so that
the two can disagree. The simulator's truth (``acd_sim.truth``) is a third, from the simulated
calls themselves."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from acd_hub.vocabulary import TERMINAL_ROUTING


def _mean_ms(total_ms: int, count: int) -> float | None:
    return round(total_ms / (count * 1000), 2) if count else None


def _mean(values: list[float]) -> float | None:
    # Durations are whole milliseconds: summed as integers and divided once, as the counters
    # are (_mean_ms), so a mean at a .xx5 boundary rounds the same way on both paths (a sum
    # of float seconds can land a hair below it: 5022.67 against the counters' 5022.68).
    return _mean_ms(sum(round(value * 1000) for value in values), len(values))


def _pct(part: int, whole: int) -> float | None:
    return round(part / whole * 100, 2) if whole else None


def kpis(summaries: Iterable[dict[str, Any]], sl_seconds: int) -> dict[str, Any]:
    """KPIs over inbound calls that started (offered); ratios over nothing are null."""
    counts = dict.fromkeys(("offered", "answered", "abandoned", *TERMINAL_ROUTING.values()), 0)
    waits: list[float] = []
    talks: list[float] = []
    holds: list[float] = []
    handles: list[float] = []
    for call in summaries:
        if call["direction"] != "inbound" or call.get("started") is None:
            continue
        counts["offered"] += 1
        outcome = call["outcome"]
        if outcome in counts:
            counts[outcome] += 1
        if outcome == "answered":
            if call.get("wait_s") is not None:  # unknown: not within the service level, not in ASA
                waits.append(call["wait_s"])
            if call.get("talk_s") is not None:
                talks.append(call["talk_s"])
                holds.append(call["hold_s"])
                handles.append(call["talk_s"] + call["hold_s"] + (call.get("acw_s") or 0))
    within = sum(1 for wait in waits if wait <= sl_seconds)
    handled = counts["answered"] + counts["abandoned"]
    return {
        "offered": counts["offered"],
        "answered": counts["answered"],
        "abandoned": counts["abandoned"],
        "rejected": counts["rejected"],
        "badcall": counts["badcall"],
        "mailbox": counts["mailbox"],
        "forwarded": counts["forwarded"],
        "answered_within_sl": within,
        "service_level_pct": _pct(within, handled),
        "abandon_rate_pct": _pct(counts["abandoned"], handled),
        "asa_s": _mean(waits),
        "max_wait_s": max(waits) if waits else None,
        "aht_s": _mean(handles),
        "avg_talk_s": _mean(talks),
        "avg_hold_s": _mean(holds),
    }


def hotline_day_kpis(
    hotline: str, day: date, summaries: list[dict[str, Any]], sl_seconds: int
) -> dict[str, Any]:
    """The day's KPIs and one entry per 15-minute interval that has offered calls."""
    by_interval: dict[str, list[dict[str, Any]]] = {}
    for call in summaries:
        if call.get("interval") and call["direction"] == "inbound":
            by_interval.setdefault(call["interval"], []).append(call)
    intervals = []
    for start in sorted(by_interval, key=datetime.fromisoformat):
        figures = kpis(by_interval[start], sl_seconds)
        if figures["offered"]:
            intervals.append({"start": start, **figures})
    return {
        "hotline": hotline,
        "date": day.isoformat(),
        "day": kpis(summaries, sl_seconds),
        "intervals": intervals,
        "sl_seconds": sl_seconds,
    }
