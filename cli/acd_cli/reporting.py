"""Read side of the hub's tables: every listing is one or more DynamoDB ``Query`` calls, never a
Scan; single reports are one ``GetItem``.

:class:`EventQueries` reads the events table (key design in :mod:`acd_hub.keys`) and hands back
the stored items as plain Python; :class:`ReportQueries` reads the reports table and hands back
the typed reports of :mod:`acd_cli.report_models`. Both turn a question ("all events of call
X", "hotline H's KPIs of a day", "the live board") into the partitions that hold the answer and
query them (in parallel where there are several) through the table's adapter
(:mod:`acd_hub.adapters`: its keys, boto3's paginator and its codec).

The low-level client is injected (``boto3.client("dynamodb")``); nothing here reads the
environment. Reads are eventually consistent (half the read units of a consistent read).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from acd_cli.report_models import (
    AgentDayReport,
    ConsumerFreshness,
    Freshness,
    HotlineKpis,
    IntervalKpis,
    KpiFigures,
)
from acd_hub import keys
from acd_hub.adapters.dynamodb import Table
from acd_hub.adapters.reports_table import (
    FRESHNESS_PK,
    KPI_DAY_SK,
    ReportsTable,
    agent_day_key,
    board_pk,
    call_summary_key,
    calls_pk,
    kpi_pk,
    shards_key,
    timeline_pk,
    wait_pk,
)
from acd_hub.agent_stats import AgentDay, BoardEntry, StateInterval, TimelineEntry, seconds
from acd_hub.call_stats import COUNTERS, CallSummary

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

Item = dict[str, Any]

MAX_WORKERS = 16
# A consumer whose last batch had waited longer than this in the stream is "catching up".
CATCHING_UP_AFTER_S = 10


def _in_parallel[P](read: Callable[[P], Iterator[Item]], partitions: Sequence[P]) -> list[Item]:
    """Every item of each partition, the partitions queried in parallel when there are several."""
    if len(partitions) == 1:
        return list(read(partitions[0]))
    workers = min(MAX_WORKERS, len(partitions))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="acd-query") as pool:
        pages = pool.map(lambda partition: list(read(partition)), partitions)
        return [item for page in pages for item in page]


def _check_shards(shards: int) -> int:
    if shards < 1:
        raise ValueError("shards must be at least 1")
    return shards


def _event_order(item: Item) -> tuple[str, str]:
    return (str(item.get("event_time", "")), str(item.get("sk", "")))


def _received_order(item: Item) -> tuple[str, str]:
    return (str(item.get("received_at", "")), str(item.get("sk", "")))


class EventQueries:
    """Listings over the events table.

    ``shards`` must equal the stack's ``ACD_CMD_DAY_SHARDS`` (the writers spread the by-cmd-day
    index and the quarantine over that many partitions).
    """

    def __init__(self, client: DynamoDBClient, events_table: str, shards: int) -> None:
        self._shards = _check_shards(shards)
        self._table = Table(client, events_table)

    @property
    def events_table(self) -> str:
        return self._table.name

    def _gather(self, partitions: Sequence[tuple[str | None, str, str]]) -> list[Item]:
        """Each ``(index, key attribute, value)`` partition, base table or index."""
        return _in_parallel(
            lambda part: self._table.query(part[2], index=part[0], attribute=part[1]), partitions
        )

    def events_by_call(self, task_id: str) -> list[Item]:
        """Every event of one call: its own partition plus agentstate events naming the task id."""
        pk = keys.call_pk(task_id.strip())
        items = self._gather([(None, "pk", pk), (keys.BY_CALL, "gsi2pk", pk)])
        return sorted(_unique(items), key=_event_order)

    def events_by_agent_day(self, agent: str, day: str | date) -> list[Item]:
        """An agent's day: its agentstate partition plus other events that name the agent."""
        pk = keys.agent_day_pk(agent.strip(), day)
        items = self._gather([(None, "pk", pk), (keys.BY_AGENT_DAY, "gsi1pk", pk)])
        return sorted(_unique(items), key=_event_order)

    def events_by_cmd_day(self, cmd: str, day: str | date) -> list[Item]:
        """Every event of one type and day, from all shards of the ``ByCmdDay`` index."""
        cmd = cmd.strip().lower()
        partitions = [
            (keys.BY_CMD_DAY, "gsi3pk", keys.cmd_day_pk(cmd, day, shard)) for shard in range(self._shards)
        ]
        return sorted(_unique(self._gather(partitions)), key=_event_order)

    def rejected(self, day: str | date) -> list[Item]:
        """Quarantined requests received on ``day`` (reporting time zone), oldest first."""
        partitions = [(None, "pk", keys.rejected_pk(day, shard)) for shard in range(self._shards)]
        return sorted(_unique(self._gather(partitions)), key=_received_order)

    def stored(self, key: tuple[str, str]) -> Item | None:
        """One item by its ``pk``/``sk``, strongly consistent (the log is the truth)."""
        return self._table.get(key)


def _day_text(day: str | date) -> str:
    return day.isoformat() if isinstance(day, date) else day.strip()


class ReportQueries:
    """The aggregators' reports: single reports by ``GetItem``, listings by ``Query``.

    The shard counts the reports were written with are recorded with them (see
    :mod:`acd_hub.adapters.reports_table`) and read from there; ``shards`` (the live board's
    partitions, the stack's ``ACD_BOARD_SHARDS``) and ``kpi_shards`` (``ACD_KPI_SHARDS``) only
    stand in for reports written before counts were recorded.
    """

    def __init__(self, client: DynamoDBClient, reports_table: str, shards: int, kpi_shards: int = 4) -> None:
        self._table = ReportsTable(client, reports_table, _check_shards(shards))
        if kpi_shards < 1:
            raise ValueError("kpi_shards must be at least 1")
        self._kpi_shards = kpi_shards

    @property
    def reports_table(self) -> str:
        return self._table.name

    def _gather(self, partitions: Sequence[str]) -> list[Item]:
        return _in_parallel(self._table.query, partitions)

    def _get(self, key: tuple[str, str]) -> Item | None:
        return self._table.get(key, consistent=False)

    def _shards(self, hotline: str, day: str) -> tuple[int, int]:
        """How many KPI and listing shards a hotline day has: up to the largest count it was
        written with (recorded with its reports); a day written before counts were recorded, the
        given KPI count and one listing partition."""
        pk, _ = shards_key(hotline, day)
        item = next(self._table.query(pk, limit=1), None)  # a listing's reads are all Query
        kpi = {int(n) for n in (item or {}).get("kpi_shards") or ()} or {self._kpi_shards}
        listing = {int(n) for n in (item or {}).get("listing_shards") or ()} or {1}
        return max(kpi), max(listing)

    def kpis(self, hotline: str | int, day: str | date) -> HotlineKpis | None:
        """A hotline's KPIs of one day; None if none computed yet.

        Sums the counter shards (one ``Query`` each, in parallel) and reads the longest wait of
        the day and of each interval from each shard of the wait index (one ``Query`` each,
        ``Limit 1``)."""
        hotline, day = str(hotline).strip(), _day_text(day)
        kpi_shards, listing_shards = self._shards(hotline, day)
        day_counters: dict[str, int] = {}
        interval_counters: dict[str, dict[str, int]] = {}
        sl_seconds = None
        found = False
        updated: list[str] = []
        for item in self._gather([kpi_pk(hotline, day, shard) for shard in range(kpi_shards)]):
            if item.get("kind") != "kpi_counters":
                continue
            if item["sk"] == KPI_DAY_SK:
                found = True
                sl_seconds = item.get("sl_seconds", sl_seconds)
                updated.append(str(item.get("updated_at") or ""))
                _sum_into(day_counters, item)
            else:
                _sum_into(interval_counters.setdefault(str(item["start"]), {}), item)
        if not found:
            return None
        offered = {start: c for start, c in interval_counters.items() if c.get("offered")}
        answered = [start for start, c in offered.items() if c.get("answered")]
        longest = self._longest_waits(hotline, day, [None, *answered], listing_shards)
        return HotlineKpis(
            hotline=hotline,
            date=day,
            day=KpiFigures.of_counters(day_counters, longest.get(None)),
            intervals=[
                IntervalKpis(start, KpiFigures.of_counters(offered[start], longest.get(start)))
                for start in sorted(offered, key=datetime.fromisoformat)
            ],
            sl_seconds=sl_seconds,
            updated_at=max(updated) or None,
        )

    def _longest_waits(
        self, hotline: str, day: str, intervals: list[str | None], shards: int
    ) -> dict[str | None, int]:
        """The longest wait of the day (None) and of each interval: the last entry of each shard
        of its wait index, the longest of those."""
        partitions = [(interval, shard) for interval in intervals for shard in range(shards)]

        def longest(partition: tuple[str | None, int]) -> tuple[str | None, int | None]:
            interval, shard = partition
            last = next(
                self._table.query(wait_pk(hotline, day, interval, shard), forward=False, limit=1), None
            )
            return interval, None if last is None else int(last["wait_ms"])

        found: dict[str | None, int] = {}
        with ThreadPoolExecutor(
            max_workers=min(MAX_WORKERS, len(partitions)), thread_name_prefix="acd-wait"
        ) as pool:
            for interval, wait in pool.map(longest, partitions):
                if wait is not None:
                    found[interval] = max(wait, found.get(interval, wait))
        return found

    def _agent_day(self, agent: str, day: str) -> AgentDay | None:
        item = self._get(agent_day_key(agent, day))
        if item is None or item.get("kind") != "agent_day" or not item.get("events"):
            return None
        return AgentDay.from_item(item)

    def agent_day(self, agent: str, day: str | date, *, with_timeline: bool = True) -> AgentDayReport | None:
        """An agent's day: time per state and pause reason, calls handled (and its timeline)."""
        agent, day = agent.strip(), _day_text(day)
        stored = self._agent_day(agent, day)
        if stored is None:
            return None
        return AgentDayReport(
            agent=agent,
            day=day,
            state_seconds={s: seconds(ms) for s, ms in sorted(stored.state_ms.items()) if ms},
            pause_seconds={r: seconds(ms) for r, ms in sorted(stored.totals().pause_totals().items())},
            calls_handled=stored.calls_handled,
            latest_event=_iso_ms(stored.complete_to_ms),
            updated_at=stored.updated_at,
            timeline=self._timeline(stored) if with_timeline else None,
        )

    def agent_timeline(self, agent: str, day: str | date) -> list[StateInterval]:
        """The agent's state intervals of the day, in time order (the last may be open)."""
        stored = self._agent_day(agent.strip(), _day_text(day))
        return [] if stored is None else self._timeline(stored)

    def _timeline(self, stored: AgentDay) -> list[StateInterval]:
        agent, day = stored.agent, stored.day
        start_of_day, end_of_day = stored.day_start_ms, stored.day_end_ms
        items = [i for i in self._table.query(timeline_pk(agent, day)) if i.get("kind") == "interval"]
        entries = [TimelineEntry.from_item(item) for item in sorted(items, key=lambda i: str(i["sk"]))]
        timeline = [
            _interval(entry, entry.link.start_ms, _until(entry.link.next_ms, end_of_day)) for entry in entries
        ]
        # the state the agent was in at midnight, carried in from the day before
        previous = self._get(agent_day_key(agent, _shift_day(day, -1)))
        last = AgentDay.from_item(previous).last if previous and previous.get("last") else None
        if entries and last and last.start_ms < start_of_day < entries[0].link.start_ms:
            carried = self._get((timeline_pk(agent, last.day), last.sort_key))
            if carried is not None:
                entry = TimelineEntry.from_item(carried)
                timeline.insert(0, _interval(entry, start_of_day, entries[0].link.start_ms, carried=True))
        return timeline

    def freshness(self) -> Freshness:
        """Up to when the reports are complete, and whether the stream consumers are behind.

        ``complete_to``: every event received up to then is in the reports (the slowest
        consumer's last good batch); ``behind_s``: how long the oldest record of the latest
        batch had waited in the stream (Lambda's IteratorAge, seen from the reports table)."""
        consumers = []
        for item in self._table.query(FRESHNESS_PK):
            behind = item.get("behind_ms")
            consumers.append(
                ConsumerFreshness(
                    consumer=str(item.get("consumer") or item["sk"]),
                    complete_to=_iso_ms(item.get("complete_to_ms")),
                    updated_at=_iso_ms(item.get("processed_at_ms")),
                    latest_event=_iso_ms(item.get("latest_event_ms")),
                    behind_s=None if behind is None else round(int(behind) / 1000, 1),
                )
            )
        completes = [c.complete_to for c in consumers]
        behind_s = [c.behind_s for c in consumers if c.behind_s is not None]
        updated = [c.updated_at for c in consumers if c.updated_at]
        worst = max(behind_s) if behind_s else None
        return Freshness(
            complete_to=None if not completes or None in completes else min(c for c in completes if c),
            updated_at=max(updated) if updated else None,
            behind_s=worst,
            catching_up=worst is not None and worst > CATCHING_UP_AFTER_S,
            consumers=sorted(consumers, key=lambda c: c.consumer),
        )

    def call(self, task_id: str) -> CallSummary | None:
        """One call's summary; None before the aggregator has seen it."""
        item = self._get(call_summary_key(task_id.strip().lower()))
        return CallSummary.from_item(item) if item is not None and item.get("kind") == "call" else None

    def calls(self, hotline: str | int, day: str | date) -> list[CallSummary]:
        """The summaries of the calls a hotline got on a day, by start time."""
        hotline, day = str(hotline).strip(), _day_text(day)
        _, shards = self._shards(hotline, day)
        items = self._gather([calls_pk(hotline, day, shard) for shard in range(shards)])
        summaries = [CallSummary.from_item(item) for item in items if item.get("kind") == "call"]
        return sorted(summaries, key=lambda s: (str(s.started or ""), s.task_id))

    def board(self) -> list[BoardEntry]:
        """The live board: every agent's latest state, from all board partitions (up to the
        largest count the board was written with), by agent. After a change of count an agent
        may have an entry under the old count and one under the new: the newer is its state."""
        shards = max(self._table.board_shard_counts() or {self._table.board_shards})
        items = self._gather([board_pk(shard) for shard in range(shards)])
        newest: dict[str | None, BoardEntry] = {}
        for item in items:
            if item.get("kind") != "board":
                continue
            entry = BoardEntry.from_item(item)
            if entry.agent not in newest or newest[entry.agent].order < entry.order:
                newest[entry.agent] = entry
        return sorted(newest.values(), key=lambda e: str(e.agent or ""))


def _unique(items: Iterable[Item]) -> list[Item]:
    """Drop the same item seen twice (the base partition and an index never overlap, but be safe)."""
    seen: dict[tuple[str, str], Item] = {}
    for item in items:
        seen.setdefault((str(item.get("pk")), str(item.get("sk"))), item)
    return list(seen.values())


def _sum_into(total: dict[str, int], item: Item) -> None:
    for name in COUNTERS:
        value = item.get(name)
        if value:
            total[name] = total.get(name, 0) + int(value)


def _iso_ms(value: Any) -> str | None:
    if value is None:
        return None
    return keys.iso_utc(datetime.fromtimestamp(int(value) / 1000, tz=UTC))


def _shift_day(day: str, days: int) -> str:
    return (date.fromisoformat(day) + timedelta(days=days)).isoformat()


def _until(next_ms: int | None, end_of_day: int) -> int | None:
    return None if next_ms is None else min(next_ms, end_of_day)


def _interval(
    entry: TimelineEntry, start_ms: int, end_ms: int | None, *, carried: bool = False
) -> StateInterval:
    return StateInterval(
        state=entry.link.state,
        start_ms=start_ms,
        end_ms=end_ms,
        pause_reason=entry.link.pause_reason,
        task_id=entry.task_id,
        hotline=entry.hotline,
        carried=carried,
    )
