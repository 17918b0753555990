"""The local stack's moto fixes answer with the same bytes as moto: an attribute value already in
its wire form is written as it is instead of through moto's model-driven serializer."""

from __future__ import annotations

from typing import Any

import pytest
from moto.core.serialize import BaseJSONSerializer, ResponseSerializer, get_serializer_class
from moto.core.utils import get_service_model

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
