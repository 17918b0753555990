"""What ``acd-local`` keeps across a stop and start: its tables and stream positions, in a data
folder, as a base snapshot plus a journal of every write since.

moto 5.2 keeps its state in memory only. Its one way to the disk, the request recorder
(``MOTO_ENABLE_RECORDING``), logs every request — reads and ``GetRecords`` included — and
replays them all, SNS publishes too; that is a history to re-run, not a state to load. A
snapshot taken through the API (a scan of every table) costs what the data costs: ~40 s for the
default ``acd-sim`` day on a busy 2-core machine, so a crash could lose minutes. Instead, moto's
own process journals what each write changed, under the lock every DynamoDB request runs under
(:mod:`acd_devkit.moto_fixes`): the item as it is after the write (or its key, gone), and the
stream records the write made. Each write request queues a few lines, whatever the size of the
tables, in the order moto applied it; the ``write()`` of them happens once moto's lock is let go
(other requests go on meanwhile), before moto answers it; the journal is ``fsync``-ed every
``sync_interval`` seconds. So a ``kill -9`` (of ``acd-local`` or any of its processes) loses no
write moto has answered — the lines are in the operating system's cache — and a power loss at
most the last ``sync_interval`` seconds.

Files (``DIR`` is the data folder):

* ``DIR/snapshot.json``, the base: every item (DynamoDB JSON, the wire format DynamoDB's own
  exports use) with each table's key attributes, per stream consumer its checkpoints and the
  records it still has to handle, the stream records after the earliest checkpoint, and
  ``journal_from``: the first journal segment that continues it;
* ``DIR/journal-NNNNNN.jsonl``, segments of one JSON object a line, in the order moto applied
  them: ``put`` (``table``, ``key``, ``item``: the item after a write), ``del`` (``table``,
  ``key``), ``rec`` (``table``, ``shard``, ``record``: a stream record), ``ckpt`` (``fn``,
  ``checkpoints``, ``carried_left``: a consumer's progress). A segment is closed (and synced)
  at ``SEGMENT_BYTES``.

Who does what: moto's process appends (:class:`Journal`, fed by :class:`MotoRecorder`); the
keeper process folds the base and the closed segments into a new base now and then
(:func:`compact`: it costs what the data costs, but runs beside moto and blocks nothing); a start
folds everything (:func:`fold`), loads it into the fresh moto, writes it as the new base and
begins a new segment.

Stream positions: moto cannot restore a stream, so restored items are loaded without stream
records, and each consumer starts the new stream from its beginning. What a consumer had not
handled yet is kept for it: the records of the earlier run after its last checkpoint (with
their full new image), delivered first on the next start ("carried"). A consumer reports its
progress (checkpoints, and how many carried records are left) after each batch; the parent
hands it to moto's process, which journals it.

Consistency: a consumer reports progress only after its batch's writes were answered, so its
``ckpt`` line follows the lines of those writes, and any prefix of the journal is a state that
was: a batch whose ``ckpt`` line is missing is delivered again (as Lambda retries a batch),
never lost. A line cut short at the end of a segment (a crash mid-``write``) is dropped; a bad
line anywhere else stops the start with an error rather than load a state that never was.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

FORMAT = "acd-local-snapshot"
VERSION = 2  # 1: a base without journal (tables scanned through the API)
SNAPSHOT_NAME = "snapshot.json"
SEGMENT_BYTES = 8 * 2**20  # a journal segment is closed (and synced) beyond this
SYNC_INTERVAL = 1.0  # seconds between fsyncs of the journal: what a power loss may cost
# The keeper folds closed segments into the base once they hold at least this much, or more than
# the base itself: each byte written is folded a bounded number of times.
COMPACT_MIN_BYTES = 16 * 2**20
_SEGMENT_PREFIX, _SEGMENT_SUFFIX = "journal-", ".jsonl"


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
    """DynamoDB JSON -> what boto3's low-level client (and moto's backend) takes: binaries as
    bytes."""
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


def _json_default(value: Any) -> Any:
    """What moto holds -> JSON: binaries base64, times epoch seconds (moto's are naive UTC)."""
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()
    if hasattr(value, "to_json"):
        return value.to_json()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def key_string(key: Mapping[str, Any]) -> str:
    """One string per primary key (its attributes in DynamoDB JSON)."""
    return json.dumps(key, sort_keys=True, separators=(",", ":"), default=_json_default)


# --- stream positions --------------------------------------------------------------------------


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


def _tail(records: Sequence[Any], left: int) -> list[Any]:
    """The last ``left`` records (none for 0, which ``records[-0:]`` would not give)."""
    return list(records[len(records) - left :]) if left > 0 else []


# --- the base ----------------------------------------------------------------------------------


def write_snapshot(path: Path, snapshot: Mapping[str, Any]) -> int:
    """Write atomically (a crash leaves the previous base whole); returns the size."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = json.dumps(
        {"format": FORMAT, "version": VERSION, **snapshot}, separators=(",", ":"), default=_json_default
    ).encode()
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
    _sync_directory(path.parent)  # the rename itself, durable too
    return len(data)


def load_snapshot(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        snapshot = json.loads(path.read_bytes())
    except ValueError as exc:  # before: a bare "JSONDecodeError: Expecting value: ..." naming no file
        raise ValueError(f"{path} is damaged ({exc}); refusing to load a state that never was") from None
    if (
        not isinstance(snapshot, dict)
        or snapshot.get("format") != FORMAT
        or snapshot.get("version") not in (1, VERSION)
    ):
        raise ValueError(f"{path} is not an acd-local snapshot of version 1 or {VERSION}")
    return dict(snapshot)


def _sync_directory(directory: Path) -> None:
    with contextlib.suppress(OSError):
        handle = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(handle)
        finally:
            os.close(handle)


def remove_leftovers(data_dir: Path) -> None:
    """Temporary files of a base write that was cut off."""
    for leftover in data_dir.glob(".snapshot-*"):
        with contextlib.suppress(OSError):
            leftover.unlink()


# --- the journal -------------------------------------------------------------------------------


def segment_path(data_dir: Path, number: int) -> Path:
    return data_dir / f"{_SEGMENT_PREFIX}{number:06d}{_SEGMENT_SUFFIX}"


def segments(data_dir: Path) -> list[tuple[int, Path]]:
    """The journal segments in the folder, in order."""
    found = []
    for path in data_dir.glob(f"{_SEGMENT_PREFIX}*{_SEGMENT_SUFFIX}"):
        number = path.name[len(_SEGMENT_PREFIX) : -len(_SEGMENT_SUFFIX)]
        if number.isdigit():
            found.append((int(number), path))
    return sorted(found)


def read_segment(path: Path) -> Iterator[dict[str, Any]]:
    """The entries of one segment. A last line cut short (a crash mid-write) is dropped; a bad
    line before others is an error."""
    with path.open("rb") as handle:
        lines = handle.read().split(b"\n")
    # A whole segment ends with "\n": the last piece is empty, or a line cut short.
    for index, line in enumerate(lines):
        if not line:
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            if index == len(lines) - 1:
                return  # cut short by a crash
            raise ValueError(
                f"{path}: line {index + 1} is damaged; refusing to load a state that never was"
            ) from None
        yield entry


class Journal:
    """Appends entries to the current segment (one ``write`` per call, so a crash of this
    process loses nothing written), ``fsync``-s it every ``sync_interval`` seconds from a thread
    of its own, and starts a new segment beyond ``segment_bytes``. Thread-safe."""

    def __init__(
        self,
        data_dir: Path,
        number: int,
        *,
        sync_interval: float = SYNC_INTERVAL,
        segment_bytes: int = SEGMENT_BYTES,
    ) -> None:
        self.data_dir = data_dir
        self.number = number
        self._segment_bytes = segment_bytes
        self._lock = threading.Lock()  # the file: one writer at a time
        self._queue_lock = threading.Lock()  # the lines queued and not yet written
        self._queued: list[bytes] = []
        self._fd = self._open(number)
        self._size = 0
        self._dirty = False
        self._closed = False
        self.bytes_written = 0
        self.write_seconds_max = 0.0  # the longest write() (it may wait for a sync under way)
        self.syncs = 0
        self.sync_seconds_max = 0.0
        self._stop = threading.Event()
        self._sync_interval = sync_interval
        self._syncer = threading.Thread(target=self._sync_loop, name="journal-sync", daemon=True)
        self._syncer.start()

    def _open(self, number: int) -> int:
        fd = os.open(segment_path(self.data_dir, number), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        _sync_directory(self.data_dir)
        return fd

    def append(self, entries: Sequence[Mapping[str, Any]]) -> None:
        """Queue ``entries`` and write them (with any queued before them) before returning."""
        self.enqueue(entries)
        self.flush()

    def enqueue(self, entries: Sequence[Mapping[str, Any]]) -> None:
        """Queue ``entries`` as lines, after every line queued before: the journal's order is
        the order of these calls (moto's writes call it under moto's lock, so it is the order
        moto applied them). Written by the next :meth:`flush` of any thread."""
        if not entries:
            return
        data = "".join(
            json.dumps(entry, separators=(",", ":"), default=_json_default) + "\n" for entry in entries
        ).encode()
        with self._queue_lock:
            self._queued.append(data)

    def flush(self) -> None:
        """Write every queued line, in order, in one ``write``. When it returns, whatever this
        thread queued is written (by it, or by the flush of another thread that took it first:
        that one held the lock until it had written)."""
        with self._lock:
            with self._queue_lock:
                queued, self._queued = self._queued, []
            if self._closed or not queued:
                return
            data = b"".join(queued)
            started = time.perf_counter()
            view = memoryview(data)
            written = 0
            try:
                while written < len(data):
                    written += os.write(self._fd, view[written:])
            except OSError:
                # A full disk (ENOSPC) or an I/O error part-way: the segment must end with a
                # whole line again, or the next write would follow a torn one and the folder
                # would not load as written ('line N is damaged'). The lines stay queued, ahead of
                # any queued since, for the next flush: moto has made these writes (the request
                # that made them is answered with an error and retried).
                if written:
                    with contextlib.suppress(OSError):
                        os.ftruncate(self._fd, os.fstat(self._fd).st_size - written)
                with self._queue_lock:
                    self._queued[:0] = queued
                raise
            self.write_seconds_max = max(self.write_seconds_max, time.perf_counter() - started)
            self._size += len(data)
            self.bytes_written += len(data)
            self._dirty = True
            if self._size >= self._segment_bytes:
                # These lines are written; a segment that cannot be begun now (a full disk) is
                # tried again by the next flush.
                with contextlib.suppress(OSError):
                    self._rotate_locked()

    def rotate(self) -> int:
        """Close the current segment (synced) and begin the next; returns the closed one's
        number."""
        with self._lock:
            closed = self.number
            if not self._closed:
                self._rotate_locked()
            return closed

    def _rotate_locked(self) -> None:
        os.fsync(self._fd)
        # The next segment opened before this one is closed: should that fail (a full disk), the
        # journal goes on in this one instead of writing to a closed (or reused) descriptor.
        fd = self._open(self.number + 1)
        os.close(self._fd)
        self._fd = fd
        self.number += 1
        self._size = 0
        self._dirty = False

    def sync(self) -> None:
        """``fsync`` what was written (outside the lock: writers go on meanwhile)."""
        with self._lock:
            if self._closed or not self._dirty:
                return
            duplicate = os.dup(self._fd)
            self._dirty = False
        started = time.monotonic()
        try:
            os.fsync(duplicate)
        finally:
            os.close(duplicate)
        self.syncs += 1
        self.sync_seconds_max = max(self.sync_seconds_max, time.monotonic() - started)

    def _sync_loop(self) -> None:
        while not self._stop.wait(self._sync_interval):
            with contextlib.suppress(OSError):
                self.sync()

    def close(self) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            self.flush()  # lines a failed write left queued, if the disk takes them now
        with self._lock:
            if self._closed:
                return
            self._closed = True
            with contextlib.suppress(OSError):
                os.fsync(self._fd)
            os.close(self._fd)


# --- folding: base + journal -> state ------------------------------------------------------------


@dataclass
class State:
    """Tables, streams and consumers as the base and the journal lines applied so far say."""

    key_schema: dict[str, list[str]] = field(default_factory=dict)  # table -> key attributes
    tables: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)  # table -> key -> item
    streams: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # table -> records
    # consumer -> {"table", "checkpoints": {shard: sequence}, "carried": [records]}
    consumers: dict[str, dict[str, Any]] = field(default_factory=dict)
    lines: int = 0

    @classmethod
    def from_base(
        cls, base: Mapping[str, Any] | None, key_schema: Mapping[str, Sequence[str]] | None = None
    ) -> State:
        state = cls(key_schema={t: list(k) for t, k in (key_schema or {}).items()})
        if base is None:
            return state
        state.key_schema.update({t: list(k) for t, k in (base.get("key_schema") or {}).items()})
        for table, items in (base.get("tables") or {}).items():
            attributes = state.key_schema.get(table)
            if attributes is None:
                raise ValueError(f"the data folder does not say which attributes key {table}")
            state.tables[table] = {key_string({a: item[a] for a in attributes}): item for item in items}
        state.streams = {t: list(r) for t, r in (base.get("streams") or {}).items()}
        state.consumers = {
            name: {
                "table": c.get("table"),
                "checkpoints": dict(c.get("checkpoints") or {}),
                "carried": list(c.get("carried") or []),
            }
            for name, c in (base.get("consumers") or {}).items()
        }
        return state

    def apply(self, entry: Mapping[str, Any]) -> None:
        kind = entry.get("t")
        self.lines += 1
        if kind == "put":
            self.tables.setdefault(entry["table"], {})[key_string(entry["key"])] = entry["item"]
        elif kind == "del":
            self.tables.get(entry["table"], {}).pop(key_string(entry["key"]), None)
        elif kind == "rec":
            if any(c["table"] == entry["table"] for c in self.consumers.values()):
                self.streams.setdefault(entry["table"], []).append(
                    {**entry["record"], "ShardId": entry["shard"]}
                )
        elif kind == "ckpt":
            consumer = self.consumers.get(entry["fn"])
            if consumer is not None:
                consumer["checkpoints"] = dict(entry["checkpoints"])
                consumer["carried"] = _tail(consumer["carried"], int(entry["carried_left"]))

    def pending(self) -> dict[str, list[dict[str, Any]]]:
        """Per consumer, the records it has still to handle, in order: what was carried into
        this run and is left, then this run's records after its checkpoints."""
        return {
            name: list(c["carried"]) + records_after(self.streams.get(c["table"], []), c["checkpoints"])
            for name, c in self.consumers.items()
        }

    def item_count(self) -> dict[str, int]:
        return {table: len(items) for table, items in self.tables.items()}

    def as_base(self, journal_from: int) -> dict[str, Any]:
        """The base this state is, continued by segment ``journal_from``: stream records kept
        only after the earliest checkpoint of their table's consumers."""
        streams: dict[str, list[dict[str, Any]]] = {}
        for table, records in self.streams.items():
            positions = [c["checkpoints"] for c in self.consumers.values() if c["table"] == table]
            if positions:
                streams[table] = records_after(records, earliest(positions))
        return {
            "taken_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "key_schema": self.key_schema,
            "tables": {table: list(items.values()) for table, items in self.tables.items()},
            "streams": streams,
            "consumers": self.consumers,
            "journal_from": journal_from,
        }


def fold(
    data_dir: Path,
    key_schema: Mapping[str, Sequence[str]] | None = None,
    *,
    up_to: int | None = None,
) -> tuple[State, int]:
    """The base and the journal segments that continue it (those numbered ``up_to`` at most,
    if given). Returns the state and the number the next segment should take."""
    base = load_snapshot(data_dir / SNAPSHOT_NAME)
    state = State.from_base(base, key_schema)
    start = int((base or {}).get("journal_from", 0))
    following = start
    for number, path in segments(data_dir):
        following = max(following, number + 1)
        if number < start or (up_to is not None and number > up_to):
            continue
        for line, entry in enumerate(read_segment(path), 1):
            try:
                state.apply(entry)
            except (AttributeError, KeyError, TypeError, ValueError) as exc:
                # JSON, but no line acd-local writes: say where (before: "KeyError: 'item'").
                raise ValueError(
                    f"{path}: line {line} is no journal entry ({type(exc).__name__}: {exc}); "
                    "refusing to load a state that never was"
                ) from None
    return state, following


def compact(data_dir: Path, *, min_bytes: int = 0) -> dict[str, Any] | None:
    """Fold the base and the closed segments (every one but the newest, which moto writes) into
    a new base, then delete them. Nothing to do (None) while the closed segments hold less
    than ``min_bytes`` and less than the base."""
    started = time.monotonic()
    base_path = data_dir / SNAPSHOT_NAME
    base = load_snapshot(base_path)
    start = int((base or {}).get("journal_from", 0))
    live = [(n, p) for n, p in segments(data_dir) if n >= start]
    closed = live[:-1]
    journal_bytes = sum(p.stat().st_size for _, p in closed)
    base_bytes = base_path.stat().st_size if base is not None else 0
    if not closed or (journal_bytes < min_bytes and journal_bytes < base_bytes):
        return None
    state, _ = fold(data_dir, up_to=closed[-1][0])
    size = write_snapshot(base_path, state.as_base(journal_from=closed[-1][0] + 1))
    for number, path in segments(data_dir):
        if number <= closed[-1][0]:
            with contextlib.suppress(OSError):
                path.unlink()
    return {
        "items": sum(state.item_count().values()),
        "bytes": size,
        "journal_bytes": journal_bytes,
        "lines": state.lines,
        "seconds": time.monotonic() - started,
    }


# --- moto's side -----------------------------------------------------------------------------------


def _touched(action: str, params: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """(table, its key or the whole item) of each item a write request names."""
    if action == "PutItem":
        yield params["TableName"], params["Item"]
    elif action in ("UpdateItem", "DeleteItem"):
        yield params["TableName"], params["Key"]
    elif action == "BatchWriteItem":
        for table, requests in (params.get("RequestItems") or {}).items():
            for request in requests:
                if "PutRequest" in request:
                    yield table, request["PutRequest"]["Item"]
                elif "DeleteRequest" in request:
                    yield table, request["DeleteRequest"]["Key"]
    elif action == "TransactWriteItems":
        for entry in params.get("TransactItems") or []:
            if "Put" in entry:
                yield entry["Put"]["TableName"], entry["Put"]["Item"]
            for kind in ("Update", "Delete"):
                if kind in entry:
                    yield entry[kind]["TableName"], entry[kind]["Key"]


class MotoRecorder:
    """The write observer (:func:`acd_devkit.moto_fixes.observe_writes`) inside moto's process:
    after each write request, every item it names as it is now (or its key, gone), and the
    stream records it added, are queued to the journal under moto's lock (so in moto's order),
    and written by :meth:`flush` once the lock is let go, before moto answers. Works from what the request named,
    so a write that failed half-way (a batch) or was rolled back (a transaction) is journaled as
    what it left."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        self.requests = 0  # write requests journaled
        self.seconds = 0.0  # spent journaling them, inside moto's lock (waits for the CPU included)
        self.cpu_seconds = 0.0  # of which this thread ran
        self.flush_seconds = 0.0  # writing the journal, outside moto's lock (waits included)

    def before(self, backend: Any) -> dict[str, int]:
        return {
            name: len(table.stream_shard.items)
            for name, table in backend.tables.items()
            if table.stream_shard is not None
        }

    def flush(self) -> None:
        """Write what :meth:`after` queued (outside moto's lock, before moto answers)."""
        started = time.perf_counter()
        self.journal.flush()
        self.flush_seconds += time.perf_counter() - started

    def after(self, backend: Any, action: str, params: Mapping[str, Any], before: Mapping[str, int]) -> None:
        started, started_cpu = time.perf_counter(), time.thread_time()
        entries: list[dict[str, Any]] = []
        for table_name, named in _touched(action, params):
            table = backend.tables.get(table_name)
            if table is None:
                continue
            attributes = [a for a in (table.hash_key_attr, table.range_key_attr) if a]
            key = {a: named[a] for a in attributes if a in named}
            if len(key) != len(attributes):
                continue  # a request moto refused before it wrote anything
            hash_value, range_value = backend.get_keys_value(table, key)
            item = table.get_item(hash_value, range_value)
            if item is None:
                entries.append({"t": "del", "table": table_name, "key": key})
            else:
                entries.append(
                    {"t": "put", "table": table_name, "key": key, "item": item.to_json()["Attributes"]}
                )
        for table_name, count in before.items():
            table = backend.tables.get(table_name)
            shard = getattr(table, "stream_shard", None)
            if shard is None:
                continue
            entries.extend(
                {"t": "rec", "table": table_name, "shard": shard.id, "record": record.to_json()}
                for record in shard.items[count:]
            )
        self.journal.enqueue(entries)  # written by flush(), once moto's lock is let go
        self.requests += 1
        self.seconds += time.perf_counter() - started
        self.cpu_seconds += time.thread_time() - started_cpu


def key_schema_of(backend: Any) -> dict[str, list[str]]:
    return {
        name: [a for a in (table.hash_key_attr, table.range_key_attr) if a]
        for name, table in backend.tables.items()
    }


def load_into(backend: Any, state: State) -> dict[str, int]:
    """Put the state's items into moto's tables directly (no stream records: the consumers
    start the new streams from their beginning). Tables moto has not are left out.

    Straight into the table's storage, not through ``put_item``: moto re-sums an item's size on
    every attribute it sets (quadratic in the attributes; ~6 s for the default ``acd-sim`` day),
    and these items passed its checks when they were first written."""
    from moto.dynamodb.models.dynamo_type import DynamoType, Item  # noqa: PLC0415

    loaded: dict[str, int] = {}
    for name, items in state.tables.items():
        table = backend.tables.get(name)
        if table is None:
            continue
        for stored in items.values():
            raw = unwire(stored)
            hash_value = DynamoType(raw[table.hash_key_attr])
            range_value = DynamoType(raw[table.range_key_attr]) if table.range_key_attr else None
            item = Item(hash_value, range_value, {})
            dict.update(item.attrs, {attribute: DynamoType(value) for attribute, value in raw.items()})
            if range_value is None:
                table.items[hash_value] = item
            else:
                table.items[hash_value][range_value] = item
        loaded[name] = len(items)
    return loaded
