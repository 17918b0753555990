"""The traffic simulator: a deterministic, valid, consistent day; its ground truth on hand-built
event lists; the sending plan (duplicates, shuffling) leaving the truth alone; the CLI dry run."""

from __future__ import annotations

import ast
import itertools
import json
import random
import re
import sys
import threading
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from acd_cli.report_listings import CALL_CSV_LEAD
from acd_hub import kpis
from acd_hub.models import CALLBACK_MODELS, ParseContext, parse_callback
from acd_hub.vocabulary import OUTBOUND_STATES
from acd_sim import sender, sim, truth
from acd_sim.day import generate_day
from acd_sim.model import SimConfig, SimEvent
from acd_sim.plan import Request, plan_requests
from acd_sim.sender import Answer, TokenBucket, callback_path, encode, send
from acd_sim.truth import agent_days, expectations
from tests.support import RATIOS

ZONE = ZoneInfo("Europe/Berlin")
DAY = date(2026, 11, 20)
SMALL = SimConfig(day=DAY, seed=7, agents=5, calls=60, outbound=8)


@pytest.fixture(scope="module")
def full_day() -> list[SimEvent]:
    return generate_day(SimConfig(day=DAY))


@pytest.fixture(scope="module")
def small_day() -> list[SimEvent]:
    return generate_day(SMALL)


# --------------------------------------------------------------------------- generator


def test_generation_is_deterministic_for_a_seed() -> None:
    assert generate_day(SMALL) == generate_day(SMALL)
    other = generate_day(SimConfig(day=DAY, seed=8, agents=5, calls=60, outbound=8))
    assert other != generate_day(SMALL)


def test_ids_differ_between_days_and_seeds(small_day: list[SimEvent]) -> None:
    """Several simulated days can share one hub: callevent ids and task ids never collide."""
    other = generate_day(SimConfig(day=date(2026, 11, 21), seed=7, agents=5, calls=60, outbound=8))
    other_seed = generate_day(SimConfig(day=DAY, seed=9, agents=5, calls=60, outbound=8))
    for events in (other, other_seed):
        assert not {e.params["id"] for e in small_day if e.cmd == "callevent"} & {
            e.params["id"] for e in events if e.cmd == "callevent"
        }


def test_every_event_passes_the_hubs_validation(full_day: list[SimEvent]) -> None:
    context = ParseContext(ZONE, "DE")
    for event in full_day:
        assert all(isinstance(v, str) for v in event.params.values())
        assert event.params["cmd"] == event.cmd
        model = parse_callback({k.lower(): v for k, v in event.params.items()}, context)
        assert model.event_time == event.time, event.params


def test_parameters_keep_the_vendors_constraints(full_day: list[SimEvent]) -> None:
    ids = [e.params["id"] for e in full_day if e.cmd == "callevent"]
    assert len(ids) == len(set(ids))
    assert all(i.isdigit() for i in ids)
    hex24 = re.compile(r"^[0-9a-f]{1,24}$")
    six = re.compile(r"^\d{6}$")
    for event in full_day:
        p = event.params
        for name in ("agentid", "agent", "conf_agent", "conf_agent_terminated"):
            if name in p and event.cmd != "schedulecallevent":
                assert six.match(p[name]), p
        for name in ("taskid", "callid"):
            if name in p:
                assert hex24.match(p[name]), p
        if event.cmd == "callevent":
            assert re.match(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$", p["eventtime"])
        elif event.cmd in (
            "agentstate",
            "enqueuecall",
            "configchanged",
            "broadcastevent",
            "schedulecallevent",
        ):
            assert p["eventtime"].isdigit()
            assert p["eventtime"].endswith("000")
    # distinct events never look alike to the hub's idempotency (callevent id, else all parameters)
    identities = [
        e.params["id"] if e.cmd == "callevent" else tuple(sorted(e.params.items())) for e in full_day
    ]
    assert len(identities) == len(set(identities))


def test_the_day_has_everything_a_real_day_has(full_day: list[SimEvent]) -> None:
    cmds = Counter(e.cmd for e in full_day)
    assert set(cmds) == set(CALLBACK_MODELS)  # every message the hub knows
    types = Counter(e.params["eventtype"] for e in full_day if e.cmd == "callevent")
    for kind in [
        "CallStart",
        "WaitingQueue",
        "Announcement",
        "Alerting",
        "Timeout",
        "Connected",
        "Holdstart",
        "Holdstop",
        "ConfAgent",
        "ConfConnected",
        "ConfEnd",
        "ForwardAgent",
        "CallEnd",
        "Rejected",
        "Mailbox",
        "ForwardNumber",
        "BadCall",
        "AConnected",
        "BConnected",
        "BBusy",
        "BTimeout",
    ]:
        assert types[kind], kind
    states = Counter(e.params["state"] for e in full_day if e.cmd == "agentstate")
    for state in [
        "offline",
        "online",
        "alerting",
        "timeouted",
        "connected",
        "working",
        "paused",
        "busy",
        "outonline",
        "outalerting",
        "balerting",
        "outconnect",
        "outworking",
        "bbusy",
        "btimeout",
        "outpaused",
    ]:
        assert states[state], state
    reasons = {
        e.params.get("pause-reason") for e in full_day if e.params.get("state") in ("paused", "outpaused")
    }
    assert {"Mittag", "Kaffee", "Schulung"} <= reasons
    numbers = [
        e.params["callingnumber"] for e in full_day if e.cmd == "callevent" and "callingnumber" in e.params
    ]
    assert any(n.startswith("+") for n in numbers)
    assert any(n.startswith("00") for n in numbers)
    assert any(n.startswith("0") and not n.startswith("00") for n in numbers)
    assert any(n.endswith("xxx") for n in numbers)
    tasks = {e.params["taskid"] for e in full_day if e.cmd == "callevent"}
    assert any(len(t) == 10 for t in tasks)
    assert any(len(t) == 24 for t in tasks)
    assert any(re.search("[äöüß]", e.params["message"]) for e in full_day if e.cmd == "broadcastevent")
    day = {
        e.time.astimezone(ZONE).date()
        for e in full_day
        if e.cmd == "callevent" and e.params["eventtype"] == "CallStart"
    }
    assert day == {DAY}
    starts = [
        e.time.astimezone(ZONE)
        for e in full_day
        if e.params.get("eventtype") == "CallStart" and e.params["mode"] == "0"
    ]
    assert len(starts) == 300
    assert min(starts).hour >= 8
    assert max(starts).hour < 18
    outbound = [e for e in full_day if e.params.get("eventtype") == "CallStart" and e.params["mode"] == "1"]
    assert len(outbound) == 40
    outcomes = Counter(c["outcome"] for c in expectations(full_day, 20, ZONE, DAY)["calls"].values())
    assert set(outcomes) == {
        "answered",
        "abandoned",
        "rejected",
        "mailbox",
        "forwarded",
        "badcall",
        "connected",
        "not_connected",
    }


NEXT_STATES = {
    "offline": {"online"},
    "online": {"alerting", "paused", "offline", "busy", "outonline"},
    "alerting": {"connected", "timeouted"},
    "timeouted": {"online", "paused", "offline", "outonline"},
    "connected": {"working"},
    "working": {"online", "paused", "offline", "outonline"},
    "paused": {"online", "paused", "offline", "outonline"},
    "busy": {"online", "paused", "offline", "outonline"},
    "outonline": {"outalerting", "outpaused", "online", "paused", "offline"},
    "outpaused": {"outonline"},
    "outalerting": {"balerting"},
    "balerting": {"outconnect", "bbusy", "btimeout"},
    "outconnect": {"outworking"},
    "outworking": {"outonline"},
    "bbusy": {"outonline"},
    "btimeout": {"outonline"},
}
SAME_TASK = (
    {("alerting", "connected"), ("alerting", "timeouted"), ("connected", "working")}
    | {(a, b) for a in ("outalerting", "balerting") for b in ("balerting", "outconnect", "bbusy", "btimeout")}
    | {("outconnect", "outworking")}
)


@pytest.mark.parametrize(
    "config", [SimConfig(day=DAY), SMALL, SimConfig(day=DAY, seed=3, agents=2, calls=80, outbound=5)]
)
def test_agent_states_and_calls_are_consistent(config: SimConfig) -> None:
    events = generate_day(config)
    per_agent: dict[str, list[SimEvent]] = defaultdict(list)
    for event in events:
        if event.cmd == "agentstate":
            per_agent[event.params["agentid"]].append(event)
    for agent, evs in per_agent.items():
        assert evs[0].params["state"] == "offline"
        assert evs[-1].params["state"] == "offline", agent
        for before, after in itertools.pairwise(evs):
            assert after.time > before.time, (agent, before.params, after.params)
            a, b = before.params["state"], after.params["state"]
            assert b in NEXT_STATES[a], (agent, a, b, after.time)
            if (a, b) in SAME_TASK:
                assert before.params["taskid"] == after.params["taskid"]
        for event in evs:
            mode = event.params["mode"]
            assert mode == ("1" if event.params["state"] in OUTBOUND_STATES else "0")
            if event.params["state"] in (
                "alerting",
                "connected",
                "working",
                "timeouted",
                "outworking",
                "outconnect",
            ):
                assert event.params["taskid"]
            if event.params["state"] in ("online", "offline", "paused", "busy", "outonline", "outpaused"):
                assert "taskid" not in event.params
    states = {
        (e.params["agentid"], e.time, e.params["state"], e.params.get("taskid"))
        for e in events
        if e.cmd == "agentstate"
    }
    per_call: dict[str, list[SimEvent]] = defaultdict(list)
    for event in events:
        if event.cmd == "callevent":
            per_call[event.params["taskid"]].append(event)
            if event.params["eventtype"] == "Connected":
                assert (event.params["agentid"], event.time, "connected", event.params["taskid"]) in states
            if (
                event.params["eventtype"] == "CallEnd"
                and event.params["connected"] == "1"
                and event.params["mode"] == "0"
            ):
                assert (event.params["agentid"], event.time, "working", event.params["taskid"]) in states
    for task, evs in per_call.items():
        evs.sort(key=lambda e: int(e.params["id"]))
        assert [e.time for e in evs] == sorted(e.time for e in evs), task
        kinds = [e.params["eventtype"] for e in evs]
        assert kinds[0] == "CallStart", (task, kinds)
        assert kinds[-1] == "CallEnd", (task, kinds)
        assert kinds.count("CallEnd") == 1, (task, kinds)
        assert len({e.params["mode"] for e in evs}) == 1


# --------------------------------------------------------------------------- ground truth

_ids = itertools.count(5_000_000)


def ce(
    task: str, eventtype: str, clock: str, day: str = "2026-11-20", mode: str = "0", **extra: str
) -> SimEvent:
    moment = datetime.fromisoformat(f"{day}T{clock}").replace(tzinfo=ZONE)
    params = {
        "cmd": "callevent",
        "id": str(next(_ids)),
        "taskid": task,
        "eventtype": eventtype,
        "eventtime": f"{day} {clock}",
        "mode": mode,
        **extra,
    }
    return SimEvent("callevent", params, moment.astimezone(UTC))


def st(agent: str, state: str, clock: str, day: str = "2026-11-20", **extra: str) -> SimEvent:
    moment = datetime.fromisoformat(f"{day}T{clock}").replace(tzinfo=ZONE)
    ms = str(int(moment.timestamp()) * 1000)
    mode = "1" if state in OUTBOUND_STATES else "0"
    params = {"cmd": "agentstate", "agentid": agent, "mode": mode, "state": state, "eventtime": ms, **extra}
    return SimEvent("agentstate", params, moment.astimezone(UTC))


def call(task: str, start: str, *steps: tuple[str, str], hotline: str = "501") -> list[SimEvent]:
    return [ce(task, "CallStart", start, hotlineid=hotline), *(ce(task, kind, at) for kind, at in steps)]


def handles(agent: str, task: str, talks: str, wraps_up: str, free: str | None = None) -> list[SimEvent]:
    """An agent's states for one call: connected at ``talks``, after-call work from ``wraps_up``,
    available from ``free`` (None: still wrapping up)."""
    states = [st(agent, "connected", talks, taskid=task), st(agent, "working", wraps_up, taskid=task)]
    return [*states, st(agent, "online", free)] if free else states


def outcome_day() -> list[SimEvent]:
    return [
        *call("a1", "10:00:00", ("Connected", "10:00:20"), ("CallEnd", "10:05:20")),  # wait 20: within SL
        *call("a2", "10:01:00", ("Connected", "10:01:21"), ("CallEnd", "10:02:21")),  # wait 21: not within
        *call("b1", "10:02:00", ("WaitingQueue", "10:02:01"), ("CallEnd", "10:03:00")),  # abandoned
        *call("b2", "10:03:00", ("Rejected", "10:03:01"), ("CallEnd", "10:03:03")),
        *call(
            "b3", "10:04:00", ("Mailbox", "10:05:00"), ("ForwardNumber", "10:06:00"), ("CallEnd", "10:07:00")
        ),
        *call("b4", "10:05:00", ("BadCall", "10:05:01"), ("CallEnd", "10:05:02")),
        *call("b5", "10:06:00", ("ForwardNumber", "10:06:30"), ("CallEnd", "10:09:00")),
        *call("b6", "10:07:00", ("WaitingQueue", "10:07:01")),  # still waiting: offered only
        *call("a3", "10:08:00", ("Rejected", "10:08:01"), ("Connected", "10:08:05"), ("CallEnd", "10:09:05")),
        *call("a4", "10:15:00", ("Connected", "10:15:05")),  # answered, not ended
        *call("c1", "10:20:00", ("CallEnd", "10:20:30"), hotline="502"),
        ce("o1", "CallStart", "10:30:00", mode="1"),
        ce("o1", "BConnected", "10:30:20", mode="1"),
        ce("o1", "CallEnd", "10:31:00", mode="1"),
        ce("o2", "CallStart", "10:40:00", mode="1"),
        ce("o2", "BBusy", "10:40:05", mode="1"),
        ce("o2", "CallEnd", "10:40:06", mode="1"),
    ]


def test_outcomes_counts_and_sl_boundary() -> None:
    truth = expectations(outcome_day(), 20, ZONE)
    assert truth["day"] == "2026-11-20"
    assert list(truth["kpis"]) == ["501", "502"]
    day = truth["kpis"]["501"]["day"]
    assert list(day) == list(kpis.NAMES)  # the hub's KPIs (acd_hub.kpis), each once
    # a1 waits exactly 20 s, a3 and a4 5 s: within; a2 (21 s) is not. a3 was rejected first but
    # connected after all: answered, not rejected. b6 is still waiting: offered, nothing else.
    assert day == {
        "offered": 10,
        "answered": 4,
        "abandoned": 1,
        "rejected": 1,
        "badcall": 1,
        "mailbox": 1,  # b3: Mailbox came before ForwardNumber
        "forwarded": 1,
        "answered_within_sl": 3,
        "service_level_pct": 60.0,  # 3 / (4 + 1)
        "abandon_rate_pct": 20.0,
        "asa_s": 12.75,  # (20 + 21 + 5 + 5) / 4
        "max_wait_s": 21,
        "aht_s": 140.0,  # a1 300, a2 60, a3 60 (a4 has not ended)
        "avg_talk_s": 140.0,
        "avg_hold_s": 0.0,
    }
    calls = truth["calls"]
    assert {t: c["outcome"] for t, c in calls.items()} == {
        "a1": "answered",
        "a2": "answered",
        "a3": "answered",
        "a4": "answered",
        "b1": "abandoned",
        "b2": "rejected",
        "b3": "mailbox",
        "b4": "badcall",
        "b5": "forwarded",
        "b6": "in_progress",
        "c1": "abandoned",
        "o1": "connected",
        "o2": "not_connected",
    }
    assert truth["kpis"]["502"]["day"]["service_level_pct"] == 0.0
    assert truth["kpis"]["502"]["day"]["abandon_rate_pct"] == 100.0


def test_intervals_are_15_minutes_local_with_offset_and_only_when_offered() -> None:
    truth = expectations(outcome_day(), 20, ZONE)
    intervals = truth["kpis"]["501"]["intervals"]
    assert [i["start"] for i in intervals] == ["2026-11-20T10:00:00+01:00", "2026-11-20T10:15:00+01:00"]
    assert intervals[0]["offered"] == 9
    assert intervals[1]["offered"] == 1
    assert intervals[1]["asa_s"] == 5.0
    assert intervals[1]["aht_s"] is None
    assert list(intervals[0])[1:] == list(kpis.NAMES)  # the hub's KPIs (acd_hub.kpis), each once
    summer = expectations([ce("s1", "CallStart", "09:44:59", day="2026-07-01", hotlineid="503")], 20, ZONE)
    assert summer["kpis"]["503"]["intervals"][0]["start"] == "2026-07-01T09:30:00+02:00"


def test_hold_talk_acw_and_aht() -> None:
    events = [
        *call(
            "h1",
            "09:00:00",
            ("Connected", "09:00:10"),
            ("Holdstart", "09:01:00"),
            ("Holdstop", "09:01:30"),
            ("Holdstart", "09:02:00"),  # never stopped: on hold until CallEnd
            ("CallEnd", "09:03:00"),
        ),
        *handles("100001", "h1", "09:00:10", wraps_up="09:03:00", free="09:03:45"),
        # h2: the agent's wrap-up is still open (no later event): no acw counted
        *call("h2", "09:10:00", ("Connected", "09:10:05"), ("CallEnd", "09:12:05")),
        *handles("100002", "h2", "09:10:05", wraps_up="09:12:05"),
    ]
    truth = expectations(events, 20, ZONE)
    h1, h2 = truth["calls"]["h1"], truth["calls"]["h2"]
    assert (h1["hold_s"], h1["talk_s"], h1["acw_s"], h1["wait_s"]) == (90, 80, 45, 10)
    assert (h2["hold_s"], h2["talk_s"], h2["acw_s"], h2["wait_s"]) == (0, 120, 0, 5)
    day = truth["kpis"]["501"]["day"]
    assert day["avg_hold_s"] == 45.0
    assert day["avg_talk_s"] == 100.0
    assert day["aht_s"] == round((80 + 90 + 45 + 120) / 2, 2)
    assert h1["started"] == "2026-11-20T08:00:00.000Z"
    assert h1["answered"] == "2026-11-20T08:00:10.000Z"
    assert h1["ended"] == "2026-11-20T08:03:00.000Z"
    assert truth["board"]["100001"] == {
        "agent": "100001",
        "state": "online",
        "since": "2026-11-20T08:03:45.000Z",
        "task_id": None,
        "hotline": None,
    }
    assert truth["board"]["100002"]["task_id"] == "h2"
    # hotlineid is an integer in summaries and on the board; KPI keys are its text
    assert h1["hotline"] == 501
    assert list(truth["kpis"]) == ["501"]
    board = expectations([st("100003", "connected", "09:20:00", taskid="h3", hotlineid="0502")], 20, ZONE)[
        "board"
    ]
    assert board["100003"]["hotline"] == 502


def test_acw_counts_every_agents_wrap_up_of_a_transferred_call() -> None:
    events = [
        *call(
            "t1",
            "11:00:00",
            ("Connected", "11:00:05"),
            ("ForwardAgent", "11:01:00"),
            ("Connected", "11:01:05"),
            ("CallEnd", "11:03:00"),
        ),
        *handles("100001", "t1", "11:00:05", wraps_up="11:01:00", free="11:01:30"),
        st("100002", "alerting", "11:01:00", taskid="t1"),
        *handles("100002", "t1", "11:01:05", wraps_up="11:03:00", free="11:03:20"),
    ]
    summary = expectations(events, 20, ZONE)["calls"]["t1"]
    assert summary["acw_s"] == 50
    assert summary["wait_s"] == 5  # the first Connected counts
    assert summary["talk_s"] == 175


def test_empty_denominators_are_null() -> None:
    truth = expectations(call("r1", "12:00:00", ("Rejected", "12:00:01"), ("CallEnd", "12:00:02")), 20, ZONE)
    day = truth["kpis"]["501"]["day"]
    assert day["offered"] == 1
    assert day["rejected"] == 1
    for key in RATIOS:
        assert day[key] is None, key
    summary = truth["calls"]["r1"]
    assert summary["wait_s"] is None
    assert summary["talk_s"] is None
    assert summary["acw_s"] is None


def test_agent_day_is_cut_at_local_midnight() -> None:
    events = [
        st("100001", "online", "23:00:00"),
        st("100001", "paused", "23:30:00", **{"pause-reason": "Kaffee"}),
        st("100001", "online", "00:30:00", day="2026-11-21"),
        st("100001", "connected", "00:40:00", day="2026-11-21", taskid="aa"),
        st("100001", "working", "00:45:00", day="2026-11-21", taskid="aa"),
        st("100001", "paused", "00:50:00", day="2026-11-21"),  # no reason given
        st("100001", "offline", "01:00:00", day="2026-11-21"),  # the last state: open
    ]
    days = agent_days(events, ZONE)
    assert days[("100001", "2026-11-20")] == {
        "agent": "100001",
        "day": "2026-11-20",
        "state_seconds": {"online": 1800, "paused": 1800},
        "pause_seconds": {"Kaffee": 1800},
        "calls_handled": 0,
    }
    assert days[("100001", "2026-11-21")] == {
        "agent": "100001",
        "day": "2026-11-21",
        "state_seconds": {"paused": 2400, "online": 600, "connected": 300, "working": 300},
        "pause_seconds": {"Kaffee": 1800, "unknown": 600},
        "calls_handled": 1,
    }
    truth = expectations(events, 20, ZONE, day="2026-11-21")
    assert truth["agent_days"] == {"100001": days[("100001", "2026-11-21")]}
    assert truth["board"]["100001"]["state"] == "offline"


def test_classification_latest_wins_and_recording_is_flagged() -> None:
    base = call("k1", "13:00:00", ("Connected", "13:00:03"), ("CallEnd", "13:02:00"))
    extra = [
        SimEvent(
            "classificationevent",
            {
                "cmd": "classificationevent",
                "callid": "K1",
                "classificationreason": "Auskunft",
                "eventtime": "1795176200000",
            },
            datetime.now(UTC),
        ),
        SimEvent(
            "classificationevent",
            {
                "cmd": "classificationevent",
                "callid": "k1",
                "classificationreason": "Beschwerde",
                "eventtime": "1795176300000",
            },
            datetime.now(UTC),
        ),
        SimEvent(
            "recordedcall",
            {"cmd": "recordedcall", "taskid": "k1", "eventtime": "2026-11-20 13:00:04"},
            datetime.now(UTC),
        ),
    ]
    summary = expectations([*extra, *base], 20, ZONE)["calls"]["k1"]
    assert summary["classification"] == "Beschwerde"
    assert summary["recorded"] is True
    assert summary["agents"] == []
    assert expectations(base, 20, ZONE)["calls"]["k1"]["recorded"] is False


def test_truth_ignores_order_and_duplicates(small_day: list[SimEvent]) -> None:
    expected = expectations(small_day, 20, ZONE, DAY)
    rng = random.Random(5)
    mixed = [*small_day, *rng.sample(small_day, 200)]
    rng.shuffle(mixed)
    assert expectations(mixed, 20, ZONE, DAY) == expected


def test_truth_takes_only_the_vocabulary_from_the_hub() -> None:
    """Its formulas are its own; only the vendor's names come from acd_hub.vocabulary."""
    tree = ast.parse(Path(truth.__file__).read_text(encoding="utf-8"))
    modules = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    modules |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert {name for name in modules if name.startswith("acd_")} == {"acd_hub.vocabulary"}
    assert {name.split(".")[0] for name in modules} - {"acd_hub"} <= sys.stdlib_module_names | {"__future__"}


def test_the_sending_plan_changes_order_and_count_not_the_truth(small_day: list[SimEvent]) -> None:
    n = len(small_day)
    plain = plan_requests(small_day, methods=["get"], seed=1)
    assert [r.index for r in plain] == list(range(n))
    assert {r.method for r in plain} == {"GET"}

    plan = plan_requests(small_day, methods=["get", "put", "head"], duplicates=0.1, shuffle_window=25, seed=1)
    copies = Counter(r.index for r in plan)
    assert set(copies) == set(range(n))
    assert sum(1 for c in copies.values() if c > 1) == round(0.1 * n)
    assert max(copies.values()) == 3
    assert len(plan) > n + round(0.1 * n)
    assert {r.method for r in plan} == {"GET", "PUT", "HEAD"}
    assert any(r.method == "PUT" and r.in_query for r in plan)
    assert any(r.method == "PUT" and not r.in_query for r in plan)
    firsts = [r.index for r in plan if r.copy == 0]
    assert firsts != sorted(firsts)
    assert max(abs(pos - index) for pos, index in enumerate(firsts)) < 25
    assert plan == plan_requests(
        small_day, methods=["get", "put", "head"], duplicates=0.1, shuffle_window=25, seed=1
    )

    sent = [small_day[r.index] for r in plan]
    assert expectations(sent, 20, ZONE, DAY) == expectations(small_day, 20, ZONE, DAY)


def test_json_bodies_are_put_bodies_and_change_nothing_else(small_day: list[SimEvent]) -> None:
    options = {"methods": ["get", "put"], "duplicates": 0.1, "seed": 3}
    forms = plan_requests(small_day, **options)  # type: ignore[arg-type]
    jsons = plan_requests(small_day, **options, json_share=1.0)  # type: ignore[arg-type]
    assert not any(r.json_body for r in forms)
    assert [r.json_body for r in jsons] == [r.method == "PUT" and not r.in_query for r in jsons]
    assert [(r.index, r.method, r.copy, r.in_query) for r in jsons] == [
        (r.index, r.method, r.copy, r.in_query) for r in forms
    ]


def test_plan_rejects_bad_options(small_day: list[SimEvent]) -> None:
    with pytest.raises(ValueError, match="methods"):
        plan_requests(small_day, methods=["post"])
    with pytest.raises(ValueError, match="fraction"):
        plan_requests(small_day, duplicates=1.5)


def test_token_bucket_paces() -> None:
    now = [0.0]
    bucket = TokenBucket(10, capacity=1, clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s))
    for _ in range(21):
        bucket.acquire()
    assert now[0] == pytest.approx(2.0)
    TokenBucket(0).acquire()  # no limit: returns at once


def test_callback_path() -> None:
    assert callback_path("http://127.0.0.1:3000/callback", "tök/1") == (
        "http",
        "127.0.0.1",
        3000,
        "/callback/t%C3%B6k%2F1",
    )
    assert callback_path("http://127.0.0.1:3000/callback/", None) == (
        "http",
        "127.0.0.1",
        3000,
        "/callback",
    )
    with pytest.raises(ValueError, match="http"):
        callback_path("ftp://x/callback", None)


def test_cli_dry_run_writes_the_expectations(tmp_path: Path) -> None:
    out = tmp_path / "expect.json"
    result = CliRunner().invoke(
        sim.main,
        [
            "--day",
            "2026-11-20",
            "--agents",
            "5",
            "--calls",
            "60",
            "--outbound",
            "8",
            "--seed",
            "7",
            "--duplicates",
            "0.1",
            "--shuffle-window",
            "10",
            "--dry-run",
            "--expect-out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "Expected KPIs 2026-11-20" in result.output
    truth = json.loads(out.read_text(encoding="utf-8"))
    assert list(truth) == ["day", "sl_seconds", "kpis", "agent_days", "calls", "board", "sent"]
    assert truth["day"] == "2026-11-20"
    assert truth["sl_seconds"] == 20
    events = generate_day(SMALL)
    assert truth["sent"]["events"] == len(events)
    assert truth["sent"]["requests"] > len(events)
    assert sum(truth["sent"]["by_cmd"].values()) == len(events)
    reference = json.loads(json.dumps(expectations(events, 20, ZONE, DAY)))
    for key in ("kpis", "agent_days", "calls", "board"):
        assert truth[key] == reference[key]
    one_call = next(iter(truth["calls"].values()))
    # the call listing's columns up to the classification, in its order; not the group, which
    # the simulator does not know
    shown = CALL_CSV_LEAD[: CALL_CSV_LEAD.index("classification") + 1]
    assert list(one_call) == [column for column in shown if column != "group"]


def test_cli_rejects_bad_options() -> None:
    runner = CliRunner()
    assert runner.invoke(sim.main, ["--day", "20.11.2026", "--dry-run"]).exit_code == 2
    assert runner.invoke(sim.main, ["--methods", "get,post", "--dry-run"]).exit_code == 2
    assert runner.invoke(sim.main, ["--duplicates", "2", "--dry-run"]).exit_code == 2
    assert runner.invoke(sim.main, ["--duplicates", "nan", "--dry-run"]).exit_code == 2
    blank = runner.invoke(sim.main, ["--url", "http://127.0.0.1:1/callback", "--token", " "])
    assert (blank.exit_code, blank.stderr) == (
        2,
        "Error: --token: must not be blank\n",
    )  # not 401 on every request
    far = runner.invoke(sim.main, ["--day", "1999-12-31", "--dry-run"])  # the hub would refuse every event
    assert (far.exit_code, far.stderr) == (
        2,
        "Error: --day: day out of range: 1999-12-31 (events are kept for 2000-01-01 to 2099-12-31)\n",
    )
    assert runner.invoke(sim.main, ["--rate", "nan", "--dry-run"]).exit_code == 2
    assert runner.invoke(sim.main, ["--rate", "inf", "--dry-run"]).exit_code == 2  # no upper bound to stop it


@pytest.mark.parametrize("flag", ["--expect-out", "--names-out"])
def test_cli_a_file_it_cannot_write_is_a_one_line_error(tmp_path: Path, flag: str) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("", encoding="utf-8")
    target = blocker / "out"  # its folder is a file
    result = CliRunner().invoke(
        sim.main, ["--calls", "1", "--outbound", "0", "--dry-run", "-q", flag, str(target)]
    )
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)  # not a traceback
    assert result.stderr.splitlines() == [f"Error: {flag}: cannot write {target}: File exists"]


def test_cli_a_path_it_cannot_write_is_shown_inert(tmp_path: Path) -> None:
    target = tmp_path / "no-folder\x1b[31m" / "x.json"
    (tmp_path / "no-folder\x1b[31m").write_text("", encoding="utf-8")  # a file where the folder goes
    result = CliRunner().invoke(
        sim.main, ["--calls", "1", "--dry-run", "-q", "--expect-out", str(target)], color=True
    )
    assert result.exit_code == 1
    assert "\x1b" not in result.stderr
    assert "no-folder\\x1b[31m" in result.stderr


# -- the sender, its connections replaced by recording ones (no network in this tier) -----------------


class _Answered:
    status = 200

    def read(self) -> bytes:
        return b"{}"


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, str, bytes]]:
    """What the sender's connections were asked to send: (method, target, content type, body)."""
    seen: list[tuple[str, str, str, bytes]] = []
    lock = threading.Lock()

    class Recording:
        def __init__(self, *_: object, **__: object) -> None:
            pass

        def request(self, method: str, target: str, body: bytes | None, headers: dict[str, str]) -> None:
            with lock:
                seen.append((method, target, headers.get("Content-Type", ""), body or b""))

        def getresponse(self) -> _Answered:
            return _Answered()

        def close(self) -> None:
            pass

    monkeypatch.setattr(sender.http.client, "HTTPConnection", Recording)
    return seen


URL = "http://127.0.0.1:4860/callback"


def test_sender_sends_form_json_and_query_as_planned(
    small_day: list[SimEvent], recorder: list[tuple[str, str, str, bytes]]
) -> None:
    plan = [
        Request(0, "GET"),
        Request(1, "PUT", in_query=False),
        Request(2, "PUT", in_query=False, json_body=True),
    ]
    answers: list[Answer] = []
    report = send(small_day, URL, "tok", plan=plan, concurrency=1, on_answer=answers.append)
    assert (report.requests, report.ok, report.failures) == (3, 3, [])
    assert [a.status for a in answers] == [200, 200, 200]
    get, form, json_put = recorder
    assert get[:2] == ("GET", f"/callback/tok?{encode(small_day[0].params)}")
    assert form == (
        "PUT",
        "/callback/tok",
        "application/x-www-form-urlencoded; charset=utf-8",
        encode(small_day[1].params).encode(),
    )
    assert json_put[:3] == ("PUT", "/callback/tok", "application/json")
    assert json.loads(json_put[3]) == small_day[2].params


def test_sender_stops_at_its_time_limit(
    small_day: list[SimEvent], recorder: list[tuple[str, str, str, bytes]]
) -> None:
    report = send(small_day, URL, None, plan=[Request(i, "GET") for i in range(5)], seconds=0)
    assert (report.requests, recorder) == (0, [])


def test_sender_reads_a_plan_that_extends_the_events(
    small_day: list[SimEvent], recorder: list[tuple[str, str, str, bytes]]
) -> None:
    events: list[SimEvent] = []

    def plan() -> Iterator[Request]:
        for event in small_day[:4]:  # each event appears just before its request is read
            events.append(event)
            yield Request(len(events) - 1, "GET")

    report = send(events, URL, None, plan=plan(), concurrency=2)
    assert report.ok == 4
    assert sorted(target for _, target, _, _ in recorder) == sorted(
        f"/callback?{encode(event.params)}" for event in small_day[:4]
    )
