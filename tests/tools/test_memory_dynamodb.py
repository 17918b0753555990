"""The faults and the bill of DynamoDB in memory: injected from a seed, reproducible, each with
what AWS answers (its behaviour otherwise is the contract suite's:
tests/integration/test_dynamodb_contract.py)."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError, ReadTimeoutError

from acd_devkit.memory_dynamodb import Faults, MemoryDynamoDB
from acd_devkit.template import dynamodb_tables, load_template
from acd_hub.adapters.reports_table import ReportsTable
from acd_hub.agent_stats import Link, TimelineEntry
from acd_hub.ports import Cancelled, Create
from tests.support import table_key as key

pytestmark = pytest.mark.aws_faults
TABLES = dynamodb_tables(load_template())
REPORTS = "ReportsTable"


def timeline(n: int) -> Create:
    return Create(
        TimelineEntry("100001", Link("2026-11-20", f"IV#{n}#k", n, "online", None), f"k{n}", None, None)
    )


def test_the_same_seed_injects_the_same_faults() -> None:
    def outcomes(seed: int) -> list[str]:
        db = MemoryDynamoDB(TABLES, faults=Faults(seed=seed, throttle=0.3))
        seen = []
        for n in range(40):
            try:
                db.put_item(TableName=REPORTS, Item=key(f"p{n}"))
                seen.append("ok")
            except ClientError as exc:
                seen.append(exc.response["Error"]["Code"])
        return seen

    assert outcomes(4) == outcomes(4)
    assert outcomes(4) != outcomes(5)
    assert "ProvisionedThroughputExceededException" in outcomes(4)


def test_a_timeout_after_the_commit_leaves_the_write_done() -> None:
    db = MemoryDynamoDB(TABLES, faults=Faults(timeout_after_commit=1.0))
    reports = ReportsTable(db, REPORTS, 1)
    with pytest.raises(ReadTimeoutError):
        reports.commit([timeline(1)])
    assert db.faults.injected == {"timeout": 1}
    with pytest.raises(Cancelled) as again:  # the retry finds its own write
        reports.commit([timeline(1)])
    assert again.value.failed(0)


@pytest.mark.parametrize(
    ("rates", "codes"),
    [
        ({"conflict": 1.0}, {"TransactionConflict"}),
        ({"throttle_item": 1.0}, {"ThrottlingError", "ProvisionedThroughputExceeded"}),
    ],
)
def test_a_transaction_cancelled_for_a_conflict_or_throttling_names_it_on_one_item(
    rates: dict[str, float], codes: set[str]
) -> None:
    db = MemoryDynamoDB(TABLES, faults=Faults(seed=2, **rates))
    with pytest.raises(ClientError) as cancelled:
        db.transact_write_items(
            TransactItems=[{"Put": {"TableName": REPORTS, "Item": key(f"t{n}")}} for n in range(3)]
        )
    reasons = [r["Code"] for r in cancelled.value.response["CancellationReasons"]]  # type: ignore[typeddict-item]
    assert sorted(reasons).count("None") == 2
    assert set(reasons) - {"None"} <= codes
    assert db.scan(TableName=REPORTS)["Items"] == [], "nothing written"


def test_unprocessed_keys_are_answered_and_the_adapter_reads_them_again() -> None:
    db = MemoryDynamoDB(TABLES, faults=Faults(seed=1, unprocessed=0.5))
    for n in range(30):
        db.put_item(TableName=REPORTS, Item=key(f"u{n}"))
    answer = db.batch_get_item(RequestItems={REPORTS: {"Keys": [key(f"u{n}") for n in range(30)]}})
    left = answer["UnprocessedKeys"][REPORTS]["Keys"]
    assert 0 < len(left) < 30
    assert len(answer["Responses"][REPORTS]) + len(left) == 30
    found = ReportsTable(db, REPORTS, 1).get_many([(f"u{n}", "s") for n in range(30)])
    assert len(found) == 30


def test_billed_units_as_aws_documents_them() -> None:
    db = MemoryDynamoDB(TABLES)
    db.put_item(TableName=REPORTS, Item={**key("w"), "text": {"S": "x" * 1500}})  # 2 KB: 2 units
    assert db.meter.total_write_units(REPORTS) == 2
    db.transact_write_items(
        TransactItems=[
            {"Put": {"TableName": REPORTS, "Item": key("t")}},  # 1 KB, transactional: 2
            {
                "ConditionCheck": {
                    "TableName": REPORTS,
                    "Key": key("w"),
                    "ConditionExpression": "attribute_exists(pk)",
                }
            },
        ]  # the check of a 2 KB item, billed as a transactional write: 4
    )
    assert db.meter.total_write_units(REPORTS) == 2 + 2 + 4
    db.get_item(TableName=REPORTS, Key=key("w"), ConsistentRead=True)
    db.get_item(TableName=REPORTS, Key=key("w"))
    assert db.meter.total_read_units(REPORTS) == 1 + 0.5


def test_an_index_copy_is_billed_beside_the_tables_write() -> None:
    db = MemoryDynamoDB(TABLES)
    item = {"pk": {"S": "CALL#t"}, "sk": {"S": "e"}, "gsi2pk": {"S": "t"}, "gsi2sk": {"S": "1"}}
    db.put_item(TableName="EventsTable", Item=item)
    assert db.meter.total_write_units("EventsTable") == 1
    assert db.meter.total_write_units("EventsTable index ByCall") == 1
    db.put_item(TableName="EventsTable", Item={**item, "gsi2sk": {"S": "2"}})  # the entry moves
    assert db.meter.total_write_units("EventsTable index ByCall") == 1 + 2
    db.delete_item(TableName="EventsTable", Key={"pk": item["pk"], "sk": item["sk"]})
    assert db.meter.total_write_units("EventsTable index ByCall") == 1 + 2 + 1


def test_stored_bytes_are_items_and_index_entries_each_with_100_bytes() -> None:
    db = MemoryDynamoDB(TABLES)
    item = {"pk": {"S": "CALL#t"}, "sk": {"S": "e"}, "gsi2pk": {"S": "t"}, "gsi2sk": {"S": "1"}}
    size = sum(len(name) + len(value["S"]) for name, value in item.items())  # 2+6 + 2+1 + 6+1 + 6+1
    db.put_item(TableName="EventsTable", Item=item)
    db.put_item(TableName="EventsTable", Item={"pk": {"S": "EVENT#k"}, "sk": {"S": "EVENT"}})  # no index keys
    stored = db.tables["EventsTable"].stored_bytes()
    assert stored["table"] == size + 100 + (2 + 7 + 2 + 5) + 100
    assert stored["ByCall"] == size + 100  # ALL projected: the whole item, in that index only
    assert stored["ByAgentDay"] == stored["ByCmdDay"] == 0
    db.delete_item(TableName="EventsTable", Key={"pk": item["pk"], "sk": item["sk"]})
    assert db.tables["EventsTable"].stored_bytes()["ByCall"] == 0
