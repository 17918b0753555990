"""A call: its summary (``acd-report call``), with the share of its hotline's KPIs its counters
hold, stored once: in its hotline's listing of the day (``acd-report calls``) once it has a
place there.

==========================================  ================================  =====================
item                                        pk                                sk
==========================================  ================================  =====================
call summary (+ its KPI contribution), or   ``CALL#<taskid>``                 ``SUMMARY``
where it is once listed (``call-at``)
calls of a hotline's day (listing, shard)   ``CALLS#<hotline>#<day>[#<s>]``   ``<started>#<taskid>``
==========================================  ================================  =====================

The summary is computed from the call's events by :func:`acd_hub.call_stats.call_summary`.

A call is stored once. Until its start is known it is at ``CALL#<taskid>`` / ``SUMMARY``; once
it has a place in its hotline's listing of the day, the listing's item holds it whole (the
summary, its KPI contribution, shard counts and version: :class:`StoredCall` at that key) and
``SUMMARY`` holds only where (:class:`CallAt`), written again only when the call moves (its
start or hotline changed, or another listing shard count). Every change of a call wrote two
items before, the summary and its listing copy, each a transactional put (2 write units): now
one. Versions before kept the summary at ``SUMMARY`` and a copy in the listing; such a call is
read from ``SUMMARY`` (its copy is what the listing shows) until its next change moves it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

from acd_hub import keys
from acd_hub.reports.hotline_day import ShardCounts, listing_pk
from acd_hub.reports.stored import Item, Key, ReportItems, attribute, attributes, report_of


@dataclass(frozen=True)
class CallSummary:
    """One call as ``acd-report call`` shows it; ``day`` and ``interval`` (where it counts) only
    once its start is known."""

    task_id: str
    direction: str
    hotline: int | None
    group: int | None
    agents: list[str]
    started: str | None
    answered: str | None
    ended: str | None
    wait_s: int | float | None
    talk_s: int | float | None
    hold_s: int | float | None
    acw_s: int | float | None
    outcome: str
    recorded: bool
    classification: str | None
    started_ms: int | None
    # How many events the call has: not computed nor stored (None), the call's reader counts
    # its stored events (``acd-report call``); a summary written by versions before holds it.
    event_count: int | None
    day: str | None = field(default=None, metadata=attribute(omit="none"))
    interval: str | None = field(default=None, metadata=attribute(omit="none"))
    # What makes a duration unknown: events whose times contradict their order (PROBLEMS).
    problems: list[str] = field(default_factory=list, metadata=attribute(omit="empty"))
    # agents reached beyond the MAX_CALL_AGENTS listed
    more_agents: int = field(default=0, metadata=attribute(omit="empty"))

    def as_dict(self) -> dict[str, Any]:
        return attributes(self)

    @property
    def listing_place(self) -> tuple[str, str, str, str] | None:
        """Where the call stands in its hotline's listing of the day (by start); None until its
        start is known."""
        if not self.started or not self.day:
            return None
        return ("none" if self.hotline is None else str(self.hotline), self.day, self.started, self.task_id)


@dataclass(frozen=True)
class Contribution:
    """A call's share of its hotline's KPIs: where it counts and what (non-zero counters)."""

    hotline: str
    day: str
    interval: str
    counters: dict[str, int]
    wait_ms: int | None = None


@dataclass(frozen=True)
class StoredCall:
    """A call summary as stored: with the contribution its counters hold, the shard counts its
    reports were written with (None: stored before they were recorded), and a version (the
    one read: 0 if stored before items carried one, None if not stored)."""

    KIND: ClassVar[str] = "call"

    # without the count of the call's events, which most events change and nothing else in
    # the summary does: a hold, a duplicate, a second classification write no summary (a
    # transactional put, 2 WRU); ``acd-report call`` counts the events it reads anyway
    summary: CallSummary = field(metadata=attribute(inline=True, leave_out=("event_count",)))
    contribution: Contribution | None = field(metadata=attribute(name="kpi"))
    updated_at: str | None = None
    version: int | None = field(default=None, metadata=attribute(omit="none", absent=0))
    shards: ShardCounts | None = field(default=None, metadata=attribute(omit="none"))
    # where it is stored: None at its ``SUMMARY`` key, else its listing's item (whose key this is)
    at: Key | None = field(default=None, metadata=attribute(omit="always"))

    def written(self, stamp: str) -> StoredCall:
        return replace(self, updated_at=stamp, version=(self.version or 0) + 1)

    def key(self) -> Key:
        return self.at or summary_key(self.summary.task_id)


@dataclass(frozen=True)
class CallAt:
    """Where a listed call is stored (``at``: its listing item's key), at its ``SUMMARY`` key."""

    KIND: ClassVar[str] = "call-at"

    task_id: str = field(metadata=attribute(omit="always"))
    at_pk: str
    at_sk: str
    # Not a KPI share: a hub of before reads a SUMMARY item as a whole summary. Its codec
    # fails on a number here (its record is retried, or kept by the on-failure destination),
    # where this item without it would read as a summary of nothing at version 0 and be
    # overwritten, the call's whole share counted again (a rolled-back deploy, or an old
    # container still running while a new one writes the call).
    guard: int = field(default=1, metadata=attribute(name="kpi"))

    @property
    def at(self) -> Key:
        return self.at_pk, self.at_sk

    def key(self) -> Key:
        return summary_key(self.task_id)


def summary_key(task_id: str) -> Key:
    return keys.call_pk(task_id), "SUMMARY"


@dataclass(frozen=True)
class ListedCall:
    """A call as its hotline's listing of the day shows it (``acd-report calls``), in one of
    the listing's shards: what the listing's items hold (the call itself, :class:`StoredCall`
    at that key, or the copy versions before wrote beside the summary)."""

    KIND: ClassVar[str] = "call"

    summary: CallSummary = field(metadata=attribute(inline=True, leave_out=("event_count",)))
    updated_at: str | None = None
    shard: int = field(default=0, metadata=attribute(omit="always"))

    @property
    def listed(self) -> CallSummary:
        return replace(self.summary, event_count=None)

    def key(self) -> Key:
        return _listing_key(self.summary, self.shard)


# -- what acd-report, the day report and the wallboard read ------------------------------------


def listed_at(summary: CallSummary, shard: int) -> Key | None:
    """The key of a call's item in its hotline's listing (its ``shard``); None while it has no
    place there (its start unknown)."""
    return None if summary.listing_place is None else _listing_key(summary, shard)


def _listing_key(summary: CallSummary, shard: int) -> Key:
    return listing_pk(summary.hotline, str(summary.day), shard), f"{summary.started}#{summary.task_id}"


def pointed_at(item: Item) -> Key | None:
    """Where a ``SUMMARY`` item says its call is stored; None if it holds the call itself."""
    return (str(item["at_pk"]), str(item["at_sk"])) if item.get("kind") == CallAt.KIND else None


# a listed call moved between the read of where it is and the read of it: read again
MOVED_READS = 3


class CallMoved(Exception):
    """A listed call moved each time between the read of where it is and the read of it."""


def stored_item(read: Callable[[Key], Item | None], task_id: str) -> tuple[Item, Key | None] | None:
    """A call's stored item and where it was read (None: at its ``SUMMARY`` key); None before
    the aggregator has seen it. A listed call's is in its listing's item: one read more (where,
    then it), both read again if it moved in between (:class:`CallMoved` if it kept moving)."""
    for _ in range(MOVED_READS):
        item = read(summary_key(task_id))
        if item is None or (at := pointed_at(item)) is None:
            return None if item is None else (item, None)
        if (there := read(at)) is not None:
            return there, at
    raise CallMoved(task_id)


def summary(reports: ReportItems, task_id: str) -> CallSummary | None:
    """One call's summary; None before the aggregator has seen it (or while it keeps moving)."""
    try:
        found = stored_item(reports.item, task_id)
    except CallMoved:
        return None
    return report_of(CallSummary, found[0]) if found is not None and found[0].get("kind") == "call" else None


def listing(reports: ReportItems, hotline: str, day: str, shards: int) -> list[CallSummary]:
    """The summaries of the calls a hotline got on a day (its listing's ``shards``), by start."""
    items = reports.partitions([listing_pk(hotline, day, shard) for shard in range(shards)])
    summaries = [report_of(CallSummary, item) for item in items if item.get("kind") == "call"]
    return sorted(summaries, key=lambda s: (str(s.started or ""), s.task_id))
