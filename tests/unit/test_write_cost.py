"""Fewer billed writes per callback (the bill with live arrival, make bench section 8): no
ConditionCheck on a neighbour day that told nothing, no freshness write per quiet batch, the
call listing written only when a listed field changes, the board outside the transaction."""

from __future__ import annotations

from typing import Any

from acd_cli.reporting import ReportQueries
from acd_hub.freshness import FreshnessNotes
from acd_hub.ports import BatchProgress, CheckAgentDay, Put
from acd_hub.reports.board import BoardEntry
from acd_hub.reports.call import ListedCall
from tests.support import Harness, agent_state, call_event


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


def test_the_listing_is_written_only_when_a_listed_field_changes(memory_dynamodb: Any) -> None:
    """A hold during the call changes the summary's count of events and nothing the listing
    shows: the summary is written, its listing copy (a 2-WRU transactional put) is not."""
    harness = Harness(memory_dynamodb)
    calls = harness.calls()  # one container: it records the hotline day's shard counts once
    answered = [
        harness.store_event(call_event("2025-11-20 09:00:00", "CallStart", mode="0", hotlineid="501")),
        harness.store_event(call_event("2025-11-20 09:00:10", "Connected", agentid="100001")),
    ]
    (first,) = commits_of(harness, calls, answered)
    assert any(isinstance(w, Put) and isinstance(w.report, ListedCall) for w in first)
    hold = harness.store_event(call_event("2025-11-20 09:01:00", "Holdstart"))
    (second,) = commits_of(harness, calls, [hold])
    assert [type(w).__name__ for w in second] == ["PutVersioned"]
    end = harness.store_event(call_event("2025-11-20 09:03:00", "CallEnd"))
    (third,) = commits_of(harness, calls, [end])
    assert any(isinstance(w, Put) and isinstance(w.report, ListedCall) for w in third)


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
