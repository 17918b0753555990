"""The stack deployed as a user deploys it: the SSM token first, then ``sam build`` and
``sam deploy`` (samconfig.toml's dev parameters) with ``AWS_ENDPOINT_URL`` at the emulator, and
everything else read from the stack's outputs.

Only the build and its output go to the run's temporary directory (``--build-dir``,
``--cache-dir``): nothing is written into the work tree.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from acd_deploy import workarounds
from acd_deploy.emulator import REPO, ROOT_KEY, Emulator
from acd_deploy.steps import REGION, StepFailed, log, tail
from acd_devkit.template import sam_build_args

SAM = REPO / ".venv-sam" / "bin" / "sam"
TEMPLATE = REPO / "template.yaml"
SAMCONFIG = REPO / "samconfig.toml"
STACK_NAME = "acd-callback-hub-dev"  # samconfig.toml's [default] stack_name
TOKEN_PARAMETER = "/acd-callback-hub/dev/callback-tokens"  # noqa: S105 - its name, not a token
# The board turned on as an operator turns it on (README "The board on AWS"): samconfig's
# overrides kept and these added, in one string, since --parameter-overrides replaces the whole of
# samconfig's. The hotlines are acd-sim's.
BOARD_PARAMETERS = {"BoardLogin": "true", "BoardHotlines": "501,502,503"}
BUILD_TIMEOUT = 900
DEPLOY_TIMEOUT = 900
# A real profile or session in the caller's shell must not reach sam (nor AWS).
_UNSET = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")


def aws_environment(endpoint: str) -> dict[str, str]:
    """The environment of every AWS client of the run (sam, the CLIs): the emulator's root key
    and endpoint. ``python3.13`` (for sam build) is found on PATH as make's SAM_ENV puts it."""
    env = {name: value for name, value in os.environ.items() if name not in _UNSET}
    env.update(
        {
            "AWS_ACCESS_KEY_ID": ROOT_KEY,
            "AWS_SECRET_ACCESS_KEY": ROOT_KEY,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_EC2_METADATA_DISABLED": "true",
            "SAM_CLI_TELEMETRY": "0",
        }
    )
    return env


@dataclass
class Clients:
    endpoint: str

    def client(self, service: str) -> Any:
        return boto3.client(
            service,  # type: ignore[call-overload]
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=ROOT_KEY,
            aws_secret_access_key=ROOT_KEY,
            config=Config(retries={"max_attempts": 3, "mode": "standard"}, read_timeout=120),
        )

    @cached_property
    def cloudformation(self) -> Any:
        return self.client("cloudformation")

    @cached_property
    def apigatewayv2(self) -> Any:
        return self.client("apigatewayv2")

    @cached_property
    def lambda_(self) -> Any:
        return self.client("lambda")

    @cached_property
    def dynamodb(self) -> Any:
        return self.client("dynamodb")

    @cached_property
    def sqs(self) -> Any:
        return self.client("sqs")

    @cached_property
    def sns(self) -> Any:
        return self.client("sns")

    @cached_property
    def ssm(self) -> Any:
        return self.client("ssm")

    @cached_property
    def account_id(self) -> str:
        return str(self.client("sts").get_caller_identity()["Account"])


def put_tokens(clients: Clients, tokens: Sequence[str], name: str = TOKEN_PARAMETER) -> None:
    """The SecureString the stack's ingest reads, created before the deploy as the README says."""
    clients.ssm.put_parameter(Name=name, Type="SecureString", Value=",".join(tokens), Overwrite=True)
    log(f"SSM SecureString {name} put ({len(tokens)} tokens)")


def new_token() -> str:
    return "deploy-" + secrets.token_urlsafe(18)


def _run_sam(args: Sequence[str], env: Mapping[str, str], log_path: Path, step: str, timeout: float) -> None:
    command = [str(SAM), *args]
    try:
        with log_path.open("w", encoding="utf-8") as out:
            result = subprocess.run(  # noqa: S603 - our own sam, our own arguments
                command,
                cwd=REPO,
                env=dict(env),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                timeout=timeout,
                check=False,
            )
    except subprocess.TimeoutExpired:
        raise StepFailed(step, f"sam {args[0]} timed out after {timeout:.0f}s (log {log_path})") from None
    if result.returncode != 0:
        raise StepFailed(
            step, f"sam {args[0]} exited {result.returncode} (log {log_path}):\n{tail(log_path)}"
        )


def sam_build(work_dir: Path, env: Mapping[str, str]) -> Path:
    """The project's own ``sam build`` (no container); returns the built template."""
    if not SAM.is_file():
        raise StepFailed("sam build", f"{SAM} is missing: run `make sam-setup`")
    _run_sam(sam_build_args(TEMPLATE, work_dir), env, work_dir / "sam-build.log", "sam build", BUILD_TIMEOUT)
    return work_dir / "build" / "template.yaml"


def deployable_copy(built: Path, name: str = "template.deploy.json", edit: Any = None) -> Path:
    """The built template with the emulator's workarounds (and ``edit``, a test's change)
    applied, written beside it so its relative code paths still resolve."""
    from acd_devkit.template import load_template  # noqa: PLC0415 - cfn-lint loads for a second

    template = workarounds.single_metric_alarms(load_template(built))
    if edit is not None:
        template = edit(template)
    copy = built.parent / name
    copy.write_text(json.dumps(template, indent=1), encoding="utf-8")
    return copy


def parameter_overrides(added: Mapping[str, str]) -> str:
    """samconfig.toml's [default] ``parameter_overrides`` with ``added`` after them (one string)."""
    kept = tomllib.loads(SAMCONFIG.read_text())["default"]["deploy"]["parameters"]["parameter_overrides"]
    return " ".join([kept, *(f"{name}={value}" for name, value in added.items())])


def sam_deploy(
    template: Path,
    work_dir: Path,
    env: Mapping[str, str],
    clients: Clients,
    stack_name: str = STACK_NAME,
    *,
    parameters: Mapping[str, str] | None = None,
) -> None:
    """``sam deploy`` with samconfig.toml's [default] parameters (and ``parameters`` added); only
    the template file, the stack name and the confirmation prompt are given here. A failure names
    the resources that failed."""
    overrides = ["--parameter-overrides", parameter_overrides(parameters)] if parameters else []
    try:
        _run_sam(
            [
                "deploy",
                "--config-file",
                str(SAMCONFIG),
                "--template-file",
                str(template),
                "--stack-name",
                stack_name,
                "--no-confirm-changeset",
                "--no-progressbar",
                *overrides,
            ],
            env,
            work_dir / f"sam-deploy-{stack_name}.log",
            f"sam deploy {stack_name}",
            DEPLOY_TIMEOUT,
        )
    except StepFailed as failed:
        reasons = failed_resources(clients, stack_name)
        if reasons:
            raise StepFailed(failed.step, "resources failed: " + "; ".join(reasons)) from failed
        raise


def failed_resources(clients: Clients, stack_name: str) -> list[str]:
    """``<logical id> (<type>): <reason>`` of each resource whose create or update failed."""
    try:
        events = clients.cloudformation.describe_stack_events(StackName=stack_name)["StackEvents"]
    except Exception:
        return []
    return [
        f"{e['LogicalResourceId']} ({e.get('ResourceType', '?')}): {e.get('ResourceStatusReason', 'no reason given')}"
        for e in events
        if str(e.get("ResourceStatus", "")).endswith("_FAILED") and e["LogicalResourceId"] != stack_name
    ]


@dataclass
class DeployedStack:
    """The stack as a user finds it: its outputs, its resources, its callback URL."""

    emulator: Emulator
    clients: Clients
    stack_name: str
    token: str
    env: dict[str, str]
    outputs: dict[str, str] = field(default_factory=dict)
    resources: dict[str, str] = field(default_factory=dict)
    api_url: str = ""

    @property
    def callback_url(self) -> str:
        """Without the token: acd-sim appends ``/<token>``."""
        return f"{self.api_url}callback"

    def refresh(self) -> None:
        stacks = self.clients.cloudformation.describe_stacks(StackName=self.stack_name)["Stacks"]
        self.outputs = {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}
        self.resources = {
            r["LogicalResourceId"]: r["PhysicalResourceId"]
            for r in self.clients.cloudformation.describe_stack_resources(StackName=self.stack_name)[
                "StackResources"
            ]
        }
        self.api_url = workarounds.local_api_url(self.outputs["HttpApiUrl"], self.emulator.endpoint)


def deploy(emulator: Emulator, work_dir: Path, tokens: Sequence[str]) -> DeployedStack:
    """The token, the build, the deploy, the routes: the stack as ``make deploy-test`` tests it."""
    env = aws_environment(emulator.endpoint)
    clients = Clients(emulator.endpoint)
    put_tokens(clients, tokens)
    log("sam build ...")
    built = sam_build(work_dir, env)
    log("sam deploy ...")
    sam_deploy(deployable_copy(built), work_dir, env, clients, parameters=BOARD_PARAMETERS)
    workarounds.add_http_api_routes(clients, STACK_NAME, REGION)
    stack = DeployedStack(emulator, clients, STACK_NAME, tokens[0], env)
    stack.refresh()
    log(f"stack {STACK_NAME} deployed: {len(stack.resources)} resources, callback API at {stack.api_url}")
    return stack
