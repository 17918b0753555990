"""The README's quick start, run as written: its first line (``make run``) on ports that are not
the defaults, its other lines as they stand in README.md, in one shell, in a fresh directory (so
nothing lands in the working tree) — then ``serve`` as its last line says, and the wallboard it
prints is fetched.

What only a test needs comes from the environment, never by editing a command: the running
stack's file in a folder of the test's own (``ACD_LOCAL_RUN_FILE``), a small simulated day
(``ACD_SIM_*``: acd-sim reads every option from there too) and ``serve``'s port
(``ACD_REPORT_SERVE_PORT``), all from 18600-18699.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from acd_local.stack import quick_start_lines
from tests.support import BackgroundProcess
from tests.tools.test_readme_local_run import quick_start

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
PORTS = range(18600, 18700)


def free_ports(count: int) -> list[int]:
    found = []
    for port in PORTS:
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        found.append(port)
        if len(found) == count:
            return found
    pytest.skip("no free ports in 18600-18699")


@pytest.fixture
def shell_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "ACD_"))}
    env["ACD_LOCAL_RUN_FILE"] = str(tmp_path / "run" / "running.json")
    # a small day (about 30 s on a busy machine instead of minutes); the command stays as written
    env.update({"ACD_SIM_AGENTS": "3", "ACD_SIM_CALLS": "20", "ACD_SIM_OUTBOUND": "3"})
    return env


@pytest.fixture
def stack(tmp_path: Path, shell_env: dict[str, str]) -> Iterator[tuple[int, int, Path]]:
    first = quick_start()[0].split("#")[0].strip()
    assert first == "make run"
    port, aws_port = free_ports(2)
    log = tmp_path / "make-run.log"
    make_run = BackgroundProcess(
        [*first.split(), f"RUN_ARGS=--port {port} --aws-port {aws_port} --ephemeral"],
        log,
        env=shell_env,
        cwd=REPO,
    ).start()
    try:
        make_run.wait_for(r"Ctrl-C \(or SIGTERM\) stops everything", 180)
        yield port, aws_port, log
    finally:
        make_run.stop()


def test_the_quick_start_runs_as_written_on_another_port(
    stack: tuple[int, int, Path], shell_env: dict[str, str], tmp_path: Path
) -> None:
    port, aws_port, log = stack
    assert port != 3000
    assert aws_port != 5000
    banner = log.read_text(encoding="utf-8")
    assert all(line in banner.splitlines() for line in (f"  {line}" for line in quick_start_lines()))

    # the README's lines after `make run`, in one shell, each one's output marked
    *commands, serve = quick_start()[1:]
    assert serve.startswith(".venv/bin/acd-report serve")
    work = tmp_path / "work"
    (work / ".acd-local").mkdir(parents=True)
    (work / ".venv").symlink_to(REPO / ".venv")
    script = ["set -euo pipefail"]
    for index, command in enumerate(commands):
        script += [f"echo; echo '>>> {index}'", command]  # curl's answer ends without a newline
    done = subprocess.run(
        ["bash", "-c", "\n".join(script)],
        cwd=work,
        env=shell_env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, (done.stdout[-4000:], done.stderr[-4000:])
    assert "Traceback" not in done.stdout + done.stderr
    outputs = dict(enumerate(re.split(r"^>>> \d+\n", done.stdout, flags=re.MULTILINE)[1:]))
    said = {command.split("#")[0].strip(): outputs[i] for i, command in enumerate(commands)}

    def output_of(start: str) -> str:
        (found,) = [text for command, text in said.items() if command.startswith(start)]
        return found

    assert re.search(r"^HTTP/1\.1 200", output_of("curl"), flags=re.MULTILINE)
    assert '"status":"stored"' in output_of("curl")
    events = output_of(".venv/bin/acd-report events --agent 100000")
    assert "state=online" in events
    assert "1 row" in events
    assert "0 failed" in output_of(".venv/bin/acd-sim")
    expected = json.loads((work / ".acd-local" / "expected.json").read_text(encoding="utf-8"))
    hotlines = output_of(".venv/bin/acd-report hotlines")
    for hotline in expected["kpis"]:
        assert re.search(rf"^{hotline}\s", hotlines, flags=re.MULTILINE), hotlines
    agents = output_of(".venv/bin/acd-report agents")
    assert re.search(r"^100000\s", agents, flags=re.MULTILINE)
    assert re.search(r"^100001\s", agents, flags=re.MULTILINE)
    kpis = output_of(".venv/bin/acd-report kpis --hotline 501")
    assert "KPIs of hotline 501" in kpis or "No KPIs for hotline 501" in kpis  # the stream may lag
    assert "agent-stats" in output_of(".venv/bin/acd-report freshness")

    # serve, as written, in the same kind of shell; the address it prints answers
    serve_port = free_ports(1)[0]
    env = {**shell_env, "ACD_REPORT_SERVE_PORT": str(serve_port)}
    serving = BackgroundProcess(
        ["bash", "-c", f"{commands[0]}\nexec {serve}"], tmp_path / "serve.log", env=env, cwd=work
    ).start()
    try:
        address = serving.wait_for(r"Wallboard\s+(http://127\.0\.0\.1:\d+/)", 60).group(1)
        assert address == f"http://127.0.0.1:{serve_port}/"
        with urllib.request.urlopen(address + "api/wallboard", timeout=30) as answer:
            board = json.loads(answer.read())
        assert answer.status == 200
        assert "100000" in json.dumps(board)
    finally:
        serving.stop()
