"""A simulated day (duplicates, shuffled delivery) through the deployed HTTP API, answered 2xx,
and every hotline's KPIs and agent's day settling exact; read with ``acd-report --stack-name``
as an operator reads them."""

from __future__ import annotations

from acd_deploy import settle
from acd_deploy.stack import DeployedStack
from tests.deploy.conftest import SETTLE_TIMEOUT, connection


def test_the_day_holds_duplicates_and_every_outcome(day: settle.Sent) -> None:
    assert day.requests > day.expected["sent"]["events"]
    outcomes = {call["outcome"] for call in day.expected["calls"].values()}
    assert {"answered", "abandoned"} <= outcomes


def test_kpis_and_agent_days_settle_exact(stack: DeployedStack, day: settle.Sent) -> None:
    args, env = connection(stack)
    seconds = settle.wait_settled(args, env, day.expected, SETTLE_TIMEOUT)
    print(f"settled {seconds:.1f}s after the last callback")


def test_call_listings_and_board_equal_the_truth(stack: DeployedStack, day: settle.Sent) -> None:
    args, env = connection(stack)
    settle.wait_settled(args, env, day.expected, SETTLE_TIMEOUT)
    for hotline in day.expected["kpis"]:
        listed = settle.report(args, env, "calls", "--hotline", hotline, "--day", settle.DAY)
        expected_ids = {
            t for t, c in day.expected["calls"].items() if str(c["hotline"]) == hotline and c["started"]
        }
        assert {c["task_id"] for c in listed} == expected_ids, hotline
    board = {entry["agent"]: entry for entry in settle.report(args, env, "board")}
    for agent, expected in day.expected["board"].items():
        assert {key: board[agent].get(key) for key in expected} == expected, agent
