"""What acd-report says about how finished the figures are."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from acd_cli.report_cli import describe_freshness
from acd_cli.report_models import ConsumerFreshness, Freshness

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
ZONE = ZoneInfo("Europe/Berlin")


def fresh(
    behind: float | None, updated: datetime, complete: str | None = "2026-11-20T11:59:30.000Z"
) -> Freshness:
    stamp = updated.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    consumer = ConsumerFreshness("call-stats", complete, stamp, None, behind)
    return Freshness(
        complete_to=complete,
        updated_at=stamp,
        behind_s=behind,
        catching_up=behind is not None and behind > 10,
        consumers=[consumer],
    )


def test_behind_and_working_is_catching_up() -> None:
    line = describe_freshness(fresh(42.4, NOW - timedelta(seconds=5)), NOW, ZONE)
    assert line == "Catching up (42 s behind): complete up to 2026-11-20 12:59:30 only."


def test_a_backlog_long_done_is_complete() -> None:
    line = describe_freshness(fresh(42.4, NOW - timedelta(minutes=10)), NOW, ZONE)
    assert line.startswith("Complete up to 2026-11-20 12:59:30 (Europe/Berlin)")


def test_up_to_date() -> None:
    line = describe_freshness(fresh(1.5, NOW - timedelta(seconds=2)), NOW, ZONE)
    assert line.startswith("Complete up to 2026-11-20 12:59:30")
    assert "last batch 2026-11-20 12:59:58" in line


def test_a_failed_batch_is_said() -> None:
    line = describe_freshness(fresh(1.0, NOW, complete=None), NOW, ZONE)
    assert "failed" in line


def test_nothing_aggregated_yet() -> None:
    line = describe_freshness(Freshness(None, None, None, False, []), NOW, ZONE)
    assert "not run" in line
