"""What the aggregators do with each of DynamoDB's answers (issue: "throttling is treated as a
conflict"): a failed condition re-reads, a conflict retries with jitter, throttling backs off
exponentially within the batch's budget, a validation error is poison at once, unprocessed keys
are read again after growing pauses; the reasons reach the log line. On DynamoDB in memory,
with its faults."""

from __future__ import annotations

from typing import Any

import pytest

from acd_devkit.memory_dynamodb import Faults
from acd_hub.adapters.reports_table import ReportsTable
from acd_hub.agent_stats import Link, TimelineEntry
from acd_hub.aggregation import aggregate_batch
from acd_hub.ports import Cancelled, Create, Refused, Throttled
from tests.support import Harness, agent_state, call_event

pytestmark = pytest.mark.aws_faults


def a_day(harness: Harness) -> list[dict[str, Any]]:
    return [
        harness.store_event(p)
        for p in (
            agent_state("2025-11-20 09:00:00", "online"),
            agent_state("2025-11-20 09:05:00", "paused", **{"pause-reason": "Kaffee"}),
            call_event("2025-11-20 09:01:00", "CallStart", mode="0", hotlineid="501"),
            call_event("2025-11-20 09:01:30", "Connected", agentid="100001"),
            call_event("2025-11-20 09:03:00", "CallEnd"),
        )
    ]


def entry(hotline: str | None = None) -> Create:
    return Create(
        TimelineEntry("100001", Link("2025-11-20", "IV#1#k", 1, "online", None), "k", None, hotline)
    )


def test_the_adapter_tells_throttling_conflicts_and_refusals_apart(memory_dynamodb: Any) -> None:
    reports = ReportsTable(memory_dynamodb, "ReportsTable", 1)
    for rates, raised in (
        ({"throttle_item": 1.0}, Throttled),
        ({"throttle": 1.0}, Throttled),
        ({"conflict": 1.0}, Cancelled),
        ({"validation": 1.0}, Refused),
    ):
        memory_dynamodb.faults = Faults(seed=1, operations=frozenset({"TransactWriteItems"}), **rates)
        with pytest.raises(raised) as caught:
            reports.commit([entry()])
        if raised is Cancelled:
            assert "TransactionConflict" in str(caught.value)
            assert not caught.value.failed_writes, "a conflict is not a failed condition"
    memory_dynamodb.faults = Faults()
    with pytest.raises(Refused):  # an item over 400 KB: DynamoDB's ValidationError reason
        reports.commit([entry(hotline="x" * 410_000)])


def test_throttling_longer_than_eight_attempts_is_ridden_out_with_growing_pauses(
    memory_dynamodb: Any, pauses: list[float]
) -> None:
    harness = Harness(memory_dynamodb)
    items = a_day(harness)
    memory_dynamodb.faults = Faults(
        seed=3, throttle_item=1.0, limit=12, operations=frozenset({"TransactWriteItems"})
    )
    assert harness.run(harness.agents(), items) == {"batchItemFailures": []}
    assert memory_dynamodb.faults.injected == {"throttle_item": 12}
    assert len(pauses) >= 12
    # equal jitter: each pause is at least half of base * 2**attempt, so they really grow
    assert max(pauses[:3]) < min(pauses[5:8])


def test_a_batch_gives_up_on_a_store_throttled_past_its_budget(
    memory_dynamodb: Any, pauses: list[float]
) -> None:
    harness = Harness(memory_dynamodb)
    items = a_day(harness)
    memory_dynamodb.faults = Faults(seed=3, throttle_item=1.0, operations=frozenset({"TransactWriteItems"}))
    outcome = aggregate_batch(
        harness.agents(), harness.log.stream_records({"Records": [harness.record(i) for i in items]})
    )
    assert outcome.failed, "the records are retried by the event source mapping"
    assert 15 <= sum(pauses) <= 20.0, "one budget for the whole batch, within the function's timeout"
    ((_message, problems),) = outcome.warnings
    assert problems["throttled"] >= len(pauses)
    assert any("ThrottlingError" in e or "ProvisionedThroughputExceeded" in e for e in problems["errors"])


def calls_under(memory_dynamodb: Any, **rates: float) -> Any:
    """The call aggregator's outcome for a day's batch, every transaction meeting ``rates``."""
    harness = Harness(memory_dynamodb)
    items = a_day(harness)
    memory_dynamodb.faults = Faults(seed=2, operations=frozenset({"TransactWriteItems"}), **rates)
    return aggregate_batch(
        harness.calls(), harness.log.stream_records({"Records": [harness.record(i) for i in items]})
    )


def test_a_refused_write_is_poison_at_once(memory_dynamodb: Any) -> None:
    outcome = calls_under(memory_dynamodb, validation=1.0)
    assert outcome.failed
    assert memory_dynamodb.meter.requests["TransactWriteItems"] == 1, "no retry that cannot succeed"
    assert any("ValidationError" in e for e in outcome.warnings[0][1]["errors"])


def test_conflicts_are_retried_and_named_in_the_log_line(memory_dynamodb: Any) -> None:
    outcome = calls_under(memory_dynamodb, conflict=1.0)
    assert memory_dynamodb.meter.requests["TransactWriteItems"] == 8
    assert any("TransactionConflict" in e for e in outcome.warnings[0][1]["errors"])


def test_unprocessed_keys_are_read_again_after_growing_pauses(
    memory_dynamodb: Any, pauses: list[float]
) -> None:
    for n in range(60):
        memory_dynamodb.put_item(TableName="ReportsTable", Item={"pk": {"S": f"u{n}"}, "sk": {"S": "s"}})
    memory_dynamodb.faults = Faults(seed=1, unprocessed=0.5)
    found = ReportsTable(memory_dynamodb, "ReportsTable", 1).get_many([(f"u{n}", "s") for n in range(60)])
    assert len(found) == 60
    assert len(pauses) >= 3
    assert pauses[0] < pauses[-1]
    memory_dynamodb.faults = Faults(seed=1, unprocessed=1.0)
    with pytest.raises(Throttled):
        ReportsTable(memory_dynamodb, "ReportsTable", 1).get_many([("u1", "s")])


THROTTLED = "ProvisionedThroughputExceededException"


@pytest.mark.parametrize(
    ("command", "faults", "said"),
    [
        (["board"], Faults(throttle=1.0, operations=frozenset({"Query"})), THROTTLED),
        (["kpis", "--hotline", "501", "--day", "2025-11-20"], Faults(throttle=1.0), THROTTLED),
        (["call", "--call", "a1b2c3"], Faults(throttle=1.0, operations=frozenset({"GetItem"})), THROTTLED),
    ],
)
def test_a_read_throttled_past_its_retries_is_one_line_from_acd_report(
    memory_dynamodb: Any, monkeypatch: pytest.MonkeyPatch, command: list[str], faults: Faults, said: str
) -> None:
    """The table adapters raise DynamoDB's throttling (and refusals) as the ports' errors, not as
    ClientErrors: acd-report let them out as a traceback instead of its one-line error."""
    from click.testing import CliRunner  # noqa: PLC0415

    from acd_cli import report_cli  # noqa: PLC0415
    from acd_cli.report_context import ReportContext  # noqa: PLC0415

    monkeypatch.setattr(ReportContext, "dynamodb", property(lambda _self: memory_dynamodb))
    memory_dynamodb.faults = faults
    result = CliRunner().invoke(
        report_cli.cli,
        ["--endpoint-url", "http://127.0.0.1:9", "--reports-table", "ReportsTable", *command],
        env={"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"},
    )
    assert result.exit_code == 2, result.exception
    assert result.output.startswith(f"Error: {said}: "), result.output
    assert len(result.output.splitlines()) == 1


def test_keys_unprocessed_past_every_round_are_one_line_too(
    memory_dynamodb: Any, pauses: list[float]
) -> None:
    from acd_cli.report_context import ReportContext, ReportError, aws_errors  # noqa: PLC0415
    from acd_cli.reporting import ReportQueries  # noqa: PLC0415

    memory_dynamodb.faults = Faults(unprocessed=1.0)
    queries = ReportQueries(memory_dynamodb, "ReportsTable", 1)
    unprocessed = r"^DynamoDB throttled the reads \(2 keys still unprocessed\)"
    with pytest.raises(ReportError, match=unprocessed), aws_errors(ReportContext):
        queries.agent_days(["100001"], "2025-11-20")
