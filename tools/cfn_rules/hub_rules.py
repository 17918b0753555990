"""The hub's own template rules, as custom cfn-lint rules (E9xxx, W9xxx).

``.cfnlintrc`` appends this folder, so plain ``cfn-lint template.yaml`` applies them (``make
validate``, ``sam validate --lint`` and the template tests run exactly that). cfn-lint loads each
file here on its own, outside any package, also under the SAM CLI's Python: this module imports
nothing but cfn-lint and the standard library.

The rules follow aws-samples/aws-serverless-ecommerce-platform's (an explicit log group per
function, every stream mapping routed to an on-failure destination) and add the hub's: stream
consumers bounded and woken only for stored events, least privilege without wildcards on data,
an access log that never carries the callback token, data kept and encrypted, and an alarm for
every function, stream, dead-letter queue and API that notifies a topic CloudWatch may use (those
in ``alarm_rules.py``, which takes this file's reading of the template and :class:`HubRule`).

cfn-lint hands the rules the SAM template with ``Globals`` merged into each resource.
"""

# No `from __future__ import annotations`: cfn-lint imports this file without registering it in
# sys.modules, where dataclasses would look string annotations up.
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from cfnlint.rules import CloudFormationLintRule, RuleMatch
from cfnlint.template import Template

SERVERLESS_FUNCTION = "AWS::Serverless::Function"
LAMBDA_FUNCTION = "AWS::Lambda::Function"
FUNCTIONS = [SERVERLESS_FUNCTION, LAMBDA_FUNCTION]
HTTP_APIS = ["AWS::Serverless::HttpApi", "AWS::ApiGatewayV2::Api"]
# A DynamoDB stream keeps a record 24 hours.
DYNAMODB_STREAM_RETENTION = 86400

Path = list[str | int]


# --- reading a template -------------------------------------------------------------------------


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def referenced(value: Any) -> str | None:
    """The logical id a ``Ref`` or ``Fn::GetAtt`` names, else None."""
    if isinstance(value, dict) and len(value) == 1:
        if isinstance(value.get("Ref"), str):
            return str(value["Ref"])
        target = value.get("Fn::GetAtt")
        if isinstance(target, str):
            target = target.split(".", 1)
        if isinstance(target, list) and target and isinstance(target[0], str):
            return target[0]
    return None


def properties_of(resource: Any) -> dict[str, Any]:
    properties = resource.get("Properties") if isinstance(resource, dict) else None
    return properties if isinstance(properties, dict) else {}


@dataclass(frozen=True)
class StreamMapping:
    """A function reading a DynamoDB or Kinesis stream: a SAM event or an event source mapping."""

    function: str
    source: str | None  # the table (or stream) whose stream it reads
    kind: str  # "DynamoDB" or "Kinesis"
    properties: dict[str, Any]
    path: Path


def stream_mappings(cfn: Template) -> Iterator[StreamMapping]:
    for logical_id, resource in cfn.get_resources(SERVERLESS_FUNCTION).items():
        events = properties_of(resource).get("Events")
        for name, event in (events if isinstance(events, dict) else {}).items():
            if isinstance(event, dict) and event.get("Type") in {"DynamoDB", "Kinesis"}:
                properties = properties_of(event)
                yield StreamMapping(
                    logical_id,
                    referenced(properties.get("Stream")),
                    event["Type"],
                    properties,
                    ["Resources", logical_id, "Properties", "Events", name, "Properties"],
                )
    for logical_id, resource in cfn.get_resources("AWS::Lambda::EventSourceMapping").items():
        properties = properties_of(resource)
        if "StartingPosition" not in properties:  # a queue, not a stream
            continue
        source = referenced(properties.get("EventSourceArn"))
        source_type = cfn.template["Resources"].get(source, {}).get("Type", "")
        yield StreamMapping(
            str(referenced(properties.get("FunctionName"))),
            source,
            "Kinesis" if source_type.startswith("AWS::Kinesis") else "DynamoDB",
            properties,
            ["Resources", logical_id, "Properties"],
        )


def on_failure(mapping: StreamMapping) -> str | None:
    """The logical id of the mapping's on-failure destination."""
    failure = (mapping.properties.get("DestinationConfig") or {}).get("OnFailure") or {}
    return referenced(failure.get("Destination"))


def dead_letter_queues(cfn: Template) -> dict[str, dict[str, Any]]:
    """The queues that are some stream mapping's on-failure destination."""
    destinations = {on_failure(mapping) for mapping in stream_mappings(cfn)}
    return {
        logical_id: queue
        for logical_id, queue in cfn.get_resources("AWS::SQS::Queue").items()
        if logical_id in destinations
    }


@dataclass(frozen=True)
class Statement:
    """One IAM statement of a function's or role's policies."""

    owner: str  # the function or IAM resource it belongs to
    body: dict[str, Any]
    path: Path

    @property
    def actions(self) -> list[Any]:
        return as_list(self.body.get("Action", []))

    @property
    def resources(self) -> list[Any]:
        return as_list(self.body.get("Resource", []))


def _document_statements(owner: str, document: Any, path: Path) -> Iterator[Statement]:
    if isinstance(document, dict) and "Statement" in document:
        for index, body in enumerate(as_list(document["Statement"])):
            if isinstance(body, dict):
                yield Statement(owner, body, [*path, "Statement", index])


def statements(cfn: Template) -> Iterator[Statement]:
    """Inline statements of SAM functions (``Policies``) and of IAM roles and policies."""
    for logical_id, resource in cfn.get_resources(SERVERLESS_FUNCTION).items():
        path: Path = ["Resources", logical_id, "Properties", "Policies"]
        for index, policy in enumerate(as_list(properties_of(resource).get("Policies") or [])):
            yield from _document_statements(logical_id, policy, [*path, index])
    for logical_id, resource in cfn.get_resources("AWS::IAM::Role").items():
        for index, policy in enumerate(properties_of(resource).get("Policies") or []):
            document = policy.get("PolicyDocument") if isinstance(policy, dict) else None
            path = ["Resources", logical_id, "Properties", "Policies", index, "PolicyDocument"]
            yield from _document_statements(logical_id, document, path)
    for logical_id, resource in cfn.get_resources(["AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"]).items():
        path = ["Resources", logical_id, "Properties", "PolicyDocument"]
        yield from _document_statements(logical_id, properties_of(resource).get("PolicyDocument"), path)


class HubRule:
    """What every rule of the hub shares. Not a rule itself: cfn-lint makes a rule of every class
    here that derives from CloudFormationLintRule."""

    tags = ["acd-callback-hub"]  # noqa: RUF012 - cfn-lint's attribute, a list


# --- logs ---------------------------------------------------------------------------------------


class FunctionLogGroup(HubRule, CloudFormationLintRule):
    id = "E9001"
    shortdesc = "Every function has its own log group"
    description = (
        "An explicit AWS::Logs::LogGroup per function (LoggingConfig.LogGroup, or one named "
        "/aws/lambda/${Function}), so its retention is ours and not Lambda's keep-forever default."
    )

    def match(self, cfn: Template) -> list[RuleMatch]:
        log_groups = cfn.get_resources("AWS::Logs::LogGroup")
        found = []
        for logical_id, function in cfn.get_resources(FUNCTIONS).items():
            configured = referenced((properties_of(function).get("LoggingConfig") or {}).get("LogGroup"))
            default_name = {"Fn::Sub": f"/aws/lambda/${{{logical_id}}}"}
            matching = [
                group_id
                for group_id, group in log_groups.items()
                if group_id == configured or properties_of(group).get("LogGroupName") == default_name
            ]
            if len(matching) != 1:
                found.append(
                    RuleMatch(
                        ["Resources", logical_id],
                        f"{logical_id}: {len(matching)} log groups of its own; exactly one expected "
                        f"(LoggingConfig.LogGroup, or LogGroupName !Sub /aws/lambda/${{{logical_id}}})",
                    )
                )
        return found


class LogGroupRetention(HubRule, CloudFormationLintRule):
    id = "E9002"
    shortdesc = "Every log group has a retention"
    description = "RetentionInDays on every AWS::Logs::LogGroup: logs are kept as long as we say."

    def match(self, cfn: Template) -> list[RuleMatch]:
        return [
            RuleMatch(["Resources", logical_id, "Properties"], f"{logical_id}: no RetentionInDays")
            for logical_id, group in cfn.get_resources("AWS::Logs::LogGroup").items()
            if not properties_of(group).get("RetentionInDays")
        ]


# --- stream consumers ---------------------------------------------------------------------------


class StreamOnFailureDestination(HubRule, CloudFormationLintRule):
    id = "E9010"
    shortdesc = "Every stream mapping has an on-failure destination"
    description = (
        "A batch the consumer gives up on goes to a destination of this template "
        "(DestinationConfig.OnFailure), never silently away."
    )

    def match(self, cfn: Template) -> list[RuleMatch]:
        resources = cfn.template["Resources"]
        return [
            RuleMatch(
                mapping.path,
                f"{mapping.function}: no DestinationConfig.OnFailure naming a resource of this template",
            )
            for mapping in stream_mappings(cfn)
            if on_failure(mapping) not in resources
        ]


class StreamRetriesBounded(HubRule, CloudFormationLintRule):
    id = "E9011"
    shortdesc = "Every stream mapping bisects and bounds its retries"
    description = (
        "BisectBatchOnFunctionError, MaximumRetryAttempts (0..10000) and MaximumRecordAgeInSeconds "
        "(60..604800): a poison record must not hold its shard forever. MaximumRetryAttempts -1 "
        "(retry until the record is too old) only with a record age of at most a day on a DynamoDB "
        "stream, which is then the bound."
    )

    def match(self, cfn: Template) -> list[RuleMatch]:
        found = []
        for mapping in stream_mappings(cfn):
            properties = mapping.properties
            where = mapping.function
            if properties.get("BisectBatchOnFunctionError") is not True:
                found.append(RuleMatch(mapping.path, f"{where}: BisectBatchOnFunctionError must be true"))
            retries = properties.get("MaximumRetryAttempts")
            age = properties.get("MaximumRecordAgeInSeconds")
            if not isinstance(age, int) or not 60 <= age <= 604800:
                found.append(
                    RuleMatch(mapping.path, f"{where}: MaximumRecordAgeInSeconds must be 60..604800")
                )
            elif retries == -1:
                if mapping.kind != "DynamoDB" or age > DYNAMODB_STREAM_RETENTION:
                    found.append(
                        RuleMatch(
                            mapping.path,
                            f"{where}: MaximumRetryAttempts -1 needs MaximumRecordAgeInSeconds of at most "
                            f"{DYNAMODB_STREAM_RETENTION} on a DynamoDB stream",
                        )
                    )
            elif not isinstance(retries, int) or not 0 <= retries <= 10000:
                found.append(RuleMatch(mapping.path, f"{where}: MaximumRetryAttempts must be 0..10000"))
        return found


class StreamPartialBatchResponse(HubRule, CloudFormationLintRule):
    id = "E9012"
    shortdesc = "Every stream mapping reports partial batch failures"
    description = (
        "FunctionResponseTypes [ReportBatchItemFailures]: only the records that failed are retried, "
        "not the whole batch."
    )

    def match(self, cfn: Template) -> list[RuleMatch]:
        return [
            RuleMatch(
                mapping.path, f"{mapping.function}: FunctionResponseTypes lacks ReportBatchItemFailures"
            )
            for mapping in stream_mappings(cfn)
            if "ReportBatchItemFailures" not in as_list(mapping.properties.get("FunctionResponseTypes") or [])
        ]


def _filter_patterns(mapping: StreamMapping) -> Iterator[tuple[Path, Any]]:
    """Each filter's pattern, parsed (None if it is no JSON object)."""
    filters = (mapping.properties.get("FilterCriteria") or {}).get("Filters") or []
    for index, item in enumerate(as_list(filters)):
        path = [*mapping.path, "FilterCriteria", "Filters", index, "Pattern"]
        try:
            pattern = json.loads(item["Pattern"])
        except (TypeError, KeyError, ValueError):
            pattern = None
        yield path, pattern if isinstance(pattern, dict) else None


class StreamFilters(HubRule, CloudFormationLintRule):
    id = "E9013"
    shortdesc = "Every stream mapping filters its records"
    description = (
        "FilterCriteria with JSON patterns: a consumer wakes only for the records it handles "
        "(each stream read costs an invocation)."
    )

    def match(self, cfn: Template) -> list[RuleMatch]:
        found = []
        for mapping in stream_mappings(cfn):
            patterns = list(_filter_patterns(mapping))
            if not patterns:
                found.append(RuleMatch(mapping.path, f"{mapping.function}: no FilterCriteria"))
            found.extend(
                RuleMatch(path, f"{mapping.function}: a filter pattern is no JSON object")
                for path, pattern in patterns
                if pattern is None
            )
        return found


class StoredEventsOnly(HubRule, CloudFormationLintRule):
    id = "E9014"
    shortdesc = "DynamoDB stream consumers wake only for newly stored events"
    description = (
        'Each filter pattern of a DynamoDB stream keeps eventName ["INSERT"] and NewImage kind '
        '"event": quarantined requests live in the same table (kind "rejected"), and an event is '
        "stored once and never changed."
    )

    def match(self, cfn: Template) -> list[RuleMatch]:
        found = []
        for mapping in stream_mappings(cfn):
            if mapping.kind != "DynamoDB":
                continue
            for path, pattern in _filter_patterns(mapping):
                image = ((pattern or {}).get("dynamodb") or {}).get("NewImage") or {}
                if (pattern or {}).get("eventName") != ["INSERT"] or image.get("kind") != {"S": ["event"]}:
                    found.append(
                        RuleMatch(
                            path,
                            f'{mapping.function}: the pattern must keep eventName ["INSERT"] and '
                            '{"dynamodb": {"NewImage": {"kind": {"S": ["event"]}}}}',
                        )
                    )
        return found


class OwnDeadLetterQueue(HubRule, CloudFormationLintRule):
    id = "E9015"
    shortdesc = "Every stream mapping has an on-failure destination of its own"
    description = (
        "Two consumers never share a dead-letter queue: what lands there says whose records to replay "
        "(acd-admin redrive <consumer>)."
    )

    def match(self, cfn: Template) -> list[RuleMatch]:
        owners: dict[str, str] = {}
        found = []
        for mapping in stream_mappings(cfn):
            destination = on_failure(mapping)
            if destination is None:
                continue
            if destination in owners:
                found.append(
                    RuleMatch(
                        mapping.path,
                        f"{mapping.function}: {destination} is already the on-failure destination of "
                        f"{owners[destination]}",
                    )
                )
            owners.setdefault(destination, mapping.function)
        return found


# --- permissions --------------------------------------------------------------------------------

_DATA_ACTION = re.compile(r"^(dynamodb|sns|sqs|ssm|secretsmanager|s3):", re.IGNORECASE)


class NoWildcardOnData(HubRule, CloudFormationLintRule):
    id = "E9020"
    shortdesc = "No wildcards on data"
    description = (
        "Data actions (DynamoDB, SNS, SQS, SSM, Secrets Manager, S3) name their resources and their "
        'actions; Resource "*" only for KMS key usage through a named service (kms:ViaService); no '
        "FullAccess managed policy."
    )

    def match(self, cfn: Template) -> list[RuleMatch]:
        found = []
        for statement in statements(cfn):
            actions = [str(action) for action in statement.actions]
            data = [a for a in actions if a == "*" or _DATA_ACTION.match(a)]
            wildcards = [a for a in data if a == "*" or a.endswith(":*")]
            if wildcards:
                found.append(RuleMatch(statement.path, f"{statement.owner}: wildcard actions {wildcards}"))
            if "*" not in statement.resources:
                continue
            if data:
                found.append(RuleMatch(statement.path, f"{statement.owner}: {data} on Resource '*'"))
            elif not all(a.startswith("kms:") for a in actions) or "kms:ViaService" not in json.dumps(
                statement.body.get("Condition", {})
            ):
                found.append(
                    RuleMatch(
                        statement.path,
                        f"{statement.owner}: Resource '*' only for kms: actions with a kms:ViaService condition",
                    )
                )
        for logical_id, function in cfn.get_resources(SERVERLESS_FUNCTION).items():
            for index, policy in enumerate(as_list(properties_of(function).get("Policies") or [])):
                if isinstance(policy, str) and "FullAccess" in policy:
                    path: Path = ["Resources", logical_id, "Properties", "Policies", index]
                    found.append(RuleMatch(path, f"{logical_id}: managed policy {policy}"))
        return found


_TABLE_WRITES = {
    "dynamodb:putitem",
    "dynamodb:updateitem",
    "dynamodb:deleteitem",
    "dynamodb:batchwriteitem",
    "dynamodb:*",
    "*",
}
_WRITING_POLICY_TEMPLATES = {"DynamoDBCrudPolicy", "DynamoDBWritePolicy"}


def _names_table(resource: Any, table: str) -> bool:
    """A policy resource that is the table or under it (``!GetAtt T.Arn``, ``!Sub ...${T}...``)."""
    if referenced(resource) == table:
        return True
    text = json.dumps(resource)
    return f"${{{table}}}" in text or f"${{{table}.Arn}}" in text


class StreamConsumerLeavesItsSourceAlone(HubRule, CloudFormationLintRule):
    id = "E9021"
    shortdesc = "A stream consumer never writes the table it reads"
    description = (
        "A function woken by a table's stream gets no write on that table: its writes would wake it "
        "again, and the events table has one writer (the ingest)."
    )

    def match(self, cfn: Template) -> list[RuleMatch]:
        sources = {(m.function, m.source) for m in stream_mappings(cfn) if m.source}
        found = []
        for statement in statements(cfn):
            writes = [a for a in statement.actions if str(a).lower() in _TABLE_WRITES]
            if statement.body.get("Effect") != "Allow" or not writes:
                continue
            for function, table in sources:
                if statement.owner == function and any(_names_table(r, table) for r in statement.resources):
                    found.append(
                        RuleMatch(statement.path, f"{function} reads {table}'s stream and may {writes} it")
                    )
        for function, table in sources:
            policies = properties_of(cfn.template["Resources"][function]).get("Policies") or []
            for index, policy in enumerate(as_list(policies)):
                if not isinstance(policy, dict):
                    continue
                for name in _WRITING_POLICY_TEMPLATES & set(policy):
                    if referenced((policy[name] or {}).get("TableName")) == table:
                        path: Path = ["Resources", function, "Properties", "Policies", index]
                        found.append(
                            RuleMatch(path, f"{function} reads {table}'s stream and has {name} on it")
                        )
        return found


# --- the callback endpoint ----------------------------------------------------------------------


def _access_log(resource: Any) -> dict[str, Any]:
    settings = properties_of(resource).get("AccessLogSettings")
    return settings if isinstance(settings, dict) else {}


def _http_api_stages(cfn: Template) -> dict[str, dict[str, Any]]:
    """SAM HTTP APIs and API Gateway v2 stages: where access logs and route settings are set."""
    return cfn.get_resources(["AWS::Serverless::HttpApi", "AWS::ApiGatewayV2::Stage"])


class HttpApiAccessLog(HubRule, CloudFormationLintRule):
    id = "E9030"
    shortdesc = "Every HTTP API keeps a JSON access log"
    description = (
        "AccessLogSettings to a log group of this template, in JSON with at least requestId, "
        "httpMethod, routeKey and status."
    )

    def match(self, cfn: Template) -> list[RuleMatch]:
        resources = cfn.template["Resources"]
        found = []
        for logical_id, api in _http_api_stages(cfn).items():
            path: Path = ["Resources", logical_id, "Properties"]
            settings = _access_log(api)
            if referenced(settings.get("DestinationArn")) not in resources:
                found.append(RuleMatch(path, f"{logical_id}: no access log to a log group of this template"))
                continue
            try:
                fields = json.loads(settings.get("Format", ""))
            except (TypeError, ValueError):
                fields = None
            if not isinstance(fields, dict) or not {"requestId", "httpMethod", "routeKey", "status"} <= set(
                fields
            ):
                found.append(
                    RuleMatch(
                        [*path, "AccessLogSettings", "Format"],
                        f"{logical_id}: the access log format must be JSON with requestId, httpMethod, "
                        "routeKey and status",
                    )
                )
        return found


class AccessLogWithoutToken(HubRule, CloudFormationLintRule):
    id = "E9031"
    shortdesc = "No access log carries the callback token"
    description = (
        "The token is a path segment or a query parameter: an access log never names $context.path "
        "or the query string ($context.routeKey shows the route's template)."
    )

    def match(self, cfn: Template) -> list[RuleMatch]:
        return [
            RuleMatch(
                ["Resources", logical_id, "Properties", "AccessLogSettings", "Format"],
                f"{logical_id}: the access log format names the path or the query string (the token)",
            )
            for logical_id, api in _http_api_stages(cfn).items()
            if re.search(r"path|query", str(_access_log(api).get("Format", "")), re.IGNORECASE)
        ]


class HttpApiThrottled(HubRule, CloudFormationLintRule):
    id = "E9032"
    shortdesc = "Every HTTP API is throttled"
    description = (
        "DefaultRouteSettings with ThrottlingBurstLimit and ThrottlingRateLimit: a runaway client "
        "meets API Gateway's limit, not the account's Lambda concurrency."
    )

    def match(self, cfn: Template) -> list[RuleMatch]:
        found = []
        for logical_id, api in _http_api_stages(cfn).items():
            settings = properties_of(api).get("DefaultRouteSettings") or {}
            missing = [k for k in ("ThrottlingBurstLimit", "ThrottlingRateLimit") if k not in settings]
            if missing:
                path: Path = ["Resources", logical_id, "Properties"]
                found.append(
                    RuleMatch(path, f"{logical_id}: DefaultRouteSettings lacks {', '.join(missing)}")
                )
        return found


# --- data at rest -------------------------------------------------------------------------------


class TablesKept(HubRule, CloudFormationLintRule):
    id = "E9040"
    shortdesc = "Every table survives its stack and has point-in-time recovery"
    description = (
        "DeletionPolicy and UpdateReplacePolicy Retain and PointInTimeRecoveryEnabled: events and "
        "reports are the hub's record; a stack mistake must not take them."
    )

    def match(self, cfn: Template) -> list[RuleMatch]:
        found = []
        for logical_id, table in cfn.get_resources("AWS::DynamoDB::Table").items():
            for policy in ("DeletionPolicy", "UpdateReplacePolicy"):
                if table.get(policy) != "Retain":
                    found.append(
                        RuleMatch(["Resources", logical_id], f"{logical_id}: {policy} must be Retain")
                    )
            recovery = properties_of(table).get("PointInTimeRecoverySpecification") or {}
            if recovery.get("PointInTimeRecoveryEnabled") is not True:
                path: Path = ["Resources", logical_id, "Properties"]
                found.append(RuleMatch(path, f"{logical_id}: no point-in-time recovery"))
        return found


class EncryptedAtRest(HubRule, CloudFormationLintRule):
    id = "E9041"
    shortdesc = "Tables, queues and topics are encrypted"
    description = (
        "SSESpecification.SSEEnabled on tables, SqsManagedSseEnabled or KmsMasterKeyId on queues, "
        "KmsMasterKeyId on topics: phone numbers and messages are stored or travel through them."
    )

    def match(self, cfn: Template) -> list[RuleMatch]:
        checks = {
            "AWS::DynamoDB::Table": lambda p: (p.get("SSESpecification") or {}).get("SSEEnabled") is True,
            "AWS::SQS::Queue": lambda p: p.get("SqsManagedSseEnabled") is True or "KmsMasterKeyId" in p,
            "AWS::SNS::Topic": lambda p: "KmsMasterKeyId" in p,
        }
        return [
            RuleMatch(["Resources", logical_id, "Properties"], f"{logical_id}: not encrypted at rest")
            for resource_type, encrypted in checks.items()
            for logical_id, resource in cfn.get_resources(resource_type).items()
            if not encrypted(properties_of(resource))
        ]


_FOURTEEN_DAYS = 1209600


class DeadLetterQueueRetention(HubRule, CloudFormationLintRule):
    id = "E9042"
    shortdesc = "Dead-letter queues keep their messages 14 days"
    description = (
        "MessageRetentionPeriod 1209600 (the maximum) on every on-failure destination: whoever is on "
        "call has two weeks to replay what a consumer gave up on."
    )

    def match(self, cfn: Template) -> list[RuleMatch]:
        found = []
        for destination, queue in dead_letter_queues(cfn).items():
            if properties_of(queue).get("MessageRetentionPeriod") != _FOURTEEN_DAYS:
                path: Path = ["Resources", destination, "Properties"]
                found.append(
                    RuleMatch(path, f"{destination}: MessageRetentionPeriod must be {_FOURTEEN_DAYS}")
                )
        return found
