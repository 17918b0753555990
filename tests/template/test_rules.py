"""The hub's cfn-lint rules (tools/cfn_rules): template.yaml passes them, plain ``cfn-lint`` applies
them, and each one fires on a small template that breaks it.

The small template is a hub in miniature (an HTTP API and its receiver, a table whose stream a
consumer reads, its dead-letter queue, log groups, alarms and their topic) that passes every
rule. Each case breaks one thing and expects its rule to fire; a rule without a case fails.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cfnlint.config import ConfigMixIn
from cfnlint.decode import decode_str
from cfnlint.rules import Rules
from cfnlint.runner import run_template_by_data

pytestmark = pytest.mark.template

REPO = Path(__file__).resolve().parents[2]
RULES_DIR = REPO / "tools" / "cfn_rules"
RULES = Rules.create_from_directory(str(RULES_DIR))

Template = dict[str, Any]


def fired(template: Template | str) -> dict[str, list[str]]:
    """``{rule id: messages}`` of the hub's rules (only those) on a template."""
    text = template if isinstance(template, str) else json.dumps(template)
    document, problems = decode_str(text)
    assert not problems, problems
    assert document is not None
    found: dict[str, list[str]] = {}
    for match in run_template_by_data(document, ConfigMixIn(regions=["eu-central-1"]), RULES):
        found.setdefault(match.rule.id, []).append(match.message)
    return found


# --- a hub in miniature ------------------------------------------------------------------------------


def _ref(name: str) -> dict[str, str]:
    return {"Ref": name}


def _arn(name: str, attribute: str = "Arn") -> dict[str, list[str]]:
    return {"Fn::GetAtt": [name, attribute]}


def _alarm(namespace: str, metric: str, dimension: str, value: Any, statistic: str = "Sum") -> dict[str, Any]:
    return {
        "Type": "AWS::CloudWatch::Alarm",
        "Properties": {
            "AlarmDescription": f"{metric} above 0. Runbook: README",
            "Namespace": namespace,
            "MetricName": metric,
            "Dimensions": [{"Name": dimension, "Value": value}],
            "Statistic": statistic,
            "Period": 300,
            "EvaluationPeriods": 1,
            "Threshold": 0,
            "ComparisonOperator": "GreaterThanThreshold",
            "TreatMissingData": "notBreaching",
            "AlarmActions": [_ref("AlarmTopic")],
            "OKActions": [_ref("AlarmTopic")],
        },
    }


STORED_EVENTS = '{"eventName": ["INSERT"], "dynamodb": {"NewImage": {"kind": {"S": ["event"]}}}}'
ACCESS_LOG = json.dumps(
    {
        "requestId": "$context.requestId",
        "httpMethod": "$context.httpMethod",
        "routeKey": "$context.routeKey",
        "status": "$context.status",
    }
)


def miniature() -> Template:
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Transform": "AWS::Serverless-2016-10-31",
        "Globals": {"Function": {"Runtime": "python3.13", "Handler": "app.lambda_handler"}},
        "Resources": {
            "EventsTable": {
                "Type": "AWS::DynamoDB::Table",
                "DeletionPolicy": "Retain",
                "UpdateReplacePolicy": "Retain",
                "Properties": {
                    "BillingMode": "PAY_PER_REQUEST",
                    "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
                    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
                    "StreamSpecification": {"StreamViewType": "NEW_IMAGE"},
                    "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
                    "SSESpecification": {"SSEEnabled": True},
                },
            },
            "NoticeTopic": {"Type": "AWS::SNS::Topic", "Properties": {"KmsMasterKeyId": "alias/aws/sns"}},
            "ConsumerDLQ": {
                "Type": "AWS::SQS::Queue",
                "Properties": {"MessageRetentionPeriod": 1209600, "SqsManagedSseEnabled": True},
            },
            "ApiLogs": {"Type": "AWS::Logs::LogGroup", "Properties": {"RetentionInDays": 30}},
            "Api": {
                "Type": "AWS::Serverless::HttpApi",
                "Properties": {
                    "DefaultRouteSettings": {"ThrottlingBurstLimit": 10, "ThrottlingRateLimit": 5},
                    "AccessLogSettings": {"DestinationArn": _arn("ApiLogs"), "Format": ACCESS_LOG},
                },
            },
            "Receiver": {
                "Type": "AWS::Serverless::Function",
                "Properties": {
                    "CodeUri": "functions/receiver/",
                    "Policies": [
                        {
                            "Statement": [
                                {
                                    "Effect": "Allow",
                                    "Action": "dynamodb:PutItem",
                                    "Resource": _arn("EventsTable"),
                                },
                                {
                                    "Effect": "Allow",
                                    "Action": "kms:Decrypt",
                                    "Resource": "*",
                                    "Condition": {
                                        "StringEquals": {
                                            "kms:ViaService": {"Fn::Sub": "ssm.${AWS::Region}.amazonaws.com"}
                                        }
                                    },
                                },
                            ]
                        }
                    ],
                    "Events": {
                        "Callback": {
                            "Type": "HttpApi",
                            "Properties": {"ApiId": _ref("Api"), "Path": "/callback", "Method": "GET"},
                        }
                    },
                },
            },
            "ReceiverLogs": {
                "Type": "AWS::Logs::LogGroup",
                "Properties": {"LogGroupName": {"Fn::Sub": "/aws/lambda/${Receiver}"}, "RetentionInDays": 30},
            },
            "Consumer": {
                "Type": "AWS::Serverless::Function",
                "Properties": {
                    "CodeUri": "functions/consumer/",
                    "LoggingConfig": {"LogGroup": _ref("ConsumerLogs")},
                    "Policies": [
                        {
                            "Statement": [
                                {
                                    "Effect": "Allow",
                                    "Action": ["dynamodb:Query"],
                                    "Resource": _arn("EventsTable"),
                                },
                                {"Effect": "Allow", "Action": "sns:Publish", "Resource": _ref("NoticeTopic")},
                            ]
                        },
                        {"DynamoDBStreamReadPolicy": {"TableName": _ref("EventsTable"), "StreamName": "s"}},
                    ],
                    "Events": {
                        "Stream": {
                            "Type": "DynamoDB",
                            "Properties": {
                                "Stream": _arn("EventsTable", "StreamArn"),
                                "StartingPosition": "TRIM_HORIZON",
                                "BisectBatchOnFunctionError": True,
                                "MaximumRetryAttempts": 10,
                                "MaximumRecordAgeInSeconds": 3600,
                                "FunctionResponseTypes": ["ReportBatchItemFailures"],
                                "DestinationConfig": {
                                    "OnFailure": {"Type": "SQS", "Destination": _arn("ConsumerDLQ")}
                                },
                                "FilterCriteria": {"Filters": [{"Pattern": STORED_EVENTS}]},
                            },
                        }
                    },
                },
            },
            "ConsumerLogs": {"Type": "AWS::Logs::LogGroup", "Properties": {"RetentionInDays": 30}},
            "AlarmKey": {
                "Type": "AWS::KMS::Key",
                "Properties": {
                    "EnableKeyRotation": True,
                    "KeyPolicy": {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Principal": {"Service": "cloudwatch.amazonaws.com"},
                                "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
                                "Resource": "*",
                            }
                        ],
                    },
                },
            },
            "AlarmTopic": {"Type": "AWS::SNS::Topic", "Properties": {"KmsMasterKeyId": _ref("AlarmKey")}},
            "ReceiverErrors": _alarm("AWS/Lambda", "Errors", "FunctionName", _ref("Receiver")),
            "ReceiverThrottles": _alarm("AWS/Lambda", "Throttles", "FunctionName", _ref("Receiver")),
            "ConsumerErrors": _alarm("AWS/Lambda", "Errors", "FunctionName", _ref("Consumer")),
            "ConsumerLag": _alarm("AWS/Lambda", "IteratorAge", "FunctionName", _ref("Consumer"), "Maximum"),
            "ConsumerDLQDepth": _alarm(
                "AWS/SQS",
                "ApproximateNumberOfMessagesVisible",
                "QueueName",
                _arn("ConsumerDLQ", "QueueName"),
                "Maximum",
            ),
            "ApiServerErrors": _alarm("AWS/ApiGateway", "5xx", "ApiId", _ref("Api")),
            "EventsTableThrottles": _alarm(
                "AWS/DynamoDB", "WriteThrottleEvents", "TableName", _ref("EventsTable")
            ),
        },
    }


def _props(logical_id: str) -> Callable[[Template], dict[str, Any]]:
    return lambda t: t["Resources"][logical_id]["Properties"]


receiver, consumer, api, table = _props("Receiver"), _props("Consumer"), _props("Api"), _props("EventsTable")
alarm_key, alarm_topic, dlq = _props("AlarmKey"), _props("AlarmTopic"), _props("ConsumerDLQ")


def stream(template: Template) -> dict[str, Any]:
    return consumer(template)["Events"]["Stream"]["Properties"]


def grant(function: Callable[[Template], dict[str, Any]], **statement: Any) -> Callable[[Template], None]:
    return lambda t: function(t)["Policies"].append({"Statement": [{"Effect": "Allow", **statement}]})


def second_consumer(template: Template) -> None:
    """Another consumer on the same stream, with the same dead-letter queue."""
    template["Resources"]["OtherConsumer"] = copy.deepcopy(template["Resources"]["Consumer"])


def event_source_mapping_without_destination(template: Template) -> None:
    """The same consumer written as a plain event source mapping, without on-failure destination."""
    properties = copy.deepcopy(stream(template))
    properties.pop("DestinationConfig")
    properties["EventSourceArn"] = properties.pop("Stream")
    properties["FunctionName"] = _ref("Consumer")
    template["Resources"]["ConsumerMapping"] = {
        "Type": "AWS::Lambda::EventSourceMapping",
        "Properties": properties,
    }


def role_with(statement: dict[str, Any]) -> Callable[[Template], None]:
    def add(template: Template) -> None:
        template["Resources"]["WorkerRole"] = {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": []},
                "Policies": [
                    {
                        "PolicyName": "work",
                        "PolicyDocument": {"Version": "2012-10-17", "Statement": [statement]},
                    }
                ],
            },
        }

    return add


def set_alarm(logical_id: str, **properties: Any) -> Callable[[Template], None]:
    return lambda t: t["Resources"][logical_id]["Properties"].update(properties)


def drop(logical_id: str) -> Callable[[Template], None]:
    return lambda t: t["Resources"].pop(logical_id)


# (rule, what breaks it, how)
CASES: list[tuple[str, str, Callable[[Template], Any]]] = [
    ("E9001", "a function without a log group", drop("ReceiverLogs")),
    (
        "E9001",
        "a function with two",
        lambda t: t["Resources"].update(
            Extra={
                "Type": "AWS::Logs::LogGroup",
                "Properties": {"LogGroupName": {"Fn::Sub": "/aws/lambda/${Consumer}"}, "RetentionInDays": 1},
            }
        ),
    ),
    ("E9002", "a log group kept forever", lambda t: _props("ApiLogs")(t).pop("RetentionInDays")),
    ("E9010", "a stream without on-failure destination", lambda t: stream(t).pop("DestinationConfig")),
    ("E9010", "an event source mapping without one", event_source_mapping_without_destination),
    ("E9011", "no bisect", lambda t: stream(t).update(BisectBatchOnFunctionError=False)),
    (
        "E9011",
        "unbounded retries past the stream's retention",
        lambda t: stream(t).update(MaximumRetryAttempts=-1, MaximumRecordAgeInSeconds=604800),
    ),
    ("E9011", "retries not set", lambda t: stream(t).pop("MaximumRetryAttempts")),
    ("E9011", "records retried forever", lambda t: stream(t).update(MaximumRecordAgeInSeconds=-1)),
    ("E9012", "whole batches retried", lambda t: stream(t).pop("FunctionResponseTypes")),
    ("E9013", "no filter", lambda t: stream(t).pop("FilterCriteria")),
    (
        "E9013",
        "a filter that is no JSON",
        lambda t: stream(t).update(FilterCriteria={"Filters": [{"Pattern": "{"}]}),
    ),
    (
        "E9014",
        "woken by changed items",
        lambda t: stream(t).update(
            FilterCriteria={
                "Filters": [{"Pattern": STORED_EVENTS.replace('["INSERT"]', '["INSERT", "MODIFY"]')}]
            }
        ),
    ),
    (
        "E9014",
        "woken by quarantined requests",
        lambda t: stream(t).update(FilterCriteria={"Filters": [{"Pattern": '{"eventName": ["INSERT"]}'}]}),
    ),
    ("E9015", "two consumers, one dead-letter queue", second_consumer),
    ("E9020", "all of DynamoDB", grant(consumer, Action="dynamodb:*", Resource=_arn("EventsTable"))),
    ("E9020", "publishing anywhere", grant(consumer, Action="sns:Publish", Resource="*")),
    ("E9020", "a key used outside its service", grant(receiver, Action="kms:Decrypt", Resource="*")),
    (
        "E9020",
        "a role sending to any queue",
        role_with({"Effect": "Allow", "Action": "sqs:SendMessage", "Resource": "*"}),
    ),
    (
        "E9020",
        "a FullAccess managed policy",
        lambda t: receiver(t)["Policies"].append("AmazonDynamoDBFullAccess"),
    ),
    (
        "E9021",
        "a consumer writing its source",
        grant(consumer, Action="dynamodb:PutItem", Resource=_arn("EventsTable")),
    ),
    (
        "E9021",
        "a consumer with CRUD on its source",
        lambda t: consumer(t)["Policies"].append({"DynamoDBCrudPolicy": {"TableName": _ref("EventsTable")}}),
    ),
    ("E9030", "no access log", lambda t: api(t).pop("AccessLogSettings")),
    (
        "E9030",
        "an access log that is no JSON",
        lambda t: api(t)["AccessLogSettings"].update(Format="$context.requestId"),
    ),
    (
        "E9030",
        "an access log without the route",
        lambda t: api(t)["AccessLogSettings"].update(Format=ACCESS_LOG.replace("routeKey", "route")),
    ),
    (
        "E9031",
        "an access log with the path",
        lambda t: api(t)["AccessLogSettings"].update(
            Format=ACCESS_LOG.replace("$context.routeKey", "$context.path")
        ),
    ),
    ("E9032", "no throttling", lambda t: api(t).pop("DefaultRouteSettings")),
    ("E9032", "no rate limit", lambda t: api(t)["DefaultRouteSettings"].pop("ThrottlingRateLimit")),
    (
        "E9040",
        "a table deleted with its stack",
        lambda t: t["Resources"]["EventsTable"].update(DeletionPolicy="Delete"),
    ),
    (
        "E9040",
        "a table replaced without a copy",
        lambda t: t["Resources"]["EventsTable"].pop("UpdateReplacePolicy"),
    ),
    ("E9040", "no point-in-time recovery", lambda t: table(t).pop("PointInTimeRecoverySpecification")),
    ("E9041", "a plain table", lambda t: table(t).pop("SSESpecification")),
    ("E9041", "a plain queue", lambda t: dlq(t).pop("SqsManagedSseEnabled")),
    ("E9041", "a plain topic", lambda t: _props("NoticeTopic")(t).pop("KmsMasterKeyId")),
    ("E9042", "a dead-letter queue that forgets", lambda t: dlq(t).update(MessageRetentionPeriod=345600)),
    ("E9050", "a function without errors alarm", drop("ReceiverErrors")),
    ("E9050", "an errors alarm that waits for five", set_alarm("ConsumerErrors", Threshold=5)),
    ("E9051", "an API function without throttles alarm", drop("ReceiverThrottles")),
    ("E9052", "a consumer without lag alarm", drop("ConsumerLag")),
    ("E9052", "a lag alarm on the average", set_alarm("ConsumerLag", Statistic="Average")),
    ("E9053", "a dead-letter queue without depth alarm", drop("ConsumerDLQDepth")),
    ("E9058", "a table without a throttling alarm", drop("EventsTableThrottles")),
    (
        "E9058",
        "a throttling alarm on reads only",
        set_alarm("EventsTableThrottles", MetricName="ReadThrottleEvents"),
    ),
    ("E9053", "a depth alarm that waits for ten", set_alarm("ConsumerDLQDepth", Threshold=10)),
    ("E9054", "an API without 5xx alarm", drop("ApiServerErrors")),
    ("E9055", "an alarm silent when it clears", lambda t: _props("ConsumerLag")(t).pop("OKActions")),
    (
        "E9055",
        "an alarm notifying a topic elsewhere",
        set_alarm("ConsumerLag", AlarmActions=["arn:aws:sns:eu-central-1:123456789012:x"]),
    ),
    ("E9055", "missing data as an outage", lambda t: _props("ConsumerLag")(t).pop("TreatMissingData")),
    # an alarm on too little (no callbacks): there missing data is the outage, not "fine"
    ("E9055", "silence taken for fine", set_alarm("ConsumerLag", ComparisonOperator="LessThanThreshold")),
    ("W9056", "an alarm without runbook", set_alarm("ApiServerErrors", AlarmDescription="5xx")),
    (
        "E9057",
        "an alarm topic under the AWS-managed key",
        lambda t: alarm_topic(t).update(KmsMasterKeyId="alias/aws/sns"),
    ),
    ("E9057", "an alarm key never rotated", lambda t: alarm_key(t).pop("EnableKeyRotation")),
    (
        "E9057",
        "an alarm key CloudWatch may not use",
        lambda t: alarm_key(t)["KeyPolicy"].update(Statement=[]),
    ),
]


def test_the_miniature_passes_every_rule() -> None:
    assert fired(miniature()) == {}


@pytest.mark.parametrize(("rule", "breakage", "how"), CASES, ids=[f"{r}-{b}" for r, b, _ in CASES])
def test_each_rule_fires_on_what_breaks_it(rule: str, breakage: str, how: Callable[[Template], Any]) -> None:
    template = miniature()
    how(template)
    found = fired(template)
    assert rule in found, f"{rule} did not fire on {breakage}; fired: {found}"


def test_retries_until_a_days_age_are_bounded() -> None:
    """-1 attempts with a record age within the DynamoDB stream's 24 h: the age is the bound."""
    template = miniature()
    stream(template).update(MaximumRetryAttempts=-1, MaximumRecordAgeInSeconds=86400)
    assert fired(template) == {}


def test_every_rule_has_a_case() -> None:
    assert {rule for rule, _, _ in CASES} == set(RULES)


def test_template_yaml_passes_the_rules() -> None:
    assert fired((REPO / "template.yaml").read_text(encoding="utf-8")) == {}


def test_plain_cfn_lint_applies_the_rules(tmp_path: Path) -> None:
    """Through .cfnlintrc: what `make validate` and `sam validate --lint` run picks them up."""
    template = miniature()
    stream(template).update(BisectBatchOnFunctionError=False)
    broken = tmp_path / "template.yaml"
    broken.write_text(json.dumps(template), encoding="utf-8")
    cfn_lint = Path(sys.executable).parent / "cfn-lint"
    result = subprocess.run(
        [str(cfn_lint), str(broken)], cwd=REPO, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode != 0
    assert "E9011 Consumer: BisectBatchOnFunctionError must be true" in result.stdout, result.stdout
