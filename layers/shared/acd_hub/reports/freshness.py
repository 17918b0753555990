"""The reports' freshness as it is shown (``acd-report freshness``, the day report, the
wallboard): up to when the reports are complete, and what holds them back. It is read from the
consumers' notes (:mod:`acd_hub.reports.freshness_notes`), folded per consumer by
:func:`acd_hub.freshness.consumer_freshness`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from acd_hub.freshness import consumer_freshness
from acd_hub.reports import freshness_notes
from acd_hub.reports.stored import ReportItems
from acd_hub.times import iso_of_ms

# The fan-out's name in the FRESHNESS partition (functions/fanout/app.py).
FANOUT_CONSUMER = "fanout"


@dataclass(frozen=True)
class ConsumerFreshness:
    """How far one stream consumer has got over the stream's shards."""

    consumer: str
    complete_to: str | None  # every callback received until then is in its reports
    updated_at: str | None  # when it noted its latest batch
    latest_event: str | None
    behind_s: float | None  # the longest wait of a shard that is behind or failing
    state: str  # up to date | catching up | retrying | silent
    shards: int  # stream shards it has noted (idle ones not counted)
    failing_shards: int
    catching_up_shards: int


@dataclass(frozen=True)
class Freshness:
    """Up to when the reports are complete (the slowest consumer's), and whether anything holds
    them back (a shard behind or failing, a silent consumer)."""

    complete_to: str | None
    updated_at: str | None
    behind_s: float | None
    catching_up: bool
    consumers: list[ConsumerFreshness]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def read(reports: ReportItems, now_ms: int | None = None) -> Freshness:
    """Each consumer's notes per stream shard, folded by :func:`acd_hub.freshness.consumer_freshness`
    (the lowest watermark of the shards that are not idle; a failing shard holds it below its
    records). ``complete_to`` is the slowest consumer's; ``catching_up`` is true while any shard
    is behind, failing, or a consumer is silent."""
    notes = freshness_notes.notes(reports)
    consumers = [
        ConsumerFreshness(
            consumer=c.consumer,
            complete_to=iso_of_ms(c.complete_to_ms),
            updated_at=iso_of_ms(c.updated_at_ms),
            latest_event=iso_of_ms(c.latest_event_ms),
            behind_s=None if c.behind_ms is None else round(c.behind_ms / 1000, 1),
            state=c.state,
            shards=c.shards,
            failing_shards=c.failing_shards,
            catching_up_shards=c.catching_up_shards,
        )
        for c in [
            # The fan-out notes its progress too (listed), but publishes rather than reports:
            # it says nothing of the reports' completeness, and it sees only config changes
            # and broadcasts, so it is folded apart (hours without one are not silence).
            *consumer_freshness([n for n in notes if n.consumer != FANOUT_CONSUMER], now_ms),
            *consumer_freshness([n for n in notes if n.consumer == FANOUT_CONSUMER], now_ms),
        ]
    ]
    aggregators = [c for c in consumers if c.consumer != FANOUT_CONSUMER]
    completes = [c.complete_to for c in aggregators]
    behind_s = [c.behind_s for c in aggregators if c.behind_s is not None]
    updated = [c.updated_at for c in aggregators if c.updated_at]
    return Freshness(
        complete_to=None if not completes or None in completes else min(c for c in completes if c),
        updated_at=max(updated) if updated else None,
        behind_s=max(behind_s) if behind_s else None,
        catching_up=any(c.state != "up to date" for c in aggregators),
        consumers=sorted(consumers, key=lambda c: c.consumer),
    )
