"""Each cmd's model: valid messages normalize as documented; every spec constraint names the
offending parameter."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from acd_hub.errors import BadCallback
from acd_hub.items import event_payload
from acd_hub.models import CALLBACK_MODELS, ParseContext, parse_callback
from acd_hub.vocabulary import CMDS

MS = "1763629200000"  # 2025-11-20T09:00:00Z

VALID: dict[str, dict[str, str]] = {
    "agentstate": {"cmd": "agentstate", "agentid": "100001", "mode": "0", "state": "online", "eventtime": MS},
    "callevent": {
        "cmd": "callevent",
        "id": "900001",
        "taskid": "00a1b2c3d4e5f60718293a4b",
        "eventtype": "CallStart",
        "eventtime": "2025-11-20 10:00:00",
    },
    "recordedcall": {"cmd": "recordedcall", "taskid": "ab12", "eventtime": "2025-11-20 10:00:00"},
    "classificationevent": {
        "cmd": "classificationevent",
        "callid": "ab12",
        "classificationreason": "Sale",
        "eventtime": MS,
    },
    "enqueuecall": {"cmd": "enqueuecall", "taskid": "ab12", "eventtime": MS},
    "schedulecallevent": {"cmd": "schedulecallevent", "scheduleid": "77", "eventtime": MS},
    "configchanged": {"cmd": "configchanged", "action": "update", "type": "agent", "eventtime": MS},
    "broadcastevent": {"cmd": "broadcastevent", "groupid": "12", "message": "Hallo", "eventtime": MS},
}


def errors_of(params: dict[str, str], context: ParseContext) -> dict[str, str]:
    with pytest.raises(BadCallback) as caught:
        parse_callback(params, context)
    return {e.parameter: e.message for e in caught.value.errors}


def test_every_cmd_has_a_model_and_a_valid_example() -> None:
    assert tuple(CALLBACK_MODELS) == CMDS
    assert set(VALID) == set(CMDS)


@pytest.mark.parametrize("cmd", sorted(VALID))
def test_valid_minimal_message_parses(cmd: str, context: ParseContext) -> None:
    event = parse_callback(VALID[cmd], context)
    assert event.cmd == cmd
    assert event.event_time == datetime(2025, 11, 20, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize("cmd", sorted(VALID))
def test_unknown_parameters_are_kept(cmd: str, context: ParseContext) -> None:
    event = parse_callback({**VALID[cmd], "newfield49": "x"}, context)
    assert event.extra == {"newfield49": "x"}
    assert event_payload(event)["extra"] == {"newfield49": "x"}


@pytest.mark.parametrize("cmd", sorted(VALID))
def test_every_required_parameter_is_named_when_missing(cmd: str, context: ParseContext) -> None:
    required = [
        name
        for name, field in CALLBACK_MODELS[cmd].model_fields.items()
        if field.is_required() and name != "cmd"
    ]
    for name in required:
        alias = CALLBACK_MODELS[cmd].model_fields[name].alias or name
        params = {k: v for k, v in VALID[cmd].items() if k != alias}
        assert errors_of(params, context) == {alias: "is required"}


def test_missing_and_unknown_cmd(context: ParseContext) -> None:
    assert "missing" in errors_of({"agentid": "100001"}, context)["cmd"]
    message = errors_of({"cmd": "hello"}, context)["cmd"]
    assert "unknown command 'hello'" in message
    assert "agentstate" in message


def test_cmd_matched_case_insensitively(context: ParseContext) -> None:
    assert parse_callback({**VALID["agentstate"], "cmd": "AgentState"}, context).cmd == "agentstate"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("agentid", "12345", "6-digit agent number"),
        ("agentid", "1234567", "6-digit agent number"),
        ("agentid", "12345a", "6-digit agent number"),
        ("agentid", "１２３４５６", "6-digit agent number"),  # full-width digits are not ASCII digits
        ("mode", "2", "0 (inbound) or 1 (outbound)"),
        ("state", "sleeping", "agent states"),
        ("eventtime", "1763629200", "looks like seconds"),
        ("eventtime", "2025-11-20", "milliseconds"),
        ("eventtime", "99999999999999999", "milliseconds"),
        ("taskid", "xyz", "1 to 24 hex digits"),
        ("taskid", "0" * 25, "1 to 24 hex digits"),
        ("dialer", "2", "0 or 1"),
        ("hotlineid", "12.5", "integer"),
        ("customernumber", "abc", "integer"),
        ("agent_id", "1e3", "integer"),
    ],
)
def test_agentstate_constraints(name: str, value: str, message: str, context: ParseContext) -> None:
    assert message in errors_of({**VALID["agentstate"], name: value}, context)[name]


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("id", "12a", "numeric event id"),
        ("eventtype", "Ringing", "call event types"),
        ("eventtime", "yesterday", "ISO 8601"),
        ("tried", "yes", "0 or 1"),
        ("connected", "true", "0 or 1"),
        ("conf_agent", "12", "6-digit"),
        ("conf_target", "queue", "agent, group or number"),
        ("conf_target_terminated", "maybe", "true/false"),
        ("mode", "-1", "0 (inbound)"),
    ],
)
def test_callevent_constraints(name: str, value: str, message: str, context: ParseContext) -> None:
    assert message in errors_of({**VALID["callevent"], name: value}, context)[name]


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("timefrom", "24:00", "HH:MM"),
        ("timeto", "9:5", "HH:MM"),
        ("weekdays", "2", "0 or 1"),
        ("saturday", "x", "0 or 1"),
        ("sunday", "", None),  # empty optional value: absent, not an error
        ("nextretrystartdate", "2025-11-20T10:00", "YYYY-MM-DD HH:MM"),
        ("nextretryenddate", "20.11.2025 10:00", "YYYY-MM-DD HH:MM"),
        ("agenttype", "SOME", "ONLY_AGENT or EVERYONE"),
        ("scheduleid", "s1", "numeric schedule id"),
    ],
)
def test_schedule_constraints(name: str, value: str, message: str | None, context: ParseContext) -> None:
    params = {**VALID["schedulecallevent"], name: value}
    if message is None:
        assert parse_callback(params, context).cmd == "schedulecallevent"
    else:
        assert message in errors_of(params, context)[name]


def test_enqueuecall_agent_is_any_numeric_agent_id(context: ParseContext) -> None:
    # the spec types enqueuecall's agent as "number", not as a 6-digit agent number
    for agent in ("55", "100001", "1234567"):
        event = parse_callback({**VALID["enqueuecall"], "agent": agent}, context)
        assert event.agent_number == agent
    assert "numeric agent id" in errors_of({**VALID["enqueuecall"], "agent": "A7"}, context)["agent"]


def test_every_offending_parameter_is_reported_at_once(context: ParseContext) -> None:
    errors = errors_of(
        {"cmd": "agentstate", "agentid": "1", "mode": "9", "state": "x", "eventtime": "now"}, context
    )
    assert set(errors) == {"agentid", "mode", "state", "eventtime"}


def test_classification_needs_one_of_its_two_clocks(context: ParseContext) -> None:
    params = {k: v for k, v in VALID["classificationevent"].items() if k != "eventtime"}
    assert errors_of(params, context) == {"eventtime": "eventtime or timestamp is required"}
    with_timestamp = parse_callback({**params, "timestamp": "2025-11-20 10:00:00"}, context)
    assert with_timestamp.event_time == datetime(2025, 11, 20, 9, 0, tzinfo=UTC)


def test_normalization_of_agentstate(context: ParseContext) -> None:
    event = parse_callback(
        {
            **VALID["agentstate"],
            "state": "Connected",
            "taskid": "ABCDEF",
            "callingnumber": "02212601xxx",
            "callednumber": "0800123456",
            "pause-reason": "",
            "customernumber": "4711",
            "agent_id": "55",
        },
        context,
    )
    data = event_payload(event)
    assert data["state"] == "connected"
    assert data["taskid"] == "abcdef"
    assert data["callingnumber"] == {"raw": "02212601xxx", "format": "national", "suppressed": True}
    assert data["callednumber"]["e164"] == "+49800123456"
    assert data["customernumber"] == 4711
    assert data["agent_id"] == 55
    assert "pause-reason" not in data
    assert data["eventtime"] == "2025-11-20T09:00:00.000Z"
    assert event.agent_number == "100001"
    assert event.task_id == "abcdef"


def test_callevent_types_matched_case_insensitively_to_their_canonical_name(context: ParseContext) -> None:
    event = parse_callback({**VALID["callevent"], "eventtype": "holdSTART"}, context)
    assert event_payload(event)["eventtype"] == "Holdstart"


def test_boolean_consultation_flag_accepts_true_false(context: ParseContext) -> None:
    for raw, expected in (("true", True), ("FALSE", False), ("1", True)):
        event = parse_callback({**VALID["callevent"], "conf_target_terminated": raw}, context)
        assert event_payload(event)["conf_target_terminated"] is expected


def test_schedule_window_is_read_in_acd_time(context: ParseContext) -> None:
    event = parse_callback(
        {
            **VALID["schedulecallevent"],
            "timefrom": "17:20",
            "nextretrystartdate": "2025-07-01 08:00",
            "schedulestartdates": "2025-07-01;2025-07-02",
        },
        context,
    )
    data = event_payload(event)
    assert data["timefrom"] == "17:20"
    assert data["nextretrystartdate"] == "2025-07-01T06:00:00.000Z"  # CEST = UTC+2
    assert data["schedulestartdates"] == "2025-07-01;2025-07-02"


def test_overlong_text_is_rejected(context: ParseContext) -> None:
    errors = errors_of({**VALID["configchanged"], "action": "a" * 2000}, context)
    assert errors == {"action": "longer than 1024 characters"}
