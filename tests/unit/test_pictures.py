"""The pictures' pure parts: the labels table covers the spec, the day has its intervals (DST
too), the day report is self-contained, the wallboard's current wait."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import altair as alt
import pytest

from acd_cli import html_report, labels, output, report_figures
from acd_cli.html_report import DayReport, day_slots, freshness_text, render
from acd_cli.reporting import ReportQueries
from acd_cli.wallboard import longest_current_wait_s
from acd_hub.agent_stats import StateInterval
from acd_hub.kpis import NAMES as KPI_NAMES
from acd_hub.reports.agent_day import AgentDayReport
from acd_hub.reports.call import CallSummary
from acd_hub.reports.freshness import Freshness
from acd_hub.reports.hotline_day import HotlineKpis, IntervalKpis, KpiFigures
from acd_hub.reports.stored import report_of
from acd_hub.vocabulary import AGENT_STATES, EVENT_TYPES
from tests.support import Harness, call_event

BERLIN = ZoneInfo("Europe/Berlin")


def test_every_state_and_event_type_of_the_spec_has_plain_words() -> None:
    assert tuple(labels.STATES) == AGENT_STATES
    assert tuple(labels.EVENT_TYPES) == EVENT_TYPES
    assert tuple(kpi.name for kpi in labels.KPIS) == KPI_NAMES
    assert labels.state_label("balerting") == "customer ringing (outbound)"
    assert labels.state_label("working") == "after-call work"
    assert labels.state_text("paused", "Mittag") == "paused: Mittag"
    assert labels.state_label("somethingnew") == "somethingnew"  # a newer ACD's state: shown as sent
    texts = [label.text for label in labels.STATES.values()]
    assert len(set(texts)) == len(texts)
    assert all(re.fullmatch(r"#[0-9a-f]{6}", label.colour) for label in labels.STATES.values())


def test_figures_read_the_same_everywhere() -> None:
    assert labels.kpi_text("asa_s", 7.67) == "0:08"
    assert labels.kpi_text("service_level_pct", 6.25) == "6.2 %"
    assert labels.kpi_text("abandon_rate_pct", None) == "–"  # empty denominator: neither 0 nor 100
    assert labels.kpi_text("aht_s", 3725) == "1:02:05"
    assert labels.kpi_text("offered", 0) == "0"


def test_a_day_has_96_intervals_and_dst_days_92_or_100() -> None:
    assert len(day_slots("2026-11-18", BERLIN)) == 96
    spring = day_slots("2026-03-29", BERLIN)
    autumn = day_slots("2026-10-25", BERLIN)
    assert len(spring) == 92
    assert len(autumn) == 100
    assert [s.label for s in spring[7:10]] == ["01:45", "03:00", "03:15"]
    assert [s.label for s in autumn[11:13]] == ["02:45", "02:00"]  # the hour that comes twice


def test_freshness_in_words() -> None:
    def fresh(complete_to: str | None, behind_s: float | None, catching_up: bool = False) -> Freshness:
        return Freshness(complete_to, None, behind_s, catching_up, [])

    assert freshness_text(fresh("2026-11-18T13:03:10Z", 2.0), BERLIN) == (
        "complete to 2026-11-18 14:03:10; last batch waited 0:02 in the stream"
    )
    behind = fresh("2026-11-18T13:03:10Z", 95, catching_up=True)
    assert freshness_text(behind, BERLIN).endswith("; last batch waited 1:35 in the stream (catching up)")
    assert freshness_text(fresh(None, None), BERLIN) == "not yet marked complete to any moment"


def test_longest_current_wait_counts_inbound_calls_neither_answered_nor_ended() -> None:
    now = datetime(2026, 11, 18, 10, 0, tzinfo=UTC)

    def call(started_min_ago: float, **fields: Any) -> CallSummary:
        started = (now - timedelta(minutes=started_min_ago)).isoformat().replace("+00:00", "Z")
        summary = {"task_id": "c0ffee", "direction": "inbound", "started": started, **fields}
        return report_of(CallSummary, summary)

    assert longest_current_wait_s([], now) is None
    calls = [
        call(1.5),
        call(4, answered="x"),
        call(5, ended="x"),
        call(6, direction="outbound"),
        call(600),  # lost its CallEnd: not a current wait
    ]
    assert longest_current_wait_s(calls, now) == 90


def _kpi_day(offered: int) -> KpiFigures:
    figures = dict.fromkeys(KPI_NAMES, 0) | {"offered": offered, "answered": offered, "asa_s": 7.67}
    figures |= {"service_level_pct": 100.0, "abandon_rate_pct": 0.0}
    return KpiFigures(**figures)


def _ms(moment: str) -> int:
    return int(datetime.fromisoformat(moment).timestamp() * 1000)


def _sample_day() -> DayReport:
    """Two hotlines with calls and one agent with a pause: every kind of chart of the page."""
    report = HotlineKpis(
        hotline="501",
        date="2026-11-18",
        day=_kpi_day(3),
        intervals=[
            IntervalKpis("2026-11-18T09:15:00+01:00", _kpi_day(2)),
            IntervalKpis("2026-11-18T17:45:00+01:00", _kpi_day(1)),
        ],
        sl_seconds=20,
        updated_at=None,
    )
    agent = AgentDayReport(
        agent="100001",
        day="2026-11-18",
        state_seconds={"online": 3600, "paused": 1800},
        pause_seconds={"Mittag": 1800},
        calls_handled=3,
        latest_event=None,
        updated_at=None,
        timeline=[
            StateInterval("online", _ms("2026-11-18T08:00:00+00:00"), _ms("2026-11-18T09:00:00+00:00")),
            StateInterval(
                "paused", _ms("2026-11-18T09:00:00+00:00"), _ms("2026-11-18T09:30:00+00:00"), "Mittag"
            ),
        ],
    )
    return DayReport(
        day="2026-11-18",
        zone=BERLIN,
        hotlines={"501": report, "502": replace(report, hotline="502", intervals=report.intervals[:1])},
        agents={"100001": agent},
        freshness=Freshness("2026-11-18T20:00:00Z", None, None, False, []),
        generated_at=datetime(2026, 11, 19, 8, 0, tzinfo=UTC),
    )


def test_every_chart_is_valid_vega_lite_with_its_rows_and_its_rows_only_in_datasets(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The charts are drawn without validation (:func:`html_report.chart_spec`): here each one
    drawn for a page, with its rows, is checked against the Vega-Lite schema. The rows are the
    ``datasets`` they name, handed over as they are; a specification shared by the hotlines'
    charts (the same hours and target) is built once."""
    drawn: list[tuple[dict[str, Any], dict[str, Any]]] = []
    draw = html_report._draw

    def recorded(spec: dict[str, Any], datasets: dict[str, Any]) -> str:
        drawn.append((spec, datasets))
        return draw(spec, datasets)

    monkeypatch.setattr(html_report, "_draw", recorded)
    html_report.interval_spec.cache_clear()
    render(_sample_day())
    # per hotline an interval and an outcome chart, and the agents' timeline
    assert len(drawn) == 5
    assert sorted(name for _, datasets in drawn for name in datasets) == sorted(
        ["bars", "line", "outcomes"] * 2 + ["spans"]
    )
    for spec, datasets in drawn:
        complete = {**spec, "datasets": {**spec.get("datasets", {}), **datasets}}
        alt.Chart.from_dict(complete) if "mark" in complete else alt.LayerChart.from_dict(complete)
        named = {layer["data"]["name"] for layer in _layers(spec) if "name" in layer.get("data", {})}
        assert named == set(datasets)
        for rows in datasets.values():
            assert not any(rows == values for values in spec.get("datasets", {}).values())
    interval_specs = [spec for spec, datasets in drawn if "bars" in datasets]
    assert interval_specs[0] is interval_specs[1]  # one specification for both hotlines
    assert html_report.interval_spec.cache_info().misses == 1


def _layers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [spec, *(inner for layer in spec.get("layer", []) for inner in _layers(layer))]


def test_the_day_report_is_one_self_contained_file() -> None:
    page = render(_sample_day())
    # no script, no stylesheet or image from elsewhere: the only URLs are XML namespace names
    assert "<script" not in page
    assert set(re.findall(r"https?://[^\"' )]+", page)) <= {
        "http://www.w3.org/2000/svg",
        "http://www.w3.org/1999/xlink",
    }
    # cropped to the whole hours with calls: 09:00 to 18:00, 36 intervals of the day's 96, for
    # each of the two hotlines (the same hours for both)
    assert len(re.findall(r'aria-label="offered \d\d:\d\d: \d+"', page)) == 2 * 36
    assert 'aria-label="offered 09:00: 0"' in page
    assert 'aria-label="offered 08:45' not in page
    assert 'aria-label="offered 18:00' not in page
    # one or two calls make no service level worth a colour: said on the point
    assert "service level 09:15: 100.0 % (only 2 calls: too few to judge)" in page
    assert 'aria-label="offered 09:15: 2"' in page
    assert 'aria-label="offered 17:45: 1"' in page
    assert 'data-kpi="asa_s" data-value="7.67"' in page
    assert ">0:08<" in page
    assert "complete to 2026-11-18 21:00:00" in page
    assert ">Mittag</text>" in page  # the pause carries its reason on the timeline
    assert "after-call work</th>" not in page  # only the states the day had
    assert len(page.encode()) < 300_000


def test_the_dialers_average_talk_time_is_from_its_connected_calls(memory_dynamodb: Any) -> None:
    """A dialer call through the real call-stats handler: its summary keeps no talk time (an
    inbound figure), so the day report's dialer card "average talk time" was always empty; it is
    the connected calls' time from the customer's answer (BConnected) to the end."""
    harness = Harness(memory_dynamodb)
    outbound = {"mode": "1"}
    sent = [
        call_event("2026-11-18T09:00:00", "CallStart", taskid="d1a1", **outbound),
        call_event("2026-11-18T09:00:20", "BConnected", taskid="d1a1", agentid="100001", **outbound),
        call_event("2026-11-18T09:02:20", "CallEnd", taskid="d1a1", **outbound),
        call_event("2026-11-18T09:10:00", "CallStart", taskid="d1a2", **outbound),
        call_event("2026-11-18T09:10:05", "BConnected", taskid="d1a2", agentid="100001", **outbound),
        call_event("2026-11-18T09:11:05", "CallEnd", taskid="d1a2", **outbound),
        call_event("2026-11-18T09:20:00", "CallStart", taskid="d1a3", **outbound),
        call_event("2026-11-18T09:20:30", "CallEnd", taskid="d1a3", **outbound),
    ]
    assert harness.run(harness.calls(), harness.store_many(sent)) == {"batchItemFailures": []}
    queries = ReportQueries(
        harness.log.client, harness.settings.reports_table, harness.settings.cmd_day_shards
    )
    calls = queries.calls(html_report.OUTBOUND_LISTING, "2026-11-18")
    assert [(c.task_id, c.outcome, c.talk_s) for c in calls] == [
        ("d1a1", "connected", None),
        ("d1a2", "connected", None),
        ("d1a3", "not_connected", None),
    ]
    figures = html_report.outbound_figures(calls)
    assert figures == {
        "dialed": 3,
        "connected": 2,
        "not_connected": 1,
        "connect_rate_pct": 66.7,
        "avg_talk_s": 90.0,  # (120 + 60) / 2
    }
    page = render(replace(_sample_day(), outbound=calls))
    assert re.search(r'data-outbound="avg_talk_s" data-value="90.0">\s*<div class="value">1:30<', page)


def test_the_repeated_hour_of_a_dst_day_says_which_of_the_two_it_is() -> None:
    """On 2026-10-25 Berlin's 02:00-03:00 comes twice: the kpis table's two 02:00 intervals (and
    calls, states, events at 02:10) read as one time unless the table names the zone. JSON and
    CSV keep the offset; any other hour stays as it was."""
    start = report_figures.kpi_columns(BERLIN)[0]
    summer, winter = "2026-10-25T02:00:00+02:00", "2026-10-25T02:00:00+01:00"
    assert [start.value({"start": s}) for s in (summer, winter)] == ["02:00 CEST", "02:00 CET"]
    assert start.value({"start": "2026-10-25T03:00:00+01:00"}) == "03:00"
    assert start.value({"start": "2026-03-29T03:00:00+02:00"}) == "03:00"  # the hour skipped in spring
    assert output.local_time("2026-10-25T00:10:00.000Z", BERLIN) == "2026-10-25 02:10:00 CEST"
    assert output.local_time("2026-10-25T01:10:00.000Z", BERLIN) == "2026-10-25 02:10:00 CET"
    assert output.local_time("2026-11-20T07:24:18.000Z", BERLIN) == "2026-11-20 08:24:18"
    assert output.local_time("2026-10-25T01:10:00.000Z", ZoneInfo("UTC"), "%H:%M") == "01:10"
