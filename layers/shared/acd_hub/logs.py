"""Libraries that print request content at DEBUG: the path token, parameters, item bodies with
phone numbers. They are held at INFO so that even a DEBUG root logger leaks nothing."""

from __future__ import annotations

import logging

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


def quiet_sensitive_loggers() -> None:
    for name in SENSITIVE_AT_DEBUG:
        logger = logging.getLogger(name)
        # its own level, not the effective one: a root logger turned to DEBUG later must not reach it
        if logger.level < logging.INFO:
            logger.setLevel(logging.INFO)
