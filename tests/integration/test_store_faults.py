"""The store unavailable or throttled: the ingest answers 503 with Retry-After, writes nothing
partial, and the same request succeeds once the store is back."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.stub import Stubber

from acd_hub.adapters.events_table import EventsTable
from acd_hub.auth import static_tokens
from acd_hub.ingest import CallbackIngest
from acd_hub.settings import HubSettings
from tests.support import TOKEN, free_port, ingest_answer

QUERY = "cmd=agentstate&agentid=100321&mode=0&state=online&eventtime=1763629200000"


def answer(client: Any, query: str = QUERY) -> dict[str, Any]:
    settings = HubSettings(callback_tokens=[TOKEN])
    ingest = CallbackIngest(settings, EventsTable(client, settings.events_table), static_tokens(settings))
    return ingest_answer(ingest, f"/callback/{TOKEN}?{query}")


def events_in(client: Any) -> int:
    result = client.query(
        TableName="EventsTable",
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": "AGENT#100321#2025-11-20"}},
        ConsistentRead=True,
    )
    return int(result["Count"])


def test_store_down_then_back(aws_resources: Any, moto_server: str) -> None:
    # nothing listens on this port: connection refused, like an unreachable DynamoDB endpoint
    dead = boto3.client(
        "dynamodb",
        endpoint_url=f"http://127.0.0.1:{free_port()}",
        config=Config(connect_timeout=1, read_timeout=1, retries={"max_attempts": 2}),
    )
    down = answer(dead)
    assert down["statusCode"] == 503
    assert down["headers"]["Retry-After"] == "5"
    assert json.loads(down["body"])["error"] == "store_unavailable"
    live = boto3.client("dynamodb", endpoint_url=moto_server)
    assert events_in(live) == 0  # nothing partial
    back = answer(live)
    assert (back["statusCode"], json.loads(back["body"])["status"]) == (200, "stored")
    assert events_in(live) == 1


@pytest.mark.parametrize(
    "code", ["ProvisionedThroughputExceededException", "ThrottlingException", "InternalServerError"]
)
def test_throttled_store_is_503_and_bad_input_still_never_lost(
    aws_resources: Any, moto_server: str, code: str
) -> None:
    client = boto3.client("dynamodb", endpoint_url=moto_server)
    with Stubber(client) as stub:
        stub.add_client_error("put_item", service_error_code=code, http_status_code=400)
        assert answer(client)["statusCode"] == 503
        # a bad request whose quarantine cannot be written is not answered 400 (it would be
        # lost): 503 too, so the ACD sends it again
        stub.add_client_error("put_item", service_error_code=code, http_status_code=400)
        assert answer(client, "cmd=agentstate&agentid=1")["statusCode"] == 503
    assert events_in(client) == 0
    assert answer(client)["statusCode"] == 200
