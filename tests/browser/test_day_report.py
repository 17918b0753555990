"""``acd-report html`` of the simulated day, opened from disk in Chromium with the network cut
off: it draws every chart, logs no error, and shows exactly what ``acd-report --format json``
says."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from acd_cli import labels
from acd_cli.html_report import DEFAULT_MIN_SL_CALLS, busy_slots, day_slots
from acd_hub.reports.hotline_day import HotlineKpis, IntervalKpis, KpiFigures
from tests.browser.conftest import DAY, Stack, Watched, aht_and_occupancy, data_values

ZONE = ZoneInfo("Europe/Berlin")
pytestmark = pytest.mark.timeout(1200)


@dataclass
class Report:
    path: Path
    size: int
    kpis: dict[str, Any]  # hotline -> acd-report kpis --format json
    agent_days: dict[str, Any]  # agent -> acd-report agent-day --format json


@pytest.fixture(scope="module")
def report(stack: Stack, simulated_day: dict[str, Any], output_dir: Path) -> Report:
    path = output_dir / f"day-report-{DAY}.html"
    said = stack.acd_report("html", "--day", DAY, "--out", str(path))
    assert f"Wrote {path}" in said
    board = stack.report("board")
    return Report(
        path=path,
        size=path.stat().st_size,
        kpis={h: stack.report("kpis", "--hotline", h, "--day", DAY) for h in simulated_day["kpis"]},
        agent_days={
            a: found
            for entry in board
            if (found := stack.report("agent-day", "--agent", (a := entry["agent"]), "--day", DAY))
            is not None
        },
    )


@pytest.fixture
def opened(watched: Watched, report: Report) -> Watched:
    # Nothing may leave the page: any request but the file itself is refused (and recorded).
    watched.page.route(re.compile(r"^(?!file:).*"), lambda route: route.abort())
    watched.page.goto(report.path.as_uri())
    return watched


def test_opens_offline_with_every_chart_drawn_and_no_error(opened: Watched, report: Report) -> None:
    page = opened.page
    assert [url for url in opened.requests if not url.startswith("file:")] == []
    assert page.locator("script, link[rel=stylesheet], img[src], iframe").count() == 0
    charts = page.locator("figure svg")
    # per hotline an interval and an outcome chart, plus the agents' timeline
    assert charts.count() == 2 * len(report.kpis) + 1
    for index in range(charts.count()):
        box = charts.nth(index).bounding_box()
        assert box is not None
        assert box["width"] > 200
        assert box["height"] > 100
        assert charts.nth(index).locator("[role=graphics-symbol]").count() > 0
    assert opened.errors == []
    assert page.locator("[data-zone]").inner_text() == "Europe/Berlin"
    # the streams are idle: the report says up to when it is complete (ReportQueries.freshness)
    freshness = page.locator("[data-freshness]")
    assert re.match(r"complete to \d{4}-\d\d-\d\d \d\d:\d\d:\d\d", freshness.inner_text())
    assert freshness.get_attribute("data-complete-to")
    opened.screenshot("day-report-full.png", full_page=True)
    opened.screenshot("day-report.png")
    page.locator("figure.timeline-chart").screenshot(
        path=str(Path(report.path).parent / "day-report-agents.png")
    )
    # small enough to e-mail
    assert report.size < 2_000_000


def _kpis(found: dict[str, Any]) -> HotlineKpis:
    """``acd-report kpis --format json`` back as the model (for the hours with calls)."""
    figures = lambda d: KpiFigures(**{k: v for k, v in d.items() if k != "start"})  # noqa: E731
    return HotlineKpis(
        hotline=found["hotline"],
        date=DAY,
        day=figures(found["day"]),
        intervals=[IntervalKpis(i["start"], figures(i)) for i in found["intervals"]],
        sl_seconds=None,
        updated_at=None,
    )


def test_one_chart_per_hotline_with_every_interval_of_the_hours_with_calls(
    opened: Watched, report: Report
) -> None:
    page = opened.page
    day_long = day_slots(DAY, ZONE)
    assert len(day_long) == 96
    # cropped to the whole hours from the first to the last interval with a call, of any hotline
    slots = busy_slots(day_long, [_kpis(found) for found in report.kpis.values()])
    starts = [
        datetime.fromisoformat(i["start"]).astimezone(ZONE).strftime("%H:%M")
        for found in report.kpis.values()
        for i in found["intervals"]
        if i["offered"]
    ]
    assert slots[0].label == f"{min(starts)[:2]}:00"
    assert slots[-1].label == f"{max(starts)[:2]}:45"
    assert 8 <= len(slots) < 96
    assert page.locator("[data-first-slot]").inner_text() == slots[0].label
    assert page.locator("[data-slots]").inner_text() == str(len(slots))
    sections = page.locator("section.hotline")
    assert sections.evaluate_all("nodes => nodes.map(n => n.dataset.hotline)") == list(report.kpis)
    for hotline, found in report.kpis.items():
        chart = page.locator(f"figure.interval-chart[data-hotline='{hotline}']")
        assert chart.count() == 1
        by_interval = {
            datetime.fromisoformat(i["start"]).astimezone(ZONE).strftime("%H:%M"): i
            for i in found["intervals"]
        }
        for series in ("offered", "answered", "abandoned"):
            marks = chart.locator(f"[role=graphics-symbol][aria-label^='{series} ']")
            shown = dict(
                re.fullmatch(rf"{series} (\d\d:\d\d): (\d+)", text).groups()  # type: ignore[union-attr]
                for text in marks.evaluate_all("nodes => nodes.map(n => n.getAttribute('aria-label'))")
            )
            assert len(shown) == marks.count() == len(slots), (hotline, series)
            expected = {slot.label: str(by_interval.get(slot.label, {}).get(series, 0)) for slot in slots}
            assert shown == expected, (hotline, series)
        levels = chart.locator("[aria-roledescription=point][aria-label^='service level ']").evaluate_all(
            "nodes => nodes.map(n => n.getAttribute('aria-label'))"
        )
        expected_levels = set()
        for label, i in by_interval.items():
            if i.get("service_level_pct") is None:
                continue
            text = f"service level {label}: {labels.kpi_text('service_level_pct', i['service_level_pct'])}"
            counted = i["answered"] + i["abandoned"]
            if counted < DEFAULT_MIN_SL_CALLS:  # marked: too few calls to judge
                text += f" (only {counted} call{'s' if counted != 1 else ''}: too few to judge)"
            expected_levels.add(text)
        assert set(levels) == expected_levels, hotline
        assert any("too few to judge" in level for level in levels) or all(
            i["answered"] + i["abandoned"] >= DEFAULT_MIN_SL_CALLS for i in found["intervals"]
        )
        assert chart.get_by_text("target 80 %").count() == 1


def test_figures_shown_equal_acd_report_json(opened: Watched, report: Report) -> None:
    page = opened.page
    for hotline, found in report.kpis.items():
        section = page.locator(f"section.hotline[data-hotline='{hotline}']")
        day = found["day"]
        cards = section.locator("[data-kpi]")
        assert cards.count() == 7
        for index in range(cards.count()):
            card = cards.nth(index)
            name = card.get_attribute("data-kpi")
            assert name is not None
            raw = card.get_attribute("data-value")
            assert raw == ("null" if day[name] is None else str(day[name])), (hotline, name)
            assert card.locator(".value").inner_text() == labels.kpi_text(name, day[name]), (hotline, name)
        outcomes = section.locator("table.outcomes tr[data-outcome]")
        assert data_values(outcomes, "outcome") == {name: day[name] for name in labels.OUTCOME_KPIS}, hotline
    assert report.agent_days, "the simulated day has agents"
    rows = page.locator("table.agent-states tr[data-agent]")
    assert rows.evaluate_all("r => r.map(n => n.dataset.agent)") == list(report.agent_days)
    for agent, found in report.agent_days.items():
        row = page.locator(f"table.agent-states tr[data-agent='{agent}']")
        assert row.locator("[data-calls]").inner_text() == str(found["calls_handled"] or 0)
        aht, occupancy = aht_and_occupancy(found)
        assert json.loads(row.locator("[data-aht]").get_attribute("data-aht") or "") == aht, agent
        assert row.locator("[data-aht]").inner_text() == labels.kpi_text("aht_s", aht)
        assert json.loads(row.locator("[data-occupancy]").get_attribute("data-occupancy") or "") == occupancy

        assert data_values(row.locator("td[data-state]"), "state") == found["state_seconds"], agent
        if found["pause_seconds"]:
            pauses = page.locator(f"table.agent-pauses tr[data-agent='{agent}'] td[data-reason]")
            assert data_values(pauses, "reason") == found["pause_seconds"], agent


def test_dialer_figures_equal_the_outbound_calls_json(opened: Watched, stack: Stack) -> None:
    calls = [
        c for c in stack.report("calls", "--hotline", "none", "--day", DAY) if c["direction"] == "outbound"
    ]
    connected = [c for c in calls if c["outcome"] == "connected"]
    # an outbound call's talk: from the customer's answer to its end (its summary keeps no talk_s)
    talks = [
        (datetime.fromisoformat(c["ended"]) - datetime.fromisoformat(c["answered"])).total_seconds()
        for c in connected
        if c["answered"] and c["ended"]
    ]
    expected = {
        "dialed": len(calls),
        "connected": len(connected),
        "not_connected": sum(1 for c in calls if c["outcome"] == "not_connected"),
        "connect_rate_pct": round(100 * len(connected) / len(calls), 1) if calls else None,
        "avg_talk_s": round(sum(talks) / len(talks), 2) if talks else None,
    }
    assert data_values(opened.page.locator("[data-dialer] [data-outbound]"), "outbound") == expected


def test_timeline_has_a_row_per_agent_and_labels_pauses(
    opened: Watched, report: Report, stack: Stack
) -> None:
    timeline = opened.page.locator("figure.timeline-chart")
    spans = timeline.locator("[role=graphics-symbol][aria-label]").evaluate_all(
        "nodes => nodes.map(n => n.getAttribute('aria-label'))"
    )
    agents_drawn = {label.split(" ", 1)[0] for label in spans if re.match(r"\d{6} ", label)}
    assert agents_drawn == set(report.agent_days)
    for agent in report.agent_days:
        timeline_json = stack.report("agent-timeline", "--agent", agent, "--day", DAY)
        drawn = [label for label in spans if label.startswith(f"{agent} ")]
        # the timeline shows the hours agents were logged on: only a logged-off stretch wholly
        # outside them is left out
        kept = [i for i in timeline_json if i["state"] != "offline" or _shown_in(i, drawn)]
        timeline_json = kept
        assert len(drawn) == len(timeline_json), agent
        for interval, label in zip(timeline_json, drawn, strict=True):
            assert labels.state_text(interval["state"], interval["pause_reason"]) in label
    reasons = {r for day in report.agent_days.values() for r in day["pause_seconds"]}
    assert reasons, "the simulated day has pauses"
    drawn_text = timeline.locator("svg text").evaluate_all("nodes => nodes.map(n => n.textContent)")
    assert reasons & set(drawn_text), "at least the long pauses carry their reason on the timeline"


def _shown_in(interval: dict[str, Any], drawn: list[str]) -> bool:
    since = datetime.fromisoformat(interval["start"]).astimezone(ZONE).strftime("%H:%M:%S")
    return any(f" {since}-" in label for label in drawn)
