"""Agent intervals, call summaries and KPIs — the pure math, with its edge cases."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from acd_hub import kpis
from acd_hub.agent_stats import BoardEntry, day_intervals, day_stats
from acd_hub.call_stats import call_summary
from acd_hub.events import StoredEvent
from tests.kpi_oracle import hotline_day_kpis
from tests.support import RATIOS

BERLIN = ZoneInfo("Europe/Berlin")
DAY = date(2025, 11, 20)


def ms(text: str) -> int:
    """Local Berlin wall time -> epoch ms."""
    return int(datetime.fromisoformat(text).replace(tzinfo=BERLIN).timestamp() * 1000)


_counter = iter(range(10**6))


def state(
    at: str, name: str, task: str | None = None, reason: str | None = None, agent: str = "100001"
) -> StoredEvent:
    data: dict[str, object] = {"state": name, "agentid": agent}
    if reason:
        data["pause-reason"] = reason
    if task:
        data["taskid"] = task
    return StoredEvent("agentstate", f"h-{next(_counter)}", ms(at), data, agent=agent, task_id=task)


def call(at: str, event_type: str, task: str = "t1", **data: object) -> StoredEvent:
    return StoredEvent(
        "callevent", f"ce-{next(_counter)}", ms(at), {"eventtype": event_type, **data}, task_id=task
    )


# --- agent intervals -----------------------------------------------------------------------


def test_states_last_until_the_next_event_and_the_last_is_open() -> None:
    events = [
        state("2025-11-20 08:00:00", "online"),
        state("2025-11-20 08:10:00", "paused", reason="Kaffee"),
        state("2025-11-20 08:15:00", "online"),
    ]
    intervals = day_intervals(events, None, None, DAY, BERLIN)
    assert [(i.state, i.duration_ms) for i in intervals] == [
        ("online", 600_000),
        ("paused", 300_000),
        ("online", None),
    ]
    stats = day_stats("100001", DAY, events, intervals)
    assert stats["state_seconds"] == {"online": 600, "paused": 300}
    assert stats["pause_seconds"] == {"Kaffee": 300}


def test_intervals_are_cut_at_midnight_and_carried_into_the_next_day() -> None:
    late = state("2025-11-20 23:00:00", "working", task="t9")
    early = state("2025-11-21 00:30:00", "online")
    today = day_intervals([late], None, early, DAY, BERLIN)
    assert [(i.state, i.duration_ms) for i in today] == [("working", 3_600_000)]
    tomorrow = day_intervals([early], late, None, date(2025, 11, 21), BERLIN)
    assert [(i.state, i.duration_ms, i.carried) for i in tomorrow] == [
        ("working", 1_800_000, True),
        ("online", None, False),
    ]


def test_time_before_the_first_state_is_not_counted_without_a_previous_day() -> None:
    intervals = day_intervals([state("2025-11-20 09:00:00", "online")], None, None, DAY, BERLIN)
    assert intervals[0].start_ms == ms("2025-11-20 09:00:00")


@pytest.mark.parametrize(("day", "hours"), [(date(2025, 3, 30), 23), (date(2025, 10, 26), 25)])
def test_daylight_saving_days_have_23_or_25_hours(day: date, hours: int) -> None:
    start = state(f"{day} 00:00:00", "online")
    nxt = state(f"{date.fromordinal(day.toordinal() + 1)} 00:00:00", "offline")
    intervals = day_intervals([start], None, nxt, day, BERLIN)
    assert day_stats("100001", day, [start], intervals)["state_seconds"] == {"online": hours * 3600}


def test_reordered_and_duplicated_events_give_the_same_stats() -> None:
    events = [
        state(f"2025-11-20 08:{m:02d}:00", name)
        for m, name in enumerate(["online", "alerting", "connected", "working", "online", "paused", "online"])
    ]
    expected = day_stats("100001", DAY, events, day_intervals(events, None, None, DAY, BERLIN))
    shuffled = events + events[:3]
    random.Random(4).shuffle(shuffled)
    assert day_stats("100001", DAY, shuffled, day_intervals(shuffled, None, None, DAY, BERLIN)) == expected


def test_calls_handled_counts_distinct_tasks() -> None:
    events = [
        state("2025-11-20 08:00:00", "connected", task="a"),
        state("2025-11-20 08:05:00", "connected", task="a"),  # after a consultation: same call
        state("2025-11-20 08:10:00", "outconnect", task="b"),
        state("2025-11-20 08:20:00", "connected"),  # no task id: counted on its own
    ]
    assert day_stats("100001", DAY, events, [])["calls_handled"] == 3


def test_board_entry() -> None:
    entry = BoardEntry.of_event(state("2025-11-20 08:00:00", "paused", reason="Mittag"))
    assert entry.state == "paused"
    assert entry.since == "2025-11-20T07:00:00.000Z"
    assert entry.pause_reason == "Mittag"


# --- call summaries ------------------------------------------------------------------------


def answered_call() -> tuple[list[StoredEvent], list[list[StoredEvent]]]:
    events = [
        call("2025-11-20 10:00:00", "CallStart", mode=0, hotlineid=501),
        call("2025-11-20 10:00:20", "Connected", agentid="100001", groupid=7),
        call("2025-11-20 10:01:00", "Holdstart"),
        call("2025-11-20 10:01:30", "Holdstop"),
        call("2025-11-20 10:05:00", "CallEnd"),
    ]
    agent = [
        state("2025-11-20 10:00:20", "connected", task="t1"),
        state("2025-11-20 10:05:00", "working", task="t1"),
        state("2025-11-20 10:05:45", "online"),
    ]
    return events, [agent]


def test_answered_call_summary() -> None:
    events, agents = answered_call()
    summary = call_summary("t1", events, agents, BERLIN)
    assert summary.outcome == "answered"
    assert (summary.wait_s, summary.hold_s, summary.talk_s, summary.acw_s) == (20, 30, 250, 45)
    assert summary.hotline == 501
    assert summary.group == 7
    assert summary.agents == ["100001"]
    assert summary.interval == "2025-11-20T10:00:00+01:00"
    assert summary.started == "2025-11-20T09:00:00.000Z"


def test_summary_is_the_same_in_any_order_and_with_duplicates() -> None:
    events, agents = answered_call()
    expected = call_summary("t1", events, agents, BERLIN)
    scrambled = list(reversed(events)) + events[:2]
    assert call_summary("t1", scrambled, [list(reversed(agents[0]))], BERLIN) == expected


def test_unmatched_hold_lasts_until_the_end() -> None:
    events = [
        call("2025-11-20 10:00:00", "CallStart", mode=0, hotlineid=501),
        call("2025-11-20 10:00:05", "Connected", agentid="100001"),
        call("2025-11-20 10:01:00", "Holdstart"),
        call("2025-11-20 10:02:00", "CallEnd"),
    ]
    summary = call_summary("t1", events, [], BERLIN)
    assert (summary.hold_s, summary.talk_s, summary.acw_s) == (60, -5 + 60, 0)


@pytest.mark.parametrize(
    ("types", "outcome"),
    [
        (["CallStart", "WaitingQueue", "CallEnd"], "abandoned"),
        (["CallStart", "Rejected", "CallEnd"], "rejected"),
        (["CallStart", "Mailbox", "CallEnd"], "mailbox"),
        (["CallStart", "ForwardNumber", "Mailbox", "CallEnd"], "forwarded"),
        (["CallStart", "BadCall", "CallEnd"], "badcall"),
        (["CallStart", "WaitingQueue"], "in_progress"),
        (["CallStart", "Mailbox", "Connected", "CallEnd"], "answered"),
    ],
)
def test_inbound_outcomes(types: list[str], outcome: str) -> None:
    events = [call(f"2025-11-20 10:00:{i:02d}", t, mode=0, hotlineid=501) for i, t in enumerate(types)]
    assert call_summary("t1", events, [], BERLIN).outcome == outcome


def test_outbound_call() -> None:
    events = [
        call("2025-11-20 10:00:00", "CallStart", mode=1),
        call("2025-11-20 10:00:10", "BConnected", agentid="100002"),
        call("2025-11-20 10:03:00", "CallEnd"),
    ]
    summary = call_summary("t1", events, [], BERLIN)
    assert (summary.direction, summary.outcome, summary.wait_s) == ("outbound", "connected", None)


def test_call_without_its_start_yet_has_no_interval() -> None:
    summary = call_summary("t1", [call("2025-11-20 10:00:20", "Connected", agentid="100001")], [], BERLIN)
    assert summary.started is None
    assert summary.interval is None
    assert "interval" not in summary.as_dict()


# --- KPIs ----------------------------------------------------------------------------------


def inbound(
    outcome: str,
    wait: float | None = None,
    talk: float | None = None,
    hold: float = 0,
    acw: float = 0,
    interval: str = "2025-11-20T10:00:00+01:00",
) -> dict[str, object]:
    return {
        "direction": "inbound",
        "started": "x",
        "outcome": outcome,
        "wait_s": wait,
        "talk_s": talk,
        "hold_s": hold if talk is not None else None,
        "acw_s": acw,
        "interval": interval,
    }


def _ms(seconds: float | None) -> int | None:
    return None if seconds is None else round(seconds * 1000)


def figures(calls: list[dict[str, Any]], sl_seconds: int) -> dict[str, Any]:
    """The KPIs of these calls as the live path gets them: each offered call's counters
    (``acd_hub.kpis.COUNTERS``) summed, the KPIs read from the sums."""
    totals: dict[str, int] = {}
    waits = []
    for call in calls:
        if call["direction"] != "inbound" or call.get("started") is None:
            continue
        offered = kpis.OfferedCall(
            call["outcome"],
            _ms(call.get("wait_s")),
            _ms(call.get("talk_s")),
            _ms(call.get("hold_s")),
            _ms(call.get("acw_s")),
        )
        for name, value in kpis.call_counters(offered, sl_seconds).items():
            totals[name] = totals.get(name, 0) + value
        if offered.answered and offered.wait_ms is not None:
            waits.append(offered.wait_ms)
    return kpis.figures(totals, max(waits) if waits else None)


def test_empty_denominators_are_null_never_zero() -> None:
    empty = figures([], 20)
    assert list(empty) == [kpi.name for kpi in kpis.KPIS]
    assert empty["offered"] == 0
    for ratio in RATIOS:
        assert empty[ratio] is None, ratio
    only_rejected = figures([inbound("rejected")], 20)
    assert (only_rejected["offered"], only_rejected["rejected"], only_rejected["service_level_pct"]) == (
        1,
        1,
        None,
    )


def test_service_level_boundary_and_ratios() -> None:
    calls = [
        inbound("answered", wait=20, talk=100, hold=10, acw=30),  # exactly at the threshold: within
        inbound("answered", wait=21, talk=200, hold=0, acw=0),
        inbound("abandoned"),
        inbound("mailbox"),
        {"direction": "outbound", "started": "x", "outcome": "connected"},
    ]
    result = figures(calls, 20)
    assert result["offered"] == 4
    assert (result["answered"], result["abandoned"], result["mailbox"]) == (2, 1, 1)
    assert result["answered_within_sl"] == 1
    assert result["service_level_pct"] == 33.33
    assert result["abandon_rate_pct"] == 33.33
    assert (result["asa_s"], result["max_wait_s"]) == (20.5, 21)
    assert (result["avg_talk_s"], result["avg_hold_s"], result["aht_s"]) == (150, 5, 170)


def test_day_and_intervals() -> None:
    calls = [
        inbound("answered", wait=5, talk=60, interval="2025-11-20T10:00:00+01:00"),
        inbound("abandoned", interval="2025-11-20T10:15:00+01:00"),
        inbound("answered", wait=30, talk=60, interval="2025-11-20T10:00:00+01:00"),
    ]
    report = hotline_day_kpis("501", DAY, calls, 20)
    assert report["hotline"] == "501"
    assert report["day"]["offered"] == 3
    assert [i["start"] for i in report["intervals"]] == [
        "2025-11-20T10:00:00+01:00",
        "2025-11-20T10:15:00+01:00",
    ]
    assert report["intervals"][0]["answered"] == 2
    assert report["intervals"][1]["abandon_rate_pct"] == 100.0


def test_intervals_on_the_autumn_dst_day_sort_by_real_time() -> None:
    calls = [
        inbound("answered", wait=1, talk=1, interval="2025-10-26T02:00:00+01:00"),
        inbound("answered", wait=1, talk=1, interval="2025-10-26T02:45:00+02:00"),
    ]
    report = hotline_day_kpis("501", date(2025, 10, 26), calls, 20)
    assert [i["start"] for i in report["intervals"]] == [
        "2025-10-26T02:45:00+02:00",
        "2025-10-26T02:00:00+01:00",
    ]


def test_interval_start_uses_reporting_zone() -> None:
    events = [call("2025-03-30 03:07:00", "CallStart", mode=0, hotlineid=501)]  # just after the spring jump
    summary = call_summary("t1", events, [], BERLIN)
    assert summary.interval == "2025-03-30T03:00:00+02:00"
    assert datetime.fromisoformat(summary.interval).astimezone(UTC).hour == 1
