"""The contract: DynamoDB in memory (:mod:`acd_devkit.memory_dynamodb`, what the aggregator,
rebuild and shard tests run on) behaves as moto's server does, request for request, and as
DynamoDB's documentation says where the two differ.

Every test runs twice, on the in-memory client and on a moto server in its own process (moto
as released: the local stack's patches are not loaded there), both holding the template's
tables and reached as the product reaches DynamoDB (a low-level client, no client-side
validation). A behaviour where the two differ fails a test. Where moto itself differs from
DynamoDB's documentation, the test says so (``MOTO_DIFFERS``) and holds the in-memory client to
the documentation.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from acd_devkit.memory_dynamodb import MemoryDynamoDB
from acd_devkit.template import dynamodb_tables, load_template
from acd_hub.adapters.events_table import EventsTable
from acd_hub.adapters.reports_table import ReportsTable
from acd_hub.agent_stats import Link, TimelineEntry
from acd_hub.errors import EventConflict
from acd_hub.ports import Cancelled, Create
from acd_hub.settings import HubSettings
from acd_local.hub import HOST
from tests.support import free_port
from tests.support import table_key as key

pytestmark = pytest.mark.aws_faults

TABLES = dynamodb_tables(load_template())
EVENTS, REPORTS = "EventsTable", "ReportsTable"


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    """moto's server as released, in its own process (no patches of this project loaded)."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", HOST, "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://{HOST}:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection((HOST, port), timeout=0.5):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("moto's server did not start")
                time.sleep(0.1)
        yield endpoint
    finally:
        process.terminate()
        process.wait(10)


def _moto_client(endpoint: str) -> Any:
    return boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name="eu-central-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(parameter_validation=False, retries={"max_attempts": 1}),
    )


@pytest.fixture(params=["memory", "moto"])
def db(request: pytest.FixtureRequest) -> Any:
    """The template's tables, empty, on one of the two."""
    if request.param == "memory":
        return MemoryDynamoDB(TABLES)
    client = _moto_client(request.getfixturevalue("moto_endpoint"))
    for name in client.list_tables()["TableNames"]:
        client.delete_table(TableName=name)
    for definition in TABLES.values():
        client.create_table(**definition)
    return client


def is_moto(db: Any) -> bool:
    return not isinstance(db, MemoryDynamoDB)


def error_code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


# -- conditions -----------------------------------------------------------------------------------


def test_a_conditional_put_fails_once_the_item_exists_and_can_return_it(db: Any) -> None:
    item = {**key("a"), "v": {"N": "1"}}
    db.put_item(TableName=REPORTS, Item=item, ConditionExpression="attribute_not_exists(pk)")
    with pytest.raises(ClientError) as failed:
        db.put_item(
            TableName=REPORTS,
            Item={**key("a"), "v": {"N": "2"}},
            ConditionExpression="attribute_not_exists(pk)",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    assert error_code(failed) == "ConditionalCheckFailedException"
    assert failed.value.response.get("Item") == item
    assert db.get_item(TableName=REPORTS, Key=key("a"), ConsistentRead=True)["Item"] == item


def test_version_conditions_and_counters(db: Any) -> None:
    db.put_item(TableName=REPORTS, Item={**key("v"), "version": {"N": "3"}})
    update = {
        "TableName": REPORTS,
        "Key": key("v"),
        "UpdateExpression": "SET #version = :next ADD #n :one",
        "ConditionExpression": "#version = :read",
        "ExpressionAttributeNames": {"#version": "version", "#n": "count"},
    }
    db.update_item(
        **update, ExpressionAttributeValues={":read": {"N": "3"}, ":next": {"N": "4"}, ":one": {"N": "1"}}
    )
    with pytest.raises(ClientError) as stale:
        db.update_item(
            **update, ExpressionAttributeValues={":read": {"N": "3"}, ":next": {"N": "4"}, ":one": {"N": "1"}}
        )
    assert error_code(stale) == "ConditionalCheckFailedException"
    db.update_item(
        TableName=REPORTS,
        Key=key("v"),
        UpdateExpression="SET #c = if_not_exists(#c, :zero) + :one, #w = :w ADD #n :minus",
        ExpressionAttributeNames={"#c": "replays", "#w": "who", "#n": "count"},
        ExpressionAttributeValues={
            ":zero": {"N": "0"},
            ":one": {"N": "1"},
            ":w": {"S": "x"},
            ":minus": {"N": "-5"},
        },
    )
    got = db.get_item(TableName=REPORTS, Key=key("v"), ConsistentRead=True)["Item"]
    assert got == {
        **key("v"),
        "version": {"N": "4"},
        "count": {"N": "-4"},
        "replays": {"N": "1"},
        "who": {"S": "x"},
    }


def test_an_update_may_create_its_item_and_a_condition_may_forbid_it(db: Any) -> None:
    db.update_item(
        TableName=REPORTS,
        Key=key("n"),
        UpdateExpression="ADD #a :two",
        ExpressionAttributeNames={"#a": "answered"},
        ExpressionAttributeValues={":two": {"N": "2"}},
    )
    assert db.get_item(TableName=REPORTS, Key=key("n"), ConsistentRead=True)["Item"]["answered"] == {"N": "2"}
    with pytest.raises(ClientError) as gone:
        db.update_item(
            TableName=REPORTS,
            Key=key("absent"),
            UpdateExpression="SET #a = :a",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeNames={"#a": "a"},
            ExpressionAttributeValues={":a": {"S": "x"}},
        )
    assert error_code(gone) == "ConditionalCheckFailedException"
    assert "Item" not in db.get_item(TableName=REPORTS, Key=key("absent"), ConsistentRead=True)


def test_a_number_set_grows_by_add_and_a_condition_may_count_it(db: Any) -> None:
    """The shard counts recorded with a hotline day (a number set, ``ADD``: a union) and the
    rebuild's check that none was recorded since it read them (``size``)."""
    for count in ("4", "4", "8"):
        db.update_item(
            TableName=REPORTS,
            Key=key("shards"),
            UpdateExpression="ADD #s :s",
            ExpressionAttributeNames={"#s": "listing_shards"},
            ExpressionAttributeValues={":s": {"NS": [count]}},
        )
    stored = db.get_item(TableName=REPORTS, Key=key("shards"), ConsistentRead=True)["Item"]
    assert sorted(stored["listing_shards"]["NS"]) == ["4", "8"]

    def check(size: str) -> dict[str, Any]:
        return {"ConditionCheck": {"TableName": REPORTS, "Key": key("shards"),
                                   "ConditionExpression": "attribute_exists(pk) AND size(#s) = :n",
                                   "ExpressionAttributeNames": {"#s": "listing_shards"},
                                   "ExpressionAttributeValues": {":n": {"N": size}}}}  # fmt: skip

    put = {"Put": {"TableName": REPORTS, "Item": {**key("corrected"), "v": {"N": "1"}}}}
    with pytest.raises(ClientError) as cancelled:
        db.transact_write_items(TransactItems=[check("1"), put])
    reasons = [r["Code"] for r in cancelled.value.response["CancellationReasons"]]  # type: ignore[typeddict-item]
    assert reasons == ["ConditionalCheckFailed", "None"]
    db.transact_write_items(TransactItems=[check("2"), put])
    assert "Item" in db.get_item(TableName=REPORTS, Key=key("corrected"), ConsistentRead=True)


# -- transactions ----------------------------------------------------------------------------------


def test_a_transaction_is_all_or_nothing_with_a_reason_per_item(db: Any) -> None:
    db.put_item(TableName=REPORTS, Item={**key("taken"), "v": {"N": "1"}})
    with pytest.raises(ClientError) as cancelled:
        db.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": REPORTS, "Item": {**key("new"), "v": {"N": "1"}}}},
                {"Update": {"TableName": REPORTS, "Key": key("counter"), "UpdateExpression": "ADD v :n",
                            "ExpressionAttributeValues": {":n": {"N": "3"}}}},
                {"Put": {"TableName": REPORTS, "Item": {**key("taken"), "v": {"N": "2"}},
                         "ConditionExpression": "attribute_not_exists(pk)"}},
                {"ConditionCheck": {"TableName": REPORTS, "Key": key("absent"),
                                    "ConditionExpression": "attribute_not_exists(pk)"}},
            ]
        )  # fmt: skip
    assert error_code(cancelled) == "TransactionCanceledException"
    reasons = [r["Code"] for r in cancelled.value.response["CancellationReasons"]]  # type: ignore[typeddict-item]
    assert reasons == ["None", "None", "ConditionalCheckFailed", "None"]
    for name in ("new", "counter"):
        assert "Item" not in db.get_item(TableName=REPORTS, Key=key(name), ConsistentRead=True)
    assert db.get_item(TableName=REPORTS, Key=key("taken"), ConsistentRead=True)["Item"]["v"] == {"N": "1"}


def test_a_transaction_may_not_touch_one_item_twice(db: Any) -> None:
    with pytest.raises(ClientError) as refused:
        db.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": REPORTS, "Item": {**key("twice"), "v": {"N": "1"}}}},
                {
                    "ConditionCheck": {
                        "TableName": REPORTS,
                        "Key": key("twice"),
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
            ]
        )
    assert error_code(refused) == "ValidationException"
    assert "Item" not in db.get_item(TableName=REPORTS, Key=key("twice"), ConsistentRead=True)


def test_a_transaction_holds_at_most_100_items(db: Any) -> None:
    puts = [{"Put": {"TableName": REPORTS, "Item": key(f"t{n}")}} for n in range(101)]
    with pytest.raises(ClientError) as refused:
        db.transact_write_items(TransactItems=puts)
    assert error_code(refused) == "ValidationException"
    db.transact_write_items(TransactItems=puts[:100])
    assert "Item" in db.get_item(TableName=REPORTS, Key=key("t99"), ConsistentRead=True)


# -- limits ------------------------------------------------------------------------------------------


def test_an_item_over_400_kb_is_refused(db: Any) -> None:
    db.put_item(TableName=REPORTS, Item={**key("big"), "text": {"S": "x" * 399_000}})
    with pytest.raises(ClientError) as refused:
        db.put_item(TableName=REPORTS, Item={**key("huge"), "text": {"S": "x" * 410_000}})
    assert error_code(refused) == "ValidationException"
    with pytest.raises(ClientError) as grown:
        db.update_item(
            TableName=REPORTS,
            Key=key("big"),
            UpdateExpression="SET more = :more",
            ExpressionAttributeValues={":more": {"S": "y" * 20_000}},
        )
    assert error_code(grown) == "ValidationException"


def test_a_query_reads_1_mb_a_page_and_the_paginator_reads_them_all(db: Any) -> None:
    for n in range(24):
        db.put_item(TableName=REPORTS, Item={**key("pages", f"{n:03d}"), "text": {"S": "x" * 100_000}})
    first = db.query(
        TableName=REPORTS,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": "pages"}},
        ConsistentRead=True,
    )
    assert 9 <= len(first["Items"]) <= 11  # 1 MB read: about ten items of 100 KB
    assert "LastEvaluatedKey" in first
    table = EventsTable(db, REPORTS)  # the adapters' paginated query, on any table
    assert [i["sk"] for i in table.query("pages", consistent=True)] == [f"{n:03d}" for n in range(24)]
    assert [i["sk"] for i in table.query("pages", consistent=True, forward=False, limit=2)] == ["023", "022"]
    assert [i["sk"] for i in table.query("pages", consistent=True, sk_before="002")] == ["000", "001"]
    assert [i["sk"] for i in table.query("pages", consistent=True, sk_between=("010", "012"))] == [
        "010",
        "011",
        "012",
    ]


def test_batch_get_reads_at_most_100_keys(db: Any) -> None:
    for n in range(3):
        db.put_item(TableName=REPORTS, Item={**key(f"b{n}"), "n": {"N": str(n)}})
    wanted = [key(f"b{n}") for n in range(101)]
    with pytest.raises(ClientError) as refused:
        db.batch_get_item(RequestItems={REPORTS: {"Keys": wanted, "ConsistentRead": True}})
    assert error_code(refused) == "ValidationException"
    answer = db.batch_get_item(RequestItems={REPORTS: {"Keys": wanted[:100], "ConsistentRead": True}})
    assert sorted(i["pk"]["S"] for i in answer["Responses"][REPORTS]) == ["b0", "b1", "b2"]
    assert not answer.get("UnprocessedKeys")


def test_an_index_is_read_eventually_consistent_only(db: Any) -> None:
    with pytest.raises(ClientError) as refused:
        db.query(
            TableName=EVENTS,
            IndexName="ByCall",
            KeyConditionExpression="gsi2pk = :pk",
            ExpressionAttributeValues={":pk": {"S": "x"}},
            ConsistentRead=True,
        )
    assert error_code(refused) == "ValidationException"


# -- through the adapters ------------------------------------------------------------------------------


def test_the_adapters_see_duplicates_and_conflicts_alike(db: Any) -> None:
    settings = HubSettings()
    reports = ReportsTable(db, REPORTS, settings.board_shards)
    created = Create(
        TimelineEntry("100001", Link("2026-11-20", "IV#1#k", 1, "online", None), "k", None, None)
    )
    reports.commit([created])
    with pytest.raises(Cancelled) as duplicate:
        reports.commit([created])
    assert duplicate.value.failed(0)

    events = EventsTable(db, EVENTS)
    item = {"pk": "CALL#c1", "sk": "e1", "event_key": "E1", "kind": "event", "cmd": "callevent"}
    claim = {"pk": "EVENT_KEY#E1", "sk": "claim", "kind": "claim", "digests": {"eventtype": "one"}}
    assert events.put_event(item, claim) is True
    assert events.put_event(item, claim) is False
    with pytest.raises(EventConflict):
        events.put_event(item, {**claim, "digests": {"eventtype": "two"}})


# -- streams ---------------------------------------------------------------------------------------------


def stream_events(db: Any, endpoint: str | None) -> list[str]:
    if not is_moto(db):
        return [r["eventName"] for shard in db.stream(EVENTS).shards for r in shard]
    streams = boto3.client(
        "dynamodbstreams",
        endpoint_url=endpoint,
        region_name="eu-central-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    arn = db.describe_table(TableName=EVENTS)["Table"]["LatestStreamArn"]
    names = []
    for shard in streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]:
        iterator = streams.get_shard_iterator(
            StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )
        names += [
            r["eventName"] for r in streams.get_records(ShardIterator=iterator["ShardIterator"])["Records"]
        ]
    return names


def test_the_stream_has_a_record_per_change(db: Any, request: pytest.FixtureRequest) -> None:
    os.environ.setdefault("AWS_ACCOUNT_ID_ENDPOINT_MODE", "disabled")
    item = {**key("CALL#s"), "v": {"N": "1"}}
    db.put_item(TableName=EVENTS, Item=item)
    db.put_item(TableName=EVENTS, Item={**item, "v": {"N": "2"}})
    db.put_item(TableName=EVENTS, Item={**item, "v": {"N": "2"}})  # changes nothing
    db.update_item(TableName=EVENTS, Key=key("CALL#t"), UpdateExpression="SET v = :v",
                   ExpressionAttributeValues={":v": {"N": "1"}})  # fmt: skip
    db.delete_item(TableName=EVENTS, Key=key("CALL#s"))
    endpoint = request.getfixturevalue("moto_endpoint") if is_moto(db) else None
    names = stream_events(db, endpoint)
    if is_moto(db):
        # MOTO_DIFFERS: an identical overwrite still writes MODIFY, and an update
        # that creates its item writes two INSERTs (keys only, then the item). DynamoDB writes
        # no record for a write that changes nothing, and one INSERT per new item.
        assert names == ["INSERT", "MODIFY", "MODIFY", "INSERT", "INSERT", "REMOVE"]
    else:
        assert sorted(names) == sorted(["INSERT", "MODIFY", "INSERT", "REMOVE"])
