"""The ingest's time budget on AWS: every client call gives up inside the function's timeout,
which is inside API Gateway's 30 s integration limit, so a slow DynamoDB or SSM ends in the
designed 503 with Retry-After; and SSM throttled in a cold-start burst is a 503 too, not a 500."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError, ConnectTimeoutError
from botocore.stub import Stubber

from acd_devkit.template import load_template
from acd_hub import aws
from acd_hub.adapters.ssm_tokens import parameter_reader
from acd_hub.auth import STALE_RETRY_SECONDS, cached_tokens
from acd_hub.errors import TokensUnavailable
from acd_hub.ingest import CallbackIngest
from acd_hub.settings import HubSettings
from tests.support import (
    TOKEN,
    MemoryStore,
    function_log,
    ingest_answer,
    ingest_module,
)
from tests.template.test_template import TEMPLATE

PARAMETER = "/acd-callback-hub/test/callback-tokens"


def test_ingest_calls_end_inside_the_function_and_gateway_limits() -> None:
    ingest = load_template(TEMPLATE)["Resources"]["IngestFunction"]["Properties"]
    assert ingest["Timeout"] == aws.INGEST_FUNCTION_TIMEOUT
    worst = aws.worst_case_seconds(aws.INTERACTIVE, aws.INGEST_CALLS)
    # a second of the function's own work besides the calls
    assert worst + 1 <= aws.INGEST_FUNCTION_TIMEOUT < aws.API_GATEWAY_INTEGRATION_LIMIT


def test_the_ingest_clients_are_configured_with_the_interactive_budget(fake_aws: None) -> None:
    clients = (
        aws.dynamodb_client("http://127.0.0.1:9", interactive=True),
        aws.ssm_client("http://127.0.0.1:9"),
    )
    aws.dynamodb_client.cache_clear()
    aws.ssm_client.cache_clear()
    for client in clients:
        config = client.meta.config
        assert (config.connect_timeout, config.read_timeout) == (
            aws.INTERACTIVE.connect_timeout,
            aws.INTERACTIVE.read_timeout,
        )
        assert config.retries["total_max_attempts"] == aws.INTERACTIVE.max_attempts


def test_a_budget_counts_attempts_and_backoff() -> None:
    # 3 attempts of (1 + 2) s, and backoffs of at most 1 s and 2 s between them
    assert aws.ClientBudget(connect_timeout=1, read_timeout=2, max_attempts=3).worst_case_seconds() == 12


@pytest.fixture
def ssm() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client(
        "ssm", region_name="eu-central-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    with Stubber(client) as stubber:
        yield client, stubber


def _answer(stubber: Stubber, value: str) -> None:
    stubber.add_response(
        "get_parameter",
        {"Parameter": {"Name": PARAMETER, "Type": "SecureString", "Value": value}},
        {"Name": PARAMETER, "WithDecryption": True},
    )


def test_ssm_throttled_is_tokens_unavailable(ssm: tuple[Any, Stubber]) -> None:
    client, stubber = ssm
    stubber.add_client_error("get_parameter", service_error_code="ThrottlingException", http_status_code=400)
    with pytest.raises(TokensUnavailable, match="ThrottlingException"):
        cached_tokens(parameter_reader(PARAMETER, client=client), 300)()


def test_ssm_unreachable_is_tokens_unavailable() -> None:
    class Unreachable:
        def get_parameter(self, **_kwargs: Any) -> Any:
            raise ConnectTimeoutError(endpoint_url="https://ssm.eu-central-1.amazonaws.com")

    with pytest.raises(TokensUnavailable, match="ConnectTimeoutError"):
        cached_tokens(parameter_reader(PARAMETER, client=Unreachable()), 300)()


def test_a_missing_parameter_stays_an_error_of_the_deployment(ssm: tuple[Any, Stubber]) -> None:
    client, stubber = ssm
    stubber.add_client_error("get_parameter", service_error_code="ParameterNotFound", http_status_code=400)
    with pytest.raises(ClientError):
        cached_tokens(parameter_reader(PARAMETER, client=client), 300)()


def test_tokens_are_cached_and_kept_while_ssm_is_throttled(ssm: tuple[Any, Stubber]) -> None:
    client, stubber = ssm
    now = [0.0]
    fetch = cached_tokens(parameter_reader(PARAMETER, client=client), 300, clock=lambda: now[0])
    _answer(stubber, "old, other")
    assert fetch() == ("old", "other")
    now[0] = 299
    assert fetch() == ("old", "other")  # cached: no call (the stubber would refuse one)
    now[0] = 301
    stubber.add_client_error("get_parameter", service_error_code="ThrottlingException", http_status_code=400)
    assert fetch() == ("old", "other")  # stale, but better than refusing the ACD
    now[0] = 301 + STALE_RETRY_SECONDS - 1
    assert fetch() == ("old", "other")  # SSM not asked again by every callback meanwhile
    now[0] = 301 + STALE_RETRY_SECONDS
    _answer(stubber, "new")
    assert fetch() == ("new",)
    stubber.assert_no_pending_responses()


def test_while_ssm_is_throttled_it_is_not_asked_by_every_callback() -> None:
    # Each callback asking a throttled SSM again kept the account's quota spent (cold starts,
    # with no tokens to fall back on, answered 503) and a slow SSM cost each its time budget.
    asked = [0]
    now = [0.0]

    def read() -> tuple[str, ...]:
        asked[0] += 1
        if asked[0] > 1:
            raise TokensUnavailable("ThrottlingException")
        return ("old",)

    fetch = cached_tokens(read, 300, clock=lambda: now[0])
    assert fetch() == ("old",)
    now[0] = 300
    for _ in range(5):
        assert fetch() == ("old",)
    assert asked[0] == 2
    now[0] = 300 + STALE_RETRY_SECONDS
    assert fetch() == ("old",)
    assert asked[0] == 3


def test_the_ingest_answers_503_with_retry_after_when_ssm_is_throttled() -> None:
    def throttled() -> tuple[str, ...]:
        raise TokensUnavailable("ThrottlingException")

    ingest = CallbackIngest(HubSettings(), MemoryStore(), throttled)
    with function_log(ingest_module()) as log:
        answer = ingest_answer(ingest, f"/callback/{TOKEN}?cmd=agentstate&agentid=12")
    assert answer["statusCode"] == 503
    assert answer["headers"]["Retry-After"] == "5"
    assert json.loads(answer["body"])["error"] == "tokens_unavailable"
    assert "ThrottlingException" in log.getvalue()
    assert TOKEN not in log.getvalue()


@pytest.mark.parametrize("value", [",", " , ", " "])
def test_a_parameter_without_a_token_is_a_503_not_a_401(ssm: tuple[Any, Stubber], value: str) -> None:
    # Our fault, not the caller's: a 401 "no token configured" told anyone that no token exists,
    # and the ACD to fix its URL and drop the event; a 503 it retries once the parameter is fixed.
    client, stubber = ssm
    _answer(stubber, value)
    tokens = cached_tokens(parameter_reader(PARAMETER, client=client), 300)
    ingest = CallbackIngest(HubSettings(), MemoryStore(), tokens)
    with function_log(ingest_module()) as log:
        answer = ingest_answer(ingest, f"/callback/{TOKEN}?cmd=agentstate&agentid=12")
    assert answer["statusCode"] == 503
    assert answer["headers"]["Retry-After"] == "5"
    assert json.loads(answer["body"])["error"] == "tokens_unavailable"
    assert "configured" not in answer["body"]
    assert "no callback token configured" in log.getvalue()


def test_the_ingests_token_source_reads_the_securestring(fake_aws: None) -> None:
    from moto import mock_aws  # noqa: PLC0415

    from acd_hub.auth import token_source  # noqa: PLC0415

    aws.ssm_client.cache_clear()
    try:
        with mock_aws():
            boto3.client("ssm").put_parameter(Name=PARAMETER, Value="one, two", Type="SecureString")
            assert token_source(HubSettings(token_parameter=PARAMETER))() == ("one", "two")
    finally:
        aws.ssm_client.cache_clear()
