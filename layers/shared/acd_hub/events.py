"""A read-side view of a stored event item, as the aggregators and reports consume it, and of the
records of the events table's stream that carry them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

# The cmds whose events make up a call (the call-stats aggregator's share of the stream).
CALL_CMDS = frozenset({"callevent", "recordedcall", "classificationevent", "enqueuecall"})


def plain(value: Any) -> Any:
    """A deserialized DynamoDB value as JSON-friendly Python (numbers, str, bool, None, list, dict)."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, Mapping):
        return {key: plain(inner) for key, inner in value.items()}
    if isinstance(value, (set, frozenset)):
        # a DynamoDB set holds one type (strings, numbers or binaries), so it sorts
        return sorted(plain(inner) for inner in value)
    if isinstance(value, (list, tuple)):
        return [plain(inner) for inner in value]
    if (
        hasattr(value, "value") and type(value).__name__ == "Binary"
    ):  # boto3's Binary, without importing boto3
        return bytes(value.value)
    return value


def _shown_as(value: Any) -> str | None:
    """The text a parameter was sent as, if ``data``'s value tells it unchanged: a string, an
    integer (``mode=0``), a phone number's ``raw``; None when it cannot (a flag, a time)."""
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, dict) and isinstance(value.get("raw"), str):
        return value["raw"]
    return None


def shown_in(data: dict[str, Any]) -> dict[str, str]:
    """Each name ``data`` holds (unknown parameters under ``extra``) with the text it shows."""
    names = {
        **{k: v for k, v in data.items() if k not in ("extra", "time_flags")},
        **(data.get("extra") or {}),
    }
    return {name: text for name, value in names.items() if (text := _shown_as(value)) is not None}


def as_sent(shown: dict[str, str], apart: dict[str, str]) -> dict[str, str]:
    """The parameters as sent: those an event's data shows (``shown``, :func:`shown_in`), and
    ``apart`` (by name, any case) over them."""
    kept = {name.lower() for name in apart}
    return {**{n: t for n, t in shown.items() if n.lower() not in kept}, **apart}


def parameters_as_sent(item: dict[str, Any]) -> dict[str, str]:
    """Every parameter of a stored event as the ACD sent it (the token left out)."""
    raw = dict(item.get("raw") or {})
    if int(item.get("schema_version") or 1) < 2:  # stored whole before
        return raw
    return as_sent(shown_in(plain(item.get("data") or {})), raw)


@dataclass(frozen=True)
class StoredEvent:
    cmd: str
    key: str
    time_ms: int
    data: dict[str, Any]
    agent: str | None = None
    task_id: str | None = None

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> StoredEvent:
        data = plain(item.get("data") or {})
        if not isinstance(data, dict):
            # refused here, where a stream record fails alone, not later where it would fail
            # every other event its aggregator folds with it (an agent's states of one batch)
            raise TypeError(f"an event's data is a map, not {type(data).__name__}")
        return cls(
            cmd=str(item["cmd"]),
            key=str(item["event_key"]),
            time_ms=int(item["event_time_ms"]),
            data=data,
            agent=item.get("agent"),
            task_id=item.get("task_id"),
        )

    @property
    def order(self) -> tuple[int, str]:
        """Total order of events: time, then key (same-millisecond events stay deterministic)."""
        return (self.time_ms, self.key)

    @property
    def state(self) -> str | None:
        return self.data.get("state")

    @property
    def event_type(self) -> str | None:
        return self.data.get("eventtype")


@dataclass(frozen=True)
class StreamRecord:
    """One record of the events table's stream as the aggregators get it: the stored item it
    carries (None: no new image), or why its image could not be read."""

    sequence: str
    item: dict[str, Any] | None
    unreadable: str | None = None

    @property
    def received_ms(self) -> int | None:
        """When the ingest received the event."""
        text = (self.item or {}).get("received_at")
        try:
            return int(datetime.fromisoformat(str(text).replace("Z", "+00:00")).timestamp() * 1000)
        except ValueError:
            return None

    @property
    def event_ms(self) -> int | None:
        value = (self.item or {}).get("event_time_ms")
        return value if isinstance(value, int) else None


def stream_shard(event: Mapping[str, Any]) -> str:
    """The stream shard a batch comes from: Lambda names it (``shardId``) when the mapping has
    a tumbling window; "" when it does not (``sam local invoke``, emulators without windows)."""
    shard = event.get("shardId")
    return shard if isinstance(shard, str) else ""
