"""BoardFunction: the supervisors' board on AWS, the wallboard and the day report of
``acd-report serve`` (acd_cli.wallboard, acd_cli.html_report, shipped in BoardLayer), read-only.

API Gateway lets a request through only with a valid JWT of the board's Cognito user pool (the
HTTP API's JWT authorizer, ``?access_token=``): nothing here checks a login. The routes are
those of ``acd-report serve``, so the one page works under both.

Read-only by IAM: ``Query``/``GetItem``/``BatchGetItem`` on the reports table, nothing else. The
board shows the hotlines the stack names (``BoardHotlines``), else the day's hotlines with KPIs
from the reports table's listing of the day (``HOTLINES#<day>``); it never reads the events table.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import cached_property
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import BotoCoreError, ClientError

from acd_cli.report_context import ReportContext, ReportError, describe_aws_error, parse_day
from acd_cli.wallboard import (
    MAX_AGENTS,
    MAX_HOTLINES,
    BadRequest,
    ReportsBusy,
    Wallboard,
    _bounded_ids,
    _query,
)
from acd_hub.aws import dynamodb_client
from acd_hub.logs import quiet_sensitive_loggers
from acd_hub.ports import Refused, Throttled
from acd_hub.settings import HubSettings

HTML = "text/html; charset=utf-8"


class NoEventListings:
    """Stands in for the events table's listings: the board has no grant on that table."""

    def events_by_cmd_day(self, _cmd: str, _day: str) -> Iterator[dict[str, Any]]:
        return iter(())

    def inbound_hotlines(self, _day: str) -> list[str]:
        # asked for a day the reports table lists no hotline for (html_report.day_hotlines) when
        # BoardHotlines is empty: no hotline, not an AttributeError (a 500)
        return []


class BoardReadPath(ReportContext):
    """acd-report's read path with the function's client (timeouts within API Gateway's 30 s)."""

    @cached_property
    def dynamodb(self) -> Any:
        return dynamodb_client(settings.aws_endpoint_url, interactive=True)

    @cached_property
    def queries(self) -> Any:
        return NoEventListings()


settings = HubSettings()
logger = Logger()
report = BoardReadPath(
    endpoint_url=settings.aws_endpoint_url or None,
    events_table_option=settings.events_table,
    reports_table_option=settings.reports_table,
    zone_option=settings.report_zone,
    shards=settings.cmd_day_shards,
    kpi_shards=settings.kpi_shards,
)
# No drill-down links: the board's API routes /, /api/wallboard and /report only (and its role may
# not read the events table a call's events come from), so a link to /calls was a dead end.
wallboard = Wallboard(report, hotlines=settings.board_hotlines, drilldown=False)
quiet_sensitive_loggers()
app = APIGatewayHttpResolver()


@app.get("/")
def page() -> Response:
    return Response(200, HTML, wallboard.page(), headers={"Cache-Control": "no-store"})


@app.get("/api/wallboard")
def figures() -> Response:
    body = json.dumps(wallboard.snapshot(), ensure_ascii=False, default=str)
    return answer(200, body)


@app.get("/report")
def day_report() -> Response:
    # parsed as `serve` parses it (bounded); access_token is among the parameters, and ignored
    query = _query(app.current_event.raw_query_string or "")
    asked = query.get("day")
    day = parse_day(asked[0] if asked else None, "day") or report.today()
    hotlines = _bounded_ids(query.get("hotline", []), "hotline", MAX_HOTLINES) or settings.board_hotlines
    agents = _bounded_ids(query.get("agent", []), "agent", MAX_AGENTS)
    built = wallboard.day_report(day, hotlines, agents)
    if built is None:
        return answer(503, json.dumps({"error": "another day report is being built; try again"}))
    return Response(200, HTML, built, headers={"Cache-Control": "no-store"})


@app.exception_handler(ReportError)
def bad_day(exc: ReportError) -> Response:
    return answer(400, json.dumps({"error": exc.message}))


@app.exception_handler(BadRequest)
def bad_request(exc: BadRequest) -> Response:
    return answer(400, json.dumps({"error": str(exc)}))


@app.exception_handler(ReportsBusy)
def reports_busy(exc: ReportsBusy) -> Response:
    return answer(503, json.dumps({"error": str(exc)}))


@app.exception_handler(ClientError)
@app.exception_handler(BotoCoreError)
@app.exception_handler(Throttled)  # DynamoDB's throttling as the table adapters raise it
@app.exception_handler(Refused)
def reports_unavailable(exc: Exception) -> Response:
    logger.error("reports unavailable", extra={"reason": str(exc)})
    return answer(503, json.dumps({"error": describe_aws_error(exc, report)}))


def answer(status: int, body: str) -> Response:
    return Response(status, content_types.APPLICATION_JSON, body, headers={"Cache-Control": "no-store"})


# Never log_event: the query string carries the supervisor's token. False, not left out: left
# out, Powertools' POWERTOOLS_LOGGER_LOG_EVENT=true (a switch to debug with) logged it whole.
@logger.inject_lambda_context(clear_state=True, log_event=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
