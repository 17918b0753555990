"""boto3 clients, created once per container. boto3 honours AWS_ENDPOINT_URL, which is how the
local stack and the tests point everything at the moto server.

Time budgets. The ingest answers a waiting ACD through API Gateway, whose integration limit is
30 s, from a function with :data:`INGEST_FUNCTION_TIMEOUT` seconds: every client call it makes
must give up well inside that, so a slow DynamoDB or SSM ends in the designed 503 (the ACD
resends) and never in a function timeout (a bare 5xx from the gateway). One call costs at most
``attempts x (connect + read)`` plus botocore's backoff between attempts ("standard" mode: a
random share of 2^n s, n counting from 0); :func:`worst_case_seconds` adds that up and the tests
hold the ingest's calls (``INGEST_CALLS``) inside the template's timeout. Stream consumers are not
waited on: they keep longer timeouts and more attempts, within their own 60 s.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_ssm import SSMClient


@dataclass(frozen=True)
class ClientBudget:
    connect_timeout: float
    read_timeout: float
    max_attempts: int  # the first call included (botocore's total_max_attempts)

    def worst_case_seconds(self) -> float:
        backoff = sum(2.0**attempt for attempt in range(self.max_attempts - 1))
        return self.max_attempts * (self.connect_timeout + self.read_timeout) + backoff


# The ingest's calls: a PutItem answers in milliseconds, so 1 s to read is already generous.
INTERACTIVE = ClientBudget(connect_timeout=1, read_timeout=1, max_attempts=2)
# Stream consumers: transactions of up to 100 items, and nobody waiting on the answer.
BACKGROUND = ClientBudget(connect_timeout=2, read_timeout=5, max_attempts=3)
# At most per callback: SSM GetParameter (a cold start or a cache refresh), the callevent's key
# claim, the event itself, and taking the claim back when the event is refused.
INGEST_CALLS = 4
# IngestFunction's Timeout in template.yaml (the tests hold the two equal).
INGEST_FUNCTION_TIMEOUT = 25
API_GATEWAY_INTEGRATION_LIMIT = 30


def worst_case_seconds(budget: ClientBudget, calls: int) -> float:
    return calls * budget.worst_case_seconds()


def _config(budget: ClientBudget) -> Any:
    from botocore.config import Config  # noqa: PLC0415

    # No client-side parameter validation: botocore walks every attribute of every item against
    # the service model on each call (a third of a stored event's put_item), DynamoDB validates
    # the request anyway, and its ValidationException is what the adapters map to "refused".
    return Config(
        connect_timeout=budget.connect_timeout,
        read_timeout=budget.read_timeout,
        retries={"total_max_attempts": budget.max_attempts, "mode": "standard"},
        tcp_keepalive=True,
        parameter_validation=False,
    )


@cache
def dynamodb_client(endpoint_url: str = "", *, interactive: bool = False) -> DynamoDBClient:
    import boto3  # noqa: PLC0415

    budget = INTERACTIVE if interactive else BACKGROUND
    return boto3.client("dynamodb", config=_config(budget), endpoint_url=endpoint_url or None)  # type: ignore[call-overload]


@cache
def sns_client(endpoint_url: str = "") -> SNSClient:
    import boto3  # noqa: PLC0415

    return boto3.client("sns", config=_config(BACKGROUND), endpoint_url=endpoint_url or None)  # type: ignore[call-overload]


@cache
def ssm_client(endpoint_url: str = "") -> SSMClient:
    import boto3  # noqa: PLC0415

    return boto3.client("ssm", config=_config(INTERACTIVE), endpoint_url=endpoint_url or None)  # type: ignore[call-overload]
