"""The README's "run locally" commands work when pasted in order: ``$TOKEN`` is set before it is
used, the CLIs are called where ``make setup`` puts them, and nothing writes into the working tree
outside what git ignores."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def bash_blocks() -> list[str]:
    """The shell blocks of the README's "Running locally" section."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("### Running locally", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.*?)```", section, flags=re.DOTALL)


def test_token_is_exported_before_any_command_uses_it() -> None:
    lines = [line for block in bash_blocks() for line in block.splitlines()]
    uses = [i for i, line in enumerate(lines) if "$TOKEN" in line or '"$TOKEN"' in line]
    assert uses, "the README no longer shows a command with $TOKEN"
    exports = [i for i, line in enumerate(lines) if line.startswith("export TOKEN=")]
    assert exports
    assert exports[0] < uses[0]


def test_local_clis_are_called_from_the_venv() -> None:
    for block in bash_blocks():
        for line in block.splitlines():
            for tool in ("acd-report", "acd-sim", "acd-local", "acd-admin"):
                if re.match(rf"^\s*{tool}\b", line):
                    raise AssertionError(f"{tool} without .venv/bin/: {line}")


def test_files_the_examples_write_are_ignored_by_git() -> None:
    written = [match for block in bash_blocks() for match in re.findall(r"--expect-out\s+(\S+)", block)]
    assert written
    for path in written:
        ignored = subprocess.run(
            ["git", "check-ignore", "-q", path], cwd=REPO, check=False, capture_output=True
        )
        assert ignored.returncode == 0, f"{path} would be an untracked file"
