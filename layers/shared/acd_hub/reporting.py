"""Read side of the events table: every listing is one or more DynamoDB ``Query`` calls, never a Scan.

The key design lives in :mod:`acd_hub.keys`; this module only turns a question ("all events of
call X", "agent Y's day", "every callevent of a day", "quarantined requests of a day") into the
partitions that hold the answer, queries them (in parallel where there are several), follows
``LastEvaluatedKey`` and hands back plain Python items (``Decimal`` -> ``int``/``float``, sets ->
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
from acd_hub.events import plain

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


class EventQueries:
    """Listings over the events table.

    ``shards`` must equal the stack's ``ACD_CMD_DAY_SHARDS`` (the writer spreads the by-cmd-day
    index and the quarantine over that many partitions per day).
    """

    def __init__(self, client: DynamoDBClient, events_table: str, shards: int) -> None:
        if shards < 1:
            raise ValueError("shards must be at least 1")
        self._client = client
        self._table = events_table
        self._shards = shards

    @property
    def events_table(self) -> str:
        return self._table

    @property
    def shards(self) -> int:
        return self._shards

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

    # -- plumbing ---------------------------------------------------------------------------

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


def _unique(items: Iterable[Item]) -> list[Item]:
    """Drop the same item seen twice (the base partition and an index never overlap, but be safe)."""
    seen: dict[tuple[str, str], Item] = {}
    for item in items:
        seen.setdefault((str(item.get("pk")), str(item.get("sk"))), item)
    return list(seen.values())
