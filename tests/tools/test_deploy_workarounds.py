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
    math = {k for k, v in original["Resources"].items() if "Metrics" in v.get("Properties", {})}
    others = {k: v for k, v in changed["Resources"].items() if k not in math and not k.endswith("Part2")}
    assert others == {k: v for k, v in original["Resources"].items() if k not in math}


def test_an_alarm_above_0_on_a_sum_of_metrics_is_one_alarm_per_metric() -> None:
    template = load_template()
    original = template["Resources"]["EventsTableThrottlesAlarm"]["Properties"]
    changed = workarounds.single_metric_alarms(template)["Resources"]
    alarms = [changed["EventsTableThrottlesAlarm"], changed["EventsTableThrottlesAlarmPart2"]]
    assert "EventsTableThrottlesAlarmPart3" not in changed
    assert [a["Properties"]["MetricName"] for a in alarms] == ["ReadThrottleEvents", "WriteThrottleEvents"]
    for alarm in alarms:
        properties = alarm["Properties"]
        assert "Metrics" not in properties
        assert (properties["Namespace"], properties["Statistic"], properties["Period"]) == (
            "AWS/DynamoDB",
            "Sum",
            300,
        )
        assert properties["Dimensions"] == [{"Name": "TableName", "Value": {"Ref": "EventsTable"}}]
        kept = {k: v for k, v in original.items() if k != "Metrics"}
        assert {k: properties[k] for k in kept} == kept  # threshold, comparison, actions, description


@pytest.mark.parametrize(
    ("expression", "threshold"),
    [("FILL(reads, 0) + FILL(writes, 0)", 5), ("FILL(reads, 0) - FILL(writes, 0)", 0), ("reads + writes", 0)],
)
def test_a_sum_alarm_the_split_would_not_keep_exact_stops_the_deploy(expression: str, threshold: int) -> None:
    stat = {"Metric": {"Namespace": "N", "MetricName": "M"}, "Period": 60, "Stat": "Sum"}
    template = {
        "Resources": {
            "Odd": {
                "Type": "AWS::CloudWatch::Alarm",
                "Properties": {
                    "Threshold": threshold,
                    "ComparisonOperator": "GreaterThanThreshold",
                    "Metrics": [
                        {"Id": "reads", "MetricStat": stat, "ReturnData": False},
                        {"Id": "writes", "MetricStat": stat, "ReturnData": False},
                        {"Id": "e", "Expression": expression, "ReturnData": True},
                    ],
                },
            }
        }
    }
    with pytest.raises(StepFailed, match="Odd"):
        workarounds.single_metric_alarms(template)


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


def test_a_conditional_functions_routes_and_their_authorizer() -> None:
    """SAM wraps a function under a Condition (the board's) in Fn::If at the path, the operation
    and the uri; the stack's own condition decides, and the route keeps its JWT authorizer."""

    def when(value: object) -> dict[str, object]:
        return {"Fn::If": ["BoardEnabled", value, {"Ref": "AWS::NoValue"}]}

    uri = {
        "Fn::Sub": "arn:aws:apigateway:r:lambda:path/2015-03-31/functions/${BoardFunction.Arn}/invocations"
    }
    operation = {
        "x-amazon-apigateway-integration": {
            "type": "aws_proxy",
            "uri": when(uri),
            "payloadFormatVersion": "2.0",
        },
        "security": [{"BoardLogin": []}],
    }
    body = {"paths": {"/": when({"get": when(operation)}), "/report": when({"get": when(operation)})}}
    on = workarounds.chosen_paths(body, lambda condition: condition == "BoardEnabled")
    assert [key for key, _ in workarounds.route_keys(on)] == ["GET /", "GET /report"]
    assert on["paths"]["/"]["get"]["x-amazon-apigateway-integration"]["uri"] == uri
    assert workarounds.route_authorizers(on) == {
        "GET /": ("BoardLogin", []),
        "GET /report": ("BoardLogin", []),
    }
    off = workarounds.chosen_paths(body, lambda _: False)
    assert workarounds.route_keys(off) == []


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
