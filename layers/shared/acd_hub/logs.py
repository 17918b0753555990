"""What the functions write besides their own log lines: library loggers held quiet, and one EMF
metrics line per invocation."""

from __future__ import annotations

import functools
import json
import logging
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aws_lambda_powertools import Metrics
    from aws_lambda_powertools.metrics import EphemeralMetrics

Handler = Callable[[Any, Any], Any]

# Libraries that print request content at DEBUG: the path token, parameters, item bodies with
# phone numbers. They are held at INFO so that even a DEBUG root logger leaks nothing.
SENSITIVE_AT_DEBUG = (
    "aws_lambda_powertools.event_handler.api_gateway",  # route arguments (the token), paths
    "botocore.endpoint",  # request bodies: stored items with raw phone numbers
    "botocore.parsers",  # response bodies
    "botocore.hooks",
    "botocore.auth",
    "botocore.retryhandler",
    "urllib3.connectionpool",
    "werkzeug",  # moto server's request lines (local only)
)


def log_serializer() -> Callable[[dict[str, Any]], str]:
    """What Powertools' Logger serializes a log line with by default (compact JSON, indented when
    ``POWERTOOLS_DEV`` is on, ``str`` for the rest), its encoder made once instead of per line."""
    from aws_lambda_powertools.shared import constants  # noqa: PLC0415  (the Logger's, loaded with it)
    from aws_lambda_powertools.shared.functions import strtobool  # noqa: PLC0415

    dev = strtobool(os.getenv(constants.POWERTOOLS_DEV_ENV, "0"))
    return json.JSONEncoder(
        default=str,
        separators=(",", ":"),
        indent=constants.PRETTY_INDENT if dev else constants.COMPACT_INDENT,
        ensure_ascii=False,
    ).encode


def lean_log_records() -> None:
    """Log records without the thread, process and asyncio task names that ``logging`` looks up
    for every record: no formatter of the hub prints them (Powertools' JSON lines leave them out),
    and a function runs one request at a time. Process-wide, so a function calls it once."""
    for lookup in ("logThreads", "logProcesses", "logMultiprocessing", "logAsyncioTasks"):
        setattr(logging, lookup, False)


def quiet_sensitive_loggers() -> None:
    for name in SENSITIVE_AT_DEBUG:
        logger = logging.getLogger(name)
        # its own level, not the effective one: a root logger turned to DEBUG later must not reach it
        if logger.level < logging.INFO:
            logger.setLevel(logging.INFO)


def log_metrics(metrics: Metrics | EphemeralMetrics) -> Callable[[Handler], Handler]:
    """The invocation's metrics as one EMF line at its end, and none carried into the next.

    Powertools' own ``@metrics.log_metrics`` does not do both (3.37): it warns on every
    invocation that counted nothing (a 404 counts nothing), and when ``POWERTOOLS_METRICS_DISABLED``
    is set (the local stack sets it) it keeps the metric set as it is, so the next invocation warns
    of every dimension added again and ``add_metric`` prints an EMF line at 100 values anyway.
    """

    def decorate(handler: Handler) -> Handler:
        @functools.wraps(handler)
        def invoke(event: Any, context: Any) -> Any:
            try:
                return handler(event, context)
            finally:
                if metrics.metric_set:
                    metrics.flush_metrics()
                metrics.clear_metrics()

        return invoke

    return decorate
