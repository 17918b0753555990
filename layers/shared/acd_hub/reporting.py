"""Read side of the hub's tables: every listing is one or more DynamoDB ``Query`` calls, never a
Scan; single reports are one ``GetItem``.

:class:`EventQueries` reads the events table (key design in :mod:`acd_hub.keys`),
:class:`ReportQueries` the reports table (key design in :mod:`acd_hub.reports_store`). Both turn
a question ("all events of call X", "hotline H's KPIs of a day", "the live board") into the
partitions that hold the answer, query them (in parallel where there are several), follow
``LastEvaluatedKey`` and hand back plain Python items (``Decimal`` -> ``int``/``float``, sets ->
sorted lists, binary -> ``bytes``).

The low-level client is injected (``boto3.client("dynamodb")``); nothing here reads the
environment.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import TypeDeserializer

from acd_hub import keys
from acd_hub.call_stats import KPI_KEYS
from acd_hub.events import plain
from acd_hub.reports_store import (
    agent_day_key,
    board_pk,
    call_summary_key,
    calls_pk,
    kpi_key,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

Item = dict[str, Any]

_DESERIALIZER = TypeDeserializer()
MAX_WORKERS = 16


def from_dynamodb(item: Mapping[str, Any]) -> Item:
    """A typed item (``{"pk": {"S": ...}}``) as plain Python."""
    return {name: plain(_DESERIALIZER.deserialize(typed)) for name, typed in item.items()}


def _event_order(item: Item) -> tuple[str, str]:
    return (str(item.get("event_time", "")), str(item.get("sk", "")))


def _received_order(item: Item) -> tuple[str, str]:
    return (str(item.get("received_at", "")), str(item.get("sk", "")))


class _TableQueries:
    """The plumbing both readers share: one table, parallel partition queries, single gets.

    ``shards`` must equal the stack's ``ACD_CMD_DAY_SHARDS`` (the writers spread the by-cmd-day
    index, the quarantine and the live board over that many partitions).
    """

    def __init__(self, client: DynamoDBClient, table: str, shards: int) -> None:
        if shards < 1:
            raise ValueError("shards must be at least 1")
        self._client = client
        self._table = table
        self._shards = shards

    @property
    def shards(self) -> int:
        return self._shards

    def _gather(self, partitions: Sequence[tuple[str | None, str, str]]) -> list[Item]:
        """Query each ``(index, key attribute, value)`` partition, in parallel when there are several."""
        if len(partitions) == 1:
            return list(self._query(*partitions[0]))
        workers = min(MAX_WORKERS, len(partitions))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="acd-query") as pool:
            pages = pool.map(lambda part: list(self._query(*part)), partitions)
            return [item for page in pages for item in page]

    def _query(self, index: str | None, attribute: str, value: str) -> Iterator[Item]:
        """All items of one partition (base table or index), following ``LastEvaluatedKey``."""
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "#pk = :pk",
            "ExpressionAttributeNames": {"#pk": attribute},
            "ExpressionAttributeValues": {":pk": {"S": value}},
        }
        if index is not None:
            request["IndexName"] = index
        while True:
            page = self._client.query(**request)
            for raw in page.get("Items", []):
                yield from_dynamodb(raw)
            last = page.get("LastEvaluatedKey")
            if not last:
                return
            request["ExclusiveStartKey"] = last

    def _get(self, key: tuple[str, str]) -> Item | None:
        """One item by its ``pk``/``sk``."""
        response = self._client.get_item(
            TableName=self._table, Key={"pk": {"S": key[0]}, "sk": {"S": key[1]}}
        )
        return from_dynamodb(response["Item"]) if "Item" in response else None


class EventQueries(_TableQueries):
    """Listings over the events table."""

    def __init__(self, client: DynamoDBClient, events_table: str, shards: int) -> None:
        super().__init__(client, events_table, shards)

    @property
    def events_table(self) -> str:
        return self._table

    # -- listings ---------------------------------------------------------------------------

    def events_by_call(self, task_id: str) -> list[Item]:
        """Every event of one call: its own partition plus agentstate events naming the task id."""
        pk = keys.call_pk(task_id.strip())
        items = self._gather([(None, "pk", pk), (keys.BY_CALL, "gsi2pk", pk)])
        return sorted(_unique(items), key=_event_order)

    def events_by_agent_day(self, agent: str, day: str | date) -> list[Item]:
        """An agent's day: its agentstate partition plus other events that name the agent."""
        pk = keys.agent_day_pk(agent.strip(), day)
        items = self._gather([(None, "pk", pk), (keys.BY_AGENT_DAY, "gsi1pk", pk)])
        return sorted(_unique(items), key=_event_order)

    def events_by_cmd_day(self, cmd: str, day: str | date) -> list[Item]:
        """Every event of one type and day, from all shards of the ``ByCmdDay`` index."""
        cmd = cmd.strip().lower()
        partitions = [
            (keys.BY_CMD_DAY, "gsi3pk", keys.cmd_day_pk(cmd, day, shard)) for shard in range(self._shards)
        ]
        return sorted(_unique(self._gather(partitions)), key=_event_order)

    def rejected(self, day: str | date) -> list[Item]:
        """Quarantined requests received on ``day`` (reporting time zone), oldest first."""
        partitions = [(None, "pk", keys.rejected_pk(day, shard)) for shard in range(self._shards)]
        return sorted(_unique(self._gather(partitions)), key=_received_order)


# The attributes that only the aggregators' versioned writes and the key design need.
BOOKKEEPING = frozenset({"pk", "sk", "version", "next_version", "kind"})


def _report(item: Item | None, kind: str) -> Item | None:
    """A stored report without its bookkeeping; None for anything else.

    A versioned write bumps ``next_version`` before it computes, so an item can exist that holds
    nothing but the counter (the computation found no events, or lost to a later one): that is
    no report yet.
    """
    if item is None or item.get("kind") != kind:
        return None
    return {name: value for name, value in item.items() if name not in BOOKKEEPING}


def _ordered_kpis(figures: Mapping[str, Any], lead: Sequence[str] = ()) -> Item:
    """KPIs in :data:`~acd_hub.call_stats.KPI_KEYS` order (DynamoDB maps keep none)."""
    order = [*lead, *KPI_KEYS]
    known = {name: figures[name] for name in order if name in figures}
    return known | {name: figures[name] for name in sorted(figures) if name not in known}


def _day_text(day: str | date) -> str:
    return day.isoformat() if isinstance(day, date) else day.strip()


class ReportQueries(_TableQueries):
    """The aggregators' reports: single reports by ``GetItem``, listings by ``Query``.

    Every report comes back without ``pk``/``sk``/``version``/``next_version``/``kind``.
    ``shards`` must equal the stack's ``ACD_CMD_DAY_SHARDS`` (the live board's partitions).
    """

    def __init__(self, client: DynamoDBClient, reports_table: str, shards: int) -> None:
        super().__init__(client, reports_table, shards)

    @property
    def reports_table(self) -> str:
        return self._table

    def kpis(self, hotline: str | int, day: str | date) -> Item | None:
        """A hotline's KPIs of one day: ``{hotline, date, day, intervals, sl_seconds}``, the
        figures in :data:`~acd_hub.call_stats.KPI_KEYS` order; None if none computed yet."""
        report = _report(self._get(kpi_key(str(hotline).strip(), _day_text(day))), "kpis")
        if report is None:
            return None
        report["day"] = _ordered_kpis(report.get("day") or {})
        report["intervals"] = [
            _ordered_kpis(interval, ("start",)) for interval in report.get("intervals") or []
        ]
        return report

    def agent_day(self, agent: str, day: str | date) -> Item | None:
        """An agent's day: ``{agent, day, state_seconds, pause_seconds, calls_handled, timeline}``."""
        report = _report(self._get(agent_day_key(agent.strip(), _day_text(day))), "agent_day")
        if report is not None:
            for name in ("state_seconds", "pause_seconds"):
                report[name] = dict(sorted((report.get(name) or {}).items()))
        return report

    def agent_timeline(self, agent: str, day: str | date) -> list[Item]:
        """The agent's state intervals of the day, in time order (the last may be open)."""
        report = self.agent_day(agent, day)
        timeline = list(report.get("timeline") or []) if report else []
        return sorted(timeline, key=lambda interval: int(interval.get("start_ms") or 0))

    def call(self, task_id: str) -> Item | None:
        """One call's summary; None before the aggregator has seen it."""
        return _report(self._get(call_summary_key(task_id.strip().lower())), "call")

    def calls(self, hotline: str | int, day: str | date) -> list[Item]:
        """The summaries of the calls a hotline got on a day, by start time."""
        pk = calls_pk(str(hotline).strip(), _day_text(day))
        reports = (_report(item, "call") for item in self._gather([(None, "pk", pk)]))
        return sorted(
            (r for r in reports if r is not None),
            key=lambda r: (str(r.get("started") or ""), str(r.get("task_id") or "")),
        )

    def board(self) -> list[Item]:
        """The live board: every agent's latest state, from all board partitions, by agent."""
        partitions = [(None, "pk", board_pk(shard)) for shard in range(self._shards)]
        reports = (_report(item, "board") for item in self._gather(partitions))
        return sorted((r for r in reports if r is not None), key=lambda r: str(r.get("agent") or ""))


def _unique(items: Iterable[Item]) -> list[Item]:
    """Drop the same item seen twice (the base partition and an index never overlap, but be safe)."""
    seen: dict[tuple[str, str], Item] = {}
    for item in items:
        seen.setdefault((str(item.get("pk")), str(item.get("sk"))), item)
    return list(seen.values())
