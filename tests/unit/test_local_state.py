"""The data folder's snapshot format of acd-local: DynamoDB JSON both ways, and which stream
records each consumer still has to handle."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from acd_local import state as local_state


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


def test_a_stream_record_keeps_its_time_to_the_microsecond() -> None:
    created = datetime(2026, 12, 1, 9, 30, 15, 123456, tzinfo=UTC)
    raw = {
        "eventName": "INSERT",
        "dynamodb": {
            "ApproximateCreationDateTime": created,
            "Keys": {"pk": {"S": "a"}},
            "NewImage": {"pk": {"S": "a"}, "b": {"B": b"\x01"}},
            "SequenceNumber": "7",
        },
    }
    record = local_state.stream_record_json(raw)
    assert record["dynamodb"]["ApproximateCreationDateTime"] == created.timestamp()
    assert record["dynamodb"]["NewImage"]["b"] == {"B": "AQ=="}


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


def test_snapshot_files_are_written_whole_and_checked_on_load(tmp_path: Path) -> None:
    path = tmp_path / "data" / local_state.SNAPSHOT_NAME
    summary = local_state.take_snapshot(
        path, tables={"T": [{"pk": {"S": "a"}}]}, streams={"T": records(1)}, consumers={}
    )
    assert summary["items"] == 1
    assert summary["stream_records"] == 1
    loaded = local_state.load_snapshot(path)
    assert loaded is not None
    assert loaded["tables"] == {"T": [{"pk": {"S": "a"}}]}
    assert [p.name for p in path.parent.iterdir()] == [local_state.SNAPSHOT_NAME]  # no temp file left
    assert local_state.load_snapshot(tmp_path / "missing.json") is None
    path.write_text('{"format": "something else"}')
    with pytest.raises(ValueError, match="not an acd-local snapshot"):
        local_state.load_snapshot(path)
