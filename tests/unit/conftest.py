"""Unit tests touch no network: any socket connection is an error here. They also start from
an environment without the local stack's settings (an e2e stack in the same session sets them)."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import boto3
import pytest
from moto import mock_aws

from acd_devkit.memory_dynamodb import MemoryDynamoDB
from acd_devkit.template import dynamodb_tables, load_template
from acd_hub import backoff
from acd_hub.ingest import CallbackIngest
from acd_hub.settings import HubSettings
from tests.support import CALLBACK_RECEIVED, MemoryStore, callback_ingest


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def guarded(self: socket.socket, address: object) -> None:
        if self.family == socket.AF_UNIX:
            return real_connect(self, address)
        raise RuntimeError(f"unit tests must not open network connections (to {address!r})")

    real_connect = socket.socket.connect
    monkeypatch.setattr(socket.socket, "connect", guarded)
    for name in list(os.environ):
        if name.startswith(("ACD_", "POWERTOOLS_")) or name == "AWS_ENDPOINT_URL":
            monkeypatch.delenv(name)


@pytest.fixture(autouse=True)
def pauses(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Backoff pauses (throttling, conflicts, unprocessed keys) are counted here, not waited: the
    budgets count what was asked for, so behaviour is the same, in no time."""
    asked: list[float] = []
    monkeypatch.setattr(backoff, "sleep", asked.append)
    return asked


@pytest.fixture
def store() -> MemoryStore:
    """The ingest's event store, in memory."""
    return MemoryStore()


@pytest.fixture
def received() -> datetime:
    """When callbacks arrive: the ``ingest`` fixture's clock (a module may override it)."""
    return CALLBACK_RECEIVED


@pytest.fixture
def ingest(settings: HubSettings, store: MemoryStore, received: datetime) -> CallbackIngest:
    """The callback use case over ``store``, its clock stopped at ``received``."""
    return callback_ingest(settings, store, received)


@pytest.fixture
def memory_dynamodb() -> MemoryDynamoDB:
    """DynamoDB in memory (:mod:`acd_devkit.memory_dynamodb`) holding the template's tables: the
    aggregators' and the rebuild's tests run on it, in milliseconds. The contract suite
    (tests/integration/test_dynamodb_contract.py) holds it to moto and to DynamoDB's documentation."""
    return MemoryDynamoDB(dynamodb_tables(load_template()))


@pytest.fixture
def dynamodb(fake_aws: None) -> Iterator[Any]:
    """An in-process moto DynamoDB client holding the template's tables."""
    with mock_aws():
        client = boto3.client("dynamodb")
        create_tables(client)
        yield client


def create_tables(client: Any) -> None:
    """The template's tables, empty (any others dropped)."""
    for name in client.list_tables()["TableNames"]:
        client.delete_table(TableName=name)
    for kwargs in dynamodb_tables(load_template()).values():
        client.create_table(**kwargs)
