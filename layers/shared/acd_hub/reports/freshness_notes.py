"""The stream consumers' notes of how far they have got, one per consumer and stream shard
(written by the reports table's adapter, ``note_batch``), which ``acd-report freshness``, the
day report and the wallboard fold into the reports' freshness (:mod:`acd_hub.freshness`).

==========================================  ================================  =====================
item                                        pk                                sk
==========================================  ================================  =====================
freshness of a consumer on a stream shard   ``FRESHNESS``                     ``<consumer>#<shard>``
==========================================  ================================  =====================
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from acd_hub.reports.stored import Key, ReportItems, attribute, report_of

if TYPE_CHECKING:
    from acd_hub.ports import BatchProgress

PK = "FRESHNESS"


@dataclass(frozen=True)
class ShardNote:
    """A consumer's latest noted batch of one shard, as stored."""

    consumer: str
    shard: str = field(metadata=attribute(absent=""))
    processed_at_ms: int = field(metadata=attribute(absent=0))
    complete_to_ms: int | None  # the newest record of its last good batch
    pending_from_ms: int | None  # the oldest record of a batch that failed and is retried
    behind_ms: int = field(metadata=attribute(absent=0))
    latest_event_ms: int | None = None

    @property
    def failing(self) -> bool:
        return self.pending_from_ms is not None

    @property
    def watermark_ms(self) -> int | None:
        """Every record of this shard received up to then is in the reports (None: not known)."""
        if self.pending_from_ms is not None:
            below = self.pending_from_ms - 1
            return below if self.complete_to_ms is None else min(self.complete_to_ms, below)
        return self.complete_to_ms


def note_key(consumer: str, shard: str) -> Key:
    """One item per consumer and stream shard (just the consumer when the shard is unnamed)."""
    return (PK, f"{consumer}#{shard}" if shard else consumer)


def note_attributes(consumer: str, progress: BatchProgress) -> dict[str, Any]:
    """What a note holds: the consumer and the batch's figures it has (a ``ShardNote`` reads
    them back; the batch's record count and oldest receipt are kept for the operator)."""
    figures = {name: value for name, value in asdict(progress).items() if value is not None}
    return {"kind": "freshness", "consumer": consumer, **figures}


def notes(reports: ReportItems) -> list[ShardNote]:
    """Every consumer's note of each of its shards (a note without its consumer's name, from
    before notes carried one, is named by its key)."""
    return [
        report_of(ShardNote, item, **({} if item.get("consumer") else {"consumer": str(item["sk"])}))
        for item in reports.partition(PK)
        if item.get("kind") == "freshness"
    ]
