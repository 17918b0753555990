"""``acd-report serve`` against the running local stack, in Chromium: the wallboard shows the live
board and the hotlines' figures as ``acd-report --format json`` does, and follows a new
``agentstate`` callback by itself."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from acd_cli import labels
from tests.browser.conftest import AS_OF, BIN, DAY, TOKEN, Process, Stack, Watched

pytestmark = pytest.mark.timeout(1200)
# Not one of the simulated day's agents, and new on each run (a stack may be reused, see conftest).
NEW_AGENT = str(700_000 + int(time.time()) % 100_000)


@pytest.fixture(scope="module")
def wallboard(
    stack: Stack, simulated_day: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    del simulated_day  # only needed to have happened
    serve = Process(
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
        env={"PYTHONUNBUFFERED": "1"},
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
        assert tile["colour"] == _rgb(labels.state_colour(entry["state"]))
        assert tile["in_state"]
    sections = page.locator(".hotline[data-hotline]")
    hotlines = sections.evaluate_all("nodes => nodes.map(n => n.dataset.hotline)")
    assert hotlines == sorted(simulated_day["kpis"], key=int)
    for hotline in hotlines:
        day = stack.report("kpis", "--hotline", hotline, "--day", DAY)["day"]
        section = page.locator(f".hotline[data-hotline='{hotline}']")
        for name in ("offered", "answered", "abandoned", "service_level_pct"):
            figure = section.locator(f"[data-kpi='{name}']")
            assert figure.get_attribute("data-value") == ("null" if day[name] is None else str(day[name]))
            assert figure.locator(".value").inner_text() == labels.kpi_text(name, day[name])
        assert section.locator("[data-kpi='longest_wait_s']").count() == 1
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
