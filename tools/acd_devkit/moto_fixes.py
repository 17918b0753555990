"""Make moto's DynamoDB cost what DynamoDB costs, so the emulator is not what is measured.

moto 5.2 has five costs DynamoDB does not have, all in the paths the aggregators and the
reports use:

* ``TransactWriteItems`` deep-copies every table it touches (items *and* stream records) before
  it starts, to roll back on failure: a transaction costs as much as the whole table. Concurrent
  requests then fail inside that copy (``dictionary changed size during iteration``, a 500).
* a base-table ``Query`` walks every item of the table to find one partition.
* the backend has no locking; two threads of the moto server can interleave a transaction.
* every attribute value of every item it answers with goes through its model-driven response
  serializer, which looks for each of the ten members an ``AttributeValue`` may have: about
  half a millisecond per attribute, so reading a day report's 2,300 items took seconds.
* the server finds each request's backend from its host by listing moto's package folder (a
  directory read and ~150 ``isdir`` calls) and then trying some 700 URL patterns: a seventh of
  the moto server's CPU during a dialer day on ``acd-local``, the same answer every time.

:func:`install` replaces the transaction with one that checks every condition first, then writes
(DynamoDB's own semantics: all or nothing), keeping a copy only of the items it writes; answers a
base-table query from its partition alone (a limited one from the few keys it needs, found by
bisection in the partition's keys kept in order); runs each DynamoDB request under one lock;
remembers each host's backend; and writes an attribute value that is already in its wire form (strings, numbers as strings,
booleans, null, sets of those, maps and lists of such values: what moto's items hold) into the
answer as it is, as the serializer would have (a value of any other form, binary for instance,
still goes through it). The answers are moto's own: the same conditions, expressions, stream
records and errors, and the same bytes.

:func:`observe_writes` lets one observer see every write request under that lock, before and
after it runs, and then flush what it noted once the lock is let go (``acd-local`` journals what changed: :mod:`acd_local.state`).
"""

from __future__ import annotations

import bisect
import copy
import functools
import heapq
import threading
from typing import Any, Protocol

_LOCK = threading.RLock()
_HOSTS_REMEMBERED = 256
_INSTALLED = False
WRITE_ACTIONS = frozenset({"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"})


class WriteObserver(Protocol):
    """Sees every DynamoDB write request, under the lock: nothing else runs in between."""

    def before(self, backend: Any) -> Any:
        """Called before the request runs; what it returns is handed to :meth:`after`."""

    def after(self, backend: Any, action: str, params: dict[str, Any], before: Any) -> None:
        """Called after it ran, whether it succeeded or failed (a batch may fail half-way)."""

    def flush(self) -> None:
        """Called after :meth:`after`, once the lock is let go, before the request is answered:
        slow work (a file write) done here holds up no other request."""


_OBSERVER: WriteObserver | None = None


def observe_writes(observer: WriteObserver | None) -> None:
    """Install (or, with None, remove) the one write observer."""
    global _OBSERVER  # noqa: PLW0603 - one per process, like the patches
    with _LOCK:
        _OBSERVER = observer


def install() -> None:
    """Patch moto in this process (idempotent). Call before the first DynamoDB request."""
    global _INSTALLED  # noqa: PLW0603 - once per process
    if _INSTALLED:
        return
    from moto.core.serialize import BaseJSONSerializer  # noqa: PLC0415
    from moto.dynamodb.models import DynamoDBBackend  # noqa: PLC0415
    from moto.dynamodb.models.table import Table  # noqa: PLC0415
    from moto.dynamodb.responses import DynamoHandler  # noqa: PLC0415
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication  # noqa: PLC0415

    BaseJSONSerializer._serialize_type_structure = _attribute_values_as_they_are(  # type: ignore[method-assign]
        BaseJSONSerializer._serialize_type_structure
    )
    DynamoDBBackend.transact_write_items = _transact_write_items  # type: ignore[method-assign]
    Table.query = _partition_query(Table.query)  # type: ignore[method-assign]
    Table.delete_item = _forgetting_order(Table.delete_item)  # type: ignore[method-assign]
    Table.put_item = _keeping_order(Table.put_item)  # type: ignore[method-assign]
    DynamoHandler.call_action = _serialized(DynamoHandler.call_action)  # type: ignore[method-assign]
    DomainDispatcherApplication.get_backend_for_host = _remembered_per_host(  # type: ignore[method-assign]
        DomainDispatcherApplication.get_backend_for_host
    )
    _INSTALLED = True


def _remembered_per_host(backend_for_host: Any) -> Any:
    """The backend of a host, worked out once: it depends on the host and moto's installed
    files alone. (At most ``_HOSTS_REMEMBERED`` hosts: a client names the host it likes.)"""
    known: dict[str | None, Any] = {}

    @functools.wraps(backend_for_host)
    def remembered(self: Any, host: str | None) -> Any:
        if host in known:
            return known[host]
        backend = backend_for_host(self, host)
        if len(known) < _HOSTS_REMEMBERED:
            known[host] = backend
        return backend

    return remembered


def _serialized(call_action: Any) -> Any:
    @functools.wraps(call_action)
    def serialized(self: Any) -> Any:
        observed: WriteObserver | None = None
        try:
            with _LOCK:
                observer = _OBSERVER
                action = self._get_action() if observer is not None else ""
                if observer is None or action not in WRITE_ACTIONS:
                    return call_action(self)
                backend = self.dynamodb_backend
                before = observer.before(backend)
                observed = observer
                try:
                    return call_action(self)
                finally:
                    observer.after(backend, action, getattr(self, "params", None) or {}, before)
        finally:
            if observed is not None:
                observed.flush()  # outside the lock, before the answer leaves

    return serialized


# An attribute value's members that hold text (numbers are text on the wire too), and their sets.
_TEXT = frozenset({"S", "N"})
_TEXT_SETS = frozenset({"SS", "NS"})
_FLAGS = frozenset({"NULL", "BOOL"})
_DYNAMODB = frozenset({"dynamodb", "dynamodbstreams"})


def _wire_form(value: Any) -> bool:
    """Whether ``value`` is an ``AttributeValue`` exactly as DynamoDB's JSON carries it, with
    nothing the serializer would change: one member, text as ``str``, flags as ``bool``, maps
    and lists of such values."""
    if not isinstance(value, dict) or len(value) != 1:
        return False
    ((kind, inner),) = value.items()
    if kind in _TEXT:
        return type(inner) is str
    if kind in _FLAGS:
        return type(inner) is bool
    if kind in _TEXT_SETS:
        return type(inner) is list and all(type(each) is str for each in inner)
    if kind == "M":
        return type(inner) is dict and all(type(k) is str and _wire_form(v) for k, v in inner.items())
    if kind == "L":
        return type(inner) is list and all(_wire_form(each) for each in inner)
    return False  # binary and anything unexpected: the serializer's way


def _attribute_values_as_they_are(serialize_structure: Any) -> Any:
    @functools.wraps(serialize_structure)
    def serialize(self: Any, serialized: Any, value: Any, shape: Any, key: str) -> None:
        if (
            key
            and shape.name == "AttributeValue"
            and self.service_model.service_name in _DYNAMODB
            and _wire_form(value)
        ):
            serialized[self.get_serialized_name(shape, key)] = value
            return
        serialize_structure(self, serialized, value, shape, key)

    return serialize


def _raw(key: Any) -> Any:
    return key.value if key.type == "S" else key.cast_value


# Each queried partition's range keys in order (their raw values, and the keys), with the
# partition (the very dict) and its size: valid while the partition has the same keys. Within one
# partition, keys are only added (``Table.put_item`` puts a new key into its place; any other way
# grows the size: sorted again) or removed (``Table.delete_item``, and a rolled-back transaction,
# forget the order), so the same dict of the same size holds the same keys.
_ORDERS: dict[tuple[int, Any], tuple[dict[Any, Any], int, list[Any], list[Any]]] = {}
_ORDERS_KEPT = 4096


def _forget_order(table: Any, hash_key: Any) -> None:
    _ORDERS.pop((id(table), hash_key), None)


def _put_in_order(table: Any, hash_key: Any, range_key: Any) -> None:
    """After ``Table.put_item``: a key new to a partition whose order is kept goes into its place
    (an item written over keeps its key, and the order stands)."""
    marker = (id(table), hash_key)
    known = _ORDERS.get(marker)
    if known is None or range_key is None:
        return
    partition, size, raws, keys = known
    raw = _raw(range_key)
    at = bisect.bisect_left(raws, raw)
    kept = at < len(raws) and raws[at] == raw
    if table.items.get(hash_key) is not partition:
        _ORDERS.pop(marker, None)
    elif len(partition) == size + 1 and not kept:  # a new key: into its place
        raws.insert(at, raw)
        keys.insert(at, range_key)
        _ORDERS[marker] = (partition, size + 1, raws, keys)
    elif not (len(partition) == size and kept):  # not a key written over either: sorted again
        _ORDERS.pop(marker, None)


def _ordered(table: Any, hash_key: Any, partition: dict[Any, Any]) -> tuple[list[Any], list[Any]]:
    """The partition's range keys sorted, as raw values and as keys (under the lock)."""
    marker = (id(table), hash_key)
    known = _ORDERS.get(marker)
    if known is not None and known[0] is partition and known[1] == len(partition):
        return known[2], known[3]
    keys = sorted(partition, key=_raw)
    raws = [_raw(key) for key in keys]
    if len(_ORDERS) >= _ORDERS_KEPT:
        _ORDERS.clear()
    _ORDERS[marker] = (partition, len(partition), raws, keys)
    return raws, keys


def _bounds(raws: list[Any], compare: Any, values: list[Any]) -> tuple[int, int] | None:
    """Where the keys that moto's comparison function ``compare`` (Python's operators on the raw
    values; None: no range condition) matches lie in ``raws`` (sorted); None for one this does
    not place (``begins_with``)."""
    from moto.dynamodb.comparisons import COMPARISON_FUNCS as FUNCS  # noqa: PLC0415

    if compare is None:
        return 0, len(raws)
    if compare is FUNCS["BETWEEN"] and len(values) == 2:
        return bisect.bisect_left(raws, values[0]), bisect.bisect_right(raws, values[1])
    if len(values) != 1:
        return None
    (value,) = values
    if compare is FUNCS["EQ"]:
        return bisect.bisect_left(raws, value), bisect.bisect_right(raws, value)
    if compare is FUNCS["LT"]:
        return 0, bisect.bisect_left(raws, value)
    if compare is FUNCS["LE"]:
        return 0, bisect.bisect_right(raws, value)
    if compare is FUNCS["GT"]:
        return bisect.bisect_right(raws, value), len(raws)
    if compare is FUNCS["GE"]:
        return bisect.bisect_left(raws, value), len(raws)
    return None


def _partition_query(query: Any) -> Any:
    from moto.dynamodb.comparisons import get_comparison_func  # noqa: PLC0415

    @functools.wraps(query)
    def partition_query(self: Any, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        index_name = kwargs.get("index_name", args[6] if len(args) > 6 else None)
        if index_name or hash_key is None:
            return query(self, hash_key, *args, **kwargs)
        range_comparison, range_objs, limit, start_key, forward = args[:5]
        with _LOCK:
            everything = self.items
            partition = everything.get(hash_key, {})
            compare = get_comparison_func(range_comparison) if range_comparison else None
            if (
                limit
                and not start_key
                and isinstance(partition, dict)
                and self.range_key_attr
                and (compare is not None or not range_comparison)
            ):
                # A limited read (the aggregators' "the one before/after X") needs the first
                # limit + 1 matching keys in order, not the whole partition sorted and sized;
                # the extra one lets moto set LastEvaluatedKey exactly as before. They are found
                # by bisection in the partition's keys kept in order (a day of an agent's 3,600
                # states: ~4 ms a read to look at every key).
                bounds = [obj.cast_value for obj in range_objs]
                raws, ordered = _ordered(self, hash_key, partition)
                place = _bounds(raws, compare, bounds)
                wanted = int(limit) + 1
                if place is not None:
                    low, high = place
                    picked = (
                        ordered[low : min(high, low + wanted)]
                        if forward
                        else ordered[max(low, high - wanted) : high]
                    )
                else:
                    assert compare is not None  # no condition is always placed
                    keys = [key for key in partition if compare(_raw(key), *bounds)]
                    pick = heapq.nsmallest if forward else heapq.nlargest
                    picked = pick(wanted, keys, key=_raw)
                partition = {key: partition[key] for key in picked}
            self.items = {hash_key: partition} if partition else {}
            try:
                return query(self, hash_key, *args, **kwargs)
            finally:
                self.items = everything

    return partition_query


def _keeping_order(put_item: Any) -> Any:
    @functools.wraps(put_item)
    def keeping(self: Any, *args: Any, **kwargs: Any) -> Any:
        item = put_item(self, *args, **kwargs)
        if self.range_key_attr:
            _put_in_order(self, item.hash_key, item.range_key)
        return item

    return keeping


def _forgetting_order(delete_item: Any) -> Any:
    @functools.wraps(delete_item)
    def forgetting(self: Any, hash_key: Any, range_key: Any) -> Any:
        _forget_order(self, hash_key)
        return delete_item(self, hash_key, range_key)

    return forgetting


def _transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
    from moto.dynamodb.comparisons import get_filter_expression  # noqa: PLC0415
    from moto.dynamodb.exceptions import (  # noqa: PLC0415
        MultipleTransactionsException,
        TooManyTransactionsException,
        TransactionCanceledException,
        TransactWriteSingleOpException,
    )

    if len(transact_items) > 100:
        raise TooManyTransactionsException()
    with _LOCK:
        seen: set[tuple[str, str]] = set()
        writes: list[tuple[str, str, dict[str, Any], dict[str, Any]]] = []
        errors: list[tuple[Any, Any, Any]] = []
        for entry in transact_items:
            if len(entry) > 1:
                raise TransactWriteSingleOpException
            op_type, op = next(iter(entry.items()))
            if op_type not in {"ConditionCheck", "Put", "Delete", "Update"}:
                raise ValueError("Unsupported transaction operation")
            table_name = op["TableName"]
            table = self.get_table(table_name)
            if op_type == "Put":
                attrs = op["Item"]
                key = {table.hash_key_attr: attrs[table.hash_key_attr]}
                if table.range_key_attr is not None:
                    key[table.range_key_attr] = attrs[table.range_key_attr]
            else:
                key = op["Key"]
            marker = (str(table_name), str(dict(sorted(key.items()))))
            if marker in seen:
                raise MultipleTransactionsException()
            seen.add(marker)
            current = self.get_item(table_name, key)
            condition = op.get("ConditionExpression")
            if condition is not None:
                check = get_filter_expression(
                    condition, op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues")
                )
                if not check.expr(current):
                    old = None
                    if op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current:
                        old = current.to_json()["Attributes"]
                    errors.append(("ConditionalCheckFailed", "The conditional request failed", old))
                    continue
            errors.append((None, None, None))
            if op_type != "ConditionCheck":
                writes.append((op_type, table_name, key, op))
        if any(code is not None for code, _, _ in errors):
            raise TransactionCanceledException(errors)
        _apply(self, writes)


def _apply(self: Any, writes: list[tuple[str, str, dict[str, Any], dict[str, Any]]]) -> None:
    """Apply the checked writes; on an error (a bad update expression) put back what was."""
    before = [
        (table_name, key, copy.deepcopy(self.get_item(table_name, key))) for _, table_name, key, _ in writes
    ]
    streams = {name: _stream_length(self.get_table(name)) for _, name, _, _ in writes}
    try:
        for op_type, table_name, key, op in writes:
            names, values = op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues")
            if op_type == "Put":
                self.put_item(
                    table_name,
                    op["Item"],
                    expression_attribute_names=names,
                    expression_attribute_values=values,
                )
            elif op_type == "Delete":
                self.delete_item(
                    table_name, key, expression_attribute_names=names, expression_attribute_values=values
                )
            else:
                self.update_item(
                    table_name,
                    key,
                    update_expression=op["UpdateExpression"],
                    expression_attribute_names=names,
                    expression_attribute_values=values,
                )
    except Exception:
        for table_name, key, item in reversed(before):
            table = self.get_table(table_name)
            hash_value, range_value = self.get_keys_value(table, key)
            if range_value is None:
                if item is None:
                    table.items.pop(hash_value, None)
                else:
                    table.items[hash_value] = item
            elif item is None:
                table.items[hash_value].pop(range_value, None)
                _forget_order(table, hash_value)
            else:
                table.items[hash_value][range_value] = item
        for name, length in streams.items():
            shard = getattr(self.get_table(name), "stream_shard", None)
            if shard is not None and length is not None:
                del shard.items[length:]
        raise


def _stream_length(table: Any) -> int | None:
    shard = getattr(table, "stream_shard", None)
    return None if shard is None else len(shard.items)
