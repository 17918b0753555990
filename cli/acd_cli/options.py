"""The options that say where the hub is, shared by ``acd-report`` and ``acd-admin``: the local
stack or an AWS account, the stack or the tables, and how the listings are sharded."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

CONNECTION_OPTIONS = (
    click.option(
        "--endpoint-url",
        envvar="AWS_ENDPOINT_URL",
        show_envvar=True,
        help="Local stack (moto server), e.g. http://127.0.0.1:5000. Tables (and acd-admin's queues "
        "and topics) then default to the template's logical ids, the region to eu-central-1 and "
        "credentials to dummies.",
    ),
    click.option("--profile", help="AWS profile."),
    click.option("--region", help="AWS region."),
    click.option(
        "--stack-name",
        help="Read the table names (and acd-admin's queues, topics and settings) from this "
        "CloudFormation stack's outputs and parameters.",
    ),
    click.option("--events-table", help="Events table name (overrides the stack output)."),
    click.option("--reports-table", help="Reports table name (overrides the stack output)."),
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


def connection_options[F: Callable[..., Any]](command: F) -> F:
    """``--endpoint-url``, ``--profile``, ``--region``, ``--stack-name``, ``--events-table``,
    ``--reports-table`` and ``--shards``, in that order in ``--help``."""
    for option in reversed(CONNECTION_OPTIONS):
        command = option(command)
    return command
