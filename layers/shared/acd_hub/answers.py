"""The callback endpoint's answers (JSON bodies), one pydantic model each. The ingest function
builds them (``functions/ingest/app.py``); the OpenAPI document's answer schemas are generated
from them (``python -m acd_devkit.openapi``), so the contract cannot drift from what is sent.

Validators are built on first use (``defer_build``), not at a cold start's import.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from acd_hub import errors
from acd_hub.models import CALLBACK_MODELS
from acd_hub.unknown_parameters import MAX_WARNINGS

_DEFERRED = ConfigDict(defer_build=True)

# A quarantined request's answer: the ingest function sends it, and the quarantine item records
# it (what `acd-report rejected` shows and `acd-admin replay` keeps current), so both read it here.
QUARANTINED_STATUS: dict[type[errors.Quarantined], HTTPStatus] = {
    errors.Invalid: HTTPStatus.BAD_REQUEST,
    errors.Conflict: HTTPStatus.CONFLICT,
}


class Answer(BaseModel):
    model_config = _DEFERRED

    def body(self) -> dict[str, Any]:
        """The JSON body: a field that is None is left out (optional parts only when present)."""
        return {name: value for name, value in self.model_dump(mode="json").items() if value is not None}


class UnknownParameterNote(BaseModel):
    model_config = _DEFERRED

    parameter: str = Field(examples=["pausereason"])
    closest: Annotated[
        str | None,
        WithJsonSchema(
            {
                "type": ["string", "null"],
                "description": "The known parameter it resembles most; null if none does.",
                "examples": ["pause-reason"],
            }
        ),
    ]
    message: str


class Accepted(Answer):
    """The event is stored (or was already: a duplicate changes nothing)."""

    status: Literal["stored", "duplicate"] = Field(
        description="`duplicate`: the same event was stored before; nothing changed."
    )
    cmd: Annotated[str, WithJsonSchema({"type": "string", "enum": list(CALLBACK_MODELS)})]
    event_key: str = Field(
        description="The event's deterministic key: `ce-<id>` for a callevent, else a hash of its "
        "parameters. Sending the same event again yields the same key.",
        examples=["ce-9000001", "h-3f9a0c1e2b4d5f60718293a4b5c6d7e8"],
    )
    event_time: str = Field(
        description="The event's time as read, in UTC.",
        examples=["2025-11-20T09:00:00.000Z"],
        json_schema_extra={"format": "date-time"},
    )
    day: str = Field(
        description="The reporting day the event counts for (reporting time zone).",
        examples=["2025-11-20"],
        json_schema_extra={"format": "date"},
    )
    warnings: list[UnknownParameterNote] | None = Field(
        None,
        max_length=MAX_WARNINGS,
        description="Only when there are any: parameters this `cmd` does not list. The event is "
        "stored all the same (they are kept under `data.extra`, unused), so a misspelled name "
        "(`pausereason` for `pause-reason`) is said here, with the known name it is closest to; "
        "`acd-report warnings --day D` lists a day's.",
    )


class ParameterProblem(BaseModel):
    model_config = _DEFERRED

    parameter: str = Field(
        description="The parameter's name (lower case), or `body`, `content-type`, `request`."
    )
    message: str


class BadRequest(Answer):
    """Nothing was stored as an event; the request is kept in quarantine under `request_id` with
    these reasons (`acd-report rejected`)."""

    model_config = ConfigDict(
        defer_build=True,
        json_schema_extra={
            "examples": [
                {
                    "error": "bad_request",
                    "message": "the callback was not stored; it is kept for inspection under request_id",
                    "request_id": "c8a1d2f0-5b7e-4c1a-9d3e-2f6b8a0c4e11",
                    "errors": [{"parameter": "agentid", "message": "must be a 6-digit agent number"}],
                }
            ]
        },
    )

    error: Literal["bad_request"] = "bad_request"
    message: str = "the callback was not stored; it is kept for inspection under request_id"
    request_id: str
    errors: list[ParameterProblem] = Field(
        min_length=1, description="Every offending parameter, not just the first."
    )


class Conflict(Answer):
    """The event key (a callevent's `id`) is already stored with other content: nothing was
    stored; the request is kept in quarantine under `request_id`, and `errors` names the
    parameters that differ."""

    model_config = ConfigDict(
        defer_build=True,
        json_schema_extra={
            "examples": [
                {
                    "error": "conflict",
                    "message": "the event key is already stored with other content; this request is "
                    "kept for inspection under request_id",
                    "request_id": "c8a1d2f0-5b7e-4c1a-9d3e-2f6b8a0c4e11",
                    "errors": [
                        {
                            "parameter": "eventtype",
                            "message": "event ce-9000001 is already stored with other content",
                        }
                    ],
                }
            ]
        },
    )

    error: Literal["conflict"] = "conflict"
    message: str = (
        "the event key is already stored with other content; this request is kept for "
        "inspection under request_id"
    )
    request_id: str
    errors: list[ParameterProblem] = Field(
        min_length=1, description="Every offending parameter, not just the first."
    )


class TokenHint(BaseModel):
    """How to pass the token: as the path segment or as the `token` query parameter."""

    model_config = _DEFERRED

    path: str = "/callback/<token> (recommended: it survives any '?' the ACD appends)"
    query: str = "/callback?token=<token>"


class Unauthorized(Answer):
    """Missing or invalid token."""

    error: Literal["unauthorized"] = "unauthorized"
    message: str
    # How to pass the token, in every 401: an ACD integrator reads this body, not our README.
    token: TokenHint = Field(default_factory=TokenHint)


class Forbidden(Answer):
    """The source address is not allowed."""

    error: Literal["forbidden"] = "forbidden"
    message: str = "source address not allowed"


class NotFound(Answer):
    """Not the callback URL."""

    error: Literal["not_found"] = "not_found"
    message: str = "not found: the callback URL is /callback/<token>"


class StoreUnavailable(Answer):
    """The event store did not take the write, or the valid tokens could not be read: retry
    after `Retry-After` seconds."""

    error: Literal["store_unavailable", "tokens_unavailable"]
    message: str
