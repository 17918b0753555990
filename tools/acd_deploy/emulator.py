"""MiniStack, an independent AWS emulator, as a child process on a free loopback port.

Read from MiniStack 1.5.33's README (its wheel's METADATA) and its ``app.py``, not assumed:

* ``GATEWAY_PORT`` is the one port of every service. The README does not say where it listens:
  ``app.main`` binds ``BIND_HOST``, default ``0.0.0.0`` (every interface). We set
  ``BIND_HOST=127.0.0.1``: the emulator has no protection beyond the IAM it evaluates, and the
  root key is ``test``/``test``.
* ``AUTH=true`` evaluates IAM policies: a request signed with the root key may do anything; a
  Lambda function runs with its execution role's session and is refused what its policies do
  not grant.
* ``PERSIST_STATE=1`` saves state under ``STATE_DIR`` *on shutdown only* (``persistence.py``:
  "saved to STATE_DIR on shutdown and reloaded on startup"); ``S3_DATA_DIR`` likewise for S3.
  Both go under the run's temporary directory, as does ``TMPDIR`` (the functions' unpacked code).
* Python functions run in worker subprocesses of the emulator's own interpreter
  (``sys.executable``): ``.venv-ministack`` is a python3.13 venv, the runtime of the template,
  with boto3 in it as the Lambda runtime has it.
* ``SFTP_ENABLED=0``/``IOT_MTLS_ENABLED=0``: listeners of services the hub does not use (they
  would bind ``0.0.0.0``).

The emulator and its workers run in a session of their own; stopping it signals that process
group only (nothing found by name).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from acd_deploy.steps import REGION, StepFailed, log, tail

REPO = Path(__file__).resolve().parents[2]
MINISTACK = REPO / ".venv-ministack" / "bin" / "ministack"
LOOPBACK = "127.0.0.1"
ROOT_KEY = "test"  # MiniStack's root access key and secret under AUTH=true (its README)
START_TIMEOUT = 60.0
STOP_GRACE = 10.0


def free_port() -> int:
    """A free loopback port, or ``ACD_DEPLOY_PORT`` when set (a shared machine's own range)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, int(os.environ.get("ACD_DEPLOY_PORT", "0"))))
        return int(probe.getsockname()[1])


def _clean_environment() -> dict[str, str]:
    """The caller's environment less every AWS_* variable: the emulator hands its environment
    on to the functions it runs, and a real profile or endpoint must not reach them."""
    return {name: value for name, value in os.environ.items() if not name.startswith("AWS_")}


@dataclass
class Emulator:
    """One MiniStack process; ``work_dir`` holds its log, state and temporary files."""

    work_dir: Path
    persist: bool = False
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.work_dir / "ministack.log"

    def environment(self) -> dict[str, str]:
        tmp = self.work_dir / "tmp"
        tmp.mkdir(parents=True, exist_ok=True)
        env = _clean_environment()
        env.update(
            {
                "GATEWAY_PORT": str(self.port),
                "BIND_HOST": LOOPBACK,
                "MINISTACK_HOST": LOOPBACK,
                "MINISTACK_REGION": REGION,
                "AUTH": "true",
                "PERSIST_STATE": "1" if self.persist else "0",
                "S3_PERSIST": "1" if self.persist else "0",
                "STATE_DIR": str(self.work_dir / "state"),
                "S3_DATA_DIR": str(self.work_dir / "s3"),
                "TMPDIR": str(tmp),
                "LOG_LEVEL": "WARNING",
                "SFTP_ENABLED": "0",
                "IOT_MTLS_ENABLED": "0",
            }
        )
        return env

    def start(self) -> None:
        if not MINISTACK.is_file():
            raise StepFailed("start the emulator", f"{MINISTACK} is missing: run `make ministack-setup`")
        self.work_dir.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as out:
            self.process = subprocess.Popen(  # noqa: S603 - our venv's ministack, fixed arguments
                [str(MINISTACK)],
                cwd=self.work_dir,
                env=self.environment(),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        log(f"MiniStack PID {self.process.pid} on {self.endpoint} (AUTH=true, persist={self.persist})")
        self._wait_healthy()

    def _wait_healthy(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise StepFailed(
                    "start the emulator",
                    f"MiniStack exited {self.process.returncode}:\n{tail(self.log_path)}",
                )
            with contextlib.suppress(OSError, ValueError):
                with urllib.request.urlopen(f"{self.endpoint}/_ministack/health", timeout=2) as answer:  # noqa: S310 - our loopback URL
                    health = json.loads(answer.read())
                if health.get("services", {}).get("cloudformation") in ("available", "running"):
                    return
            time.sleep(0.25)
        self.stop()
        raise StepFailed(
            "start the emulator", f"no healthy answer within {START_TIMEOUT:.0f}s (log {self.log_path})"
        )

    def _signal_group(self, sig: signal.Signals) -> None:
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, sig)

    def stop(self) -> None:
        """SIGTERM (MiniStack then saves its state when persisting), then SIGKILL to what is left
        of its process group: the function workers it started."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=STOP_GRACE)
        self._signal_group(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=STOP_GRACE)
        log(f"MiniStack PID {self.process.pid} stopped")
        self.process = None

    def kill_hard(self) -> None:
        """kill -9 of the emulator and its workers: no shutdown hook runs."""
        self._signal_group(signal.SIGKILL)
        if self.process is not None:
            self.process.wait(timeout=STOP_GRACE)
            self.process = None


def _stat_fields(stat: Path) -> list[str]:
    # the command may hold spaces and parentheses: fields count from the last ')'
    return stat.read_text().rsplit(")", 1)[1].split()


def process_tree(root: int) -> list[int]:
    """``root`` and every descendant, found by parent id: acd-local starts its function workers
    in sessions of their own, so a process group does not hold them."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            children.setdefault(int(_stat_fields(stat)[1]), []).append(int(stat.parent.name))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo += children.get(pid, [])
    return tree


def tree_rss_bytes(root: int) -> int:
    """Resident memory of ``root`` and its descendants."""
    page = os.sysconf("SC_PAGE_SIZE")
    total = 0
    for pid in process_tree(root):
        with contextlib.suppress(OSError, ValueError, IndexError):
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * page
    return total
