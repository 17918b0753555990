"""boto3 clients, created once per container. boto3 honours AWS_ENDPOINT_URL, which is how the
local stack and the tests point everything at the moto server."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_sns import SNSClient


def _config() -> object:
    from botocore.config import Config  # noqa: PLC0415

    # The ACD is waiting on the ingest: a few quick retries, then a 503 and let it resend.
    # No client-side parameter validation: botocore walks every attribute of every item against
    # the service model on each call (a third of a stored event's put_item), DynamoDB validates
    # the request anyway, and its ValidationException is what the adapters map to "refused".
    return Config(
        connect_timeout=2,
        read_timeout=5,
        retries={"max_attempts": 3, "mode": "standard"},
        tcp_keepalive=True,
        parameter_validation=False,
    )


@cache
def dynamodb_client(endpoint_url: str = "") -> DynamoDBClient:
    import boto3  # noqa: PLC0415

    return boto3.client("dynamodb", config=_config(), endpoint_url=endpoint_url or None)  # type: ignore[call-overload]


@cache
def sns_client(endpoint_url: str = "") -> SNSClient:
    import boto3  # noqa: PLC0415

    return boto3.client("sns", config=_config(), endpoint_url=endpoint_url or None)  # type: ignore[call-overload]
