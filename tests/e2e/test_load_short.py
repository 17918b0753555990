"""A short load run (``acd_bench.load``) against the local stack: concurrent keep-alive clients,
unique events plus deliberate duplicates, then a Query over every partition written.

Asserts correctness under concurrency only — no 5xx, nothing lost, nothing doubled — never a
rate or a latency (``make load`` reports those).
"""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from acd_bench import load
from acd_local.hub import LocalHub


def test_short_load_stores_every_unique_event_exactly_once(local_stack: LocalHub) -> None:
    config = load.LoadConfig(seconds=5, clients=4, max_requests=20_000, duplicates=0.15)
    report = load.run_load(
        local_stack.callback_url,
        config,
        dynamodb=local_stack.clients().dynamodb,
        events_table=local_stack.table_names["EventsTable"],
    )
    summary = load.format_report(report)
    assert report.requests > 0, summary
    assert report.server_errors == 0, summary
    assert report.transport_errors == {}, summary
    assert set(report.statuses) == {200}, summary
    assert report.key_mismatches == 0, summary
    assert set(report.unique_events) == {"agentstate", "callevent"}, summary
    # every duplicate was answered as one: it changed nothing
    assert report.duplicate_answers == (
        {"duplicate": report.duplicates_sent} if report.duplicates_sent else {}
    )
    check = report.verification
    assert check is not None
    assert check.expected == sum(report.unique_events.values()), summary
    assert (check.lost, check.doubled, check.unexpected) == (0, 0, 0), summary
    assert report.ok, summary


def test_verification_catches_a_lost_and_a_doubled_event(local_stack: LocalHub) -> None:
    """The checker is not vacuous: an event never stored is lost, one stored twice is doubled."""
    dynamodb = local_stack.clients().dynamodb
    table = local_stack.table_names["EventsTable"]
    pk = "CALL#0badc0ffee0badc0ffee"
    for sk in ("2026-01-01T00:00:00.000Z#ce-1", "2026-01-01T00:00:01.000Z#ce-1"):
        dynamodb.put_item(
            TableName=table, Item={"pk": {"S": pk}, "sk": {"S": sk}, "event_key": {"S": "ce-1"}}
        )
    stored_twice = load.Planned("callevent", {}, pk, "ce-1")
    never_stored = load.Planned("callevent", {}, pk, "ce-2")
    check = load.verify(dynamodb, table, [stored_twice, never_stored])
    assert (check.partitions, check.expected, check.lost, check.doubled, check.unexpected) == (1, 2, 1, 1, 0)
    assert not load.LoadReport(
        target="-",
        config=load.LoadConfig(),
        elapsed_s=1,
        requests=1,
        statuses={200: 1},
        by_method={},
        transport_errors={},
        latency_ms={},
        unique_events={},
        duplicates_sent=0,
        duplicate_answers={},
        key_mismatches=0,
        verification=check,
    ).ok


def test_cli_against_a_running_stack(local_stack: LocalHub, tmp_path: Path) -> None:
    out = tmp_path / "load.json"
    result = CliRunner().invoke(
        load.main,
        [
            "--seconds", "1",
            "--clients", "2",
            "--url", local_stack.callback_url,
            "--aws-endpoint", local_stack.aws_endpoint,
            "--json-out", str(out),
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "req/s" in result.output
    assert "lost 0, doubled 0" in result.output
    assert local_stack.tokens[0] not in result.output  # the token is masked
    report = json.loads(out.read_text())
    assert report["ok"] is True
    assert report["server_errors"] == 0


def test_load_is_only_sent_to_this_machine() -> None:
    result = CliRunner().invoke(load.main, ["--seconds", "1", "--url", "http://192.0.2.10/callback/x"])
    assert result.exit_code == 2
    assert "127.0.0.1" in result.output
