"""Where a running ``acd-local`` listens, for the commands of another shell.

The ports are options (``--port``, ``--aws-port``; ``0`` picks free ones), so a command written
down once (the README's quick start, the banner) cannot name them. Instead ``acd-local`` writes
this file while it runs, and ``acd-local env`` (shell exports) and ``acd-sim`` (its default URL)
read it. One file per checkout: the stack started last is the one found.

The file lives beside the default data folder (``.acd-local/running.json``, ignored by git),
whatever ``--data-dir``/``--ephemeral`` say, so it is found from the repository whatever the
run; ``$ACD_LOCAL_RUN_FILE`` moves it (tests running a stack of their own). It holds the
generated token of a run (the banner shows that one too), never a token the user chose, and is
readable by its owner only. A file whose process is gone is ignored: a ``kill -9`` leaves it
behind, and the next start replaces it.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

RUN_FILE_ENV = "ACD_LOCAL_RUN_FILE"
RUN_FILE_NAME = "running.json"
DATA_DIR_NAME = ".acd-local"


@dataclass(frozen=True)
class RunningStack:
    pid: int
    callback_url: str  # without the token: http://127.0.0.1:PORT/callback
    aws_endpoint: str
    region: str
    token: str | None  # a generated token only; None when the user chose the tokens


def run_file() -> Path:
    """``$ACD_LOCAL_RUN_FILE``, else ``.acd-local/running.json`` beside the template."""
    if env := os.environ.get(RUN_FILE_ENV):
        return Path(env)
    from acd_devkit import template as tpl  # noqa: PLC0415 - only to find the repository

    try:
        root = tpl.find_template(None).resolve().parent
    except FileNotFoundError:
        root = Path.cwd()
    return root / DATA_DIR_NAME / RUN_FILE_NAME


def write(stack: RunningStack, path: Path | None = None) -> Path:
    """Replace the file at once (a reader never sees half of it), owner-readable only."""
    path = path or run_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        json.dump(asdict(stack), file)
    os.replace(partial, path)
    return path


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def read(path: Path | None = None) -> RunningStack | None:
    """The running stack, or None: no file, an unreadable one, or its process is gone."""
    path = path or run_file()
    try:
        found = json.loads(path.read_text(encoding="utf-8"))
        stack = RunningStack(
            pid=int(found["pid"]),
            callback_url=str(found["callback_url"]),
            aws_endpoint=str(found["aws_endpoint"]),
            region=str(found["region"]),
            token=None if found.get("token") is None else str(found["token"]),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return stack if _alive(stack.pid) else None


def remove(pid: int, path: Path | None = None) -> None:
    """Remove the file if it is still this process's (a later start may have replaced it)."""
    path = path or run_file()
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        if int(json.loads(path.read_text(encoding="utf-8"))["pid"]) == pid:
            path.unlink()
