"""Test doubles, constants and helpers shared by the suites (tests is a package:
`from tests.support import ...`).

The aggregation helpers (:class:`Harness`, :func:`agent_state`, :func:`call_event`) are shared by
the aggregator tests (in-process moto) and the report command tests (moto server over HTTP):
they store events with the real ingest code and deliver them to the aggregators as the stream
batches Lambda would hand them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from acd_devkit.lambda_events import stream_record
from acd_hub.adapters.events_table import EventsTable
from acd_hub.adapters.reports_table import ReportsTable
from acd_hub.aggregation import AgentStatsAggregator, CallStatsAggregator, aggregate_batch
from acd_hub.errors import EventConflict, StoreUnavailable
from acd_hub.items import conflicting_fields, event_item
from acd_hub.models import ParseContext, parse_callback
from acd_hub.settings import HubSettings

TOKEN = "test-token-0123456789"


class MemoryStore:
    """The EventStore port with DynamoDB's conditional-put semantics (key claims included)."""

    def __init__(self) -> None:
        self.events: dict[tuple[str, str], dict[str, Any]] = {}
        self.rejected: list[dict[str, Any]] = []
        self.claims: dict[tuple[str, str], dict[str, Any]] = {}
        self.down = False

    def put_event(self, item: dict[str, Any], claim: dict[str, Any] | None = None) -> bool:
        if self.down:
            raise StoreUnavailable("down")
        if claim is not None:
            claim_key = (claim["pk"], claim["sk"])
            stored_claim = self.claims.setdefault(claim_key, claim)
            if fields := conflicting_fields(claim, stored_claim):
                raise EventConflict(item["event_key"], fields)
        key = (item["pk"], item["sk"])
        if key in self.events:
            return False
        self.events[key] = item
        return True

    def put_rejected(self, item: dict[str, Any]) -> None:
        if self.down:
            raise StoreUnavailable("down")
        self.rejected.append(item)


# -- stream aggregation over the real tables --------------------------------------------------

RECEIVED = datetime(2025, 11, 20, 12, 0, tzinfo=UTC)


class Harness:
    """The ingest's store and both aggregators over one DynamoDB client (the template's tables)."""

    def __init__(self, client: Any, settings: HubSettings | None = None) -> None:
        self.settings = settings or HubSettings()
        self.store = self.log = EventsTable(client, self.settings.events_table)
        self.reports = ReportsTable(client, self.settings.reports_table, self.settings.cmd_day_shards)
        self.context = ParseContext(self.settings.acd_zone)
        self.sequence = 0

    def store_event(self, params: dict[str, str]) -> dict[str, Any]:
        item = event_item(parse_callback(params, self.context), params, self.settings, RECEIVED)
        self.store.put_event(item)
        return item

    def store_many(self, sent: list[dict[str, str]]) -> list[dict[str, Any]]:
        """Days of tens of thousands of events: the ingest's items, written 25 to a request
        (the aggregators read them; the ingest's one-by-one conditional put is not under test)."""
        items = [event_item(parse_callback(p, self.context), p, self.settings, RECEIVED) for p in sent]
        self.log.write_batch(items, [])
        return items

    def record(self, item: dict[str, Any]) -> dict[str, Any]:
        """The stream's next INSERT record, of ``item``."""
        self.sequence += 1
        return stream_record(item, self.sequence)

    def run(self, aggregator: Any, items: list[dict[str, Any]]) -> dict[str, Any]:
        event = {"Records": [self.record(i) for i in items]}
        return aggregate_batch(aggregator, self.log.stream_records(event)).item_failures()

    def agents(self) -> AgentStatsAggregator:
        return AgentStatsAggregator(self.reports, self.settings)

    def calls(self) -> CallStatsAggregator:
        return CallStatsAggregator(self.log, self.reports, self.settings)


def ms(text: str) -> str:
    """``2025-11-20 09:00:00`` (UTC) as ms since the epoch, the way agentstate sends it."""
    return str(int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1000))


def agent_state(at: str, state: str, **extra: str) -> dict[str, str]:
    """Agent 100001 (``agentid=`` in ``extra`` for another) enters ``state`` at ``at`` (UTC)."""
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
    """A callevent of call c0ffee (``taskid=`` in ``extra`` for another) at ``at`` (UTC)."""
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
