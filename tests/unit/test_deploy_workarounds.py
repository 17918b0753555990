"""The deploy test's workarounds for the emulator's gaps (tools/acd_deploy/workarounds.py): each
does only what it says, refuses what it does not know, and the README lists every one."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from acd_deploy import workarounds
from acd_deploy.steps import StepFailed
from acd_devkit.template import load_template

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_metric_math_alarm_watches_its_one_metric_and_nothing_else_changes() -> None:
    template = load_template()
    original = copy.deepcopy(template)
    changed = workarounds.single_metric_alarms(template)
    assert template == original  # a copy is changed, never the template read
    alarm = changed["Resources"]["RejectedCallbacksAlarm"]["Properties"]
    assert "Metrics" not in alarm
    assert (
        alarm["Namespace"],
        alarm["MetricName"],
        alarm["Dimensions"],
        alarm["Statistic"],
        alarm["Period"],
    ) == (
        "AcdCallbackHub",
        "Callbacks",
        [{"Name": "outcome", "Value": "rejected"}],
        "Sum",
        300,
    )
    assert alarm["Threshold"] == original["Resources"]["RejectedCallbacksAlarm"]["Properties"]["Threshold"]
    others = {k: v for k, v in changed["Resources"].items() if k != "RejectedCallbacksAlarm"}
    assert others == {k: v for k, v in original["Resources"].items() if k != "RejectedCallbacksAlarm"}


def test_a_metric_math_alarm_of_another_form_stops_the_deploy() -> None:
    template = {
        "Resources": {
            "Odd": {
                "Type": "AWS::CloudWatch::Alarm",
                "Properties": {"Metrics": [{"Id": "e", "Expression": "m1 / m2 * 100", "ReturnData": True}]},
            }
        }
    }
    with pytest.raises(StepFailed, match="Odd"):
        workarounds.single_metric_alarms(template)


def test_route_keys_from_sams_openapi_body() -> None:
    integration = {"type": "aws_proxy", "uri": "arn", "payloadFormatVersion": "2.0"}
    body = {
        "paths": {
            "/callback/{token}": {"get": {"x-amazon-apigateway-integration": integration}, "parameters": []},
            "$default": {"x-amazon-apigateway-any-method": {"x-amazon-apigateway-integration": integration}},
        }
    }
    assert [key for key, _ in workarounds.route_keys(body)] == ["GET /callback/{token}", "$default"]


def test_the_stacks_api_url_as_the_emulator_serves_it() -> None:
    url = workarounds.local_api_url(
        "https://ab12cd.execute-api.eu-central-1.amazonaws.com/", "http://127.0.0.1:4566"
    )
    assert url == "http://127.0.0.1:4566/_aws/execute-api/ab12cd/"
    with pytest.raises(StepFailed, match="find the callback URL"):
        workarounds.local_api_url("https://example.com/", "http://127.0.0.1:4566")


def test_the_readme_lists_every_workaround() -> None:
    readme = README.read_text(encoding="utf-8")
    section = readme[readme.index("## Deploy it locally") :]
    assert [w.name for w in workarounds.WORKAROUNDS if f"`{w.name}`" not in section] == []
