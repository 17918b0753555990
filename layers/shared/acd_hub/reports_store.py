"""The reports table and the aggregators' consistent reads of the events table.

Reports table keys (``pk`` / ``sk``):

====================================  ==============================  ===========================
report                                pk                              sk
====================================  ==============================  ===========================
agent day (stats + timeline)          ``AGENT#<agent>``               ``DAY#<day>``
live board entry                      ``BOARD#<shard>``               ``AGENT#<agent>``
call summary                          ``CALL#<taskid>``               ``SUMMARY``
calls of a hotline's day (listing)    ``CALLS#<hotline>#<day>``       ``<started>#<taskid>``
hotline KPIs (day + 15-min intervals) ``KPI#<hotline>#<day>``         ``DAY``
====================================  ==============================  ===========================

Every report is recomputed from its sources and written with a *versioned* write: a counter on
the item is bumped before the sources are read, and the result is written only if no
computation that started later has already landed. Aggregators on different stream shards can
touch the same report at once; this keeps the last writer the one that read the most.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from botocore.exceptions import ClientError

from acd_hub import keys
from acd_hub.events import StoredEvent, plain

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

Key = tuple[str, str]


def _codec() -> tuple[Callable[[Any], Any], Callable[[Any], Any]]:
    from boto3.dynamodb.types import TypeDeserializer, TypeSerializer  # noqa: PLC0415

    return TypeSerializer().serialize, TypeDeserializer().deserialize


def agent_day_key(agent: str, day: str) -> Key:
    return f"AGENT#{agent}", f"DAY#{day}"


def board_pk(shard: int) -> str:
    return f"BOARD#{shard}"


def board_key(agent: str, shards: int) -> Key:
    return board_pk(keys.shard_of(agent, shards)), f"AGENT#{agent}"


def call_summary_key(task_id: str) -> Key:
    return keys.call_pk(task_id), "SUMMARY"


def calls_pk(hotline: object, day: str) -> str:
    return f"CALLS#{hotline if hotline is not None else 'none'}#{day}"


def kpi_key(hotline: object, day: str) -> Key:
    return f"KPI#{hotline}#{day}", "DAY"


def _decimals(value: Any) -> Any:
    """Reports hold ratios and means; DynamoDB numbers are Decimals (via str: no binary noise)."""
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, dict):
        return {k: _decimals(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decimals(v) for v in value]
    return value


def _is_condition_failure(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


class Dynamo:
    """Small typed helpers over the low-level client (items in and out as plain Python)."""

    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self.client = client
        self.table = table
        self._to_wire, self._from_wire = _codec()

    def encode(self, item: dict[str, Any]) -> dict[str, Any]:
        return {name: self._to_wire(_decimals(value)) for name, value in item.items()}

    def decode(self, item: dict[str, Any]) -> dict[str, Any]:
        return {name: plain(self._from_wire(value)) for name, value in item.items()}

    def query(
        self,
        pk: str,
        *,
        index: str | None = None,
        attribute: str = "pk",
        consistent: bool = False,
        forward: bool = True,
        limit: int | None = None,
        sk_between: tuple[str, str] | None = None,
        sk_before: str | None = None,
        sk_from: str | None = None,
        page_size: int | None = None,
    ) -> Iterator[dict[str, Any]]:
        """All items of one partition (or the first ``limit``), following LastEvaluatedKey."""
        request: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "#pk = :pk",
            "ExpressionAttributeNames": {"#pk": attribute},
            "ExpressionAttributeValues": {":pk": {"S": pk}},
            "ScanIndexForward": forward,
        }
        if sk_between:
            request["KeyConditionExpression"] += " AND #sk BETWEEN :lo AND :hi"
            request["ExpressionAttributeNames"]["#sk"] = "sk"
            request["ExpressionAttributeValues"].update(
                {":lo": {"S": sk_between[0]}, ":hi": {"S": sk_between[1]}}
            )
        for operator, bound in (("<", sk_before), (">=", sk_from)):
            if bound is not None:
                request["KeyConditionExpression"] += f" AND #sk {operator} :bound"
                request["ExpressionAttributeNames"]["#sk"] = "sk"
                request["ExpressionAttributeValues"][":bound"] = {"S": bound}
        if index:
            request["IndexName"] = index
        elif consistent:
            request["ConsistentRead"] = True
        if limit or page_size:
            request["Limit"] = limit or page_size
        returned = 0
        while True:
            page = self.client.query(**request)
            for raw in page.get("Items", []):
                yield self.decode(raw)
                returned += 1
                if limit and returned >= limit:
                    return
            last = page.get("LastEvaluatedKey")
            if not last:
                return
            request["ExclusiveStartKey"] = last

    def get(self, key: Key) -> dict[str, Any] | None:
        response = self.client.get_item(
            TableName=self.table, Key={"pk": {"S": key[0]}, "sk": {"S": key[1]}}, ConsistentRead=True
        )
        return self.decode(response["Item"]) if "Item" in response else None


class EventLog(Dynamo):
    """What the aggregators read from the events table: always strongly consistent base-table
    queries, so a recompute sees every event stored before its stream record was delivered."""

    def agent_day(self, agent: str, day: str) -> list[StoredEvent]:
        return [StoredEvent.from_item(i) for i in self.query(keys.agent_day_pk(agent, day), consistent=True)]

    def agent_edge(self, agent: str, day: str, *, last: bool) -> StoredEvent | None:
        """The agent's first (or last) event of ``day``."""
        for item in self.query(keys.agent_day_pk(agent, day), consistent=True, forward=not last, limit=1):
            return StoredEvent.from_item(item)
        return None

    def agent_before(self, agent: str, day: str, sort_key: str) -> StoredEvent | None:
        """The agent's event just before ``sort_key`` within ``day``."""
        for item in self.query(
            keys.agent_day_pk(agent, day), consistent=True, forward=False, limit=1, sk_before=sort_key
        ):
            return StoredEvent.from_item(item)
        return None

    def agent_since(self, agent: str, since_ms: int, zone: ZoneInfo) -> Iterator[StoredEvent]:
        """The agent's events from ``since_ms`` on, that day and the next, read a page at a time
        so a caller that stops early reads little."""
        since = datetime.fromtimestamp(since_ms / 1000, tz=UTC)
        day = since.astimezone(zone).date()
        for partition, bound in ((day, keys.iso_utc(since)), (day + timedelta(days=1), None)):
            pk = keys.agent_day_pk(agent, partition.isoformat())
            for item in self.query(pk, consistent=True, sk_from=bound, page_size=25):
                yield StoredEvent.from_item(item)

    def call(self, task_id: str) -> list[StoredEvent]:
        return [StoredEvent.from_item(i) for i in self.query(keys.call_pk(task_id), consistent=True)]


class ReportsStore(Dynamo):
    def versioned_write(self, key: Key, compute: Callable[[], dict[str, Any] | None]) -> tuple[bool, int]:
        """Bump the item's version counter, compute, write unless a later computation landed.

        Returns (written, version). ``compute`` returning None writes nothing.
        """
        bumped = self.client.update_item(
            TableName=self.table,
            Key={"pk": {"S": key[0]}, "sk": {"S": key[1]}},
            UpdateExpression="ADD next_version :one",
            ExpressionAttributeValues={":one": {"N": "1"}},
            ReturnValues="UPDATED_NEW",
        )
        version = int(bumped["Attributes"]["next_version"]["N"])
        report = compute()
        if report is None:
            return False, version
        return self.write_if_newer(key, report, version), version

    def write_if_newer(self, key: Key, report: dict[str, Any], version: int) -> bool:
        names = {f"#a{i}": name for i, name in enumerate(report)}
        values = {f":v{i}": value for i, value in enumerate(report.values())}
        assignments = ", ".join(f"#a{i} = :v{i}" for i in range(len(report)))
        try:
            self.client.update_item(
                TableName=self.table,
                Key={"pk": {"S": key[0]}, "sk": {"S": key[1]}},
                UpdateExpression=f"SET {assignments}, #version = :version",
                ConditionExpression="attribute_not_exists(#version) OR #version < :version",
                ExpressionAttributeNames={**names, "#version": "version"},
                ExpressionAttributeValues=self.encode({**values, ":version": version}),
            )
        except ClientError as exc:
            if _is_condition_failure(exc):
                return False
            raise
        return True

    def delete_if_older(self, key: Key, version: int) -> None:
        try:
            self.client.delete_item(
                TableName=self.table,
                Key={"pk": {"S": key[0]}, "sk": {"S": key[1]}},
                ConditionExpression="attribute_not_exists(#version) OR #version < :version",
                ExpressionAttributeNames={"#version": "version"},
                ExpressionAttributeValues={":version": {"N": str(version)}},
            )
        except ClientError as exc:
            if not _is_condition_failure(exc):
                raise

    def put_board_entry(self, key: Key, entry: dict[str, Any]) -> bool:
        """The board keeps each agent's latest event; an older or replayed one changes nothing."""
        try:
            self.client.put_item(
                TableName=self.table,
                Item=self.encode({"pk": key[0], "sk": key[1], **entry}),
                ConditionExpression=(
                    "attribute_not_exists(pk) OR since_ms < :t OR (since_ms = :t AND event_key < :k)"
                ),
                ExpressionAttributeValues=self.encode({":t": entry["since_ms"], ":k": entry["event_key"]}),
            )
        except ClientError as exc:
            if _is_condition_failure(exc):
                return False
            raise
        return True
