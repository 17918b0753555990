"""The data folder of acd-local: DynamoDB JSON both ways, the journal (appended, synced, cut into
segments, a torn last line dropped), folding base + journal into the state it describes (items,
and which stream records each consumer still has to handle), and compaction."""

from __future__ import annotations

import errno
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from acd_local import state as local_state
from acd_local.state import Journal, State, compact, fold, segments

SCHEMA = {"T": ["pk", "sk"], "R": ["pk"]}


def test_items_round_trip_through_dynamodb_json_with_binaries() -> None:
    item = {
        "pk": {"S": "CALL#ab"},
        "n": {"N": "42"},
        "blob": {"B": b"\x00\xff"},
        "blobs": {"BS": [b"a", b"\x01"]},
        "nested": {"M": {"b": {"B": b"\x02"}, "l": {"L": [{"B": b"\x03"}, {"S": "x"}, {"NULL": True}]}}},
        "flags": {"SS": ["a", "b"]},
        "ok": {"BOOL": False},
    }
    wired = local_state.wire(item)
    assert wired["blob"] == {"B": "AP8="}
    assert wired["nested"]["M"]["l"]["L"][0] == {"B": "Aw=="}
    assert local_state.unwire(wired) == item


def records(*sequence: int, shard: str = "s1") -> list[dict]:
    return [{"ShardId": shard, "dynamodb": {"SequenceNumber": str(n)}} for n in sequence]


def test_each_consumer_gets_the_records_after_its_checkpoint() -> None:
    kept = records(8, 9, 10, 11)
    assert [r["dynamodb"]["SequenceNumber"] for r in local_state.records_after(kept, {"s1": "9"})] == [
        "10",
        "11",
    ]
    assert len(local_state.records_after(kept, {})) == 4  # never handled anything: all of them
    assert local_state.records_after(kept, {"s1": "11"}) == []
    # numbers, not strings: "100" comes after "99"
    assert len(local_state.records_after(records(100), {"s1": "99"})) == 1


def test_the_stream_is_kept_from_the_consumer_furthest_behind() -> None:
    assert local_state.earliest([{"s1": "99"}, {"s1": "100"}]) == {"s1": "99"}
    assert local_state.earliest([{"s1": "5"}, {}]) == {"s1": None}  # one has read nothing yet


def test_the_base_is_written_whole_and_checked_on_load(tmp_path: Path) -> None:
    path = tmp_path / "data" / local_state.SNAPSHOT_NAME
    local_state.write_snapshot(path, {"tables": {"T": [item("a")]}, "key_schema": SCHEMA})
    loaded = local_state.load_snapshot(path)
    assert loaded is not None
    assert loaded["tables"] == {"T": [item("a")]}
    assert [p.name for p in path.parent.iterdir()] == [local_state.SNAPSHOT_NAME]  # no temp file left
    assert local_state.load_snapshot(tmp_path / "missing.json") is None
    path.write_text('{"format": "something else"}')
    with pytest.raises(ValueError, match="not an acd-local snapshot"):
        local_state.load_snapshot(path)


# --- the journal and what it folds into ------------------------------------------------------------


def item(pk: str, sk: str = "s", **more: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}, **{k: {"S": v} for k, v in more.items()}}


def put(pk: str, sk: str = "s", table: str = "T", **more: str) -> dict[str, Any]:
    return {
        "t": "put",
        "table": table,
        "key": {"pk": {"S": pk}, "sk": {"S": sk}},
        "item": item(pk, sk, **more),
    }


def rec(sequence: int, pk: str, table: str = "T") -> dict[str, Any]:
    record = {"eventName": "INSERT", "dynamodb": {"SequenceNumber": str(sequence), "NewImage": item(pk)}}
    return {"t": "rec", "table": table, "shard": "s1", "record": record}


def ckpt(fn: str, sequence: int | None, carried_left: int = 0) -> dict[str, Any]:
    checkpoints = {} if sequence is None else {"s1": str(sequence)}
    return {"t": "ckpt", "fn": fn, "checkpoints": checkpoints, "carried_left": carried_left}


def base_with(
    data: Path, consumers: dict[str, Any] | None = None, tables: dict[str, list[Any]] | None = None
) -> None:
    local_state.write_snapshot(
        data / local_state.SNAPSHOT_NAME,
        {
            "key_schema": SCHEMA,
            "tables": tables or {},
            "streams": {},
            "consumers": consumers or {},
            "journal_from": 0,
        },
    )


def journal(data: Path, *entries: dict[str, Any], number: int = 0) -> None:
    with local_state.segment_path(data, number).open("a") as handle:
        handle.writelines(json.dumps(entry) + "\n" for entry in entries)


def pks(state: State, table: str = "T") -> dict[str, str]:
    return {i["pk"]["S"]: i.get("v", {}).get("S", "") for i in state.tables.get(table, {}).values()}


def test_fold_applies_puts_and_deletes_in_order(tmp_path: Path) -> None:
    base_with(tmp_path, tables={"T": [item("old", v="0"), item("gone")]})
    journal(
        tmp_path,
        put("a", v="1"),
        put("a", v="2"),  # the item as it is after each write: the last one counts
        put("old", v="3"),
        {"t": "del", "table": "T", "key": {"pk": {"S": "gone"}, "sk": {"S": "s"}}},
        put("x", sk="s", table="R"),
    )
    state, following = fold(tmp_path)
    assert pks(state) == {"a": "2", "old": "3"}
    assert pks(state, "R") == {"x": ""}
    assert following == 1


def test_each_consumer_keeps_what_it_has_not_handled(tmp_path: Path) -> None:
    carried = [rec(7, "from-before")["record"] | {"ShardId": "old"}]
    base_with(
        tmp_path,
        consumers={
            "Fast": {"table": "T", "checkpoints": {}, "carried": carried},
            "Slow": {"table": "T", "checkpoints": {}, "carried": carried},
            "Other": {"table": "R", "checkpoints": {}, "carried": []},
        },
    )
    journal(
        tmp_path,
        put("a"),
        rec(100, "a"),
        put("b"),
        rec(101, "b"),
        ckpt("Fast", 101, carried_left=0),  # handled everything, the carried record included
        ckpt("Slow", 100, carried_left=1),  # the carried record not yet, and only the first
        rec(102, "c", table="R"),  # R's consumer is "Other": kept for it
    )
    pending = fold(tmp_path)[0].pending()
    assert pending["Fast"] == []
    assert [r["dynamodb"]["NewImage"]["pk"]["S"] for r in pending["Slow"]] == ["from-before", "b"]
    assert [r["ShardId"] for r in pending["Slow"]] == ["old", "s1"]
    assert [r["dynamodb"]["SequenceNumber"] for r in pending["Other"]] == ["102"]


def test_a_batch_whose_progress_was_not_journaled_is_delivered_again(tmp_path: Path) -> None:
    base_with(tmp_path, consumers={"C": {"table": "T", "checkpoints": {}, "carried": []}})
    # A crash after the consumer's writes for record 100 but before its checkpoint line: the
    # writes are kept, and the record is pending again (a retried batch; consumers are idempotent).
    journal(tmp_path, put("a"), rec(100, "a"), put("report-of-a", table="R"))
    state = fold(tmp_path)[0]
    assert pks(state, "R") == {"report-of-a": ""}
    assert len(state.pending()["C"]) == 1


def test_a_last_line_cut_short_is_dropped_a_damaged_one_before_others_is_refused(tmp_path: Path) -> None:
    base_with(tmp_path)
    journal(tmp_path, put("a"))
    with local_state.segment_path(tmp_path, 0).open("a") as handle:
        handle.write(json.dumps(put("b"))[:25])  # a crash in the middle of a write
    journal(tmp_path, put("c"), number=1)  # the next start's segment
    assert pks(fold(tmp_path)[0]) == {"a": "", "c": ""}
    with local_state.segment_path(tmp_path, 0).open("a") as handle:
        handle.write("\n" + json.dumps(put("d")) + "\n")  # now the damaged line is followed by another
    with pytest.raises(ValueError, match="damaged"):
        fold(tmp_path)


def test_a_damaged_base_or_a_line_that_is_no_entry_is_refused_naming_its_file(tmp_path: Path) -> None:
    """Before: "JSONDecodeError: Expecting value: line 1 column 13", "KeyError: 'item'" or an
    AttributeError, naming no file."""
    base = tmp_path / local_state.SNAPSHOT_NAME
    for damaged, said in (('{"format": tru', "is damaged"), ("[1, 2]", "is not an acd-local snapshot")):
        base.write_text(damaged)
        with pytest.raises(ValueError, match=re.escape(f"{base} {said}")):
            fold(tmp_path)
    base.unlink()
    for entry in ({"t": "put", "table": "T", "key": item("a")}, [1], {"t": "del", "table": "T"}):
        local_state.segment_path(tmp_path, 0).write_text(
            json.dumps(put("a")) + "\n" + json.dumps(entry) + "\n"
        )
        with pytest.raises(ValueError, match=r"journal-000000\.jsonl: line 2 is no journal entry"):
            fold(tmp_path, SCHEMA)


def test_journal_appends_rotates_and_syncs(tmp_path: Path) -> None:
    writer = Journal(tmp_path, 3, sync_interval=0.05, segment_bytes=400)
    try:
        for n in range(10):
            writer.append([put(f"k{n}", v="x" * 50)])
        writer.sync()
    finally:
        writer.close()
    writer.append([put("after-close")])  # ignored: nothing is written after the close
    numbers = [n for n, _ in segments(tmp_path)]
    assert numbers[0] == 3
    assert len(numbers) > 2  # cut at 400 bytes
    assert all(p.stat().st_size <= 400 + 200 for _, p in segments(tmp_path))
    state, following = fold(tmp_path, SCHEMA)
    assert sorted(pks(state)) == sorted(f"k{n}" for n in range(10))
    assert following == numbers[-1] + 1
    assert writer.bytes_written == sum(p.stat().st_size for _, p in segments(tmp_path))


def test_a_write_the_full_disk_cut_short_leaves_no_torn_line_and_is_written_by_the_next_flush(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full disk: write() takes part of the lines and then fails (ENOSPC). Before, that part
    stayed in the segment and the lines left the queue: the next write followed the torn line,
    so the folder then dropped it (or refused to load: 'line N is damaged'), and the refused
    write, which moto had made, was never journaled."""
    writer = Journal(tmp_path, 0)
    real_write = os.write

    def full_disk(fd: int, data: Any) -> int:
        if fd != writer._fd:
            return real_write(fd, data)
        if len(data) > 10:  # as a disk filling up: a short write, then the error
            return real_write(fd, bytes(data[:10]))
        raise OSError(errno.ENOSPC, "No space left on device")

    try:
        writer.append([put("a")])
        monkeypatch.setattr(local_state.os, "write", full_disk)
        with pytest.raises(OSError, match="No space left"):
            writer.append([put("b")])
        monkeypatch.undo()  # space again
        writer.append([put("c")])
        writer.append([put("d")])
    finally:
        writer.close()
    assert list(pks(fold(tmp_path, SCHEMA)[0])) == ["a", "b", "c", "d"]


def test_a_segment_the_full_disk_could_not_begin_leaves_the_journal_writing_the_last(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before, the full segment was closed first and the next one's open() failed: that write's
    request failed though its lines were written, and every write after went to a closed
    descriptor (or one the process had reused meanwhile)."""
    writer = Journal(tmp_path, 0, segment_bytes=10)
    real_open = os.open

    def full_disk(path: Any, *args: Any) -> int:
        if str(path).endswith(".jsonl"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_open(path, *args)

    try:
        monkeypatch.setattr(local_state.os, "open", full_disk)
        writer.append([put("a")])  # written, then segment 1 cannot be begun
        writer.append([put("b")])  # still into segment 0
        monkeypatch.undo()  # space again
        writer.append([put("c")])  # into segment 0, then segment 1 begun
    finally:
        writer.close()
    assert list(pks(fold(tmp_path, SCHEMA)[0])) == ["a", "b", "c"]
    assert [n for n, _ in segments(tmp_path)] == [0, 1]


def test_compaction_folds_closed_segments_into_the_base_and_keeps_the_open_one(tmp_path: Path) -> None:
    base_with(tmp_path, consumers={"C": {"table": "T", "checkpoints": {}, "carried": []}})
    journal(tmp_path, put("a"), rec(100, "a"), put("b"), rec(101, "b"), ckpt("C", 100), number=0)
    journal(tmp_path, put("c"), rec(102, "c"), number=1)  # still open: moto writes it
    before = fold(tmp_path)[0]
    summary = compact(tmp_path)
    assert summary is not None
    assert summary["items"] == 2
    assert [n for n, _ in segments(tmp_path)] == [1]
    after = fold(tmp_path)[0]
    assert pks(after) == pks(before) == {"a": "", "b": "", "c": ""}
    assert after.pending() == before.pending()
    # Only the records after the earliest checkpoint are kept in the base.
    base = local_state.load_snapshot(tmp_path / local_state.SNAPSHOT_NAME)
    assert base is not None
    assert [r["dynamodb"]["SequenceNumber"] for r in base["streams"]["T"]] == ["101"]
    assert base["journal_from"] == 1


def test_compaction_waits_until_the_journal_is_worth_it(tmp_path: Path) -> None:
    base_with(tmp_path, tables={"T": [item(f"k{n}", v="x" * 100) for n in range(200)]})
    journal(tmp_path, put("a"), number=0)
    journal(tmp_path, put("b"), number=1)
    assert compact(tmp_path, min_bytes=10_000) is None  # 1 small closed segment, a big base
    journal(tmp_path, *(put(f"j{n}", v="y" * 100) for n in range(200)), number=0)
    assert compact(tmp_path, min_bytes=10_000) is not None


def test_queued_lines_are_written_in_queue_order_by_whichever_flush_comes_first(tmp_path: Path) -> None:
    """moto's writes queue their lines under moto's lock and write them once it is let go: a
    flush writes everything queued before it, in the order queued, so the journal keeps moto's
    order whichever thread's flush runs first."""
    journal = Journal(tmp_path, 0)
    try:
        journal.enqueue([{"t": "del", "table": "T", "key": {"pk": {"S": "first"}}}])
        journal.enqueue([{"t": "del", "table": "T", "key": {"pk": {"S": "second"}}}])
        assert local_state.segment_path(tmp_path, 0).read_bytes() == b""  # queued, not written
        journal.append([{"t": "ckpt", "fn": "F", "checkpoints": {}, "carried_left": 0}])
        journal.flush()  # the first two's own flush: already written, nothing twice
    finally:
        journal.close()
    written = list(local_state.read_segment(local_state.segment_path(tmp_path, 0)))
    assert [e.get("key", {}).get("pk", {}).get("S", e["t"]) for e in written] == ["first", "second", "ckpt"]


def test_a_journal_write_holds_up_no_other_dynamodb_request(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The journal's write() happens after moto's lock is let go (and before the write is
    answered): a slow disk stalls the writing request alone, not every request of the stack."""
    import threading  # noqa: PLC0415

    import boto3  # noqa: PLC0415
    from moto import mock_aws  # noqa: PLC0415

    from acd_devkit import moto_fixes  # noqa: PLC0415

    moto_fixes.install()
    disk = threading.Event()
    writing = threading.Event()
    real_write = local_state.os.write

    def slow_write(fd: int, data: Any) -> int:
        writing.set()
        disk.wait(10)
        return real_write(fd, data)

    journal = Journal(tmp_path, 0)
    with mock_aws():
        db = boto3.client("dynamodb", region_name="eu-central-1")
        db.create_table(
            TableName="T",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        moto_fixes.observe_writes(local_state.MotoRecorder(journal))
        monkeypatch.setattr(local_state.os, "write", slow_write)
        answered: list[str] = []
        writer = threading.Thread(
            target=lambda: answered.append(str(db.put_item(TableName="T", Item={"pk": {"S": "a"}}))),
            daemon=True,
        )
        try:
            writer.start()
            assert writing.wait(10), "the put reached the journal"
            reader = threading.Thread(
                target=lambda: db.get_item(TableName="T", Key={"pk": {"S": "a"}}), daemon=True
            )
            reader.start()
            reader.join(5)
            read_meanwhile = not reader.is_alive()
            assert not answered, "a write is answered only once its lines are written"
        finally:
            disk.set()
            writer.join(10)
            moto_fixes.observe_writes(None)
            journal.close()
        assert read_meanwhile, "the read waited for the journal's write"
        assert answered
    written = list(local_state.read_segment(local_state.segment_path(tmp_path, 0)))
    assert [(e["t"], e["key"]) for e in written if e["t"] == "put"] == [("put", {"pk": {"S": "a"}})]
