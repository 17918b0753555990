"""A hotline's day: its KPI counters (the day's and each 15-minute interval's, spread over
shards), the wait index of its answered calls (the longest wait), the shard counts it was
written with, and its place in the day's listing of hotlines with KPIs.

==========================================  ===================================  ==================
item                                        pk                                   sk
==========================================  ===================================  ==================
hotline 15-minute counters (per shard)      ``KPI#<hotline>#<day>#<shard>``      ``IV#<interval>``
calls of a hotline's day (listing, shard)   ``CALLS#<hotline>#<day>[#<s>]``      ``<started>#<taskid>``
shard counts a hotline day was written with ``SHARDS#<hotline>#<day>``           ``SHARDS``
a day's hotlines with KPIs, one each        ``HOTLINES#<day>``                   ``<hotline>``
==========================================  ===================================  ==================

The counters are integers named in :mod:`acd_hub.kpis`; they only ever receive ``ADD`` s of
differences (the reports table's adapter writes them). A day's counters are its intervals'
summed on read: the interval items are in the day's partitions (per shard), which a day's
report reads whole anyway, so a day item beside them (``DAY``, written by versions before, in
every call's transaction: 2 write units a change) told nothing they do not. Such an item is
left out of the sums (a late change since then does not reach it); ``acd-admin rebuild``
deletes it. Likewise the longest waits come from the call listing, which shows each call's
wait, outcome and interval: versions before also wrote a wait index (an entry per answered
call for its day, ``WAIT#<hotline>#<day>[#<s>]``, and one for its interval,
``WAIT#<hotline>#<day>#<interval>[#<s>]``, each a transactional put), no longer written nor
read; the rebuild deletes its entries.

The figures are computed on read (:class:`KpiFigures`): a day's (:func:`kpis`) and a range of days' (:func:`kpis_range`), as
``acd-report kpis``/``range``, the day report and the wallboard show them. The calls listed
are :class:`acd_hub.reports.call.ListedCall` s.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, ClassVar

from acd_hub import keys, kpis
from acd_hub.kpis import COUNTER_NAMES, Figure
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


def listing_pk(hotline: object, day: str, shard: int = 0) -> str:
    """A partition of a hotline day's listing of calls (``none``: calls that name no hotline)."""
    return sharded(f"CALLS#{hotline if hotline is not None else 'none'}#{day}", shard)


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
    """One item of a hotline's counters: a 15-minute one in one of its shards (``interval``
    None: the day's, as versions before wrote it beside them; only the rebuild still names it,
    to delete it)."""

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


def counter_attributes(key: CounterKey, sl_seconds: int) -> dict[str, Any]:
    """What a counter item holds besides its counters (set on each write, the counters added):
    an interval's start and the service-level target its counters were counted with."""
    return {"kind": "kpi_counters", "start": key.interval, "sl_seconds": sl_seconds}


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
    """The counters of a hotline day's shards' items, the day's the sum of its intervals'
    (None: no interval item, nothing counted). A ``DAY`` item written before the day was
    summed on read is left out: a change since may have passed it by (its service-level
    target is taken if the intervals name none: they did not, then)."""
    day: dict[str, int] = {}
    intervals: dict[str, dict[str, int]] = {}
    sl_seconds = day_sl_seconds = None
    found = False
    updated: list[str] = []
    for item in items:
        if item.get("kind") != "kpi_counters":
            continue
        if item["sk"] == KPI_DAY_SK:
            day_sl_seconds = item.get("sl_seconds", day_sl_seconds)
            continue
        found = True
        sl_seconds = item.get("sl_seconds", sl_seconds)
        updated.append(str(item.get("updated_at") or ""))
        sum_into(day, item)
        sum_into(intervals.setdefault(str(item["start"]), {}), item)
    if not found:
        return None
    return DayCounters(
        day, intervals, day_sl_seconds if sl_seconds is None else sl_seconds, max(updated) or None
    )


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


def day_hotline_attributes(hotline: str, day: str) -> dict[str, Any]:
    """What a hotline's entry in its day's listing holds."""
    return {"kind": "day_hotline", "hotline": hotline, "date": day}


def day_hotlines(reports: ReportItems, day: str) -> set[str]:
    """The hotlines with KPIs on ``day``: the day's listing, one ``Query`` of one partition."""
    items = reports.partition(day_hotlines_pk(day))
    return {str(item["hotline"]) for item in items if item.get("kind") == "day_hotline"}


# -- what acd-report, the day report and the wallboard show ------------------------------------


class KpiFigures:
    """A hotline's KPIs over some calls (a day, a 15-minute interval, a range of days), named
    and ordered as :data:`acd_hub.kpis.KPIS` defines them. Ratios and means over nothing are
    None, never 0."""

    __slots__ = ("_figures",)

    def __init__(self, **figures: Figure) -> None:
        wrong = sorted(set(figures) ^ set(kpis.NAMES))
        if wrong:
            raise TypeError(f"KPI figures must be exactly those of acd_hub.kpis.KPIS; wrong: {wrong}")
        self._figures = {name: figures[name] for name in kpis.NAMES}

    @classmethod
    def of_counters(cls, counters: Mapping[str, int], max_wait_ms: int | None) -> KpiFigures:
        # whole numbers as ints, as they read back from DynamoDB when reports were stored whole
        figures = kpis.figures(counters, max_wait_ms)
        return cls(
            **{
                name: int(value) if isinstance(value, float) and value.is_integer() else value
                for name, value in figures.items()
            }
        )

    def __getitem__(self, name: str) -> Figure:
        return self._figures[name]

    def __getattr__(self, name: str) -> Figure:
        # ``figures.offered`` as well as ``figures["offered"]``: the table's names, no others
        if name.startswith("_") or name not in kpis.BY_NAME:
            raise AttributeError(name)
        return self._figures[name]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, KpiFigures) and self._figures == other._figures

    def __hash__(self) -> int:
        return hash(tuple(self._figures.items()))

    def __repr__(self) -> str:
        return f"KpiFigures({self._figures!r})"

    def as_dict(self) -> dict[str, Any]:
        return dict(self._figures)


@dataclass(frozen=True)
class IntervalKpis:
    start: str  # the interval's start, ISO 8601 in the reporting zone
    figures: KpiFigures

    def as_dict(self) -> dict[str, Any]:
        return {"start": self.start, **self.figures.as_dict()}


@dataclass(frozen=True)
class HotlineKpis:
    """A hotline's day: the day's KPIs and each 15-minute interval with offered calls."""

    hotline: str
    date: str
    day: KpiFigures
    intervals: list[IntervalKpis]
    sl_seconds: int | None
    updated_at: str | None  # when its counters last changed

    def as_dict(self) -> dict[str, Any]:
        """What ``acd-report kpis --format json`` prints."""
        return {
            "hotline": self.hotline,
            "day": self.day.as_dict(),
            "intervals": [interval.as_dict() for interval in self.intervals],
        }


@dataclass(frozen=True)
class DayKpis:
    day: str
    figures: KpiFigures

    def as_dict(self) -> dict[str, Any]:
        return {"day": self.day, **self.figures.as_dict()}


@dataclass(frozen=True)
class RangeKpis:
    """A hotline's KPIs over a range of days (from the days' counters summed) and of each day."""

    hotline: str
    first: str
    last: str
    figures: KpiFigures
    days: list[DayKpis]

    def as_dict(self) -> dict[str, Any]:
        return {
            "hotline": self.hotline,
            "from": self.first,
            "to": self.last,
            "figures": self.figures.as_dict(),
            "days": [day.as_dict() for day in self.days],
        }


def kpis_of_day(reports: ReportItems, hotline: str, day: str, kpi_shards: int) -> HotlineKpis | None:
    """A hotline's KPIs of one day; None if none computed yet (``kpi_shards``: the setting, for
    a day written before shard counts were recorded).

    Sums the counter shards (one ``Query`` each, in parallel) and reads the longest wait of
    the day and of each interval (:func:`longest_waits`)."""
    counter_shards, listing_shards = shard_counts(reports, hotline, day, kpi_shards)
    counted = day_counters(
        reports.partitions([kpi_pk(hotline, day, shard) for shard in range(counter_shards)])
    )
    if counted is None:
        return None
    offered = counted.offered_intervals()
    answered = [start for start, c in offered.items() if c.get("answered")]
    longest = longest_waits(reports, hotline, day, answered, listing_shards)
    return HotlineKpis(
        hotline=hotline,
        date=day,
        day=KpiFigures.of_counters(counted.day, longest.get(None)),
        intervals=[
            IntervalKpis(start, KpiFigures.of_counters(counters, longest.get(start)))
            for start, counters in offered.items()
        ],
        sl_seconds=counted.sl_seconds,
        updated_at=counted.updated_at,
    )


# what the longest waits need of a listed call: a whole summary is several times the bytes
WAIT_FIELDS = ("kind", "direction", "outcome", "wait_s", "interval")


def listed_waits(items: Iterable[Item]) -> list[tuple[int, str | None]]:
    """The waits of the answered inbound calls among a hotline day's listed calls, with each
    call's interval: what the calls' counters hold of them (a call counts where it is listed,
    by its start; :func:`acd_hub.call_stats.contribution` takes its wait exactly so)."""
    return [
        (round(float(item["wait_s"]) * 1000), None if item.get("interval") is None else str(item["interval"]))
        for item in items
        if item.get("kind") == "call"
        and item.get("direction") == "inbound"
        and item.get("outcome") == "answered"
        and item.get("wait_s") is not None
    ]


def _longest_of_day(reports: ReportItems, hotline: str, day: str, shards: int) -> int | None:
    waits = listed_waits(
        reports.partitions([listing_pk(hotline, day, s) for s in range(shards)], fields=WAIT_FIELDS)
    )
    return max((wait for wait, _ in waits), default=None)


def kpis_range(
    reports: ReportItems, hotline: str, first: str, last: str, kpi_shards: int
) -> RangeKpis | None:
    """A hotline's KPIs over the days ``first`` to ``last`` (inclusive) and of each of those
    days with calls; None when no day has any. Per day its counter shards' interval items
    (one ``Query`` each: a day's counters are its intervals' sum) and the day's longest wait
    (its listing's shards, the fields the waits need), all in parallel; the range's figures from the days' counters summed (a ratio of sums,
    not a mean of the days' ratios)."""
    start, end = date.fromisoformat(first), date.fromisoformat(last)
    days = [(start + timedelta(days=n)).isoformat() for n in range((end - start).days + 1)]

    def day_items(part: tuple[str, int]) -> list[Item]:
        # the interval items only: a DAY item of before is left out (see day_counters)
        return list(reports.partition(kpi_pk(hotline, *part), sk_between=("IV#", "IV$")))

    def longest(day: str) -> int | None:
        return _longest_of_day(reports, hotline, day, shards[day][1])

    found = reports.each(lambda day: shard_counts(reports, hotline, day, kpi_shards), days)
    shards = dict(zip(days, found, strict=True))
    parts = [(day, shard) for day in days for shard in range(shards[day][0])]
    counted = reports.each(day_items, parts)
    waits = dict(zip(days, reports.each(longest, days), strict=True))
    counters: dict[str, dict[str, int]] = {}
    for (day, _), items in zip(parts, counted, strict=True):
        for item in items:
            if item.get("kind") == "kpi_counters":
                sum_into(counters.setdefault(day, {}), item)
    if not counters:
        return None
    total: dict[str, int] = {}
    for day_total in counters.values():
        for name, value in day_total.items():
            total[name] = total.get(name, 0) + value
    day_waits = [wait for day, wait in waits.items() if wait is not None and day in counters]
    return RangeKpis(
        hotline=hotline,
        first=first,
        last=last,
        figures=KpiFigures.of_counters(total, max(day_waits) if day_waits else None),
        days=[
            DayKpis(day, KpiFigures.of_counters(counters[day], waits.get(day)))
            for day in days
            if day in counters
        ],
    )


def longest_waits(
    reports: ReportItems, hotline: str, day: str, intervals: Sequence[str], shards: int
) -> dict[str | None, int]:
    """The longest wait of the day (key None) and of each interval with answered calls, from
    the day's call listing (one ``Query`` per shard, the fields the waits need): each listed
    call shows its wait, outcome and interval."""
    listing = reports.partitions(
        [listing_pk(hotline, day, shard) for shard in range(shards)], fields=WAIT_FIELDS
    )
    longest: dict[str | None, int] = {}
    for wait_ms, interval in listed_waits(listing):
        for key in (None, interval):
            longest[key] = max(longest.get(key, wait_ms), wait_ms)
    # only intervals with answered calls have a longest wait (as their counters say)
    return {key: wait for key, wait in longest.items() if key is None or key in intervals}
