"""Where a running acd-local listens (``acd_local.running``), and ``acd-local env``: the file is
its owner's only, a stack whose process is gone is not found, a chosen token is never written,
and the exports are shell-quoted."""

from __future__ import annotations

import os
import shlex
import stat
from pathlib import Path
from types import SimpleNamespace

import pytest
from click.testing import CliRunner

from acd_local import running, stack


@pytest.fixture
def run_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "sub" / "running.json"
    monkeypatch.setenv(running.RUN_FILE_ENV, str(path))
    return path


def hub(tokens_source: str) -> SimpleNamespace:
    return SimpleNamespace(
        base_url="http://127.0.0.1:18611",
        aws_endpoint="http://127.0.0.1:18612",
        region="eu-central-1",
        tokens=("tok-$(rm -rf x)'",),
        tokens_source=tokens_source,
    )


def test_a_generated_token_is_exported_shell_quoted(run_file: Path) -> None:
    stack._announce(hub("generated"))  # type: ignore[arg-type]
    assert stat.S_IMODE(run_file.stat().st_mode) == 0o600
    result = CliRunner().invoke(stack.main, ["env"])
    assert result.exit_code == 0, result.output
    exported = dict(line.removeprefix("export ").split("=", 1) for line in result.output.splitlines())
    assert {name: shlex.split(value)[0] for name, value in exported.items()} == {
        "TOKEN": "tok-$(rm -rf x)'",
        "ACD_CALLBACK_URL": "http://127.0.0.1:18611/callback",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:18612",
    }


def test_a_chosen_token_is_never_written(run_file: Path) -> None:
    stack._announce(hub("environment"))  # type: ignore[arg-type]
    assert "tok-" not in run_file.read_text(encoding="utf-8")
    result = CliRunner().invoke(stack.main, ["env"])
    assert result.exit_code == 0
    assert not [line for line in result.output.splitlines() if line.startswith("export TOKEN=")]
    assert "# TOKEN is one of your ACD_CALLBACK_TOKENS (not shown)" in result.output


def test_no_stack_or_a_dead_one_is_not_found(run_file: Path) -> None:
    result = CliRunner().invoke(stack.main, ["env"])
    assert result.exit_code == 1
    assert "no running acd-local found" in result.output
    running.write(running.RunningStack(2**22 + 11, "http://127.0.0.1:9/callback", "-", "r", None))
    assert running.read() is None  # its process is gone (kill -9)
    assert CliRunner().invoke(stack.main, ["env"]).exit_code == 1


def test_only_its_own_file_is_removed(run_file: Path) -> None:
    running.write(running.RunningStack(os.getpid(), "http://127.0.0.1:9/callback", "-", "r", None))
    running.remove(os.getpid() + 1)  # an earlier stack stopping after a later one started
    assert running.read() is not None
    running.remove(os.getpid())
    assert not run_file.exists()
