"""The reports table and the aggregators' consistent reads of the events table.

Reports table keys (``pk`` / ``sk``). No item grows with the day: one item per agent state
change, one per call, counters per 15 minutes.

==========================================  ================================  =====================
item                                        pk                                sk
==========================================  ================================  =====================
agent day: ms per state and pause reason,   ``AGENT#<agent>``                 ``DAY#<day>``
calls handled, first/last link, version
agent timeline: one per applied state       ``TIMELINE#<agent>#<day>``        ``IV#<time>#<key>``
a call the agent talked in that day         ``TIMELINE#<agent>#<day>``        ``TALK#<taskid>``
live board entry                            ``BOARD#<shard>``                 ``AGENT#<agent>``
call summary (+ its KPI contribution)       ``CALL#<taskid>``                 ``SUMMARY``
calls of a hotline's day (listing)          ``CALLS#<hotline>#<day>``         ``<started>#<taskid>``
hotline day counters (one per shard)        ``KPI#<hotline>#<day>#<shard>``   ``DAY``
hotline 15-minute counters (per shard)      ``KPI#<hotline>#<day>#<shard>``   ``IV#<interval>``
waits of answered calls (max wait), day     ``WAIT#<hotline>#<day>``          ``<wait ms>#<taskid>``
... and per 15-minute interval              ``WAIT#<hotline>#<day>#<iv>``     ``<wait ms>#<taskid>``
freshness of a stream consumer              ``FRESHNESS``                     ``<consumer>``
==========================================  ================================  =====================

Writes are single ``TransactWriteItems`` guarded by conditions on what was read (a version on
agent days and call summaries), so concurrent aggregators, retried batches and a rebuild never
apply a change twice or on top of a state they did not see. The KPI counters only ever receive
``ADD``s of differences inside such a transaction, so they need no version of their own (hot
items: no read-modify-write), and they are spread over ``kpi_shards`` partitions by task id.
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


def timeline_pk(agent: str, day: str) -> str:
    return f"TIMELINE#{agent}#{day}"


def interval_sk(time_ms: int, event_key: str) -> str:
    moment = datetime.fromtimestamp(time_ms / 1000, tz=UTC)
    return f"IV#{keys.iso_utc(moment)}#{event_key}"


def talk_key(agent: str, day: str, task_id: str) -> Key:
    # sorts after every IV# item, so "the interval before X" never meets one
    return timeline_pk(agent, day), f"TALK#{task_id}"


def board_pk(shard: int) -> str:
    return f"BOARD#{shard}"


def board_key(agent: str, shards: int) -> Key:
    return board_pk(keys.shard_of(agent, shards)), f"AGENT#{agent}"


def call_summary_key(task_id: str) -> Key:
    return keys.call_pk(task_id), "SUMMARY"


def calls_pk(hotline: object, day: str) -> str:
    return f"CALLS#{hotline if hotline is not None else 'none'}#{day}"


def kpi_pk(hotline: object, day: str, shard: int) -> str:
    return f"KPI#{hotline}#{day}#{shard}"


KPI_DAY_SK = "DAY"


def kpi_interval_sk(interval: str) -> str:
    return f"IV#{interval}"


def wait_pk(hotline: object, day: str, interval: str | None = None) -> str:
    return f"WAIT#{hotline}#{day}" if interval is None else f"WAIT#{hotline}#{day}#{interval}"


def wait_sk(wait_ms: int, task_id: str) -> str:
    return f"{wait_ms:012d}#{task_id}"


FRESHNESS_PK = "FRESHNESS"


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

    def write_batch(self, puts: list[dict[str, Any]], deletes: list[Key]) -> None:
        """Unconditional puts and deletes, 25 to a request (the rebuild's bulk replacement)."""
        requests = [{"PutRequest": {"Item": self.encode(item)}} for item in puts] + [
            {"DeleteRequest": {"Key": {"pk": {"S": pk}, "sk": {"S": sk}}}} for pk, sk in deletes
        ]
        for start in range(0, len(requests), 25):
            pending: dict[str, Any] = {self.table: requests[start : start + 25]}
            while pending:
                answer = self.client.batch_write_item(RequestItems=pending)
                pending = answer.get("UnprocessedItems") or {}

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

    def agent_between(
        self, agent: str, day: str, first: str, last: str, limit: int
    ) -> list[tuple[StoredEvent, str]]:
        """The agent's events with sort keys from ``first`` to ``last`` (at most ``limit``), with
        their sort keys."""
        items = self.query(
            keys.agent_day_pk(agent, day), consistent=True, sk_between=(first, last), limit=limit
        )
        return [(StoredEvent.from_item(item), str(item["sk"])) for item in items]

    def agent_since(self, agent: str, since_ms: int, zone: ZoneInfo) -> Iterator[StoredEvent]:
        """The agent's events from ``since_ms`` on, that day and the next, read a page at a time
        so a caller that stops early reads little."""
        since = datetime.fromtimestamp(since_ms / 1000, tz=UTC)
        day = since.astimezone(zone).date()
        for partition, bound in ((day, keys.iso_utc(since)), (day + timedelta(days=1), None)):
            pk = keys.agent_day_pk(agent, partition.isoformat())
            for item in self.query(pk, consistent=True, sk_from=bound, page_size=25):
                yield StoredEvent.from_item(item)

    def cmd_day(self, cmd: str, day: str, shards: int) -> Iterator[StoredEvent]:
        """Every event of one type and day, from all shards of the ByCmdDay index (the rebuild's
        listing: an index, so eventually consistent, which is fine for days already received)."""
        for shard in range(shards):
            for item in self.query(
                keys.cmd_day_pk(cmd, day, shard), index=keys.BY_CMD_DAY, attribute="gsi3pk"
            ):
                if item.get("kind") == "event":
                    yield StoredEvent.from_item(item)

    def call(self, task_id: str) -> list[StoredEvent]:
        return [StoredEvent.from_item(i) for i in self.query(keys.call_pk(task_id), consistent=True)]


class Cancelled(Exception):
    """A transaction was cancelled; ``reasons`` holds one code per item (``"None"`` if fine)."""

    def __init__(self, reasons: list[str]) -> None:
        super().__init__(", ".join(reasons))
        self.reasons = reasons

    def failed(self, index: int) -> bool:
        return index < len(self.reasons) and self.reasons[index] == "ConditionalCheckFailed"


class Transaction:
    """The items of one ``TransactWriteItems``, built with plain Python values."""

    def __init__(self, store: Dynamo) -> None:
        self._store = store
        self.items: list[dict[str, Any]] = []

    def _key(self, key: Key) -> dict[str, Any]:
        return {"pk": {"S": key[0]}, "sk": {"S": key[1]}}

    def _condition(
        self, request: dict[str, Any], condition: str | None, names: dict[str, str], values: dict[str, Any]
    ) -> dict[str, Any]:
        if condition:
            request["ConditionExpression"] = condition
        if names:
            request["ExpressionAttributeNames"] = names
        if values:
            request["ExpressionAttributeValues"] = self._store.encode(values)
        return request

    def put(
        self,
        item: dict[str, Any],
        condition: str | None = None,
        names: dict[str, str] | None = None,
        values: dict[str, Any] | None = None,
    ) -> int:
        request = {"TableName": self._store.table, "Item": self._store.encode(item)}
        self.items.append({"Put": self._condition(request, condition, names or {}, values or {})})
        return len(self.items) - 1

    def update(
        self,
        key: Key,
        expression: str,
        names: dict[str, str],
        values: dict[str, Any],
        condition: str | None = None,
    ) -> int:
        request = {"TableName": self._store.table, "Key": self._key(key), "UpdateExpression": expression}
        self.items.append({"Update": self._condition(request, condition, names, values)})
        return len(self.items) - 1

    def delete(self, key: Key) -> int:
        self.items.append({"Delete": {"TableName": self._store.table, "Key": self._key(key)}})
        return len(self.items) - 1

    def check(
        self,
        key: Key,
        condition: str,
        names: dict[str, str] | None = None,
        values: dict[str, Any] | None = None,
    ) -> int:
        request = {"TableName": self._store.table, "Key": self._key(key)}
        self.items.append({"ConditionCheck": self._condition(request, condition, names or {}, values or {})})
        return len(self.items) - 1

    def put_versioned(self, item: dict[str, Any], read_version: int | None) -> int:
        """Put ``item`` (version ``read_version + 1``) only if the stored one is still the one read."""
        if read_version is None:
            return self.put({**item, "version": 1}, "attribute_not_exists(pk)")
        if read_version == 0:  # written before items carried a version
            return self.put(
                {**item, "version": 1},
                "attribute_exists(pk) AND attribute_not_exists(#version)",
                {"#version": "version"},
            )
        return self.put(
            {**item, "version": read_version + 1},
            "#version = :read",
            {"#version": "version"},
            {":read": read_version},
        )

    def check_version(self, key: Key, read_version: int | None) -> int:
        if read_version is None:
            return self.check(key, "attribute_not_exists(pk)")
        return self.check(key, "#version = :read", {"#version": "version"}, {":read": read_version})

    def add(self, key: Key, counters: dict[str, int], fields: dict[str, Any]) -> int:
        """ADD ``counters`` (differences) and SET ``fields`` on one item."""
        names: dict[str, str] = {}
        values: dict[str, Any] = {}
        sets, adds = [], []
        for i, (name, value) in enumerate(fields.items()):
            names[f"#s{i}"], values[f":s{i}"] = name, value
            sets.append(f"#s{i} = :s{i}")
        for i, (name, value) in enumerate(counters.items()):
            names[f"#a{i}"], values[f":a{i}"] = name, value
            adds.append(f"#a{i} :a{i}")
        expression = " ".join(
            part
            for part in (f"SET {', '.join(sets)}" if sets else "", f"ADD {', '.join(adds)}" if adds else "")
            if part
        )
        return self.update(key, expression, names, values)


class ReportsStore(Dynamo):
    def get_many(self, wanted: list[Key]) -> dict[Key, dict[str, Any]]:
        """Strongly consistent reads of up to 100 items in one request (and its leftovers)."""
        found: dict[Key, dict[str, Any]] = {}
        unique = list(dict.fromkeys(wanted))
        for start in range(0, len(unique), 100):
            keys_ = [{"pk": {"S": pk}, "sk": {"S": sk}} for pk, sk in unique[start : start + 100]]
            request: dict[str, Any] = {self.table: {"Keys": keys_, "ConsistentRead": True}}
            while request:
                page = self.client.batch_get_item(RequestItems=request)
                for raw in page.get("Responses", {}).get(self.table, []):
                    item = self.decode(raw)
                    found[(item["pk"], item["sk"])] = item
                request = dict(page.get("UnprocessedKeys") or {})
        return found

    def interval_before(self, agent: str, day: str, sort_key: str) -> dict[str, Any] | None:
        """The agent's applied interval just before ``sort_key`` on ``day``."""
        # nothing in a timeline partition sorts before "IV#" (the TALK# markers sort after)
        for item in self.query(
            timeline_pk(agent, day), consistent=True, forward=False, limit=1, sk_before=sort_key
        ):
            return item
        return None

    def add_counters(self, key: Key, counters: dict[str, int]) -> None:
        names = {f"#a{i}": name for i, name in enumerate(counters)}
        values = {f":a{i}": value for i, value in enumerate(counters.values())}
        self.client.update_item(
            TableName=self.table,
            Key={"pk": {"S": key[0]}, "sk": {"S": key[1]}},
            UpdateExpression="ADD " + ", ".join(f"#a{i} :a{i}" for i in range(len(counters))),
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=self.encode(values),
        )

    def transaction(self) -> Transaction:
        return Transaction(self)

    def commit(self, transaction: Transaction) -> None:
        """Run the transaction; :class:`Cancelled` says which conditions failed."""
        try:
            self.client.transact_write_items(TransactItems=transaction.items)  # type: ignore[arg-type]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                raise
            reasons = exc.response.get("CancellationReasons") or []  # type: ignore[typeddict-item]
            raise Cancelled([str(r.get("Code") or "None") for r in reasons]) from exc

    def note_batch(self, consumer: str, figures: dict[str, Any]) -> None:
        """How far a stream consumer has got (read by ``acd-report`` as the reports' freshness)."""
        fields = {
            "kind": "freshness",
            "consumer": consumer,
            **{k: v for k, v in figures.items() if v is not None},
        }
        names = {f"#f{i}": name for i, name in enumerate(fields)}
        values = {f":f{i}": value for i, value in enumerate(fields.values())}
        self.client.update_item(
            TableName=self.table,
            Key={"pk": {"S": FRESHNESS_PK}, "sk": {"S": consumer}},
            UpdateExpression="SET " + ", ".join(f"#f{i} = :f{i}" for i in range(len(fields))),
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=self.encode(values),
        )
