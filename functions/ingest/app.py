"""IngestFunction: the ACD's callback URL. Validates, normalizes and stores every notification
once; never waits on fan-out or aggregation (those follow from the table's stream).

The routes hand the request to the use case (``acd_hub.ingest``); the exception handlers below
are the one place where its outcomes become HTTP answers.
"""

from __future__ import annotations

import base64
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2
from aws_lambda_powertools.utilities.typing import LambdaContext

from acd_hub import answers
from acd_hub.adapters.events_table import EventsTable
from acd_hub.auth import token_source
from acd_hub.aws import dynamodb_client
from acd_hub.errors import (
    Conflict,
    Forbidden,
    Invalid,
    ParameterError,
    Quarantined,
    StoreUnavailable,
    TokensUnavailable,
    Unauthorized,
)
from acd_hub.ingest import CallbackIngest
from acd_hub.logs import lean_log_records, log_metrics, log_serializer, quiet_sensitive_loggers
from acd_hub.models import CALLBACK_MODELS
from acd_hub.params import ascii_lower
from acd_hub.request import CallbackRequest
from acd_hub.settings import HubSettings
from acd_hub.unknown_parameters import known_parameters

METHODS = ["GET", "HEAD", "PUT", "POST"]
RETRY_AFTER_SECONDS = "5"

settings = HubSettings()
logger = Logger(json_serializer=log_serializer())
# Ephemeral: Metrics() keeps its dimensions in class state shared by every instance, so the
# local stack's concurrent containers (threads of one process) mixed their dimensions. On Lambda
# (one container per process) both behave alike.
metrics = EphemeralMetrics()
# Every 401 and 403 also counts here, under the service dimension alone: one series for the
# RefusedCallbacks alarm (a botched token rotation), whatever the cmd or outcome dimensions.
refusals = EphemeralMetrics()
ingest = CallbackIngest(
    settings,
    EventsTable(dynamodb_client(settings.aws_endpoint_url, interactive=True), settings.events_table),
    token_source(settings),
)
quiet_sensitive_loggers()
lean_log_records()
app = APIGatewayHttpResolver()


@app.route("/callback", method=METHODS)
def callback() -> Response:
    return receive(app.current_event, None)


@app.route("/callback/<token>", method=METHODS)
def callback_with_token(token: str) -> Response:
    return receive(app.current_event, token)


def receive(event: APIGatewayProxyEventV2, path_token: str | None) -> Response:
    request = callback_request(event, path_token)
    stored = ingest.handle(request)
    count(stored.cmd, stored.outcome)
    logged: dict[str, Any] = {"cmd": stored.cmd, "event_key": stored.event_key, "outcome": stored.outcome}
    if stored.warnings:
        # How many, and what they resemble: not the names sent (any text, kept with the event).
        metrics.add_metric(name="UnknownParameters", unit=MetricUnit.Count, value=len(stored.warnings))
        logged["unknown_parameters"] = len(stored.warnings)
        logged["closest_known"] = sorted({w.closest for w in stored.warnings if w.closest})
    logger.info("callback stored" if not stored.duplicate else "duplicate callback", extra=logged)
    # event_time shows the integrator how their timestamp was read (UTC); warnings: stored all
    # the same (a new ACD version's parameter must not cost the event), and named back
    accepted = answers.Accepted(
        status=stored.outcome,
        cmd=stored.cmd,
        event_key=stored.event_key,
        event_time=stored.event_time,
        day=stored.day,
        warnings=[w.as_dict() for w in stored.warnings] or None,
    )
    return answer(HTTPStatus.OK, accepted)


# -- the one place where the use case's outcomes become HTTP answers --


@app.exception_handler(Invalid)
def invalid(exc: Invalid) -> Response:
    return rejected(exc, answers.BadRequest(request_id=exc.request_id, errors=problems(exc)))


@app.exception_handler(Conflict)
def conflict(exc: Conflict) -> Response:
    return rejected(exc, answers.Conflict(request_id=exc.request_id, errors=problems(exc)))


def rejected(exc: Quarantined, body: answers.Answer) -> Response:
    count(exc.cmd, "rejected")
    logger.info(
        "callback rejected",
        extra={
            "cmd": exc.cmd,
            "request_id": exc.request_id,
            "parameters": [logged_name(e) for e in exc.errors],
        },
    )
    return answer(answers.QUARANTINED_STATUS[type(exc)], body)


# What an error names besides the cmds' own parameters: the parts of the request.
REQUEST_PARTS = frozenset({"request", "body", "content-type"})


def logged_name(error: ParameterError) -> str:
    """The offending parameter's name as the log line gives it: a name the hub knows as it is;
    any other is text the ACD sent (a phone number sent as a name, "02212601599=1" twice with
    other values) and is not logged, as the names of unknown parameters are not (the answer and
    the quarantined request still name it)."""
    name = ascii_lower(error.parameter)
    known = name in REQUEST_PARTS or any(name in known_parameters(cmd) for cmd in CALLBACK_MODELS)
    return error.parameter if known else "(other)"


def problems(exc: Quarantined) -> list[answers.ParameterProblem]:
    return [answers.ParameterProblem(parameter=e.parameter, message=e.message) for e in exc.errors]


@app.exception_handler(Unauthorized)
def unauthorized(exc: Unauthorized) -> Response:
    return unauthorized_answer(str(exc))


@app.not_found
def not_found(_: Exception) -> Response:
    # "/callback/" or "/callback//x" reaching us: an empty or misplaced token, not a wrong URL
    path = app.current_event.path or ""
    if path == "/callback" or path.startswith("/callback/"):
        return unauthorized_answer("missing or misplaced token")
    return answer(HTTPStatus.NOT_FOUND, answers.NotFound())


@app.exception_handler(Forbidden)
def forbidden(exc: Forbidden) -> Response:
    count("invalid", "forbidden")
    refused()
    logger.warning("callback forbidden", extra={"reason": str(exc)})
    return answer(HTTPStatus.FORBIDDEN, answers.Forbidden())


@app.exception_handler(StoreUnavailable)
def store_unavailable(exc: StoreUnavailable) -> Response:
    count("invalid", "store_unavailable")
    logger.error("event store unavailable", extra={"reason": str(exc)})
    return answer(
        HTTPStatus.SERVICE_UNAVAILABLE,
        answers.StoreUnavailable(error="store_unavailable", message="the event was not stored; please retry"),
        headers={"Retry-After": RETRY_AFTER_SECONDS},
    )


@app.exception_handler(TokensUnavailable)
def tokens_unavailable(exc: TokensUnavailable) -> Response:
    count("invalid", "tokens_unavailable")
    # The error code only (e.g. ThrottlingException): never the parameter's value.
    logger.error("callback tokens unavailable", extra={"reason": str(exc)})
    return answer(
        HTTPStatus.SERVICE_UNAVAILABLE,
        answers.StoreUnavailable(
            error="tokens_unavailable", message="the callback could not be checked; please retry"
        ),
        headers={"Retry-After": RETRY_AFTER_SECONDS},
    )


def unauthorized_answer(reason: str) -> Response:
    count("invalid", "unauthorized")
    refused()
    logger.warning("callback unauthorized", extra={"reason": reason})
    return answer(
        HTTPStatus.UNAUTHORIZED,
        answers.Unauthorized(message=f"{reason}: use /callback/<token> or ?token="),
        headers={"WWW-Authenticate": 'Token realm="acd-callback"'},
    )


def count(cmd: str, outcome: str) -> None:
    # Only known cmds become a dimension: garbage must not mint metric series.
    metrics.add_dimension(name="cmd", value=cmd if cmd in CALLBACK_MODELS else "invalid")
    metrics.add_dimension(name="outcome", value=outcome)
    metrics.add_metric(name="Callbacks", unit=MetricUnit.Count, value=1)


def refused() -> None:
    refusals.add_metric(name="RefusedCallbacks", unit=MetricUnit.Count, value=1)


def answer(status: HTTPStatus, body: answers.Answer, headers: dict[str, str] | None = None) -> Response:
    return Response(
        status_code=status.value,
        content_type=content_types.APPLICATION_JSON,
        body=body.body(),
        headers=headers,
    )


def callback_request(event: APIGatewayProxyEventV2, path_token: str | None) -> CallbackRequest:
    """API Gateway's payload 2.0 -> the use case's transport-neutral request (the body as the
    bytes sent)."""
    raw = event.raw_event  # read as Powertools' properties read it, without a wrapper per field
    raw_body = raw.get("body") or ""
    body = (
        base64.b64decode(raw_body)
        if raw.get("isBase64Encoded")
        else raw_body.encode("utf-8", "surrogateescape")
    )
    context = raw["requestContext"]
    http = context["http"]
    return CallbackRequest(
        method=http["method"].upper(),
        path=raw["rawPath"],
        raw_query=raw["rawQueryString"] or "",
        body=body,
        content_type=_header(raw.get("headers"), "content-type"),
        source_ip=http["sourceIp"] or "",
        user_agent=http["userAgent"] or "",
        request_id=context["requestId"] or "",
        # API Gateway hands path parameters over already percent-decoded
        path_token=path_token or None,
    )


def _header(headers: dict[str, str] | None, name: str) -> str:
    """``name``'s value as Powertools' case-insensitive ``event.headers`` gives it (the last of
    any spelling), without copying every header into one."""
    found = ""
    for key, value in (headers or {}).items():
        if key.lower() == name:
            found = value
    return found


def without_body_for_head(event: dict[str, Any], response: dict[str, Any]) -> dict[str, Any]:
    """HEAD answers carry headers only."""
    method = event.get("requestContext", {}).get("http", {}).get("method", "")
    if str(method).upper() == "HEAD":
        response = {**response, "body": "", "isBase64Encoded": False}
    return response


# Never log_event: the request carries the token and phone numbers. False, not left out: left
# out, Powertools' POWERTOOLS_LOGGER_LOG_EVENT=true (a switch to debug with) logged it whole.
@logger.inject_lambda_context(clear_state=True, log_event=False)
@log_metrics(metrics)
@log_metrics(refusals)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return without_body_for_head(event, app.resolve(event, context))
