"""The real stream function (``functions/stats``: both aggregators side by side) on a stream of
several shards, as AWS runs them and the local stack cannot: shards read concurrently in any
interleaving, batches of any size, Lambda's partial-batch retries, bisect and on-failure
destination, and DynamoDB's faults (throttling, conflicts, a commit whose answer timed out,
unprocessed keys). Events arrive while the functions run (live arrival), from a producer that
retries what the ingest would answer 503, as the ACD does.

Properties, for random days (DST, midnights, late and reordered events), 1 to 8 shards, any
interleaving and any injected faults:

* once every shard is drained (and what was given up on redriven), the live reports equal a
  rebuild from the event log, field by field;
* no agent state is counted twice or lost (each one is exactly one interval of its day's
  timeline), and no call is (each call of the day is listed once);
* a record that exhausts its retries is in the on-failure destination, and a redrive repairs
  the day;
* at any moment of the run, the reports' freshness never claims more than is true: no record
  received up to what a consumer says is complete is still unhandled in any shard it has noted
  (records given up on are the on-failure destination's; a shard not yet noted at all is what
  no note can tell, see ``acd_hub/freshness.py``).
"""

from __future__ import annotations

import itertools
import os
import random
import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from acd_cli.reporting import ReportReads
from acd_devkit.memory_dynamodb import NO_FAULTS, Faults, MemoryDynamoDB
from acd_devkit.memory_stream import StreamRun, mappings
from acd_devkit.template import dynamodb_tables, load_template
from acd_hub.errors import StoreUnavailable
from acd_hub.freshness import consumer_freshness
from acd_hub.rebuild import Rebuilder, days_between
from acd_hub.reports import freshness_notes
from tests.support import (
    DAYS,
    REPORT_ZONE,
    Harness,
    agent_state,
    every_report,
    random_day,
    rebuilt_reports,
    stream_functions,
)

pytestmark = pytest.mark.aws_faults

DEEP = os.environ.get("FUZZ_DEPTH") == "deep"
EXAMPLES = 5_000 if DEEP else 200
TABLES = dynamodb_tables(load_template())
MAPPINGS = mappings()
REPORT_OPERATIONS = frozenset({"TransactWriteItems", "BatchGetItem", "GetItem", "Query", "UpdateItem"})


def store_all(harness: Harness, sent: list[dict[str, str]], rng: random.Random) -> None:
    """The ACD's deliveries in a random order, some twice; a 503 is sent again, as the ACD does.
    Each is received now (a clock that never repeats a millisecond), as the ingest stamps it."""
    deliveries = sent + rng.sample(sent, k=len(sent) // 5)
    rng.shuffle(deliveries)
    last = datetime.now(UTC)
    for params in deliveries:
        last = max(datetime.now(UTC), last + timedelta(milliseconds=1))
        for _attempt in range(50):
            try:
                harness.store_event(params, received=last)
                break
            except StoreUnavailable:
                continue
        else:
            raise AssertionError("the store stayed unavailable for 50 attempts")


def live_reports(
    seed: int,
    shards: int,
    day: date,
    faults: Faults,
    *,
    scheduled: bool = True,
    sent: list[dict[str, str]] | None = None,
) -> tuple[dict[str, Any], StreamRun, list[dict[str, str]]]:
    rng = random.Random(seed)
    sent = random_day(rng, day) if sent is None else sent
    db = MemoryDynamoDB(TABLES, shards=shards, faults=faults)
    harness = Harness(db)
    with stream_functions(db) as functions:
        run = StreamRun(
            db,
            harness.settings.events_table,
            {name: (MAPPINGS[name], handler) for name, handler in functions.items()},
            seed=seed if scheduled else None,
        )
        stored = threading.Event()

        def store() -> None:
            store_all(harness, sent, random.Random(seed + 1))
            stored.set()

        checks = [store, freshness_checker(run, harness, stored)] if scheduled else [store]
        run.drain(*checks)
        assert run.drained()
        for name, consumer in run.consumers.items():
            assert not consumer.false_claims, f"{name}: a note claimed records its answer then failed"
        db.faults = NO_FAULTS  # the outage is over: what was given up on is redriven
        for name in run.consumers:
            run.redrive(name)
            assert run.consumers[name].dead_letters == [], "a redrive with the store healthy succeeds"
    return every_report(harness, sent, day), run, sent


# Both consumers' notes are checked against the one function that reads the stream for them.
CONSUMERS = {"agent-stats": "StatsFunction", "call-stats": "StatsFunction"}


def freshness_checker(run: StreamRun, harness: Harness, stored: threading.Event) -> Callable[[], None]:
    """A reader of ``acd-report freshness`` among the shards' readers: each of its reads is one
    step of the seeded interleaving, and what it reads is checked against the stream right
    away (no other thread runs between a request and the next)."""

    def check() -> None:
        while True:
            finished = stored.is_set() and run.drained()
            try:
                notes = freshness_notes.notes(ReportReads(harness.reports))
            except Exception:  # an injected fault on the reader's own query: read again
                continue
            for consumer in consumer_freshness(notes):
                if consumer.complete_to_ms is None:
                    continue
                noted = {n.shard for n in notes if n.consumer == consumer.consumer}
                missing = run.unhandled(CONSUMERS[consumer.consumer], noted, consumer.complete_to_ms)
                assert not missing, (
                    f"{consumer.consumer} claims complete to {consumer.complete_to_ms}, "
                    f"but {len(missing)} record(s) received by then are unhandled"
                )
            if finished:
                return

    return check


def rebuilt_alone(sent: list[dict[str, str]], day: date) -> dict[str, Any]:
    """The reports a rebuild computes from ``sent`` alone, in a DynamoDB of their own."""
    return rebuilt_reports(MemoryDynamoDB(TABLES), "Rebuilt", sent, day)


def assert_each_event_counted_once(shown: dict[str, Any], sent: list[dict[str, str]], day: date) -> None:
    harness_zone = Harness(MemoryDynamoDB(TABLES)).settings.report_zone
    for name, report in shown.items():
        if not name.startswith("agent ") or report is None:
            continue
        _, agent, each = name.split()
        # one per distinct event, as the ingest keys them (a hash of the parameters): two
        # states of one agent in the same millisecond are two events, a redelivery is not
        states = {
            tuple(sorted(p.items()))
            for p in sent
            if p["cmd"] == "agentstate"
            and p["agentid"] == agent
            and _day_of(int(p["eventtime"]), harness_zone) == each
        }
        own = [i for i in report.timeline if not i.carried]
        assert len(own) == len(states), f"{name}: {len(own)} intervals for {len(states)} states"
    for name, calls in shown.items():
        if name.startswith("calls "):
            task_ids = [call.task_id for call in calls]
            assert len(task_ids) == len(set(task_ids)), f"{name}: a call listed twice"
    del day


def _day_of(ms: int, zone: Any) -> str:
    from datetime import UTC, datetime  # noqa: PLC0415

    return datetime.fromtimestamp(ms / 1000, tz=UTC).astimezone(zone).date().isoformat()


def some_faults(seed: int, level: int) -> Faults:
    """No faults, a few, or a bad day (level 0..2), on the aggregators' requests."""
    rate = (0.0, 0.02, 0.1)[level]
    return Faults(
        seed=seed,
        throttle=rate,
        conflict=rate,
        throttle_item=rate,
        timeout_after_commit=rate,
        unprocessed=rate * 2,
        operations=REPORT_OPERATIONS,
    )


@pytest.mark.slow
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=not DEEP,
)
@given(
    seed=st.integers(0, 2**32 - 1),
    shards=st.integers(1, 8),
    day=st.sampled_from(DAYS),
    fault_level=st.integers(0, 2),
)
def test_live_reports_on_several_shards_equal_a_rebuild(
    seed: int, shards: int, day: date, fault_level: int
) -> None:
    shown, run, sent = live_reports(seed, shards, day, some_faults(seed, fault_level))
    expected = rebuilt_alone(sent, day)
    assert shown.keys() == expected.keys()
    for name in expected:
        assert shown[name] == expected[name], f"{name} (seed {seed}, {shards} shards, faults {fault_level})"
    assert_each_event_counted_once(shown, sent, day)
    assert all(c.invocations for c in run.consumers.values())


def dialer_across_midnight(day: date, count: int, seed: int) -> list[dict[str, str]]:
    """A dialer agent's states every 10 s from 20 minutes before local midnight (talking on its
    own calls, a pause now and then), shuffled: the agent's two days are two partitions of the
    events table, so two shards may write its chain at once."""
    begin = datetime.combine(day, datetime.min.time(), tzinfo=REPORT_ZONE) - timedelta(minutes=20)
    cycle = ("online", "outconnect", "outworking")
    sent = []
    for number in range(count):
        state = "paused" if number % 17 == 16 else cycle[number % 3]
        extra = {"taskid": f"d1a1{number // 3:06x}"} if state in ("outconnect", "outworking") else {}
        if state == "paused":
            extra["pause-reason"] = "Kaffee"
        at = int((begin + timedelta(seconds=10 * number)).timestamp() * 1000)
        sent.append(agent_state(at, state, mode="1", **extra))
    random.Random(seed).shuffle(sent)
    return sent


@pytest.mark.slow
@pytest.mark.parametrize(("seed", "shards"), [(15, 2), (16, 4)])
def test_a_dialer_agents_shuffled_night_on_several_shards_equals_a_rebuild(seed: int, shards: int) -> None:
    """Issue 15's dialer day, shortened, across midnight, with a bad day's faults: the agent's
    events of one batch in one transaction, beside the other day's shard writing the same
    chain; once drained, its reports equal a rebuild and each state is one interval."""
    day = DAYS[0]
    sent = dialer_across_midnight(day, 240, seed)
    shown, _run, sent = live_reports(seed, shards, day, some_faults(seed, 2), sent=sent)
    expected = rebuilt_alone(sent, day)
    for name in expected:
        assert shown[name] == expected[name], f"{name} (seed {seed}, {shards} shards)"
    assert_each_event_counted_once(shown, sent, day)
    nights = [shown[f"agent 100001 {each}"] for each in ("2026-11-19", "2026-11-20")]
    assert sum(sum(night.state_seconds.values()) for night in nights) == 10 * 239, "all but the last closed"


def test_a_seeded_interleaving_is_reproducible() -> None:
    """The same seed gives the same interleaving: the same invocations, the same reports."""
    first = live_reports(7, 4, DAYS[2], some_faults(7, 1))
    second = live_reports(7, 4, DAYS[2], some_faults(7, 1))
    assert [c.invocations for c in first[1].consumers.values()] == [
        c.invocations for c in second[1].consumers.values()
    ]
    assert first[0] == second[0]


def test_several_shards_really_interleave() -> None:
    """Not one shard after another: a consumer's batches of different shards alternate."""
    order: list[int] = []
    lock = threading.Lock()
    db = MemoryDynamoDB(TABLES, shards=4)
    harness = Harness(db)
    sent = random_day(random.Random(3), DAYS[0])
    for params in sent:
        harness.store_event(params)
    streams = db.stream(harness.settings.events_table)

    def handler(event: dict[str, Any], _context: Any) -> dict[str, Any]:
        first = event["Records"][0]["dynamodb"]["SequenceNumber"]
        shard = next(
            i
            for i, records in enumerate(streams.shards)
            if any(r["dynamodb"]["SequenceNumber"] == first for r in records)
        )
        with lock:
            order.append(shard)
        db.get_item(TableName=harness.settings.reports_table, Key={"pk": {"S": "x"}, "sk": {"S": "y"}})
        return {"batchItemFailures": []}

    run = StreamRun(
        db,
        harness.settings.events_table,
        {"StatsFunction": (replace(MAPPINGS["StatsFunction"], batch_size=1), handler)},
        seed=5,
        random_batch_sizes=False,
    )
    run.drain()
    assert len(set(order)) > 1
    switches = sum(1 for a, b in itertools.pairwise(order) if a != b)
    assert switches > len(set(order)) - 1, f"shards ran one after another: {order}"


def test_the_two_aggregators_are_scheduled_side_by_side() -> None:
    """The stats function runs its aggregators in two threads of their own: the seeded scheduler
    draws their requests like any reader's, so they interleave with each other (and the other
    shards), the same way for the same seed."""

    def requests_by_thread(seed: int) -> list[str]:
        db = MemoryDynamoDB(TABLES, shards=2)
        harness = Harness(db)
        for params in random_day(random.Random(4), DAYS[0]):
            harness.store_event(params)
        order: list[str] = []
        enter = db._enter

        def recording(operation: str) -> None:
            enter(operation)
            order.append(threading.current_thread().name)

        db._enter = recording  # type: ignore[method-assign]
        with stream_functions(db) as functions:
            run = StreamRun(
                db,
                harness.settings.events_table,
                {n: (MAPPINGS[n], h) for n, h in functions.items()},
                seed=seed,
            )
            run.drain()
        assert run.drained()
        return order

    order = requests_by_thread(9)
    assert order == requests_by_thread(9)
    children = [name for name in order if name.count(".") == 1]
    assert {name.rsplit(".", 1)[1] for name in children} == {"0", "1"}, "both aggregators made requests"
    switches = sum(
        1 for a, b in itertools.pairwise(children) if a.rsplit(".", 1)[0] == b.rsplit(".", 1)[0] and a != b
    )
    assert switches > 1, f"one aggregator ran after the other: {children}"


def test_real_threads_on_several_shards_equal_a_rebuild() -> None:
    """The same, with the readers as free-running threads (no scheduler): real races."""
    for seed in range(3):
        shown, _run, sent = live_reports(seed, 6, DAYS[seed], some_faults(seed, 1), scheduled=False)
        assert shown == rebuilt_alone(sent, DAYS[seed])


def test_records_given_up_on_reach_the_destination_and_a_redrive_repairs_the_day() -> None:
    """A store throttled on every report write for longer than the retries last: every record
    ends in the on-failure destination (shard and sequence numbers only); a redrive once the
    store is back makes the reports equal a rebuild."""
    rng = random.Random(12)
    sent = random_day(rng, DAYS[0])
    db = MemoryDynamoDB(
        TABLES, shards=3, faults=Faults(seed=1, throttle=1.0, operations=frozenset({"TransactWriteItems"}))
    )
    harness = Harness(db)
    for params in sent:
        harness.store_event(params)
    with stream_functions(db) as functions:
        run = StreamRun(
            db, harness.settings.events_table, {n: (MAPPINGS[n], h) for n, h in functions.items()}, seed=3
        )
        run.drain()
        given_up = {name: list(c.dead_letters) for name, c in run.consumers.items()}
        assert all(given_up.values()), "every consumer gave up on something"
        for messages in given_up.values():
            for message in messages:
                info = message["DDBStreamBatchInfo"]
                assert set(info) == {
                    "shardId",
                    "startSequenceNumber",
                    "endSequenceNumber",
                    "batchSize",
                    "streamArn",
                }
                assert (
                    message["requestContext"]["approximateInvokeCount"]
                    == MAPPINGS["StatsFunction"].max_retries + 1
                )
        assert every_report(harness, sent, DAYS[0]) != rebuilt_alone(sent, DAYS[0])
        db.faults = NO_FAULTS
        for name in run.consumers:
            assert run.redrive(name) > 0
    assert every_report(harness, sent, DAYS[0]) == rebuilt_alone(sent, DAYS[0])


@pytest.mark.parametrize("seed", range(20))
def test_a_rebuild_while_the_stream_runs_leaves_the_reports_exact(seed: int) -> None:
    """acd-admin rebuild in a loop while the stream functions apply the same day, interleaved
    request by request: once both are done the reports are exact, with no quiet rebuild after."""
    rng = random.Random(seed)
    day = DAYS[seed % len(DAYS)]
    sent = random_day(rng, day)
    db = MemoryDynamoDB(TABLES, shards=3)
    harness = Harness(db)
    around = days_between((day - timedelta(days=1)).isoformat(), (day + timedelta(days=1)).isoformat())

    stored = threading.Event()

    def store() -> None:
        store_all(harness, sent, random.Random(seed))
        stored.set()

    def rebuild_until_the_last_event_is_in() -> None:
        while True:
            last = stored.is_set()
            Rebuilder(harness.log, harness.reports, harness.settings).days(around)
            if last:
                return

    with stream_functions(db) as functions:
        run = StreamRun(
            db, harness.settings.events_table, {n: (MAPPINGS[n], h) for n, h in functions.items()}, seed=seed
        )
        run.drain(store, rebuild_until_the_last_event_is_in)
    assert every_report(harness, sent, day) == rebuilt_alone(sent, day)
