"""The options that say where the hub is, shared by ``acd-report`` and ``acd-admin``: the local
stack or an AWS account, the stack or the tables, and how the listings are sharded."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypedDict
from urllib.parse import urlsplit

import click
from botocore.utils import is_valid_endpoint_url, is_valid_ipv6_endpoint_url

from acd_cli.report_context import ReportError, given, option_flag, text_value


def _endpoint_url(_ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """An http(s) URL botocore can send to (empty: none, as an empty ``AWS_ENDPOINT_URL``):
    anything else is a one-line error here, not a ``ValueError`` from botocore at the first call."""
    if not value:
        return value
    try:
        parts = urlsplit(value)
        _ = parts.port  # a port out of range or not a number: ValueError
        host = is_valid_endpoint_url(value) or is_valid_ipv6_endpoint_url(value)
        valid = parts.scheme in ("http", "https") and bool(host)
    except ValueError:  # the port, or a broken [IPv6] host
        valid = False
    if not valid:
        raise ReportError(
            f"{option_flag(param)}: {value!r} is not an http(s) URL (e.g. http://127.0.0.1:5000)"
        )
    return value


CONNECTION_OPTIONS = (
    click.option(
        "--endpoint-url",
        envvar="AWS_ENDPOINT_URL",
        callback=_endpoint_url,
        show_envvar=True,
        help="Local stack (moto server), e.g. http://127.0.0.1:5000. Tables (and acd-admin's queues "
        "and topics) then default to the template's logical ids, the region to eu-central-1 and "
        "credentials to dummies.",
    ),
    click.option("--profile", callback=text_value, help="AWS profile."),
    click.option("--region", callback=text_value, help="AWS region."),
    click.option(
        "--stack-name",
        callback=text_value,
        help="Read the table names (and acd-admin's queues, topics and settings) from this "
        "CloudFormation stack's outputs and parameters.",
    ),
    click.option(
        "--events-table", callback=text_value, help="Events table name (overrides the stack output)."
    ),
    click.option(
        "--reports-table", callback=text_value, help="Reports table name (overrides the stack output)."
    ),
    click.option(
        "--shards",
        type=click.IntRange(1, 64),
        default=8,
        show_default=True,
        envvar="ACD_CMD_DAY_SHARDS",
        show_envvar=True,
        help="Shards of the by-cmd-day listings, the quarantine and the live board; must match "
        "the stack's ACD_CMD_DAY_SHARDS.",
    ),
)


class Connection(TypedDict):
    """Where the hub is, as the options say it: the fields of ``ReportContext`` they set."""

    endpoint_url: str | None
    profile: str | None
    region: str | None
    stack_name: str | None
    events_table_option: str | None
    reports_table_option: str | None
    shards: int
    shards_given: bool


def connection_options[R](command: Callable[..., R]) -> Callable[..., R]:
    """``--endpoint-url``, ``--profile``, ``--region``, ``--stack-name``, ``--events-table``,
    ``--reports-table`` and ``--shards``, in that order in ``--help``; the command gets them as
    one ``connection`` (:class:`Connection`)."""

    @functools.wraps(command)
    def with_connection(
        *args: Any,
        endpoint_url: str | None,
        profile: str | None,
        region: str | None,
        stack_name: str | None,
        events_table: str | None,
        reports_table: str | None,
        shards: int,
        **kwargs: Any,
    ) -> R:
        connection = Connection(
            endpoint_url=endpoint_url or None,
            profile=profile,
            region=region,
            stack_name=stack_name,
            events_table_option=events_table,
            reports_table_option=reports_table,
            shards=shards,
            # given on the command line or in the environment: checked against the stack's
            shards_given=given(click.get_current_context(), "shards"),
        )
        return command(*args, connection=connection, **kwargs)

    for option in reversed(CONNECTION_OPTIONS):
        with_connection = option(with_connection)
    return with_connection
