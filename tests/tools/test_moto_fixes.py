"""The local stack's moto fixes answer with the same bytes as moto: an attribute value already in
its wire form is written as it is instead of through moto's model-driven serializer."""

from __future__ import annotations

from typing import Any

import pytest
from moto.core.serialize import BaseJSONSerializer, ResponseSerializer, get_serializer_class
from moto.core.utils import get_service_model

from acd_bench.dynamo import create_plain_table
from acd_devkit import moto_fixes

ITEMS: list[dict[str, Any]] = [
    {
        "pk": {"S": "TIMELINE#100001#2026-12-05"},
        "sk": {"S": "IV#2026-12-05T07:18:33.000Z#h-b6"},
        "start_ms": {"N": "1796455113000"},
        "next_ms": {"NULL": True},
        "open": {"BOOL": False},
        "reasons": {"SS": ["Kaffee", "Mittag"]},
        "shards": {"NS": ["1", "4"]},
        "kpi": {"M": {"offered": {"N": "1"}, "agents": {"L": [{"S": "100001"}, {"NULL": True}]}}},
        "text": {"S": "<b>\u00e4 \u2028"},
    },
    {"pk": {"S": "BIN"}, "sk": {"S": "1"}, "blob": {"B": b"\x00\xff raw"}, "blobs": {"BS": [b"a", b"b"]}},
    {"pk": {"S": "ODD"}, "sk": {"S": "2"}, "count": {"N": 7}},  # a number not as text: not wire form
]


def _body(operation: str, result: dict[str, Any]) -> str:
    service = get_service_model("dynamodb")
    serializer = get_serializer_class("dynamodb", "json")(service.operation_model(operation))
    return str(serializer.serialize(result)["body"])


@pytest.fixture
def fixed() -> Any:
    moto_fixes.install()
    patched = BaseJSONSerializer._serialize_type_structure
    assert hasattr(patched, "__wrapped__"), "the fix is installed"
    return patched


@pytest.mark.parametrize(
    ("operation", "result"),
    [
        ("Query", {"Items": ITEMS, "Count": 3, "ScannedCount": 3}),
        ("GetItem", {"Item": ITEMS[0]}),
        ("BatchGetItem", {"Responses": {"t": ITEMS}, "UnprocessedKeys": {}}),
    ],
)
def test_answers_are_byte_for_byte_moto_s_own(
    fixed: Any, monkeypatch: pytest.MonkeyPatch, operation: str, result: dict[str, Any]
) -> None:
    fast = _body(operation, result)
    monkeypatch.setattr(BaseJSONSerializer, "_serialize_type_structure", fixed.__wrapped__)
    assert fast == _body(operation, result)


def test_only_values_in_wire_form_skip_the_serializer() -> None:
    assert moto_fixes._wire_form(ITEMS[0]["kpi"])
    assert moto_fixes._wire_form({"NULL": True})
    assert not moto_fixes._wire_form(ITEMS[1]["blob"])  # binary: base64 is the serializer's
    assert not moto_fixes._wire_form(ITEMS[2]["count"])
    assert not moto_fixes._wire_form({"S": "a", "N": "1"})
    assert not moto_fixes._wire_form({"M": {"a": {"B": b"x"}}})


def test_a_day_reports_items_take_the_short_way(fixed: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """moto's serializer looks at each member of each structure it writes: with the fix only the
    answer's own members (Items, Count, ...), none of the ten of each attribute value."""
    looked_at: list[str] = []
    member = ResponseSerializer._serialize_structure_member

    def counted(self: Any, serialized: Any, value: Any, shape: Any, key: str) -> None:
        looked_at.append(key)
        member(self, serialized, value, shape, key)

    monkeypatch.setattr(ResponseSerializer, "_serialize_structure_member", counted)
    _body("Query", {"Items": ITEMS[:1], "Count": 1, "ScannedCount": 1})
    assert "Items" in looked_at
    assert not {"S", "N", "M", "L", "NULL", "BOOL"} & set(looked_at)


def test_a_hosts_backend_is_moto_s_own_answer_worked_out_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """The server finds a request's backend from its host by listing moto's package folder and
    trying its URL patterns; the fix asks that once per host and answers the same."""
    from moto import backends  # noqa: PLC0415
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication  # noqa: PLC0415

    moto_fixes.install()
    remembered = DomainDispatcherApplication.get_backend_for_host
    own = remembered.__wrapped__  # type: ignore[attr-defined]
    dispatcher = DomainDispatcherApplication(create_app=lambda service: None)  # type: ignore[arg-type, return-value]
    hosts = [
        "dynamodb.eu-central-1.amazonaws.com",
        "sns.eu-central-1.amazonaws.com",
        "moto_api",
        "127.0.0.1:4532",
        None,
    ]
    expected = [own(dispatcher, host) for host in hosts]
    assert expected[:3] == ["dynamodb", "sns", "moto_api"]
    assert [remembered(dispatcher, host) for host in hosts] == expected
    listings: list[str] = []
    listing = backends.list_of_moto_modules

    def counted() -> Any:
        listings.append("listed")
        return listing()

    monkeypatch.setattr(backends, "list_of_moto_modules", counted)
    assert [remembered(dispatcher, host) for host in hosts] == expected
    assert listings == [], "asked again"


@pytest.fixture
def day_table() -> Any:
    """A table of DynamoDB's shape in moto (the fixes installed), in a mock of AWS."""
    import boto3  # noqa: PLC0415
    from moto import mock_aws  # noqa: PLC0415

    moto_fixes.install()
    with mock_aws():
        db = boto3.client("dynamodb", region_name="eu-central-1")
        create_plain_table(db, "T")
        yield db


CONDITIONS = [
    ("sk < :a", 1),
    ("sk <= :a", 1),
    ("sk > :a", 1),
    ("sk >= :a", 1),
    ("sk = :a", 1),
    ("sk BETWEEN :a AND :b", 2),
    ("begins_with(sk, :a)", 1),
]


def test_limited_queries_answer_what_the_whole_partition_says_while_keys_come_and_go(day_table: Any) -> None:
    """A limited query is answered from the partition's keys kept in order: whatever was put,
    deleted or rolled back in between, it finds the items (and the last evaluated key) the
    partition holds, as read in full."""
    import random  # noqa: PLC0415

    db = day_table
    rng = random.Random(15)
    stored: set[str] = set()

    def key(at: int) -> str:
        return f"2026-11-20T{at:05d}"

    for round_ in range(60):
        for _ in range(rng.randint(0, 6)):  # some puts (new keys and overwrites), some deletes
            at = key(rng.randrange(400))
            if rng.random() < 0.3 and stored:
                gone = rng.choice(sorted(stored))
                db.delete_item(TableName="T", Key={"pk": {"S": "A"}, "sk": {"S": gone}})
                stored.discard(gone)
            else:
                db.put_item(TableName="T", Item={"pk": {"S": "A"}, "sk": {"S": at}, "n": {"N": str(round_)}})
                stored.add(at)
        if round_ % 10 == 9:  # a transaction that fails half-way: its put is rolled back
            with pytest.raises(Exception):  # noqa: B017, PT011 - moto's error for a bad expression
                db.transact_write_items(
                    TransactItems=[
                        {"Put": {"TableName": "T", "Item": {"pk": {"S": "A"}, "sk": {"S": key(401)}}}},
                        {
                            "Update": {
                                "TableName": "T",
                                "Key": {"pk": {"S": "A"}, "sk": {"S": key(402)}},
                                "UpdateExpression": "SET n = n + :one",
                                "ExpressionAttributeValues": {":one": {"S": "x"}},
                            }
                        },
                    ]
                )
        for condition, bounds in CONDITIONS:
            values = sorted(key(rng.randrange(400)) for _ in range(bounds))
            if condition.startswith("begins_with"):
                values = [key(rng.randrange(400))[:-1]]
            names = {f":{name}": {"S": value} for name, value in zip("ab", values, strict=False)}
            forward, limit = rng.random() < 0.5, rng.choice([1, 2, 5, 30])
            query: dict[str, Any] = {
                "TableName": "T",
                "KeyConditionExpression": f"pk = :p AND {condition}",
                "ExpressionAttributeValues": {":p": {"S": "A"}, **names},
                "ScanIndexForward": forward,
                "ConsistentRead": True,
            }
            answer = db.query(**query, Limit=limit)
            whole = db.query(**query)["Items"]
            assert answer["Items"] == whole[:limit], (condition, values, forward, limit)
            assert ("LastEvaluatedKey" in answer) == (len(whole) > limit)


def test_a_limited_query_looks_at_a_few_keys_not_the_whole_partition(
    day_table: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An agent's day of 3,600 states: "the state before X" looked at all of them, every read
    (~4 ms each under moto's one lock). Now the keys are put in order once, and each read
    bisects them."""
    db = day_table
    for at in range(600):
        db.put_item(TableName="T", Item={"pk": {"S": "A"}, "sk": {"S": f"2026-11-20T{at:05d}"}})

    def before(at: int) -> list[Any]:
        return db.query(
            TableName="T",
            KeyConditionExpression="pk = :p AND sk < :a",
            ExpressionAttributeValues={":p": {"S": "A"}, ":a": {"S": f"2026-11-20T{at:05d}"}},
            ScanIndexForward=False,
            Limit=1,
            ConsistentRead=True,
        )["Items"]

    assert before(300)[0]["sk"] == {"S": "2026-11-20T00299"}
    looked_at = 0
    raw = moto_fixes._raw

    def counted(key: Any) -> Any:
        nonlocal looked_at
        looked_at += 1
        return raw(key)

    monkeypatch.setattr(moto_fixes, "_raw", counted)
    for at in range(1, 101):
        assert before(at)[0]["sk"] == {"S": f"2026-11-20T{at - 1:05d}"}
    assert looked_at <= 100 * 10, f"{looked_at} keys looked at for 100 reads of one item each"
    # states still arriving between the reads (the dialer's day, shuffled): each new key is put
    # into its place, the partition is not sorted again for the next read
    looked_at = 0
    for at in range(100):
        new = 600 + 7 * at
        db.put_item(TableName="T", Item={"pk": {"S": "A"}, "sk": {"S": f"2026-11-20T{new:05d}"}})
        db.put_item(
            TableName="T", Item={"pk": {"S": "A"}, "sk": {"S": f"2026-11-20T{at:05d}"}, "v": {"S": "x"}}
        )
        assert before(new + 1)[0]["sk"] == {"S": f"2026-11-20T{new:05d}"}
    assert looked_at <= 100 * 10, f"{looked_at} keys looked at for 100 reads after 100 new keys"


def test_an_item_loaded_straight_into_a_partition_is_not_missed_by_its_kept_order(day_table: Any) -> None:
    """``acd-local`` loads a restored state straight into moto's tables, past ``put_item``: a
    partition whose order was kept then holds a key the order lacks, and a later write over an
    existing key must not be taken for that new key."""
    from moto.dynamodb.models import dynamodb_backends  # noqa: PLC0415
    from moto.dynamodb.models.dynamo_type import DynamoType, Item  # noqa: PLC0415

    db = day_table
    for at in (1, 3, 5):
        db.put_item(TableName="T", Item={"pk": {"S": "A"}, "sk": {"S": f"k{at}"}})

    def after(sort_key: str) -> list[str]:
        answer = db.query(
            TableName="T",
            KeyConditionExpression="pk = :p AND sk > :a",
            ExpressionAttributeValues={":p": {"S": "A"}, ":a": {"S": sort_key}},
            Limit=5,
            ConsistentRead=True,
        )
        return [item["sk"]["S"] for item in answer["Items"]]

    assert after("k0") == ["k1", "k3", "k5"]  # the order is kept from here
    table = dynamodb_backends["123456789012"]["eu-central-1"].tables["T"]
    loaded = {"pk": {"S": "A"}, "sk": {"S": "k4"}}
    item = Item(DynamoType(loaded["pk"]), DynamoType(loaded["sk"]), {})
    dict.update(item.attrs, {name: DynamoType(value) for name, value in loaded.items()})
    table.items[DynamoType({"S": "A"})][DynamoType({"S": "k4"})] = item
    db.put_item(TableName="T", Item={"pk": {"S": "A"}, "sk": {"S": "k3"}, "v": {"S": "again"}})
    assert after("k0") == ["k1", "k3", "k4", "k5"]
