"""The ingest's shortcuts (issue 19, item 6: its own cost per event) give exactly what the general
code they skip gives: the stored items, keys and parameters stay byte for byte what they were."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from urllib.parse import unquote_to_bytes

import pytest
from aws_lambda_powertools.utilities.data_classes.common import CaseInsensitiveDict
from boto3.dynamodb.types import TypeSerializer
from hypothesis import given
from hypothesis import strategies as st

from acd_hub import keys, redact
from acd_hub.adapters.dynamodb import serializer
from acd_hub.fields import _task_id
from acd_hub.params import (
    _ASCII_LOWER,
    BODY_SEPARATORS,
    QUERY_SEPARATORS,
    ascii_lower,
    chunks,
    decode_part,
    decode_text,
    split_urlencoded,
)
from tests.support import ingest_module

SCALARS = st.one_of(
    st.text(),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.booleans(),
    st.none(),
    st.decimals(allow_nan=False, allow_infinity=False, places=3),
    st.binary(max_size=8),
    st.frozensets(st.text(max_size=4), min_size=1, max_size=3),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=20,
)


def _wire(serialize: Any, value: Any) -> tuple[str, Any]:
    try:
        return "ok", serialize(value)
    except Exception as exc:  # the same refusal, with the same message
        return type(exc).__name__, str(exc)


@given(VALUES)
def test_items_go_to_the_wire_as_type_serializer_sends_them(value: Any) -> None:
    assert _wire(serializer(), value) == _wire(TypeSerializer().serialize, value)


@pytest.mark.parametrize("value", [1.5, float("nan"), 10**38, -(10**38), object()])
def test_what_dynamodb_has_no_type_for_is_refused_alike(value: Any) -> None:
    assert _wire(serializer(), value) == _wire(TypeSerializer().serialize, value)
    assert _wire(serializer(), value)[0] != "ok"


def _strftime_iso(moment: datetime) -> str:
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@given(
    st.datetimes(min_value=datetime(2, 1, 1), max_value=datetime(9999, 12, 30)),
    st.integers(min_value=-12, max_value=12),
)
def test_iso_utc_is_the_strftime_text(moment: datetime, hours: int) -> None:
    aware = moment.replace(tzinfo=timezone(timedelta(hours=hours)))
    assert keys.iso_utc(aware) == _strftime_iso(aware)


def test_iso_utc_of_a_year_before_1000_as_strftime_writes_it() -> None:
    moment = datetime(999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)
    assert keys.iso_utc(moment) == _strftime_iso(moment)


@given(st.text())
def test_ascii_lower_touches_ascii_letters_only(text: str) -> None:
    assert ascii_lower(text) == text.translate(_ASCII_LOWER)
    assert ascii_lower("tas\u212aid") == "tas\u212aid"  # a Kelvin sign is not a "k"


@given(st.binary(max_size=12) | st.sampled_from([b"a+b", b"%41", b"%", b"%zz", b"%C3%A4", b"\xe4"]))
def test_decode_part_as_unquoting_first(part: bytes) -> None:
    assert decode_part(part) == decode_text(unquote_to_bytes(part.replace(b"+", b" ")))


def test_a_decimal_keeps_its_digits() -> None:
    assert serializer()({"n": Decimal("1.50")}) == {"M": {"n": {"N": "1.50"}}}


@given(st.binary(max_size=40) | st.text(alphabet="ab=&?%+2C", max_size=30).map(str.encode))
def test_pairs_are_the_chunks_between_separators(data: bytes) -> None:
    for separators in (QUERY_SEPARATORS, BODY_SEPARATORS):
        expected = [
            (decode_part(name), decode_part(value))
            for name, _, value, _ in chunks(data, separators)
            if name or value
        ]
        assert split_urlencoded(data, separators) == expected


@given(
    st.dictionaries(st.text(alphabet="tokn=x\n", max_size=6), st.text(alphabet="tokn=x\n", max_size=8)),
    st.frozensets(st.sampled_from(["tok", "n\nt", "x", "token"]), max_size=2),
)
def test_without_secrets_searched_at_once_as_one_by_one(
    merged: dict[str, str], secrets: frozenset[str]
) -> None:
    one_by_one = {redact.scrub_text(n, secrets): redact.scrub_text(v, secrets) for n, v in merged.items()}
    assert redact.without_secrets(merged, secrets) == one_by_one


@pytest.mark.parametrize(
    "headers",
    [
        None,
        {},
        {"content-type": "application/json"},
        {"Content-Type": "text/plain", "content-type": "application/json"},
        {"content-type": "application/json", "CONTENT-TYPE": "text/plain"},
        {"accept": "x"},
    ],
)
def test_the_content_type_as_powertools_headers_give_it(headers: dict[str, str] | None) -> None:
    function: Any = ingest_module()
    assert function._header(headers, "content-type") == CaseInsensitiveDict(headers).get("content-type", "")


@given(st.text(alphabet="0123456789abcdefABCDEFgG \u0660-", max_size=30))
def test_a_task_id_is_up_to_24_hex_digits_as_before(text: str) -> None:
    def before(value: str) -> str:
        if not 1 <= len(value) <= 24 or any(c not in "0123456789abcdefABCDEF" for c in value):
            raise ValueError(value)
        return value.lower()

    def outcome(check: Any) -> str:
        try:
            return str(check(text))
        except ValueError:
            return "refused"

    assert outcome(_task_id) == outcome(before)
