"""Regressions of what a hostile or broken ACD found (issue 8, part 1), over the real ingest
code: times outside datetime's range, text the store refuses, the token in what is kept, one
event key stored twice, and inputs looser than the spec."""

from __future__ import annotations

import base64
import gzip
import json
import logging
import zlib
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from unittest.mock import MagicMock

import boto3
import pytest
from botocore.stub import Stubber

from acd_devkit.lambda_events import stream_record
from acd_hub import params, times
from acd_hub.adapters.events_table import EventsTable
from acd_hub.aggregation import aggregate_batch
from acd_hub.auth import static_tokens
from acd_hub.errors import BadCallback, Conflict, Invalid, Quarantined, StoreRefused, StoreUnavailable
from acd_hub.events import parameters_as_sent
from acd_hub.ingest import CallbackIngest
from acd_hub.items import EventItems, event_items, event_payload
from acd_hub.models import ParseContext, parse_callback
from acd_hub.phone import normalize_phone
from acd_hub.request import CallbackRequest
from acd_hub.settings import HubSettings
from tests.support import (
    FUNCTION_ENVIRONMENT,
    SERIALIZE,
    TOKEN,
    MemoryStore,
    callback_ingest,
    function_log,
    ingest_answer,
    ingest_module,
    kept_text,
)
from tests.support import (
    callback_request as request,
)
from tests.unit.test_models import VALID

RECEIVED = datetime(2026, 12, 1, 13, 0, 5, tzinfo=UTC)  # after every event time used here


@pytest.fixture
def received() -> datetime:
    return RECEIVED


def rejected(ingest: CallbackIngest, req: CallbackRequest) -> Quarantined:
    with pytest.raises(Quarantined) as caught:
        ingest.handle(req)
    return caught.value


def storable(item: dict[str, Any]) -> None:
    """What DynamoDB would take: valid UTF-8 everywhere (json.dumps escapes, so encode)."""
    json.dumps(item, ensure_ascii=False, default=str).encode("utf-8")


# --- 1: times outside datetime's range ------------------------------------------------------

CALL = "cmd=callevent&id=1&taskid=ab&eventtype=CallStart&eventtime="
OUT_OF_RANGE = [
    CALL + "0001-01-01T00:00:00%2B14:00",
    CALL + "9999-12-31T23:59:59-05:00",
    CALL + "0001-01-01%2000:30:00",
    CALL + "9999-12-31%2023:59:59",
    CALL + "9999999999999999",
    "cmd=recordedcall&taskid=ab&eventtime=0001-01-01T00:00:00%2B14:00",
    "cmd=classificationevent&callid=ab&classificationreason=x&timestamp=9999-12-31T23:59:59-05:00",
    "cmd=schedulecallevent&scheduleid=1&eventtime=1796130000000&nextretrystartdate=0001-01-01%2000:00",
    "cmd=schedulecallevent&scheduleid=1&eventtime=1796130000000&nextretryenddate=9999-12-31%2023:59",
    "cmd=agentstate&agentid=100001&mode=0&state=online&eventtime=9999999999999999",
]


@pytest.mark.parametrize("query", OUT_OF_RANGE)
def test_times_outside_datetimes_range_are_a_400_and_kept(
    ingest: CallbackIngest, store: MemoryStore, query: str
) -> None:
    caught = rejected(ingest, request(query))
    assert isinstance(caught, Invalid)
    assert any("2000..2100" in e.message for e in caught.errors), caught.errors
    assert len(store.rejected) == 1
    assert not store.events


# --- 2: content the store refuses -----------------------------------------------------------

SURROGATE_JSON = (
    b'{"cmd":"configchanged","action":"a","type":"agent","eventtime":"1796130000000","note":"\\ud800"}'
)


def test_a_lone_surrogate_is_a_400_and_the_quarantine_is_storable(
    ingest: CallbackIngest, store: MemoryStore
) -> None:
    caught = rejected(ingest, request(body=SURROGATE_JSON, content_type="application/json"))
    assert [e.parameter for e in caught.errors] == ["note"]
    name_too = SURROGATE_JSON.replace(b'"note"', b'"\\udfff"')
    caught = rejected(ingest, request(body=name_too, content_type="application/json"))
    assert caught.errors[0].parameter == "\\udfff"
    for item in store.rejected:
        storable(item)
    assert not store.events


class StubbedStore:
    """The real adapter over a client whose answers are stubbed."""

    def __init__(self) -> None:
        self.client = boto3.client(
            "dynamodb", region_name="eu-central-1", aws_access_key_id="x", aws_secret_access_key="x"
        )
        self.stub = Stubber(self.client)
        self.adapter = EventsTable(self.client, "EventsTable")

    def error(self, code: str, status: int = 400) -> None:
        self.stub.add_client_error("put_item", service_error_code=code, http_status_code=status)


@pytest.mark.parametrize(
    ("code", "status", "refused"),
    [
        ("ValidationException", 400, True),
        ("SerializationException", 400, True),
        ("ProvisionedThroughputExceededException", 400, False),
        ("ThrottlingException", 400, False),
        ("InternalServerError", 500, False),
        ("ServiceUnavailable", 503, False),
    ],
)
def test_refused_content_is_not_an_unavailable_store(code: str, status: int, refused: bool) -> None:
    stubbed = StubbedStore()
    stubbed.error(code, status)
    with stubbed.stub, pytest.raises(StoreRefused if refused else StoreUnavailable):
        stubbed.adapter.put_event({"pk": "p", "sk": "s", "event_key": "k"})


def test_an_event_the_store_refuses_is_quarantined_not_retried(settings: HubSettings) -> None:
    stubbed = StubbedStore()
    stubbed.error("ValidationException")  # the event
    stubbed.stub.add_response("put_item", {})  # its quarantine
    ingest = callback_ingest(settings, stubbed.adapter, RECEIVED)
    with stubbed.stub:
        caught = rejected(ingest, request("&".join(f"{k}={v}" for k, v in VALID["agentstate"].items())))
    assert isinstance(caught, Invalid)
    assert "refused" in caught.errors[0].message


# --- 3: the token in what is kept -------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "body", "content_type", "path_token"),
    [
        (
            "",
            b"token=%s&cmd=agentstate&agentid=1&hotline=M\xfcller",
            "application/x-www-form-urlencoded",
            None,
        ),
        ("%%74oken=%s&cmd=agentstate&agentid=1", b"", "", None),
        ("+token=%s&cmd=agentstate&agentid=1", b"", "", None),
        ("token%%20=%s&cmd=agentstate&agentid=1", b"", "", None),
        ("TOKEN=%s&cmd=agentstate&agentid=1", b"", "", None),
        ("to%%E2%%84%%AAen=%s&cmd=agentstate&agentid=1", b"", "", TOKEN),
        ("", b"%%74oken=%s&cmd=agentstate&agentid=1", "application/x-www-form-urlencoded", None),
        ("", b'{"\\u0074oken": "%s", "cmd": "agentstate", "agentid": "1"}', "application/json", None),
        ("", b'{"\\u0074oken": "%s", "cmd": broken', "application/json", TOKEN),
        ("", b"<x>%s</x>", "application/xml", TOKEN),
        ("cmd=agentstate&hotline=%s", b"", "", TOKEN),
    ],
)
def test_the_token_is_never_kept(
    ingest: CallbackIngest,
    store: MemoryStore,
    query: str,
    body: bytes,
    content_type: str,
    path_token: str | None,
) -> None:
    if "%s" in query:
        query = query % TOKEN
    if b"%s" in body:
        body = body % TOKEN.encode()
    rejected(ingest, request(query.replace("%%", "%"), body.replace(b"%%", b"%"), content_type, path_token))
    (kept,) = store.rejected
    assert TOKEN not in kept_text(kept)


def test_a_valid_event_keeps_no_token_either(ingest: CallbackIngest, store: MemoryStore) -> None:
    query = "&".join(f"{k}={v}" for k, v in VALID["agentstate"].items())
    ingest.handle(request(f"{query}&to%E2%84%AAen={TOKEN}&note=x{TOKEN}y&%74oken={TOKEN}", path_token=None))
    (item,) = store.events.values()
    assert TOKEN not in json.dumps(item, ensure_ascii=False)
    assert parameters_as_sent(item)["note"] == "x***y"


def test_a_second_token_sent_by_name_is_not_kept(ingest: CallbackIngest, store: MemoryStore) -> None:
    # authenticated by the path; some other secret under the token's name is redacted too
    rejected(ingest, request("cmd=agentstate&%74oken=an-old-secret-4711"))
    assert "an-old-secret-4711" not in kept_text(store.rejected[0])


def test_no_part_of_a_token_is_kept_from_a_header_cut_to_length(
    ingest: CallbackIngest, store: MemoryStore
) -> None:
    # The user agent and content type are cut (512, 256 characters): cut before the token was
    # replaced, one across the cut was kept in part ("...test-token-0").
    rejected(ingest, request("cmd=agentstate&agentid=12", user_agent="u" * 500 + TOKEN))
    rejected(ingest, request("cmd=agentstate&agentid=12", content_type="text/plain; x=" + "c" * 240 + TOKEN))
    for kept in store.rejected:
        assert TOKEN[:8] not in kept_text(kept)
    assert store.rejected[0]["user_agent"].endswith("u***")
    assert store.rejected[1]["content_type"].startswith("text/plain; x=ccc")


def test_no_part_of_a_token_is_kept_from_a_name_cut_to_length(
    ingest: CallbackIngest, store: MemoryStore
) -> None:
    # A name longer than 64 characters is named cut ("nnn...test-toke..."): the token across the
    # cut was in the answer and in the quarantine's reason and errors in part.
    caught = rejected(ingest, request("cmd=agentstate&" + "n" * 55 + TOKEN + "=1"))
    (error,) = caught.errors
    assert error.parameter == "n" * 55 + "***..."
    assert TOKEN[:8] not in kept_text(store.rejected[0])


# --- 4: one event key, one stored event --------------------------------------------------------

FIRST = "cmd=callevent&id=5500002&taskid=ab02&eventtype=CallStart&mode=0&eventtime=1796130000000"


@pytest.mark.parametrize(
    "second",
    [
        FIRST.replace("CallStart", "CallEnd").replace("1796130000000", "1796130005000"),
        FIRST.replace("1796130000000", "1796130005000"),
        FIRST.replace("taskid=ab02", "taskid=ab03"),
        FIRST + "&agentid=100001",
    ],
)
def test_an_event_key_with_other_content_is_a_conflict(
    ingest: CallbackIngest, store: MemoryStore, second: str
) -> None:
    assert ingest.handle(request(FIRST)).outcome == "stored"
    caught = rejected(ingest, request(second))
    assert isinstance(caught, Conflict)
    assert all("ce-5500002" in e.message for e in caught.errors)
    assert len(store.events) == 1
    assert store.rejected[0]["status"] == 409


def test_the_same_event_key_with_the_same_content_is_a_duplicate(
    ingest: CallbackIngest, store: MemoryStore
) -> None:
    same = "EVENTTIME=1796130000000&mode=0&taskid=AB02&eventtype=callstart&id=5500002&cmd=callevent"
    assert [ingest.handle(request(q)).outcome for q in (FIRST, FIRST, same)] == [
        "stored",
        "duplicate",
        "duplicate",
    ]
    assert len(store.events) == 1


def test_one_event_key_one_item_in_dynamodb(dynamodb: Any, settings: HubSettings) -> None:
    ingest = callback_ingest(settings, EventsTable(dynamodb, settings.events_table), RECEIVED)
    assert ingest.handle(request(FIRST)).outcome == "stored"
    assert ingest.handle(request(FIRST)).outcome == "duplicate"
    for n, second in enumerate((FIRST.replace("CallStart", "CallEnd"), FIRST.replace("ab02", "ab03"))):
        assert isinstance(rejected(ingest, replace(request(second), request_id=f"req-{n}")), Conflict)
    items = dynamodb.scan(TableName=settings.events_table)["Items"]  # a test may scan
    kinds = sorted(item["kind"]["S"] for item in items)
    assert kinds == ["claim", "event", "rejected", "rejected"]
    (claim,) = [i for i in items if i["kind"]["S"] == "claim"]
    assert claim["pk"]["S"] == "EVENT_KEY#ce-5500002"
    # a claim has no cmd and no index keys: no reader and no stream consumer takes it
    assert not {"cmd", "gsi1pk", "gsi2pk", "gsi3pk"} & claim.keys()


def callevent_items(settings: HubSettings, context: ParseContext) -> tuple[EventItems, EventItems]:
    """FIRST as the event and claim items the ingest builds, and the same event key with content
    DynamoDB refuses (over its 400 KB item limit: the ingest's own bounds keep real requests far
    below that)."""
    merged = params.merge_parameters(params.query_pairs(FIRST))
    huge = {**merged, "note": "x" * 410_000}
    return (
        event_items(parse_callback(merged, context), merged, settings, RECEIVED),
        event_items(parse_callback(huge, context), huge, settings, RECEIVED),
    )


def claims(client: Any) -> list[dict[str, Any]]:
    return [i for i in client.scan(TableName="EventsTable")["Items"] if i["kind"]["S"] == "claim"]


def test_a_refused_event_takes_its_claim_back_so_a_corrected_delivery_is_stored(
    dynamodb: Any, settings: HubSettings, context: ParseContext
) -> None:
    store = EventsTable(dynamodb, settings.events_table)
    item, refused = callevent_items(settings, context)
    with pytest.raises(StoreRefused):
        store.put_event(*refused)
    assert claims(dynamodb) == []  # no claim of content that was never stored
    # The corrected delivery of the same key: stored, not a conflict with the refused content.
    assert store.put_event(*item) is True
    (claim,) = claims(dynamodb)
    assert item.claim is not None
    assert claim["digests"] == SERIALIZE(item.claim["digests"])
    assert store.put_event(*item) is False  # and then a duplicate, as ever


def test_a_refused_event_leaves_a_claim_it_did_not_write(
    dynamodb: Any, settings: HubSettings, context: ParseContext
) -> None:
    store = EventsTable(dynamodb, settings.events_table)
    _, refused = callevent_items(settings, context)
    # Another delivery of the same content holds the claim (its event put still to come).
    theirs = {**(refused.claim or {}), "claim_id": "theirs"}
    dynamodb.put_item(TableName="EventsTable", Item={k: SERIALIZE(v) for k, v in theirs.items()})
    with pytest.raises(StoreRefused):
        store.put_event(*refused)
    assert [c["claim_id"]["S"] for c in claims(dynamodb)] == ["theirs"]


def test_the_take_back_is_conditional_on_the_claim_being_this_request_s(
    dynamodb: Any, settings: HubSettings, context: ParseContext
) -> None:
    store = EventsTable(dynamodb, settings.events_table)
    _, refused = callevent_items(settings, context)
    other = boto3.client("dynamodb")
    theirs = {**(refused.claim or {}), "claim_id": "theirs"}

    def meanwhile(**_: Any) -> None:
        # Between this request's claim and its take-back, the key changes hands.
        key = {"pk": SERIALIZE(theirs["pk"]), "sk": SERIALIZE(theirs["sk"])}
        other.delete_item(TableName="EventsTable", Key=key)
        other.put_item(TableName="EventsTable", Item={k: SERIALIZE(v) for k, v in theirs.items()})

    dynamodb.meta.events.register_first("before-call.dynamodb.DeleteItem", meanwhile)
    with pytest.raises(StoreRefused):
        store.put_event(*refused)
    assert [c["claim_id"]["S"] for c in claims(dynamodb)] == ["theirs"]


def test_a_claim_in_a_stream_batch_touches_no_report() -> None:
    claim = {"pk": "EVENT_KEY#ce-1", "sk": "CLAIM", "kind": "claim", "event_key": "ce-1"}
    record = stream_record(claim, 1)
    aggregator = MagicMock()
    aggregator.refresh.return_value = {}
    records = StubbedStore().adapter.stream_records({"Records": [record]})
    assert aggregate_batch(aggregator, records).item_failures() == {"batchItemFailures": []}
    aggregator.touched.assert_not_called()


# --- 6: no looser than the spec -------------------------------------------------------------


def test_names_match_by_ascii_rules_only(context: ParseContext) -> None:
    pairs = params.query_pairs("CMD=enqueuecall&TaskId=ab&tas%E2%84%AAid=cd&EVENTTIME=1763629200000")
    merged = params.merge_parameters(pairs)
    event = parse_callback(merged, context)
    assert event.task_id == "ab"
    assert event.extra == {"tas\u212aid": "cd"}
    assert params.param_name("\u212a") == "\u212a"


@pytest.mark.parametrize(
    ("name", "value"),
    [("state", "wor\u212aing"), ("cmd", "agent\u017ftate"), ("eventtype", "Call\u017ftart")],
)
def test_keywords_match_by_ascii_rules_only(context: ParseContext, name: str, value: str) -> None:
    base = dict(VALID["callevent"] if name == "eventtype" else VALID["agentstate"])
    with pytest.raises(BadCallback) as caught:
        parse_callback({**base, name: value}, context)
    assert [e.parameter for e in caught.value.errors] == [name]


def test_an_unencoded_plus_in_a_phone_number_is_a_plus(ingest: CallbackIngest, store: MemoryStore) -> None:
    query = "&".join(f"{k}={v}" for k, v in VALID["agentstate"].items())
    ingest.handle(request(f"{query}&callingnumber=+492212601599&callednumber=+02212601599"))
    (item,) = store.events.values()
    assert item["data"]["callingnumber"]["e164"] == "+492212601599"
    assert item["data"]["callingnumber"]["format"] == "international_plus"
    # a space before a national number is only a space
    assert item["data"]["callednumber"]["e164"] == "+492212601599"
    assert normalize_phone(" 02212601599").format == "national"


def test_an_unencoded_plus_in_a_time_offset_is_a_plus(ingest: CallbackIngest, store: MemoryStore) -> None:
    # the string times (callevent, recordedcall, classificationevent's timestamp) may be ISO 8601
    for cmd, offset in (("callevent", "+01:00"), ("recordedcall", ".250+0100")):
        query = "&".join(f"{k}={v}" for k, v in VALID[cmd].items() if k != "eventtime")
        assert ingest.handle(request(f"{query}&eventtime=2025-11-20T10:00:00{offset}")).cmd == cmd
    assert sorted(item["event_time"] for item in store.events.values()) == [
        "2025-11-20T09:00:00.000Z",
        "2025-11-20T09:00:00.250Z",
    ]


@pytest.mark.parametrize(
    ("name", "value", "bound"),
    [
        ("callingnumber", "0" + "1" * 3999, "32 characters"),
        ("agentphonenumber", "+" + "4" * 40, "32 characters"),
        ("hotline", "x" * 1025, "1024 characters"),
        ("taskid", "a" * 25, "24 hex digits"),
    ],
)
def test_values_are_length_bounded(context: ParseContext, name: str, value: str, bound: str) -> None:
    with pytest.raises(BadCallback) as caught:
        parse_callback({**VALID["agentstate"], name: value}, context)
    (error,) = caught.value.errors
    assert (error.parameter, bound in error.message) == (name, True), error


@pytest.mark.parametrize(("cmd", "name"), [("callevent", "id"), ("schedulecallevent", "scheduleid")])
def test_ids_are_at_most_20_digits(context: ParseContext, cmd: str, name: str) -> None:
    parse_callback({**VALID[cmd], name: "18446744073709551615"}, context)  # unsigned 64-bit
    with pytest.raises(BadCallback) as caught:
        parse_callback({**VALID[cmd], name: "9" * 21}, context)
    assert "20 digits" in caught.value.errors[0].message


@pytest.mark.parametrize(
    ("cmd", "name", "value"),
    [
        (
            "agentstate",
            "eventtime",
            "\uff11\uff17\uff16\uff13\uff16\uff12\uff19\uff12\uff10\uff10\uff10\uff10\uff10",
        ),
        (
            "agentstate",
            "eventtime",
            "\u0661\u0667\u0666\u0663\u0666\u0662\u0669\u0662\u0660\u0660\u0660\u0660\u0660",
        ),
        ("callevent", "eventtime", "\u0662\u0660\u0662\u0665-11-20 10:00:00"),
        ("callevent", "eventtime", "2025-11-20T10:00:00\u0660"),
        ("schedulecallevent", "nextretrystartdate", "2025-11-2\u0661 09:00"),
        ("schedulecallevent", "timefrom", "1\u0667:20"),
        ("agentstate", "callingnumber", "+49221\u0662601599"),
    ],
)
def test_digits_are_ascii_only(context: ParseContext, cmd: str, name: str, value: str) -> None:
    params_ = {**VALID[cmd], name: value}
    if name == "callingnumber":
        # not a number we can read: kept raw, never normalized from foreign digits
        assert parse_callback(params_, context).callingnumber.e164 is None  # type: ignore[attr-defined]
        return
    with pytest.raises(BadCallback) as caught:
        parse_callback(params_, context)
    assert [e.parameter for e in caught.value.errors] == [name]


def test_json_duplicate_keys_are_answered_like_form_duplicates(
    ingest: CallbackIngest, store: MemoryStore
) -> None:
    base = json.dumps(VALID["configchanged"])[:-1]
    caught = rejected(
        ingest, request(body=(base + ', "action": "other"}').encode(), content_type="application/json")
    )
    assert [(e.parameter, e.message) for e in caught.errors] == [
        ("action", "given more than once with different values")
    ]
    caught = rejected(
        ingest, request(body=(base + ', "ACTION": "other"}').encode(), content_type="application/json")
    )
    assert caught.errors[0].parameter == "action"
    # the same value twice is fine, as in a form
    ingest.handle(request(body=(base + ', "action": "update"}').encode(), content_type="application/json"))
    assert len(store.events) == 1


@pytest.mark.parametrize(
    ("local", "utc", "flag"),
    [
        ("2025-03-30 02:30:00", datetime(2025, 3, 30, 1, 30, tzinfo=UTC), times.DST_GAP),
        ("2025-10-26 02:30:00", datetime(2025, 10, 26, 0, 30, tzinfo=UTC), times.DST_AMBIGUOUS),
        ("2025-10-26T02:30:00", datetime(2025, 10, 26, 0, 30, tzinfo=UTC), times.DST_AMBIGUOUS),
        ("2025-10-26 03:30:00", datetime(2025, 10, 26, 2, 30, tzinfo=UTC), None),
        ("2025-10-26T02:30:00+01:00", datetime(2025, 10, 26, 1, 30, tzinfo=UTC), None),
    ],
)
def test_doubtful_local_times_are_accepted_and_flagged(
    ingest: CallbackIngest, store: MemoryStore, local: str, utc: datetime, flag: str | None
) -> None:
    query = FIRST.replace("eventtime=1796130000000", f"eventtime={local.replace('+', '%2B')}")
    ingest.handle(request(query))
    (item,) = store.events.values()
    assert item["event_time_ms"] == int(utc.timestamp() * 1000)
    assert item["data"].get("time_flags") == ({"eventtime": flag} if flag else None)


def test_schedule_windows_are_flagged_per_parameter(context: ParseContext) -> None:
    event = parse_callback(
        {
            **VALID["schedulecallevent"],
            "nextretrystartdate": "2025-03-30 02:15",
            "nextretryenddate": "2025-03-30 04:00",
        },
        context,
    )
    assert event_payload(event)["time_flags"] == {"nextretrystartdate": "dst_gap"}


# --- 8: a missing token is a 401 with a hint ----------------------------------------------------


def resolve(target: str) -> dict[str, Any]:
    settings = HubSettings(callback_tokens=[TOKEN])
    return ingest_answer(
        CallbackIngest(settings, MemoryStore(), static_tokens(settings)), target, "203.0.113.9"
    )


@pytest.mark.parametrize("target", ["/callback?cmd=agentstate", "/callback/?cmd=agentstate", "/callback//x"])
def test_a_missing_token_is_a_401_naming_how_to_pass_it(target: str) -> None:
    answer = resolve(target)
    assert answer["statusCode"] == 401
    body = json.loads(answer["body"])
    assert body["error"] == "unauthorized"
    assert "/callback/<token>" in body["token"]["path"]
    assert "?token=" in body["token"]["query"]


def test_other_paths_stay_404() -> None:
    assert resolve("/elsewhere")["statusCode"] == 404


def emf_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{") and '"_aws"' in line]


def test_a_refused_callback_counts_once_under_the_service_alone(capsys: pytest.CaptureFixture[str]) -> None:
    """The RefusedCallbacks alarm watches one series: RefusedCallbacks with the service dimension."""
    capsys.readouterr()
    resolve("/callback?cmd=agentstate")  # 401
    resolve(f"/callback/{TOKEN}?cmd=agentstate&agentid=400001&mode=0&state=online")  # not refused
    refused = [line for line in emf_lines(capsys.readouterr().out) if "RefusedCallbacks" in line]
    assert len(refused) == 1
    (directive,) = refused[0]["_aws"]["CloudWatchMetrics"]
    assert directive["Dimensions"] == [["service"]]
    assert refused[0]["RefusedCallbacks"] == [1.0] or refused[0]["RefusedCallbacks"] == 1.0


# --- the token in no log line -------------------------------------------------------------------


def test_no_log_line_holds_the_token(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with function_log(ingest_module()) as out:
        for target in (
            f"/callback?%74oken={TOKEN}&cmd={TOKEN}",
            f"/callback/{TOKEN}?cmd=agentstate&{TOKEN}=1&note={TOKEN}",
            f"/callback?to%E2%84%AAen={TOKEN}",
        ):
            resolve(target)
    logged = out.getvalue() + caplog.text
    assert "callback" in logged
    assert TOKEN not in logged


def test_powertools_log_event_setting_does_not_log_the_request(caplog: pytest.LogCaptureFixture) -> None:
    # POWERTOOLS_LOGGER_LOG_EVENT=true (a documented Powertools switch, set to debug) logged the
    # whole event, path token and parameters, unless the function says log_event=False itself.
    caplog.set_level(logging.DEBUG)
    environment = {**FUNCTION_ENVIRONMENT, "POWERTOOLS_LOGGER_LOG_EVENT": "true"}
    ingest = callback_ingest(HubSettings(callback_tokens=[TOKEN]), MemoryStore(), RECEIVED)
    with function_log(ingest_module(environment)) as out:
        answer = ingest_answer(
            ingest, f"/callback/{TOKEN}?cmd=agentstate&agentid=12", environment=environment
        )
    assert answer["statusCode"] == 400
    logged = out.getvalue() + caplog.text
    assert "callback rejected" in logged
    assert TOKEN not in logged


def test_no_log_line_holds_a_full_phone_number_sent_as_a_parameter_name(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    base = "cmd=agentstate&agentid=400001&mode=0&state=online&eventtime=1763629200000"
    with function_log(ingest_module()) as out:
        # a number sent as a name, twice with other values: a 400 that must name it in its answer
        answer = resolve(f"/callback/{TOKEN}?{base}&02212601599=1&02212601599=2&mode=1")
    assert answer["statusCode"] == 400
    named = [e["parameter"] for e in json.loads(answer["body"])["errors"]]
    assert named == ["02212601599", "mode"]
    (line,) = [json.loads(x) for x in out.getvalue().splitlines() if "callback rejected" in x]
    assert line["parameters"] == ["(other)", "mode"]
    assert "02212601599" not in out.getvalue() + caplog.text


def test_a_quarantine_the_store_refuses_is_kept_trimmed(settings: HubSettings) -> None:
    stubbed = StubbedStore()
    stubbed.error("ValidationException")  # the full quarantine item
    stubbed.stub.add_response("put_item", {})  # the trimmed one
    ingest = callback_ingest(settings, stubbed.adapter, RECEIVED)
    with stubbed.stub:
        assert isinstance(rejected(ingest, request("cmd=agentstate&agentid=1")), Invalid)
    stubbed.error("ValidationException")
    stubbed.error("ValidationException")
    with stubbed.stub, pytest.raises(StoreUnavailable):
        ingest.handle(request("cmd=agentstate&agentid=1"))


# --- issue 16 (round 3): what the ingest takes ----------------------------------------------------

AGENT_STATE = "cmd=agentstate&agentid=400001&mode=0&state=paused&eventtime="


@pytest.mark.parametrize(
    "value", ["%1B%5D0%3BPWNED%1B%5C%1B%5B8mhidden%1B%5B0m", "a%00b", "%C2%9B31m", "x%7F", "%07bell"]
)
def test_control_characters_are_a_400_kept_with_the_reason(
    ingest: CallbackIngest, store: MemoryStore, value: str
) -> None:
    query = f"cmd=broadcastevent&groupid=11&message={value}&eventtime=1796130000000"
    caught = rejected(ingest, request(query))
    assert isinstance(caught, Invalid)
    ((error),) = caught.errors
    assert error.parameter == "message"
    assert "control character U+" in error.message
    (kept,) = store.rejected
    assert kept["reason"].startswith("message: holds the control character")
    assert not store.events


def test_tabs_and_line_breaks_in_text_are_accepted(ingest: CallbackIngest, store: MemoryStore) -> None:
    query = "cmd=broadcastevent&groupid=11&message=Team%0D%0Ameeting%09at%2015:00&eventtime=1796130000000"
    assert ingest.handle(request(query)).outcome == "stored"


def test_an_event_time_far_ahead_of_its_arrival_is_a_400_kept(
    ingest: CallbackIngest, store: MemoryStore
) -> None:
    caught = rejected(ingest, request(AGENT_STATE + "4102444799999"))
    ((error),) = caught.errors
    assert error.parameter == "eventtime"
    assert "2099-12-31T23:59:59.999Z is" in error.message
    assert "ACD_MAX_FUTURE_SECONDS" in error.message
    assert len(store.rejected) == 1
    assert not store.events


def test_the_future_bound_is_a_setting(settings: HubSettings, store: MemoryStore) -> None:
    ahead_ms = int(RECEIVED.timestamp() * 1000) + 600_000  # ten minutes ahead
    strict = callback_ingest(settings.model_copy(update={"max_future_seconds": 60}), store, RECEIVED)
    assert rejected(strict, request(AGENT_STATE + str(ahead_ms))).errors[0].parameter == "eventtime"
    assert (
        callback_ingest(settings, store, RECEIVED).handle(request(AGENT_STATE + str(ahead_ms))).outcome
        == "stored"
    )  # the default bound (15 minutes) lets a clock a little ahead through


@pytest.mark.parametrize(
    ("encode", "note"),
    [
        (gzip.compress, "decoded from gzip before it was kept"),
        (zlib.compress, "decoded from gzip before it was kept"),
        (lambda b: b.decode().encode("utf-16"), "decoded from UTF-16 before it was kept"),
        (lambda b: b.decode().encode("utf-16-le"), "decoded from UTF-16 before it was kept"),
        (lambda b: b.decode().encode("utf-32"), "decoded from UTF-32 before it was kept"),
    ],
)
def test_the_token_is_not_kept_in_a_compressed_or_utf16_body(
    ingest: CallbackIngest, store: MemoryStore, encode: Any, note: str
) -> None:
    body = encode(f"token={TOKEN}&cmd=agentstate&agentid=1".encode())
    rejected(ingest, request(body=body, content_type="application/x-www-form-urlencoded", path_token=TOKEN))
    (kept,) = store.rejected
    assert kept["body"].startswith("token=***&cmd=agentstate")
    assert kept["body_note"] == note
    assert "body_base64" not in kept
    assert TOKEN not in json.dumps(kept)


def test_a_non_ascii_token_in_a_windows_1252_body_is_not_kept(store: MemoryStore) -> None:
    # Text that is not UTF-8 is read as Windows-1252, so a token with an umlaut sent that way
    # authenticates; a JSON body in Windows-1252 is kept as base64 of its bytes, which held the
    # token in Windows-1252 (only its UTF-8 and percent-encoded forms were searched for).
    secret = "pässwört-0123456789"
    settings = HubSettings(callback_tokens=[secret])
    ingest = callback_ingest(settings, store, RECEIVED)
    form = f"token={secret}&cmd=agentstate&agentid=1".encode("cp1252")
    rejected(ingest, request(body=form, content_type="application/x-www-form-urlencoded", path_token=None))
    body = f'{{"cmd": "agentstate", "agentid": "1", "note": "{secret}"}}'.encode("cp1252")
    rejected(ingest, request(body=body, content_type="application/json", path_token=secret))
    xml = b"<note>" + secret.encode("cp1252") + b"</note>"
    rejected(ingest, request(body=xml, content_type="text/xml", path_token=secret))
    for kept in store.rejected:
        sent = base64.b64decode(kept.get("body_base64", "")) + kept.get("body", "").encode()
        assert secret.encode("cp1252") not in sent
        assert b"***" in sent
        assert secret not in json.dumps(kept, ensure_ascii=False)


def test_a_binary_body_is_not_kept_but_the_request_is(ingest: CallbackIngest, store: MemoryStore) -> None:
    rejected(ingest, request(body=b"\x00\x01" + TOKEN.encode("utf-16-be")[:-1], path_token=TOKEN))
    (kept,) = store.rejected
    assert "body" not in kept
    assert "body_base64" not in kept
    assert "not kept" in kept["body_note"]


def test_a_json_body_with_a_utf8_bom_is_read(ingest: CallbackIngest, store: MemoryStore) -> None:
    document = {
        "cmd": "agentstate",
        "agentid": "400001",
        "mode": "0",
        "state": "online",
        "eventtime": "1796130000000",
    }
    body = b"\xef\xbb\xbf" + json.dumps(document).encode()
    assert ingest.handle(request(body=body, content_type="application/json")).outcome == "stored"
    assert ingest.handle(request(body=body + b" ", content_type="")).outcome == "duplicate"  # sniffed as JSON


def test_a_gets_body_is_not_read(ingest: CallbackIngest, store: MemoryStore) -> None:
    get = replace(request("cmd=agentstate&agentid=400001&mode=0&state=online&eventtime=1796130000000"))
    with_body = replace(get, body=b"state=paused&pause-reason=smuggled", content_type="text/plain")
    ingest.handle(with_body)
    (item,) = store.events.values()
    assert item["data"]["state"] == "online"
    assert "pause-reason" not in item["raw"]


def test_each_ingest_container_has_its_own_metrics() -> None:
    first = ingest_module()
    second = ingest_module({**FUNCTION_ENVIRONMENT, "CONTAINER": "2"})  # a second import: a second container
    assert first is not second
    try:
        first.count("agentstate", "stored")
        assert second.metrics.dimension_set == {}
        assert second.metrics.metric_set == {}
    finally:
        first.metrics.clear_metrics()
