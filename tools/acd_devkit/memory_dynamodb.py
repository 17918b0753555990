"""DynamoDB in memory, behind the low-level client's interface: what the hub's adapters
(:mod:`acd_hub.adapters`), the CLIs' read queries and the rebuild call, with DynamoDB's documented
semantics rather than an emulator's.

Why a client and not fakes of the ports: the adapters are the code that turns the domain's
writes into requests and DynamoDB's answers (cancellation reasons, unprocessed keys, pages) back
into the domain's; a fake below them runs that code too. Why not moto: moto is the thing the
contract suite (``tests/integration/test_dynamodb_contract.py``) checks this module against, and
it does not do what AWS adds to its world — several stream shards, throttling, transaction
conflicts, a commit whose answer timed out, unprocessed keys.

What it honours, as DynamoDB's developer guide documents it:

* items up to 400 KB (sizes counted as the guide counts them: names and values in UTF-8,
  numbers at about one byte per two digits, 3 bytes per map or list plus one per element);
* condition, update and key condition expressions (the subset the hub writes: comparisons,
  ``BETWEEN``, ``AND``/``OR``/``NOT``, ``attribute_exists``, ``attribute_not_exists``,
  ``begins_with``, ``SET`` with ``if_not_exists`` and ``+``/``-``, ``ADD``, ``REMOVE``);
  anything else is refused loudly (``NotImplementedError``), never guessed;
* ``TransactWriteItems``: at most 100 items and 4 MB, at most one operation per item, every
  condition checked before anything is written, all or nothing, a cancellation reason per item;
* ``Query``: a page stops at ``Limit`` items or 1 MB read (then ``LastEvaluatedKey``), strongly
  consistent reads refused on a global secondary index; ``BatchGetItem`` at most 100 keys and
  16 MB, ``BatchWriteItem`` at most 25 requests, no two on one key;
* a stream per table with one, split over ``shards`` shards by partition key; a write that
  changes nothing writes no record (an identical overwrite included);
* billed units (:class:`Meter`): a write 1 unit per KB (the larger of the item before and
  after) and one more per global secondary index the item is copied into (its size plus 100
  bytes; two when its index key changes), a transactional write or condition check 2 per KB, a strongly consistent read 1 per
  4 KB (a query rounds its items' total, a batch each item), eventually consistent half.

Faults are injected by a :class:`Faults` plan (seeded, reproducible): what reaches the caller
after botocore's own retries — a throttled request, a transaction cancelled for a conflict or
throttling on one of its items, a timeout after the write committed, unprocessed keys.

Thread-safe: every request runs under one lock (a transaction is atomic, as on DynamoDB). An
optional ``gate`` is called before each request: the seeded scheduler of
:mod:`acd_devkit.memory_stream` interleaves concurrent writers there, request by request.

Here the client; beside it its parts: values, sizes and errors (:mod:`acd_devkit.dynamodb_wire`),
expressions (:mod:`acd_devkit.dynamodb_expressions`), a table, its stream and its bill
(:mod:`acd_devkit.dynamodb_table`).
"""

from __future__ import annotations

import bisect
import functools
import random
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError, ReadTimeoutError

from acd_devkit.dynamodb_expressions import (
    Between,
    Call,
    Compare,
    Evaluator,
    Logical,
    Path,
    apply_update,
    parsed_expression,
)
from acd_devkit.dynamodb_table import MemoryTable, Meter, Stream, sortable
from acd_devkit.dynamodb_wire import (
    KB,
    Item,
    Wire,
    client_error,
    copy_item,
    copy_value,
    item_size,
    validation,
    value_size,
    wire_kind,
)

MAX_ITEM_BYTES = 400 * KB
MAX_TRANSACTION_ITEMS = 100
MAX_TRANSACTION_BYTES = 4 * KB * KB
QUERY_PAGE_BYTES = KB * KB
MAX_BATCH_GET = 100
MAX_BATCH_WRITE = 25


# -- faults -----------------------------------------------------------------------------------------


@dataclass
class Faults:
    """What goes wrong, how often (each a probability per request or per transaction), from a
    seed. Rates are of what reaches the caller after botocore's own retries."""

    seed: int = 0
    throttle: float = (
        0.0  # a whole request throttled (ProvisionedThroughputExceededException / ThrottlingException)
    )
    conflict: float = 0.0  # a transaction cancelled: TransactionConflict on one item
    throttle_item: float = (
        0.0  # a transaction cancelled: ThrottlingError/ProvisionedThroughputExceeded on one item
    )
    timeout_after_commit: float = 0.0  # written, but the answer timed out (ReadTimeoutError)
    unprocessed: float = 0.0  # each key of a BatchGetItem / request of a BatchWriteItem left unprocessed
    validation: float = (
        0.0  # a write refused: ValidationException, in a transaction a ValidationError on one item
    )
    operations: frozenset[str] = frozenset()  # only these operations (empty: all)
    limit: int | None = None  # inject at most this many faults in all, then none
    injected: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)  # noqa: S311 - faults, not security

    def applies(self, operation: str) -> bool:
        return not self.operations or operation in self.operations

    def roll(self, rate: float, name: str) -> bool:
        if self.limit is not None and sum(self.injected.values()) >= self.limit:
            return False
        if rate and self._random.random() < rate:
            self.injected[name] = self.injected.get(name, 0) + 1
            return True
        return False

    def choose(self, count: int) -> int:
        return self._random.randrange(count)


NO_FAULTS = Faults()


# -- the client ---------------------------------------------------------------------------------------


@dataclass
class _Action:
    """One item of a transaction, planned against the items as they are."""

    kind: str
    spec: Mapping[str, Any]
    table: MemoryTable
    key: tuple[Any, Any]
    new: Item | None  # the item after (a condition check: as it is; a delete: None)
    old: Item | None
    size: int = 0  # of ``new``
    reason: dict[str, Any] | None = None  # refused already (ValidationError)


def _reason(exc: ClientError) -> dict[str, Any]:
    return {"Code": "ValidationError", "Message": str(exc.response["Error"]["Message"])}


class _Paginator:
    """boto3's paginator over this client's ``query``/``scan``, with botocore's own paging logic
    (its ``Paginator`` and DynamoDB's pagination model)."""

    def __init__(self, client: MemoryDynamoDB, operation: str) -> None:
        from botocore.paginate import Paginator  # noqa: PLC0415

        config, model = _pagination(operation)
        self._paginator: Any = Paginator(getattr(client, operation), config, model)

    def paginate(self, **kwargs: Any) -> Any:
        return self._paginator.paginate(**kwargs)


_OPERATION_NAMES = {"query": "Query", "scan": "Scan"}


@functools.cache
def _pagination(operation: str) -> tuple[Any, Any]:
    """DynamoDB's pagination config and operation model for ``operation`` (loaded once)."""
    import botocore.session  # noqa: PLC0415

    session = botocore.session.get_session()
    name = _OPERATION_NAMES[operation]
    config = session.get_paginator_model("dynamodb").get_paginator(name)
    return config, session.get_service_model("dynamodb").operation_model(name)


class MemoryDynamoDB:
    """The low-level DynamoDB client's interface, in memory (see the module's docstring)."""

    def __init__(
        self,
        tables: Mapping[str, Mapping[str, Any]] | Sequence[Mapping[str, Any]] = (),
        *,
        shards: int = 1,
        faults: Faults | None = None,
        gate: Callable[[str], None] | None = None,
    ) -> None:
        self.shards = shards
        self.faults = faults or NO_FAULTS
        self.gate = gate
        self.meter = Meter()
        self.tables: dict[str, MemoryTable] = {}
        self._lock = threading.RLock()
        for definition in tables.values() if isinstance(tables, Mapping) else tables:
            self.create_table(**definition)

    # -- plumbing --

    def _enter(self, operation: str) -> None:
        if self.gate is not None:
            self.gate(operation)
        self.meter.request(operation)

    def _table(self, name: str, operation: str) -> MemoryTable:
        table = self.tables.get(name)
        if table is None:
            raise client_error(
                operation, "ResourceNotFoundException", f"Requested resource not found: {name}"
            )
        return table

    def _maybe_throttled(self, operation: str) -> None:
        if self.faults.applies(operation) and self.faults.roll(self.faults.throttle, "throttle"):
            raise client_error(
                operation,
                "ProvisionedThroughputExceededException",
                "The level of configured provisioned throughput for the table was exceeded",
            )

    def _maybe_refused(self, operation: str) -> None:
        if self.faults.applies(operation) and self.faults.roll(self.faults.validation, "validation"):
            raise validation(operation, "One or more parameter values were invalid (injected)")

    def _maybe_timed_out(self, operation: str) -> None:
        """After a commit: the answer lost on its way back (the write stays)."""
        if self.faults.applies(operation) and self.faults.roll(self.faults.timeout_after_commit, "timeout"):
            raise ReadTimeoutError(endpoint_url="memory://dynamodb")

    def _checked_item(
        self, item: Mapping[str, Wire], table: MemoryTable, operation: str, *, copy: bool = True
    ) -> tuple[Item, int]:
        for name in (table.hash_key, table.range_key):
            if name is None:
                continue
            value = item.get(name)
            if value is None:
                raise validation(operation, f"One of the required keys was not given a value: {name}")
            if wire_kind(value) not in ("S", "N", "B") or value_size(value) == 0:
                raise validation(operation, f"One or more parameter values are not valid: key {name}")
        for name, value in item.items():
            kind = wire_kind(value)
            if kind in ("SS", "NS", "BS") and not value[kind]:
                raise validation(
                    operation, f"One or more parameter values were invalid: an empty set ({name})"
                )
        size = item_size(item)
        if size > MAX_ITEM_BYTES:
            raise validation(operation, "Item size has exceeded the maximum allowed size")
        return (copy_item(item) if copy else dict(item)), size

    @staticmethod
    def _values(request: Mapping[str, Any]) -> Mapping[str, Wire]:
        return request.get("ExpressionAttributeValues") or {}

    def _condition_holds(self, request: Mapping[str, Any], old: Item | None, operation: str) -> bool:
        text = request.get("ConditionExpression")
        if not text:
            return True
        try:
            condition = parsed_expression("condition", text, request.get("ExpressionAttributeNames"))
            return Evaluator(old, self._values(request)).holds(condition)
        except KeyError as exc:
            raise validation(
                operation, f"An expression attribute name or value is not defined: {exc}"
            ) from exc

    # -- tables --

    def create_table(self, **definition: Any) -> dict[str, Any]:
        with self._lock:
            table = self.tables[definition["TableName"]] = MemoryTable(definition, self.shards)
            table.meter = self.meter
        return {"TableDescription": {"TableName": definition["TableName"], "TableStatus": "ACTIVE"}}

    def delete_table(self, TableName: str) -> dict[str, Any]:
        with self._lock:
            self._table(TableName, "DeleteTable")
            del self.tables[TableName]
        return {}

    def list_tables(self, **_: Any) -> dict[str, Any]:
        return {"TableNames": sorted(self.tables)}

    def describe_table(self, TableName: str) -> dict[str, Any]:
        table = self._table(TableName, "DescribeTable")
        description = {**table.definition, "TableStatus": "ACTIVE", "ItemCount": len(table.items)}
        if table.stream is not None:
            description["LatestStreamArn"] = table.stream.arn
        return {"Table": description}

    def stream(self, table: str) -> Stream:
        found = self._table(table, "DescribeStream").stream
        if found is None:
            raise ValueError(f"table {table} has no stream")
        return found

    # -- single items --

    def put_item(self, **request: Any) -> dict[str, Any]:
        operation = "PutItem"
        self._enter(operation)
        with self._lock:
            table = self._table(request["TableName"], operation)
            item, size = self._checked_item(request["Item"], table, operation)
            key = table.key_of(table.key_attributes(item), operation)
            self._maybe_throttled(operation)
            self._maybe_refused(operation)
            old = table.items.get(key)
            if not self._condition_holds(request, old, operation):
                extra = {}
                if request.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and old is not None:
                    extra["Item"] = copy_item(old)
                raise client_error(
                    operation, "ConditionalCheckFailedException", "The conditional request failed", **extra
                )
            old_size = table.size(key)
            table.store(item, key, old, size)
            self.meter.write(table.name, max(size, old_size))
        self._maybe_timed_out(operation)
        return {}

    def get_item(self, **request: Any) -> dict[str, Any]:
        operation = "GetItem"
        self._enter(operation)
        with self._lock:
            table = self._table(request["TableName"], operation)
            key = table.key_of(request["Key"], operation)
            self._maybe_throttled(operation)
            found = table.items.get(key)
            self.meter.read(table.name, table.size(key), consistent=bool(request.get("ConsistentRead")))
            return {} if found is None else {"Item": self._projected(found, request)}

    def update_item(self, **request: Any) -> dict[str, Any]:
        operation = "UpdateItem"
        self._enter(operation)
        with self._lock:
            table = self._table(request["TableName"], operation)
            key = table.key_of(request["Key"], operation)
            self._maybe_throttled(operation)
            self._maybe_refused(operation)
            old = table.items.get(key)
            if not self._condition_holds(request, old, operation):
                raise client_error(
                    operation, "ConditionalCheckFailedException", "The conditional request failed"
                )
            item, size = self._updated(table, request, old, operation)
            old_size = table.size(key)
            table.store(item, key, old, size)
            self.meter.write(table.name, max(size, old_size))
        self._maybe_timed_out(operation)
        return {}

    def _updated(
        self, table: MemoryTable, request: Mapping[str, Any], old: Item | None, operation: str
    ) -> tuple[Item, int]:
        # actions replace top-level values, never change one in place: a shallow copy will do
        item = dict(old) if old is not None else copy_item(request["Key"])
        try:
            actions = parsed_expression(
                "update", request["UpdateExpression"], request.get("ExpressionAttributeNames")
            )
            for _, (path, _node) in actions:
                if path.name in (table.hash_key, table.range_key):
                    raise ValueError(
                        f"Cannot update attribute {path.name}. This attribute is part of the key"
                    )
            apply_update(item, actions, self._values(request))
        except KeyError as exc:
            raise validation(
                operation, f"An expression attribute name or value is not defined: {exc}"
            ) from exc
        except ValueError as exc:
            raise validation(operation, str(exc)) from exc
        return self._checked_item(item, table, operation, copy=False)

    def delete_item(self, **request: Any) -> dict[str, Any]:
        operation = "DeleteItem"
        self._enter(operation)
        with self._lock:
            table = self._table(request["TableName"], operation)
            key = table.key_of(request["Key"], operation)
            self._maybe_throttled(operation)
            old = table.items.get(key)
            if not self._condition_holds(request, old, operation):
                raise client_error(
                    operation, "ConditionalCheckFailedException", "The conditional request failed"
                )
            old_size = table.size(key)
            if old is not None:
                table.store(None, key, old)
            self.meter.write(table.name, old_size)
        self._maybe_timed_out(operation)
        return {}

    @staticmethod
    def _projected(item: Item, request: Mapping[str, Any]) -> Item:
        projection = request.get("ProjectionExpression")
        if not projection:
            return dict(item)
        names = request.get("ExpressionAttributeNames") or {}
        wanted = [names.get(part.strip(), part.strip()) for part in projection.split(",")]
        return {name: item[name] for name in wanted if name in item}

    # -- queries --

    def query(self, **request: Any) -> dict[str, Any]:
        operation = "Query"
        self._enter(operation)
        with self._lock:
            table = self._table(request["TableName"], operation)
            index_name = request.get("IndexName")
            consistent = bool(request.get("ConsistentRead"))
            if index_name and consistent:
                raise validation(operation, "Consistent reads are not supported on global secondary indexes")
            self._maybe_throttled(operation)
            hash_name, range_name, keys = self._query_keys(table, index_name)
            condition = parsed_expression(
                "condition", request["KeyConditionExpression"], request.get("ExpressionAttributeNames")
            )
            pk, sort_test = _key_condition(condition, hash_name, range_name, self._values(request))
            data = table.index_data[index_name] if index_name else table.base
            order, entries = data.parts.get(pk, ([], {}))
            start = request.get("ExclusiveStartKey")
            chosen = _sort_range(order, sort_test)
            if not request.get("ScanIndexForward", True):
                chosen = chosen[::-1]
            limit = request.get("Limit")
            items: list[Item] = []
            read_bytes = 0
            last: Item | None = None
            skipping = start is not None
            start_key = table.key_of(table.key_attributes(start), operation) if start else None
            for sort in chosen:
                base_key = entries[sort] if index_name else (pk, sort)
                item = table.items[base_key] if index_name else entries[sort]
                if skipping:
                    if base_key == start_key:
                        skipping = False
                    continue
                read_bytes += table.size(base_key)
                items.append(item)
                if (limit and len(items) >= limit) or read_bytes >= QUERY_PAGE_BYTES:
                    last = item
                    break
            filtered = items
            if request.get("FilterExpression"):
                filter_condition = parsed_expression(
                    "condition", request["FilterExpression"], request.get("ExpressionAttributeNames")
                )
                filtered = [i for i in items if Evaluator(i, self._values(request)).holds(filter_condition)]
            self.meter.read(table.name, read_bytes, consistent=consistent, items=len(items))
            answer: dict[str, Any] = {
                "Items": [self._projected(i, request) for i in filtered],
                "Count": len(filtered),
                "ScannedCount": len(items),
            }
            if last is not None and (last is not items[-1] or chosen[-1] is not None):
                answer["LastEvaluatedKey"] = {name: copy_value(last[name]) for name in keys if name in last}
            return answer

    @staticmethod
    def _query_keys(table: MemoryTable, index_name: str | None) -> tuple[str, str | None, list[str]]:
        base_keys = [table.hash_key] + ([table.range_key] if table.range_key else [])
        if not index_name:
            return table.hash_key, table.range_key, base_keys
        index = table.indexes.get(index_name)
        if index is None:
            raise validation("Query", f"The table does not have the specified index: {index_name}")
        keys = list(
            dict.fromkeys([*base_keys, index.hash_key, *([index.range_key] if index.range_key else [])])
        )
        return index.hash_key, index.range_key, keys

    def scan(self, **request: Any) -> dict[str, Any]:
        operation = "Scan"
        self._enter(operation)
        with self._lock:
            table = self._table(request["TableName"], operation)
            items = [dict(i) for i in table.items.values()]
            self.meter.read(
                table.name, sum(map(item_size, items)), consistent=bool(request.get("ConsistentRead"))
            )
            return {"Items": items, "Count": len(items), "ScannedCount": len(items)}

    def get_paginator(self, operation: str) -> _Paginator:
        return _Paginator(self, operation)

    # -- batches --

    def batch_get_item(self, **request: Any) -> dict[str, Any]:
        operation = "BatchGetItem"
        self._enter(operation)
        wanted = request["RequestItems"]
        if sum(len(spec["Keys"]) for spec in wanted.values()) > MAX_BATCH_GET:
            raise validation(operation, "Too many items requested for the BatchGetItem call")
        with self._lock:
            self._maybe_throttled(operation)
            responses: dict[str, list[Item]] = {}
            unprocessed: dict[str, Any] = {}
            for name, spec in wanted.items():
                table = self._table(name, operation)
                seen: set[tuple[Any, Any]] = set()
                for key in spec["Keys"]:
                    place = table.key_of(key, operation)
                    if place in seen:
                        raise validation(operation, "Provided list of item keys contains duplicates")
                    seen.add(place)
                    if self.faults.applies(operation) and self.faults.roll(
                        self.faults.unprocessed, "unprocessed"
                    ):
                        unprocessed.setdefault(name, {**spec, "Keys": []})["Keys"].append(key)
                        continue
                    found = table.items.get(place)
                    consistent = bool(spec.get("ConsistentRead"))
                    self.meter.read(name, table.size(place), consistent=consistent)
                    if found is not None:
                        responses.setdefault(name, []).append(self._projected(found, spec))
            return {"Responses": responses, "UnprocessedKeys": unprocessed}

    def batch_write_item(self, **request: Any) -> dict[str, Any]:
        operation = "BatchWriteItem"
        self._enter(operation)
        wanted = request["RequestItems"]
        if sum(len(requests) for requests in wanted.values()) > MAX_BATCH_WRITE:
            raise validation(operation, "Too many items requested for the BatchWriteItem call")
        with self._lock:
            self._maybe_throttled(operation)
            planned: list[tuple[MemoryTable, tuple[Any, Any], Item | None, int]] = []
            unprocessed: dict[str, list[Any]] = {}
            seen: set[tuple[str, Any, Any]] = set()
            for name, requests in wanted.items():
                table = self._table(name, operation)
                for each in requests:
                    if "PutRequest" in each:
                        item, size = self._checked_item(each["PutRequest"]["Item"], table, operation)
                        key = table.key_of(table.key_attributes(item), operation)
                    else:
                        item, size = None, 0
                        key = table.key_of(each["DeleteRequest"]["Key"], operation)
                    if (name, *key) in seen:
                        raise validation(operation, "Provided list of item keys contains duplicates")
                    seen.add((name, *key))
                    if self.faults.applies(operation) and self.faults.roll(
                        self.faults.unprocessed, "unprocessed"
                    ):
                        unprocessed.setdefault(name, []).append(each)
                        continue
                    planned.append((table, key, item, size))
            for table, key, item, size in planned:
                old_size = table.size(key)
                table.store(item, key, table.items.get(key), size)
                self.meter.write(table.name, max(size, old_size))
        return {"UnprocessedItems": unprocessed}

    # -- transactions --

    def transact_write_items(self, **request: Any) -> dict[str, Any]:
        operation = "TransactWriteItems"
        self._enter(operation)
        actions = request["TransactItems"]
        if not actions or len(actions) > MAX_TRANSACTION_ITEMS:
            raise validation(
                operation, "Member must have length less than or equal to 100 and greater than or equal to 1"
            )
        with self._lock:
            self._maybe_throttled(operation)
            plans = [self._plan_action(action, operation) for action in actions]
            places = [(plan.table.name, *plan.key) for plan in plans]
            if len(set(places)) != len(places):
                raise validation(
                    operation, "Transaction request cannot include multiple operations on one item"
                )
            if sum(plan.size for plan in plans) > MAX_TRANSACTION_BYTES:
                raise validation(operation, "Transaction size has exceeded the maximum allowed size")
            reasons = [plan.reason or self._condition_reason(plan, operation) for plan in plans]
            injected = self._injected_reason(len(plans), operation) if not any(reasons) else None
            if injected is not None:
                reasons[injected[0]] = {"Code": injected[1], "Message": injected[2]}
            if any(reasons):
                codes = [r["Code"] if r else "None" for r in reasons]
                raise client_error(
                    operation,
                    "TransactionCanceledException",
                    f"Transaction cancelled, please refer cancellation reasons for specific reasons [{', '.join(codes)}]",
                    CancellationReasons=[r or {"Code": "None"} for r in reasons],
                )
            for plan in plans:
                old_size = plan.table.size(plan.key)
                if plan.kind != "ConditionCheck":
                    plan.table.store(plan.new, plan.key, plan.old, plan.size)
                self.meter.write(plan.table.name, max(plan.size, old_size), transactional=True)
        self._maybe_timed_out(operation)
        return {}

    def _plan_action(self, action: Mapping[str, Any], operation: str) -> _Action:
        if len(action) != 1:
            raise validation(
                operation, "A transaction item must have exactly one of Put, Update, Delete, ConditionCheck"
            )
        ((kind, spec),) = action.items()
        table = self._table(spec["TableName"], operation)
        if kind == "Put":
            try:
                item, size = self._checked_item(spec["Item"], table, operation)
            except ClientError as exc:
                key = table.key_of(table.key_attributes(spec["Item"]), operation)
                return _Action(kind, spec, table, key, None, table.items.get(key), reason=_reason(exc))
            key = table.key_of(table.key_attributes(item), operation)
            return _Action(kind, spec, table, key, item, table.items.get(key), size)
        if kind not in ("Update", "Delete", "ConditionCheck"):
            raise validation(operation, f"unknown transaction action {kind}")
        key = table.key_of(spec["Key"], operation)
        old = table.items.get(key)
        if kind == "Update":
            try:
                item, size = self._updated(table, spec, old, operation)
            except ClientError as exc:
                return _Action(kind, spec, table, key, None, old, reason=_reason(exc))
            return _Action(kind, spec, table, key, item, old, size)
        if kind == "Delete":
            return _Action(kind, spec, table, key, None, old)
        return _Action(kind, spec, table, key, old, old, table.size(key))

    def _condition_reason(self, plan: _Action, operation: str) -> dict[str, Any] | None:
        if self._condition_holds(plan.spec, plan.old, operation):
            return None
        reason: dict[str, Any] = {
            "Code": "ConditionalCheckFailed",
            "Message": "The conditional request failed",
        }
        if plan.spec.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and plan.old is not None:
            reason["Item"] = copy_item(plan.old)
        return reason

    def _injected_reason(self, count: int, operation: str) -> tuple[int, str, str] | None:
        if not self.faults.applies(operation):
            return None
        if self.faults.roll(self.faults.conflict, "conflict"):
            return self.faults.choose(count), "TransactionConflict", "Transaction is ongoing for the item"
        if self.faults.roll(self.faults.throttle_item, "throttle_item"):
            code = ("ThrottlingError", "ProvisionedThroughputExceeded")[self.faults.choose(2)]
            return self.faults.choose(count), code, "Throughput exceeds the current capacity"
        if self.faults.roll(self.faults.validation, "validation"):
            return self.faults.choose(count), "ValidationError", "One or more parameter values were invalid"
        return None


def _key_condition(
    condition: Any, hash_name: str, range_name: str | None, values: Mapping[str, Wire]
) -> tuple[Any, tuple[str, Any, Any] | None]:
    """The partition key's value and a test of the sort key (op, bound(s)) from a key
    condition: ``hash = :v [AND range <op> :w | BETWEEN | begins_with]``."""
    parts = condition.parts if isinstance(condition, Logical) and condition.op == "AND" else (condition,)
    evaluator = Evaluator({}, values)
    pk: Any = None
    sort_test: tuple[str, Any, Any] | None = None
    for part in parts:
        match part:
            case Compare(op="=", left=Path(name=name), right=right) if name == hash_name:
                pk = sortable(evaluator.value(right))
            case Compare(op=op, left=Path(name=name), right=right) if name == range_name:
                sort_test = (op, sortable(evaluator.value(right)), None)
            case Between(operand=Path(name=name), low=low, high=high) if name == range_name:
                sort_test = ("BETWEEN", sortable(evaluator.value(low)), sortable(evaluator.value(high)))
            case Call(function="begins_with", args=(Path(name=name), prefix)) if name == range_name:
                sort_test = ("begins_with", sortable(evaluator.value(prefix)), None)
            case _:
                raise validation("Query", f"Query key condition not supported: {part!r}")
    if pk is None:
        raise validation("Query", "Query condition missed key schema element")
    return pk, sort_test


def _sort_range(order: list[Any], test: tuple[str, Any, Any] | None) -> list[Any]:
    if test is None:
        return list(order)
    op, low, high = test
    match op:
        case "=":
            lo, hi = bisect.bisect_left(order, low), bisect.bisect_right(order, low)
        case "<":
            lo, hi = 0, bisect.bisect_left(order, low)
        case "<=":
            lo, hi = 0, bisect.bisect_right(order, low)
        case ">":
            lo, hi = bisect.bisect_right(order, low), len(order)
        case ">=":
            lo, hi = bisect.bisect_left(order, low), len(order)
        case "BETWEEN":
            lo, hi = bisect.bisect_left(order, low), bisect.bisect_right(order, high)
        case "begins_with":
            lo = bisect.bisect_left(order, low)
            hi = lo
            while hi < len(order) and str(order[hi]).startswith(str(low)):
                hi += 1
        case _:
            raise validation("Query", f"unsupported key condition operator {op}")
    return order[lo:hi]
