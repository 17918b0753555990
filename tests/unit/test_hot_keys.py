"""Hot keys spread (issue 15 row 6): a hotline day's call listing and wait index over
``listing_shards`` partitions, the board over ``board_shards``, the counters over
``kpi_shards``; the counts are recorded with the reports, so readers never guess, and a change
of count on a running stack leaves the reports exact, late changes to calls written under the
old counts included."""

from __future__ import annotations

import random
from collections import Counter
from datetime import date, datetime, time, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from acd_cli.reporting import ReportQueries
from acd_hub.rebuild import Rebuilder
from acd_hub.settings import HubSettings
from tests.support import (
    DAYS,
    REPORT_ZONE,
    Harness,
    around,
    assert_same_reports,
    deliver,
    every_report,
    fresh_harness,
    random_day,
    rebuilt_reports,
    short_call,
)

DAY = date(2026, 11, 20)


def busy_hotline(calls: int, rng: random.Random) -> list[dict[str, str]]:
    """Answered calls of hotline 501, and the agents who took them."""
    begin = datetime.combine(DAY, time(8), tzinfo=REPORT_ZONE)
    sent = []
    for number in range(calls):
        task, start = f"b05e{number:04x}", begin + timedelta(seconds=rng.randint(0, 8 * 3600))
        answered = start + timedelta(seconds=rng.randint(1, 60))
        agent = f"{100100 + number % 40}"
        sent += [
            *short_call(number, task, "501", start, answered, agent=agent),
            {
                "cmd": "agentstate",
                "agentid": agent,
                "mode": "0",
                "state": "connected",
                "taskid": task,
                "eventtime": str(int(answered.timestamp() * 1000)),
            },
        ]
    return sent


def with_counts(harness: Harness, **counts: int) -> Harness:
    """The same tables, written by functions deployed with other shard counts."""
    return Harness(
        harness.log.client,
        HubSettings(
            events_table=harness.settings.events_table, reports_table=harness.settings.reports_table, **counts
        ),
    )


def partitions(harness: Harness, prefix: str) -> Counter[str]:
    table = harness.log.client.tables[harness.settings.reports_table]
    return Counter(str(pk) for pk, _ in table.items if str(pk).startswith(prefix))


def test_the_listing_and_the_board_spread_over_their_shards(memory_dynamodb: Any) -> None:
    """Today's code wrote a hotline day's listing to one key, its wait index to one more, and the
    board over the cmd-day count: at 100x a large center ~2,300 WCU/s on one key (1,000 allowed).
    (No wait index now: the longest waits are read from the listing.)"""
    harness = with_counts(fresh_harness(memory_dynamodb, "Spread"), listing_shards=4, board_shards=5)
    deliver(harness, [harness.store_event(p) for p in busy_hotline(400, random.Random(3))], random.Random(4))

    listing = partitions(harness, "CALLS#501#")
    assert len(listing) == 4
    assert sum(listing.values()) == 400
    assert max(listing.values()) < 400 / 4 * 1.4  # each takes about a quarter of the writes
    assert not partitions(harness, "WAIT#")
    board = partitions(harness, "BOARD#")
    assert len(board) == 5
    assert sum(board.values()) == 40

    # readers told nothing of the counts read them from the reports
    queries = ReportQueries(memory_dynamodb, harness.settings.reports_table, 1, kpi_shards=1)
    assert len(queries.calls("501", DAY.isoformat())) == 400
    kpis = queries.kpis("501", DAY.isoformat())
    assert kpis is not None
    assert (kpis.day.offered, kpis.day.answered) == (400, 400)
    assert kpis.day.max_wait_s == 60
    assert len(queries.board()) == 40


COUNTS = st.fixed_dictionaries(
    {
        "kpi_shards": st.integers(1, 6),
        "listing_shards": st.integers(1, 6),
        "board_shards": st.integers(1, 6),
    }
)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1), day=st.sampled_from(DAYS), before=COUNTS, after=COUNTS)
def test_a_change_of_shard_counts_mid_day_leaves_the_reports_exact(
    memory_dynamodb: Any, seed: int, day: date, before: dict[str, int], after: dict[str, int]
) -> None:
    """Half of a day's events delivered under some counts, the rest (late events of the same
    calls and agents among them) under others: a call changed late is retracted from where it
    was written, and readers with no count given show what a rebuild under one count shows."""
    rng = random.Random(seed)
    sent = random_day(rng, day)
    live = fresh_harness(memory_dynamodb, "Changed")
    items = [live.store_event(p) for p in sent]
    rng.shuffle(items)
    half = len(items) // 2
    deliver(with_counts(live, **before), items[:half], rng)
    deliver(with_counts(live, **after), items[half:], rng)

    expected = rebuilt_reports(memory_dynamodb, "OneCount", sent, day)
    assert_same_reports(every_report(live, sent, day), expected)

    # and a rebuild of the changed day under yet other counts changes nothing
    third = with_counts(live, kpi_shards=3, listing_shards=2, board_shards=2)
    Rebuilder(third.log, third.reports, third.settings).days(around(day))
    assert_same_reports(every_report(live, sent, day), expected)
