"""``make deploy-compare``: the same simulated day through acd-local and through the template
deployed into MiniStack, side by side in one run: callbacks/s, seconds from the last callback to
settled reports, exactness, peak memory, and what a kill -9 and a restart keep.

Both run as ``make run`` / ``make deploy-local`` start them, on free loopback ports, with a data
folder (acd-local) or ``PERSIST_STATE=1`` (MiniStack). Memory is the resident set of the whole
process tree (acd-local's moto and function workers, MiniStack's function workers), sampled every
half second; kill -9 goes to every process of the tree. Figures from one run on a shared
machine: read them as ratios.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import click

from acd_deploy import settle
from acd_deploy.emulator import REPO, Emulator, free_port, process_tree, tree_rss_bytes
from acd_deploy.stack import DeployedStack, deploy, new_token
from acd_deploy.steps import interrupted

ACD_LOCAL = REPO / ".venv" / "bin" / "acd-local"
SETTLE_TIMEOUT = 600.0
RESTART_SETTLE_TIMEOUT = 180.0
MIB = 1024 * 1024


@dataclass
class Figures:
    hub: str
    requests: int
    callbacks_per_s: float
    settle_s: float | None
    exact: bool
    peak_rss_mib: float
    after_kill_9: str


@contextlib.contextmanager
def peak_rss(root: Callable[[], int]) -> Iterator[list[int]]:
    """Samples the resident memory of ``root``'s process tree until the block ends; ``[peak]`` in bytes."""
    peak = [0]
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            with contextlib.suppress(Exception):
                peak[0] = max(peak[0], tree_rss_bytes(root()))
            stop.wait(0.5)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield peak
    finally:
        stop.set()
        thread.join()


def _settle(
    connection: Sequence[str], env: dict[str, str], expected: dict[str, object]
) -> tuple[float | None, bool]:
    try:
        seconds: float | None = settle.wait_settled(connection, env, expected, SETTLE_TIMEOUT)
    except AssertionError:
        seconds = None
    return seconds, not settle.mismatches(connection, env, expected)


def _settled_again(connection: Sequence[str], env: dict[str, str], expected: dict[str, object]) -> str:
    """After a restart: are the reports exact again, and how soon (the stream consumers resume)."""
    try:
        seconds = settle.wait_settled(connection, env, expected, RESTART_SETTLE_TIMEOUT)
    except AssertionError as differ:
        return f"reports still differ after {RESTART_SETTLE_TIMEOUT:.0f} s: {str(differ)[:200]}"
    return f"every report exact again {seconds:.0f} s after the restart"


# --- acd-local --------------------------------------------------------------------------------------


@dataclass
class LocalProcess:
    data_dir: Path
    token: str
    port: int
    aws_port: int
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log_file = (self.data_dir.parent / "acd-local.log").open("ab")
        self.process = subprocess.Popen(  # noqa: S603 - our venv's acd-local
            [
                str(ACD_LOCAL),
                "--port",
                str(self.port),
                "--aws-port",
                str(self.aws_port),
                "--data-dir",
                str(self.data_dir),
            ],
            env={**os.environ, "ACD_CALLBACK_TOKENS": self.token},
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"acd-local exited {self.process.returncode}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return
            time.sleep(0.25)
        raise RuntimeError("acd-local did not listen within 120 s")

    def kill_hard(self) -> None:
        """kill -9 of acd-local and its function workers (each in a session of its own)."""
        if self.process is not None:
            for pid in process_tree(self.process.pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            self.process.wait(timeout=30)
            self.process = None

    def stop(self) -> None:
        """SIGTERM: acd-local stops its workers in order."""
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.kill_hard()
            self.process = None


def run_local(work_dir: Path) -> Figures:
    token = new_token()
    (work_dir / "acd-local-data").mkdir(parents=True)
    local = LocalProcess(work_dir / "acd-local-data", token, free_port(), free_port())
    connection = ["--endpoint-url", f"http://127.0.0.1:{local.aws_port}"]
    local.start()
    try:
        assert local.process is not None
        pid = local.process.pid
        with peak_rss(lambda: pid) as peak:
            sent = settle.send_day(f"http://127.0.0.1:{local.port}/callback", token, work_dir)
            settle_s, exact = _settle(connection, {}, sent.expected)
        local.kill_hard()
        local.start()
        kept = _settled_again(connection, {}, sent.expected)
    finally:
        local.stop()
    return Figures(
        "acd-local",
        sent.requests,
        sent.per_second,
        settle_s,
        exact,
        peak[0] / MIB,
        kept,
    )


# --- the deployed stack --------------------------------------------------------------------------------


def _after_restart(
    stack: DeployedStack, connection: Sequence[str], env: dict[str, str], expected: dict[str, object]
) -> str:
    try:
        stacks = stack.clients.cloudformation.describe_stacks(StackName=stack.stack_name)["Stacks"]
    except Exception:
        return "nothing kept: the stack itself is gone (state is saved on a clean shutdown only)"
    if not stacks:
        return "nothing kept: the stack itself is gone"
    return "stack kept; " + _settled_again(connection, env, expected)


def run_deployed(work_dir: Path) -> Figures:
    token = new_token()
    emulator = Emulator(work_dir / "ministack", persist=True)
    try:
        emulator.start()
        stack = deploy(emulator, work_dir, [token])
        connection = ["--stack-name", stack.stack_name]
        env = {k: v for k, v in stack.env.items() if k.startswith("AWS_")}
        assert emulator.process is not None
        pid = emulator.process.pid
        with peak_rss(lambda: pid) as peak:
            sent = settle.send_day(stack.callback_url, token, work_dir)
            settle_s, exact = _settle(connection, env, sent.expected)
        emulator.kill_hard()
        emulator.start()
        kept = _after_restart(stack, connection, env, sent.expected)
    finally:
        emulator.stop()
    return Figures(
        "template in MiniStack", sent.requests, sent.per_second, settle_s, exact, peak[0] / MIB, kept
    )


def table(rows: Sequence[Figures]) -> str:
    lines = [
        f"Simulated day: acd-sim {' '.join(settle.SIM_ARGS + settle.DELIVERY_ARGS)} (concurrency 4).",
        "",
        "| hub | requests | callbacks/s | last callback → settled (s) | exact | peak memory (MiB) | kill -9, restart |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        settled = f"{r.settle_s:.1f}" if r.settle_s is not None else f"not within {SETTLE_TIMEOUT:.0f}"
        lines.append(
            f"| {r.hub} | {r.requests} | {r.callbacks_per_s:.1f} | {settled} | {'yes' if r.exact else 'NO'} "
            f"| {r.peak_rss_mib:.0f} | {r.after_kill_9} |"
        )
    return "\n".join(lines) + "\n"


@click.command()
@click.option(
    "--out", type=click.Path(path_type=Path), default=REPO / "docs" / "deploy-compare.md", show_default=True
)
@click.option("--json-out", type=click.Path(path_type=Path), default=None, help="The figures as JSON too.")
def main(out: Path, json_out: Path | None) -> None:
    """The same day through acd-local and the deployed template, one after the other."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    signal.signal(signal.SIGTERM, interrupted)
    work_dir = Path(tempfile.mkdtemp(prefix="acd-deploy-compare-"))
    try:
        rows = [run_local(work_dir / "local"), run_deployed(work_dir / "deployed")]
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
    text = table(rows)
    click.echo(text)
    out.write_text(
        "# acd-local and the deployed template, side by side (`make deploy-compare`)\n\n" + text,
        encoding="utf-8",
    )
    if json_out:
        json_out.write_text(json.dumps([asdict(r) for r in rows], indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
