"""A deploy that fails names the resource and the reason. The built template without the
metric-math-alarm workaround is deployed as a stack of its own: that the emulator still refuses
the alarm is what keeps the workaround (and the day it stops refusing, this test says so)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from acd_deploy.stack import DeployedStack, sam_deploy
from acd_deploy.steps import StepFailed
from acd_devkit.template import load_template

STACK = "acd-callback-hub-no-workaround"


def test_the_metric_math_alarm_fails_the_deploy_by_name(stack: DeployedStack, work_dir: Path) -> None:
    """The emulator stops at the first metric-math alarm it creates (which one depends on its
    order): every resource named is one of them, with the emulator's reason."""
    built = work_dir / "build" / "template.yaml"
    template = load_template(built)
    metric_math = {
        logical_id
        for logical_id, resource in template["Resources"].items()
        if resource.get("Type") == "AWS::CloudWatch::Alarm" and "Metrics" in resource.get("Properties", {})
    }
    assert {
        "RejectedCallbacksAlarm",
        "EventsTableThrottlesAlarm",
        "ReportsTableThrottlesAlarm",
    } <= metric_math
    plain = built.parent / "template.no-workaround.json"
    plain.write_text(json.dumps(template), encoding="utf-8")
    with pytest.raises(StepFailed) as failed:
        sam_deploy(plain, work_dir, stack.env, stack.clients, stack_name=STACK)
    message = str(failed.value)
    prefix = f"step 'sam deploy {STACK}' failed: resources failed: "
    assert message.startswith(prefix), message
    named = re.findall(
        r"(\w+) \(AWS::CloudWatch::Alarm\): [^;]*Metrics \(metric math\) is not supported", message
    )
    assert named, message
    assert set(named) <= metric_math, message
    failed_ids = re.findall(r"(?:^|; )(\w+) \(AWS::\w+::\w+\): ", message.removeprefix(prefix))
    assert failed_ids == named, message  # no other resource failed
