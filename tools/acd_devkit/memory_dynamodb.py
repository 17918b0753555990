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
"""

from __future__ import annotations

import bisect
import functools
import itertools
import math
import random
import re
import threading
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from botocore.exceptions import ClientError, ReadTimeoutError

KB = 1024
MAX_ITEM_BYTES = 400 * KB
MAX_TRANSACTION_ITEMS = 100
MAX_TRANSACTION_BYTES = 4 * KB * KB
QUERY_PAGE_BYTES = KB * KB
MAX_BATCH_GET = 100
MAX_BATCH_WRITE = 25
INDEX_ENTRY_OVERHEAD = 100  # bytes DynamoDB adds to each index entry's size

Wire = dict[str, Any]  # an attribute value as the low-level client sends it: {"S": "..."}
Item = dict[str, Wire]


# -- errors as botocore raises them ----------------------------------------------------------------


def client_error(operation: str, code: str, message: str, **extra: Any) -> ClientError:
    status = 500 if code == "InternalServerError" else 400
    response: dict[str, Any] = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": status},
        **extra,
    }
    return ClientError(response, operation)  # type: ignore[arg-type]


def validation(operation: str, message: str) -> ClientError:
    return client_error(operation, "ValidationException", message)


# -- values -----------------------------------------------------------------------------------------


def _copy(value: Any) -> Any:
    kind = type(value)
    if kind is dict:
        return {k: _copy(v) for k, v in value.items()}
    if kind is list:
        return [_copy(v) for v in value]
    return value


def copy_item(item: Mapping[str, Wire]) -> Item:
    """A request's item, copied on the way in: the caller may change its own afterwards. Stored
    items are never changed in place (a write stores a new one), so answers and stream records
    share them, one level down (treat answers as read-only, as boto3's deserializer does)."""
    return {name: _copy(value) for name, value in item.items()}


def _number_size(text: str) -> int:
    digits = text.lstrip("-").replace(".", "").lstrip("0").rstrip("0") or "0"
    return (len(digits) + 1) // 2 + 1


def value_size(value: Wire) -> int:
    """A value's size as DynamoDB counts it (the developer guide's "Item sizes and formats")."""
    for kind, inner in value.items():
        if kind == "S":
            return len(inner) if inner.isascii() else len(inner.encode("utf-8"))
        if kind == "N":
            return _number_size(inner)
        if kind == "M":
            return 3 + sum(
                (len(k) if k.isascii() else len(k.encode("utf-8"))) + value_size(v) + 1
                for k, v in inner.items()
            )
        if kind == "L":
            return 3 + sum(value_size(v) + 1 for v in inner)
        if kind == "B":
            return len(inner) if isinstance(inner, bytes | bytearray) else len(str(inner))
        if kind in ("BOOL", "NULL"):
            return 1
        if kind == "SS":
            return sum(len(s.encode("utf-8")) for s in inner)
        if kind == "NS":
            return sum(_number_size(n) for n in inner)
        if kind == "BS":
            return sum(len(b) for b in inner)
        raise ValueError(f"unknown attribute type {kind!r}")
    raise ValueError("an attribute value without a type")


def item_size(item: Mapping[str, Wire] | None) -> int:
    if not item:
        return 0
    return sum(
        (len(name) if name.isascii() else len(name.encode("utf-8"))) + value_size(value)
        for name, value in item.items()
    )


def _plain(value: Wire) -> Any:
    """A value to compare: str, Decimal, bytes, bool, None, or a frozen form of sets/maps/lists."""
    (kind, inner), *_ = value.items()
    match kind:
        case "S":
            return inner
        case "N":
            return Decimal(inner)
        case "B":
            return bytes(inner) if isinstance(inner, bytes | bytearray) else inner
        case "BOOL":
            return bool(inner)
        case "NULL":
            return None
        case "SS" | "BS":
            return frozenset(inner)
        case "NS":
            return frozenset(Decimal(n) for n in inner)
        case "M":
            return tuple(sorted((k, _plain(v)) for k, v in inner.items()))
        case "L":
            return tuple(_plain(v) for v in inner)
    raise ValueError(f"unknown attribute type {kind!r}")


def _kind(value: Wire) -> str:
    return next(iter(value))


def _number_wire(number: Decimal) -> Wire:
    text = format(number.normalize(), "f") if number == number.to_integral_value() else str(number)
    return {"N": text}


# -- expressions ------------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"\s*(?:(?P<op><>|<=|>=|[=<>(),+\-])|(?P<name>#[A-Za-z0-9_]+)|(?P<value>:[A-Za-z0-9_]+)"
    r"|(?P<word>[A-Za-z_][A-Za-z0-9_]*))"
)
_KEYWORDS = {"AND", "OR", "NOT", "BETWEEN", "IN", "SET", "ADD", "REMOVE", "DELETE"}


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    position = 0
    text = text.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise NotImplementedError(f"expression not understood at {text[position:]!r}")
        position = match.end()
        kind = match.lastgroup or ""
        token = match.group(kind)
        if kind == "word" and token.upper() in _KEYWORDS:
            kind, token = "keyword", token.upper()
        out.append((kind, token))
    return out


@dataclass(frozen=True)
class Path:
    name: str


@dataclass(frozen=True)
class Placeholder:
    name: str


@dataclass(frozen=True)
class Call:
    function: str
    args: tuple[Any, ...]


@dataclass(frozen=True)
class Compare:
    op: str
    left: Any
    right: Any


@dataclass(frozen=True)
class Between:
    operand: Any
    low: Any
    high: Any


@dataclass(frozen=True)
class In:
    operand: Any
    options: tuple[Any, ...]


@dataclass(frozen=True)
class Logical:
    op: str  # AND, OR, NOT
    parts: tuple[Any, ...]


@dataclass(frozen=True)
class Arithmetic:
    op: str
    left: Any
    right: Any


class _Parser:
    def __init__(self, text: str, names: Mapping[str, str]) -> None:
        self.tokens = _tokens(text)
        self.position = 0
        self.names = names

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self, expected: str | None = None) -> tuple[str, str]:
        token = self.peek()
        if token is None or (expected is not None and token[1] != expected):
            raise NotImplementedError(f"expected {expected!r}, got {token!r}")
        self.position += 1
        return token

    def at(self, text: str) -> bool:
        token = self.peek()
        return token is not None and token[1] == text

    def done(self) -> None:
        if self.peek() is not None:
            raise NotImplementedError(f"unexpected {self.peek()!r}")

    # conditions
    def condition(self) -> Any:
        parts = [self.conjunction()]
        while self.at("OR"):
            self.take()
            parts.append(self.conjunction())
        return parts[0] if len(parts) == 1 else Logical("OR", tuple(parts))

    def conjunction(self) -> Any:
        parts = [self.negation()]
        while self.at("AND"):
            self.take()
            parts.append(self.negation())
        return parts[0] if len(parts) == 1 else Logical("AND", tuple(parts))

    def negation(self) -> Any:
        if self.at("NOT"):
            self.take()
            return Logical("NOT", (self.negation(),))
        return self.comparison()

    def comparison(self) -> Any:
        if self.at("("):
            self.take()
            inner = self.condition()
            self.take(")")
            return inner
        left = self.operand()
        token = self.peek()
        if token is None or token[1] in ("AND", "OR", ")"):
            if isinstance(left, Call):
                return left
            raise NotImplementedError(f"a condition needs a comparison after {left!r}")
        if token[1] == "BETWEEN":
            self.take()
            low = self.operand()
            self.take("AND")
            return Between(left, low, self.operand())
        if token[1] == "IN":
            self.take()
            self.take("(")
            options = [self.operand()]
            while self.at(","):
                self.take()
                options.append(self.operand())
            self.take(")")
            return In(left, tuple(options))
        if token[1] in ("=", "<>", "<", "<=", ">", ">="):
            self.take()
            return Compare(token[1], left, self.operand())
        raise NotImplementedError(f"unexpected {token!r}")

    def operand(self) -> Any:
        kind, token = self.take()
        if kind == "value":
            return Placeholder(token)
        if kind == "name":
            if token not in self.names:
                raise KeyError(token)
            return Path(self.names[token])
        if kind == "word":
            if self.at("("):
                self.take()
                args = [self.operand()]
                while self.at(","):
                    self.take()
                    args.append(self.operand())
                self.take(")")
                return Call(token, tuple(args))
            if self.at("."):
                raise NotImplementedError("nested paths")
            return Path(token)
        raise NotImplementedError(f"unexpected {token!r}")

    # update expressions
    def update(self) -> list[tuple[str, Any]]:
        actions: list[tuple[str, Any]] = []
        while self.peek() is not None:
            kind, clause = self.take()
            if kind != "keyword" or clause not in ("SET", "ADD", "REMOVE", "DELETE"):
                raise NotImplementedError(f"update clause {clause!r}")
            while True:
                path = self.operand()
                if not isinstance(path, Path):
                    raise NotImplementedError(f"{clause} of {path!r}")
                if clause == "SET":
                    self.take("=")
                    value = self.operand()
                    if self.at("+") or self.at("-"):
                        op = self.take()[1]
                        value = Arithmetic(op, value, self.operand())
                    actions.append(("SET", (path, value)))
                elif clause in ("ADD", "DELETE"):
                    actions.append((clause, (path, self.operand())))
                else:
                    actions.append(("REMOVE", (path, None)))
                if not self.at(","):
                    break
                self.take()
        return actions


_CACHE: dict[tuple[str, str, tuple[tuple[str, str], ...]], Any] = {}


def _parsed(kind: str, text: str, names: Mapping[str, str] | None) -> Any:
    key = (kind, text, tuple(sorted((names or {}).items())))
    found = _CACHE.get(key)
    if found is None:
        parser = _Parser(text, names or {})
        found = parser.update() if kind == "update" else parser.condition()
        parser.done()
        if len(_CACHE) < 10_000:
            _CACHE[key] = found
    return found


class _Evaluator:
    def __init__(self, item: Mapping[str, Wire] | None, values: Mapping[str, Wire]) -> None:
        self.item = item or {}
        self.values = values

    def value(self, operand: Any) -> Wire | None:
        match operand:
            case Path(name=name):
                return self.item.get(name)
            case Placeholder(name=name):
                if name not in self.values:
                    raise KeyError(name)
                return self.values[name]
            case Call(function="size", args=(path,)):
                found = self.value(path)
                if found is None:
                    return None
                (kind, inner), *_ = found.items()
                size = len(inner.encode("utf-8")) if kind == "S" else len(inner)
                return {"N": str(size)}
        raise NotImplementedError(f"operand {operand!r}")

    def holds(self, condition: Any) -> bool:
        match condition:
            case Logical(op="AND", parts=parts):
                return all(self.holds(p) for p in parts)
            case Logical(op="OR", parts=parts):
                return any(self.holds(p) for p in parts)
            case Logical(op="NOT", parts=(part,)):
                return not self.holds(part)
            case Compare(op=op, left=left, right=right):
                return _compare(op, self.value(left), self.value(right))
            case Between(operand=operand, low=low, high=high):
                found = self.value(operand)
                return _compare(">=", found, self.value(low)) and _compare("<=", found, self.value(high))
            case In(operand=operand, options=options):
                found = self.value(operand)
                return any(_compare("=", found, self.value(o)) for o in options)
            case Call(function="attribute_exists", args=(Path(name=name),)):
                return name in self.item
            case Call(function="attribute_not_exists", args=(Path(name=name),)):
                return name not in self.item
            case Call(function="begins_with", args=(path, prefix)):
                found, start = self.value(path), self.value(prefix)
                if found is None or start is None or _kind(found) != _kind(start) or _kind(found) not in "SB":
                    return False
                return bool(_plain(found).startswith(_plain(start)))
        raise NotImplementedError(f"condition {condition!r}")


def _compare(op: str, left: Wire | None, right: Wire | None) -> bool:
    if left is None or right is None:
        return op == "<>" and not (left is None and right is None)
    if _kind(left) != _kind(right):
        return op == "<>"
    a, b = _plain(left), _plain(right)
    match op:
        case "=":
            return bool(a == b)
        case "<>":
            return bool(a != b)
    if _kind(left) not in ("S", "N", "B"):
        return False
    match op:
        case "<":
            return bool(a < b)
        case "<=":
            return bool(a <= b)
        case ">":
            return bool(a > b)
        case ">=":
            return bool(a >= b)
    raise NotImplementedError(op)


def _apply_update(item: Item, actions: list[tuple[str, Any]], values: Mapping[str, Wire]) -> None:
    before = dict(item)
    evaluator = _Evaluator(before, values)  # every action reads the item as it was

    def operand(node: Any) -> Wire | None:
        match node:
            case Call(function="if_not_exists", args=(path, default)):
                found = evaluator.value(path)
                return found if found is not None else evaluator.value(default)
            case Arithmetic(op=op, left=left, right=right):
                a, b = operand(left), operand(right)
                if a is None or b is None or _kind(a) != "N" or _kind(b) != "N":
                    raise ValueError("An operand in the update expression has an incorrect data type")
                total = Decimal(a["N"]) + Decimal(b["N"]) if op == "+" else Decimal(a["N"]) - Decimal(b["N"])
                return _number_wire(total)
        return evaluator.value(node)

    for clause, (path, node) in actions:
        if clause == "SET":
            found = operand(node)
            if found is None:
                raise ValueError(
                    "The provided expression refers to an attribute that does not exist in the item"
                )
            item[path.name] = _copy(found)
        elif clause == "REMOVE":
            item.pop(path.name, None)
        elif clause == "ADD":
            delta = operand(node)
            current = before.get(path.name)
            if delta is None:
                raise ValueError("ADD needs a value")
            if _kind(delta) == "N":
                if current is not None and _kind(current) != "N":
                    raise ValueError("An operand in the update expression has an incorrect data type")
                base = Decimal(current["N"]) if current else Decimal(0)
                item[path.name] = _number_wire(base + Decimal(delta["N"]))
            elif _kind(delta) in ("SS", "NS", "BS"):
                kind = _kind(delta)
                merged = list(dict.fromkeys([*(current or {}).get(kind, []), *delta[kind]]))
                item[path.name] = {kind: merged}
            else:
                raise ValueError("ADD takes a number or a set")
        else:
            raise NotImplementedError(clause)


# -- billing ----------------------------------------------------------------------------------------


@dataclass
class Meter:
    """Billed capacity units and requests, per table (on-demand: request units)."""

    write_units: dict[str, float] = field(default_factory=dict)
    read_units: dict[str, float] = field(default_factory=dict)
    requests: dict[str, int] = field(default_factory=dict)
    items_written: dict[str, int] = field(default_factory=dict)
    items_read: dict[str, int] = field(default_factory=dict)

    def request(self, operation: str) -> None:
        self.requests[operation] = self.requests.get(operation, 0) + 1

    def write(self, table: str, size: int, *, transactional: bool = False) -> None:
        units = max(1, math.ceil(size / KB)) * (2 if transactional else 1)
        self.write_units[table] = self.write_units.get(table, 0) + units
        self.items_written[table] = self.items_written.get(table, 0) + 1

    def read(self, table: str, size: int, *, consistent: bool, items: int = 1) -> None:
        units = max(1, math.ceil(size / (4 * KB))) * (1.0 if consistent else 0.5)
        self.read_units[table] = self.read_units.get(table, 0) + units
        self.items_read[table] = self.items_read.get(table, 0) + items

    def total_write_units(self, table: str | None = None) -> float:
        return sum(v for t, v in self.write_units.items() if table in (None, t))

    def total_read_units(self, table: str | None = None) -> float:
        return sum(v for t, v in self.read_units.items() if table in (None, t))


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


# -- streams ----------------------------------------------------------------------------------------


@dataclass
class Stream:
    """A table's stream: records in shards by partition key, each shard in write order."""

    table: str
    view: str
    shard_count: int
    shards: list[list[dict[str, Any]]] = field(default_factory=list)
    arn: str = ""

    def __post_init__(self) -> None:
        self.shards = [[] for _ in range(self.shard_count)]
        self.arn = f"arn:aws:dynamodb:eu-central-1:123456789012:table/{self.table}/stream/memory"

    def shard_of(self, partition_key: str) -> int:
        # stable across runs (Python's str hash is salted per process)
        return zlib.crc32(partition_key.encode("utf-8")) % self.shard_count

    def shard_id(self, shard: int) -> str:
        return f"shardId-{shard:020d}"


_SEQUENCE = itertools.count(1)


# -- tables -----------------------------------------------------------------------------------------


def _sortable(value: Wire | None) -> Any:
    return None if value is None else _plain(value)


class _Partitions:
    """Items by partition key, each partition's sort keys kept sorted (bisect)."""

    def __init__(self) -> None:
        self.parts: dict[Any, tuple[list[Any], dict[Any, Any]]] = {}

    def put(self, pk: Any, sk: Any, value: Any) -> None:
        order, items = self.parts.setdefault(pk, ([], {}))
        if sk not in items:
            bisect.insort(order, sk)
        items[sk] = value

    def remove(self, pk: Any, sk: Any) -> None:
        part = self.parts.get(pk)
        if part is None or sk not in part[1]:
            return
        order, items = part
        del items[sk]
        del order[bisect.bisect_left(order, sk)]
        if not items:
            del self.parts[pk]


@dataclass(frozen=True)
class _Index:
    name: str
    hash_key: str
    range_key: str | None
    projection: str
    keys: frozenset[str]


class MemoryTable:
    def __init__(self, definition: Mapping[str, Any], shards: int) -> None:
        self.name = str(definition["TableName"])
        self.definition = dict(definition)
        schema = {k["KeyType"]: k["AttributeName"] for k in definition["KeySchema"]}
        self.hash_key: str = schema["HASH"]
        self.range_key: str | None = schema.get("RANGE")
        self.meter: Meter | None = None  # the client's, to bill index copies
        self.items: dict[tuple[Any, Any], Item] = {}
        self.sizes: dict[tuple[Any, Any], int] = {}  # each item's size, counted once when written
        self.base = _Partitions()
        self.indexes: dict[str, _Index] = {}
        self.index_data: dict[str, _Partitions] = {}
        for index in definition.get("GlobalSecondaryIndexes", []) or []:
            index_schema = {k["KeyType"]: k["AttributeName"] for k in index["KeySchema"]}
            projection = index.get("Projection", {}).get("ProjectionType", "ALL")
            self.indexes[index["IndexName"]] = _Index(
                index["IndexName"],
                index_schema["HASH"],
                index_schema.get("RANGE"),
                projection,
                frozenset(index.get("Projection", {}).get("NonKeyAttributes", [])),
            )
            self.index_data[index["IndexName"]] = _Partitions()
        spec = definition.get("StreamSpecification") or {}
        self.stream = (
            Stream(self.name, spec.get("StreamViewType", "NEW_IMAGE"), shards)
            if spec.get("StreamEnabled")
            else None
        )

    def key_of(self, key: Mapping[str, Wire], operation: str) -> tuple[Any, Any]:
        wanted = {self.hash_key} | ({self.range_key} if self.range_key else set())
        if set(key) != wanted:
            raise validation(operation, "The provided key element does not match the schema")
        return _sortable(key[self.hash_key]), _sortable(key.get(self.range_key) if self.range_key else None)

    def key_attributes(self, item: Mapping[str, Wire]) -> Item:
        names = [self.hash_key] + ([self.range_key] if self.range_key else [])
        return {name: item[name] for name in names if name in item}

    def size(self, key: tuple[Any, Any]) -> int:
        return self.sizes.get(key, 0)

    def store(
        self, item: Item | None, key: tuple[Any, Any], old: Item | None, size: int | None = None
    ) -> None:
        """Replace the item at ``key`` (None: delete), its index entries and stream record."""
        old_size = self.sizes.get(key, 0)
        old_entries = {}
        if old is not None:
            for name, index in self.indexes.items():
                entry = self._index_entry(index, old, key)
                if entry is not None:
                    old_entries[name] = entry
                    self.index_data[name].remove(*entry)
        if item is None:
            self.items.pop(key, None)
            self.sizes.pop(key, None)
            self.base.remove(*key)
        else:
            self.items[key] = item
            self.sizes[key] = item_size(item) if size is None else size
            self.base.put(key[0], key[1], item)
            for name, index in self.indexes.items():
                entry = self._index_entry(index, item, key)
                if entry is not None:
                    self.index_data[name].put(entry[0], entry[1], key)
                    if item != old:
                        # a new entry, a changed one, or one moved (a delete and a put)
                        moved = name in old_entries and old_entries[name] != entry
                        self._bill_index(name, self.sizes[key], moved=moved, old_size=old_size)
                elif name in old_entries:
                    self._bill_index(name, old_size)
        if item is None:
            for name in old_entries:
                self._bill_index(name, old_size)
        if self.stream is not None and item != old:
            self._record(item, old, key)

    def _bill_index(self, name: str, size: int, *, moved: bool = False, old_size: int = 0) -> None:
        """What a global secondary index's copy costs (billed beside the table's write): its
        entry is the item (ALL projected) plus 100 bytes; a moved entry is a delete and a put."""
        if self.meter is None:
            return
        if moved:
            self.meter.write(f"{self.name} index {name}", old_size + INDEX_ENTRY_OVERHEAD)
        self.meter.write(f"{self.name} index {name}", size + INDEX_ENTRY_OVERHEAD)

    def _index_entry(
        self, index: _Index, item: Mapping[str, Wire], key: tuple[Any, Any]
    ) -> tuple[Any, Any] | None:
        if index.hash_key not in item or (index.range_key and index.range_key not in item):
            return None  # sparse: not in the index
        sort = _sortable(item[index.range_key]) if index.range_key else None
        return _sortable(item[index.hash_key]), (sort, key[0], key[1])

    def _record(self, item: Item | None, old: Item | None, key: tuple[Any, Any]) -> None:
        assert self.stream is not None
        source = item if item is not None else old
        assert source is not None
        keys = self.key_attributes(source)
        change: dict[str, Any] = {
            "ApproximateCreationDateTime": datetime.now(UTC),
            "Keys": keys,
            "SequenceNumber": f"{next(_SEQUENCE):021d}",
            "StreamViewType": self.stream.view,
        }
        if item is not None and self.stream.view in ("NEW_IMAGE", "NEW_AND_OLD_IMAGES"):
            change["NewImage"] = dict(item)
        if old is not None and self.stream.view in ("OLD_IMAGE", "NEW_AND_OLD_IMAGES"):
            change["OldImage"] = dict(old)
        change["SizeBytes"] = item_size(keys) + (self.sizes.get(key, 0) if item is not None else 0)
        name = "INSERT" if old is None else ("REMOVE" if item is None else "MODIFY")
        record = {
            "eventID": change["SequenceNumber"][-12:],
            "eventName": name,
            "eventVersion": "1.1",
            "eventSource": "aws:dynamodb",
            "awsRegion": "eu-central-1",
            "dynamodb": change,
        }
        partition = str(key[0])
        self.stream.shards[self.stream.shard_of(partition)].append(record)


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
            if _kind(value) not in ("S", "N", "B") or value_size(value) == 0:
                raise validation(operation, f"One or more parameter values are not valid: key {name}")
        for name, value in item.items():
            kind = _kind(value)
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
            condition = _parsed("condition", text, request.get("ExpressionAttributeNames"))
            return _Evaluator(old, self._values(request)).holds(condition)
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
            actions = _parsed("update", request["UpdateExpression"], request.get("ExpressionAttributeNames"))
            for _, (path, _node) in actions:
                if path.name in (table.hash_key, table.range_key):
                    raise ValueError(
                        f"Cannot update attribute {path.name}. This attribute is part of the key"
                    )
            _apply_update(item, actions, self._values(request))
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
            condition = _parsed(
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
                filter_condition = _parsed(
                    "condition", request["FilterExpression"], request.get("ExpressionAttributeNames")
                )
                filtered = [i for i in items if _Evaluator(i, self._values(request)).holds(filter_condition)]
            self.meter.read(table.name, read_bytes, consistent=consistent, items=len(items))
            answer: dict[str, Any] = {
                "Items": [self._projected(i, request) for i in filtered],
                "Count": len(filtered),
                "ScannedCount": len(items),
            }
            if last is not None and (last is not items[-1] or chosen[-1] is not None):
                answer["LastEvaluatedKey"] = {name: _copy(last[name]) for name in keys if name in last}
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
    evaluator = _Evaluator({}, values)
    pk: Any = None
    sort_test: tuple[str, Any, Any] | None = None
    for part in parts:
        match part:
            case Compare(op="=", left=Path(name=name), right=right) if name == hash_name:
                pk = _sortable(evaluator.value(right))
            case Compare(op=op, left=Path(name=name), right=right) if name == range_name:
                sort_test = (op, _sortable(evaluator.value(right)), None)
            case Between(operand=Path(name=name), low=low, high=high) if name == range_name:
                sort_test = ("BETWEEN", _sortable(evaluator.value(low)), _sortable(evaluator.value(high)))
            case Call(function="begins_with", args=(Path(name=name), prefix)) if name == range_name:
                sort_test = ("begins_with", _sortable(evaluator.value(prefix)), None)
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
