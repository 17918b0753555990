"""Fewer billed writes per callback (the bill with live arrival, make bench section 8): no
ConditionCheck on a neighbour day that told nothing, no freshness write per quiet batch, a
listed call stored once (in its listing, written only when a field it holds changes), the
board outside the transaction."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from acd_cli.reporting import ReportQueries
from acd_hub.freshness import FreshnessNotes
from acd_hub.ports import AddCounters, BatchProgress, CheckAgentDay, Put
from acd_hub.rebuild import Rebuilder, days_between
from acd_hub.reports.board import BoardEntry
from acd_hub.reports.call import CallAt, ListedCall, StoredCall, summary_key
from acd_hub.reports.hotline_day import ShardCounts, WaitEntry, listing_pk
from acd_hub.reports.stored import attributes, report_of
from acd_hub.settings import HubSettings
from tests.support import Harness, agent_state, call_event, every_report


def checked_days(memory_dynamodb: Any, second: dict[str, str]) -> list[str]:
    """The days an agent's second event checks (ConditionCheck) when applied after 09:00's."""
    harness = Harness(memory_dynamodb)
    first = harness.store_event(agent_state("2025-11-20 09:00:00", "online"))
    assert harness.run(harness.agents(), [first]) == {"batchItemFailures": []}
    commits: list[list[Any]] = []
    real = harness.reports.commit
    harness.reports.commit = lambda writes: (commits.append(list(writes)), real(writes))[1]  # type: ignore[method-assign]
    assert harness.run(harness.agents(), [harness.store_event(second)]) == {"batchItemFailures": []}
    (writes,) = commits
    return [w.day for w in writes if isinstance(w, CheckAgentDay)]


def test_an_event_appended_after_the_days_last_checks_no_neighbour_day(memory_dynamodb: Any) -> None:
    later = agent_state("2025-11-20 09:05:00", "paused", **{"pause-reason": "Kaffee"})
    assert checked_days(memory_dynamodb, later) == [], "a ConditionCheck is billed as a write"


def test_an_event_before_the_days_first_still_checks_the_day_before(memory_dynamodb: Any) -> None:
    """The day before told where the predecessor is (nobody): its absence is a condition."""
    earlier = agent_state("2025-11-20 08:00:00", "online")
    assert checked_days(memory_dynamodb, earlier) == ["2025-11-19"]


def test_a_state_writes_its_own_timeline_entry_not_its_predecessors_again(memory_dynamodb: Any) -> None:
    """A timeline entry keeps where its state starts; where it ends is the next entry's start
    (read so), so an insertion does not update the entry before it (a transactional write, 2
    units). Inside the day too: the entries around it are read, not written."""
    harness = Harness(memory_dynamodb)
    first, last = (agent_state(f"2025-11-20 {at}", "online") for at in ("09:00:00", "09:10:00"))
    assert harness.run(harness.agents(), [harness.store_event(p) for p in (first, last)]) == {
        "batchItemFailures": []
    }
    appended = agent_state("2025-11-20 09:20:00", "paused", **{"pause-reason": "Kaffee"})
    inside = agent_state("2025-11-20 09:05:00", "offline")
    for params in (appended, inside):
        (writes,) = agent_commits(harness, [[harness.store_event(params)]])
        assert [type(w).__name__ for w in writes] == ["Create", "PutVersioned"], params["eventtime"]
    queries = ReportQueries(harness.log.client, harness.settings.reports_table, 8)
    timeline = queries.agent_timeline("100001", "2025-11-20")
    assert [(i.state, i.duration_ms) for i in timeline] == [
        ("online", 300_000), ("offline", 300_000), ("online", 600_000), ("paused", None),
    ]  # fmt: skip


def progress(*, behind_ms: int = 100, failed: bool = False, shard: str = "s1") -> BatchProgress:
    return BatchProgress(
        processed_at_ms=1, oldest_received_ms=1, complete_to_ms=None if failed else 1,
        behind_ms=behind_ms, latest_event_ms=1, records=1, shard=shard,
    )  # fmt: skip


def test_freshness_is_written_on_every_change_and_otherwise_every_few_seconds() -> None:
    notes = FreshnessNotes(every_s=3600)
    assert notes.wanted(progress())  # the first
    assert not notes.wanted(progress())  # quiet again, within the hour: nothing to say
    assert notes.wanted(progress(behind_ms=60_000))  # behind: said at once
    assert notes.wanted(progress(behind_ms=60_000))  # and every batch while behind
    assert notes.wanted(progress())  # caught up: said at once
    assert not notes.wanted(progress())
    assert notes.wanted(progress(failed=True))  # a failed batch: always
    assert notes.wanted(progress())


def test_freshness_is_written_for_each_shard_on_its_own() -> None:
    """A shard's first batch is always said, however recently another shard's was."""
    notes = FreshnessNotes(every_s=3600)
    assert notes.wanted(progress(shard="s1"))
    assert notes.wanted(progress(shard="s2"))
    assert not notes.wanted(progress(shard="s1"))


def commits_of(harness: Harness, aggregator: Any, items: list[dict[str, Any]]) -> list[list[Any]]:
    commits: list[list[Any]] = []
    real = harness.reports.commit
    harness.reports.commit = lambda writes: (commits.append(list(writes)), real(writes))[1]  # type: ignore[method-assign]
    try:
        assert harness.run(aggregator, items) == {"batchItemFailures": []}
    finally:
        harness.reports.commit = real  # type: ignore[method-assign]
    return commits


def call_items_written(harness: Harness, writes: list[Any]) -> list[tuple[str, str]]:
    """The keys of the call items (summary, where it is, listing) a transaction writes."""
    return sorted(
        harness.reports.key_of(w.report)
        for w in writes
        if type(w).__name__ in ("Put", "PutVersioned", "Repoint")
        and type(w.report).__name__ in ("StoredCall", "CallAt", "ListedCall")
    )


def test_a_listed_call_is_one_item_and_a_change_writes_it_alone(memory_dynamodb: Any) -> None:
    """A call with a place in its hotline's listing is stored there whole (summary, KPI share,
    version), its ``SUMMARY`` item saying where: a change of the call writes one item, not a
    summary and its listing copy (each a transactional put, 2 WRU). A hold changes nothing
    either holds (the count of the call's events is not stored: a reader counts them): no
    write at all. What the reports show is the same, and equals a rebuild."""
    harness = Harness(memory_dynamodb)
    calls = harness.calls()  # one container: it records the hotline day's shard counts once
    sent = [
        call_event("2025-11-20 09:00:00", "CallStart", mode="0", hotlineid="501"),
        call_event("2025-11-20 09:00:10", "Connected", agentid="100001"),
    ]
    (first,) = commits_of(harness, calls, [harness.store_event(p) for p in sent])
    shard = ShardCounts(harness.settings.kpi_shards, harness.settings.listing_shards).listing_shard("c0ffee")
    listed = (listing_pk("501", "2025-11-20", shard), "2025-11-20T09:00:00.000Z#c0ffee")
    # the call put in its listing, and SUMMARY saying where: once
    assert call_items_written(harness, first) == sorted([listed, summary_key("c0ffee")])
    hold = call_event("2025-11-20 09:01:00", "Holdstart")
    sent.append(hold)
    assert commits_of(harness, calls, [harness.store_event(hold)]) == []
    end = call_event("2025-11-20 09:03:00", "CallEnd")
    sent.append(end)
    (third,) = commits_of(harness, calls, [harness.store_event(end)])
    assert call_items_written(harness, third) == [listed]  # the call alone, where it is
    item = harness.reports.get(summary_key("c0ffee"))
    assert item == {
        "pk": "CALL#c0ffee",
        "sk": "SUMMARY",
        "kind": "call-at",
        "at_pk": listed[0],
        "at_sk": listed[1],
        "kpi": 1,  # a guard: a hub of before fails on it instead of reading a summary of nothing
    }
    stored = harness.reports.call("c0ffee")
    assert stored is not None
    assert stored.at == listed
    assert stored.version == 2
    queries = ReportQueries(harness.log.client, harness.settings.reports_table, 8)
    shown = queries.call("c0ffee")
    assert shown is not None
    assert (shown.outcome, shown.wait_s) == ("answered", 10)
    assert queries.calls("501", "2025-11-20") == [shown]
    assert_equal_to_a_rebuild(harness, sent)


def test_the_board_is_one_plain_conditional_put_outside_the_agents_transaction(memory_dynamodb: Any) -> None:
    """Billed 1 unit instead of a transactional write's 2; a later event already shown stays."""
    harness = Harness(memory_dynamodb)
    first = harness.store_event(agent_state("2025-11-20 09:00:00", "online"))
    (writes,) = commits_of(harness, harness.agents(), [first])
    assert not any(isinstance(getattr(w, "report", None), BoardEntry) for w in writes)
    later = harness.store_event(agent_state("2025-11-20 09:10:00", "paused", **{"pause-reason": "Kaffee"}))
    earlier = harness.store_event(agent_state("2025-11-20 09:05:00", "connected"))
    assert harness.run(harness.agents(), [later]) == {"batchItemFailures": []}
    assert harness.run(harness.agents(), [earlier]) == {"batchItemFailures": []}
    (entry,) = ReportQueries(memory_dynamodb, harness.settings.reports_table, 8).board()
    assert (entry.state, entry.pause_reason) == ("paused", "Kaffee")


def dialer_states(count: int, seed: int) -> list[dict[str, str]]:
    """A dialer agent's states every 10 s (talking on its own calls, a pause now and then),
    shuffled as the ACD's retries and parallel connections deliver them."""
    begin = datetime(2025, 11, 20, 7, tzinfo=UTC)
    cycle = ("online", "outconnect", "outworking")
    sent = []
    for number in range(count):
        state = "paused" if number % 17 == 16 else cycle[number % 3]
        extra = {"taskid": f"d1a1{number // 3:06x}"} if state != "online" and state != "paused" else {}
        if state == "paused":
            extra["pause-reason"] = "Kaffee"
        at = (begin + timedelta(seconds=10 * number)).strftime("%Y-%m-%d %H:%M:%S")
        sent.append(agent_state(at, state, **extra))
    random.Random(seed).shuffle(sent)
    return sent


def agent_commits(harness: Harness, batches: list[list[dict[str, Any]]]) -> list[list[Any]]:
    """The agent aggregator's transactions over these stream batches."""
    commits: list[list[Any]] = []
    real = harness.reports.commit

    def recorded(writes: Any) -> None:
        commits.append(list(writes))
        real(writes)

    harness.reports.commit = recorded  # type: ignore[method-assign]
    for batch in batches:
        assert harness.run(harness.agents(), batch) == {"batchItemFailures": []}
    harness.reports.commit = real  # type: ignore[method-assign]
    return commits


def assert_equal_to_a_rebuild(harness: Harness, sent: list[dict[str, str]]) -> None:
    day = date(2025, 11, 20)
    shown = every_report(harness, sent, day)
    days = days_between((day - timedelta(days=2)).isoformat(), (day + timedelta(days=2)).isoformat())
    summary = Rebuilder(harness.log, harness.reports, harness.settings).days(days)
    assert (summary.items_written, summary.items_deleted) == (0, 0), "the timeline was already right"
    assert every_report(harness, sent, day) == shown, "the live reports equal the rebuild's"


def test_an_agents_events_of_one_batch_are_one_transaction(memory_dynamodb: Any) -> None:
    """The dialer's case (issue 15): an agent's shuffled states of one batch, inserted one after
    another into its chain, written as one transaction (each item once), not one per state."""
    harness = Harness(memory_dynamodb)
    sent = dialer_states(90, seed=15)
    items = [harness.store_event(p) for p in sent]
    commits = agent_commits(harness, [items[:30], items[30:60], items[60:]])
    assert len(commits) == 3, "one transaction per agent and batch"
    for writes in commits:
        places = [repr(w) for w in writes]
        assert len(places) == len(set(places))
    assert_equal_to_a_rebuild(harness, sent)


def test_an_agents_batch_over_a_transactions_100_items_is_split(memory_dynamodb: Any) -> None:
    """DynamoDB takes at most 100 items in one transaction: a batch of 100 states of one agent
    (a timeline entry each, relinked neighbours, talk markers, agent days) takes several."""
    harness = Harness(memory_dynamodb)
    sent = dialer_states(200, seed=16)
    items = [harness.store_event(p) for p in sent]
    commits = agent_commits(harness, [items[:100], items[100:]])
    assert len(commits) > 2
    assert max(len(writes) for writes in commits) <= 100
    assert_equal_to_a_rebuild(harness, sent)


def test_a_call_adds_to_its_intervals_counters_only_not_to_a_day_item(memory_dynamodb: Any) -> None:
    """A day's counters are its intervals' summed on read: a call's transaction adds to the
    interval item of its shard alone (a day item beside it was 2 WRU a change), and the day's
    figures are the same."""
    harness = Harness(memory_dynamodb)
    calls = harness.calls()
    answered = [
        harness.store_event(call_event("2025-11-20 09:00:00", "CallStart", mode="0", hotlineid="501")),
        harness.store_event(call_event("2025-11-20 09:00:10", "Connected", agentid="100001")),
        harness.store_event(call_event("2025-11-20 09:03:00", "CallEnd")),
    ]
    (writes,) = commits_of(harness, calls, answered)
    counted = [w.key for w in writes if isinstance(w, AddCounters)]
    assert [key.interval for key in counted] == ["2025-11-20T10:00:00+01:00"]
    stored = harness.reports.counters("501", "2025-11-20", counted[0].shard)
    assert list(stored) == counted
    queries = ReportQueries(harness.log.client, harness.settings.reports_table, 8)
    kpis = queries.kpis("501", "2025-11-20")
    assert kpis is not None
    assert kpis.sl_seconds == harness.settings.service_level_seconds
    assert (kpis.day["offered"], kpis.day["answered"]) == (1, 1)
    assert [(i.start, i.figures["offered"]) for i in kpis.intervals] == [("2025-11-20T10:00:00+01:00", 1)]


def test_an_answered_call_writes_no_wait_index_entry(memory_dynamodb: Any) -> None:
    """The call listing shows each call's wait and interval, and a day's report reads it: the
    longest waits come from there, no wait index beside it (an entry for the day and one for
    the interval, each a transactional put, 2 WRU)."""
    harness = Harness(memory_dynamodb)
    answered = [
        harness.store_event(call_event("2025-11-20 09:00:00", "CallStart", mode="0", hotlineid="501")),
        harness.store_event(call_event("2025-11-20 09:00:10", "Connected", agentid="100001")),
        harness.store_event(call_event("2025-11-20 09:03:00", "CallEnd")),
    ]
    (writes,) = commits_of(harness, harness.calls(), answered)
    assert not [w for w in writes if isinstance(w, Put) and isinstance(w.report, WaitEntry)]
    queries = ReportQueries(harness.log.client, harness.settings.reports_table, 8)
    kpis = queries.kpis("501", "2025-11-20")
    assert kpis is not None
    assert [i.figures["max_wait_s"] for i in kpis.intervals] == [kpis.day["max_wait_s"]] == [10]
    (days,) = queries.kpis_range("501", "2025-11-19", "2025-11-21").days
    assert days.figures["max_wait_s"] == 10


def listing_of(harness: Harness, shards: int) -> dict[int, list[str]]:
    """The task ids in each shard of hotline 501's listing of 2025-11-20, as stored."""
    return {
        shard: [
            str(item["task_id"]) for item in harness.reports.query(listing_pk("501", "2025-11-20", shard))
        ]
        for shard in range(shards)
    }


def test_a_listed_call_moved_to_another_listing_shard_is_dropped_where_it_was(memory_dynamodb: Any) -> None:
    """A change of the listing's shard count moves a call's next change to another shard: it is
    put there, dropped from the old place under the version read, and ``SUMMARY`` points to
    the new place (under the place it read). Stored once, shown the same, equal to a rebuild."""
    one = Harness(memory_dynamodb, HubSettings(listing_shards=1))
    sent = [
        call_event("2025-11-20 09:00:00", "CallStart", mode="0", hotlineid="501"),
        call_event("2025-11-20 09:00:10", "Connected", agentid="100001"),
    ]
    assert one.run(one.calls(), [one.store_event(p) for p in sent]) == {"batchItemFailures": []}
    assert listing_of(one, 4) == {0: ["c0ffee"], 1: [], 2: [], 3: []}
    four = Harness(memory_dynamodb, HubSettings(listing_shards=4))
    end = call_event("2025-11-20 09:03:00", "CallEnd")
    sent.append(end)
    (writes,) = commits_of(four, four.calls(), [four.store_event(end)])
    assert [type(w).__name__ for w in writes][:3] == ["DeleteVersioned", "Put", "Repoint"]
    assert listing_of(four, 4) == {0: [], 1: [], 2: [], 3: ["c0ffee"]}
    assert four.reports.get(summary_key("c0ffee"))["at_pk"] == "CALLS#501#2025-11-20#3"  # type: ignore[index]
    shown = ReportQueries(four.log.client, four.settings.reports_table, 8).call("c0ffee")
    assert shown is not None
    assert (shown.outcome, shown.ended) == ("answered", "2025-11-20T09:03:00.000Z")
    assert_equal_to_a_rebuild(four, sent)


def test_a_call_stored_by_an_older_hub_reads_the_same_and_moves_into_its_listing(
    memory_dynamodb: Any,
) -> None:
    """Versions before stored a call's summary at ``SUMMARY`` and a copy in its listing. Such a
    call reads as it did (``acd-report call``, ``calls``, the KPIs), and its next change puts
    it whole in its listing (here another shard: the old copy is dropped), ``SUMMARY`` saying
    where, under the version the older hub wrote."""
    one = Harness(memory_dynamodb, HubSettings(listing_shards=1))
    sent = [
        call_event("2025-11-20 09:00:00", "CallStart", mode="0", hotlineid="501"),
        call_event("2025-11-20 09:00:10", "Connected", agentid="100001"),
    ]
    assert one.run(one.calls(), [one.store_event(p) for p in sent]) == {"batchItemFailures": []}
    shown = every_report(one, sent, date(2025, 11, 20))
    # the same call as an older hub stored it: the summary at SUMMARY, a copy in the listing
    stored = one.reports.call("c0ffee")
    assert stored is not None
    older = [
        one.reports.item_of(replace(stored, at=None)),
        one.reports.item_of(ListedCall(stored.summary, stored.updated_at, shard=0)),
    ]
    assert set(older[0]) - set(older[1]) == {"kpi", "shards", "version"}  # what the copy left out
    for item in older:
        one.reports.client.put_item(TableName=one.reports.name, Item=one.reports.encode(item))
    assert one.reports.get(summary_key("c0ffee"))["kind"] == "call"  # type: ignore[index]
    assert every_report(one, sent, date(2025, 11, 20)) == shown
    assert one.reports.call("c0ffee") == replace(stored, at=None)
    # its next change, by a container with four listing shards
    four = Harness(memory_dynamodb, HubSettings(listing_shards=4))
    end = call_event("2025-11-20 09:03:00", "CallEnd")
    sent.append(end)
    (writes,) = commits_of(four, four.calls(), [four.store_event(end)])
    assert [type(w).__name__ for w in writes][:3] == ["Put", "PutVersioned", "Delete"]
    assert listing_of(four, 4) == {0: [], 1: [], 2: [], 3: ["c0ffee"]}
    assert four.reports.get(summary_key("c0ffee"))["kind"] == "call-at"  # type: ignore[index]
    moved = four.reports.call("c0ffee")
    assert moved is not None
    assert moved.version == (stored.version or 0) + 1
    assert_equal_to_a_rebuild(four, sent)


def test_where_a_listed_call_is_does_not_read_as_a_summary_to_a_hub_of_before() -> None:
    """A hub of before reads a call's ``SUMMARY`` item as a whole summary (this codec, no look
    at its kind). Read so, where a listed call is would be a summary of nothing at version 0:
    overwritten, and the call's whole share counted again (a rolled-back deploy, or an old
    container still running beside a new one). Its guard makes that read fail instead: the
    record is retried or kept, nothing is written."""
    where = CallAt("c0ffee", "CALLS#501#2025-11-20#3", "2025-11-20T09:00:00.000Z#c0ffee")
    with pytest.raises(TypeError):
        report_of(StoredCall, attributes(where))


def test_a_call_moved_between_a_writers_read_and_its_commit_is_read_again(memory_dynamodb: Any) -> None:
    """Two containers with other listing shard counts change one call at once: the second
    moves it (shard 0 to 3) between the first's read and its commit. The first's write, under
    the version it read where it read it, fails (that item is gone) and changes nothing; it
    reads the call again where ``SUMMARY`` now says, finds it as it would write it, and
    writes nothing more: the call is stored once, and the reports equal a rebuild."""
    one = Harness(memory_dynamodb, HubSettings(listing_shards=1))
    four = Harness(memory_dynamodb, HubSettings(listing_shards=4))
    sent = [
        call_event("2025-11-20 09:00:00", "CallStart", mode="0", hotlineid="501"),
        call_event("2025-11-20 09:00:10", "Connected", agentid="100001"),
    ]
    assert one.run(one.calls(), [one.store_event(p) for p in sent]) == {"batchItemFailures": []}
    later = [
        call_event("2025-11-20 09:01:00", "Holdstart"),
        call_event("2025-11-20 09:02:00", "Holdstop"),
        call_event("2025-11-20 09:03:00", "CallEnd"),
    ]
    sent += later
    stop, end = (one.store_event(p) for p in later[1:])
    one.store_event(later[0])
    commits: list[list[Any]] = []
    real = one.reports.commit

    def commit(writes: Any) -> None:
        commits.append(list(writes))
        if len(commits) == 1:  # the other container moves the call meanwhile
            assert four.run(four.calls(), [stop]) == {"batchItemFailures": []}
            assert listing_of(four, 4) == {0: [], 1: [], 2: [], 3: ["c0ffee"]}
        real(writes)

    one.reports.commit = commit  # type: ignore[method-assign]
    assert one.run(one.calls(), [end]) == {"batchItemFailures": []}
    (first,) = commits  # cancelled; read again, the call was already as this one computed it
    assert type(first[0]).__name__ == "PutVersioned"
    assert one.reports.key_of(first[0].report) == ("CALLS#501#2025-11-20", "2025-11-20T09:00:00.000Z#c0ffee")
    assert listing_of(four, 4) == {0: [], 1: [], 2: [], 3: ["c0ffee"]}
    where = four.reports.get(summary_key("c0ffee"))
    assert where is not None
    assert where["at_pk"] == "CALLS#501#2025-11-20#3"
    stored = four.reports.call("c0ffee")
    assert stored is not None
    assert (stored.version, stored.summary.hold_s, stored.summary.ended) == (
        2,  # the first container's write was not applied
        60,
        "2025-11-20T09:03:00.000Z",
    )
    assert_equal_to_a_rebuild(four, sent)
