"""The callback endpoint on Powertools' HTTP API resolver: routes, and the one place where
domain outcomes and errors become HTTP answers."""

from __future__ import annotations

import base64
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2

from acd_hub.errors import Forbidden, StoreUnavailable, Unauthorized
from acd_hub.ingest import CallbackIngest, Rejected
from acd_hub.items import CallbackRequest
from acd_hub.logs import quiet_sensitive_loggers
from acd_hub.models import CALLBACK_MODELS

METHODS = ["GET", "HEAD", "PUT", "POST"]
RETRY_AFTER_SECONDS = "5"
CONFLICT = 409
# How to pass the token, in every 401: an ACD integrator reads this body, not our README.
TOKEN_HINT = {
    "path": "/callback/<token> (recommended: it survives any '?' the ACD appends)",
    "query": "/callback?token=<token>",
}


def callback_request(event: APIGatewayProxyEventV2, path_token: str | None) -> CallbackRequest:
    """API Gateway's payload 2.0 -> our transport-neutral request (body as the bytes sent)."""
    raw_body = event.body or ""
    body = (
        base64.b64decode(raw_body) if event.is_base64_encoded else raw_body.encode("utf-8", "surrogateescape")
    )
    context = event.request_context
    return CallbackRequest(
        method=event.request_context.http.method.upper(),
        path=event.raw_path,
        raw_query=event.raw_query_string or "",
        body=body,
        content_type=event.headers.get("content-type", "") if event.headers else "",
        source_ip=context.http.source_ip or "",
        user_agent=context.http.user_agent or "",
        request_id=context.request_id or "",
        # API Gateway hands path parameters over already percent-decoded
        path_token=path_token or None,
    )


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    return Response(
        status_code=status, content_type=content_types.APPLICATION_JSON, body=body, headers=headers
    )


def build_resolver(ingest: CallbackIngest, logger: Logger, metrics: Metrics) -> APIGatewayHttpResolver:
    quiet_sensitive_loggers()
    app = APIGatewayHttpResolver()

    def count(cmd: str, outcome: str) -> None:
        # Only known cmds become a dimension: garbage must not mint metric series.
        metrics.add_dimension(name="cmd", value=cmd if cmd in CALLBACK_MODELS else "invalid")
        metrics.add_dimension(name="outcome", value=outcome)
        metrics.add_metric(name="Callbacks", unit=MetricUnit.Count, value=1)

    def receive(token: str | None) -> Response:
        request = callback_request(app.current_event, token)
        stored = ingest.handle(request)
        count(stored.cmd, stored.outcome)
        logger.info(
            "callback stored" if not stored.duplicate else "duplicate callback",
            extra={"cmd": stored.cmd, "event_key": stored.event_key, "outcome": stored.outcome},
        )
        # event_time shows the integrator how their timestamp was read (UTC)
        return _json(
            200,
            {
                "status": stored.outcome,
                "cmd": stored.cmd,
                "event_key": stored.event_key,
                "event_time": stored.event_time,
                "day": stored.day,
            },
        )

    @app.route("/callback", method=METHODS)
    def callback() -> Response:
        return receive(None)

    @app.route("/callback/<token>", method=METHODS)
    def callback_with_token(token: str) -> Response:
        return receive(token)

    @app.exception_handler(Rejected)
    def rejected(exc: Rejected) -> Response:
        count(exc.cmd, "rejected")
        logger.info(
            "callback rejected",
            extra={
                "cmd": exc.cmd,
                "request_id": exc.request_id,
                "parameters": [e.parameter for e in exc.errors],
            },
        )
        conflict = exc.status == CONFLICT
        return _json(
            exc.status,
            {
                "error": "conflict" if conflict else "bad_request",
                "message": (
                    "the event key is already stored with other content; this request is kept for "
                    "inspection under request_id"
                    if conflict
                    else "the callback was not stored; it is kept for inspection under request_id"
                ),
                "request_id": exc.request_id,
                "errors": [e.as_dict() for e in exc.errors],
            },
        )

    def unauthorized_answer(reason: str) -> Response:
        count("invalid", "unauthorized")
        logger.warning("callback unauthorized", extra={"reason": reason})
        return _json(
            401,
            {
                "error": "unauthorized",
                "message": f"{reason}: use /callback/<token> or ?token=",
                "token": TOKEN_HINT,
            },
            headers={"WWW-Authenticate": 'Token realm="acd-callback"'},
        )

    @app.exception_handler(Unauthorized)
    def unauthorized(exc: Unauthorized) -> Response:
        return unauthorized_answer(str(exc))

    @app.not_found
    def not_found(_: Exception) -> Response:
        # "/callback/" or "/callback//x" reaching us: an empty or misplaced token, not a wrong URL
        path = app.current_event.path or ""
        if path == "/callback" or path.startswith("/callback/"):
            return unauthorized_answer("missing or misplaced token")
        return _json(
            404, {"error": "not_found", "message": "not found: the callback URL is /callback/<token>"}
        )

    @app.exception_handler(Forbidden)
    def forbidden(exc: Forbidden) -> Response:
        count("invalid", "forbidden")
        logger.warning("callback forbidden", extra={"reason": str(exc)})
        return _json(403, {"error": "forbidden", "message": "source address not allowed"})

    @app.exception_handler(StoreUnavailable)
    def store_unavailable(exc: StoreUnavailable) -> Response:
        count("invalid", "store_unavailable")
        logger.error("event store unavailable", extra={"reason": str(exc)})
        return _json(
            503,
            {"error": "store_unavailable", "message": "the event was not stored; please retry"},
            headers={"Retry-After": RETRY_AFTER_SECONDS},
        )

    return app


def without_body_for_head(event: dict[str, Any], response: dict[str, Any]) -> dict[str, Any]:
    """HEAD answers carry headers only."""
    method = event.get("requestContext", {}).get("http", {}).get("method", "")
    if str(method).upper() == "HEAD":
        response = {**response, "body": "", "isBase64Encoded": False}
    return response
