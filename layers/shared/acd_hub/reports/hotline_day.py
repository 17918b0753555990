"""A hotline's day: its KPI counters (the day's and each 15-minute interval's, spread over
shards), the wait index of its answered calls (the longest wait), the shard counts it was
written with, and its place in the day's listing of hotlines with KPIs.

==========================================  ===================================  ==================
item                                        pk                                   sk
==========================================  ===================================  ==================
hotline day counters (one per shard)        ``KPI#<hotline>#<day>#<shard>``      ``DAY``
hotline 15-minute counters (per shard)      ``KPI#<hotline>#<day>#<shard>``      ``IV#<interval>``
waits of answered calls (max wait), day     ``WAIT#<hotline>#<day>[#<s>]``       ``<wait ms>#<taskid>``
... and per 15-minute interval              ``WAIT#<hotline>#<day>#<iv>[#<s>]``  ``<wait ms>#<taskid>``
shard counts a hotline day was written with ``SHARDS#<hotline>#<day>``           ``SHARDS``
a day's hotlines with KPIs, one each        ``HOTLINES#<day>``                   ``<hotline>``
==========================================  ===================================  ==================

The counters are integers named in :mod:`acd_hub.kpis` (the figures are computed on read);
they only ever receive ``ADD`` s of differences (the reports table's adapter writes them).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from acd_hub import keys
from acd_hub.kpis import COUNTER_NAMES
from acd_hub.reports.stored import Item, Key, ReportItems, attribute

SHARDS_SK = "SHARDS"
KPI_DAY_SK = "DAY"


def sharded(pk: str, shard: int) -> str:
    # shard 0 of the listing and the wait index keeps the key from before they were sharded
    return pk if shard == 0 else f"{pk}#{shard}"


@dataclass(frozen=True)
class ShardCounts:
    """How many partitions a hotline day's reports are spread over, by task id: its KPI
    counters (``kpi``) and its call listing and wait index (``listing``). A call's reports are
    where these counts put them when it was written, so a later change of the call finds them
    there (its summary records the counts), whatever the setting is by then."""

    kpi: int
    listing: int

    def kpi_shard(self, task_id: str) -> int:
        return keys.shard_of(task_id, self.kpi)

    def listing_shard(self, task_id: str) -> int:
        # one partition: the key the listing had before it was sharded (shard 0, no suffix)
        return 0 if self.listing == 1 else keys.shard_of(task_id, self.listing)


def shards_key(hotline: object, day: str) -> Key:
    return f"SHARDS#{hotline}#{day}", SHARDS_SK


def recorded_shards(item: Mapping[str, Any] | None) -> tuple[set[int], set[int]] | None:
    """The KPI and listing shard counts a ``SHARDS#`` item records (number sets, grown by ``ADD``)."""
    if item is None:
        return None
    return {int(n) for n in item.get("kpi_shards") or ()}, {int(n) for n in item.get("listing_shards") or ()}


def shard_counts(reports: ReportItems, hotline: str, day: str, kpi_shards: int) -> tuple[int, int]:
    """How many KPI and listing shards a hotline day has: up to the largest count it was
    written with (recorded with its reports); a day written before counts were recorded, the
    given KPI count and one listing partition."""
    pk, _ = shards_key(hotline, day)
    recorded = recorded_shards(next(reports.partition(pk, limit=1), None))  # a listing's reads are all Query
    kpi, listing = recorded or (set(), set())
    return max(kpi or {kpi_shards}), max(listing or {1})


# -- the counters ----------------------------------------------------------------------------


@dataclass(frozen=True)
class CounterKey:
    """One item of a hotline's counters: the day's (``interval`` None) or a 15-minute one, in
    one of its shards."""

    hotline: str
    day: str
    shard: int
    interval: str | None = None


def kpi_pk(hotline: object, day: str, shard: int) -> str:
    return f"KPI#{hotline}#{day}#{shard}"


def kpi_interval_sk(interval: str) -> str:
    return f"IV#{interval}"


def counter_key(key: CounterKey) -> Key:
    sk = KPI_DAY_SK if key.interval is None else kpi_interval_sk(key.interval)
    return kpi_pk(key.hotline, key.day, key.shard), sk


def counters_of(item: Mapping[str, Any]) -> dict[str, int]:
    """A counter item's counters that are not zero."""
    return {name: int(item[name]) for name in COUNTER_NAMES if item.get(name)}


def sum_into(total: dict[str, int], item: Mapping[str, Any]) -> None:
    for name, value in counters_of(item).items():
        total[name] = total.get(name, 0) + value


@dataclass(frozen=True)
class DayCounters:
    """A hotline day's counters summed over its shards: the day's and each interval's."""

    day: dict[str, int]
    intervals: dict[str, dict[str, int]]
    sl_seconds: int | None
    updated_at: str | None  # when they last changed

    def offered_intervals(self) -> dict[str, dict[str, int]]:
        """The intervals with offered calls, in time order."""
        offered = {start: c for start, c in self.intervals.items() if c.get("offered")}
        return {start: offered[start] for start in sorted(offered, key=datetime.fromisoformat)}


def day_counters(items: Iterable[Item]) -> DayCounters | None:
    """The counters of a hotline day's shards' items (None: no day item, nothing counted)."""
    day: dict[str, int] = {}
    intervals: dict[str, dict[str, int]] = {}
    sl_seconds = None
    found = False
    updated: list[str] = []
    for item in items:
        if item.get("kind") != "kpi_counters":
            continue
        if item["sk"] == KPI_DAY_SK:
            found = True
            sl_seconds = item.get("sl_seconds", sl_seconds)
            updated.append(str(item.get("updated_at") or ""))
            sum_into(day, item)
        else:
            sum_into(intervals.setdefault(str(item["start"]), {}), item)
    if not found:
        return None
    return DayCounters(day, intervals, sl_seconds, max(updated) or None)


# -- the wait index --------------------------------------------------------------------------


@dataclass(frozen=True)
class WaitEntry:
    """An answered call in the wait index of its hotline's day (``interval`` None) or interval:
    the longest wait is the index's last entry."""

    KIND: ClassVar[str] = "wait"

    hotline: str = field(metadata=attribute(omit="always"))
    day: str = field(metadata=attribute(omit="always"))
    interval: str | None = field(metadata=attribute(omit="always"))
    wait_ms: int
    task_id: str
    shard: int = field(default=0, metadata=attribute(omit="always"))  # spread like the listing

    def key(self) -> Key:
        # by wait: the longest is the partition's last item
        pk = wait_pk(self.hotline, self.day, self.interval, self.shard)
        return pk, f"{self.wait_ms:012d}#{self.task_id}"


def wait_pk(hotline: object, day: str, interval: str | None = None, shard: int = 0) -> str:
    return sharded(f"WAIT#{hotline}#{day}" if interval is None else f"WAIT#{hotline}#{day}#{interval}", shard)


# -- the day's hotlines ----------------------------------------------------------------------


def day_hotlines_pk(day: str) -> str:
    return f"HOTLINES#{day}"


def day_hotline_key(hotline: object, day: str) -> Key:
    return day_hotlines_pk(day), str(hotline)


def day_hotlines(reports: ReportItems, day: str) -> set[str]:
    """The hotlines with KPIs on ``day``: the day's listing, one ``Query`` of one partition."""
    items = reports.partition(day_hotlines_pk(day))
    return {str(item["hotline"]) for item in items if item.get("kind") == "day_hotline"}
