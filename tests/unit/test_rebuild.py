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
from acd_hub.adapters.dynamodb import wire_key
from acd_hub.adapters.reports_table import counter_key, day_hotline_key
from acd_hub.call_aggregator import CallStatsAggregator
from acd_hub.keys import shard_of
from acd_hub.ports import Put
from acd_hub.rebuild import Rebuilder
from acd_hub.reports.hotline_day import CounterKey, WaitEntry
from acd_hub.settings import HubSettings
from tests.support import (
    DAYS,
    REPORT_ZONE,
    Harness,
    around,
    assert_same_reports,
    call_event,
    deliver,
    every_report,
    fresh_harness,
    random_day,
    rebuilt_reports,
    short_call,
)


@pytest.fixture
def tables(memory_dynamodb: Any) -> Any:
    return memory_dynamodb


def aggregated_random_day(
    tables: Any, name: str, *, seed: int, order: int
) -> tuple[Harness, list[dict[str, str]], date]:
    """A random day (``seed``) stored in tables of its own and aggregated in a shuffled ``order``."""
    day = DAYS[0]
    sent = random_day(random.Random(seed), day)
    harness = fresh_harness(tables, name)
    deliver(harness, [harness.store_event(p) for p in sent], random.Random(order))
    return harness, sent, day


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1), day=st.sampled_from(DAYS))
def test_incremental_reports_equal_the_rebuild(tables: Any, seed: int, day: date) -> None:
    rng = random.Random(seed)
    sent = random_day(rng, day)

    live = fresh_harness(tables, "Live")
    deliver(live, [live.store_event(p) for p in sent], rng)

    assert_same_reports(every_report(live, sent, day), rebuilt_reports(tables, "Rebuilt", sent, day))


def test_a_rebuild_repairs_broken_reports_and_changes_nothing_the_second_time(tables: Any) -> None:
    harness, sent, day = aggregated_random_day(tables, "Repair", seed=21, order=4)
    before = every_report(harness, sent, day)
    agent = next(p["agentid"] for p in sent if p["cmd"] == "agentstate")

    # Break things the way a bug or a lost batch would: a day's totals, a hotline's counters.
    broken = harness.reports.agent_day(agent, day.isoformat()) or harness.reports.agent_day(
        agent, (day - timedelta(days=1)).isoformat()
    )
    assert broken is not None
    harness.reports.write_batch([harness.reports.item_of(replace(broken, state_ms={"online": 1}))], [])
    counted = next(  # an interval's: a day's counters are its intervals' summed on read
        key
        for hotline in before[f"hotlines {day.isoformat()}"]
        for shard in range(harness.settings.kpi_shards)
        for key in harness.reports.counters(str(hotline), day.isoformat(), shard)
    )
    harness.reports.client.update_item(  # a counter gone wrong (a bug): 7 calls too many
        TableName=harness.settings.reports_table,
        Key=wire_key(counter_key(counted)),
        UpdateExpression="ADD offered :seven",
        ExpressionAttributeValues={":seven": {"N": "7"}},
    )
    # ... and a day aggregated before its hotlines were listed under it (HOTLINES#<day>)
    hotlines = before[f"hotlines {day.isoformat()}"]
    assert hotlines
    harness.reports.write_batch([], [day_hotline_key(hotline, day.isoformat()) for hotline in hotlines])
    assert every_report(harness, sent, day) != before

    days = around(day)
    summary = Rebuilder(harness.log, harness.reports, harness.settings).days(days)
    assert summary.counters_corrected >= 1
    assert every_report(harness, sent, day) == before

    again = Rebuilder(harness.log, harness.reports, harness.settings).days(days)
    assert (again.items_written, again.items_deleted, again.counters_corrected) == (0, 0, 0)
    assert every_report(harness, sent, day) == before


def stored_reports(harness: Harness) -> list[dict[str, Any]]:
    """Every item of the reports table as stored (versions and updated_at included)."""
    pages = harness.reports.client.get_paginator("scan").paginate(TableName=harness.settings.reports_table)
    return sorted(
        (item for page in pages for item in page["Items"]), key=lambda i: (str(i["pk"]), str(i["sk"]))
    )


def test_a_second_rebuild_leaves_every_item_as_it_was(tables: Any) -> None:
    """'Idempotent (a second run writes nothing)': a second rebuild of the same days writes no
    item, its agent days included (each was put again, a new version and updated_at, every run,
    while the rebuild said it wrote nothing)."""
    harness, _sent, day = aggregated_random_day(tables, "Twice", seed=21, order=4)
    days = around(day)
    Rebuilder(harness.log, harness.reports, harness.settings).days(days)
    once = stored_reports(harness)

    again = Rebuilder(harness.log, harness.reports, harness.settings).days(days)
    assert again.agent_days > 0
    assert (again.items_written, again.items_deleted, again.counters_corrected) == (0, 0, 0)
    assert stored_reports(harness) == once


def test_sharded_kpi_counters_sum_to_the_same_figures(tables: Any) -> None:
    """A big hotline's counters are spread over partitions (README "Capacity"); read back, the
    sums are the figures one partition gives."""
    day = DAYS[0]
    rng = random.Random(40)
    begin = datetime.combine(day, time(8), tzinfo=REPORT_ZONE)
    sent = []
    for number in range(60):
        task, start = f"5ead{number:02x}", begin + timedelta(seconds=rng.randint(0, 8 * 3600))
        hotline = rng.choice(("501", "502"))
        answered = start + timedelta(seconds=rng.randint(1, 60))
        sent += short_call(number, task, hotline, start, answered, connected=rng.random() < 0.7)
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


def test_a_call_counted_while_the_rebuild_reads_the_hotline_day_is_not_subtracted(tables: Any) -> None:
    """The race the stream and acd-admin rebuild ran on AWS: a call the stream counts after the
    rebuild read the day's listing, but before it read the counters, must not be corrected away
    (it stayed subtracted until a later quiet rebuild)."""
    harness = Harness(tables)
    for task, hour in (("a", "09"), ("b", "10")):
        items = [
            harness.store_event(
                call_event(f"2025-11-20 {hour}:00:00", "CallStart", mode="0", hotlineid="501", taskid=task)
            ),
            harness.store_event(call_event(f"2025-11-20 {hour}:00:10", "CallEnd", taskid=task)),
        ]
        if task == "a":
            assert harness.run(harness.calls(), items) == {"batchItemFailures": []}
        else:
            late = items
    real_listing = harness.reports.listed_calls
    counted: list[bool] = []

    def listing_then_the_stream_counts_b(hotline: str, day: str, shards: int) -> Any:
        listing = real_listing(hotline, day, shards)
        if not counted:
            counted.append(True)
            assert harness.run(harness.calls(), late) == {"batchItemFailures": []}
        return listing

    harness.reports.listed_calls = listing_then_the_stream_counts_b  # type: ignore[method-assign]
    Rebuilder(harness.log, harness.reports, harness.settings).hotline_day("501", "2025-11-20")
    queries = ReportQueries(
        harness.log.client, harness.settings.reports_table, harness.settings.cmd_day_shards
    )
    kpis = queries.kpis("501", "2025-11-20")
    assert kpis is not None
    assert kpis.day.offered == 2


def test_a_shard_count_recorded_during_the_rebuilds_correction_is_not_overwritten(tables: Any) -> None:
    """The rebuild computes its correction over the shards the recorded counts name. A writer
    with another listing count that moves a call's listing copy to a shard the rebuild did not
    read, between the rebuild's reads and its correcting transaction, touches no counter the
    rebuild read: only the recorded counts tell. The correction waits for a fresh read (the
    call listed once, where its summary says)."""
    harness = Harness(tables)
    day = "2025-11-20"
    old, new = harness.settings.listing_shards, 2 * harness.settings.listing_shards
    task = next(t for t in (f"5ead{n:04x}" for n in range(100)) if shard_of(t, old) != shard_of(t, new))
    answered = [
        call_event(f"{day} 09:00:00", "CallStart", mode="0", hotlineid="501", taskid=task),
        call_event(f"{day} 09:00:12", "Connected", agentid="100001", taskid=task),
        call_event(f"{day} 09:02:00", "CallEnd", taskid=task),
    ]
    assert harness.run(harness.calls(), [harness.store_event(p) for p in answered]) == {
        "batchItemFailures": []
    }
    stored = harness.reports.call(task)
    assert stored is not None
    assert stored.contribution is not None
    (counted,) = harness.reports.counters("501", day, shard_of(task, harness.settings.kpi_shards))
    harness.reports.client.update_item(  # a counter gone wrong: what a rebuild repairs
        TableName=harness.settings.reports_table,
        Key=wire_key(counter_key(counted)),
        UpdateExpression="ADD offered :seven",
        ExpressionAttributeValues={":seven": {"N": "7"}},
    )

    # A container with the new listing count sees the call's recording start: a listed field
    # changes (not the counters), so its listing moves to its shard under the new count.
    recording = harness.store_event({"cmd": "recordedcall", "taskid": task, "eventtime": f"{day} 10:01:00"})
    moved = harness.settings.model_copy(update={"listing_shards": new})
    real_commit = harness.reports.commit
    interleaved: list[bool] = []

    def the_stream_moves_the_call_first(writes: Any) -> None:
        if not interleaved:
            interleaved.append(True)
            live = CallStatsAggregator(harness.log, harness.reports, moved)
            assert harness.run(live, [recording]) == {"batchItemFailures": []}
        real_commit(writes)

    harness.reports.commit = the_stream_moves_the_call_first  # type: ignore[method-assign]
    Rebuilder(harness.log, harness.reports, harness.settings).hotline_day("501", day)
    harness.reports.commit = real_commit  # type: ignore[method-assign]
    assert interleaved
    listed = harness.reports.listed_calls("501", day, new)
    assert [(c.summary.task_id, c.shard) for c in listed] == [(task, shard_of(task, new))]
    assert harness.reports.counters("501", day, counted.shard)[counted]["offered"] == 1
    assert not harness.reports.waits("501", day, None, new)


def test_a_day_counted_with_day_items_reads_from_its_intervals_and_the_rebuild_drops_them(
    tables: Any,
) -> None:
    """Versions before wrote a hotline day's counters twice: a ``DAY`` item per shard (with the
    service-level target) beside the intervals. A deployed table has such days: they read the
    same, a day item a later change passed by is not believed, and the rebuild deletes them."""
    harness, sent, day = aggregated_random_day(tables, "DayItems", seed=22, order=5)
    before = every_report(harness, sent, day)
    queries = ReportQueries(harness.log.client, harness.settings.reports_table, 8)
    hotlines = sorted(h for h in ("501", "502", "503") if queries.kpis(h, day.isoformat()))
    assert hotlines
    shown = {h: replace(queries.kpis(h, day.isoformat()), updated_at=None) for h in hotlines}
    client, table = harness.reports.client, harness.settings.reports_table
    day_items = []
    for hotline in hotlines:
        for shard in range(harness.settings.kpi_shards):
            intervals = harness.reports.counters(hotline, day.isoformat(), shard)
            if not intervals:
                continue
            for key in intervals:  # the intervals of before named no service-level target
                client.update_item(
                    TableName=table, Key=wire_key(counter_key(key)), UpdateExpression="REMOVE sl_seconds"
                )
            day_key = CounterKey(hotline, day.isoformat(), shard)
            day_items.append(day_key)
            client.put_item(  # and a day item a change after the upgrade passed by: 3 too many
                TableName=table,
                Item=harness.reports.encode(
                    {
                        "pk": counter_key(day_key)[0],
                        "sk": "DAY",
                        "kind": "kpi_counters",
                        "hotline": hotline,
                        "date": day.isoformat(),
                        "sl_seconds": harness.settings.service_level_seconds,
                        "offered": sum(c.get("offered", 0) for c in intervals.values()) + 3,
                    }
                ),
            )
    assert day_items
    interval_waits = [  # ... and waits in an index per interval, which nothing reads now
        WaitEntry(
            hotline, day.isoformat(), listed.summary.interval, 1_000, listed.summary.task_id, listed.shard
        )
        for hotline in hotlines
        for listed in harness.reports.listed_calls(hotline, day.isoformat(), harness.settings.listing_shards)
        if (stored := harness.reports.call(listed.summary.task_id)) and stored.contribution
    ]
    assert interval_waits
    harness.reports.commit([Put(wait) for wait in interval_waits])
    for hotline in hotlines:
        assert replace(queries.kpis(hotline, day.isoformat()), updated_at=None) == shown[hotline]

    summary = Rebuilder(harness.log, harness.reports, harness.settings).days(around(day))
    assert summary.counters_corrected >= len(day_items)
    for key in day_items:
        assert client.get_item(TableName=table, Key=wire_key(counter_key(key))).get("Item") is None
    assert summary.items_deleted >= len(interval_waits)
    for wait in interval_waits:
        assert wait not in harness.reports.waits(wait.hotline, wait.day, wait.interval, wait.shard + 1)
    for hotline in hotlines:
        assert replace(queries.kpis(hotline, day.isoformat()), updated_at=None) == shown[hotline]
    assert every_report(harness, sent, day) == before
    again = Rebuilder(harness.log, harness.reports, harness.settings).days(around(day))
    assert (again.items_written, again.items_deleted, again.counters_corrected) == (0, 0, 0)
