"""Template checks: the tools (cfn-lint with the hub's rules, sam validate, sam build), and what
is true of this template alone.

The rules every resource must follow (log groups, stream mappings, permissions, access log,
encryption, alarms) are custom cfn-lint rules in tools/cfn_rules, run by ``cfn-lint`` itself and
tested in test_rules.py. Here: the facts of this hub (which function may do what, each mapping's
batch and filter, the table keys as in ``acd_hub.keys``, every ``ACD_`` variable a settings field).
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from acd_devkit.template import (
    SERVERLESS_FUNCTION,
    function_environment,
    http_routes,
    load_template,
    referenced_resource,
    resources_of_type,
    stream_mappings,
)
from acd_hub import keys
from acd_hub.agent_aggregator import AgentStatsAggregator
from acd_hub.call_aggregator import CallStatsAggregator
from acd_hub.fanout import FANOUT_CMDS
from acd_hub.settings import HubSettings
from acd_hub.vocabulary import CMDS

pytestmark = pytest.mark.template

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "template.yaml"
TOOL_TIMEOUT = 280


# --- environment of the SAM CLI (mirrors PYTHON313 / SAM_ENV in the Makefile) ---------------------


def _runs(python: str) -> bool:
    try:
        result = subprocess.run([python, "-c", "import sys"], capture_output=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0


def _python313_dir() -> Path | None:
    """Directory of a python3.13 that runs (a pyenv shim that cannot run 3.13 does not count)."""
    found = shutil.which("python3.13")
    if found and _runs(found):
        return Path(found).parent
    pyenv = shutil.which("pyenv")
    if not pyenv:
        return None
    listed = subprocess.run([pyenv, "versions", "--bare"], capture_output=True, text=True, check=False)
    versions = ["3.13.0", *sorted((v for v in listed.stdout.split() if v.startswith("3.13")), reverse=True)]
    for version in versions:
        prefix = subprocess.run([pyenv, "prefix", version], capture_output=True, text=True, check=False)
        candidate = Path(prefix.stdout.strip()) / "bin" / "python3.13"
        if prefix.returncode == 0 and candidate.is_file() and _runs(str(candidate)):
            return candidate.parent
    return None


@pytest.fixture(scope="module")
def sam_env() -> dict[str, str]:
    python_dir = _python313_dir()
    if python_dir is None:
        pytest.fail(
            "python3.13 not found (sam build needs it on PATH): put it on PATH or 'pyenv install 3.13.0'"
        )
    sam_bin = REPO / ".venv-sam" / "bin"
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(python_dir), str(sam_bin), env.get("PATH", "")])
    env["SAM_CLI_TELEMETRY"] = "0"
    return env


@pytest.fixture(scope="module")
def sam(sam_env: dict[str, str]) -> str:
    found = shutil.which("sam", path=sam_env["PATH"])
    if found is None:
        pytest.fail("SAM CLI not found: run 'make sam-setup' (installs it into .venv-sam)")
    return found


def _run(command: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command,
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=TOOL_TIMEOUT,
        check=False,
    )


def _assert_ok(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, (
        f"{' '.join(result.args)} exited {result.returncode}\n"
        f"--- stdout ---\n{result.stdout}\n--- stderr ---\n{result.stderr}"
    )


# --- the tools -------------------------------------------------------------------------------------


def test_cfn_lint() -> None:
    """With the hub's rules: the repository's .cfnlintrc appends tools/cfn_rules."""
    cfn_lint = Path(sys.executable).parent / "cfn-lint"
    if not cfn_lint.is_file():
        which = shutil.which("cfn-lint")
        if which is None:
            pytest.fail("cfn-lint not found: run 'make setup'")
        cfn_lint = Path(which)
    _assert_ok(_run([str(cfn_lint), str(TEMPLATE)]))


def test_sam_validate_lint(sam: str, sam_env: dict[str, str]) -> None:
    _assert_ok(_run([sam, "validate", "--lint", "--template-file", str(TEMPLATE)], sam_env))


def test_sam_validate(sam: str, sam_env: dict[str, str]) -> None:
    result = _run([sam, "validate", "--region", "eu-central-1", "--template-file", str(TEMPLATE)], sam_env)
    _assert_ok(result)


@pytest.fixture(scope="module")
def built(sam: str, sam_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Path:
    build_dir = tmp_path_factory.mktemp("sam-build") / "build"
    result = _run(
        [sam, "build", "--template-file", str(TEMPLATE), "--build-dir", str(build_dir)],
        sam_env,
    )
    _assert_ok(result)
    return build_dir


def test_sam_build_functions(built: Path) -> None:
    for logical_id in resources_of_type(load_template(TEMPLATE), SERVERLESS_FUNCTION):
        assert (built / logical_id / "app.py").is_file(), f"{logical_id} built without app.py"
    assert (built / "template.yaml").is_file()


def test_sam_build_board_layer(built: Path) -> None:
    """The board ships the CLI's own renderer (one code with acd-report serve), not a copy."""
    python = built / "BoardLayer" / "python"
    for name in ("wallboard.py", "html_report.py", "reporting.py", "templates/wallboard.html.j2"):
        built_file, source = python / "acd_cli" / name, REPO / "cli" / "acd_cli" / name
        assert built_file.read_bytes() == source.read_bytes(), name
    for package in ("jinja2", "altair", "vl_convert", "click", "rich"):
        assert (python / package).is_dir(), package
    assert not (python / "boto3").exists()
    assert not (python / "acd_hub").exists()  # the shared layer's
    assert not (built / "BoardFunction" / "acd_cli").exists()


def test_sam_build_layer(built: Path) -> None:
    python = built / "SharedLayer" / "python"
    assert (python / "acd_hub" / "keys.py").is_file()
    assert (python / "pydantic").is_dir()
    assert (python / "aws_lambda_powertools").is_dir()
    assert (python / "phonenumbers").is_dir()
    assert (python / "tzdata").is_dir()
    # Compiled for the Lambda runtime (cp313, x86_64 Linux), not for this machine by accident.
    cores = list((python / "pydantic_core").glob("_pydantic_core.cpython-313-x86_64-linux-gnu*.so"))
    assert cores, sorted(p.name for p in (python / "pydantic_core").iterdir())
    # The runtime provides boto3; a copy in the layer would shadow it.
    assert not (python / "boto3").exists()
    assert not (python / "botocore").exists(), (
        "botocore in the layer would shadow the runtime's (and weighs 30 MB)"
    )


# --- our rules -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def resources(template: dict[str, Any]) -> dict[str, Any]:
    return template["Resources"]


def _functions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return resources_of_type(template, SERVERLESS_FUNCTION)


def _statements(policy: Any) -> list[dict[str, Any]]:
    if isinstance(policy, dict) and "Statement" in policy:
        statements = policy["Statement"]
        return statements if isinstance(statements, list) else [statements]
    return []


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_ingest_policy_is_least_privilege(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    statements = [s for p in resources["IngestFunction"]["Properties"]["Policies"] for s in _statements(p)]
    actions = sorted(a for s in statements for a in _as_list(s["Action"]))
    assert actions == ["dynamodb:DeleteItem", "dynamodb:PutItem", "kms:Decrypt", "ssm:GetParameter"]
    by_action = {a: s for s in statements for a in _as_list(s["Action"])}
    assert by_action["dynamodb:PutItem"]["Resource"] == {"Fn::GetAtt": ["EventsTable", "Arn"]}
    # It deletes nothing but a key claim it wrote (taken back when the store refuses the event).
    delete = by_action["dynamodb:DeleteItem"]
    assert delete["Resource"] == {"Fn::GetAtt": ["EventsTable", "Arn"]}
    assert delete["Condition"] == {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["EVENT_KEY#*"]}}
    # The parameter name starts with "/": no second slash after "parameter".
    parameter_arn = by_action["ssm:GetParameter"]["Resource"]["Fn::Sub"]
    assert parameter_arn.endswith(":parameter${CallbackTokenParameterName}")
    assert template["Parameters"]["CallbackTokenParameterName"]["Default"].startswith("/")
    assert "kms:ViaService" in json.dumps(by_action["kms:Decrypt"]["Condition"])


def test_board_is_read_only_on_the_reports_table(template: dict[str, Any]) -> None:
    properties = template["Resources"]["BoardFunction"]["Properties"]
    statements = [s for p in properties["Policies"] for s in _statements(p)]
    assert [
        s for p in properties["Policies"] for s in ([p] if isinstance(p, str) else [])
    ] == []  # no managed policy
    assert len(statements) == 1
    assert sorted(_as_list(statements[0]["Action"])) == [
        "dynamodb:BatchGetItem",
        "dynamodb:GetItem",
        "dynamodb:Query",
    ]
    assert statements[0]["Effect"] == "Allow"
    assert statements[0]["Resource"] == {"Fn::GetAtt": ["ReportsTable", "Arn"]}  # not its indexes, not "*"


def test_board_only_with_board_login(template: dict[str, Any]) -> None:
    board = {
        "BoardUserPool",
        "BoardUserPoolClient",
        "BoardApi",
        "BoardApiAccessLogs",
        "BoardLayer",
        "BoardFunction",
        "BoardFunctionLogs",
        "BoardApiServerErrorsAlarm",
        "BoardErrorsAlarm",
        "BoardThrottlesAlarm",
    }
    conditional = {i for i, r in template["Resources"].items() if r.get("Condition") == "BoardEnabled"}
    assert conditional == board
    assert template["Conditions"]["BoardEnabled"] == {"Fn::Equals": [{"Ref": "BoardLogin"}, "true"]}
    assert template["Parameters"]["BoardLogin"]["Default"] == "false"
    assert {o for o, v in template["Outputs"].items() if v.get("Condition") == "BoardEnabled"} == {
        "BoardUrl",
        "BoardUserPoolId",
        "BoardClientId",
    }


def test_board_login_is_cognito_with_api_gateways_jwt_authorizer(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    auth = resources["BoardApi"]["Properties"]["Auth"]
    login = auth["Authorizers"][auth["DefaultAuthorizer"]]
    assert login["IdentitySource"] == "$request.querystring.access_token"
    issuer = login["JwtConfiguration"]["issuer"]["Fn::Sub"]
    assert issuer == "https://cognito-idp.${AWS::Region}.amazonaws.com/${BoardUserPool}"
    assert login["JwtConfiguration"]["audience"] == [{"Ref": "BoardUserPoolClient"}]
    pool = resources["BoardUserPool"]["Properties"]
    assert pool["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is True  # no self sign-up
    client = resources["BoardUserPoolClient"]["Properties"]
    assert client["GenerateSecret"] is False
    assert "ALLOW_REFRESH_TOKEN_AUTH" in client["ExplicitAuthFlows"]
    # the callback API has no authorizer: its routes keep the token in the path
    assert "Auth" not in resources["HttpApi"]["Properties"]


def test_fanout_may_publish_only_to_its_topics(resources: dict[str, Any]) -> None:
    statements = [
        s
        for p in resources["FanoutFunction"]["Properties"]["Policies"]
        for s in _statements(p)
        if "sns:Publish" in _as_list(s["Action"])
    ]
    assert len(statements) == 1
    targets = {referenced_resource(r) for r in _as_list(statements[0]["Resource"])}
    assert targets == {"ConfigChangedTopic", "BroadcastTopic"}


def test_http_api_is_throttled(resources: dict[str, Any]) -> None:
    route_settings = resources["HttpApi"]["Properties"]["DefaultRouteSettings"]
    assert route_settings["ThrottlingBurstLimit"] == {"Ref": "ThrottlingBurstLimit"}
    assert route_settings["ThrottlingRateLimit"] == {"Ref": "ThrottlingRateLimit"}


def test_callback_routes(template: dict[str, Any]) -> None:
    routes = http_routes(template)
    assert {(r["method"], r["path"]) for r in routes} == {
        (method, path)
        for method in ("GET", "HEAD", "PUT", "POST")
        for path in ("/callback", "/callback/{token}")
    } | {("ANY", "$default")}  # what no route matches ("/callback/": an empty token) -> 401 / 404
    assert len(routes) == 9
    assert {r["function"] for r in routes} == {"IngestFunction"}
    assert {r["payload_format"] for r in routes} == {"2.0"}


def test_events_table(resources: dict[str, Any]) -> None:
    properties = resources["EventsTable"]["Properties"]
    assert properties["BillingMode"] == "PAY_PER_REQUEST"
    assert properties["StreamSpecification"]["StreamViewType"] == "NEW_IMAGE"
    assert properties["TimeToLiveSpecification"] == {"AttributeName": "ttl", "Enabled": True}


def test_events_table_keys_match_keys_module(resources: dict[str, Any]) -> None:
    properties = resources["EventsTable"]["Properties"]

    def key_schema(schema: list[dict[str, str]]) -> tuple[str, ...]:
        return tuple(k["AttributeName"] for k in sorted(schema, key=lambda k: k["KeyType"]))

    assert key_schema(properties["KeySchema"]) == ("pk", "sk")
    indexes = {i["IndexName"]: i for i in properties["GlobalSecondaryIndexes"]}
    assert {name: key_schema(i["KeySchema"]) for name, i in indexes.items()} == {
        keys.BY_AGENT_DAY: ("gsi1pk", "gsi1sk"),
        keys.BY_CALL: ("gsi2pk", "gsi2sk"),
        keys.BY_CMD_DAY: ("gsi3pk", "gsi3sk"),
    }
    assert {i["Projection"]["ProjectionType"] for i in indexes.values()} == {"ALL"}
    defined = {a["AttributeName"]: a["AttributeType"] for a in properties["AttributeDefinitions"]}
    used = set(key_schema(properties["KeySchema"])).union(
        *(key_schema(i["KeySchema"]) for i in indexes.values())
    )
    assert set(defined) == used  # CloudFormation rejects unused attribute definitions
    assert set(defined.values()) == {"S"}


def test_topics(template: dict[str, Any]) -> None:
    topics = resources_of_type(template, "AWS::SNS::Topic")
    assert set(topics) == {"ConfigChangedTopic", "BroadcastTopic", "AlarmTopic"}
    # the fan-out's key statement (kms:ViaService sns) is for the AWS-managed key
    for name in ("ConfigChangedTopic", "BroadcastTopic"):
        assert topics[name]["Properties"]["KmsMasterKeyId"] == "alias/aws/sns"


def test_fanout_stream_wakes_only_for_new_fanout_events(template: dict[str, Any]) -> None:
    (mapping,) = [m for m in stream_mappings(template) if m["function"] == "FanoutFunction"]
    assert mapping["table"] == "EventsTable"
    # rejected requests live in the same table with kind "rejected"
    assert _in_any_cmd_order(mapping["filter_patterns"]) == [_new_events_of(FANOUT_CMDS)]


def test_fanout_outlives_a_day_long_sns_outage(template: dict[str, Any]) -> None:
    """Retried by record age, not by attempts (100 attempts of up to 10 s ran out within hours):
    until the record is a day old, the stream's retention. Then an S3 destination keeps the
    whole invocation, records included, for acd-admin redrive fanout."""
    (mapping,) = [m for m in stream_mappings(template) if m["function"] == "FanoutFunction"]
    assert mapping["max_retries"] == -1
    assert mapping["max_record_age"] == 86400
    event = template["Resources"]["FanoutFunction"]["Properties"]["Events"][mapping["event"]]
    on_failure = event["Properties"]["DestinationConfig"]["OnFailure"]
    assert on_failure == {"Type": "S3", "Destination": {"Fn::GetAtt": ["FanoutFailuresBucket", "Arn"]}}
    bucket = template["Resources"]["FanoutFailuresBucket"]
    assert bucket["Type"] == "AWS::S3::Bucket"
    assert bucket["DeletionPolicy"] == "Retain"
    assert bucket["Properties"]["PublicAccessBlockConfiguration"] == dict.fromkeys(
        ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"), True
    )
    assert "BucketEncryption" in bucket["Properties"]
    assert template["Outputs"]["FanoutFailuresBucketName"]["Value"] == {"Ref": "FanoutFailuresBucket"}


# --- reports -----------------------------------------------------------------------------------------

# One function runs both aggregators (two readers per stream shard at most: the fan-out and it),
# its filter the union of what each reads (each aggregator's cmds).
AGGREGATORS = {"StatsFunction": ("StatsDLQ", AgentStatsAggregator.cmds | CallStatsAggregator.cmds)}


def _new_events_of(cmds: Iterable[str]) -> dict[str, Any]:
    """The filter pattern that wakes a consumer for new events of these cmds (sorted)."""
    return {
        "eventName": ["INSERT"],
        "dynamodb": {"NewImage": {"kind": {"S": ["event"]}, "cmd": {"S": sorted(cmds)}}},
    }


def _in_any_cmd_order(patterns: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The template's filter patterns with each cmd list sorted: its order means nothing to
    Lambda, and the code's cmds are sets."""
    patterns = copy.deepcopy(patterns)
    for pattern in patterns:
        cmd = pattern.get("dynamodb", {}).get("NewImage", {}).get("cmd", {})
        if "S" in cmd:
            assert len(set(cmd["S"])) == len(cmd["S"]), cmd
            cmd["S"] = sorted(cmd["S"])
    return patterns


def test_the_stream_consumers(template: dict[str, Any]) -> None:
    assert [m["function"] for m in stream_mappings(template)] == ["FanoutFunction", *sorted(AGGREGATORS)]


def test_the_consumers_read_cmds_of_the_spec() -> None:
    for _dlq, cmds in AGGREGATORS.values():
        assert cmds
        assert set(CMDS).issuperset(cmds)
    assert set(CMDS).issuperset(FANOUT_CMDS)


@pytest.mark.parametrize("function", sorted(AGGREGATORS))
def test_aggregator_stream_mapping(template: dict[str, Any], function: str) -> None:
    dlq, cmds = AGGREGATORS[function]
    (mapping,) = [m for m in stream_mappings(template) if m["function"] == function]
    assert mapping["table"] == "EventsTable"
    assert mapping["handler"] == "app.lambda_handler"
    assert mapping["starting_position"] == "TRIM_HORIZON"
    assert mapping["batch_size"] == 100
    assert mapping["batching_window"] == 2
    assert mapping["bisect"] is True
    assert mapping["report_batch_item_failures"] is True
    assert mapping["max_retries"] == 10
    assert mapping["max_record_age"] == 21600
    assert mapping["on_failure"] == dlq
    assert _in_any_cmd_order(mapping["filter_patterns"]) == [_new_events_of(cmds)]
    properties = template["Resources"][function]["Properties"]
    assert properties["Events"][mapping["event"]]["Properties"]["ParallelizationFactor"] == 1
    assert properties["Timeout"] == 60
    assert template["Resources"][dlq]["Type"] == "AWS::SQS::Queue"


def _dynamodb_grants(function: dict[str, Any]) -> dict[str | None, set[str]]:
    """``{table logical id: dynamodb actions}`` of a function's inline statements."""
    grants: dict[str | None, set[str]] = {}
    for policy in _as_list(function["Properties"].get("Policies") or []):
        for statement in _statements(policy):
            actions = {a for a in _as_list(statement["Action"]) if str(a).startswith("dynamodb:")}
            if not actions:
                continue
            assert statement["Effect"] == "Allow"
            for resource in _as_list(statement["Resource"]):
                grants.setdefault(referenced_resource(resource), set()).update(actions)
    return grants


# Read-only on the events table, base table only (no index ARN, no Scan, no write); on the
# reports table what the code does (TransactWriteItems is authorized per item). The call
# statistics read a call's events and move a call's listing items; the agent statistics read no
# event (a state arrives whole in its record: tests/unit/test_grants_in_use.py runs the handler
# against these grants and checks what each aggregator's thread asks).
REPORT_READS = {"dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query"}
GRANTS = {
    "StatsFunction": {
        "EventsTable": {"dynamodb:Query", "dynamodb:GetItem"},
        "ReportsTable": REPORT_READS
        | {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:ConditionCheckItem"},
    },
}


@pytest.mark.parametrize("function", sorted(AGGREGATORS))
def test_aggregator_policy_is_least_privilege(resources: dict[str, Any], function: str) -> None:
    grants = _dynamodb_grants(resources[function])
    assert grants == GRANTS[function]
    for policy in _as_list(resources[function]["Properties"]["Policies"]):
        for statement in _statements(policy):
            for resource in _as_list(statement["Resource"]):
                assert "index" not in json.dumps(resource), statement
    stream_reads = [
        p["DynamoDBStreamReadPolicy"]
        for p in resources[function]["Properties"]["Policies"]
        if isinstance(p, dict) and "DynamoDBStreamReadPolicy" in p
    ]
    fanout_reads = [
        p["DynamoDBStreamReadPolicy"]
        for p in resources["FanoutFunction"]["Properties"]["Policies"]
        if isinstance(p, dict) and "DynamoDBStreamReadPolicy" in p
    ]
    assert stream_reads == fanout_reads


def test_reports_table(resources: dict[str, Any]) -> None:
    table = resources["ReportsTable"]
    properties = table["Properties"]
    assert table["Type"] == "AWS::DynamoDB::Table"
    assert properties["BillingMode"] == "PAY_PER_REQUEST"
    assert sorted(properties["KeySchema"], key=lambda k: k["KeyType"]) == [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ]
    assert properties["AttributeDefinitions"] == [
        {"AttributeName": "pk", "AttributeType": "S"},
        {"AttributeName": "sk", "AttributeType": "S"},
    ]
    assert "GlobalSecondaryIndexes" not in properties
    assert "StreamSpecification" not in properties


def test_every_function_knows_the_reports_table(template: dict[str, Any]) -> None:
    for logical_id in _functions(template):
        assert function_environment(template, logical_id)["ACD_REPORTS_TABLE"] == {"Ref": "ReportsTable"}


def test_environment_variables_are_settings_fields(template: dict[str, Any]) -> None:
    fields = set(HubSettings.model_fields)
    for logical_id in _functions(template):
        environment = function_environment(template, logical_id)
        assert environment["POWERTOOLS_SERVICE_NAME"] == "acd-callback-hub"
        for name in environment:
            if name.startswith("ACD_"):
                assert name.removeprefix("ACD_").lower() in fields, f"{logical_id}: {name} is no setting"


def test_local_overrides_are_declared_empty(template: dict[str, Any]) -> None:
    """sam local invoke/start-api --env-vars only sets variables the template declares: these
    are declared (empty, so AWS behaves as without them) for env.json to set locally."""
    for logical_id in _functions(template):
        environment = function_environment(template, logical_id)
        assert environment["ACD_AWS_ENDPOINT_URL"] == ""
        assert environment["ACD_CALLBACK_TOKENS"] == ""
        assert environment["POWERTOOLS_METRICS_DISABLED"] == "false"


def test_function_environments(template: dict[str, Any]) -> None:
    ingest = function_environment(template, "IngestFunction")
    assert ingest["ACD_TOKEN_PARAMETER"] == {"Ref": "CallbackTokenParameterName"}
    assert ingest["ACD_ALLOWED_SOURCE_CIDRS"] == {"Ref": "AllowedSourceCidrs"}
    assert ingest["ACD_EVENTS_TABLE"] == {"Ref": "EventsTable"}
    fanout = function_environment(template, "FanoutFunction")
    assert fanout["ACD_CONFIG_TOPIC_ARN"] == {"Ref": "ConfigChangedTopic"}
    assert fanout["ACD_BROADCAST_TOPIC_ARN"] == {"Ref": "BroadcastTopic"}
    assert "ACD_TOKEN_PARAMETER" not in fanout


def test_shard_counts_are_stack_parameters_every_function_gets(template: dict[str, Any]) -> None:
    """Writers and readers never guess: every function gets the stack's counts, and acd-report /
    acd-admin with --stack-name read the same parameters (tests/integration/test_reporting.py)."""
    from acd_cli.report_context import ReportContext  # noqa: PLC0415

    parameters = template["Parameters"]
    settings = HubSettings()
    assert parameters["KpiShards"]["Default"] == settings.kpi_shards == ReportContext().kpi_shards
    assert parameters["CmdDayShards"]["Default"] == settings.cmd_day_shards == ReportContext().shards
    assert parameters["ListingShards"]["Default"] == settings.listing_shards
    assert parameters["BoardShards"]["Default"] == settings.board_shards
    for name in ("KpiShards", "CmdDayShards", "ListingShards", "BoardShards"):
        assert (parameters[name]["MinValue"], parameters[name]["MaxValue"]) == (1, 64)  # as the settings
    for logical_id in _functions(template):
        environment = function_environment(template, logical_id)
        assert environment["ACD_KPI_SHARDS"] == {"Ref": "KpiShards"}, logical_id
        assert environment["ACD_CMD_DAY_SHARDS"] == {"Ref": "CmdDayShards"}, logical_id
        assert environment["ACD_LISTING_SHARDS"] == {"Ref": "ListingShards"}, logical_id
        assert environment["ACD_BOARD_SHARDS"] == {"Ref": "BoardShards"}, logical_id


LARGE_CENTER_PEAK_PER_SECOND = 50  # README "Capacity": 2,000 agents, 100,000 calls a day
INGEST_SECONDS = 0.1  # a warm ingest's duration, generously


def test_sizing_for_a_large_center(template: dict[str, Any]) -> None:
    parameters = template["Parameters"]
    rate = parameters["ThrottlingRateLimit"]["Default"]
    burst = parameters["ThrottlingBurstLimit"]["Default"]
    assert rate >= 5 * LARGE_CENTER_PEAK_PER_SECOND  # a minute's peak is no second's peak
    assert burst >= 4 * rate
    # Reserved: stream consumers scaling out cannot take the ingest's concurrency; enough for
    # the rate limit (Little's law) twice over, and 0 (an account too small to reserve) allowed.
    reserved = parameters["IngestReservedConcurrency"]
    assert reserved["Default"] >= 2 * rate * INGEST_SECONDS
    assert reserved["MinValue"] == 0
    ingest = template["Resources"]["IngestFunction"]["Properties"]
    assert ingest["ReservedConcurrentExecutions"] == {
        "Fn::If": ["HasIngestReservation", {"Ref": "IngestReservedConcurrency"}, {"Ref": "AWS::NoValue"}]
    }
    assert template["Conditions"]["HasIngestReservation"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "IngestReservedConcurrency"}, 0]}]
    }


def test_outputs(template: dict[str, Any]) -> None:
    assert set(template["Outputs"]) >= {
        "CallbackUrl",
        "HttpApiUrl",
        "EventsTableName",
        "EventsTableStreamArn",
        "ConfigChangedTopicArn",
        "BroadcastTopicArn",
        "FanoutFailuresBucketName",
        "TokenParameterName",
        "ReportsTableName",
        "StatsDLQUrl",
        "AlarmTopicArn",
        "DashboardUrl",
    }
    outputs = template["Outputs"]
    assert outputs["ReportsTableName"]["Value"] == {"Ref": "ReportsTable"}
    assert outputs["StatsDLQUrl"]["Value"] == {"Ref": "StatsDLQ"}
    assert not {"AgentStatsDLQUrl", "CallStatsDLQUrl"} & set(outputs), "one function, one DLQ"


def test_the_fanout_may_only_note_its_progress_in_the_reports_table(resources: dict[str, Any]) -> None:
    """acd-report freshness lists the fan-out: it updates its FRESHNESS item, nothing else."""
    assert _dynamodb_grants(resources["FanoutFunction"]) == {"ReportsTable": {"dynamodb:UpdateItem"}}
    (statement,) = [
        s
        for p in _as_list(resources["FanoutFunction"]["Properties"]["Policies"])
        for s in _statements(p)
        if "dynamodb:UpdateItem" in _as_list(s["Action"])
    ]
    assert statement["Condition"] == {"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": ["FRESHNESS"]}}
