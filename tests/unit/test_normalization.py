"""Parameter decoding (charsets, bodies, case), phone numbers and timestamps."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from acd_hub import times
from acd_hub.errors import BadCallback
from acd_hub.params import body_pairs, decode_text, merge_parameters, split_urlencoded
from acd_hub.phone import normalize_phone

BERLIN = ZoneInfo("Europe/Berlin")


# --- parameters -------------------------------------------------------------------------


def test_utf8_percent_encoding() -> None:
    assert split_urlencoded("message=Gr%C3%BC%C3%9Fe+aus+K%C3%B6ln") == [("message", "Grüße aus Köln")]


def test_windows_1252_fallback_per_value() -> None:
    # "Grüße" in Windows-1252 next to a UTF-8 value: each value decodes on its own
    pairs = split_urlencoded("a=Gr%FC%DFe&b=K%C3%B6ln&c=%80")
    assert pairs == [("a", "Grüße"), ("b", "Köln"), ("c", "€")]


def test_undefined_cp1252_bytes_still_decode() -> None:
    assert decode_text(b"\x81\x8d") == "\x81\x8d"


def test_semicolons_are_values_not_separators() -> None:
    assert split_urlencoded("schedulestartdates=2025-01-01;2025-01-02") == [
        ("schedulestartdates", "2025-01-01;2025-01-02")
    ]


def test_names_case_insensitive_and_repeats() -> None:
    assert merge_parameters([("CMD", "x"), ("customerNumber", "1"), ("cmd", "x")]) == {
        "cmd": "x",
        "customernumber": "1",
    }
    with pytest.raises(BadCallback) as caught:
        merge_parameters([("mode", "0"), ("Mode", "1")])
    assert caught.value.errors[0].parameter == "mode"


def test_form_and_json_bodies() -> None:
    form = body_pairs(b"cmd=agentstate&agentid=100001", "application/x-www-form-urlencoded; charset=UTF-8")
    assert form == [("cmd", "agentstate"), ("agentid", "100001")]
    as_json = body_pairs(b'{"cmd": "agentstate", "mode": 0, "dialer": true, "x": null}', "application/json")
    assert as_json == [("cmd", "agentstate"), ("mode", "0"), ("dialer", "1"), ("x", "")]
    assert body_pairs(b'{"cmd": "agentstate"}', "") == [("cmd", "agentstate")]
    assert body_pairs(b"  ", "application/json") == []


@pytest.mark.parametrize(
    ("body", "content_type", "parameter"),
    [
        (b"{not json", "application/json", "body"),
        (b"[1, 2]", "application/json", "body"),
        (b'{"a": {"b": 1}}', "application/json", "a"),
        (b"<xml/>", "application/xml", "content-type"),
    ],
)
def test_bad_bodies_are_named(body: bytes, content_type: str, parameter: str) -> None:
    with pytest.raises(BadCallback) as caught:
        body_pairs(body, content_type)
    assert caught.value.errors[0].parameter == parameter


def test_too_many_or_too_large_parameters() -> None:
    with pytest.raises(BadCallback):
        merge_parameters([(f"p{i}", "1") for i in range(300)])
    with pytest.raises(BadCallback):
        merge_parameters([("message", "x" * 10_000)])


# --- phone numbers ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "e164", "number_format"),
    [
        ("02212601599", "+492212601599", "national"),
        ("0015552243", "+15552243", "international_00"),
        ("00492212601599", "+492212601599", "international_00"),
        ("+492212601599", "+492212601599", "international_plus"),
        ("+15552243", "+15552243", "international_plus"),
        ("0221 260-15 99", "+492212601599", "national"),
    ],
)
def test_three_vendor_formats_to_e164(raw: str, e164: str, number_format: str) -> None:
    number = normalize_phone(raw, "DE")
    assert (number.raw, number.e164, number.format, number.suppressed) == (raw, e164, number_format, False)


@pytest.mark.parametrize("raw", ["02212601xxx", "+49221260xxx", "0049221260XXX"])
def test_suppressed_numbers_are_flagged_never_guessed(raw: str) -> None:
    number = normalize_phone(raw, "DE")
    assert number.suppressed
    assert number.e164 is None
    assert number.raw == raw


@pytest.mark.parametrize("raw", ["123", "anonymous", "", "0049"])
def test_unrecognized_numbers_kept_raw(raw: str) -> None:
    number = normalize_phone(raw, "DE")
    assert number.e164 is None
    assert number.raw == raw


def test_masked_never_shows_the_whole_number() -> None:
    masked = normalize_phone("+492212601599", "DE").masked()
    assert "2601599" not in masked
    assert masked.endswith("****")


# --- timestamps ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1763629200000", datetime(2025, 11, 20, 9, 0, tzinfo=UTC)),
        ("1763629200123", datetime(2025, 11, 20, 9, 0, 0, 123000, tzinfo=UTC)),
        ("2025-11-20T10:00:00+01:00", datetime(2025, 11, 20, 9, 0, tzinfo=UTC)),
        ("2025-11-20T09:00:00Z", datetime(2025, 11, 20, 9, 0, tzinfo=UTC)),
        ("2025-11-20T10:00:00", datetime(2025, 11, 20, 9, 0, tzinfo=UTC)),  # naive ISO: ACD time
        ("2025-11-20 10:00:00", datetime(2025, 11, 20, 9, 0, tzinfo=UTC)),
        ("2025-11-20 10:00", datetime(2025, 11, 20, 9, 0, tzinfo=UTC)),
        ("2025-07-20 10:00:00.250", datetime(2025, 7, 20, 8, 0, 0, 250000, tzinfo=UTC)),  # CEST
    ],
)
def test_flexible_timestamps(text: str, expected: datetime) -> None:
    assert times.from_flexible(text, BERLIN) == expected


def test_dst_overlap_takes_the_first_reading() -> None:
    # 2025-10-26 02:30 happens twice in Berlin; the first one is CEST (UTC+2)
    assert times.from_flexible("2025-10-26 02:30:00", BERLIN) == datetime(2025, 10, 26, 0, 30, tzinfo=UTC)


def test_acd_time_zone_is_configurable() -> None:
    assert times.from_flexible("2025-11-20 10:00:00", ZoneInfo("UTC")) == datetime(
        2025, 11, 20, 10, tzinfo=UTC
    )


@pytest.mark.parametrize("text", ["", "abc", "1763629200", "0", "2025-13-01 10:00:00", "1999-12-31 23:00:00"])
def test_implausible_timestamps_fail(text: str) -> None:
    with pytest.raises(ValueError, match=r"."):
        times.from_flexible(text, BERLIN)
