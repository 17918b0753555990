"""The live, incremental reports equal a rebuild from the event log, field by field, for random
days delivered in random order, with duplicates and retried batches (a property test); and the
rebuild repairs reports that went wrong."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import date, datetime, time, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from acd_cli.reporting import ReportQueries
from acd_devkit.template import dynamodb_tables, load_template
from acd_hub.call_stats import CounterKey
from acd_hub.rebuild import Rebuilder, days_between
from acd_hub.settings import HubSettings
from tests.support import Harness

ZONE = HubSettings().report_zone
# an ordinary day, and both DST days of 2026 in Europe/Berlin
DAYS = (date(2026, 11, 20), date(2026, 3, 29), date(2026, 10, 25))
STATES = ("online", "alerting", "connected", "working", "paused", "outconnect", "outworking", "offline")
AGENTS = ("100001", "100002", "100003")
TASKS = tuple(f"c0ffee{n}" for n in range(6))


@pytest.fixture
def tables(dynamodb: Any) -> Any:
    return dynamodb


def fresh_harness(client: Any, name: str) -> Harness:
    """The template's tables under their own names (one set per way of building reports)."""
    definitions = dynamodb_tables(load_template())
    names = {"EventsTable": f"Events{name}", "ReportsTable": f"Reports{name}"}
    for logical_id, table in names.items():
        if table in client.list_tables()["TableNames"]:
            client.delete_table(TableName=table)
        client.create_table(**{**definitions[logical_id], "TableName": table})
    return Harness(
        client, HubSettings(events_table=names["EventsTable"], reports_table=names["ReportsTable"])
    )


def local_text(moment: datetime) -> str:
    return moment.astimezone(ZONE).strftime("%Y-%m-%d %H:%M:%S")


def random_day(rng: random.Random, day: date) -> list[dict[str, str]]:
    """Agents' states across the day and its midnights, and calls with their agents' work."""
    begin = datetime.combine(day - timedelta(days=1), time(20), tzinfo=ZONE)
    span = int((datetime.combine(day + timedelta(days=1), time(4), tzinfo=ZONE) - begin).total_seconds())
    sent: list[dict[str, str]] = []
    event_id = iter(range(1, 10**6))
    for agent in AGENTS[: rng.randint(1, 3)]:
        for _ in range(rng.randint(1, 14)):
            at = begin + timedelta(seconds=rng.randint(0, span), milliseconds=rng.choice((0, 250)))
            state = rng.choice(STATES)
            params = {"cmd": "agentstate", "agentid": agent, "mode": "0", "state": state}
            params["eventtime"] = str(int(at.timestamp() * 1000))
            if state in ("connected", "working", "outconnect", "outworking") and rng.random() < 0.8:
                params["taskid"] = rng.choice(TASKS)
            if state == "paused":
                params["pause-reason"] = rng.choice(("Kaffee", "Technik"))
            sent.append(params)
    for task in TASKS[: rng.randint(0, len(TASKS))]:
        start = begin + timedelta(seconds=rng.randint(0, span))
        common = {"cmd": "callevent", "taskid": task}
        sent.append(
            {
                **common,
                "id": str(next(event_id)),
                "eventtype": "CallStart",
                "eventtime": local_text(start),
                "mode": rng.choice("001"),
                "hotlineid": rng.choice(("501", "502")),
            }
        )
        at = start
        for kind in rng.sample(
            ["Connected", "Holdstart", "Holdstop", "Connected", "Mailbox", "CallEnd"], rng.randint(0, 4)
        ):
            at += timedelta(seconds=rng.randint(1, 400))
            extra = {"agentid": rng.choice(AGENTS)} if kind == "Connected" else {}
            sent.append(
                {**common, "id": str(next(event_id)), "eventtype": kind, "eventtime": local_text(at), **extra}
            )
    return sent


def deliver(harness: Harness, items: list[dict[str, Any]], rng: random.Random) -> None:
    """Random order, duplicates, random batch sizes, some batches retried."""
    delivery = items + rng.sample(items, k=len(items) // 4)
    rng.shuffle(delivery)
    while delivery:
        size = rng.randint(1, 12)
        batch, delivery = delivery[:size], delivery[size:]
        for _ in range(2 if rng.random() < 0.2 else 1):
            assert harness.run(harness.agents(), batch) == {"batchItemFailures": []}
            assert harness.run(harness.calls(), batch) == {"batchItemFailures": []}


def every_report(harness: Harness, sent: list[dict[str, str]], day: date) -> dict[str, Any]:
    queries = ReportQueries(
        harness.log.client, harness.settings.reports_table, harness.settings.cmd_day_shards
    )
    days = [d.isoformat() for d in (day - timedelta(days=1), day, day + timedelta(days=1))]
    out: dict[str, Any] = {}
    for agent in AGENTS:
        for each in days:
            day_report = queries.agent_day(agent, each)
            out[f"agent {agent} {each}"] = day_report and replace(
                day_report, latest_event=None, updated_at=None
            )
    for hotline in ("501", "502"):
        for each in days:
            kpis = queries.kpis(hotline, each)
            out[f"kpis {hotline} {each}"] = kpis and replace(kpis, updated_at=None)
            out[f"calls {hotline} {each}"] = queries.calls(hotline, each)
    for task in {p["taskid"] for p in sent if "taskid" in p}:
        out[f"call {task}"] = queries.call(task)
    out["board"] = queries.board()
    return out


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1), day=st.sampled_from(DAYS))
def test_incremental_reports_equal_the_rebuild(tables: Any, seed: int, day: date) -> None:
    rng = random.Random(seed)
    sent = random_day(rng, day)

    live = fresh_harness(tables, "Live")
    deliver(live, [live.store_event(p) for p in sent], rng)

    rebuilt = fresh_harness(tables, "Rebuilt")
    for params in sent:
        rebuilt.store_event(params)
    days = days_between((day - timedelta(days=2)).isoformat(), (day + timedelta(days=2)).isoformat())
    Rebuilder(rebuilt.log, rebuilt.reports, rebuilt.settings).days(days)

    expected = every_report(rebuilt, sent, day)
    shown = every_report(live, sent, day)
    assert shown.keys() == expected.keys()
    for name in expected:
        assert shown[name] == expected[name], name


def test_a_rebuild_repairs_broken_reports_and_changes_nothing_the_second_time(tables: Any) -> None:
    rng = random.Random(4)
    day = DAYS[0]
    sent = random_day(random.Random(21), day)
    harness = fresh_harness(tables, "Repair")
    deliver(harness, [harness.store_event(p) for p in sent], rng)
    before = every_report(harness, sent, day)
    agent = next(p["agentid"] for p in sent if p["cmd"] == "agentstate")

    # Break things the way a bug or a lost batch would: a day's totals, a hotline's counters.
    broken = harness.reports.agent_day(agent, day.isoformat()) or harness.reports.agent_day(
        agent, (day - timedelta(days=1)).isoformat()
    )
    assert broken is not None
    harness.reports.write_batch([harness.reports.item_of(replace(broken, state_ms={"online": 1}))], [])
    harness.reports.add_counters(CounterKey("501", day.isoformat(), 0), {"offered": 7})
    assert every_report(harness, sent, day) != before

    days = days_between((day - timedelta(days=2)).isoformat(), (day + timedelta(days=2)).isoformat())
    summary = Rebuilder(harness.log, harness.reports, harness.settings).days(days)
    assert summary.counters_corrected >= 1
    assert every_report(harness, sent, day) == before

    again = Rebuilder(harness.log, harness.reports, harness.settings).days(days)
    assert (again.items_written, again.items_deleted, again.counters_corrected) == (0, 0, 0)
    assert every_report(harness, sent, day) == before


def test_sharded_kpi_counters_sum_to_the_same_figures(tables: Any) -> None:
    """A big hotline's counters are spread over partitions (README "Capacity"); read back, the
    sums are the figures one partition gives."""
    day = DAYS[0]
    rng = random.Random(40)
    begin = datetime.combine(day, time(8), tzinfo=ZONE)
    sent = []
    for number in range(60):
        task, start = f"5ead{number:02x}", begin + timedelta(seconds=rng.randint(0, 8 * 3600))
        common = {"cmd": "callevent", "taskid": task, "mode": "0", "hotlineid": rng.choice(("501", "502"))}
        sent.append({**common, "id": f"{number}1", "eventtype": "CallStart", "eventtime": local_text(start)})
        answered = start + timedelta(seconds=rng.randint(1, 60))
        if rng.random() < 0.7:
            sent.append(
                {**common, "id": f"{number}2", "eventtype": "Connected", "eventtime": local_text(answered)}
            )
        sent.append(
            {
                **common,
                "id": f"{number}3",
                "eventtype": "CallEnd",
                "eventtime": local_text(answered + timedelta(seconds=99)),
            }
        )
    shown = {}
    for shards in (1, 5):
        harness = fresh_harness(tables, f"Shards{shards}")
        harness.settings = HubSettings(
            events_table=harness.settings.events_table,
            reports_table=harness.settings.reports_table,
            kpi_shards=shards,
        )
        deliver(harness, [harness.store_event(p) for p in sent], random.Random(shards))
        queries = ReportQueries(harness.log.client, harness.settings.reports_table, 8, kpi_shards=shards)
        kpis = {h: queries.kpis(h, day.isoformat()) for h in ("501", "502")}
        shown[shards] = {h: report and replace(report, updated_at=None) for h, report in kpis.items()}
        used = {
            s
            for s in range(shards)
            for h in ("501", "502")
            if harness.reports.counters(h, day.isoformat(), s)
        }
        assert len(used) == shards  # the counters really are spread
    assert any(shown[1].values())
    assert shown[5] == shown[1]
