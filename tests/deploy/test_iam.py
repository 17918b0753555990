"""IAM is evaluated, not waved through: a copy of the built template whose IngestFunction lacks
its one grant to write the events table (statement StoreEvents), deployed as a second stack,
is refused that write; the same sample is stored by the stack deployed from template.yaml.

The copy lives in the run's temporary directory; template.yaml is not touched."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from acd_deploy.stack import DeployedStack, deployable_copy, sam_deploy
from acd_devkit.lambda_events import callback_event
from sam_local.check import fresh
from tests.deploy.test_samples import invoke

COPY_STACK = "acd-callback-hub-iam-check"
# A sample with a new eventtime: an event neither stack has stored (events/ is test_samples' own).
REQUEST = json.dumps(callback_event("put", fresh("agentstate-put", 0))).encode()


def without_store_grant(template: dict[str, Any]) -> dict[str, Any]:
    policies = template["Resources"]["IngestFunction"]["Properties"]["Policies"]
    statements = policies[0]["Statement"]
    kept = [s for s in statements if s.get("Sid") != "StoreEvents"]
    assert len(kept) == len(statements) - 1, "the template's IngestFunction has no statement StoreEvents"
    policies[0]["Statement"] = kept
    return template


@pytest.fixture(scope="module")
def copy_stack(stack: DeployedStack, work_dir: Path) -> DeployedStack:
    built = work_dir / "build" / "template.yaml"
    copy = deployable_copy(built, "template.iam-check.json", edit=without_store_grant)
    sam_deploy(copy, work_dir, stack.env, stack.clients, stack_name=COPY_STACK)
    deployed = DeployedStack(stack.emulator, stack.clients, COPY_STACK, stack.token, stack.env)
    deployed.refresh()
    return deployed


def test_a_write_the_template_does_not_grant_is_refused(copy_stack: DeployedStack) -> None:
    answer = invoke(copy_stack, "IngestFunction", REQUEST)
    # The token was read from SSM (granted): the callback got as far as the store, which refused.
    assert answer["statusCode"] == 503, answer
    assert json.loads(answer["body"])["error"] == "store_unavailable"
    items = copy_stack.clients.dynamodb.scan(TableName=copy_stack.outputs["EventsTableName"])["Items"]
    assert items == []
    # refused by IAM, as the function's own log line says
    logs = copy_stack.clients.client("logs").filter_log_events(
        logGroupName=f"/aws/lambda/{copy_stack.resources['IngestFunction']}", filterPattern="AccessDenied"
    )["events"]
    assert logs, "no AccessDenied in the function's log"


def test_the_same_write_is_allowed_with_the_template_as_it_is(stack: DeployedStack) -> None:
    answer = invoke(stack, "IngestFunction", REQUEST)
    assert answer["statusCode"] == 200, answer
    assert json.loads(answer["body"])["status"] == "stored"
