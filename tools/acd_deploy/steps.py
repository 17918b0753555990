"""What every part of the deploy test shares: the step failure it raises and its log line."""

from __future__ import annotations

import logging
from pathlib import Path
from types import FrameType

REGION = "eu-central-1"  # samconfig.toml's [default.deploy.parameters] region
_LOG = logging.getLogger("acd_deploy")


class StepFailed(RuntimeError):
    """A step of the deploy test could not be done; the message names the step."""

    def __init__(self, step: str, detail: str) -> None:
        super().__init__(f"step '{step}' failed: {detail}")
        self.step = step


def log(message: str) -> None:
    _LOG.info(message)


def tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return f"({path} unreadable)"
    return "\n".join(text.strip().splitlines()[-lines:])


def interrupted(signum: int, _frame: FrameType | None) -> None:
    """SIGTERM handler: unwind like Ctrl-C, so whatever was started is stopped on the way out."""
    raise KeyboardInterrupt(f"signal {signum}")
