"""The hub's alarm rules (E905x, W9056), beside :mod:`hub_rules`: an alarm for every function,
stream, dead-letter queue, table and API, each notifying a topic encrypted with a key CloudWatch
may use, with a runbook.

cfn-lint loads each file of this folder on its own, outside any package (see :mod:`hub_rules`):
what the rules share (reading the template, their base) is ``hub_rules``, loaded from beside this
file once, under a name of its own.
"""

# No `from __future__ import annotations`: cfn-lint imports this file without registering it in
# sys.modules, where dataclasses would look string annotations up.
import importlib.util
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path as FilePath
from types import ModuleType
from typing import TYPE_CHECKING, Any

from cfnlint.rules import CloudFormationLintRule, RuleMatch
from cfnlint.template import Template


def _beside(file_name: str) -> ModuleType:
    name = f"acd_cfn_rules_{file_name.removesuffix('.py')}"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, FilePath(__file__).with_name(file_name))
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


if TYPE_CHECKING:
    import hub_rules as hub
else:
    hub = _beside("hub_rules.py")

ALARM = "AWS::CloudWatch::Alarm"


@dataclass(frozen=True)
class Alarm:
    logical_id: str
    properties: dict[str, Any]

    def on(self, namespace: str, metric: str) -> bool:
        return self.properties.get("Namespace") == namespace and self.properties.get("MetricName") == metric

    def dimension(self, name: str) -> Any:
        for dimension in self.properties.get("Dimensions") or []:
            if isinstance(dimension, dict) and dimension.get("Name") == name:
                return dimension.get("Value")
        return None

    @property
    def fires_on_any(self) -> bool:
        """Fires as soon as the metric is above zero."""
        threshold = self.properties.get("Threshold")
        return threshold in (0, "0") and self.properties.get("ComparisonOperator") == "GreaterThanThreshold"


def alarms(cfn: Template) -> list[Alarm]:
    return [Alarm(logical_id, hub.properties_of(r)) for logical_id, r in cfn.get_resources(ALARM).items()]


def _function_alarms(cfn: Template, function: str, metric: str) -> list[Alarm]:
    return [
        alarm
        for alarm in alarms(cfn)
        if alarm.on("AWS/Lambda", metric) and hub.referenced(alarm.dimension("FunctionName")) == function
    ]


class FunctionErrorsAlarm(hub.HubRule, CloudFormationLintRule):
    id = "E9050"
    shortdesc = "Every function has an errors alarm"
    description = "An AWS/Lambda Errors alarm (Sum, above 0) on each function."

    def match(self, cfn: Template) -> list[RuleMatch]:
        return [
            RuleMatch(
                ["Resources", logical_id], f"{logical_id}: no Errors alarm (Sum, GreaterThanThreshold 0)"
            )
            for logical_id in cfn.get_resources(hub.FUNCTIONS)
            if not any(
                a.fires_on_any and a.properties.get("Statistic") == "Sum"
                for a in _function_alarms(cfn, logical_id, "Errors")
            )
        ]


class EndpointThrottlesAlarm(hub.HubRule, CloudFormationLintRule):
    id = "E9051"
    shortdesc = "Every function behind an API has a throttles alarm"
    description = (
        "An AWS/Lambda Throttles alarm (above 0) on each function with an HttpApi or Api event: a "
        "throttled callback is one the ACD has to send again."
    )

    def match(self, cfn: Template) -> list[RuleMatch]:
        found = []
        for logical_id, function in cfn.get_resources(hub.SERVERLESS_FUNCTION).items():
            events = hub.properties_of(function).get("Events") or {}
            behind_api = any(
                isinstance(e, dict) and e.get("Type") in {"HttpApi", "Api"} for e in events.values()
            )
            if behind_api and not any(a.fires_on_any for a in _function_alarms(cfn, logical_id, "Throttles")):
                found.append(
                    RuleMatch(["Resources", logical_id], f"{logical_id}: no Throttles alarm (above 0)")
                )
        return found


class StreamLagAlarm(hub.HubRule, CloudFormationLintRule):
    id = "E9052"
    shortdesc = "Every stream consumer has a lag alarm"
    description = "An AWS/Lambda IteratorAge alarm (Maximum) on each function that reads a stream."

    def match(self, cfn: Template) -> list[RuleMatch]:
        found = []
        for function in sorted({m.function for m in hub.stream_mappings(cfn)}):
            lag = _function_alarms(cfn, function, "IteratorAge")
            if not any(a.properties.get("Statistic") == "Maximum" for a in lag):
                found.append(
                    RuleMatch(["Resources", function], f"{function}: no IteratorAge alarm (Maximum)")
                )
        return found


class DeadLetterQueueAlarm(hub.HubRule, CloudFormationLintRule):
    id = "E9053"
    shortdesc = "Every dead-letter queue has a depth alarm"
    description = (
        "An AWS/SQS ApproximateNumberOfMessagesVisible alarm (Maximum, above 0) on each on-failure "
        "destination: one message there means lost notifications or wrong reports."
    )

    def match(self, cfn: Template) -> list[RuleMatch]:
        found = []
        for queue in hub.dead_letter_queues(cfn):
            if not any(
                alarm.on("AWS/SQS", "ApproximateNumberOfMessagesVisible")
                and hub.referenced(alarm.dimension("QueueName")) == queue
                and alarm.properties.get("Statistic") == "Maximum"
                and alarm.fires_on_any
                for alarm in alarms(cfn)
            ):
                found.append(RuleMatch(["Resources", queue], f"{queue}: no depth alarm (Maximum, above 0)"))
        return found


def _metric_stats(alarm: Alarm) -> Iterator[tuple[str | None, str | None, Any]]:
    """(namespace, metric, dimensions) an alarm reads: its own metric and its math's metrics."""
    properties = alarm.properties
    yield properties.get("Namespace"), properties.get("MetricName"), properties.get("Dimensions")
    for query in properties.get("Metrics") or []:
        metric = ((query or {}).get("MetricStat") or {}).get("Metric") or {}
        yield metric.get("Namespace"), metric.get("MetricName"), metric.get("Dimensions")


class TableThrottlesAlarm(hub.HubRule, CloudFormationLintRule):
    id = "E9058"
    shortdesc = "Every DynamoDB table has a throttling alarm"
    description = (
        "An alarm reading AWS/DynamoDB WriteThrottleEvents of each table (TableName), alone or in "
        "metric math: an on-demand table throttles at its table, account and partition limits, and "
        "the ingest then answers 503 while reports lag."
    )

    def match(self, cfn: Template) -> list[RuleMatch]:
        watched = {
            hub.referenced(dimension.get("Value"))
            for alarm in alarms(cfn)
            for namespace, metric, dimensions in _metric_stats(alarm)
            if namespace == "AWS/DynamoDB" and metric == "WriteThrottleEvents"
            for dimension in dimensions or []
            if isinstance(dimension, dict) and dimension.get("Name") == "TableName"
        }
        return [
            RuleMatch(["Resources", table], f"{table}: no alarm on its WriteThrottleEvents")
            for table in cfn.get_resources("AWS::DynamoDB::Table")
            if table not in watched
        ]


class ApiServerErrorsAlarm(hub.HubRule, CloudFormationLintRule):
    id = "E9054"
    shortdesc = "Every HTTP API has a 5xx alarm"
    description = "An AWS/ApiGateway 5xx alarm (above 0) on each HTTP API: callbacks are waiting."

    def match(self, cfn: Template) -> list[RuleMatch]:
        return [
            RuleMatch(["Resources", logical_id], f"{logical_id}: no 5xx alarm (above 0)")
            for logical_id in cfn.get_resources(hub.HTTP_APIS)
            if not any(
                a.on("AWS/ApiGateway", "5xx")
                and hub.referenced(a.dimension("ApiId")) == logical_id
                and a.fires_on_any
                for a in alarms(cfn)
            )
        ]


class AlarmsNotify(hub.HubRule, CloudFormationLintRule):
    id = "E9055"
    shortdesc = "Every alarm notifies a topic, and again when it is OK"
    description = (
        "AlarmActions and OKActions name SNS topics of this template; TreatMissingData notBreaching "
        "(no traffic is not an outage), but breaching for an alarm on too little (LessThan...): there "
        "no traffic is the outage it watches for."
    )

    def match(self, cfn: Template) -> list[RuleMatch]:
        topics = cfn.get_resources("AWS::SNS::Topic")
        found = []
        for alarm in alarms(cfn):
            path: hub.Path = ["Resources", alarm.logical_id, "Properties"]
            for key in ("AlarmActions", "OKActions"):
                actions = hub.as_list(alarm.properties.get(key) or [])
                if not actions or any(hub.referenced(a) not in topics for a in actions):
                    found.append(
                        RuleMatch(path, f"{alarm.logical_id}: {key} must name topics of this template")
                    )
            on_too_little = str(alarm.properties.get("ComparisonOperator", "")).startswith("LessThan")
            expected = "breaching" if on_too_little else "notBreaching"
            if alarm.properties.get("TreatMissingData") != expected:
                found.append(RuleMatch(path, f"{alarm.logical_id}: TreatMissingData must be {expected}"))
        return found


class AlarmRunbook(hub.HubRule, CloudFormationLintRule):
    id = "W9056"
    shortdesc = "Every alarm points at its runbook"
    description = (
        'The AlarmDescription says what it means and names the README\'s runbook ("Runbook: README").'
    )

    def match(self, cfn: Template) -> list[RuleMatch]:
        return [
            RuleMatch(
                ["Resources", alarm.logical_id, "Properties"],
                f"{alarm.logical_id}: AlarmDescription without 'Runbook: README'",
            )
            for alarm in alarms(cfn)
            if "Runbook: README" not in str(alarm.properties.get("AlarmDescription", ""))
        ]


def _cloudwatch_may_use(key: dict[str, Any]) -> bool:
    """The key's policy lets CloudWatch encrypt for the topic (Decrypt, GenerateDataKey*)."""
    for statement in hub.as_list((hub.properties_of(key).get("KeyPolicy") or {}).get("Statement") or []):
        if not isinstance(statement, dict) or statement.get("Effect") != "Allow":
            continue
        principal = statement.get("Principal") or {}
        services = hub.as_list(principal.get("Service") or []) if isinstance(principal, dict) else []
        actions = set(hub.as_list(statement.get("Action") or []))
        if "cloudwatch.amazonaws.com" in services and {"kms:Decrypt", "kms:GenerateDataKey*"} <= actions:
            return True
    return False


class AlarmTopicKey(hub.HubRule, CloudFormationLintRule):
    id = "E9057"
    shortdesc = "Alarm topics are encrypted with a key CloudWatch may use"
    description = (
        "A topic alarms notify is encrypted with a rotated KMS key of this template whose policy lets "
        "cloudwatch.amazonaws.com Decrypt and GenerateDataKey*: CloudWatch cannot publish to a topic "
        "under the AWS-managed alias/aws/sns."
    )

    def match(self, cfn: Template) -> list[RuleMatch]:
        keys = cfn.get_resources("AWS::KMS::Key")
        notified = {
            hub.referenced(action)
            for alarm in alarms(cfn)
            for key in ("AlarmActions", "OKActions")
            for action in hub.as_list(alarm.properties.get(key) or [])
        }
        found = []
        for logical_id, topic in cfn.get_resources("AWS::SNS::Topic").items():
            if logical_id not in notified:
                continue
            key = hub.referenced(hub.properties_of(topic).get("KmsMasterKeyId"))
            path: hub.Path = ["Resources", logical_id, "Properties"]
            if key not in keys:
                found.append(
                    RuleMatch(
                        path, f"{logical_id}: alarms notify it; encrypt it with a KMS key of this template"
                    )
                )
            elif hub.properties_of(keys[key]).get("EnableKeyRotation") is not True or not _cloudwatch_may_use(
                keys[key]
            ):
                found.append(
                    RuleMatch(
                        ["Resources", key, "Properties"],
                        f"{key}: rotate it and let cloudwatch.amazonaws.com kms:Decrypt and "
                        f"kms:GenerateDataKey* (it encrypts {logical_id})",
                    )
                )
        return found
