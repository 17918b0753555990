"""acd_devkit.template: reading template.yaml into what a local stack needs."""

from __future__ import annotations

import pickle
import textwrap
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from acd_devkit import template as reader
from acd_devkit.template import TemplateError
from tests.support import PK_SK

REPO_TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"

SMALL = textwrap.dedent(
    """
    AWSTemplateFormatVersion: 2010-09-09
    Transform: AWS::Serverless-2016-10-31
    Parameters:
      Level: {Type: String, Default: INFO}
      Days: {Type: Number, Default: 7}
      Name: {Type: String}
    Globals:
      Function:
        Handler: app.handler
        Environment:
          Variables:
            SHARED: shared
            LEVEL: !Ref Level
            OVERRIDDEN: global
    Resources:
      Orders:
        Type: AWS::DynamoDB::Table
        Properties:
          AttributeDefinitions:
            - {AttributeName: id, AttributeType: S}
            - {AttributeName: g, AttributeType: N}
          KeySchema:
            - {AttributeName: id, KeyType: HASH}
          GlobalSecondaryIndexes:
            - IndexName: ByG
              KeySchema: [{AttributeName: g, KeyType: HASH}]
              Projection: {ProjectionType: KEYS_ONLY}
              ProvisionedThroughput: {ReadCapacityUnits: 1, WriteCapacityUnits: 1}
              ContributorInsightsSpecification: {Enabled: true}
          ProvisionedThroughput: {ReadCapacityUnits: 2, WriteCapacityUnits: 3}
          StreamSpecification: {StreamViewType: NEW_AND_OLD_IMAGES}
          TimeToLiveSpecification: {AttributeName: expires, Enabled: true}
          SSESpecification: {SSEEnabled: true}
      Plain:
        Type: AWS::DynamoDB::Table
        Properties:
          BillingMode: PAY_PER_REQUEST
          AttributeDefinitions: [{AttributeName: id, AttributeType: S}]
          KeySchema: [{AttributeName: id, KeyType: HASH}]
          TimeToLiveSpecification: {AttributeName: gone, Enabled: false}
      Topic:
        Type: AWS::SNS::Topic
      Queue:
        Type: AWS::SQS::Queue
      Worker:
        Type: AWS::Serverless::Function
        Properties:
          CodeUri: functions/worker/
          Environment:
            Variables:
              OVERRIDDEN: own
              TABLE: !Ref Orders
              TOPIC: !GetAtt Topic.TopicName
              DAYS: !Ref Days
          Events:
            Changes:
              Type: DynamoDB
              Properties:
                Stream: !GetAtt Orders.StreamArn
                StartingPosition: LATEST
                FilterCriteria:
                  Filters:
                    - Pattern: '{"eventName": ["INSERT", "MODIFY"]}'
                DestinationConfig:
                  OnFailure: {Type: SQS, Destination: !GetAtt Queue.Arn}
            Api:
              Type: HttpApi
              Properties: {Path: /x, Method: get}
      Other:
        Type: AWS::Serverless::Function
        Properties:
          CodeUri: functions/other/
          Handler: other.main
    """
)


@pytest.fixture
def small() -> dict[str, Any]:
    return reader.parse_template(SMALL)


@pytest.fixture(scope="module")
def repo() -> dict[str, Any]:
    return reader.load_template(REPO_TEMPLATE)


# --- loading ---------------------------------------------------------------------------------------


def test_short_tags_become_long_forms() -> None:
    document = reader.parse_template(
        textwrap.dedent(
            """
            Resources:
              R:
                Properties:
                  a: !Ref Thing
                  b: !GetAtt Table.StreamArn
                  c: !GetAtt [Table, Arn]
                  d: !Sub "arn:${AWS::Partition}:x"
                  e: !Sub ["${X}-y", {X: !Ref Z}]
                  f: !Select [3, !Split ["/", !GetAtt T.StreamArn]]
                  g: !If [IsProd, 1, !Ref AWS::NoValue]
                  h: !Equals [!Ref Stage, prod]
                  i: !Condition IsProd
                  j: !Join ["", [a, b]]
                  k: !Base64 text
                  date: 2010-09-09
            """
        )
    )
    props = document["Resources"]["R"]["Properties"]
    assert props["a"] == {"Ref": "Thing"}
    assert props["b"] == {"Fn::GetAtt": ["Table", "StreamArn"]}
    assert props["c"] == {"Fn::GetAtt": ["Table", "Arn"]}
    assert props["d"] == {"Fn::Sub": "arn:${AWS::Partition}:x"}
    assert props["e"] == {"Fn::Sub": ["${X}-y", {"X": {"Ref": "Z"}}]}
    assert props["f"] == {"Fn::Select": [3, {"Fn::Split": ["/", {"Fn::GetAtt": ["T", "StreamArn"]}]}]}
    assert props["g"] == {"Fn::If": ["IsProd", 1, {"Ref": "AWS::NoValue"}]}
    assert props["h"] == {"Fn::Equals": [{"Ref": "Stage"}, "prod"]}
    assert props["i"] == {"Condition": "IsProd"}
    assert props["j"] == {"Fn::Join": ["", ["a", "b"]]}
    assert props["k"] == {"Fn::Base64": "text"}
    assert props["date"] == "2010-09-09"


def test_json_templates_parse_too() -> None:
    assert reader.parse_template('{"Resources": {"T": {"Type": "AWS::SNS::Topic"}}}')["Resources"]


@pytest.mark.parametrize("text", ["", "just text", "Resources: [1, 2]", "- a\n- b\n"])
def test_not_a_template(text: str) -> None:
    with pytest.raises(TemplateError):
        reader.parse_template(text)


def test_a_duplicate_key_is_refused() -> None:
    """YAML keeps the last of two equal keys; CloudFormation refuses the template (cfn-lint too)."""
    with pytest.raises(TemplateError, match="Duplicate"):
        reader.parse_template(
            "Resources:\n  Topic: {Type: AWS::SNS::Topic}\n  Topic: {Type: AWS::SQS::Queue}\n"
        )


def test_parsed_values_are_plain_python() -> None:
    """The local stack hands what it read to other processes: nothing of the parser may stick."""
    document = reader.parse_template(
        "Resources:\n  T:\n    Type: AWS::SNS::Topic\n    Properties: {A: !Ref X}\n"
    )
    assert type(document["Resources"]["T"]["Type"]) is str
    assert type(document["Resources"]["T"]["Properties"]) is dict
    assert pickle.loads(pickle.dumps(document)) == document


def test_unknown_python_tags_are_not_constructed() -> None:
    with pytest.raises(Exception, match="python"):
        reader.parse_template("Resources: !!python/object/apply:os.system ['true']")


def _write_template(directory: Path, topic: str) -> Path:
    path = directory / "template.yaml"
    path.write_text(f"Resources:\n  {topic}:\n    Type: AWS::SNS::Topic\n", encoding="utf-8")
    return path


def test_load_explicit_path(tmp_path: Path) -> None:
    path = _write_template(tmp_path, "Explicit")
    assert reader.sns_topics(reader.load_template(path)) == ["Explicit"]
    assert reader.sns_topics(reader.load_template(str(path))) == ["Explicit"]


def test_load_prefers_env_var_over_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "env").mkdir()
    (tmp_path / "cwd").mkdir()
    env_template = _write_template(tmp_path / "env", "FromEnv")
    _write_template(tmp_path / "cwd", "FromCwd")
    monkeypatch.chdir(tmp_path / "cwd")
    monkeypatch.setenv(reader.TEMPLATE_ENV, str(env_template))
    assert reader.sns_topics(reader.load_template()) == ["FromEnv"]
    monkeypatch.delenv(reader.TEMPLATE_ENV)
    assert reader.sns_topics(reader.load_template()) == ["FromCwd"]


def test_load_falls_back_to_the_repository(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(reader.TEMPLATE_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    assert reader.find_template() == REPO_TEMPLATE
    assert "EventsTable" in reader.load_template()["Resources"]


# --- DynamoDB --------------------------------------------------------------------------------------


def test_tables_as_create_table_kwargs(small: dict[str, Any]) -> None:
    tables = reader.dynamodb_tables(small)
    assert list(tables) == ["Orders", "Plain"]
    orders = tables["Orders"]
    assert orders == {
        "TableName": "Orders",
        "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
        "AttributeDefinitions": [
            {"AttributeName": "id", "AttributeType": "S"},
            {"AttributeName": "g", "AttributeType": "N"},
        ],
        "BillingMode": "PROVISIONED",
        "ProvisionedThroughput": {"ReadCapacityUnits": 2, "WriteCapacityUnits": 3},
        "GlobalSecondaryIndexes": [
            {
                "IndexName": "ByG",
                "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
                "ProvisionedThroughput": {"ReadCapacityUnits": 1, "WriteCapacityUnits": 1},
            }
        ],
        "StreamSpecification": {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    }
    assert tables["Plain"] == {
        "TableName": "Plain",
        "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
        "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
        "BillingMode": "PAY_PER_REQUEST",
    }


def test_tables_are_copies(small: dict[str, Any]) -> None:
    reader.dynamodb_tables(small)["Orders"]["KeySchema"].clear()
    assert reader.dynamodb_tables(small)["Orders"]["KeySchema"]


def test_intrinsics_in_a_table_are_refused(small: dict[str, Any]) -> None:
    small["Resources"]["Orders"]["Properties"]["KeySchema"][0]["AttributeName"] = {"Ref": "KeyName"}
    with pytest.raises(TemplateError, match=r"Orders\.KeySchema\[0\]\.AttributeName"):
        reader.dynamodb_tables(small)


def test_ttl_attributes(small: dict[str, Any], repo: dict[str, Any]) -> None:
    assert reader.ttl_attributes(small) == {"Orders": "expires"}
    assert reader.ttl_attributes(repo) == {"EventsTable": "ttl"}


def test_repo_events_table(repo: dict[str, Any]) -> None:
    events = reader.dynamodb_tables(repo)["EventsTable"]
    assert events["TableName"] == "EventsTable"
    assert events["BillingMode"] == "PAY_PER_REQUEST"
    assert events["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"}
    assert [i["IndexName"] for i in events["GlobalSecondaryIndexes"]] == ["ByAgentDay", "ByCall", "ByCmdDay"]
    assert all("ProvisionedThroughput" not in i for i in events["GlobalSecondaryIndexes"])


def test_repo_reports_table(repo: dict[str, Any]) -> None:
    assert reader.dynamodb_tables(repo)["ReportsTable"] == {
        "TableName": "ReportsTable",
        **PK_SK,
        "BillingMode": "PAY_PER_REQUEST",
    }


def test_repo_tables_create_in_moto(repo: dict[str, Any], fake_aws: None) -> None:
    tables = reader.dynamodb_tables(repo)
    assert list(tables) == ["EventsTable", "ReportsTable"]
    with mock_aws():
        client = boto3.client("dynamodb", region_name="eu-central-1")
        described = {
            logical_id: client.create_table(**kwargs)["TableDescription"]
            for logical_id, kwargs in tables.items()
        }
    assert {logical_id: d["TableName"] for logical_id, d in described.items()} == {
        "EventsTable": "EventsTable",
        "ReportsTable": "ReportsTable",
    }
    assert described["EventsTable"]["StreamSpecification"]["StreamViewType"] == "NEW_IMAGE"
    assert len(described["EventsTable"]["GlobalSecondaryIndexes"]) == 3
    assert not described["ReportsTable"].get("StreamSpecification", {}).get("StreamEnabled")
    assert not described["ReportsTable"].get("GlobalSecondaryIndexes")


# --- SNS, functions --------------------------------------------------------------------------------


def test_sns_topics(small: dict[str, Any], repo: dict[str, Any]) -> None:
    assert reader.sns_topics(small) == ["Topic"]
    assert reader.sns_topics(repo) == ["ConfigChangedTopic", "BroadcastTopic", "AlarmTopic"]


def test_function_environment_merges_globals(small: dict[str, Any]) -> None:
    assert reader.function_environment(small, "Worker") == {
        "SHARED": "shared",
        "LEVEL": {"Ref": "Level"},
        "OVERRIDDEN": "own",
        "TABLE": {"Ref": "Orders"},
        "TOPIC": {"Fn::GetAtt": ["Topic", "TopicName"]},
        "DAYS": {"Ref": "Days"},
    }
    assert reader.function_environment(small, "Other") == {
        "SHARED": "shared",
        "LEVEL": {"Ref": "Level"},
        "OVERRIDDEN": "global",
    }


def test_function_environment_of_a_non_function(small: dict[str, Any]) -> None:
    with pytest.raises(KeyError):
        reader.function_environment(small, "Orders")
    with pytest.raises(KeyError):
        reader.function_environment(small, "Missing")


def test_repo_function_environment(repo: dict[str, Any]) -> None:
    ingest = reader.function_environment(repo, "IngestFunction")
    assert ingest["ACD_EVENTS_TABLE"] == {"Ref": "EventsTable"}
    assert ingest["ACD_TOKEN_PARAMETER"] == {"Ref": "CallbackTokenParameterName"}
    assert reader.function_environment(repo, "FanoutFunction")["ACD_CONFIG_TOPIC_ARN"] == {
        "Ref": "ConfigChangedTopic"
    }


def test_stream_mappings(small: dict[str, Any]) -> None:
    assert reader.stream_mappings(small) == [
        {
            "function": "Worker",
            "event": "Changes",
            "code_uri": "functions/worker/",
            "handler": "app.handler",  # from Globals
            "table": "Orders",
            "batch_size": 100,
            "filter_patterns": [{"eventName": ["INSERT", "MODIFY"]}],
            "bisect": False,
            "max_retries": -1,
            "max_record_age": -1,
            "batching_window": 0,
            "tumbling_window": 0,
            "report_batch_item_failures": False,
            "starting_position": "LATEST",
            "on_failure": "Queue",
        }
    ]


def test_stream_mapping_needs_a_table_of_the_template(small: dict[str, Any]) -> None:
    events = small["Resources"]["Worker"]["Properties"]["Events"]
    events["Changes"]["Properties"]["Stream"] = "arn:aws:dynamodb:eu-central-1:1:table/x/stream/y"
    with pytest.raises(TemplateError, match=r"Worker\.Events\.Changes"):
        reader.stream_mappings(small)


def test_repo_stream_mappings(repo: dict[str, Any]) -> None:
    mappings = reader.stream_mappings(repo)
    assert [m["function"] for m in mappings] == ["FanoutFunction", "StatsFunction"]
    fanout, stats = mappings
    assert fanout["code_uri"] == "functions/fanout/"
    assert fanout["handler"] == "app.lambda_handler"
    assert fanout["table"] == "EventsTable"
    assert fanout["batch_size"] == 25
    assert fanout["bisect"] is True
    assert (fanout["max_retries"], fanout["max_record_age"]) == (-1, 86400)
    assert fanout["report_batch_item_failures"] is True
    assert fanout["starting_position"] == "TRIM_HORIZON"
    assert fanout["on_failure"] == "FanoutFailuresBucket"
    assert fanout["filter_patterns"] == [
        {
            "eventName": ["INSERT"],
            "dynamodb": {
                "NewImage": {"kind": {"S": ["event"]}, "cmd": {"S": ["configchanged", "broadcastevent"]}}
            },
        }
    ]

    aggregator_cmds = {
        "StatsFunction": [
            "callevent",
            "recordedcall",
            "classificationevent",
            "enqueuecall",
            "agentstate",
        ],
    }
    for mapping, code_uri, dlq in ((stats, "functions/stats/", "StatsDLQ"),):
        assert mapping == {
            "function": mapping["function"],
            "event": "EventsStream",
            "code_uri": code_uri,
            "handler": "app.lambda_handler",
            "table": "EventsTable",
            "batch_size": 100,
            "filter_patterns": [
                {
                    "eventName": ["INSERT"],
                    "dynamodb": {
                        "NewImage": {
                            "kind": {"S": ["event"]},
                            "cmd": {"S": aggregator_cmds[mapping["function"]]},
                        }
                    },
                }
            ],
            "bisect": True,
            "max_retries": 10,
            "max_record_age": 21600,
            "batching_window": 2,
            "tumbling_window": 900,  # only for the shard's id in the event (acd_hub/freshness.py)
            "report_batch_item_failures": True,
            "starting_position": "TRIM_HORIZON",
            "on_failure": dlq,
        }


def test_http_routes(small: dict[str, Any], repo: dict[str, Any]) -> None:
    assert reader.http_routes(small) == [
        {
            "function": "Worker",
            "event": "Api",
            "method": "GET",
            "path": "/x",
            "code_uri": "functions/worker/",
            "handler": "app.handler",
            "payload_format": "2.0",
        }
    ]
    assert len(reader.http_routes(repo)) == 9  # 8 callback routes and $default


# --- intrinsics ------------------------------------------------------------------------------------

REFS = {
    "EventsTable": "events-table",
    "EventsTable.StreamArn": "arn:aws:dynamodb:eu-central-1:123:table/events-table/stream/2026-11-20T00:00",
    "AWS::Region": "eu-central-1",
    "Name": "/hub/tokens",
}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("plain", "plain"),
        (7, 7),
        ({"Ref": "EventsTable"}, "events-table"),
        ({"Fn::GetAtt": ["EventsTable", "StreamArn"]}, REFS["EventsTable.StreamArn"]),
        ({"Fn::GetAtt": "EventsTable.StreamArn"}, REFS["EventsTable.StreamArn"]),
        ({"Fn::Sub": "ssm.${AWS::Region}.amazonaws.com"}, "ssm.eu-central-1.amazonaws.com"),
        ({"Fn::Sub": "arn:parameter${Name}"}, "arn:parameter/hub/tokens"),
        ({"Fn::Sub": "${EventsTable.StreamArn}"}, REFS["EventsTable.StreamArn"]),
        ({"Fn::Sub": "${!Literal}-${X}", "unused": 1}, {"Fn::Sub": "${!Literal}-${X}", "unused": 1}),
        ({"Fn::Sub": ["${!Literal}-${X}", {"X": {"Ref": "EventsTable"}}]}, "${Literal}-events-table"),
        ({"Fn::Join": ["-", ["a", {"Ref": "EventsTable"}]]}, "a-events-table"),
        (
            {"Fn::Select": [3, {"Fn::Split": ["/", {"Fn::GetAtt": ["EventsTable", "StreamArn"]}]}]},
            "2026-11-20T00:00",
        ),
        ({"Fn::Select": ["0", ["x", "y"]]}, "x"),
        ([{"Ref": "EventsTable"}, {"k": {"Ref": "AWS::Region"}}], ["events-table", {"k": "eu-central-1"}]),
    ],
)
def test_resolve(value: Any, expected: Any) -> None:
    assert reader.resolve(value, REFS) == expected


def test_resolve_unknown_name() -> None:
    with pytest.raises(KeyError):
        reader.resolve({"Ref": "Nope"}, REFS)
    with pytest.raises(KeyError):
        reader.resolve({"Fn::Sub": "${Nope}"}, REFS)


def test_resolve_refuses_what_it_cannot_evaluate() -> None:
    with pytest.raises(TemplateError, match="Fn::If"):
        reader.resolve({"Fn::If": ["IsProd", "a", "b"]}, REFS)


def test_parameter_defaults(small: dict[str, Any]) -> None:
    assert reader.parameter_defaults(small) == {"Level": "INFO", "Days": 7}


def test_resolved_environment(small: dict[str, Any]) -> None:
    refs = {"Orders": "orders-local", "Topic.TopicName": "topic", "Level": "DEBUG"}
    assert reader.resolved_environment(small, "Worker", refs) == {
        "SHARED": "shared",
        "LEVEL": "DEBUG",  # refs win over parameter defaults
        "OVERRIDDEN": "own",
        "TABLE": "orders-local",
        "TOPIC": "topic",
        "DAYS": "7",  # Lambda environment values are strings
    }


def test_repo_resolved_environment(repo: dict[str, Any]) -> None:
    refs = {
        "EventsTable": "EventsTable",
        "ReportsTable": "ReportsTable",
        "ConfigChangedTopic": "arn:aws:sns:us-east-1:123456789012:config",
        "BroadcastTopic": "arn:aws:sns:us-east-1:123456789012:broadcast",
        "CallbackTokenParameterName": "",
    }
    ingest = reader.resolved_environment(repo, "IngestFunction", refs)
    assert ingest["ACD_EVENTS_TABLE"] == "EventsTable"
    assert ingest["ACD_TOKEN_PARAMETER"] == ""
    assert ingest["ACD_RETENTION_DAYS"] == "0"
    assert ingest["POWERTOOLS_LOG_LEVEL"] == "INFO"
    fanout = reader.resolved_environment(repo, "FanoutFunction", refs)
    assert fanout["ACD_BROADCAST_TOPIC_ARN"].endswith(":broadcast")
    stats = reader.resolved_environment(repo, "StatsFunction", refs)
    assert stats["ACD_REPORTS_TABLE"] == "ReportsTable"
    assert stats["ACD_SERVICE_LEVEL_SECONDS"] == "20"
