"""The ACD's eight callback messages, one pydantic model each, as a union discriminated by ``cmd``.

Models validate the flat, lower-cased ``name -> str`` parameters of a request. Validation needs
two settings — the ACD's time zone and the default phone region — passed as the validation
context (:class:`ParseContext`), so the models stay free of global state.

Parameters the spec does not list are kept (``model_extra``): the ACD adds parameters between
versions and an unknown one must not cost us the event.

How each parameter is read and written (its type, validator and wire schema) is
:mod:`acd_hub.fields`: values are bounded (texts 1,024 characters, ``message`` 4,096, ids 20
digits, phone numbers 32 characters, times 40) and their digits, keywords and case rules are
ASCII only.

A local time the ACD's DST change makes doubtful is accepted and flagged: the event's
``time_flags`` (stored under ``data.time_flags``) maps each such parameter to ``dst_gap`` (a
wall-clock time that never happened, read with the offset before the change) or
``dst_ambiguous`` (one that happened twice, read as the first), see :mod:`acd_hub.times`.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    model_validator,
)
from pydantic_core import PydanticCustomError

from acd_hub.errors import BadCallback, ParameterError
from acd_hub.fields import (
    MAX_MESSAGE_LENGTH,
    AgentId,
    AgentNumber,
    AgentType,
    Boolean,
    ClockTime,
    ConfTarget,
    EpochMillis,
    EventId,
    Flag,
    FlexibleTime,
    Integer,
    LocalMinutes,
    Mode,
    ParseContext,
    Parsing,
    Phone,
    RequiredText,
    ScheduleId,
    TaskId,
    Text,
    one_of,
    rule,
)
from acd_hub.keys import iso_utc
from acd_hub.params import MAX_VALUE_LENGTH, ascii_lower
from acd_hub.vocabulary import (
    AGENT_STATES,
    CMDS,
    EVENT_TYPE_BY_LOWER,
    EVENT_TYPES,
    AgentStateName,
    CallEventType,
)

if TYPE_CHECKING:
    from pydantic import GetJsonSchemaHandler
    from pydantic.config import JsonDict, JsonValue
    from pydantic.json_schema import JsonSchemaValue
    from pydantic_core import CoreSchema

_EVENT_TYPES = EVENT_TYPE_BY_LOWER
_STATES = set(AGENT_STATES)


def _state(text: str) -> str:
    lowered = ascii_lower(text)
    if lowered not in _STATES:
        raise ValueError(text)
    return lowered


def _event_type(text: str) -> str:
    return _EVENT_TYPES[ascii_lower(text)]


State = Annotated[
    AgentStateName,
    rule(_state, f"must be one of the agent states: {', '.join(sorted(_STATES))}"),
    one_of(AGENT_STATES, "agent state (case-insensitive)", "connected"),
]
EventType = Annotated[
    CallEventType,
    rule(_event_type, f"must be one of the call event types: {', '.join(_EVENT_TYPES.values())}"),
    one_of(EVENT_TYPES, "call event type (case-insensitive)", "CallStart"),
]

_WHEN = "When the event happened."
_CALL = "Id of the call."
_DIRECTION = "Direction of the call."
_HOTLINE_ID = "Internal id of the hotline."
_MANDATOR_ID = "Internal id of the mandator."
_CALLING = (
    "Number of the caller (inbound) or of the agent (outbound); with suppression the last 3 digits are `xxx`."
)
_CALLED = "The dialed number."
_REQUEST_TEXT = "Information on the dialed number or the scheduled call."


def sent_as(example: JsonDict, **schema: JsonValue) -> ConfigDict:
    """A message model's config: the message as an ACD sends it (the contract's example), and
    what else JSON Schema says of the whole message."""
    return ConfigDict(json_schema_extra={**schema, "examples": [example]})


class CallbackModel(BaseModel):
    """What all eight messages share. Field names are ours; aliases are the ACD's names.

    Each field's description says what the parameter means (from the vendor spec); its type says
    how it is written. The callback contract (docs/openapi.yaml) is generated from both.
    """

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
    # Requests arrive with lower-cased names; the vendor's own spelling comes first for the contract.
    customer_number: Integer | None = Field(
        None,
        alias="customernumber",
        validation_alias=AliasChoices("customerNumber", "customernumber"),
        description="Customer number.",
        examples=["10042"],
    )
    agent_resource_id: Integer | None = Field(None, alias="agent_id", description="Agent resource id.")

    @model_validator(mode="before")
    @classmethod
    def _blank_is_absent(cls, data: Any) -> Any:
        # The ACD sends optional parameters empty ("hotline=") as often as it leaves them out.
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if not (isinstance(v, str) and not v.strip())}
        return data

    @classmethod
    def __get_pydantic_json_schema__(
        cls, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler.resolve_ref_schema(handler(core_schema))
        # Parameters the spec does not list are kept (under data.extra), not rejected.
        schema["additionalProperties"] = {"type": "string", "maxLength": MAX_VALUE_LENGTH}
        return schema

    # Which of a message's fields says when it happened, which agent and which call it is about
    # (None: it names none); the accessors below read them, so the rest of the hub never needs
    # to know each message's own parameter names.
    TIME_FIELD: ClassVar[str] = "eventtime"
    AGENT_FIELD: ClassVar[str | None] = None
    TASK_FIELD: ClassVar[str | None] = None

    @property
    def event_time(self) -> datetime:
        """When the event happened, whichever parameter this message carries it in."""
        moment: datetime = getattr(self, self.TIME_FIELD)
        return moment

    @property
    def agent_number(self) -> str | None:
        """The agent this message is about, if it names one."""
        return None if self.AGENT_FIELD is None else getattr(self, self.AGENT_FIELD)

    @property
    def task_id(self) -> str | None:
        """The call this message is about, if it names one."""
        return None if self.TASK_FIELD is None else getattr(self, self.TASK_FIELD)

    @property
    def extra(self) -> dict[str, str]:
        return dict(self.model_extra or {})

    @property
    def time_flags(self) -> dict[str, str]:
        """Parameters whose local time fell in a DST gap or overlap (see the module doc)."""
        return dict(self._time_flags)


class AgentState(CallbackModel):
    """An agent's state changed (inbound: offline, online, alerting, connected, ...; outbound:
    outonline, balerting, outconnect, ...)."""

    model_config = sent_as(
        {
            "cmd": "agentstate",
            "agentid": "100001",
            "mode": "0",
            "state": "connected",
            "eventtime": "1763629200000",
            "hotline": "Support",
            "hotlineid": "501",
            "group": "1st level",
            "groupid": "11",
            "callingnumber": "02212601599",
            "callednumber": "+4980012345",
            "taskid": "1a2b3c4d5e6f708192a3b4c5",
            "customerNumber": "10042",
        },
    )

    cmd: Literal["agentstate"]
    agentid: AgentNumber = Field(description="Agent number given by the ACD.")
    mode: Mode = Field(description=_DIRECTION)
    state: State = Field(description="The agent's current state.")
    eventtime: EpochMillis = Field(description=_WHEN)
    hotline: Text | None = Field(None, description="Name of the hotline (mode 0, state alerting/connected).")
    hotlineid: Integer | None = Field(None, description=_HOTLINE_ID)
    group: Text | None = Field(None, description="Name of the group (mode 0, state connected).")
    groupid: Integer | None = Field(None, description="Id of the group.")
    mandator: Text | None = Field(None, description="Name of the dialed mandator (mode 1).")
    mandatorid: Integer | None = Field(None, description=_MANDATOR_ID)
    callingnumber: Phone | None = Field(None, description=_CALLING)
    callednumber: Phone | None = Field(None, description=_CALLED)
    dialer: Flag | None = Field(None, description="Mode 1 only: 1 = mass calling (dialer), 0 = simple call.")
    requesttext: Text | None = Field(None, description=_REQUEST_TEXT, examples=["Call back about order 123"])
    agentphonenumber: Phone | None = Field(None, description="Phone number of the agent.")
    taskid: TaskId | None = Field(None, description=_CALL)
    pause_reason: Text | None = Field(
        None,
        alias="pause-reason",
        description="The pause reason (state paused/outpaused).",
        examples=["Lunch"],
    )

    AGENT_FIELD = "agentid"
    TASK_FIELD = "taskid"


class CallEvent(CallbackModel):
    """One step in a call's life, from CallStart through queueing, alerting, connection, holds,
    consultations and forwards to CallEnd."""

    model_config = sent_as(
        {
            "cmd": "callevent",
            "id": "9000001",
            "taskid": "1a2b3c4d5e6f708192a3b4c5",
            "eventtype": "CallStart",
            "eventtime": "2025-11-20 10:00:00",
            "hotlineid": "501",
            "mode": "0",
            "callingnumber": "0221260159xxx",
            "callednumber": "08001234567",
        },
    )

    cmd: Literal["callevent"]
    id: EventId = Field(description="Unique id of the call event (it is the event's idempotency key).")
    taskid: TaskId = Field(description=_CALL)
    eventtype: EventType = Field(description="Type of call event.")
    eventtime: FlexibleTime = Field(description=_WHEN)
    hotlineid: Integer | None = Field(None, description=_HOTLINE_ID)
    groupid: Integer | None = Field(None, description="Id of the group.")
    agentid: AgentNumber | None = Field(None, description="Agent number given by the ACD.")
    mode: Mode | None = Field(None, description=_DIRECTION)
    mailboxid: Integer | None = Field(None, description="Id of the mailbox.")
    mandatorid: Integer | None = Field(None, description=_MANDATOR_ID)
    announcement: Integer | None = Field(None, description="Id of the announcement.")
    callingnumber: Phone | None = Field(None, description=_CALLING)
    callednumber: Phone | None = Field(None, description=_CALLED)
    tried: Flag | None = Field(None, description="CallEnd only: 1 = alerting occurred.")
    connected: Flag | None = Field(None, description="CallEnd only: 1 = a connection occurred.")
    conf_agent: AgentNumber | None = Field(None, description="Consultation target agent.")
    conf_number: Phone | None = Field(None, description="Consultation target external number.")
    conf_agent_terminated: AgentNumber | None = Field(None, description="Agent that ended a consultation.")
    conf_number_terminated: Phone | None = Field(
        None, description="External number that ended a consultation."
    )
    target_number: Phone | None = Field(
        None, description="Destination when forwarding to an external number."
    )
    conf_target: ConfTarget | None = Field(
        None, description="Consultation type, sent after the consultation ends."
    )
    conf_target_id: Text | None = Field(
        None,
        description="Agent or group id, or destination number, of the consultation.",
        examples=["100002"],
    )
    conf_target_terminated: Boolean | None = Field(
        None, description="True when the consultation target ended the consultation."
    )

    AGENT_FIELD = "agentid"
    TASK_FIELD = "taskid"


class RecordedCall(CallbackModel):
    """The recording of a call started."""

    model_config = sent_as(
        {
            "cmd": "recordedcall",
            "taskid": "1a2b3c4d5e6f708192a3b4c5",
            "agentid": "100001",
            "mode": "0",
            "eventtime": "2025-11-20 10:01:12",
        },
    )

    cmd: Literal["recordedcall"]
    taskid: TaskId = Field(description=_CALL)
    eventtime: FlexibleTime = Field(description=_WHEN)
    agentid: AgentNumber | None = Field(None, description="Agent number given by the ACD.")
    mode: Mode | None = Field(None, description=_DIRECTION)

    AGENT_FIELD = "agentid"
    TASK_FIELD = "taskid"


class ClassificationEvent(CallbackModel):
    """An agent classified a call. `eventtime` or `timestamp` is required."""

    model_config = sent_as(
        {
            "cmd": "classificationevent",
            "callid": "1a2b3c4d5e6f708192a3b4c5",
            "agent": "100001",
            "classificationreason": "Order placed",
            "classificationcategoryid": "3",
            "hotlineid": "501",
            "mode": "0",
            "timestamp": "2025-11-20 10:05:00",
            "eventtime": "1763629500000",
        },
        anyOf=[{"required": ["eventtime"]}, {"required": ["timestamp"]}],
    )

    cmd: Literal["classificationevent"]
    callid: TaskId = Field(description=_CALL)
    classificationreason: RequiredText = Field(description="The classification.", examples=["Order placed"])
    # Two clocks: "timestamp" (string, when the agent classified) and "eventtime" (ms).
    timestamp: FlexibleTime | None = Field(None, description="When the agent classified the call.")
    eventtime: EpochMillis | None = Field(None, description=_WHEN)
    agent: AgentNumber | None = Field(None, description="Agent number.")
    hotlineid: Integer | None = Field(None, description=_HOTLINE_ID)
    mandatorid: Integer | None = Field(None, description=_MANDATOR_ID)
    classificationcategoryid: Integer | None = Field(None, description="Id of the classification category.")
    mode: Mode | None = Field(None, description=_DIRECTION)

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

    AGENT_FIELD = "agent"
    TASK_FIELD = "callid"


class EnqueueCall(CallbackModel):
    """A call was put into the queue of an agent."""

    model_config = sent_as(
        {
            "cmd": "enqueuecall",
            "taskid": "1a2b3c4d5e6f708192a3b4c5",
            "agent": "100001",
            "mandatorid": "7",
            "eventtime": "1763629200000",
        },
    )

    cmd: Literal["enqueuecall"]
    taskid: TaskId = Field(description=_CALL)
    eventtime: EpochMillis = Field(description=_WHEN)
    # the spec types enqueuecall's agent as "number" (id of the agent), not the 6-digit agent
    # number it gives agentstate's agentid or classificationevent's agent
    agent: AgentId | None = Field(None, description="Id of the agent.")
    mandatorid: Integer | None = Field(None, description=_MANDATOR_ID)

    AGENT_FIELD = "agent"
    TASK_FIELD = "taskid"


class ScheduleCallEvent(CallbackModel):
    """A call was scheduled (a callback with its time windows, days and attempts)."""

    model_config = sent_as(
        {
            "cmd": "schedulecallevent",
            "scheduleid": "4711",
            "agentid": "100001",
            "callednumber": "004930123456",
            "timefrom": "09:00",
            "timeto": "17:20",
            "weekdays": "1",
            "saturday": "0",
            "sunday": "0",
            "nextretrystartdate": "2025-11-21 09:00",
            "nextretryenddate": "2025-11-21 17:20",
            "agenttype": "ONLY_AGENT",
            "requesttext": "Call back about order 123",
            "schedulestartdates": "2025-11-21;2025-11-24",
            "eventtime": "1763629200000",
        },
    )

    cmd: Literal["schedulecallevent"]
    scheduleid: ScheduleId = Field(description="Unique id of the scheduled call.")
    eventtime: EpochMillis = Field(description=_WHEN)
    # the spec types agentid here as "integer", not the 6-digit agent number
    agentid: AgentId | None = Field(None, description="Agent number given by the ACD.")
    callednumber: Phone | None = Field(None, description=_CALLED)
    timefrom: ClockTime | None = Field(None, description="Start of the daily call window.")
    timeto: ClockTime | None = Field(None, description="End of the daily call window.")
    weekdays: Flag | None = Field(None, description="Planned for weekdays.")
    saturday: Flag | None = Field(None, description="Planned for Saturdays.")
    sunday: Flag | None = Field(None, description="Planned for Sundays.")
    nextretrystartdate: LocalMinutes | None = Field(None, description="Start of the next attempt window.")
    nextretryenddate: LocalMinutes | None = Field(None, description="End of the next attempt window.")
    agenttype: AgentType | None = Field(None, description="Who may take the scheduled call.")
    requesttext: Text | None = Field(None, description=_REQUEST_TEXT, examples=["Call back about order 123"])
    schedulestartdates: Text | None = Field(
        None, description="Dates of the schedule, separated by `;`.", examples=["2025-11-21;2025-11-24"]
    )

    AGENT_FIELD = "agentid"


class ConfigChanged(CallbackModel):
    """The configuration of an agent, group, hotline, mandator, pause reason or classificator
    changed."""

    model_config = sent_as(
        {
            "cmd": "configchanged",
            "action": "update",
            "type": "agent",
            "secondtype": "group",
            "customerNumber": "10042",
            "eventtime": "1763629200000",
        },
    )

    cmd: Literal["configchanged"]
    action: RequiredText = Field(description="Name of the action within the ACD.", examples=["update"])
    type: RequiredText = Field(
        description="The item that changed (agent, group, hotline, mandator, pause reason, classificator).",
        examples=["agent"],
    )
    eventtime: EpochMillis = Field(description=_WHEN)
    secondtype: Text | None = Field(
        None,
        description="Set if the action changed more than one item: agent, group, hotline or mandator.",
        examples=["group"],
    )


class BroadcastEvent(CallbackModel):
    """A group received a multi-group message."""

    model_config = sent_as(
        {
            "cmd": "broadcastevent",
            "admin": "Supervisor",
            "groupid": "11",
            "message": "Team meeting at 15:00",
            "eventtime": "1763629200000",
        },
    )

    cmd: Literal["broadcastevent"]
    groupid: RequiredText = Field(description="Id of the group.", examples=["11"])
    message: Annotated[str, Field(max_length=MAX_MESSAGE_LENGTH)] = Field(
        description="The message.", examples=["Team meeting at 15:00"]
    )
    eventtime: EpochMillis = Field(description=_WHEN)
    admin: Text | None = Field(
        None, description="Name of the admin who sent the message.", examples=["Supervisor"]
    )


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
_CMDS = ", ".join(CMDS)


def parse_callback(
    params: dict[str, str], context: ParseContext, received_at: datetime | None = None
) -> CallbackModel:
    """Validate lower-cased parameters into their model, or raise :class:`BadCallback` naming
    every offending parameter (or the event time, if it is too far ahead of ``received_at``)."""
    if "cmd" not in params:
        raise BadCallback([ParameterError("cmd", f"missing; expected one of: {_CMDS}")])
    cmd = ascii_lower(params["cmd"].strip())
    model = CALLBACK_MODELS.get(cmd)
    if model is None:
        # echoed only whole and short: a truncated echo could hold part of a pasted secret
        shown = f" {cmd!r}" if len(cmd) <= 40 else ""
        raise BadCallback([ParameterError("cmd", f"unknown command{shown}; expected one of: {_CMDS}")])
    parsing = Parsing(context.acd_zone, context.phone_region, context.max_future_seconds)
    try:
        event = model.model_validate({**params, "cmd": cmd}, context=parsing)
    except ValidationError as exc:
        raise BadCallback([_parameter_error(err) for err in exc.errors()]) from None
    if parsing.time_flags:
        event._time_flags = dict(parsing.time_flags)
    if received_at is not None and context.max_future_seconds is not None:
        _check_not_ahead(event, received_at, context.max_future_seconds)
    return event


def _check_not_ahead(event: CallbackModel, received_at: datetime, bound: int) -> None:
    """An event time far ahead of its arrival is a wrong clock or zone at the ACD; kept, it
    would be the agent's latest state until that time comes (a frozen board)."""
    ahead = (event.event_time - received_at).total_seconds()
    if ahead > bound:
        name = "timestamp" if getattr(event, "eventtime", None) is None else "eventtime"
        raise BadCallback(
            [
                ParameterError(
                    name,
                    f"{iso_utc(event.event_time)} is {ahead:.0f} s ahead of its arrival "
                    f"({iso_utc(received_at)}); at most {bound} s are accepted "
                    "(ACD_MAX_FUTURE_SECONDS): check the ACD's clock and time zone",
                )
            ]
        )


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
