"""Freshness under a stream of several shards: how the consumers' notes per shard fold into what
``acd-report`` claims (``acd_hub/freshness.py``), and the line it prints. The N-shard property
(``test_stream_shards.py``) checks the claim against the stream itself."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from acd_cli.report_figures import describe_freshness, stalled_line, stalled_since
from acd_hub.freshness import (
    CATCHING_UP_FOR_MS,
    IDLE_AFTER_MS,
    SILENT_AFTER_MS,
    ShardNote,
    consumer_freshness,
)
from acd_hub.reports.freshness import ConsumerFreshness, Freshness

NOW_MS = 1_800_000_000_000
ZONE = ZoneInfo("Europe/Berlin")


def note(
    shard: str,
    complete_to: int | None,
    *,
    at: int = NOW_MS,
    behind: int = 500,
    pending: int | None = None,
    consumer: str = "call-stats",
) -> ShardNote:
    return ShardNote(consumer, shard, at, complete_to, pending, behind)


def only(notes: list[ShardNote]) -> object:
    (folded,) = consumer_freshness(notes, NOW_MS)
    return folded


def test_the_slowest_shard_decides() -> None:
    """One shard up to date, another a minute behind: complete only to the slower one."""
    folded = only([note("s1", NOW_MS - 1_000), note("s2", NOW_MS - 60_000, behind=60_000)])
    assert folded.complete_to_ms == NOW_MS - 60_000
    assert folded.state == "catching up"
    assert folded.behind_ms == 60_000


def test_a_failing_shard_holds_the_claim_below_its_records() -> None:
    folded = only([note("s1", NOW_MS - 1_000), note("s2", NOW_MS - 90_000, pending=NOW_MS - 30_000)])
    assert folded.complete_to_ms == NOW_MS - 90_000
    folded = only([note("s1", NOW_MS - 1_000), note("s2", None, pending=NOW_MS - 30_000)])
    assert folded.complete_to_ms == NOW_MS - 30_001
    assert folded.state == "retrying"
    assert folded.failing_shards == 1
    assert folded.behind_ms == 30_000


def test_an_idle_shard_does_not_hold_the_reports_back() -> None:
    """Quiet for longer than Lambda could take to deliver a record while the others go on."""
    idle = note("s1", NOW_MS - 10 * 60_000, at=NOW_MS - IDLE_AFTER_MS - 1)
    folded = only([idle, note("s2", NOW_MS - 1_000)])
    assert folded.complete_to_ms == NOW_MS - 1_000
    assert folded.shards == 1
    assert folded.state == "up to date"


def test_a_shard_quiet_for_less_than_the_idle_time_still_holds_it() -> None:
    quiet = note("s1", NOW_MS - 50_000, at=NOW_MS - IDLE_AFTER_MS + 1_000)
    assert only([quiet, note("s2", NOW_MS - 1_000)]).complete_to_ms == NOW_MS - 50_000


def test_a_failing_shard_is_never_idle() -> None:
    stuck = note("s1", NOW_MS - 3_600_000, at=NOW_MS - 3_000_000, pending=NOW_MS - 3_500_000)
    folded = only([stuck, note("s2", NOW_MS - 1_000)])
    assert folded.complete_to_ms == NOW_MS - 3_600_000
    assert folded.state == "retrying"


def test_a_backlog_that_ended_is_not_catching_up() -> None:
    """A shard catching up notes every batch: a "behind" note older than that is the last."""
    old_backlog = note("s1", NOW_MS - 120_000, at=NOW_MS - CATCHING_UP_FOR_MS - 1, behind=120_000)
    assert only([old_backlog]).state == "up to date"
    fresh_backlog = note("s1", NOW_MS - 120_000, at=NOW_MS - 1_000, behind=120_000)
    assert only([fresh_backlog]).state == "catching up"


def test_a_consumer_with_no_note_while_another_goes_on_is_silent() -> None:
    notes = [
        note("s1", NOW_MS - 1_000),
        note("s1", NOW_MS - 3_600_000, at=NOW_MS - SILENT_AFTER_MS - 1, consumer="agent-stats"),
    ]
    states = {c.consumer: c.state for c in consumer_freshness(notes, NOW_MS)}
    assert states == {"agent-stats": "silent", "call-stats": "up to date"}


def consumer(state: str, *, failing: int = 0, behind: float | None = None) -> ConsumerFreshness:
    return ConsumerFreshness(
        "call-stats",
        "2026-11-20T11:59:30.000Z",
        "2026-11-20T11:59:58.000Z",
        None,
        behind,
        state,
        4,
        failing,
        0,
    )


def fresh(*consumers: ConsumerFreshness) -> Freshness:
    behind = [c.behind_s for c in consumers if c.behind_s is not None]
    return Freshness(
        complete_to="2026-11-20T11:59:30.000Z",
        updated_at="2026-11-20T11:59:58.000Z",
        behind_s=max(behind) if behind else None,
        catching_up=any(c.state != "up to date" for c in consumers),
        consumers=list(consumers),
    )


def test_behind_is_catching_up() -> None:
    line = describe_freshness(fresh(consumer("catching up", behind=42.4)), ZONE)
    assert line == "Catching up (42 s behind): complete up to 2026-11-20 12:59:30 only."


def test_up_to_date() -> None:
    line = describe_freshness(fresh(consumer("up to date", behind=None)), ZONE)
    assert line.startswith("Complete up to 2026-11-20 12:59:30 (Europe/Berlin)")
    assert "last batch 2026-11-20 12:59:58" in line


def test_a_failing_batch_is_said_with_its_shards() -> None:
    line = describe_freshness(fresh(consumer("retrying", failing=2, behind=30.0)), ZONE)
    assert (
        line == "A batch is failing and retried on 2 stream shards: complete up to 2026-11-20 12:59:30 only."
    )


def test_a_silent_consumer_is_said() -> None:
    line = describe_freshness(fresh(consumer("silent"), consumer("up to date")), ZONE)
    assert line.startswith("Silent: call-stats noted no batch since 2026-11-20 12:59:58")


def test_nothing_aggregated_yet() -> None:
    line = describe_freshness(Freshness(None, None, None, False, []), ZONE)
    assert "not run" in line


def test_callbacks_newer_than_every_note_are_a_stalled_stream() -> None:
    """Every consumer stopped (the worker killed): none is silent beside another, but the events
    the aggregators read kept arriving."""
    noted = fresh(consumer("up to date"))  # last batch 11:59:58 UTC
    assert stalled_since(noted, "2026-11-20T12:10:00.000Z") == "2026-11-20T11:59:58.000Z"
    assert stalled_since(noted, "2026-11-20T12:01:00.000Z") is None  # within the silence allowed
    assert stalled_since(noted, None) is None  # nothing arrived today
    assert stalled_since(Freshness(None, None, None, False, []), "2026-11-20T12:10:00.000Z") == ""
    line = stalled_line("2026-11-20T11:59:58.000Z", "2026-11-20T12:10:00.000Z", ZONE)
    assert line.startswith("Stalled: callbacks arrived until 2026-11-20 13:10:00, but no stream consumer")
    assert "since 2026-11-20 12:59:58" in line
    assert "since never" in stalled_line("", "2026-11-20T12:10:00.000Z", ZONE)
