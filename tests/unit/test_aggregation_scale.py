"""Days no item may outgrow: an outbound dialer agent with 10,000 state changes, and a hotline
with 20,000 calls, delivered shuffled through the real aggregators (DynamoDB in memory), each
report exact to the millisecond against the simulator's independent ground truth."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from acd_cli.reporting import ReportQueries
from acd_hub.settings import HubSettings
from acd_sim import truth as sim_truth
from tests.support import Harness

ZONE = HubSettings().report_zone
DAY = date(2026, 11, 24)
# whole days: a minute or two on 2 cores, on DynamoDB in memory (about 20 minutes on in-process moto)
pytestmark = [pytest.mark.timeout(900), pytest.mark.slow]


@dataclass(frozen=True)
class Sent:
    params: dict[str, str]


@pytest.fixture
def harness(memory_dynamodb: Any) -> Harness:
    return Harness(memory_dynamodb)


def deliver(harness: Harness, aggregator: Any, items: list[dict[str, Any]], batch: int, seed: int) -> None:
    """Shuffled, in stream batches, every fifth batch delivered twice (a retried batch)."""
    shuffled = list(items)
    random.Random(seed).shuffle(shuffled)
    for number, start in enumerate(range(0, len(shuffled), batch)):
        chunk = shuffled[start : start + batch]
        for _ in range(2 if number % 5 == 0 else 1):
            assert harness.run(aggregator, chunk) == {"batchItemFailures": []}


def local_ms(moment: datetime) -> str:
    return str(int(moment.timestamp() * 1000))


def test_a_dialer_agent_with_10000_state_changes(harness: Harness) -> None:
    rng = random.Random(11)
    states = ["outalerting", "balerting", "outconnect", "outworking", "outpaused", "online"]
    moment = datetime(2026, 11, 24, 6, 0, tzinfo=UTC)
    sent = []
    for _ in range(10_000):
        moment += timedelta(milliseconds=rng.randint(500, 9_000))
        state = rng.choice(states)
        params = {
            "cmd": "agentstate",
            "agentid": "300001",
            "mode": "1",
            "state": state,
            "eventtime": local_ms(moment),
        }
        if state in ("outconnect", "outworking"):
            params["taskid"] = f"{rng.randint(1, 3000):x}"
        if state == "outpaused":
            params["pause-reason"] = rng.choice(["Kaffee", "Technik"])
        sent.append(Sent(params))
    items = harness.store_many([s.params for s in sent])
    deliver(harness, harness.agents(), items, batch=100, seed=3)

    expected = exact(sim_truth.expectations(sent, zone=ZONE, day=DAY)["agent_days"]["300001"])
    queries = ReportQueries(
        harness.log.client, harness.settings.reports_table, harness.settings.cmd_day_shards
    )
    shown = queries.agent_day("300001", DAY.isoformat())
    assert shown is not None
    document = shown.as_dict()
    assert {key: document[key] for key in expected} == expected
    assert shown.timeline is not None
    assert len(shown.timeline) == 10_000
    assert shown.timeline[-1].end_ms is None
    assert max(len(repr(i)) for i in _all_items(harness)) < 4_000  # nothing grows with the day


def test_a_hotline_with_20000_calls(harness: Harness) -> None:
    rng = random.Random(5)
    start_of_day = datetime(2026, 11, 24, 6, 0, tzinfo=ZONE)
    sent: list[Sent] = []
    event_id = iter(range(1, 10**9))

    def call_event(task: str, kind: str, at: datetime, **extra: str) -> None:
        local = at.astimezone(ZONE).strftime("%Y-%m-%d %H:%M:%S")
        params = {
            "cmd": "callevent",
            "id": str(next(event_id)),
            "taskid": task,
            "eventtype": kind,
            "eventtime": local,
        }
        sent.append(Sent({**params, **extra}))

    for number in range(20_000):
        task = f"{number + 1:x}"
        begin = start_of_day + timedelta(seconds=rng.randint(0, 14 * 3600))
        call_event(task, "CallStart", begin, mode="0", hotlineid="777")
        fate = rng.random()
        wait = timedelta(seconds=rng.randint(1, 90))
        if fate < 0.75:
            call_event(task, "Connected", begin + wait)
            call_event(task, "CallEnd", begin + wait + timedelta(seconds=rng.randint(20, 600)))
        elif fate < 0.95:
            call_event(task, "CallEnd", begin + wait)
        else:
            call_event(task, "Mailbox", begin + wait)
            call_event(task, "CallEnd", begin + wait + timedelta(seconds=30))
    items = harness.store_many([s.params for s in sent])
    # Calls in random order, each call's events shuffled and together: every call is recomputed
    # once per delivery (retried batches included). Calls split across batches, in any order, are
    # the property test's and the simulated day's; here it is the day's size.
    by_call: dict[str, list[dict[str, Any]]] = {}
    for item in items:
        by_call.setdefault(item["task_id"], []).append(item)
    calls = list(by_call.values())
    random.Random(9).shuffle(calls)
    for events in calls:
        random.Random(len(events)).shuffle(events)
    grouped = [event for events in calls for event in events]
    meter = harness.log.client.meter
    work: list[tuple[int, int]] = []  # (requests, items read and written) per batch
    for number, start in enumerate(range(0, len(grouped), 100)):
        chunk = grouped[start : start + 100]
        before = (sum(meter.requests.values()), _items_touched(meter))
        for _ in range(2 if number % 5 == 0 else 1):
            assert harness.run(harness.calls(), chunk) == {"batchItemFailures": []}
        work.append((sum(meter.requests.values()) - before[0], _items_touched(meter) - before[1]))
    # Constant work per event, counted on the ports: the day's last batches cost what its first did.
    tenth = len(work) // 10
    for measure in (0, 1):
        first = sum(w[measure] for w in work[:tenth])
        last = sum(w[measure] for w in work[-tenth:])
        assert last <= 1.15 * first, f"work per batch grew with the day: {first} -> {last}"

    expected = sim_truth.expectations(sent, zone=ZONE, day=DAY)["kpis"]["777"]
    queries = ReportQueries(
        harness.log.client, harness.settings.reports_table, harness.settings.cmd_day_shards
    )
    shown = queries.kpis("777", DAY.isoformat())
    assert shown is not None
    document = shown.as_dict()
    assert document["day"] == expected["day"]
    assert shown.day.offered == 20_000
    assert document["intervals"] == expected["intervals"]
    assert max(len(repr(i)) for i in _all_items(harness)) < 4_000  # nothing grows with the day


def exact(value: Any) -> Any:
    """The simulator sums float seconds; the events are whole milliseconds, so is the truth."""
    if isinstance(value, float):
        rounded = round(value, 3)
        return int(rounded) if rounded.is_integer() else rounded
    if isinstance(value, dict):
        return {key: exact(inner) for key, inner in value.items()}
    return value


def _items_touched(meter: Any) -> int:
    return sum(meter.items_read.values()) + sum(meter.items_written.values())


def _all_items(harness: Harness) -> Iterator[dict[str, Any]]:
    paginator = harness.log.client.get_paginator("scan")
    for page in paginator.paginate(TableName=harness.settings.reports_table):
        yield from page["Items"]
