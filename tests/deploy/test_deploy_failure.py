"""A deploy that fails names the resource and the reason. The built template without the
metric-math-alarm workaround is deployed as a stack of its own: that the emulator still refuses
the alarm is what keeps the workaround (and the day it stops refusing, this test says so)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from acd_deploy.stack import DeployedStack, sam_deploy
from acd_deploy.steps import StepFailed
from acd_devkit.template import load_template

STACK = "acd-callback-hub-no-workaround"


def test_the_metric_math_alarm_fails_the_deploy_by_name(stack: DeployedStack, work_dir: Path) -> None:
    built = work_dir / "build" / "template.yaml"
    plain = built.parent / "template.no-workaround.json"
    plain.write_text(json.dumps(load_template(built)), encoding="utf-8")
    with pytest.raises(StepFailed) as failed:
        sam_deploy(plain, work_dir, stack.env, stack.clients, stack_name=STACK)
    message = str(failed.value)
    assert message.startswith(f"step 'sam deploy {STACK}' failed: resources failed: "), message
    assert "RejectedCallbacksAlarm (AWS::CloudWatch::Alarm): " in message, message
