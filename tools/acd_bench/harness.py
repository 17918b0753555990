"""What every benchmark of ``make bench`` shares: the repository, a Lambda container's
environment without AWS, the simulated day it feeds the hub, medians and ratios, a child
process's result line, and stdout silenced while handlers log.

Figures are medians of interleaved repetitions on a noisy machine: read the ratios, not the
absolute values.
"""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import subprocess
import sys
from collections.abc import Iterator, Sequence
from datetime import date
from pathlib import Path
from typing import Any

from acd_devkit.lambda_events import ACCOUNT, REGION, TOKEN
from acd_devkit.moto_resources import moto_env
from acd_sim.day import generate_day
from acd_sim.model import SimConfig, SimEvent

REPO = Path(__file__).resolve().parents[2]
SIM_DAY = date(2026, 11, 20)
# A child process (the cold-start driver, the load clients) prints its result on a line of its own.
RESULT_MARK = "ACD-BENCH-RESULT "

# What a Lambda container of this stack sees, minus AWS: the template's environment at its
# parameter defaults (see function_env), tokens from here instead of SSM.
AWS_ENV = moto_env(REGION)
UNSET_ENV = ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN")


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def ratio(measured: float, baseline: float) -> float | None:
    return measured / baseline if baseline else None


@contextlib.contextmanager
def quiet_stdout() -> Iterator[None]:
    """Handlers log a JSON line per request (and EMF metrics) to stdout, as on Lambda: that
    work is measured, its output goes to /dev/null (file descriptor 1, whoever holds it)."""
    sys.stdout.flush()
    try:
        saved = os.dup(1)
    except OSError:  # no fd 1: nothing to silence
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    try:
        yield
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


def function_env(logical_id: str = "IngestFunction") -> dict[str, str]:
    """The function's environment from template.yaml at parameter defaults, pointed at nothing
    (tokens local, no SSM, no endpoint override)."""
    env = {
        "POWERTOOLS_SERVICE_NAME": "acd-callback-hub",
        "POWERTOOLS_METRICS_NAMESPACE": "AcdCallbackHub",
        "ACD_EVENTS_TABLE": "EventsTable",
        "ACD_REPORTS_TABLE": "ReportsTable",
    }
    with contextlib.suppress(Exception):  # a template this reader cannot resolve: the defaults
        from acd_devkit.template import load_template, resolved_environment  # noqa: PLC0415

        refs = {
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT,
            "AWS::StackName": "acd-callback-hub-bench",
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "EventsTable": "EventsTable",
            "ReportsTable": "ReportsTable",
            "CallbackTokenParameterName": "",
        }
        env = resolved_environment(load_template(REPO / "template.yaml"), logical_id, refs)
    return {
        **env,
        "ACD_TOKEN_PARAMETER": "",
        "ACD_CALLBACK_TOKENS": TOKEN,
        "ACD_AWS_ENDPOINT_URL": "",
        "AWS_LAMBDA_FUNCTION_NAME": logical_id,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
        **AWS_ENV,
    }


def simulated_day(seed: int = 7, **config: Any) -> list[SimEvent]:
    """acd-sim's day (``SimEvent``: ``cmd``, ``params``, ``time``), time-ordered; ``config``:
    ``agents``, ``calls``, ``outbound`` (acd-sim's defaults otherwise)."""
    return generate_day(SimConfig(day=SIM_DAY, seed=seed, **config))


def child_result(done: subprocess.CompletedProcess[str], what: str) -> dict[str, Any]:
    """The result a child process printed after :data:`RESULT_MARK`; its stderr if it printed none."""
    lines = [line for line in done.stdout.splitlines() if line.startswith(RESULT_MARK)]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"{what} failed: {done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(lines[-1][len(RESULT_MARK) :])
    return result


def run_child(command: Sequence[str], what: str, timeout: float) -> subprocess.CompletedProcess[str]:
    """``command`` in a process of its own, as a user runs it (this environment without what
    would point it at a real AWS); raises with the tail of its output if it failed."""
    done = subprocess.run(  # noqa: S603 - our interpreter, our commands
        list(command), capture_output=True, text=True, timeout=timeout, check=False, env=child_env()
    )
    if done.returncode != 0:
        raise RuntimeError(f"{what} failed: {(done.stdout + done.stderr)[-2000:]}")
    return done


def child_env() -> dict[str, str]:
    """This process's environment for a child, without what would point it at a real AWS."""
    return {k: v for k, v in os.environ.items() if k not in UNSET_ENV}
