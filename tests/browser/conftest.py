"""Browser tests: the HTML day report and the wallboard in a real headless Chromium (Debian's
``chromium``, which ``make test`` installs; driven by playwright over CDP, no browser download).

The pages are fed by a real local stack: ``acd-local`` started as its own process on free ports
(moto keeps its state per process, so it cannot clash with the end-to-end suite's in-process
stack), the simulated day of ``tests/e2e/test_simulated_day.py`` sent to it over HTTP, and
``acd-report`` run as the user runs it. Every figure a page shows is compared with
``acd-report ... --format json``.

Screenshots go to ``test-output/browser/`` (ignored by git); ``make screenshots`` copies them to
``docs/``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Locator, Page, sync_playwright

from acd_sim.day import generate_day
from acd_sim.plan import plan_requests
from acd_sim.sender import send
from acd_sim.sim import build_expectations
from tests.e2e.test_simulated_day import CONFIG, SL_SECONDS
from tests.support import BackgroundProcess

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
OUTPUT = REPO / "test-output" / "browser"
BIN = Path(sys.executable).parent
CHROMIUM = os.environ.get("ACD_CHROMIUM", "/usr/bin/chromium")
# Without these, Chromium keeps calling home on a machine with no way out (connections refused
# by the dozen, DNS look-ups at every start).
CHROMIUM_ARGS = [
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
TOKEN = "browser-token-5kQ2m"
DAY = CONFIG.day.isoformat()
# The wallboard replays the simulated day: its clock runs from this moment of that day, after
# its last event (the board shows each agent's latest state, whenever the clock says it is).
AS_OF = f"{DAY} 19:00"


# -- the stack ----------------------------------------------------------------------------------


@dataclass
class Stack:
    callback_url: str  # without the token
    aws_endpoint: str

    def report(self, *args: str) -> Any:
        """``acd-report --endpoint-url ... ARGS --format json``, parsed."""
        return json.loads(self.acd_report(*args, "--format", "json"))

    def acd_report(self, *args: str) -> str:
        done = subprocess.run(
            [str(BIN / "acd-report"), "--endpoint-url", self.aws_endpoint, *args],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """``acd-local`` on free ports, in a process of its own.

    To iterate on the pages without waiting for a new stack each time, point the tests at one
    already running: ``ACD_BROWSER_STACK="<callback URL without token> <AWS endpoint>"``, its
    ``ACD_CALLBACK_TOKENS`` including the tests' token. The simulated day is then sent again,
    which changes nothing there (duplicates)."""
    if running := os.environ.get("ACD_BROWSER_STACK"):
        callback_url, aws_endpoint = running.split()
        yield Stack(callback_url=callback_url, aws_endpoint=aws_endpoint)
        return
    local = BackgroundProcess(
        [str(BIN / "acd-local"), "--port", "0", "--aws-port", "0", "--ephemeral"],
        tmp_path_factory.mktemp("acd-local") / "acd-local.log",
        env={**os.environ, "ACD_CALLBACK_TOKENS": TOKEN, "PYTHONUNBUFFERED": "1"},
    ).start()
    try:
        # a token the user chose is never printed: the banner shows $TOKEN in its place
        banner = local.wait_for(r"callback URL\s+(\S+)/\$TOKEN[\s\S]*?AWS endpoint\s+(\S+)", 120)
        yield Stack(callback_url=banner.group(1), aws_endpoint=banner.group(2))
    finally:
        local.stop()


def data_values(located: Locator, key: str) -> dict[str, Any]:
    """``{data-<key>: data-value read as JSON}`` of the located elements, in page order; those
    with an empty value left out. ``key`` as the DOM spells it (``stateGroup`` for
    ``data-state-group``)."""
    pairs = located.evaluate_all(f"nodes => nodes.map(n => [n.dataset.{key}, n.dataset.value])")
    return {name: json.loads(value) for name, value in pairs if value}


def aht_and_occupancy(agent_day: dict[str, Any]) -> tuple[float | None, float | None]:
    """An agent's AHT and occupancy %, worked out here from agent-day's JSON (seconds per state
    and calls handled) to check the pages' own arithmetic."""
    seconds = agent_day["state_seconds"]
    busy = sum(seconds.get(s, 0) for s in ("connected", "outconnect", "bconnected", "working", "outworking"))
    idle = sum(seconds.get(s, 0) for s in ("online", "outonline", "alerting", "outalerting", "balerting"))
    aht = round(busy / agent_day["calls_handled"], 2) if agent_day["calls_handled"] else None
    occupancy = round(100 * busy / (busy + idle), 1) if busy + idle else None
    return aht, occupancy


def figures(document: Any) -> Any:
    """A day report without its freshness (the ground truth has the figures only)."""
    return {k: v for k, v in document.items() if k != "freshness"} if isinstance(document, dict) else document


def _wait_until_equal(read: Callable[[], Any], expected: Any, what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    shown = None
    while time.monotonic() < deadline:
        shown = read()
        if shown == expected:
            return
        time.sleep(2)
    pytest.fail(
        f"{what} never equalled the simulator's ground truth in {timeout} s; "
        f"differs in: {_differences(shown, expected)}; last: {shown}"
    )


def _differences(shown: Any, expected: Any, path: str = "") -> list[str]:
    """Where a report differs from the truth (``day.aht_s: 234.16 != 232.52``, an interval by
    its start), so that a failure names the call to look at, not only the whole document."""
    if isinstance(shown, dict) and isinstance(expected, dict):
        return [
            line
            for key in sorted(set(shown) | set(expected), key=str)
            for line in _differences(shown.get(key), expected.get(key), f"{path}{key}.")
        ]
    if (
        isinstance(shown, list)
        and isinstance(expected, list)
        and all(isinstance(i, dict) and "start" in i for i in [*shown, *expected])
    ):
        by_start = lambda items: {i["start"]: i for i in items}  # noqa: E731
        return _differences(by_start(shown), by_start(expected), path)
    return [] if shown == expected else [f"{path.rstrip('.')}: {shown!r} != {expected!r}"]


@pytest.fixture(scope="session")
def simulated_day(stack: Stack) -> dict[str, Any]:
    """The end-to-end suite's simulated day, sent once in time order, and every aggregate caught
    up with it (each must equal the simulator's own ground truth first)."""
    events = generate_day(CONFIG)
    plan = plan_requests(events, methods=("get", "put"), duplicates=0, shuffle_window=0, seed=5)
    sent = send(events, stack.callback_url, TOKEN, plan=plan, concurrency=4)
    assert sent.failures == [], sent.failures[:5]
    truth = build_expectations(events, plan, CONFIG, SL_SECONDS)
    for hotline, expected in truth["kpis"].items():
        _wait_until_equal(
            lambda h=hotline: figures(stack.report("kpis", "--hotline", h, "--day", DAY)),
            expected,
            f"hotline {hotline}",
            600,
        )
    for agent, expected in truth["agent_days"].items():
        _wait_until_equal(
            lambda a=agent: figures(stack.report("agent-day", "--agent", a, "--day", DAY)),
            expected,
            f"agent {agent}",
            600,  # as for the hotlines: on a busy machine the stream can be minutes behind
        )
    return truth


# -- the browser ----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"{CHROMIUM} is missing: `make chromium` installs Debian's chromium (make test does)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@dataclass
class Watched:
    """A page and what went wrong on it: console errors, uncaught exceptions, requests made."""

    page: Page
    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    def screenshot(self, name: str, **options: Any) -> Path:
        OUTPUT.mkdir(parents=True, exist_ok=True)
        path = OUTPUT / name
        self.page.screenshot(path=str(path), **options)
        return path


@pytest.fixture
def watched(browser: Browser) -> Iterator[Watched]:
    context = browser.new_context(viewport={"width": 1280, "height": 1100}, device_scale_factor=1)
    page = context.new_page()
    found = Watched(page)

    def on_console(message: ConsoleMessage) -> None:
        if message.type in ("error", "assert"):
            found.errors.append(f"console {message.type}: {message.text}")

    page.on("console", on_console)
    page.on("pageerror", lambda exc: found.errors.append(f"page error: {exc}"))
    page.on("request", lambda request: found.requests.append(request.url))
    yield found
    context.close()


@pytest.fixture(scope="session")
def output_dir() -> Path:
    if OUTPUT.exists():
        shutil.rmtree(OUTPUT)
    OUTPUT.mkdir(parents=True)
    return OUTPUT
