"""Each function's environment as Lambda would set it, resolved against the local resources."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from acd_devkit.moto_resources import ACCOUNT_ID, ProvisionedResources
from acd_local.spec import StackSpec

LOG = logging.getLogger("acd_local")
STACK_NAME = "acd-callback-hub-local"


def function_environments(
    spec: StackSpec, resources: ProvisionedResources, account_id: str = ACCOUNT_ID
) -> dict[str, dict[str, str]]:
    """Each function's environment as Lambda would set it, with Refs resolved against the local
    resources: tables -> name, topics -> local ARN, parameters -> their default."""
    from acd_devkit import template as tpl  # noqa: PLC0415

    region = resources.region
    refs: dict[str, Any] = {
        "AWS::Region": region,
        "AWS::AccountId": account_id,
        "AWS::Partition": "aws",
        "AWS::StackName": STACK_NAME,
        "AWS::StackId": f"arn:aws:cloudformation:{region}:{account_id}:stack/{STACK_NAME}/local",
        "AWS::URLSuffix": "amazonaws.com",
        "AWS::NoValue": tpl.NO_VALUE,
        **{name: tpl.env_string(value) for name, value in spec.parameters.items()},
    }
    for table, name in resources.table_names.items():
        refs[table] = name
        refs[f"{table}.Arn"] = f"arn:aws:dynamodb:{region}:{account_id}:table/{name}"
        if table in resources.stream_arns:
            refs[f"{table}.StreamArn"] = resources.stream_arns[table]
    for topic, arn in resources.topic_arns.items():
        refs[topic] = arn
        refs[f"{topic}.TopicArn"] = arn
        refs[f"{topic}.TopicName"] = topic
    environments: dict[str, dict[str, str]] = {}
    for function, raw in spec.environments.items():

        def unresolved(name: str, exc: Exception, function: str = function) -> None:
            LOG.warning("%s: %s is left unset locally (cannot resolve %s)", function, name, exc)

        environments[function] = tpl.resolve_environment(raw, refs, unresolved)
    return environments


def merged_environment(environments: Mapping[str, Mapping[str, str]]) -> dict[str, str]:
    """One environment for the whole process.

    Assumption: where two functions set the same variable they set the same value (the
    template's Globals plus disjoint per-function additions), so one process can hold them all.
    Each handler still imports under its own function's environment (see LocalHub), which
    covers settings read at cold start; a conflict is reported, and the first value wins.
    """
    merged: dict[str, str] = {}
    for function, environment in environments.items():
        for name, value in environment.items():
            if name in merged and merged[name] != value:
                LOG.warning("%s sets %s differently from another function; keeping the first", function, name)
                continue
            merged.setdefault(name, value)
    return merged
