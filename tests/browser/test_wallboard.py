"""``acd-report serve`` against the running local stack, in Chromium: the wallboard shows the live
board and the hotlines' figures as ``acd-report --format json`` does, and follows a new
``agentstate`` callback by itself."""

from __future__ import annotations

import json
import os
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from acd_cli import labels
from tests.browser.conftest import (
    AS_OF,
    BIN,
    DAY,
    TOKEN,
    Stack,
    Watched,
    aht_and_occupancy,
    data_values,
)
from tests.browser.test_day_report import ZONE
from tests.support import BackgroundProcess

pytestmark = pytest.mark.timeout(1200)
# Not one of the simulated day's agents, and new on each run (a stack may be reused, see conftest).
NEW_AGENT = str(700_000 + int(time.time()) % 100_000)


@pytest.fixture(scope="module")
def wallboard(
    stack: Stack, simulated_day: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    del simulated_day  # only needed to have happened
    serve = BackgroundProcess(
        [
            str(BIN / "acd-report"),
            "--endpoint-url",
            stack.aws_endpoint,
            "serve",
            "--port",
            "0",
            "--refresh",
            "1",
            "--as-of",
            AS_OF,
        ],
        tmp_path_factory.mktemp("serve") / "serve.log",
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    ).start()
    try:
        yield serve.wait_for(r"Wallboard\s+(http://127\.0\.0\.1:\d+)/", 60).group(1)
    finally:
        serve.stop()


def _clock_ms(wallboard: str) -> int:
    """The wallboard's clock (it runs from ``AS_OF``): new events happen "now" on the wall."""
    with urllib.request.urlopen(f"{wallboard}/api/wallboard", timeout=30) as answer:
        now_ms: int = json.load(answer)["now_ms"]
    return now_ms


def _agentstate(stack: Stack, agent: str = NEW_AGENT, **params: str) -> None:
    query = urlencode({"cmd": "agentstate", "agentid": agent, "mode": "0", **params})
    with urllib.request.urlopen(f"{stack.callback_url}/{TOKEN}?{query}", timeout=10) as answer:
        assert answer.status == 200


def _tiles(page: Any) -> dict[str, dict[str, str]]:
    return {
        tile["agent"]: tile
        for tile in page.locator(".agent[data-agent]").evaluate_all(
            """nodes => nodes.map(n => ({agent: n.dataset.agent, state: n.dataset.state,
                 label: n.querySelector('.state').textContent, colour: getComputedStyle(n).backgroundColor,
                 in_state: n.querySelector('.in-state').textContent}))"""
        )
    }


def _rgb(hex_colour: str) -> str:
    red, green, blue = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgb({red}, {green}, {blue})"


def test_wallboard_shows_the_board_and_todays_hotlines(
    watched: Watched, wallboard: str, stack: Stack, simulated_day: dict[str, Any]
) -> None:
    page = watched.page
    page.goto(wallboard + "/")
    page.locator(".agent[data-agent]").first.wait_for(timeout=15_000)
    page.locator(".hotline[data-hotline]").first.wait_for(timeout=15_000)
    board = [entry for entry in stack.report("board") if entry["agent"] != NEW_AGENT]
    tiles = _tiles(page)
    assert board, "the simulated day fills the board"
    for entry in board:
        tile = tiles[entry["agent"]]
        assert tile["state"] == entry["state"]
        assert tile["label"] == labels.state_text(entry["state"], entry["pause_reason"])
        if entry["state"] == "offline":  # not a full grey tile: an outline, sorted last
            assert tile["colour"] == "rgba(0, 0, 0, 0)"
        else:
            assert tile["colour"] == _rgb(labels.state_colour(entry["state"]))
            assert tile["in_state"]
    sections = page.locator(".hotline[data-hotline]")
    hotlines = sections.evaluate_all("nodes => nodes.map(n => n.dataset.hotline)")
    assert hotlines == sorted(simulated_day["kpis"], key=int)
    now = datetime.fromtimestamp(_clock_ms(wallboard) / 1000, tz=UTC)
    interval_start = now.astimezone(ZONE).replace(
        minute=now.astimezone(ZONE).minute // 15 * 15, second=0, microsecond=0
    )
    for hotline in hotlines:
        kpis = stack.report("kpis", "--hotline", hotline, "--day", DAY)
        day = kpis["day"]
        section = page.locator(f".hotline[data-hotline='{hotline}']")
        today = section.locator(".today-figures")
        for name in ("offered", "answered", "abandoned", "service_level_pct", "abandon_rate_pct", "asa_s"):
            figure = today.locator(f"[data-kpi='{name}']")
            assert figure.get_attribute("data-value") == ("null" if day[name] is None else str(day[name]))
            assert figure.locator(".value").inner_text() == labels.kpi_text(name, day[name])
        # the current interval (of the wall's clock): its figures as the JSON's interval has them
        current = next(
            (i for i in kpis["intervals"] if datetime.fromisoformat(i["start"]) == interval_start), {}
        )
        interval = section.locator(".interval-figures")
        for name in ("offered", "service_level_pct", "abandon_rate_pct", "asa_s"):
            value = current.get(name, 0 if name == "offered" else None)
            figure = interval.locator(f"[data-kpi='{name}']")
            assert figure.get_attribute("data-value") == ("null" if value is None else str(value)), name
        # calls waiting now: the JSON's calls neither answered nor ended, started up to 2 h ago
        calls = stack.report("calls", "--hotline", hotline, "--day", DAY)
        waits = [
            (now - started).total_seconds()
            for call in calls
            if call["direction"] == "inbound"
            and not call["answered"]
            and not call["ended"]
            and timedelta(0)
            <= now - (started := datetime.fromisoformat(call["started"]))
            <= timedelta(hours=2)
        ]
        waiting = section.locator("[data-waiting]")
        assert waiting.get_attribute("data-waiting") == str(len(waits))
        assert waiting.get_attribute("data-oldest-wait") == (str(round(max(waits))) if waits else "null")
        status = "ok" if not waits or max(waits) < 60 else ("warning" if max(waits) < 180 else "alarm")
        assert waiting.get_attribute("data-wait-status") == status
    # agents by state, the whole center: from the board's JSON
    groups = {
        "available": {"online", "outonline"},
        "ringing": {"alerting", "outalerting", "balerting"},
        "on_call": {"connected", "outconnect", "bconnected", "busy", "outbusy"},
        "after_call_work": {"working", "outworking"},
        "paused": {"paused", "outpaused"},
    }
    full_board = stack.report("board")
    shown = data_values(page.locator("[data-by-state] [data-state-group]"), "stateGroup")
    expected = {g: sum(1 for e in full_board if e["state"] in states) for g, states in groups.items()}
    expected["logged_on"] = sum(1 for e in full_board if e["state"] not in (None, "offline"))
    assert shown == expected
    # per agent: calls handled, AHT and occupancy from agent-day's JSON; logged-off agents last
    order = page.locator(".agent[data-agent]").evaluate_all("n => n.map(x => x.classList.contains('off'))")
    assert order == sorted(order)
    for entry in board:
        found = stack.report("agent-day", "--agent", entry["agent"], "--day", DAY)
        tile = page.locator(f".agent[data-agent='{entry['agent']}']")
        assert tile.get_attribute("data-calls") == str(found["calls_handled"] if found else 0)
        if found:
            aht, occupancy = aht_and_occupancy(found)
            assert json.loads(tile.get_attribute("data-aht") or "") == aht
            assert json.loads(tile.get_attribute("data-occupancy") or "") == occupancy
    assert page.locator("[data-freshness]").inner_text().startswith("figures complete to ")
    assert watched.errors == []


def test_wallboard_follows_a_new_agentstate_callback(watched: Watched, wallboard: str, stack: Stack) -> None:
    page = watched.page
    page.goto(wallboard + "/")
    page.locator(".agent[data-agent]").first.wait_for(timeout=15_000)
    assert NEW_AGENT not in _tiles(page)

    _agentstate(stack, state="online", eventtime=str(_clock_ms(wallboard) - 5000))
    tile = page.locator(f".agent[data-agent='{NEW_AGENT}']")
    tile.wait_for(timeout=20_000)
    page.wait_for_function(
        f"document.querySelector(\".agent[data-agent='{NEW_AGENT}']\").dataset.state === 'online'",
        timeout=20_000,
    )
    before = _tiles(page)[NEW_AGENT]
    assert before["label"] == "available"
    assert before["colour"] == _rgb(labels.state_colour("online"))

    _agentstate(
        stack, state="paused", **{"pause-reason": "Kaffee"}, eventtime=str(_clock_ms(wallboard) - 1000)
    )
    page.wait_for_function(
        f"document.querySelector(\".agent[data-agent='{NEW_AGENT}']\")?.dataset.state === 'paused'",
        timeout=20_000,
    )
    after = _tiles(page)[NEW_AGENT]
    assert after["label"] == "paused: Kaffee"
    assert after["colour"] == _rgb(labels.state_colour("paused")) != before["colour"]
    # the time in state runs on between refreshes
    first = after["in_state"]
    time.sleep(2.2)
    assert _tiles(page)[NEW_AGENT]["in_state"] != first
    assert watched.errors == []
    Path(watched.screenshot("wallboard-after-callback.png")).is_file()


# A moment of a working day: (state, extra parameters) per agent of the simulated day.
BUSY: dict[str, tuple[str, dict[str, str]]] = {
    "100001": ("connected", {"hotline": "Vertrieb", "hotlineid": "501", "group": "Team A", "groupid": "1"}),
    "100002": ("online", {}),
    "100003": ("alerting", {"hotline": "Technik-Hotline", "hotlineid": "502"}),
    "100004": ("working", {}),
    "100005": ("paused", {"pause-reason": "Mittag"}),
    "100006": ("outconnect", {"mode": "1", "mandator": "Kampagne", "mandatorid": "7"}),
}


def test_wallboard_follows_a_shift_of_callbacks(watched: Watched, wallboard: str, stack: Stack) -> None:
    """Every simulated agent changes state at once (one after the other on the wire); within
    seconds the wall shows each new state in its own words and colour."""
    page = watched.page
    page.goto(wallboard + "/")
    page.locator(".agent[data-agent]").first.wait_for(timeout=15_000)
    now_ms = _clock_ms(wallboard)
    for offset, (agent, (state, extra)) in enumerate(BUSY.items()):
        _agentstate(stack, agent, state=state, eventtime=str(now_ms - 60_000 * (offset + 1) ** 2), **extra)
    expected = {agent: state for agent, (state, _) in BUSY.items()}
    page.wait_for_function(
        """expected => Object.entries(expected).every(([agent, state]) =>
             document.querySelector(`.agent[data-agent='${agent}']`)?.dataset.state === state)""",
        arg=expected,
        timeout=30_000,
    )
    tiles = _tiles(page)
    for agent, (state, extra) in BUSY.items():
        assert tiles[agent]["label"] == labels.state_text(state, extra.get("pause-reason"))
        assert tiles[agent]["colour"] == _rgb(labels.state_colour(state))
    assert len({tiles[agent]["colour"] for agent in BUSY}) == len(BUSY)
    page.wait_for_timeout(1200)  # one tick: every "in state" drawn
    assert watched.errors == []
    watched.screenshot("wallboard.png")


def test_drill_down_from_a_hotline_to_its_calls_and_to_one_calls_events(
    watched: Watched, wallboard: str, stack: Stack, simulated_day: dict[str, Any]
) -> None:
    page = watched.page
    hotline = sorted(simulated_day["kpis"], key=int)[0]
    page.goto(wallboard + "/")
    link = page.locator(f"[data-calls-link='{hotline}']")
    link.wait_for(timeout=15_000)
    # the wall's "today" is the replayed day
    assert link.get_attribute("href") == f"/calls?hotline={hotline}&day={DAY}"
    link.click()
    page.wait_for_url(f"**/calls?hotline={hotline}&day={DAY}")
    calls = stack.report("calls", "--hotline", hotline, "--day", DAY)
    rows = page.locator("table.calls tr[data-task]")
    shown = rows.evaluate_all(
        "r => r.map(n => [n.dataset.task, n.dataset.outcome, n.dataset.wait, n.dataset.talk])"
    )
    raw = lambda v: "null" if v is None else str(v)  # noqa: E731
    assert shown == [[c["task_id"], c["outcome"], raw(c["wait_s"]), raw(c["talk_s"])] for c in calls]
    # one call: every stored event, in the order of acd-report events --call
    task = calls[0]["task_id"]
    rows.first.locator("a").click()
    page.wait_for_url(f"**/call?task={task}")
    events = stack.report("events", "--call", task)
    keys = page.locator("table.events tr[data-event-key]").evaluate_all("r => r.map(n => n.dataset.eventKey)")
    assert keys == [e["event_key"] for e in events]
    assert page.locator("dl.summary").get_attribute("data-outcome") == calls[0]["outcome"]
    watched.screenshot("drill-down-call.png", full_page=True)
    page.locator("[data-back]").click()
    page.wait_for_url("**/calls?**")
    assert watched.errors == []


def test_a_week_next_to_the_week_before_equals_acd_report_range_json(
    watched: Watched, wallboard: str, stack: Stack, simulated_day: dict[str, Any]
) -> None:
    page = watched.page
    hotlines = sorted(simulated_day["kpis"], key=int)
    asked = "&".join(f"hotline={h}" for h in hotlines)
    page.goto(f"{wallboard}/range?period=week&day={DAY}&{asked}")
    flags = [flag for h in hotlines for flag in ("--hotline", h)]
    document = stack.report("range", "--period", "week", "--day", DAY, *flags)
    assert [d["hotline"] for d in document] == hotlines
    shown_range = page.locator("[data-range]")
    assert shown_range.get_attribute("data-range") == f"{document[0]['from']}/{document[0]['to']}"
    previous = document[0]["previous"]
    assert shown_range.get_attribute("data-previous") == f"{previous['from']}/{previous['to']}"
    for found in document:
        section = page.locator(f"section.hotline[data-hotline='{found['hotline']}']")
        # the simulated day is in this week: the week's figures are that day's
        assert found["figures"] == stack.report("kpis", "--hotline", found["hotline"], "--day", DAY)["day"]
        for card in section.locator("[data-kpi]").all():
            name = card.get_attribute("data-kpi")
            assert name is not None
            now, before = found["figures"][name], (found["previous"]["figures"] or {}).get(name)
            assert card.get_attribute("data-value") == ("null" if now is None else str(now)), name
            assert card.get_attribute("data-previous") == ("null" if before is None else str(before)), name
        bars = section.locator("figure.day-chart [role=graphics-symbol][aria-label^='offered ']")
        assert bars.count() == len(found["days"])
    watched.screenshot("range.png", full_page=True)
    assert watched.errors == []
