"""A simulated day through a running hub, and when its reports settle exact: what the deploy
test checks on the deployed stack and the comparison measures on acd-local and on it alike.

The day is sent by the ``acd-sim`` CLI in its own process, as a user sends it (the token in its
environment, never on a command line). Reports are read with ``acd-report`` (its own process
too) and compared with the simulator's ``--expect-out``: settled means every
hotline's KPIs and every agent's day equal the truth.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Small enough for CI through an emulator (~700 requests), with every outcome of a call in it.
DAY = "2026-11-18"
SIM_ARGS = ("--seed", "2", "--agents", "5", "--calls", "50", "--outbound", "5")
# As the issue asks: a tenth of the events again, delivered out of order within 20.
DELIVERY_ARGS = ("--duplicates", "0.1", "--shuffle-window", "20", "--methods", "get,put,head")


@dataclass
class Sent:
    requests: int
    seconds: float
    expected: dict[str, Any]

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def send_day(callback_url: str, token: str, out_dir: Path, *, concurrency: int = 4) -> Sent:
    """``acd-sim`` sends the day to ``callback_url`` (it appends ``/<token>``); every answer must
    be 2xx (acd-sim exits non-zero otherwise)."""
    expected_path = out_dir / "expected.json"
    command = [
        sys.executable,
        "-m",
        "acd_sim.sim",
        "--url",
        callback_url,
        "--day",
        DAY,
        *SIM_ARGS,
        *DELIVERY_ARGS,
        "--concurrency",
        str(concurrency),
        "--quiet",
        "--expect-out",
        str(expected_path),
    ]
    started = time.monotonic()
    done = subprocess.run(  # noqa: S603 - our interpreter, our module
        command,
        env={**os.environ, "ACD_CALLBACK_TOKENS": token},
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    seconds = time.monotonic() - started
    if done.returncode != 0:
        raise AssertionError(f"acd-sim exited {done.returncode}: {(done.stdout + done.stderr)[-2000:]}")
    expected = json.loads(expected_path.read_text(encoding="utf-8"))
    return Sent(int(expected["sent"]["requests"]), seconds, expected)


def cli(name: str, connection: Sequence[str], env: Mapping[str, str], *args: str) -> Any:
    """``<name> <connection> <args> --format json`` (acd-report, acd-admin) in its own process as
    an operator runs it, with ``env`` on top of this one's; its JSON answer, parsed."""
    done = subprocess.run(  # noqa: S603 - our venv's console scripts
        [str(Path(sys.executable).parent / name), *connection, *args, "--format", "json"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0 or not done.stdout.strip():
        raise AssertionError(
            f"{name} {' '.join(args)} exited {done.returncode}: {(done.stdout + done.stderr)[-1500:]}"
        )
    # stdout alone: an empty report adds a line for humans on stderr
    return json.loads(done.stdout)


def report(connection: Sequence[str], env: Mapping[str, str], *args: str) -> Any:
    return cli("acd-report", connection, env, *args)


def figures(document: Any) -> Any:
    """A day report without its freshness (the truth has figures only)."""
    return {k: v for k, v in document.items() if k != "freshness"} if isinstance(document, dict) else document


def mismatches(connection: Sequence[str], env: Mapping[str, str], expected: Mapping[str, Any]) -> list[str]:
    """What differs from the truth: ``kpis <hotline>`` / ``agent-day <agent>`` with both sides."""
    found = []
    for hotline, kpis in expected["kpis"].items():
        shown = figures(report(connection, env, "kpis", "--hotline", hotline, "--day", DAY))
        if shown != kpis:
            found.append(f"kpis {hotline}: expected {kpis}, shown {shown}")
    for agent, day in expected["agent_days"].items():
        shown = figures(report(connection, env, "agent-day", "--agent", agent, "--day", DAY))
        if shown != day:
            found.append(f"agent-day {agent}: expected {day}, shown {shown}")
    return found


def wait_settled(
    connection: Sequence[str], env: Mapping[str, str], expected: Mapping[str, Any], timeout: float
) -> float:
    """Seconds until every report equals the truth; AssertionError with what still differs."""
    started = time.monotonic()
    left: list[str] = []
    while time.monotonic() - started < timeout:
        try:
            left = mismatches(connection, env, expected)
        except AssertionError as not_yet:  # e.g. a hub still loading its tables after a restart
            left = [str(not_yet)]
        if not left:
            return time.monotonic() - started
        time.sleep(1.0)
    raise AssertionError(
        f"not settled after {timeout:.0f}s; {len(left)} reports differ, first: {left[0][:1500]}"
    )
