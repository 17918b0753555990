"""Aggregators over moto's in-process DynamoDB: events stored by the real ingest code, delivered
as stream batches the way Lambda delivers them, reports read back."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from unittest.mock import MagicMock

import boto3
import pytest
from boto3.dynamodb.types import TypeSerializer
from moto import mock_aws

from acd_hub.aggregation import AgentStatsAggregator, CallStatsAggregator
from acd_hub.items import event_item
from acd_hub.models import ParseContext, parse_callback
from acd_hub.reports_store import EventLog, ReportsStore, agent_day_key, board_key, call_summary_key, kpi_key
from acd_hub.settings import HubSettings
from acd_hub.storage import DynamoEventStore
from acd_hub.stream_batch import aggregate_batch
from acd_tools.template import dynamodb_tables, load_template

RECEIVED = datetime(2025, 11, 20, 12, 0, tzinfo=UTC)
SERIALIZE = TypeSerializer().serialize


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-central-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        client = boto3.client("dynamodb")
        create_tables(client)
        yield client


def create_tables(client: Any) -> None:
    for name in client.list_tables()["TableNames"]:
        client.delete_table(TableName=name)
    for kwargs in dynamodb_tables(load_template()).values():
        client.create_table(**kwargs)


class Harness:
    def __init__(self, client: Any) -> None:
        self.settings = HubSettings()
        self.store = DynamoEventStore(client, self.settings.events_table)
        self.log = EventLog(client, self.settings.events_table)
        self.reports = ReportsStore(client, self.settings.reports_table)
        self.context = ParseContext(self.settings.acd_zone)
        self.sequence = 0

    def store_event(self, params: dict[str, str]) -> dict[str, Any]:
        item = event_item(parse_callback(params, self.context), params, self.settings, RECEIVED)
        self.store.put_event(item)
        return item

    def record(self, item: dict[str, Any]) -> dict[str, Any]:
        self.sequence += 1
        return {
            "eventID": str(self.sequence),
            "eventName": "INSERT",
            "eventSource": "aws:dynamodb",
            "eventSourceARN": "arn:aws:dynamodb:eu-central-1:123456789012:table/EventsTable/stream/x",
            "dynamodb": {
                "Keys": {"pk": SERIALIZE(item["pk"]), "sk": SERIALIZE(item["sk"])},
                "NewImage": {k: SERIALIZE(v) for k, v in item.items()},
                "SequenceNumber": f"{self.sequence:021d}",
                "StreamViewType": "NEW_IMAGE",
            },
        }

    def run(self, aggregator: Any, items: list[dict[str, Any]]) -> dict[str, Any]:
        event = {"Records": [self.record(i) for i in items]}
        return aggregate_batch(event, MagicMock(), aggregator, MagicMock())

    def agents(self) -> AgentStatsAggregator:
        return AgentStatsAggregator(self.log, self.reports, self.settings)

    def calls(self) -> CallStatsAggregator:
        return CallStatsAggregator(self.log, self.reports, self.settings)


def ms(text: str) -> str:
    return str(int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000))


def agent_state(at: str, state: str, **extra: str) -> dict[str, str]:
    return {
        "cmd": "agentstate",
        "agentid": "100001",
        "mode": "0",
        "state": state,
        "eventtime": ms(at),
        **extra,
    }


CALL_ID = iter(range(1000, 10**6))


def call_event(at: str, event_type: str, **extra: str) -> dict[str, str]:
    # callevent times as the ACD's local string (Berlin: UTC+1 in November)
    local = datetime.fromisoformat(at).replace(tzinfo=UTC).astimezone(HubSettings().acd_zone)
    return {
        "cmd": "callevent",
        "id": str(next(CALL_ID)),
        "taskid": "c0ffee",
        "eventtype": event_type,
        "eventtime": local.strftime("%Y-%m-%d %H:%M:%S"),
        **extra,
    }


def a_call() -> list[dict[str, str]]:
    return [
        call_event("2025-11-20 09:00:00", "CallStart", mode="0", hotlineid="501"),
        agent_state("2025-11-20 08:59:00", "online"),
        agent_state("2025-11-20 09:00:10", "alerting", taskid="c0ffee", hotlineid="501"),
        call_event("2025-11-20 09:00:15", "Connected", agentid="100001", groupid="7"),
        agent_state("2025-11-20 09:00:15", "connected", taskid="c0ffee", hotlineid="501"),
        call_event("2025-11-20 09:04:15", "CallEnd"),
        agent_state("2025-11-20 09:04:15", "working", taskid="c0ffee"),
        agent_state("2025-11-20 09:05:00", "paused", **{"pause-reason": "Kaffee"}),
        agent_state("2025-11-20 09:10:00", "online"),
    ]


def reports_after(harness: Harness, batches: list[list[dict[str, Any]]]) -> dict[str, Any]:
    for batch in batches:
        assert harness.run(harness.agents(), batch) == {"batchItemFailures": []}
        assert harness.run(harness.calls(), batch) == {"batchItemFailures": []}
    strip = lambda item: {k: v for k, v in (item or {}).items() if k not in ("version", "next_version")}  # noqa: E731
    return {
        "agent_day": strip(harness.reports.get(agent_day_key("100001", "2025-11-20"))),
        "board": strip(harness.reports.get(board_key("100001", harness.settings.cmd_day_shards))),
        "call": strip(harness.reports.get(call_summary_key("c0ffee"))),
        "kpis": strip(harness.reports.get(kpi_key("501", "2025-11-20"))),
    }


def test_reports_from_one_call(aws: Any) -> None:
    harness = Harness(aws)
    items = [harness.store_event(p) for p in a_call()]
    reports = reports_after(harness, [items])
    assert reports["agent_day"]["state_seconds"] == {
        "alerting": 5,
        "connected": 240,
        "online": 70,
        "paused": 300,
        "working": 45,
    }
    assert reports["agent_day"]["pause_seconds"] == {"Kaffee": 300}
    assert reports["agent_day"]["calls_handled"] == 1
    assert reports["board"]["state"] == "online"
    call = reports["call"]
    assert (call["outcome"], call["wait_s"], call["talk_s"], call["acw_s"]) == ("answered", 15, 240, 45)
    day = reports["kpis"]["day"]
    assert (day["offered"], day["answered"], day["answered_within_sl"], day["aht_s"]) == (1, 1, 1, 285)
    assert reports["kpis"]["intervals"][0]["start"] == "2025-11-20T10:00:00+01:00"


def test_retried_reordered_and_duplicated_batches_change_nothing(aws: Any) -> None:
    baseline_harness = Harness(aws)
    items = [baseline_harness.store_event(p) for p in a_call()]
    expected = reports_after(baseline_harness, [items])

    # The same events again: duplicates (rejected by the store), shuffled, in small batches,
    # each batch delivered twice (a retried batch).
    shuffled = items * 2
    random.Random(7).shuffle(shuffled)
    batches = [shuffled[i : i + 3] for i in range(0, len(shuffled), 3)]
    assert reports_after(baseline_harness, [b for batch in batches for b in (batch, batch)]) == expected


def test_out_of_order_arrival_converges(aws: Any) -> None:
    params = a_call()
    in_order = Harness(aws)
    expected = reports_after(in_order, [[in_order.store_event(p) for p in params]])

    create_tables(aws)
    harness = Harness(aws)
    shuffled = list(params)
    random.Random(3).shuffle(shuffled)
    # each event stored and aggregated on its own, in the shuffled order
    for p in shuffled:
        reports = reports_after(harness, [[harness.store_event(p)]])
    assert reports == expected


def test_a_poison_record_fails_alone(aws: Any) -> None:
    harness = Harness(aws)
    good = harness.store_event(a_call()[0])
    state = harness.store_event(a_call()[1])
    # an image the aggregator cannot read (no event time)
    poison = {k: v for k, v in state.items() if k != "event_time_ms"}
    event = {"Records": [harness.record(good), harness.record(poison)]}
    response = aggregate_batch(event, MagicMock(), harness.calls(), MagicMock())
    assert response == {
        "batchItemFailures": [{"itemIdentifier": event["Records"][1]["dynamodb"]["SequenceNumber"]}]
    }
    assert harness.reports.get(call_summary_key("c0ffee")) is not None
