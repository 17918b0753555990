"""A simulated call-center day sent over HTTP through acd-local — with duplicates and shuffled
delivery — and every report acd-report shows equal to the simulator's own ground truth."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from acd_local.hub import LocalHub
from acd_sim.day import generate_day
from acd_sim.model import SimConfig
from acd_sim.plan import plan_requests
from acd_sim.sender import send
from acd_sim.sim import build_expectations
from tests.e2e.conftest import E2E_TOKEN
from tests.e2e.test_callbacks import report

# A day of its own (the stack is shared by the session); small enough for CI, big enough to
# hold every outcome (answered, abandoned, rejected, mailbox, forwarded, ...).
CONFIG = SimConfig(day=date(2026, 11, 18), seed=2, agents=6, calls=80, outbound=8)
SL_SECONDS = 20
# Sending ~1,100 requests and draining the streams takes a couple of minutes on 2 cores.
pytestmark = pytest.mark.timeout(1200)


@pytest.fixture(scope="module")
def truth(local_stack: LocalHub) -> dict[str, Any]:
    events = generate_day(CONFIG)
    plan = plan_requests(events, methods=("get", "put", "head"), duplicates=0.15, shuffle_window=25, seed=5)
    sent = send(events, f"{local_stack.base_url}/callback", E2E_TOKEN, plan=plan, concurrency=4)
    assert sent.failures == [], sent.failures[:5]
    assert sent.ok == len(plan) > len(events)
    local_stack.wait_for_stream_idle(300)
    assert local_stack.errors == []
    return build_expectations(events, plan, CONFIG, SL_SECONDS)


def test_the_day_holds_every_outcome(truth: dict[str, Any]) -> None:
    outcomes = {call["outcome"] for call in truth["calls"].values()}
    assert {"answered", "abandoned", "connected"} <= outcomes
    assert sum(k["day"]["offered"] for k in truth["kpis"].values()) == 80


def test_hotline_kpis_equal_the_ground_truth(local_stack: LocalHub, truth: dict[str, Any]) -> None:
    for hotline, expected in truth["kpis"].items():
        shown = report(local_stack, "kpis", "--hotline", hotline, "--day", CONFIG.day.isoformat())
        assert shown.pop("freshness")["final"] is True, hotline  # a past day, every batch done
        assert shown == expected, hotline


def test_agent_days_equal_the_ground_truth(local_stack: LocalHub, truth: dict[str, Any]) -> None:
    for agent, expected in truth["agent_days"].items():
        shown = report(local_stack, "agent-day", "--agent", agent, "--day", CONFIG.day.isoformat())
        assert shown.pop("freshness")["final"] is True, agent
        assert shown == expected, agent


def test_call_summaries_equal_the_ground_truth(local_stack: LocalHub, truth: dict[str, Any]) -> None:
    for task_id, expected in truth["calls"].items():
        shown = report(local_stack, "call", "--call", task_id)["summary"]
        assert {key: shown.get(key) for key in expected} == expected, task_id
    for hotline in truth["kpis"]:
        listed = report(local_stack, "calls", "--hotline", hotline, "--day", CONFIG.day.isoformat())
        expected_ids = {t for t, c in truth["calls"].items() if str(c["hotline"]) == hotline and c["started"]}
        assert {c["task_id"] for c in listed} == expected_ids


def test_board_equals_the_ground_truth(local_stack: LocalHub, truth: dict[str, Any]) -> None:
    board = {entry["agent"]: entry for entry in report(local_stack, "board")}
    for agent, expected in truth["board"].items():
        assert {key: board[agent].get(key) for key in expected} == expected, agent
