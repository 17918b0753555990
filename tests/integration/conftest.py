"""Integration fixtures: a moto server over real HTTP, and the template's resources on it.

moto keeps its state in process-wide globals: every moto server in this process (this one, a
``LocalHub`` of another test) serves the same tables. ``aws_resources`` therefore resets
moto before each test that uses it, and tests never rely on state left by another test.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from click.testing import Result
from moto.server import ThreadedMotoServer

from acd_devkit import moto_fixes
from acd_devkit.moto_resources import (
    REGION,
    UNSET_AWS_ENV,
    AwsClients,
    ProvisionedResources,
    aws_clients,
    moto_env,
    provision,
    reset_moto,
)
from acd_devkit.waitress_servers import MotoServer
from acd_local.hub import HOST, LocalHub
from acd_local.spec import StackSpec
from tests.support import free_port


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """A moto server on a free 127.0.0.1 port; boto3 in this process points at it. Yields the
    endpoint URL (``http://127.0.0.1:<port>``)."""
    # thread-safe transactions at DynamoDB's cost, behind the same server as acd-local's moto
    # process has them (the unit tests run on DynamoDB in memory instead, and the contract suite
    # on moto as released)
    moto_fixes.install()
    server = MotoServer(HOST, 0)
    server.start()
    endpoint = f"http://{HOST}:{server.get_host_and_port()[1]}"
    try:
        with pytest.MonkeyPatch.context() as env:
            for name in UNSET_AWS_ENV:
                env.delenv(name, raising=False)
            for name, value in {**moto_env(), "AWS_ENDPOINT_URL": endpoint}.items():
                env.setenv(name, value)
            yield endpoint
    finally:
        server.stop()


@pytest.fixture(scope="session")
def stack_spec() -> StackSpec:
    """What ``template.yaml`` declares (tables, topics, stream mappings, routes)."""
    try:
        return StackSpec.load()
    except (ImportError, FileNotFoundError) as exc:
        pytest.fail(f"template.yaml or its reader is not available: {exc}")


@pytest.fixture
def clean_moto(moto_server: str) -> str:
    """The moto endpoint with all state dropped."""
    reset_moto(moto_server)
    return moto_server


@pytest.fixture
def aws_resources(clean_moto: str, stack_spec: StackSpec) -> ProvisionedResources:
    """The template's tables (streams, TTL), topics with a subscriber queue each, and a DLQ per
    stream consumer, freshly created on the moto server — the same code ``acd-local`` runs."""
    return provision(clean_moto, stack_spec)


@pytest.fixture
def aws(moto_server: str) -> AwsClients:
    """dynamodb, streams, sns and sqs clients bound to the moto server."""
    return aws_clients(moto_server)


# --- report tests: their own moto server, and a log of the operations their clients make ---


def moto_client(url: str, service: str = "dynamodb") -> Any:
    """A boto3 client of ``service`` on the moto server at ``url``."""
    return boto3.client(service, endpoint_url=url, region_name=REGION)  # type: ignore[call-overload]


def create_table_stack(url: str, stack: str, events_table: str, reports_table: str) -> None:
    """A CloudFormation stack on the moto server whose outputs name these tables, as the
    deployed template's do (what ``--stack-name`` reads)."""
    moto_client(url, "cloudformation").create_stack(
        StackName=stack,
        TemplateBody=json.dumps(
            {
                "Resources": {"Marker": {"Type": "AWS::SQS::Queue"}},
                "Outputs": {
                    "EventsTableName": {"Value": events_table},
                    "ReportsTableName": {"Value": reports_table},
                },
            }
        ),
    )


def ok(result: Result) -> str:
    """The output of a CLI run that succeeded."""
    assert result.exit_code == 0, (result.output, result.exception)
    return result.stdout


def one_line_error(result: Result) -> str:
    """The one line a CLI run that a usage error stopped wrote (no traceback, no output)."""
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)  # not a traceback
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")
    return lines[0]


class CallLog:
    """Every DynamoDB operation a client made; each Query gets a small ``Limit``."""

    PAGE = 2  # every Query is paged this small, so pagination is exercised

    def __init__(self) -> None:
        self.operations: list[str] = []

    def attach(self, client: Any) -> Any:
        events = client.meta.events
        events.register("before-call.dynamodb", self._record)
        events.register("provide-client-params.dynamodb.Query", self._page_small)
        return client

    def _record(self, model: Any, **_: Any) -> None:
        self.operations.append(model.name)

    @staticmethod
    def _page_small(params: dict[str, Any], **_: Any) -> None:
        params.setdefault("Limit", CallLog.PAGE)

    def reads(self) -> set[str]:
        return set(self.operations)


@pytest.fixture(scope="module")
def aws_env() -> Iterator[None]:
    """No real AWS anywhere: dummy credentials, no profile files, no instance metadata."""
    with pytest.MonkeyPatch.context() as patch:
        for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
            patch.delenv(name, raising=False)
        patch.setenv("AWS_ACCESS_KEY_ID", "testing")
        patch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        patch.setenv("AWS_DEFAULT_REGION", "eu-central-1")
        patch.setenv("AWS_CONFIG_FILE", "/nonexistent/aws-config")
        patch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/aws-credentials")
        patch.setenv("AWS_EC2_METADATA_DISABLED", "true")
        for name in ("ACD_REPORT_TIMEZONE", "ACD_CMD_DAY_SHARDS"):
            patch.delenv(name, raising=False)
        yield


@pytest.fixture(scope="module")
def moto_url(aws_env: None) -> Iterator[str]:
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{port}"
    # moto's state is process-wide: a module must not meet the tables another module's tests
    # left on the session's server (test_store_faults, then test_reporting: "Table already exists")
    reset_moto(url)
    try:
        yield url
    finally:
        server.stop()


@pytest.fixture
def log() -> CallLog:
    return CallLog()


@pytest.fixture
def cli_log(monkeypatch: pytest.MonkeyPatch, log: CallLog) -> CallLog:
    """Record the operations of acd-report's own clients too."""
    from acd_cli import report_context  # noqa: PLC0415

    original = report_context.ReportContext.client

    def client(self: report_context.ReportContext, service: str) -> Any:
        made = original(self, service)
        return log.attach(made) if service == "dynamodb" else made

    monkeypatch.setattr(report_context.ReportContext, "client", client)
    return log


# --- the local stack's tests: a LocalHub of stand-in functions (test_local_stack's) ---


@pytest.fixture
def standin_stack(tmp_path: Path, moto_server: str) -> Iterator[LocalHub]:
    """A LocalHub of stand-in functions on free ports: an echo function and a consumer writing
    its batches (``moto_server`` only fixes the env the stack must restore)."""
    from tests.integration.test_local_stack import TOKEN, standin_spec  # noqa: PLC0415 - a test module's

    # One container of the echo function: the tests read its module state.
    with LocalHub(
        port=0, aws_port=0, tokens=[TOKEN], spec=standin_spec(tmp_path), retry_delay=0.01, http_concurrency=1
    ) as stack:
        yield stack
