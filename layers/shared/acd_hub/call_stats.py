"""Call summaries and their share of the hotline KPIs — pure functions, no AWS.

A summary is recomputed from all of a call's events, so duplicates, retries and reordering
cannot change it. Its share of its hotline's KPIs (:func:`contribution`) is a handful of
integer counters (counts and millisecond sums, defined once in :mod:`acd_hub.kpis`); the live
path adds the difference between a call's new and stored contribution to its interval's
counters, and readers turn summed counters (a day's: its intervals') into the KPIs (:func:`acd_hub.kpis.figures`).

The reports as they are stored (the call's, :mod:`acd_hub.reports.call`; the hotline day's
counters, :mod:`acd_hub.reports.hotline_day`) are in the report catalogue.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from datetime import datetime
from zoneinfo import ZoneInfo

from acd_hub import kpis
from acd_hub.agent_stats import seconds
from acd_hub.events import StoredEvent
from acd_hub.keys import iso_utc
from acd_hub.reports.call import CallSummary, Contribution
from acd_hub.vocabulary import TERMINAL_ROUTING, WORK_STATES

INTERVAL_MINUTES = 15
# A call lists the agents it reached in the order it reached them, the first MAX_CALL_AGENTS of
# them (and how many more): a call forwarded round a group thousands of times must not grow its
# summary and listing items towards DynamoDB's 400 KB. A function of the call's events, so the
# same whatever order they came in.
MAX_CALL_AGENTS = 50


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
        event_count=None,  # a reader counts the call's events (see CallSummary)
        day=day,
        interval=interval,
        problems=problems,
    )


# -- the live path: integer counters ------------------------------------------------------------


def _ms(value: float | None) -> int | None:
    # summaries hold exact milliseconds as seconds with 3 decimals: this inverts seconds()
    return None if value is None else round(value * 1000)


def contribution(summary: CallSummary, sl_seconds: int) -> Contribution | None:
    """A call's share of its hotline's KPIs: where it counts (hotline, day, interval) and what.

    None for calls that are not offered (outbound, not started, no hotline). ``wait_ms``: an
    answered call's wait (the longest waits are read from the listing, which shows it too).
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
