"""How far the reports are complete, under a stream of several shards.

Lambda reads each shard of the events table's stream on its own, one batch at a time, and the
shards in no order between them: a shard can be minutes behind, or stuck on a failing batch,
while the others are up to date. So each consumer notes its progress **per shard** (one
``FRESHNESS`` item per consumer and shard; the shard id comes with the event when the mapping
has a tumbling window, which is why the template gives the stats function's mapping one; its
two aggregators note apart, as ``agent-stats`` and ``call-stats``), and a reader
folds the notes (:func:`consumer_freshness`):

* a shard's **watermark** is the receipt time up to which every record of that shard is in the
  reports: the newest record of its last good batch, or, while a batch fails and is retried,
  just before the oldest record of that batch;
* a consumer is complete up to the **lowest watermark** of its shards;
* except a shard that has been **idle**: its last batch was good and the consumer's other shards
  have gone on for longer than :data:`IDLE_AFTER_MS` since. Lambda polls every shard four times
  a second and a batch runs at most the function's timeout, so a shard that had records would
  have noted a batch by then. Without this rule one quiet shard would hold every report back
  for as long as no callback lands on it (a common case: agent-stats notes only batches that
  hold agent states, and a shard's keys can go quiet at night). The same rule is what
  stream processors call source idleness (Flink's ``withIdleness``).

What the notes cannot show, said here because the reader must not claim it: a shard whose
reader is not invoked at all for longer than :data:`IDLE_AFTER_MS` (the function throttled to
zero, the mapping disabled), and a new shard's first batch still running. A consumer whose
notes stop while another's go on is shown as **silent** (:data:`SILENT_AFTER_MS`).
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from acd_hub.ports import BatchProgress
from acd_hub.reports.freshness_notes import ShardNote

# A shard with no note for this long while the consumer's other shards go on has nothing to
# read: twice the aggregators' 60 s timeout plus their 2 s batching window (template.yaml).
IDLE_AFTER_MS = 125_000
# A batch whose oldest record waited longer than this was behind.
BEHIND_AFTER_MS = 10_000
# A "behind" note says a shard is catching up only while it is this recent: a shard catching up
# notes every batch, so an older one means the backlog ended with it.
CATCHING_UP_FOR_MS = 30_000
# A consumer with no note for this long while another consumer's notes go on is silent.
SILENT_AFTER_MS = 300_000


class FreshnessNotes:
    """Whether a batch's progress is worth a write (one ``UpdateItem``: at batches of 1 it was
    1.5 billed write units per callback, a tenth of the bill), per shard.

    Written: every failed batch, every batch that is behind, the first quiet one after those,
    and a quiet one when the shard's last write is ``every_s`` old. Not written: quiet batches
    in between, so a stored watermark is at most ``every_s`` older than the truth (it claims
    less, never more) and a busy shard's note is never older than ``every_s`` (far below
    :data:`IDLE_AFTER_MS`)."""

    def __init__(self, every_s: float = 5.0, quiet_behind_ms: int = BEHIND_AFTER_MS) -> None:
        self.every_s = every_s
        self.quiet_behind_ms = quiet_behind_ms
        self._last: dict[str, tuple[float, bool]] = {}  # shard -> (monotonic time, quiet)

    def wanted(self, progress: BatchProgress) -> bool:
        quiet = progress.complete_to_ms is not None and progress.behind_ms <= self.quiet_behind_ms
        now = time.monotonic()
        last = self._last.get(progress.shard)
        if quiet and last is not None and last[1] and now - last[0] < self.every_s:
            return False
        self._last[progress.shard] = (now, quiet)
        return True


@dataclass(frozen=True)
class ConsumerFreshness:
    """One consumer's reports: up to when they are complete, and what holds them back."""

    consumer: str
    complete_to_ms: int | None
    updated_at_ms: int
    latest_event_ms: int | None
    behind_ms: int | None  # the longest wait of a shard catching up or failing
    shards: int  # shards noted and not idle
    failing_shards: int
    catching_up_shards: int
    silent: bool  # no note for SILENT_AFTER_MS while another consumer went on

    @property
    def state(self) -> str:
        if self.silent:
            return "silent"
        if self.failing_shards:
            return "retrying"
        if self.catching_up_shards:
            return "catching up"
        return "up to date"


def consumer_freshness(notes: Iterable[ShardNote], now_ms: int | None = None) -> list[ConsumerFreshness]:
    """Fold the stored notes into each consumer's freshness (see the module's docstring)."""
    by_consumer: dict[str, list[ShardNote]] = defaultdict(list)
    for note in notes:
        by_consumer[note.consumer].append(note)
    if not by_consumer:
        return []
    now = int(time.time() * 1000) if now_ms is None else now_ms
    newest_anywhere = max(n.processed_at_ms for shard_notes in by_consumer.values() for n in shard_notes)
    return [
        _fold(consumer, shard_notes, now, newest_anywhere)
        for consumer, shard_notes in sorted(by_consumer.items())
    ]


def _fold(consumer: str, notes: Sequence[ShardNote], now_ms: int, newest_anywhere: int) -> ConsumerFreshness:
    newest = max(n.processed_at_ms for n in notes)
    live = [n for n in notes if n.failing or newest - n.processed_at_ms <= IDLE_AFTER_MS]
    marks = [n.watermark_ms for n in live]
    failing = [n for n in live if n.failing]
    catching_up = [
        n
        for n in live
        if not n.failing
        and n.behind_ms > BEHIND_AFTER_MS
        and now_ms - n.processed_at_ms <= CATCHING_UP_FOR_MS
    ]
    waits = [max(n.behind_ms, now_ms - (n.pending_from_ms or now_ms)) for n in failing]
    waits += [n.behind_ms for n in catching_up]
    events = [n.latest_event_ms for n in notes if n.latest_event_ms is not None]
    return ConsumerFreshness(
        consumer=consumer,
        complete_to_ms=None if not marks or None in marks else min(m for m in marks if m is not None),
        updated_at_ms=newest,
        latest_event_ms=max(events) if events else None,
        behind_ms=max(waits) if waits else None,
        shards=len(live),
        failing_shards=len(failing),
        catching_up_shards=len(catching_up),
        silent=newest_anywhere - newest > SILENT_AFTER_MS,
    )


def progress_of(
    shard: str,
    received_ms: Sequence[int],
    failed_received_ms: Sequence[int],
    latest_event_ms: int | None,
    now_ms: int,
) -> BatchProgress | None:
    """A batch's progress on its shard: complete to its newest record when nothing failed,
    else pending from the oldest record that failed (Lambda retries from the first failed one;
    the records before it are done, and a watermark below the failed ones stays true)."""
    if not received_ms:
        return None
    return BatchProgress(
        processed_at_ms=now_ms,
        oldest_received_ms=min(received_ms),
        complete_to_ms=None if failed_received_ms else max(received_ms),
        behind_ms=max(0, now_ms - min(received_ms)),
        latest_event_ms=latest_event_ms,
        records=len(received_ms),
        shard=shard,
        pending_from_ms=min(failed_received_ms) if failed_received_ms else None,
    )
