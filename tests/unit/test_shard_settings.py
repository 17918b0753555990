"""Readers never guess the shard counts: with --stack-name, acd-report and acd-admin take the
stack's KpiShards and CmdDayShards (the parameters every function gets), and a --kpi-shards or
--shards that differs from them is an error, not KPIs silently read from the wrong shards."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from acd_cli import report_cli
from acd_cli.admin_context import STACK_SETTINGS, AdminContext
from acd_cli.report_context import ReportContext, ReportError

HUB = ["--endpoint-url", "http://127.0.0.1:9", "--stack-name", "hub"]
STACK = {
    "Parameters": [
        {"ParameterKey": "KpiShards", "ParameterValue": "2"},
        {"ParameterKey": "CmdDayShards", "ParameterValue": "16"},
    ]
}


@pytest.fixture(autouse=True)
def deployed(monkeypatch: pytest.MonkeyPatch) -> None:
    """A stack as CloudFormation describes it, without asking CloudFormation."""
    monkeypatch.setattr(ReportContext, "stack", property(lambda _self: STACK))
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")


def _context(**options: Any) -> ReportContext:
    return ReportContext(
        endpoint_url="http://127.0.0.1:9", stack_name="hub", reports_table_option="R", **options
    )


def test_the_stacks_counts_are_used_when_none_is_given() -> None:
    context = _context()
    assert (context.hotline_kpi_shards, context.cmd_day_shards) == (2, 16)
    assert context.reports._kpi_shards == 2


def test_a_count_equal_to_the_stacks_is_fine() -> None:
    assert _context(kpi_shards=2, kpi_shards_given=True).hotline_kpi_shards == 2


def test_a_mismatching_kpi_shards_is_an_error() -> None:
    with pytest.raises(ReportError, match="--kpi-shards 4 does not match the stack's KpiShards 2"):
        _ = _context(kpi_shards=4, kpi_shards_given=True).reports


def test_without_a_stack_the_given_counts_stand() -> None:
    context = ReportContext(endpoint_url="http://127.0.0.1:9", kpi_shards=3, shards=5)
    assert (context.hotline_kpi_shards, context.cmd_day_shards) == (3, 5)


def test_acd_report_refuses_a_mismatching_kpi_shards_before_reading() -> None:
    result = CliRunner().invoke(
        report_cli.cli,
        [
            *HUB,
            "--reports-table",
            "R",
            "--kpi-shards",
            "4",
            "kpis",
            "--hotline",
            "501",
            "--day",
            "2026-11-20",
        ],
    )
    assert result.exit_code == 2, result.output
    assert "does not match the stack's KpiShards 2" in result.output


def test_an_environment_value_counts_as_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACD_CMD_DAY_SHARDS", "8")
    result = CliRunner().invoke(
        report_cli.cli,
        [*HUB, "--events-table", "E", "events", "--cmd", "agentstate", "--day", "2026-11-20"],
    )
    assert result.exit_code == 2, result.output
    assert "--shards 8 does not match the stack's CmdDayShards 16" in result.output


def test_acd_admin_takes_the_stacks_counts() -> None:
    admin = AdminContext(
        ReportContext(
            endpoint_url="http://127.0.0.1:9",
            stack_name="hub",
            events_table_option="E",
            reports_table_option="R",
        )
    )
    admin.connection.__dict__["stack_outputs"] = {}
    settings = admin.settings
    assert (settings.kpi_shards, settings.cmd_day_shards) == (2, 16)
    assert "KpiShards" in STACK_SETTINGS


def test_the_stacks_report_time_zone_is_used_when_none_is_given(monkeypatch: pytest.MonkeyPatch) -> None:
    """The stack's functions cut days in its ReportTimeZone: acd-report (and acd-admin's output)
    show them there too, as acd-admin's settings already did; a zone given stands."""
    london = {
        "Parameters": [
            *STACK["Parameters"],
            {"ParameterKey": "ReportTimeZone", "ParameterValue": "Europe/London"},
        ]
    }
    monkeypatch.setattr(ReportContext, "stack", property(lambda _self: london))
    assert _context().zone.key == "Europe/London"
    assert _context(zone_option=ZoneInfo("UTC"), zone_given=True).zone.key == "UTC"
    assert ReportContext(endpoint_url="http://127.0.0.1:9").zone.key == "Europe/Berlin"  # no stack
    admin = AdminContext(_context(events_table_option="E"))
    admin.connection.__dict__["stack_outputs"] = {}
    assert admin.connection.zone.key == admin.settings.report_timezone == "Europe/London"
