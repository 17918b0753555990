"""No token reaches a log line: not the emulator's log, not sam's, not the functions' CloudWatch
logs (where the emulator writes what they print). Runs last (file order), after every request."""

from __future__ import annotations

from pathlib import Path

from acd_deploy.stack import DeployedStack
from acd_devkit.lambda_events import TOKEN as SAMPLE_TOKEN


def function_log_lines(stack: DeployedStack) -> list[str]:
    logs = stack.clients.client("logs")
    lines = []
    for page in logs.get_paginator("describe_log_groups").paginate(logGroupNamePrefix="/aws/lambda/"):
        for group in page["logGroups"]:
            for events in logs.get_paginator("filter_log_events").paginate(
                logGroupName=group["logGroupName"]
            ):
                lines += [event["message"] for event in events["events"]]
    return lines


def test_no_token_in_any_log(stack: DeployedStack, work_dir: Path) -> None:
    lines = function_log_lines(stack)
    assert len(lines) > 100, "the functions' logs are not where this test reads them"
    files = sorted(p for p in work_dir.rglob("*.log") if p.is_file())
    assert any(p.name == "ministack.log" for p in files)
    for token in (stack.token, SAMPLE_TOKEN):
        assert not [line for line in lines if token in line][:3]
        assert [p.name for p in files if token in p.read_text(encoding="utf-8", errors="replace")] == []
