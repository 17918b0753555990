"""How a callback parameter is read and how it is written on the wire: one annotated type per
kind of value (agent numbers, task ids, flags, phone numbers, the ACD's time formats, texts),
each with its validator (a clear, named error for the ACD integrator) and its wire schema (for
the callback contract, docs/openapi.yaml). The models (:mod:`acd_hub.models`) are built from them.

Validation needs two settings, the ACD's time zone and the default phone region: the validation
context (:class:`ParseContext`), so the types stay free of global state.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, time
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    PlainSerializer,
    ValidationInfo,
    WithJsonSchema,
)
from pydantic.json_schema import Examples
from pydantic_core import PydanticCustomError

from acd_hub import times
from acd_hub.keys import iso_utc
from acd_hub.params import ascii_lower
from acd_hub.phone import MAX_PHONE_LENGTH, PhoneNumber, normalize_phone
from acd_hub.times import MAX_TIME_LENGTH


@dataclass(frozen=True)
class ParseContext:
    acd_zone: ZoneInfo
    phone_region: str = "DE"
    # How far an event time may be ahead of its arrival (ACD_MAX_FUTURE_SECONDS); None: no bound.
    max_future_seconds: int | None = None


@dataclass(frozen=True)
class Parsing(ParseContext):
    """The context of one validation: collects the time flags of that one request."""

    time_flags: dict[str, str] = field(default_factory=dict)


def _ctx(info: ValidationInfo) -> ParseContext:
    context = info.context
    if not isinstance(context, ParseContext):
        raise TypeError("validate callbacks with context=ParseContext(...)")
    return context


def rule(check: Callable[[str], Any], message: str) -> BeforeValidator:
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
        if flags and isinstance(context, Parsing) and info.field_name:
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


def wire(description: str, example: str, **schema: Any) -> WithJsonSchema:
    """How a parameter is written on the wire, for the callback contract (docs/openapi.yaml):
    always text (query, form or JSON string), whatever Python type it becomes."""
    return WithJsonSchema({"type": "string", **schema, "description": description, "examples": [example]})


def one_of(values: Iterable[str], description: str, example: str) -> WithJsonSchema:
    return wire(description, example, enum=list(values))


_MILLIS = "milliseconds since 1970-01-01T00:00:00Z, between 2000 and 2100"
_FLEXIBLE = (
    "ms since the epoch, ISO 8601 (with or without offset), or `YYYY-MM-DD HH:MM[:SS]` in the "
    "ACD's time zone (default Europe/Berlin)"
)
_PHONE = "phone number as `02212601599`, `00492212601599` or `+492212601599` (suppressed: ends in `xxx`)"
_NUMERIC_ID = f"^[0-9]{{1,{MAX_ID_DIGITS}}}$"
MAX_TEXT_LENGTH = 1024
MAX_MESSAGE_LENGTH = 4096

UtcTime = Annotated[datetime, PlainSerializer(_iso, return_type=str)]
AgentNumber = Annotated[
    str,
    rule(_digits(6), "must be a 6-digit agent number"),
    wire("6-digit agent number", "100001", pattern="^[0-9]{6}$"),
]
EventId = Annotated[
    str,
    rule(_digits(), f"must be a numeric event id (at most {MAX_ID_DIGITS} digits)"),
    wire("numeric event id (the ACD's `long`)", "9000001", pattern=_NUMERIC_ID),
]
ScheduleId = Annotated[
    str,
    rule(_digits(), f"must be a numeric schedule id (at most {MAX_ID_DIGITS} digits)"),
    wire("numeric schedule id", "4711", pattern=_NUMERIC_ID),
]
AgentId = Annotated[
    str,
    rule(_digits(), f"must be a numeric agent id (at most {MAX_ID_DIGITS} digits)"),
    wire("numeric agent id (the spec types it as integer here)", "100001", pattern=_NUMERIC_ID),
]
TaskId = Annotated[
    str,
    rule(_task_id, "must be a task id of 1 to 24 hex digits"),
    wire("task (call) id: 1 to 24 hex digits", "1a2b3c4d5e6f708192a3b4c5", pattern="^[0-9a-fA-F]{1,24}$"),
]
Integer = Annotated[
    int,
    rule(_integer, "must be an integer (at most 18 digits)"),
    wire("integer", "501", pattern="^-?[0-9]{1,18}$"),
]
Flag = Annotated[bool, rule(_flag, "must be 0 or 1"), one_of(["0", "1"], "flag: 0 or 1", "1")]
Boolean = Annotated[
    bool,
    rule(_boolean, "must be true/false (or 1/0)"),
    one_of(["true", "false", "1", "0"], "boolean (case-insensitive)", "true"),
]
Mode = Annotated[
    int,
    rule(_mode, "must be 0 (inbound) or 1 (outbound)"),
    one_of(["0", "1"], "0 = inbound, 1 = outbound", "0"),
]
Phone = Annotated[
    PhoneNumber, BeforeValidator(_phone), wire(_PHONE, "02212601599", maxLength=MAX_PHONE_LENGTH)
]
EpochMillis = Annotated[
    UtcTime, BeforeValidator(_millis), wire(_MILLIS, "1763629200000", pattern="^[0-9]{1,16}$")
]
FlexibleTime = Annotated[
    UtcTime, BeforeValidator(_flex_time), wire(_FLEXIBLE, "2025-11-20 10:00:00", maxLength=MAX_TIME_LENGTH)
]
LocalMinutes = Annotated[
    UtcTime,
    BeforeValidator(_local_minutes),
    wire(
        "`YYYY-MM-DD HH:MM` in the ACD's time zone",
        "2025-11-21 09:00",
        pattern="^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}$",
    ),
]
ClockTime = Annotated[
    time,
    BeforeValidator(_clock),
    PlainSerializer(lambda t: t.strftime("%H:%M"), return_type=str),
    wire("`HH:MM`, 00:00 to 23:59", "17:20", pattern="^([01][0-9]|2[0-3]):[0-5][0-9]$"),
]
Text = Annotated[str, Field(max_length=MAX_TEXT_LENGTH), Examples(["Support"])]


def _not_blank(value: str) -> str:
    if not value.strip():
        raise PydanticCustomError("acd_value", "must not be empty")
    return value


RequiredText = Annotated[
    str,
    Field(max_length=MAX_TEXT_LENGTH),
    AfterValidator(_not_blank),
    WithJsonSchema(
        {
            "type": "string",
            "minLength": 1,
            "maxLength": MAX_TEXT_LENGTH,
            "pattern": r"\S",
            "examples": ["agent"],
        }
    ),
]
ConfTarget = Annotated[
    str,
    rule(
        lambda t: {"agent": "agent", "group": "group", "number": "number"}[ascii_lower(t)],
        "must be agent, group or number",
    ),
    one_of(["agent", "group", "number"], "case-insensitive", "agent"),
]
AgentType = Annotated[
    str,
    rule(_agent_type, "must be ONLY_AGENT or EVERYONE"),
    one_of(["ONLY_AGENT", "EVERYONE"], "case-insensitive", "ONLY_AGENT"),
]
