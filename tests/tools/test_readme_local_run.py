"""The README's quick start works when pasted in order: it is the banner's text, ``$TOKEN`` is set
before it is used, the CLIs are called where ``make setup`` puts them, no command carries a UTC
date, and nothing is written into the working tree outside what git ignores. (That the commands
run as written, on a non-default port: tests/e2e/test_readme_quick_start.py.)"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from acd_local.stack import quick_start_lines

REPO = Path(__file__).resolve().parents[2]


def readme() -> str:
    return (REPO / "README.md").read_text(encoding="utf-8")


def quick_start() -> list[str]:
    """The lines of the first shell block of the README's "Quick start" section."""
    section = readme().split("## Quick start", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```bash\n(.*?)```", section, flags=re.DOTALL)
    assert block, "the quick start has no bash block"
    return block.group(1).splitlines()


def all_bash_lines() -> list[str]:
    return [
        line
        for block in re.findall(r"```bash\n(.*?)```", readme(), flags=re.DOTALL)
        for line in block.splitlines()
    ]


def test_the_quick_start_comes_first_and_is_short() -> None:
    headings = re.findall(r"^## (.+)$", readme(), flags=re.MULTILINE)
    assert headings[0] == "Quick start"
    assert len(quick_start()) <= 10


def test_the_quick_start_is_make_run_then_the_banner_s_commands() -> None:
    first, *rest = quick_start()
    assert first.split("#")[0].strip() == "make run"
    assert rest == quick_start_lines()


def test_no_port_no_utc_date_and_an_agent_the_simulator_never_uses() -> None:
    from acd_sim.agents import FIRST_AGENT_NUMBER  # noqa: PLC0415

    text = "\n".join(quick_start())
    assert not re.search(r"127\.0\.0\.1|:\d{4}\b", text), "a fixed address or port"
    agents = {int(a) for a in re.findall(r"agentid=(\d+)|--agent (\d+)", text) for a in a if a}
    assert agents
    assert all(agent < FIRST_AGENT_NUMBER for agent in agents)
    # `date +%F` is the UTC date on most servers: the wrong report day after midnight in Berlin
    assert not [line for line in all_bash_lines() if "date +%F" in line or "date -u" in line]


def test_token_is_set_before_any_command_uses_it() -> None:
    lines = quick_start()
    uses = [i for i, line in enumerate(lines) if "$TOKEN" in line]
    assert uses, "the README no longer shows a command with $TOKEN"
    sets = [i for i, line in enumerate(lines) if line.startswith('eval "$(.venv/bin/acd-local env)"')]
    assert sets
    assert sets[0] < uses[0]


def test_local_clis_are_called_from_the_venv() -> None:
    for line in all_bash_lines():
        for tool in ("acd-report", "acd-sim", "acd-local", "acd-admin"):
            if re.match(rf"^\s*{tool}\b", line):
                raise AssertionError(f"{tool} without .venv/bin/: {line}")


def test_files_the_examples_write_are_ignored_by_git() -> None:
    lines = all_bash_lines()
    written = [m for line in lines for m in re.findall(r"(?:--expect-out|--out)\s+(\S+)", line)]
    assert written
    for path in written:
        ignored = subprocess.run(
            ["git", "check-ignore", "-q", path], cwd=REPO, check=False, capture_output=True
        )
        assert ignored.returncode == 0, f"{path} would be an untracked file"
