"""What ``acd-local`` keeps across a stop and start: a snapshot of its tables and stream
positions in a data folder.

moto 5.2 keeps its state in memory only. Its one way to the disk, the request recorder
(``MOTO_ENABLE_RECORDING``), logs every request — reads and ``GetRecords`` included — and
replays them all, SNS publishes too; that is a history to re-run, not a state to load. So the
snapshot is taken through the API like any DynamoDB backup: each table scanned (a boto3
paginator), items kept in DynamoDB JSON (the wire format DynamoDB's own exports use), and
written back on start with ``BatchWriteItem``.

Stream positions: moto cannot restore a stream, and the restored items appear in the new stream
as fresh INSERTs. The consumers must neither see those (they would publish again and apply
twice) nor lose what they had not handled yet. So a snapshot also holds, for each stream
consumer, its checkpoint and the stream records after it (with their full new image); on start
the consumers begin after the restored items and first get exactly those records ("carried").

Consistency: tables that no stream consumer reads from (the reports) are scanned while the
consumers are paused between batches, so the reports match their checkpoints exactly. The
events table is written by the ingest alone, with plain puts, so it is scanned while callbacks
go on: any write the scan misses is in the stream records kept after the checkpoints, and those
are written back too.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodbstreams import DynamoDBStreamsClient

FORMAT = "acd-local-snapshot"
VERSION = 1
SNAPSHOT_NAME = "snapshot.json"


# --- DynamoDB JSON -----------------------------------------------------------------------------


def wire(value: Any) -> Any:
    """An attribute value (or an item: name -> attribute value) as boto3's low-level client
    returns it -> DynamoDB JSON (binaries base64, as on the wire)."""
    if isinstance(value, Mapping):
        if len(value) == 1:
            ((kind, inner),) = value.items()
            if kind == "B" and isinstance(inner, bytes | bytearray):
                return {"B": base64.b64encode(inner).decode("ascii")}
            if kind == "BS" and isinstance(inner, list):
                return {"BS": [base64.b64encode(b).decode("ascii") for b in inner]}
            if kind == "M" and isinstance(inner, Mapping):
                return {"M": {k: wire(v) for k, v in inner.items()}}
            if kind == "L" and isinstance(inner, list):
                return {"L": [wire(v) for v in inner]}
            if kind in ("S", "N", "NS", "SS", "BOOL", "NULL"):
                return {kind: inner}
        return {k: wire(v) for k, v in value.items()}
    return value


def unwire(value: Any) -> Any:
    """DynamoDB JSON -> what boto3's low-level client takes (binaries as bytes)."""
    if isinstance(value, Mapping):
        if len(value) == 1:
            ((kind, inner),) = value.items()
            if kind == "B" and isinstance(inner, str):
                return {"B": base64.b64decode(inner)}
            if kind == "BS" and isinstance(inner, list):
                return {"BS": [base64.b64decode(b) for b in inner]}
            if kind == "M" and isinstance(inner, Mapping):
                return {"M": {k: unwire(v) for k, v in inner.items()}}
            if kind == "L" and isinstance(inner, list):
                return {"L": [unwire(v) for v in inner]}
            if kind in ("S", "N", "NS", "SS", "BOOL", "NULL"):
                return {kind: inner}
        return {k: unwire(v) for k, v in value.items()}
    return value


def stream_record_json(raw: Mapping[str, Any]) -> dict[str, Any]:
    """A ``GetRecords`` record as JSON: images in DynamoDB JSON, the creation time as epoch
    seconds (to the microsecond)."""
    record = dict(raw)
    change = dict(record.get("dynamodb", {}))
    created = change.get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        change["ApproximateCreationDateTime"] = created.timestamp()
    for name in ("Keys", "NewImage", "OldImage"):
        if name in change:
            change[name] = wire(change[name])
    record["dynamodb"] = change
    return record


# --- reading ---------------------------------------------------------------------------------------


def scan_table(dynamodb: DynamoDBClient, table: str) -> list[dict[str, Any]]:
    """Every item (strongly consistent), in DynamoDB JSON."""
    items: list[dict[str, Any]] = []
    for page in dynamodb.get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
        items.extend(wire(item) for item in page.get("Items", []))
    return items


def _shards(streams: DynamoDBStreamsClient, stream_arn: str) -> list[str]:
    shards: list[str] = []
    kwargs: dict[str, Any] = {"StreamArn": stream_arn}
    while True:
        description = streams.describe_stream(**kwargs)["StreamDescription"]
        shards.extend(shard["ShardId"] for shard in description.get("Shards", []))
        if not description.get("LastEvaluatedShardId"):
            return shards
        kwargs["ExclusiveStartShardId"] = description["LastEvaluatedShardId"]


def read_stream(
    streams: DynamoDBStreamsClient, stream_arn: str, after: Mapping[str, str | None]
) -> list[dict[str, Any]]:
    """Every record of the stream after ``after[shard]`` (a shard missing or None: from its
    start) up to now, in order, as JSON (with ``ShardId`` added)."""
    records: list[dict[str, Any]] = []
    for shard_id in _shards(streams, stream_arn):
        position = after.get(shard_id)
        kwargs: dict[str, Any] = {"StreamArn": stream_arn, "ShardId": shard_id}
        if position is None:
            kwargs["ShardIteratorType"] = "TRIM_HORIZON"
        else:
            kwargs.update(ShardIteratorType="AFTER_SEQUENCE_NUMBER", SequenceNumber=position)
        iterator: str | None = streams.get_shard_iterator(**kwargs)["ShardIterator"]
        while iterator:
            response = streams.get_records(ShardIterator=iterator, Limit=1000)
            page = response.get("Records", [])
            records.extend({**stream_record_json(r), "ShardId": shard_id} for r in page)
            if not page:
                break
            iterator = response.get("NextShardIterator")
    return records


def stream_horizon(streams: DynamoDBStreamsClient, stream_arn: str) -> dict[str, str]:
    """Shard -> the sequence number of its last record so far (shards without records left out)."""
    last: dict[str, str] = {}
    for record in read_stream(streams, stream_arn, {}):
        last[record["ShardId"]] = record["dynamodb"]["SequenceNumber"]
    return last


def records_after(
    records: Iterable[Mapping[str, Any]], checkpoints: Mapping[str, str | None]
) -> list[dict[str, Any]]:
    """The records a consumer at ``checkpoints`` has not handled."""
    kept = []
    for record in records:
        position = checkpoints.get(record["ShardId"])
        if position is None or int(record["dynamodb"]["SequenceNumber"]) > int(position):
            kept.append(dict(record))
    return kept


def earliest(checkpoints: Iterable[Mapping[str, str | None]]) -> dict[str, str | None]:
    """Per shard, the position of the consumer furthest behind (None if one has none)."""
    all_checkpoints = list(checkpoints)
    result: dict[str, str | None] = {}
    for shard in {shard for c in all_checkpoints for shard in c}:
        positions = [c.get(shard) for c in all_checkpoints]
        result[shard] = (
            None if any(p is None for p in positions) else min(positions, key=lambda p: int(p or 0))
        )
    return result


# --- the file --------------------------------------------------------------------------------------


def write_snapshot(path: Path, snapshot: Mapping[str, Any]) -> int:
    """Write atomically (a crash leaves the previous snapshot whole); returns the size."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = json.dumps({"format": FORMAT, "version": VERSION, **snapshot}, separators=(",", ":")).encode()
    fd, temporary = tempfile.mkstemp(prefix=".snapshot-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    with contextlib.suppress(OSError):  # the rename itself, durable too
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
    return len(data)


def load_snapshot(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    snapshot = json.loads(path.read_bytes())
    if snapshot.get("format") != FORMAT or snapshot.get("version") != VERSION:
        raise ValueError(f"{path} is not an acd-local snapshot of version {VERSION}")
    return dict(snapshot)


def take_snapshot(
    path: Path,
    *,
    tables: Mapping[str, list[dict[str, Any]]],
    streams: Mapping[str, list[dict[str, Any]]],
    consumers: Mapping[str, Mapping[str, Any]],
) -> dict[str, Any]:
    """Write the snapshot; returns what it holds (counts, size, time)."""
    started = time.monotonic()
    size = write_snapshot(
        path,
        {
            "taken_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "tables": dict(tables),
            "streams": dict(streams),
            "consumers": dict(consumers),
        },
    )
    return {
        "items": sum(len(items) for items in tables.values()),
        "stream_records": sum(len(records) for records in streams.values()),
        "bytes": size,
        "write_seconds": time.monotonic() - started,
    }


# --- restoring -------------------------------------------------------------------------------------


def put_items(dynamodb: DynamoDBClient, table: str, items: Sequence[Mapping[str, Any]]) -> None:
    """``BatchWriteItem`` in 25s, unprocessed items sent again."""
    for start in range(0, len(items), 25):
        requests: list[Any] = [{"PutRequest": {"Item": unwire(item)}} for item in items[start : start + 25]]
        for attempt in range(10):
            left = dynamodb.batch_write_item(RequestItems={table: requests}).get("UnprocessedItems", {})
            requests = list(left.get(table, []))
            if not requests:
                break
            time.sleep(min(0.05 * 2**attempt, 1.0))
        else:
            raise RuntimeError(f"{table}: {len(requests)} item(s) not restored")


def apply_records(dynamodb: DynamoDBClient, table: str, records: Iterable[Mapping[str, Any]]) -> int:
    """Write what stream records say happened (new image put, or keys deleted), in order."""
    applied = 0
    for record in records:
        change = record.get("dynamodb", {})
        if record.get("eventName") == "REMOVE":
            dynamodb.delete_item(TableName=table, Key=unwire(change["Keys"]))
        elif "NewImage" in change:
            dynamodb.put_item(TableName=table, Item=unwire(change["NewImage"]))
        else:
            continue
        applied += 1
    return applied
