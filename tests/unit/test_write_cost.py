"""Fewer billed writes per callback (the bill with live arrival, make bench section 8): no
ConditionCheck on a neighbour day that told nothing, and no freshness write per quiet batch."""

from __future__ import annotations

from typing import Any

from acd_hub.freshness import FreshnessNotes
from acd_hub.ports import BatchProgress, CheckAgentDay
from tests.support import Harness, agent_state


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
