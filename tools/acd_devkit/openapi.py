"""The callback contract as an OpenAPI 3.1 document, generated from :mod:`acd_hub.models`.

Each parameter's schema is derived from the model field that reads it: its name (the ACD's
spelling, the field's alias), whether it is required, and its wire format — the constrained
types of :mod:`acd_hub.models` (``AgentNumber``, ``TaskId``, ``Flag``, ...) each map to one
string schema here. A model field whose type this module does not know, or a parameter without a
description, stops the generator: the document cannot silently fall behind the models. A test
compares the committed ``docs/openapi.yaml`` with what this module generates.

    python -m acd_devkit.openapi            # (re)write docs/openapi.yaml
    python -m acd_devkit.openapi --check    # exit 1 if docs/openapi.yaml is stale
"""

from __future__ import annotations

import sys
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union, get_args, get_origin, get_type_hints

import click
import yaml

from acd_hub import models
from acd_hub.models import CALLBACK_MODELS, CallbackModel
from acd_hub.params import MAX_VALUE_LENGTH
from acd_hub.phone import MAX_PHONE_LENGTH
from acd_hub.times import MAX_TIME_LENGTH

DEFAULT_PATH = Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml"
CONTRACT_VERSION = "1.0.0"
HEADER = (
    "# The ACD callback contract. Generated from acd_hub.models by `python -m acd_devkit.openapi`\n"
    "# (make openapi): do not edit by hand; tests compare this file with the generated document.\n"
)


# --------------------------------------------------------------------------- wire formats


@dataclass(frozen=True)
class Wire:
    """How one parameter's value looks on the wire (always text: query, form or JSON string)."""

    schema: dict[str, Any]
    example: str


def _pattern(regex: str, description: str, example: str) -> Wire:
    return Wire({"type": "string", "pattern": regex, "description": description}, example)


def _enum(values: list[str], description: str, example: str) -> Wire:
    return Wire({"type": "string", "enum": values, "description": description}, example)


_MS = "milliseconds since 1970-01-01T00:00:00Z, between 2000 and 2100"
_FLEX = (
    "ms since the epoch, ISO 8601 (with or without offset), or `YYYY-MM-DD HH:MM[:SS]` in the "
    "ACD's time zone (default Europe/Berlin)"
)
_PHONE = "phone number as `02212601599`, `00492212601599` or `+492212601599` (suppressed: ends in `xxx`)"

# The constrained types of acd_hub.models, each with its wire schema.
NAMED_TYPES: list[tuple[Any, Wire]] = [
    (models.AgentNumber, _pattern("^[0-9]{6}$", "6-digit agent number", "100001")),
    (
        models.TaskId,
        _pattern("^[0-9a-fA-F]{1,24}$", "task (call) id: 1 to 24 hex digits", "1a2b3c4d5e6f708192a3b4c5"),
    ),
    (models.Integer, _pattern("^-?[0-9]{1,18}$", "integer", "501")),
    (models.Flag, _enum(["0", "1"], "flag: 0 or 1", "1")),
    (models.Boolean, _enum(["true", "false", "1", "0"], "boolean (case-insensitive)", "true")),
    (models.Mode, _enum(["0", "1"], "0 = inbound, 1 = outbound", "0")),
    (
        models.State,
        _enum(list(get_args(models.AgentStateName)), "agent state (case-insensitive)", "connected"),
    ),
    (
        models.EventType,
        _enum(list(get_args(models.CallEventType)), "call event type (case-insensitive)", "CallStart"),
    ),
    (
        models.Phone,
        Wire({"type": "string", "maxLength": MAX_PHONE_LENGTH, "description": _PHONE}, "02212601599"),
    ),
    (models.EpochMillis, _pattern("^[0-9]{1,16}$", _MS, "1763629200000")),
    (
        models.FlexibleTime,
        Wire({"type": "string", "maxLength": MAX_TIME_LENGTH, "description": _FLEX}, "2025-11-20 10:00:00"),
    ),
    (
        models.LocalMinutes,
        _pattern(
            "^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}$",
            "`YYYY-MM-DD HH:MM` in the ACD's time zone",
            "2025-11-21 09:00",
        ),
    ),
    (models.ClockTime, _pattern("^([01][0-9]|2[0-3]):[0-5][0-9]$", "`HH:MM`, 00:00 to 23:59", "17:20")),
    (models.Text, Wire({"type": "string", "maxLength": 1024}, "Support")),
    (
        models.RequiredText,
        Wire({"type": "string", "minLength": 1, "maxLength": 1024, "pattern": "\\S"}, "agent"),
    ),
]

# Fields typed inline in their model (no shared name to look up): by (cmd, parameter).
INLINE_TYPES: dict[tuple[str, str], Wire] = {
    ("callevent", "id"): _pattern("^[0-9]{1,20}$", "numeric event id (the ACD's `long`)", "9000001"),
    ("callevent", "conf_target"): _enum(["agent", "group", "number"], "case-insensitive", "agent"),
    ("schedulecallevent", "scheduleid"): _pattern("^[0-9]{1,20}$", "numeric schedule id", "4711"),
    ("schedulecallevent", "agentid"): _pattern(
        "^[0-9]{1,20}$", "numeric agent id (the spec types it as integer here)", "100001"
    ),
    ("schedulecallevent", "agenttype"): _enum(["ONLY_AGENT", "EVERYONE"], "case-insensitive", "ONLY_AGENT"),
    ("broadcastevent", "message"): Wire({"type": "string", "maxLength": 4096}, "Team meeting at 15:00"),
}

# The vendor's spelling where it is not the lower-cased name the models read (names are matched
# case-insensitively, so either works).
VENDOR_NAMES = {"customernumber": "customerNumber"}

# One sentence per cmd, from the vendor spec.
CMD_DESCRIPTIONS = {
    "agentstate": "An agent's state changed (inbound: offline, online, alerting, connected, ...; outbound: outonline, balerting, outconnect, ...).",
    "callevent": "One step in a call's life, from CallStart through queueing, alerting, connection, holds, consultations and forwards to CallEnd.",
    "recordedcall": "The recording of a call started.",
    "classificationevent": "An agent classified a call.",
    "enqueuecall": "A call was put into the queue of an agent.",
    "schedulecallevent": "A call was scheduled (a callback with its time windows, days and attempts).",
    "configchanged": "The configuration of an agent, group, hotline, mandator, pause reason or classificator changed.",
    "broadcastevent": "A group received a multi-group message.",
}

# One sentence per parameter (the ACD's name), from the vendor spec.
PARAMETER_DESCRIPTIONS = {
    "customernumber": "Customer number.",
    "agent_id": "Agent resource id.",
    "agentid": "Agent number given by the ACD.",
    "mode": "Direction of the call.",
    "state": "The agent's current state.",
    "eventtime": "When the event happened.",
    "hotline": "Name of the hotline (mode 0, state alerting/connected).",
    "hotlineid": "Internal id of the hotline.",
    "group": "Name of the group (mode 0, state connected).",
    "groupid": "Id of the group.",
    "mandator": "Name of the dialed mandator (mode 1).",
    "mandatorid": "Internal id of the mandator.",
    "callingnumber": "Number of the caller (inbound) or of the agent (outbound); with suppression the last 3 digits are `xxx`.",
    "callednumber": "The dialed number.",
    "dialer": "Mode 1 only: 1 = mass calling (dialer), 0 = simple call.",
    "requesttext": "Information on the dialed number or the scheduled call.",
    "agentphonenumber": "Phone number of the agent.",
    "taskid": "Id of the call.",
    "pause-reason": "The pause reason (state paused/outpaused).",
    "id": "Unique id of the call event (it is the event's idempotency key).",
    "eventtype": "Type of call event.",
    "mailboxid": "Id of the mailbox.",
    "announcement": "Id of the announcement.",
    "tried": "CallEnd only: 1 = alerting occurred.",
    "connected": "CallEnd only: 1 = a connection occurred.",
    "conf_agent": "Consultation target agent.",
    "conf_number": "Consultation target external number.",
    "conf_agent_terminated": "Agent that ended a consultation.",
    "conf_number_terminated": "External number that ended a consultation.",
    "target_number": "Destination when forwarding to an external number.",
    "conf_target": "Consultation type, sent after the consultation ends.",
    "conf_target_id": "Agent or group id, or destination number, of the consultation.",
    "conf_target_terminated": "True when the consultation target ended the consultation.",
    "callid": "Id of the call.",
    "classificationreason": "The classification.",
    "timestamp": "When the agent classified the call.",
    "agent": "Agent number.",
    "classificationcategoryid": "Id of the classification category.",
    "scheduleid": "Unique id of the scheduled call.",
    "timefrom": "Start of the daily call window.",
    "timeto": "End of the daily call window.",
    "weekdays": "Planned for weekdays.",
    "saturday": "Planned for Saturdays.",
    "sunday": "Planned for Sundays.",
    "nextretrystartdate": "Start of the next attempt window.",
    "nextretryenddate": "End of the next attempt window.",
    "agenttype": "Who may take the scheduled call.",
    "schedulestartdates": "Dates of the schedule, separated by `;`.",
    "action": "Name of the action within the ACD.",
    "type": "The item that changed (agent, group, hotline, mandator, pause reason, classificator).",
    "secondtype": "Set if the action changed more than one item: agent, group, hotline or mandator.",
    "message": "The message.",
    "admin": "Name of the admin who sent the message.",
}

# One realistic, valid callback per cmd (tests check each against the models).
EXAMPLES: dict[str, dict[str, str]] = {
    "agentstate": {
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
    "callevent": {
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
    "recordedcall": {
        "cmd": "recordedcall",
        "taskid": "1a2b3c4d5e6f708192a3b4c5",
        "agentid": "100001",
        "mode": "0",
        "eventtime": "2025-11-20 10:01:12",
    },
    "classificationevent": {
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
    "enqueuecall": {
        "cmd": "enqueuecall",
        "taskid": "1a2b3c4d5e6f708192a3b4c5",
        "agent": "100001",
        "mandatorid": "7",
        "eventtime": "1763629200000",
    },
    "schedulecallevent": {
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
    "configchanged": {
        "cmd": "configchanged",
        "action": "update",
        "type": "agent",
        "secondtype": "group",
        "customerNumber": "10042",
        "eventtime": "1763629200000",
    },
    "broadcastevent": {
        "cmd": "broadcastevent",
        "admin": "Supervisor",
        "groupid": "11",
        "message": "Team meeting at 15:00",
        "eventtime": "1763629200000",
    },
}

# Rules of a whole message that no single field states (model validators).
MESSAGE_RULES: dict[str, dict[str, Any]] = {
    "classificationevent": {
        "anyOf": [{"required": ["eventtime"]}, {"required": ["timestamp"]}],
        "description": "`eventtime` or `timestamp` is required.",
    },
}


# --------------------------------------------------------------------------- models -> parameters


@dataclass(frozen=True)
class Parameter:
    """One parameter of one cmd, as the ACD sends it."""

    cmd: str
    name: str  # the lower-cased name the models read
    required: bool
    wire: Wire

    @property
    def vendor_name(self) -> str:
        return VENDOR_NAMES.get(self.name, self.name)


def _strip_optional(hint: Any) -> Any:
    if get_origin(hint) in (Union, types.UnionType):
        options = [arg for arg in get_args(hint) if arg is not type(None)]
        if len(options) == 1:
            return options[0]
    return hint


def _wire_of(cmd: str, name: str, hint: Any) -> Wire:
    if (cmd, name) in INLINE_TYPES:
        return INLINE_TYPES[(cmd, name)]
    hint = _strip_optional(hint)
    for known, wire in NAMED_TYPES:
        if hint == known:
            return wire
    raise LookupError(
        f"{cmd}.{name}: its type {hint!r} has no wire schema in acd_devkit.openapi "
        "(add it to NAMED_TYPES or INLINE_TYPES)"
    )


def parameters_of(cmd: str, model: type[CallbackModel]) -> list[Parameter]:
    hints = get_type_hints(model, include_extras=True)
    found = []
    for field_name, info in model.model_fields.items():
        if field_name == "cmd":
            continue
        name = info.alias or field_name
        if name not in PARAMETER_DESCRIPTIONS:
            raise LookupError(f"{cmd}.{name} has no description in acd_devkit.openapi.PARAMETER_DESCRIPTIONS")
        found.append(Parameter(cmd, name, info.is_required(), _wire_of(cmd, name, hints[field_name])))
    return found


def all_parameters() -> dict[str, list[Parameter]]:
    """Every cmd's parameters, in the models' order."""
    return {cmd: parameters_of(cmd, model) for cmd, model in CALLBACK_MODELS.items()}


# --------------------------------------------------------------------------- document


def _model_name(cmd: str) -> str:
    return CALLBACK_MODELS[cmd].__name__


def _message_schema(cmd: str, params: list[Parameter]) -> dict[str, Any]:
    properties: dict[str, Any] = {"cmd": {"type": "string", "const": cmd}}
    for param in params:
        prop = dict(param.wire.schema)
        text = PARAMETER_DESCRIPTIONS[param.name]
        prop["description"] = f"{text} {_sentence(prop['description'])}" if "description" in prop else text
        prop["examples"] = [_example(param)]
        properties[param.vendor_name] = prop
    schema: dict[str, Any] = {
        "title": cmd,
        "description": CMD_DESCRIPTIONS[cmd],
        "type": "object",
        "required": ["cmd", *(p.vendor_name for p in params if p.required)],
        "properties": properties,
        # Parameters the spec does not list are kept (under data.extra), not rejected.
        "additionalProperties": {"type": "string", "maxLength": MAX_VALUE_LENGTH},
        "examples": [EXAMPLES[cmd]],
    }
    if cmd in MESSAGE_RULES:
        rule = MESSAGE_RULES[cmd]
        schema["description"] += " " + rule["description"]
        schema.update({k: v for k, v in rule.items() if k != "description"})
    return schema


def _example(param: Parameter) -> str:
    """The value of the cmd's example if it has one, else one of any cmd, else the type's."""
    for example in (EXAMPLES[param.cmd], *EXAMPLES.values()):
        if param.vendor_name in example:
            return example[param.vendor_name]
    return param.wire.example


def _sentence(text: str) -> str:
    text = text[0].upper() + text[1:]
    return text if text.endswith(".") else text + "."


def _query_parameter(name: str, uses: list[Parameter]) -> dict[str, Any]:
    """One query parameter: the union of what each cmd that reads it accepts."""
    by_schema: dict[str, tuple[Wire, list[Parameter]]] = {}
    for use in uses:
        key = yaml.safe_dump(use.wire.schema, sort_keys=True)
        by_schema.setdefault(key, (use.wire, []))[1].append(use)
    used_by = ", ".join(f"`{u.cmd}`" + (" (required)" if u.required else "") for u in uses)
    if len(by_schema) == 1:
        ((wire, _),) = by_schema.values()
        schema = {k: v for k, v in wire.schema.items() if k != "description"}
        detail = f" {_sentence(wire.schema['description'])}" if "description" in wire.schema else ""
    else:
        schema = {
            "anyOf": [
                {
                    **wire.schema,
                    "description": ", ".join(f"`{u.cmd}`" for u in group)
                    + (f": {wire.schema['description']}" if "description" in wire.schema else ""),
                }
                for wire, group in by_schema.values()
            ]
        }
        detail = ""
    return {
        "name": uses[0].vendor_name,
        "in": "query",
        "required": False,
        "description": f"{PARAMETER_DESCRIPTIONS[name]}{detail} Read by: {used_by}.",
        "schema": schema,
        "example": _example(uses[0]),
    }


def _cmd_parameter(required: bool) -> dict[str, Any]:
    lines = "\n".join(f"* `{cmd}`: {text}" for cmd, text in CMD_DESCRIPTIONS.items())
    where = (
        "Required."
        if required
        else "Required, in the query string or in the body (if both, they must agree)."
    )
    return {
        "name": "cmd",
        "in": "query",
        "required": required,
        "description": f"The type of notification. {where}\n\n{lines}",
        "schema": {"type": "string", "enum": list(CALLBACK_MODELS)},
        "example": "agentstate",
    }


def _error_schema(code: str, description: str) -> dict[str, Any]:
    return {
        "type": "object",
        "description": description,
        "required": ["error", "message"],
        "properties": {"error": {"type": "string", "const": code}, "message": {"type": "string"}},
    }


def _components(every: dict[str, list[Parameter]]) -> dict[str, Any]:
    schemas: dict[str, Any] = {
        _model_name(cmd): _message_schema(cmd, params) for cmd, params in every.items()
    }
    schemas["Callback"] = {
        "description": "The parameters of one callback as a form-urlencoded or JSON body (names "
        "case-insensitive). A JSON body may also carry numbers and booleans (`true` reads as `1`); "
        "they are read as their text.",
        "oneOf": [{"$ref": f"#/components/schemas/{_model_name(cmd)}"} for cmd in every],
        "discriminator": {
            "propertyName": "cmd",
            "mapping": {cmd: f"#/components/schemas/{_model_name(cmd)}" for cmd in every},
        },
    }
    schemas["Accepted"] = {
        "type": "object",
        "description": "The event is stored (or was already: a duplicate changes nothing).",
        "required": ["status", "cmd", "event_key", "event_time", "day"],
        "properties": {
            "status": {
                "type": "string",
                "enum": ["stored", "duplicate"],
                "description": "`duplicate`: the same event was stored before; nothing changed.",
            },
            "cmd": {"type": "string", "enum": list(CALLBACK_MODELS)},
            "event_key": {
                "type": "string",
                "description": "The event's deterministic key: `ce-<id>` for a callevent, else a hash "
                "of its parameters. Sending the same event again yields the same key.",
                "examples": ["ce-9000001", "h-3f9a0c1e2b4d5f60718293a4b5c6d7e8"],
            },
            "event_time": {
                "type": "string",
                "format": "date-time",
                "description": "The event's time as read, in UTC.",
                "examples": ["2025-11-20T09:00:00.000Z"],
            },
            "day": {
                "type": "string",
                "format": "date",
                "description": "The reporting day the event counts for (reporting time zone).",
                "examples": ["2025-11-20"],
            },
        },
    }
    schemas["BadRequest"] = {
        "type": "object",
        "description": "Nothing was stored as an event; the request is kept in quarantine under "
        "`request_id` with these reasons (`acd-report rejected`).",
        "required": ["error", "message", "request_id", "errors"],
        "properties": {
            "error": {"type": "string", "const": "bad_request"},
            "message": {"type": "string"},
            "request_id": {"type": "string"},
            "errors": {
                "type": "array",
                "minItems": 1,
                "description": "Every offending parameter, not just the first.",
                "items": {
                    "type": "object",
                    "required": ["parameter", "message"],
                    "properties": {
                        "parameter": {
                            "type": "string",
                            "description": "The parameter's name (lower case), or `body`, `content-type`, `request`.",
                        },
                        "message": {"type": "string"},
                    },
                },
            },
        },
        "examples": [
            {
                "error": "bad_request",
                "message": "the callback was not stored; it is kept for inspection under request_id",
                "request_id": "c8a1d2f0-5b7e-4c1a-9d3e-2f6b8a0c4e11",
                "errors": [{"parameter": "agentid", "message": "must be a 6-digit agent number"}],
            }
        ],
    }
    schemas["Unauthorized"] = _error_schema("unauthorized", "Missing or invalid token.")
    schemas["Unauthorized"]["properties"]["token"] = {
        "type": "object",
        "description": "How to pass the token: as the path segment or as the `token` query parameter.",
        "properties": {"path": {"type": "string"}, "query": {"type": "string"}},
    }
    schemas["Conflict"] = {
        **schemas["BadRequest"],
        "description": "The event key (a callevent's `id`) is already stored with other content: "
        "nothing was stored; the request is kept in quarantine under `request_id`, and `errors` "
        "names the parameters that differ.",
        "properties": {
            **schemas["BadRequest"]["properties"],
            "error": {"type": "string", "const": "conflict"},
        },
        "examples": [
            {
                "error": "conflict",
                "message": "the event key is already stored with other content; this request is kept "
                "for inspection under request_id",
                "request_id": "c8a1d2f0-5b7e-4c1a-9d3e-2f6b8a0c4e11",
                "errors": [
                    {
                        "parameter": "eventtype",
                        "message": "event ce-9000001 is already stored with other content",
                    }
                ],
            }
        ],
    }
    schemas["Forbidden"] = _error_schema("forbidden", "The source address is not allowed.")
    schemas["StoreUnavailable"] = _error_schema(
        "store_unavailable", "The event store did not take the write: retry after `Retry-After` seconds."
    )
    schemas["GatewayMessage"] = {
        "type": "object",
        "description": "An answer of API Gateway itself, before the callback function.",
        "required": ["message"],
        "properties": {"message": {"type": "string"}},
    }

    query = {}
    uses: dict[str, list[Parameter]] = {}
    for params in every.values():
        for param in params:
            uses.setdefault(param.name, []).append(param)
    for name, group in uses.items():
        query[_component_name(name)] = _query_parameter(name, group)
    parameters: dict[str, Any] = {
        "token": {
            "name": "token",
            "in": "path",
            "required": True,
            "description": "The shared secret configured in the ACD's callback URL. Several tokens "
            "can be valid at once (rotation). This path segment is the request's authentication; "
            "it survives any way the ACD appends its own `?cmd=...`.",
            "schema": {"type": "string", "minLength": 1, "maxLength": 512},
        },
        "cmdQuery": _cmd_parameter(required=True),
        "cmdQueryOrBody": _cmd_parameter(required=False),
        **query,
    }

    json_body = {"schema": {"$ref": "#/components/schemas/Callback"}}
    responses = {}
    for head in (False, True):
        suffix = "Head" if head else ""

        def answer(description: str, schema: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
            response: dict[str, Any] = {"description": description}
            if headers:
                response["headers"] = headers
            if not head:  # noqa: B023 - used while the loop variable is current
                response["content"] = {
                    "application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}
                }
            return response

        responses[f"Accepted{suffix}"] = answer("Stored, or already stored (duplicate).", "Accepted")
        responses[f"BadRequest{suffix}"] = answer(
            "Bad input: every offending parameter named; the request is kept in quarantine.", "BadRequest"
        )
        responses[f"Conflict{suffix}"] = answer(
            "The event key is already stored with other content; the request is kept in quarantine.",
            "Conflict",
        )
        responses[f"Unauthorized{suffix}"] = answer(
            "Missing or invalid token.",
            "Unauthorized",
            {
                "WWW-Authenticate": {
                    "schema": {"type": "string"},
                    "description": '`Token realm="acd-callback"`',
                }
            },
        )
        responses[f"Forbidden{suffix}"] = answer(
            "The source address is outside the allowed networks (`AllowedSourceCidrs`).", "Forbidden"
        )
        responses[f"PayloadTooLarge{suffix}"] = answer(
            "API Gateway: the request is larger than 10 MB.", "GatewayMessage"
        )
        responses[f"UriTooLong{suffix}"] = {
            "description": "The request line is too long for the gateway (API Gateway: request line and "
            "headers at most 10 KB): send long values in a PUT body. The body is the gateway's own."
        }
        responses[f"TooManyRequests{suffix}"] = answer(
            "API Gateway throttling: retry later.", "GatewayMessage"
        )
        responses[f"StoreUnavailable{suffix}"] = answer(
            "The event store is unavailable; nothing was stored. Retry.",
            "StoreUnavailable",
            {
                "Retry-After": {
                    "required": True,
                    "description": "Seconds to wait before retrying.",
                    "schema": {"type": "integer", "minimum": 0},
                }
            },
        )
    return {
        "parameters": parameters,
        "requestBodies": {
            "Callback": {
                "required": False,
                "description": "Optional: the parameters (all of them, or those not in the query string).",
                "content": {
                    "application/x-www-form-urlencoded": dict(json_body),
                    "application/json": json_body,
                },
            }
        },
        "schemas": schemas,
        "responses": responses,
        "securitySchemes": {
            "tokenQuery": {
                "type": "apiKey",
                "in": "query",
                "name": "token",
                "description": "The shared secret as the `token` query parameter (on `/callback`). "
                "Prefer the path form `/callback/{token}`.",
            }
        },
    }


def _component_name(parameter: str) -> str:
    return "q_" + parameter.replace("-", "_")


def _operations(every: dict[str, list[Parameter]], *, path_token: bool) -> dict[str, Any]:
    names = []
    for params in every.values():
        for param in params:
            if param.name not in names:
                names.append(param.name)
    refs = [{"$ref": f"#/components/parameters/{_component_name(n)}"} for n in names]
    token = [{"$ref": "#/components/parameters/token"}] if path_token else []
    security: list[dict[str, list[str]]] = [] if path_token else [{"tokenQuery": []}]
    where = "/callback/{token}" if path_token else "/callback?token=..."
    item: dict[str, Any] = {"parameters": [*token, *refs]}
    for method in ("get", "head", "put", "post"):
        head = method == "head"
        body = method in ("put", "post")
        cmd = "cmdQueryOrBody" if body else "cmdQuery"
        suffix = "Head" if head else ""
        operation: dict[str, Any] = {
            "operationId": f"{method}Callback{'WithToken' if path_token else 'WithQueryToken'}",
            "summary": f"{method.upper()} {where}",
            "description": _operation_description(method, path_token),
            "tags": ["callback"],
            "security": security,
            "parameters": [{"$ref": f"#/components/parameters/{cmd}"}],
        }
        if body:
            operation["requestBody"] = {"$ref": "#/components/requestBodies/Callback"}
        operation["responses"] = {
            "200": {"$ref": f"#/components/responses/Accepted{suffix}"},
            "400": {"$ref": f"#/components/responses/BadRequest{suffix}"},
            "401": {"$ref": f"#/components/responses/Unauthorized{suffix}"},
            "403": {"$ref": f"#/components/responses/Forbidden{suffix}"},
            "409": {"$ref": f"#/components/responses/Conflict{suffix}"},
            "413": {"$ref": f"#/components/responses/PayloadTooLarge{suffix}"},
            "414": {"$ref": f"#/components/responses/UriTooLong{suffix}"},
            "429": {"$ref": f"#/components/responses/TooManyRequests{suffix}"},
            "503": {"$ref": f"#/components/responses/StoreUnavailable{suffix}"},
        }
        item[method] = operation
    return item


def _operation_description(method: str, path_token: bool) -> str:
    auth = (
        "Authenticated by the `{token}` path segment (OpenAPI has no security scheme for a path "
        "segment, so none is declared)."
        if path_token
        else "Authenticated by the `token` query parameter."
    )
    what = {
        "get": "The ACD's usual request: the parameters in the query string.",
        "head": "Like GET, and the answer carries no body (the status code is the answer).",
        "put": "Parameters in the query string and/or a form-urlencoded or JSON body.",
        "post": "Like PUT (not sent by the ACD; handy for integrations).",
    }[method]
    return f"{what} {auth}"


DESCRIPTION = """\
The one endpoint a call-center ACD (vendor "ACD CallBack API" 4.2.4, ACD 4.9.6 and up) sends its
notifications to. Configure `https://<api>/callback/<token>` as the callback URL in the ACD.

* **Parameters** come from the query string and, for PUT/POST, from a form-urlencoded or JSON
  body; names are matched case-insensitively (ASCII rules); percent-encoded values are read as UTF-8 with a
  Windows-1252 fallback. `cmd` picks the message type; each type reads its own parameters (see
  the `Callback` schemas), the query parameters listed here are their union. Parameters the
  spec does not list are kept, not rejected.
* **Answers**: `200` for a stored event and for a duplicate (it changes nothing: retries are
  safe); `400` naming every offending parameter (the request is kept in quarantine); `409` for
  an event key already stored with other content (kept in quarantine too);
  `401`/`403` for a bad token or source address; `503` with `Retry-After` only when the event
  store did not take the write. HEAD answers carry no body.
* **Times** become UTC: numeric `eventtime` is ms since the epoch; string times may also be ISO
  8601 or `YYYY-MM-DD HH:MM[:SS]` in the ACD's time zone (default Europe/Berlin).
"""


def build_document() -> dict[str, Any]:
    every = all_parameters()
    for cmd in CALLBACK_MODELS:
        if cmd not in CMD_DESCRIPTIONS or cmd not in EXAMPLES:
            raise LookupError(f"{cmd}: no description or example in acd_devkit.openapi")
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "ACD callback hub: callback endpoint",
            "version": CONTRACT_VERSION,
            "description": DESCRIPTION,
        },
        "servers": [
            {
                "url": "https://{apiId}.execute-api.{region}.amazonaws.com",
                "description": "The deployed HTTP API (stack output CallbackUrl).",
                "variables": {
                    "apiId": {"default": "abc123defg"},
                    "region": {"default": "eu-central-1"},
                },
            },
            {"url": "http://127.0.0.1:3000", "description": "`make run` (acd-local)"},
        ],
        "tags": [{"name": "callback", "description": "ACD notifications"}],
        "paths": {
            "/callback/{token}": _operations(every, path_token=True),
            "/callback": _operations(every, path_token=False),
        },
        "components": _components(every),
    }


class _Dumper(yaml.SafeDumper):
    """Plain YAML for people: no anchors/aliases, multi-line text as literal blocks."""

    def ignore_aliases(self, data: Any) -> bool:  # noqa: ARG002 - PyYAML's signature
        return True


def _text(dumper: yaml.SafeDumper, data: str) -> yaml.Node:
    # Quote what a YAML 1.2 reader could take for a number ("02212601599", "0", "+4980012345").
    style = "|" if "\n" in data else "'" if data[:1] in set("0123456789+-.") else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(str, _text)


def render() -> str:
    document = build_document()
    return HEADER + yaml.dump(document, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--out", type=click.Path(dir_okay=False, path_type=Path), default=DEFAULT_PATH, show_default=True
)
@click.option("--check", is_flag=True, help="Exit 1 if the file differs from the generated document.")
def main(out: Path, check: bool) -> None:
    """Generate the callback contract (OpenAPI 3.1) from the models."""
    text = render()
    if check:
        current = out.read_text(encoding="utf-8") if out.is_file() else ""
        if current != text:
            click.echo(f"{out} is stale: run `python -m acd_devkit.openapi`", err=True)
            sys.exit(1)
        click.echo(f"{out} is up to date")
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    click.echo(f"wrote {out}")


if __name__ == "__main__":
    main()
