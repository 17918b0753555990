"""What the domain needs from the tables, declared by the domain: the events store the ingest
writes to, the event log the aggregators and the rebuild read, and the reports store they read
and write. The DynamoDB adapters (:mod:`acd_hub.adapters`) implement them; tests may hand in
fakes. Nothing here knows DynamoDB: keys, conditions and codecs are the adapters' business.

A change of reports is one transaction of :data:`ReportWrite` s, each saying which report it
writes and on what it depends (a version read, an entry that must not exist yet). If another
writer got there first, the whole transaction is :class:`Cancelled` and says which writes'
conditions failed, so the aggregator can tell a duplicate from a race.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # names in annotations only: the ingest imports this module, not the statistics
    from zoneinfo import ZoneInfo

    from acd_hub.agent_stats import AgentDay, Link, TalkMarker, TimelineEntry
    from acd_hub.events import StoredEvent
    from acd_hub.reports.board import BoardEntry
    from acd_hub.reports.call import CallAt, ListedCall, StoredCall
    from acd_hub.reports.hotline_day import CounterKey, ShardCounts, WaitEntry
    from acd_hub.reports.stored import Key, Keyed

# -- the events table ------------------------------------------------------------------------------


class EventStore(Protocol):
    """Where the ingest keeps events and quarantined requests."""

    def put_event(self, item: dict[str, Any], claim: dict[str, Any] | None = None) -> bool:
        """Store once. True if stored now, False if the same event was already there. With a
        ``claim`` the key is claimed first. Raises the errors of :mod:`acd_hub.errors`:
        EventConflict (the key holds other content), StoreRefused (never storable) or
        StoreUnavailable (retry later)."""
        ...

    def put_rejected(self, item: dict[str, Any]) -> None: ...


class EventLog(Protocol):
    """The stored events as the aggregators and the rebuild read them: strongly consistent
    reads of the base table (a recompute sees every event stored before its stream record was
    delivered), except the listings by type and day (an index)."""

    def agent_day(self, agent: str, day: str) -> list[StoredEvent]: ...

    def agent_edge(self, agent: str, day: str, *, last: bool) -> StoredEvent | None:
        """The agent's first (or last) event of ``day``."""
        ...

    def agent_before(self, agent: str, day: str, sort_key: str) -> StoredEvent | None:
        """The agent's event just before ``sort_key`` within ``day``."""
        ...

    def agent_after(self, agent: str, day: str, sort_key: str) -> StoredEvent | None:
        """The agent's event just after ``sort_key`` within ``day``."""
        ...

    def agent_between(
        self, agent: str, day: str, first: str, last: str, limit: int
    ) -> list[tuple[StoredEvent, str]]:
        """The agent's events with sort keys from ``first`` to ``last`` (at most ``limit``),
        with their sort keys."""
        ...

    def agent_since(self, agent: str, since_ms: int, zone: ZoneInfo) -> Iterator[StoredEvent]:
        """The agent's events from ``since_ms`` on, that day and the next, read as the caller
        goes (one that stops early reads little)."""
        ...

    def cmd_day(self, cmd: str, day: str, shards: int) -> Iterator[StoredEvent]: ...

    def call(self, task_id: str) -> list[StoredEvent]: ...


# -- the reports table -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Create:
    """A report that must not exist yet: a duplicate delivery fails here and changes nothing."""

    report: TimelineEntry | TalkMarker


@dataclass(frozen=True)
class PutVersioned:
    """Replace a report only if its stored version is still ``read_version`` (None: absent; 0:
    stored before reports carried a version). The report carries its new version."""

    report: AgentDay | StoredCall | CallAt
    read_version: int | None


@dataclass(frozen=True)
class DeleteVersioned:
    """Drop a call stored in its listing, only if it is still at ``read_version``: it moved."""

    report: StoredCall
    read_version: int


@dataclass(frozen=True)
class Repoint:
    """Put a call's ``SUMMARY`` item (where it is now, or the call itself) only if it still
    says the call is at ``read_at``, as read."""

    report: StoredCall | CallAt
    read_at: Key


@dataclass(frozen=True)
class CheckAgentDay:
    """An agent day this change read but does not alter must still be as read."""

    agent: str
    day: str
    read_version: int | None


@dataclass(frozen=True)
class Put:
    """An unconditional copy: a call in its hotline's listing, an entry of the wait index."""

    report: Keyed


@dataclass(frozen=True)
class Delete:
    """Drop a listing item (a copy versions before wrote) or wait index entry the call no longer has."""

    report: Keyed


@dataclass(frozen=True)
class AddCounters:
    """Add differences to a hotline's counters (a retracted contribution and its successor)."""

    key: CounterKey
    deltas: Mapping[str, int]
    sl_seconds: int
    updated_at: str


@dataclass(frozen=True)
class CorrectCounters:
    """The rebuild's correction: add ``deltas`` to a hotline's counters only if they still hold
    ``read`` (counters absent from it: zero). A live change in between cancels it. It sets what
    the live path sets beside the counters (an item of before lacks the service-level target,
    which its day item held)."""

    key: CounterKey
    deltas: Mapping[str, int]
    read: Mapping[str, int]
    sl_seconds: int


@dataclass(frozen=True)
class DropCounters:
    """The rebuild's removal of a counter item no longer written (a hotline's ``DAY`` item of
    before: a day's counters are its intervals' summed), only if it still holds ``read``."""

    key: CounterKey
    read: Mapping[str, int]


@dataclass(frozen=True)
class CheckCall:
    """A call the rebuild read (its wait entries and listing items set right from it) must
    still be at ``read_version`` where it was read (None: absent; 0: stored before items
    carried one): a live change of the call in between cancels what was worked out from it."""

    task_id: str
    read_version: int | None
    # where the call was read: None at its SUMMARY key, else its listing item's key
    at: Key | None = None


@dataclass(frozen=True)
class RecordShards:
    """Add ``counts`` to the shard counts a hotline day's reports were written with (a set: its
    readers read every shard of the largest)."""

    hotline: str
    day: str
    counts: ShardCounts


@dataclass(frozen=True)
class ListHotlineDay:
    """List a hotline among its day's hotlines with KPIs (one item per hotline day, keyed by
    the day): written in the transaction that writes the hotline day's counters (the first of
    a container, and by a rebuild), so a day's hotlines are read by key, not from its events."""

    hotline: str
    day: str


@dataclass(frozen=True)
class CheckShards:
    """The shard counts recorded for a hotline day are still those read (``None``: none was
    recorded). The rebuild's correction is computed over the shards those counts name: a count
    recorded meanwhile means reports it did not read."""

    hotline: str
    day: str
    read: tuple[frozenset[int], frozenset[int]] | None


ReportWrite = (
    Create
    | PutVersioned
    | DeleteVersioned
    | Repoint
    | CheckAgentDay
    | Put
    | Delete
    | AddCounters
    | CorrectCounters
    | DropCounters
    | CheckCall
    | RecordShards
    | ListHotlineDay
    | CheckShards
)


class Cancelled(Exception):
    """A transaction was cancelled: the conditions of the writes at ``failed_writes`` (their
    places in the transaction) did not hold, or another transaction held one of its items
    (``TransactionConflict``). ``reasons``: the store's reason per write, as it gave them."""

    def __init__(self, failed_writes: set[int], why: str = "", reasons: Sequence[str] = ()) -> None:
        super().__init__(why or f"conditions failed: writes {sorted(failed_writes)}")
        self.failed_writes = frozenset(failed_writes)
        self.reasons = tuple(reasons)

    def failed(self, index: int) -> bool:
        return index in self.failed_writes


class Throttled(Exception):
    """The store throttled a request (or an item of a transaction): back off and try again; it
    says nothing about the data."""


class Refused(Exception):
    """The store refused a write for what it is (a validation error: an item over 400 KB, a
    value of the wrong type). No retry can succeed: the change is poison."""


@dataclass(frozen=True)
class BatchProgress:
    """How far a stream consumer has got with its latest batch of one shard (folded by
    :mod:`acd_hub.freshness` into ``acd-report freshness``)."""

    processed_at_ms: int
    oldest_received_ms: int
    complete_to_ms: int | None  # the shard's records received up to then are in; None: failed
    behind_ms: int
    latest_event_ms: int | None
    records: int
    shard: str = ""  # the stream shard ("" when the event does not name it)
    pending_from_ms: int | None = None  # the oldest record that failed and is retried


class ReportsStore(Protocol):
    """The reports the aggregators keep and the rebuild replaces."""

    # -- what the live path reads --

    def agent_days(
        self, agent: str, days: Sequence[str], *, with_board: bool
    ) -> tuple[dict[str, AgentDay | None], BoardEntry | None]:
        """Some of an agent's days (and its board entry) in one strongly consistent read."""
        ...

    def links_around(self, agent: str, day: str, sort_key: str) -> tuple[Link | None, Link | None]:
        """The agent's applied states just before and just after ``sort_key`` on ``day`` (where
        each starts: its end is not stored, ``next_ms`` is None)."""
        ...

    def links_between(self, agent: str, day: str, first: str, last: str) -> list[Link]:
        """The agent's applied states on ``day`` from ``first`` to ``last`` (sort keys, both
        included), in order, as :meth:`links_around` gives each."""
        ...

    def calls(self, task_ids: Sequence[str]) -> dict[str, StoredCall]:
        """The stored summaries of these calls (absent: none stored), strongly consistent."""
        ...

    def call(self, task_id: str) -> StoredCall | None: ...

    def commit(self, writes: Sequence[ReportWrite]) -> None:
        """All or nothing; raises :class:`Cancelled` when a condition failed."""
        ...

    def show_on_board(self, entry: BoardEntry) -> bool:
        """The agent's board entry, unless the stored one shows a later event (False then)."""
        ...

    def note_batch(self, consumer: str, progress: BatchProgress) -> None: ...

    # -- what the rebuild reads and replaces --

    def agent_day(self, agent: str, day: str) -> AgentDay | None: ...

    def timeline(self, agent: str, day: str) -> list[TimelineEntry | TalkMarker]: ...

    def board_entry(self, agent: str) -> BoardEntry | None: ...

    def shard_counts(self, hotline: str, day: str) -> tuple[set[int], set[int]] | None:
        """The KPI and listing shard counts a hotline day was written with; None if none was
        recorded (written before counts were)."""
        ...

    def listed_calls(self, hotline: str, day: str, shards: int) -> list[ListedCall]:
        """The day's listing, from shards ``0 .. shards - 1``."""
        ...

    def counters(self, hotline: str, day: str, shard: int) -> dict[CounterKey, dict[str, int]]:
        """One shard's counter items of a hotline day (the day's and each interval's)."""
        ...

    def waits(self, hotline: str, day: str, interval: str | None, shards: int) -> set[WaitEntry]: ...

    def replace(
        self,
        puts: Sequence[TimelineEntry | TalkMarker | WaitEntry],
        deletes: Sequence[TimelineEntry | TalkMarker | WaitEntry | ListedCall],
    ) -> None:
        """Unconditional puts and deletes in bulk (the rebuild's replacement of what differs)."""
        ...
