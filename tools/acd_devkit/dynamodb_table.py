"""One table of :mod:`acd_devkit.memory_dynamodb`: its items by partition and sort key, its global
secondary indexes, and its stream, split over shards by partition key.
"""

from __future__ import annotations

import bisect
import itertools
import math
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from acd_devkit.dynamodb_wire import KB, Item, Wire, item_size, plain_value, validation

INDEX_ENTRY_OVERHEAD = 100  # bytes DynamoDB adds to each index entry's size


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


def sortable(value: Wire | None) -> Any:
    return None if value is None else plain_value(value)


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
        return sortable(key[self.hash_key]), sortable(key.get(self.range_key) if self.range_key else None)

    def key_attributes(self, item: Mapping[str, Wire]) -> Item:
        names = [self.hash_key] + ([self.range_key] if self.range_key else [])
        return {name: item[name] for name in names if name in item}

    def size(self, key: tuple[Any, Any]) -> int:
        return self.sizes.get(key, 0)

    def stored_bytes(self) -> dict[str, int]:
        """What storage bills: each item's size plus 100 bytes, and each global index's entries
        (their projected attributes and keys) plus 100 bytes each."""
        stored = {"table": sum(self.sizes.values()) + INDEX_ENTRY_OVERHEAD * len(self.items)}
        for name, index in self.indexes.items():
            total = 0
            for order, entries in self.index_data[name].parts.values():
                for sk in order:
                    key = entries[sk]
                    item = self.items[key]
                    if index.projection == "ALL":
                        size = self.sizes[key]
                    else:
                        kept = {index.hash_key, index.range_key, self.hash_key, self.range_key} | index.keys
                        size = item_size({a: v for a, v in item.items() if a in kept})
                    total += size + INDEX_ENTRY_OVERHEAD
            stored[name] = total
        return stored

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
        sort = sortable(item[index.range_key]) if index.range_key else None
        return sortable(item[index.hash_key]), (sort, key[0], key[1])

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
