"""The ACD's eight callback messages, one pydantic model each, as a union discriminated by ``cmd``.

Models validate the flat, lower-cased ``name -> str`` parameters of a request. Validation needs
two settings — the ACD's time zone and the default phone region — passed as the validation
context (:class:`ParseContext`), so the models stay free of global state.

Parameters the spec does not list are kept (``model_extra``): the ACD adds parameters between
versions and an unknown one must not cost us the event.

Values are bounded (texts 1,024 characters, ``message`` 4,096, ids 20 digits, phone numbers 32
characters, times 40) and their digits, keywords and case rules are ASCII only.

A local time the ACD's DST change makes doubtful is accepted and flagged: the event's
``time_flags`` (stored under ``data.time_flags``) maps each such parameter to ``dst_gap`` (a
wall-clock time that never happened, read with the offset before the change) or
``dst_ambiguous`` (one that happened twice, read as the first), see :mod:`acd_hub.times`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from typing import Annotated, Any, ClassVar, Literal, get_args
from zoneinfo import ZoneInfo

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    model_validator,
)
from pydantic_core import PydanticCustomError

from acd_hub import times
from acd_hub.errors import BadCallback, ParameterError
from acd_hub.keys import iso_utc
from acd_hub.params import ascii_lower
from acd_hub.phone import PhoneNumber, normalize_phone

INBOUND_STATES = ("offline", "online", "alerting", "connected", "timeouted", "busy", "working", "paused")
OUTBOUND_STATES = (
    "outonline",
    "outalerting",
    "outbusy",
    "outtimeouted",
    "balerting",
    "bbusy",
    "btimeout",
    "bunassigned",
    "bconnected",
    "outconnect",
    "outworking",
    "outpaused",
)
AgentStateName = Literal[
    "offline",
    "online",
    "alerting",
    "connected",
    "timeouted",
    "busy",
    "working",
    "paused",
    "outonline",
    "outalerting",
    "outbusy",
    "outtimeouted",
    "balerting",
    "bbusy",
    "btimeout",
    "bunassigned",
    "bconnected",
    "outconnect",
    "outworking",
    "outpaused",
]
CallEventType = Literal[
    "CallStart",
    "Alerting",
    "Timeout",
    "BTimeout",
    "Busy",
    "BBusy",
    "Connected",
    "AConnected",
    "BConnected",
    "ForwardAgent",
    "ForwardGroup",
    "ForwardHotline",
    "ForwardNumber",
    "ConfAgent",
    "ConfGroup",
    "ConfNumber",
    "ConfBusy",
    "ConfTimeout",
    "ConfConnected",
    "ConfEnd",
    "WaitingQueue",
    "Mailbox",
    "Announcement",
    "Rejected",
    "BadCall",
    "CallEnd",
    "Holdstart",
    "Holdstop",
    "ConfConnectedWithAgent",
    "ConfConnectedWithCaller",
    "ConfConnectedWithNumber",
    "ConfConference",
    "ConfTransfer",
    "Working",
    "OutWorking",
]
_EVENT_TYPES = {ascii_lower(name): name for name in get_args(CallEventType)}
_STATES = set(get_args(AgentStateName))


@dataclass(frozen=True)
class ParseContext:
    acd_zone: ZoneInfo
    phone_region: str = "DE"


@dataclass(frozen=True)
class _Parsing(ParseContext):
    """The context of one validation: collects the time flags of that one request."""

    time_flags: dict[str, str] = field(default_factory=dict)


def _ctx(info: ValidationInfo) -> ParseContext:
    context = info.context
    if not isinstance(context, ParseContext):
        raise TypeError("validate callbacks with context=ParseContext(...)")
    return context


def _rule(check: Callable[[str], Any], message: str) -> BeforeValidator:
    """A before-validator that turns a raw string into a value or a clear, named error."""

    def validate(value: Any) -> Any:
        if not isinstance(value, str):
            return value
        try:
            return check(value.strip())
        except (ValueError, KeyError):
            raise PydanticCustomError("acd_value", message) from None

    return BeforeValidator(validate)


MAX_ID_DIGITS = 20  # the spec's "long", signed or unsigned 64-bit


def _digits(pattern_len: int | None = None) -> Callable[[str], str]:
    def check(text: str) -> str:
        if not text.isascii() or not text.isdigit():
            raise ValueError(text)
        if (pattern_len and len(text) != pattern_len) or len(text) > MAX_ID_DIGITS:
            raise ValueError(text)
        return text

    return check


def _integer(text: str) -> int:
    body = text[1:] if text.startswith("-") else text
    if not body.isascii() or not body.isdigit() or len(body) > 18:
        raise ValueError(text)
    return int(text)


def _task_id(text: str) -> str:
    if not 1 <= len(text) <= 24 or any(c not in "0123456789abcdefABCDEF" for c in text):
        raise ValueError(text)
    return text.lower()


def _flag(text: str) -> bool:
    return {"0": False, "1": True}[text]


def _boolean(text: str) -> bool:
    return {"0": False, "1": True, "true": True, "false": False}[ascii_lower(text)]


def _mode(text: str) -> int:
    return {"0": 0, "1": 1}[text]


def _state(text: str) -> str:
    lowered = ascii_lower(text)
    if lowered not in _STATES:
        raise ValueError(text)
    return lowered


def _event_type(text: str) -> str:
    return _EVENT_TYPES[ascii_lower(text)]


def _agent_type(text: str) -> str:
    return {"only_agent": "ONLY_AGENT", "everyone": "EVERYONE"}[ascii_lower(text)]


def _iso(moment: datetime) -> str:
    return iso_utc(moment)


def _phone(value: Any, info: ValidationInfo) -> Any:
    if isinstance(value, str):
        try:
            return normalize_phone(value, _ctx(info).phone_region)
        except ValueError as exc:
            raise PydanticCustomError("acd_value", str(exc)) from None
    return value


def _local_time(parse: Callable[..., datetime]) -> Callable[[Any, ValidationInfo], Any]:
    def validate(value: Any, info: ValidationInfo) -> Any:
        if not isinstance(value, str):
            return value
        context = _ctx(info)
        flags: list[times.TimeFlag] = []
        try:
            moment = parse(value, context.acd_zone, flags)
        except ValueError as exc:
            raise PydanticCustomError("acd_time", str(exc)) from None
        if flags and isinstance(context, _Parsing) and info.field_name:
            context.time_flags[info.field_name] = flags[0]
        return moment

    return validate


_flex_time = _local_time(times.from_flexible)
_local_minutes = _local_time(times.from_local_minutes)


def _millis(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return times.from_millis(value.strip())
        except ValueError as exc:
            raise PydanticCustomError("acd_time", str(exc)) from None
    return value


def _clock(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return times.clock_time(value)
        except ValueError as exc:
            raise PydanticCustomError("acd_time", str(exc)) from None
    return value


UtcTime = Annotated[datetime, PlainSerializer(_iso, return_type=str)]
AgentNumber = Annotated[str, _rule(_digits(6), "must be a 6-digit agent number")]
EventId = Annotated[str, _rule(_digits(), f"must be a numeric event id (at most {MAX_ID_DIGITS} digits)")]
ScheduleId = Annotated[
    str, _rule(_digits(), f"must be a numeric schedule id (at most {MAX_ID_DIGITS} digits)")
]
AgentId = Annotated[str, _rule(_digits(), f"must be a numeric agent id (at most {MAX_ID_DIGITS} digits)")]
TaskId = Annotated[str, _rule(_task_id, "must be a task id of 1 to 24 hex digits")]
Integer = Annotated[int, _rule(_integer, "must be an integer (at most 18 digits)")]
Flag = Annotated[bool, _rule(_flag, "must be 0 or 1")]
Boolean = Annotated[bool, _rule(_boolean, "must be true/false (or 1/0)")]
Mode = Annotated[int, _rule(_mode, "must be 0 (inbound) or 1 (outbound)")]
State = Annotated[
    AgentStateName, _rule(_state, f"must be one of the agent states: {', '.join(sorted(_STATES))}")
]
EventType = Annotated[
    CallEventType,
    _rule(_event_type, f"must be one of the call event types: {', '.join(_EVENT_TYPES.values())}"),
]
Phone = Annotated[PhoneNumber, BeforeValidator(_phone)]
EpochMillis = Annotated[UtcTime, BeforeValidator(_millis)]
FlexibleTime = Annotated[UtcTime, BeforeValidator(_flex_time)]
LocalMinutes = Annotated[UtcTime, BeforeValidator(_local_minutes)]
ClockTime = Annotated[
    time, BeforeValidator(_clock), PlainSerializer(lambda t: t.strftime("%H:%M"), return_type=str)
]
Text = Annotated[str, Field(max_length=1024)]


def _not_blank(value: str) -> str:
    if not value.strip():
        raise PydanticCustomError("acd_value", "must not be empty")
    return value


RequiredText = Annotated[str, Field(max_length=1024), AfterValidator(_not_blank)]


class CallbackModel(BaseModel):
    """What all eight messages share. Field names are ours; aliases are the ACD's names."""

    # defer_build: a model's validator is built when its cmd first arrives, not at import (a cold
    # start's first request needs one of the eight, not all of them).
    model_config = ConfigDict(
        extra="allow",
        frozen=True,
        populate_by_name=True,
        str_strip_whitespace=True,
        validate_default=False,
        defer_build=True,
    )

    cmd: str
    _time_flags: dict[str, str] = PrivateAttr(default_factory=dict)
    customer_number: Integer | None = Field(None, alias="customernumber")
    agent_resource_id: Integer | None = Field(None, alias="agent_id")

    # Which parameter names the agent and the call under this message's own spelling.
    AGENT_FIELD: ClassVar[str | None] = None
    CALL_FIELD: ClassVar[str | None] = None

    @model_validator(mode="before")
    @classmethod
    def _blank_is_absent(cls, data: Any) -> Any:
        # The ACD sends optional parameters empty ("hotline=") as often as it leaves them out.
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if not (isinstance(v, str) and not v.strip())}
        return data

    @property
    def event_time(self) -> datetime:
        moment = getattr(self, "eventtime", None)
        assert isinstance(moment, datetime)
        return moment

    @property
    def agent_number(self) -> str | None:
        return getattr(self, self.AGENT_FIELD) if self.AGENT_FIELD else None

    @property
    def task_id(self) -> str | None:
        return getattr(self, self.CALL_FIELD) if self.CALL_FIELD else None

    @property
    def extra(self) -> dict[str, str]:
        return dict(self.model_extra or {})

    @property
    def time_flags(self) -> dict[str, str]:
        """Parameters whose local time fell in a DST gap or overlap (see the module doc)."""
        return dict(self._time_flags)


class AgentState(CallbackModel):
    cmd: Literal["agentstate"]
    agentid: AgentNumber
    mode: Mode
    state: State
    eventtime: EpochMillis
    hotline: Text | None = None
    hotlineid: Integer | None = None
    group: Text | None = None
    groupid: Integer | None = None
    mandator: Text | None = None
    mandatorid: Integer | None = None
    callingnumber: Phone | None = None
    callednumber: Phone | None = None
    dialer: Flag | None = None
    requesttext: Text | None = None
    agentphonenumber: Phone | None = None
    taskid: TaskId | None = None
    pause_reason: Text | None = Field(None, alias="pause-reason")

    AGENT_FIELD: ClassVar[str | None] = "agentid"
    CALL_FIELD: ClassVar[str | None] = "taskid"


class CallEvent(CallbackModel):
    cmd: Literal["callevent"]
    id: EventId
    taskid: TaskId
    eventtype: EventType
    eventtime: FlexibleTime
    hotlineid: Integer | None = None
    groupid: Integer | None = None
    agentid: AgentNumber | None = None
    mode: Mode | None = None
    mailboxid: Integer | None = None
    mandatorid: Integer | None = None
    announcement: Integer | None = None
    callingnumber: Phone | None = None
    callednumber: Phone | None = None
    tried: Flag | None = None
    connected: Flag | None = None
    conf_agent: AgentNumber | None = None
    conf_number: Phone | None = None
    conf_agent_terminated: AgentNumber | None = None
    conf_number_terminated: Phone | None = None
    target_number: Phone | None = None
    conf_target: (
        Annotated[
            str,
            _rule(
                lambda t: {"agent": "agent", "group": "group", "number": "number"}[ascii_lower(t)],
                "must be agent, group or number",
            ),
        ]
        | None
    ) = None
    conf_target_id: Text | None = None
    conf_target_terminated: Boolean | None = None

    AGENT_FIELD: ClassVar[str | None] = "agentid"
    CALL_FIELD: ClassVar[str | None] = "taskid"


class RecordedCall(CallbackModel):
    cmd: Literal["recordedcall"]
    taskid: TaskId
    eventtime: FlexibleTime
    agentid: AgentNumber | None = None
    mode: Mode | None = None

    AGENT_FIELD: ClassVar[str | None] = "agentid"
    CALL_FIELD: ClassVar[str | None] = "taskid"


class ClassificationEvent(CallbackModel):
    cmd: Literal["classificationevent"]
    callid: TaskId
    classificationreason: RequiredText
    # Two clocks: "timestamp" (string, when the agent classified) and "eventtime" (ms).
    timestamp: FlexibleTime | None = None
    eventtime: EpochMillis | None = None
    agent: AgentNumber | None = None
    hotlineid: Integer | None = None
    mandatorid: Integer | None = None
    classificationcategoryid: Integer | None = None
    mode: Mode | None = None

    AGENT_FIELD: ClassVar[str | None] = "agent"
    CALL_FIELD: ClassVar[str | None] = "callid"

    @model_validator(mode="after")
    def _has_a_time(self) -> ClassificationEvent:
        if self.eventtime is None and self.timestamp is None:
            raise PydanticCustomError("acd_missing_time", "eventtime or timestamp is required")
        return self

    @property
    def event_time(self) -> datetime:
        moment = self.eventtime or self.timestamp
        assert moment is not None
        return moment


class EnqueueCall(CallbackModel):
    cmd: Literal["enqueuecall"]
    taskid: TaskId
    eventtime: EpochMillis
    agent: AgentNumber | None = None
    mandatorid: Integer | None = None

    AGENT_FIELD: ClassVar[str | None] = "agent"
    CALL_FIELD: ClassVar[str | None] = "taskid"


class ScheduleCallEvent(CallbackModel):
    cmd: Literal["schedulecallevent"]
    scheduleid: ScheduleId
    eventtime: EpochMillis
    # the spec types agentid here as "integer", not the 6-digit agent number
    agentid: AgentId | None = None
    callednumber: Phone | None = None
    timefrom: ClockTime | None = None
    timeto: ClockTime | None = None
    weekdays: Flag | None = None
    saturday: Flag | None = None
    sunday: Flag | None = None
    nextretrystartdate: LocalMinutes | None = None
    nextretryenddate: LocalMinutes | None = None
    agenttype: Annotated[str, _rule(_agent_type, "must be ONLY_AGENT or EVERYONE")] | None = None
    requesttext: Text | None = None
    schedulestartdates: Text | None = None

    AGENT_FIELD: ClassVar[str | None] = "agentid"


class ConfigChanged(CallbackModel):
    cmd: Literal["configchanged"]
    action: RequiredText
    type: RequiredText
    eventtime: EpochMillis
    secondtype: Text | None = None


class BroadcastEvent(CallbackModel):
    cmd: Literal["broadcastevent"]
    groupid: RequiredText
    message: Annotated[str, Field(max_length=4096)]
    eventtime: EpochMillis
    admin: Text | None = None


# The union as a type (for annotations and schemas). Requests are validated by the model their
# cmd names, which is what this discriminated union does, without building all eight up front.
CallbackEvent = Annotated[
    AgentState
    | CallEvent
    | RecordedCall
    | ClassificationEvent
    | EnqueueCall
    | ScheduleCallEvent
    | ConfigChanged
    | BroadcastEvent,
    Field(discriminator="cmd"),
]
CALLBACK_MODELS: dict[str, type[CallbackModel]] = {
    model.model_fields["cmd"].annotation.__args__[0]: model  # type: ignore[union-attr]
    for model in (
        AgentState,
        CallEvent,
        RecordedCall,
        ClassificationEvent,
        EnqueueCall,
        ScheduleCallEvent,
        ConfigChanged,
        BroadcastEvent,
    )
}
_CMDS = ", ".join(CALLBACK_MODELS)


def parse_callback(params: dict[str, str], context: ParseContext) -> CallbackModel:
    """Validate lower-cased parameters into their model, or raise :class:`BadCallback` naming
    every offending parameter."""
    if "cmd" not in params:
        raise BadCallback([ParameterError("cmd", f"missing; expected one of: {_CMDS}")])
    cmd = ascii_lower(params["cmd"].strip())
    model = CALLBACK_MODELS.get(cmd)
    if model is None:
        # echoed only whole and short: a truncated echo could hold part of a pasted secret
        shown = f" {cmd!r}" if len(cmd) <= 40 else ""
        raise BadCallback([ParameterError("cmd", f"unknown command{shown}; expected one of: {_CMDS}")])
    parsing = _Parsing(context.acd_zone, context.phone_region)
    try:
        event = model.model_validate({**params, "cmd": cmd}, context=parsing)
    except ValidationError as exc:
        raise BadCallback([_parameter_error(err) for err in exc.errors()]) from None
    if parsing.time_flags:
        event._time_flags = dict(parsing.time_flags)
    return event


def _parameter_error(error: Any) -> ParameterError:
    kind = error["type"]
    location = [str(part) for part in error["loc"]]
    name = location[0] if location else "request"
    if kind == "missing":
        return ParameterError(name, "is required")
    if kind == "acd_missing_time":
        return ParameterError("eventtime", error["msg"])
    message = error["msg"]
    if kind == "string_too_long":
        message = f"longer than {error['ctx']['max_length']} characters"
    return ParameterError(name, message)


def event_payload(event: CallbackModel) -> dict[str, Any]:
    """The normalized event as plain JSON types: ACD names, UTC ISO times, phone maps, and the
    parameters we do not know under ``extra``."""
    data = event.model_dump(mode="json", by_alias=True, exclude_none=True, exclude=set(event.extra))
    if event.extra:
        data["extra"] = event.extra
    if event.time_flags:
        data["time_flags"] = event.time_flags
    return data


def utc_now() -> datetime:
    return datetime.now(UTC)
