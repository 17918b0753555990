"""Alarms, the alarm topic and the dashboard, as this template has them: every alarm notifies the
one alarm topic, the rejected-callbacks alarm reads the metric the ingest really emits, the
dashboard body is valid JSON that shows every function, queue and alarm; and acd-admin's view of
the stream consumers (cmds, DLQs) is the template's.

That every function, stream, dead-letter queue and API has its alarm, and that alarm topics are
encrypted with a key CloudWatch may use, are cfn-lint rules (tools/cfn_rules, test_rules.py)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from acd_cli.redrive import CONSUMERS
from acd_devkit.template import (
    SERVERLESS_FUNCTION,
    function_environment,
    referenced_resource,
    resolve,
    resources_of_type,
    stream_mappings,
)
from acd_hub.auth import static_tokens
from acd_hub.ingest import CallbackIngest
from acd_hub.settings import HubSettings
from tests.support import (
    FUNCTION_ENVIRONMENT,
    TOKEN,
    MemoryStore,
    ingest_answer,
)

pytestmark = pytest.mark.template

ALARM = "AWS::CloudWatch::Alarm"


@pytest.fixture(scope="module")
def alarms(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found = {logical_id: r["Properties"] for logical_id, r in resources_of_type(template, ALARM).items()}
    assert found, "no alarms in the template"
    return found


def _dimensions(alarm: dict[str, Any]) -> dict[str, Any]:
    return {d["Name"]: d["Value"] for d in alarm.get("Dimensions", [])}


def _alarms_on(
    alarms: dict[str, dict[str, Any]], namespace: str, metric: str, dimension: str, target: str
) -> list[dict[str, Any]]:
    return [
        alarm
        for alarm in alarms.values()
        if alarm.get("Namespace") == namespace
        and alarm.get("MetricName") == metric
        and referenced_resource(_dimensions(alarm).get(dimension)) == target
    ]


def _namespace(template: dict[str, Any]) -> str:
    namespace = template["Globals"]["Function"]["Environment"]["Variables"]["POWERTOOLS_METRICS_NAMESPACE"]
    assert isinstance(namespace, str)
    return namespace


def test_lag_alarms_fire_at_the_parameters_threshold(
    template: dict[str, Any], alarms: dict[str, Any]
) -> None:
    for mapping in stream_mappings(template):
        (lag,) = _alarms_on(alarms, "AWS/Lambda", "IteratorAge", "FunctionName", mapping["function"])
        assert lag["Threshold"] == {"Ref": "StreamLagAlarmMilliseconds"}


def test_every_queue_is_a_dlq(template: dict[str, Any]) -> None:
    """So the depth alarm of every dead-letter queue (a rule) is one on every queue."""
    queues = resources_of_type(template, "AWS::SQS::Queue")
    destinations = {mapping["on_failure"] for mapping in stream_mappings(template)}
    assert set(queues) == {"StatsDLQ"}
    assert destinations == {*queues, "FanoutFailuresBucket"}


def test_records_the_fanout_gave_up_on_raise_an_alarm(
    alarms: dict[str, Any], template: dict[str, Any]
) -> None:
    """The bucket has no depth metric: its request metrics count every record Lambda writes."""
    (config,) = template["Resources"]["FanoutFailuresBucket"]["Properties"]["MetricsConfigurations"]
    (alarm,) = _alarms_on(alarms, "AWS/S3", "PutRequests", "BucketName", "FanoutFailuresBucket")
    assert _dimensions(alarm)["FilterId"] == config["Id"]
    assert (alarm["Statistic"], alarm["Threshold"], alarm["ComparisonOperator"]) == (
        "Sum",
        0,
        "GreaterThanThreshold",
    )


@pytest.mark.parametrize("table", ["EventsTable", "ReportsTable"])
def test_every_table_has_a_throttling_alarm(alarms: dict[str, Any], table: str) -> None:
    """Read and write throttle events of the table (on-demand: its table and partition limits),
    summed; any one fires."""
    (alarm,) = [
        alarm
        for alarm in alarms.values()
        if any(
            m.get("MetricStat", {}).get("Metric", {}).get("Dimensions")
            == [{"Name": "TableName", "Value": {"Ref": table}}]
            for m in alarm.get("Metrics", [])
        )
    ]
    stats = {m["Id"]: m["MetricStat"] for m in alarm["Metrics"] if "MetricStat" in m}
    assert {s["Metric"]["MetricName"] for s in stats.values()} == {
        "ReadThrottleEvents",
        "WriteThrottleEvents",
    }
    assert {s["Metric"]["Namespace"] for s in stats.values()} == {"AWS/DynamoDB"}
    (returned,) = [m for m in alarm["Metrics"] if m.get("ReturnData")]
    assert returned["Expression"] == " + ".join(f"FILL({i}, 0)" for i in sorted(stats))
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (0, "GreaterThanThreshold")


def test_every_alarm_notifies_the_alarm_topic(alarms: dict[str, Any]) -> None:
    for logical_id, alarm in alarms.items():
        assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}], logical_id
        assert alarm["OKActions"] == [{"Ref": "AlarmTopic"}], logical_id


def test_only_this_accounts_cloudwatch_may_use_the_alarm_key(template: dict[str, Any]) -> None:
    key = template["Resources"]["AlarmTopicKey"]["Properties"]
    (cloudwatch,) = [
        s for s in key["KeyPolicy"]["Statement"] if s["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    ]
    assert set(cloudwatch["Action"]) == {"kms:Decrypt", "kms:GenerateDataKey*"}
    assert cloudwatch["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}


def test_alarm_email_is_optional(template: dict[str, Any]) -> None:
    assert template["Parameters"]["AlarmEmail"]["Default"] == ""
    assert template["Conditions"]["HasAlarmEmail"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmEmail"}, ""]}]
    }
    subscriptions = resources_of_type(template, "AWS::SNS::Subscription")
    assert set(subscriptions) == {"AlarmEmailSubscription"}
    subscription = subscriptions["AlarmEmailSubscription"]
    assert subscription["Condition"] == "HasAlarmEmail"
    assert subscription["Properties"] == {
        "TopicArn": {"Ref": "AlarmTopic"},
        "Protocol": "email",
        "Endpoint": {"Ref": "AlarmEmail"},
    }


def _rejected_query(alarms: dict[str, Any]) -> str:
    (query,) = [
        metric["Expression"]
        for alarm in alarms.values()
        for metric in alarm.get("Metrics", [])
        if "Callbacks" in metric.get("Expression", "")
    ]
    return str(query)


def test_rejected_alarm_reads_the_metric_the_ingest_emits(
    template: dict[str, Any],
    alarms: dict[str, Any],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Run a bad callback through the ingest function imported under the template's namespace and
    service, with Powertools metrics on, and read the EMF line it prints: the alarm's query must
    name that namespace, metric and dimension set, and the outcome value."""
    query = _rejected_query(alarms)
    match = re.fullmatch(
        r'SELECT SUM\((\w+)\) FROM SCHEMA\("([^"]+)", ([\w, ]+)\) WHERE outcome = \'(\w+)\'',
        " ".join(query.split()),
    )
    assert match, query
    metric, namespace, dimensions, outcome = match.groups()
    # as deployed (a local stack running in this process turns metrics off in the environment)
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    monkeypatch.delenv("POWERTOOLS_DEV", raising=False)

    environment = {
        **FUNCTION_ENVIRONMENT,
        "POWERTOOLS_SERVICE_NAME": function_environment(template, "IngestFunction")[
            "POWERTOOLS_SERVICE_NAME"
        ],
        "POWERTOOLS_METRICS_NAMESPACE": _namespace(template),
    }
    settings = HubSettings(callback_tokens=[TOKEN])
    capsys.readouterr()
    answer = ingest_answer(
        CallbackIngest(settings, MemoryStore(), static_tokens(settings)),
        f"/callback/{TOKEN}?cmd=agentstate&agentid=12",
        environment=environment,
    )
    assert answer["statusCode"] == 400
    (emf,) = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    (directive,) = emf["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == namespace
    assert [m["Name"] for m in directive["Metrics"]] == [metric]
    (emitted_dimensions,) = directive["Dimensions"]
    assert set(emitted_dimensions) == {d.strip() for d in dimensions.split(",")}
    assert emf["outcome"] == outcome


def _dashboard(template: dict[str, Any]) -> dict[str, Any]:
    """The dashboard body with every ${...} given a recognisable stand-in value."""
    body = template["Resources"]["Dashboard"]["Properties"]["DashboardBody"]
    names = set(re.findall(r"\$\{([^}!]+)\}", body["Fn::Sub"]))
    refs = {name: f"<{name}>" for name in names}
    refs["StreamLagAlarmMilliseconds"] = "300000"  # a Number parameter: substituted bare
    return dict(json.loads(resolve(body, refs)))


def test_dashboard_shows_every_function_queue_and_alarm(
    template: dict[str, Any], alarms: dict[str, Any]
) -> None:
    dashboard = _dashboard(template)
    text = json.dumps(dashboard)
    # A resource under a Condition (the board, the opening-hours alarm) may not exist: the one
    # dashboard body of every stack cannot name it. Its alarms still notify the topic.
    conditional = {
        logical_id for logical_id, resource in template["Resources"].items() if "Condition" in resource
    }
    for function in resources_of_type(template, SERVERLESS_FUNCTION):
        if function in conditional:
            continue
        assert f'"<{function}>"' in text, function
    for queue in resources_of_type(template, "AWS::SQS::Queue"):
        assert f'"<{queue}.QueueName>"' in text, queue
    assert '"<HttpApi>"' in text
    (alarm_widget,) = [w for w in dashboard["widgets"] if w["type"] == "alarm"]
    assert set(alarm_widget["properties"]["alarms"]) == {
        f"<{logical_id}.Arn>" for logical_id in alarms if logical_id not in conditional
    }
    titles = " | ".join(w["properties"]["title"] for w in dashboard["widgets"])
    for topic in ("Callbacks by cmd and outcome", "Latency", "Stream lag", "Errors", "DLQ depth"):
        assert topic in titles


def test_dashboard_searches_the_callbacks_metric(template: dict[str, Any]) -> None:
    expressions = [
        metric[0]["expression"]
        for widget in _dashboard(template)["widgets"]
        for metric in widget["properties"].get("metrics", [])
        if isinstance(metric[0], dict)
    ]
    schema = f"{{{_namespace(template)},cmd,outcome,service}}"
    assert len(expressions) == 2
    assert all(e.startswith(f'SEARCH(\'{schema} MetricName="Callbacks"') for e in expressions)
    assert any('outcome="rejected"' in e for e in expressions)


def test_outputs_name_the_alarm_topic_and_dashboard(template: dict[str, Any]) -> None:
    outputs = template["Outputs"]
    assert outputs["AlarmTopicArn"]["Value"] == {"Ref": "AlarmTopic"}
    assert "Dashboard" in outputs["DashboardUrl"]["Value"]["Fn::Sub"]


def test_admin_consumers_match_the_stream_mappings(template: dict[str, Any]) -> None:
    """acd-admin redrive filters records and finds DLQs as the template's mappings do."""
    mappings = {m["function"]: m for m in stream_mappings(template)}
    assert {c.function for c in CONSUMERS.values()} == set(mappings)
    for consumer in CONSUMERS.values():
        mapping = mappings[consumer.function]
        (pattern,) = mapping["filter_patterns"]
        assert set(pattern["dynamodb"]["NewImage"]["cmd"]["S"]) == consumer.cmds, consumer.name
        assert template["Outputs"][consumer.dlq_output]["Value"] == {"Ref": mapping["on_failure"]}


# --- issue 18: a botched rotation, and silence in opening hours ---------------------------------


def test_refused_callbacks_alarm_reads_the_series_the_ingest_emits(
    template: dict[str, Any], alarms: dict[str, Any]
) -> None:
    refused = alarms["RefusedCallbacksAlarm"]
    service = template["Globals"]["Function"]["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"]
    assert (refused["Namespace"], refused["MetricName"]) == (_namespace(template), "RefusedCallbacks")
    # the ingest's refusals carry Powertools' default dimension only (test_hostile_input)
    assert _dimensions(refused) == {"service": service}
    assert refused["Statistic"] == "Sum"
    assert refused["Threshold"] == {"Ref": "RefusedCallbacksAlarmThreshold"}
    assert refused["ComparisonOperator"] == "GreaterThanThreshold"
    assert refused["TreatMissingData"] == "notBreaching"


def test_no_callbacks_alarm_only_with_opening_hours(template: dict[str, Any]) -> None:
    resource = template["Resources"]["NoCallbacksAlarm"]
    assert resource["Condition"] == "HasOpeningHours"
    assert template["Conditions"]["HasOpeningHours"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "OpeningHoursUtc"}, ""]}]
    }
    assert template["Parameters"]["OpeningHoursUtc"]["Default"] == ""  # a stack with no ACD yet stays quiet
    alarm = resource["Properties"]
    metrics = {m["Id"]: m for m in alarm["Metrics"]}
    stat = metrics["requests"]["MetricStat"]
    assert (stat["Metric"]["Namespace"], stat["Metric"]["MetricName"]) == ("AWS/ApiGateway", "Count")
    assert referenced_resource(stat["Metric"]["Dimensions"][0]["Value"]) == "HttpApi"
    assert metrics["callbacks"]["Expression"] == "FILL(requests, 0)"
    expression, variables = metrics["quiet"]["Expression"]["Fn::Sub"]
    assert [m["Id"] for m in alarm["Metrics"] if m.get("ReturnData", True)] == ["quiet"]
    # filled in as the parameters say: within the hours the count, outside them 1 (never quiet)
    text = resolve({"Fn::Sub": [expression, {"From": "6", "To": "17"}]}, {"OpeningDays": "5"})
    assert text == ("IF(DAY(callbacks) <= 5 AND HOUR(callbacks) >= 6 AND HOUR(callbacks) < 17, callbacks, 1)")
    assert set(variables) == {"From", "To"}
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (1, "LessThanThreshold")
    assert alarm["EvaluationPeriods"] * stat["Period"] == 1800  # 30 minutes of silence
    assert alarm["TreatMissingData"] == "breaching"
    assert alarm["AlarmActions"] == [{"Ref": "AlarmTopic"}]


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("", True),
        ("6-17", True),
        ("0-24", True),
        ("22-23", True),
        ("06-17", False),
        ("6-25", False),
        ("6:00-17:00", False),
    ],
)
def test_opening_hours_parameter_pattern(template: dict[str, Any], value: str, valid: bool) -> None:
    pattern = template["Parameters"]["OpeningHoursUtc"]["AllowedPattern"]
    assert bool(re.fullmatch(pattern, value)) is valid
