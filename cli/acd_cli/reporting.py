"""Read side of the hub's tables: every listing is one or more DynamoDB ``Query`` calls, never a
Scan; single reports are one ``GetItem``.

:class:`EventQueries` reads the events table (key design in :mod:`acd_hub.keys`) and hands back
the stored items as plain Python; :class:`ReportQueries` reads the reports table and hands back
the typed reports of the catalogue (:mod:`acd_hub.reports`). Both turn a question ("all events of call
X", "hotline H's KPIs of a day", "the live board") into the partitions that hold the answer and
query them (in parallel where there are several) through the table's adapter
(:mod:`acd_hub.adapters`: its keys, boto3's paginator and its codec).

The low-level client is injected (``boto3.client("dynamodb")``); nothing here reads the
environment. Reads are eventually consistent (half the read units of a consistent read).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from acd_hub import keys
from acd_hub.adapters.dynamodb import Key, Table
from acd_hub.adapters.reports_table import ReportsTable, agent_day_key, timeline_pk
from acd_hub.agent_stats import AgentDay, StateInterval, TimelineEntry
from acd_hub.events import parameters_as_sent
from acd_hub.reports import board, call, freshness, hotline_day
from acd_hub.reports.agent_day import AgentDayReport
from acd_hub.reports.board import BoardEntry
from acd_hub.reports.call import CallSummary
from acd_hub.reports.freshness import Freshness
from acd_hub.reports.hotline_day import HotlineKpis, RangeKpis
from acd_hub.reports.stored import report_of

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

Item = dict[str, Any]

MAX_WORKERS = 16
# What a timeline item (``IV#<time>#<event key>``) carries that a timeline shows: about half
# its attributes (a day's timelines are most of the items a day report reads).
TIMELINE_FIELDS = ("sk", "kind", "start_ms", "next_ms", "state", "pause_reason", "task_id", "hotline")


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


def _shown(items: list[Item]) -> list[Item]:
    """Events as a reader sees them: every parameter as sent under ``raw`` (stored, ``raw``
    leaves out what ``data`` already shows as sent)."""
    return [{**item, "raw": parameters_as_sent(item)} for item in items]


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
        return _shown(sorted(_unique(items), key=_event_order))

    def events_by_agent_day(self, agent: str, day: str | date) -> list[Item]:
        """An agent's day: its agentstate partition plus other events that name the agent."""
        pk = keys.agent_day_pk(agent.strip(), day)
        items = self._gather([(None, "pk", pk), (keys.BY_AGENT_DAY, "gsi1pk", pk)])
        return _shown(sorted(_unique(items), key=_event_order))

    def events_by_cmd_day(self, cmd: str, day: str | date) -> list[Item]:
        """Every event of one type and day, from all shards of the ``ByCmdDay`` index."""
        cmd = cmd.strip().lower()
        partitions = [
            (keys.BY_CMD_DAY, "gsi3pk", keys.cmd_day_pk(cmd, day, shard)) for shard in range(self._shards)
        ]
        return _shown(sorted(_unique(self._gather(partitions)), key=_event_order))

    def latest_arrival(self, day: str | date, cmds: Iterable[str]) -> str | None:
        """When the newest stored event of these cmds on ``day`` was received: the newest by
        event time of each ``ByCmdDay`` shard (one item each), the latest receipt of those."""
        partitions = [
            (keys.BY_CMD_DAY, "gsi3pk", keys.cmd_day_pk(cmd, day, shard))
            for cmd in cmds
            for shard in range(self._shards)
        ]
        newest = _in_parallel(
            lambda part: self._table.query(part[2], index=part[0], attribute=part[1], forward=False, limit=1),
            partitions,
        )
        received = [str(item["received_at"]) for item in newest if item.get("received_at")]
        return max(received) if received else None

    def inbound_hotlines(self, day: str | date) -> list[str]:
        """The hotlines that got an inbound call on ``day``, in number order, from the day's
        ``callevent`` listing: a read of every call event of the day, for a day aggregated
        before the reports table listed its hotlines (:meth:`ReportQueries.day_hotlines`).
        Only the two fields it needs come back: the whole events would be several times the
        bytes, and on the local stack four times the time."""
        fields = ("data.hotlineid", "data.mode")
        partitions = [keys.cmd_day_pk("callevent", day, shard) for shard in range(self._shards)]
        found = {
            str(item["data"]["hotlineid"])
            for item in _in_parallel(
                lambda pk: self._table.query(pk, index=keys.BY_CMD_DAY, attribute="gsi3pk", fields=fields),
                partitions,
            )
            if isinstance(item.get("data"), dict)
            and item["data"].get("hotlineid") is not None
            and item["data"].get("mode", 0) == 0
        }
        return sorted(found, key=lambda h: (not h.isdigit(), int(h) if h.isdigit() else 0, h))

    def rejected(self, day: str | date) -> list[Item]:
        """Quarantined requests received on ``day`` (reporting time zone), oldest first."""
        partitions = [(None, "pk", keys.rejected_pk(day, shard)) for shard in range(self._shards)]
        return sorted(_unique(self._gather(partitions)), key=_received_order)

    def day_hotlines(self, day: str | date) -> list[Item]:
        """The hotlines named by the day's call events, by number: the calls each got (distinct
        task ids, inbound and outbound) and its first and last call event. From the day's
        ``callevent`` listing: the reports table lists a day's hotlines with KPIs only, not these
        counts nor the hotlines of outbound calls alone."""
        found: dict[str, dict[str, Any]] = {}
        for event in self.events_by_cmd_day("callevent", day):
            data = _data(event)
            if data.get("hotlineid") is None:
                continue
            entry = found.setdefault(str(data["hotlineid"]), {"in": set(), "out": set(), "times": []})
            entry["out" if data.get("mode") == 1 else "in"].add(event.get("task_id"))
            entry["times"].append(str(event.get("event_time") or ""))
        return [
            {
                "hotline": hotline,
                "inbound_calls": len(entry["in"]),
                "outbound_calls": len(entry["out"]),
                "first_event": min(entry["times"]) or None,
                "last_event": max(entry["times"]) or None,
            }
            for hotline, entry in sorted(found.items(), key=lambda kv: _number_order(kv[0]))
        ]

    def day_agents(self, day: str | date) -> list[Item]:
        """The agents who reported a state on the day (its ``agentstate`` listing), by number:
        how many state events, the first and the last, and the state of the last."""
        found: dict[str, list[Item]] = {}
        for event in self.events_by_cmd_day("agentstate", day):  # in time order
            if event.get("agent") is not None:
                found.setdefault(str(event["agent"]), []).append(event)
        listing = []
        for agent, events in sorted(found.items(), key=lambda kv: _number_order(kv[0])):
            last = _data(events[-1])
            listing.append(
                {
                    "agent": agent,
                    "state_events": len(events),
                    "first_event": events[0].get("event_time"),
                    "last_event": events[-1].get("event_time"),
                    "last_state": last.get("state"),
                    "last_pause_reason": last.get("pause-reason"),
                }
            )
        return listing

    def warnings(self, day: str | date, cmds: Iterable[str]) -> list[Item]:
        """The unknown parameters of the day's stored events (their ``warnings``), one row each,
        in event-time order. Reads every event of the day (each cmd's listing): there is no
        listing of warned events alone, and this is an operator's occasional question."""
        rows = []
        for cmd in cmds:
            for event in self.events_by_cmd_day(cmd, day):
                for warning in event.get("warnings") or ():
                    if isinstance(warning, dict):
                        extra = _data(event).get("extra")
                        value = extra.get(warning.get("parameter")) if isinstance(extra, dict) else None
                        rows.append(
                            {
                                "event_time": event.get("event_time"),
                                "received_at": event.get("received_at"),
                                "cmd": event.get("cmd"),
                                "agent": event.get("agent"),
                                "task_id": event.get("task_id"),
                                "parameter": warning.get("parameter"),
                                "value": value,
                                "closest": warning.get("closest"),
                                "event_key": event.get("event_key"),
                            }
                        )
        return sorted(rows, key=lambda r: (str(r["event_time"] or ""), str(r["event_key"] or "")))

    def stored(self, key: tuple[str, str]) -> Item | None:
        """One item by its ``pk``/``sk``, strongly consistent (the log is the truth)."""
        return self._table.get(key)


def _data(event: Item) -> dict[str, Any]:
    data = event.get("data")
    return data if isinstance(data, dict) else {}


def _number_order(text: str) -> tuple[bool, int, str]:
    """Numbers by value (``99`` before ``501``), anything else after them."""
    return (not text.isdigit(), int(text) if text.isdigit() else 0, text)


def _day_text(day: str | date) -> str:
    return day.isoformat() if isinstance(day, date) else day.strip()


class ReportReads:
    """The reports table's items as the catalogue's reads ask for them
    (:class:`acd_hub.reports.stored.ReportItems`): eventually consistent (half the read units),
    several partitions queried in parallel."""

    def __init__(self, table: Table) -> None:
        self._table = table

    def item(self, key: Key) -> Item | None:
        return self._table.get(key, consistent=False)

    def partition(
        self,
        pk: str,
        *,
        forward: bool = True,
        limit: int | None = None,
        fields: Sequence[str] = (),
        sk_between: tuple[str, str] | None = None,
    ) -> Iterator[Item]:
        return self._table.query(pk, forward=forward, limit=limit, fields=fields, sk_between=sk_between)

    def partitions(self, pks: Sequence[str], *, fields: Sequence[str] = ()) -> list[Item]:
        return _in_parallel(lambda pk: self._table.query(pk, fields=fields), pks)

    def each[V, T](self, read: Callable[[V], T], values: Sequence[V]) -> list[T]:
        if len(values) <= 1:
            return [read(value) for value in values]
        with ThreadPoolExecutor(
            max_workers=min(MAX_WORKERS, len(values)), thread_name_prefix="acd-read"
        ) as pool:
            return list(pool.map(read, values))


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
        self.reads = ReportReads(self._table)

    @property
    def reports_table(self) -> str:
        return self._table.name

    def _get(self, key: tuple[str, str]) -> Item | None:
        return self.reads.item(key)

    def _shards(self, hotline: str, day: str) -> tuple[int, int]:
        return hotline_day.shard_counts(self.reads, hotline, day, self._kpi_shards)

    def day_hotlines(self, day: str | date) -> list[str]:
        """The hotlines with KPIs on ``day``, in number order: the day's listing
        (``HOTLINES#<day>``, written with each hotline day's counters), one ``Query`` of one
        partition. Empty for a day aggregated before the listing was written (and not rebuilt
        since): :func:`acd_cli.html_report.day_hotlines` then reads the day's call events."""
        return sorted(hotline_day.day_hotlines(self.reads, _day_text(day)), key=_number_order)

    def kpis(self, hotline: str | int, day: str | date) -> HotlineKpis | None:
        """A hotline's KPIs of one day (:func:`acd_hub.reports.hotline_day.kpis_of_day`)."""
        return hotline_day.kpis_of_day(self.reads, str(hotline).strip(), _day_text(day), self._kpi_shards)

    def kpis_range(self, hotline: str | int, first: str, last: str) -> RangeKpis | None:
        """A hotline's KPIs over the days ``first`` to ``last`` (:func:`acd_hub.reports.hotline_day.kpis_range`)."""
        return hotline_day.kpis_range(self.reads, str(hotline).strip(), first, last, self._kpi_shards)

    def kpis_of(self, hotlines: Sequence[str], day: str | date) -> dict[str, HotlineKpis | None]:
        """Several hotlines' KPIs of one day, the hotlines read in parallel (each :meth:`kpis`)."""
        if not hotlines:
            return {}
        with ThreadPoolExecutor(max_workers=min(4, len(hotlines)), thread_name_prefix="acd-kpis") as pool:
            return dict(zip(hotlines, pool.map(lambda h: self.kpis(h, day), hotlines), strict=True))

    def _agent_day(self, agent: str, day: str) -> AgentDay | None:
        item = self._get(agent_day_key(agent, day))
        if item is None or item.get("kind") != "agent_day" or not item.get("events"):
            return None
        return report_of(AgentDay, item)

    def agent_day(self, agent: str, day: str | date, *, with_timeline: bool = True) -> AgentDayReport | None:
        """An agent's day: time per state and pause reason, calls handled (and its timeline)."""
        agent, day = agent.strip(), _day_text(day)
        stored = self._agent_day(agent, day)
        if stored is None:
            return None
        return AgentDayReport.of(
            stored, self._timeline(stored, self._day_before(stored)) if with_timeline else None
        )

    def agent_days(
        self, agents: Sequence[str], day: str | date, *, with_timeline: bool = True
    ) -> dict[str, AgentDayReport]:
        """Several agents' days with their timelines, in the order given (those with none left
        out): the days and the days before in one ``BatchGetItem``, the timelines' partitions
        queried in parallel. The same figures as :meth:`agent_day` one by one, in a handful of
        round trips instead of three per agent."""
        day = _day_text(day)
        agents = list(dict.fromkeys(a.strip() for a in agents))
        before = _shift_day(day, -1)
        stored = self._table.get_many(
            [agent_day_key(a, d) for a in agents for d in ((day, before) if with_timeline else (day,))],
            consistent=False,
        )
        days = {}
        for agent in agents:
            item = stored.get(agent_day_key(agent, day))
            if item is not None and item.get("kind") == "agent_day" and item.get("events"):
                days[agent] = report_of(AgentDay, item)
        if not days or not with_timeline:
            return {agent: AgentDayReport.of(stored_day, None) for agent, stored_day in days.items()}
        previous = {agent: stored.get(agent_day_key(agent, before)) for agent in days}
        with ThreadPoolExecutor(
            max_workers=min(MAX_WORKERS, len(days)), thread_name_prefix="acd-timeline"
        ) as pool:
            timelines = dict(
                zip(
                    days,
                    pool.map(lambda agent: self._timeline(days[agent], previous[agent]), days),
                    strict=True,
                )
            )
        return {agent: AgentDayReport.of(stored_day, timelines[agent]) for agent, stored_day in days.items()}

    def agent_timeline(self, agent: str, day: str | date) -> list[StateInterval]:
        """The agent's state intervals of the day, in time order (the last may be open)."""
        stored = self._agent_day(agent.strip(), _day_text(day))
        return [] if stored is None else self._timeline(stored, self._day_before(stored))

    def _day_before(self, stored: AgentDay) -> Item | None:
        return self._get(agent_day_key(stored.agent, _shift_day(stored.day, -1)))

    def _timeline(self, stored: AgentDay, previous: Item | None) -> list[StateInterval]:
        """``previous``: the agent's stored day before (None: there is none), for the state it was
        in at midnight."""
        agent, day = stored.agent, stored.day
        start_of_day, end_of_day = stored.day_start_ms, stored.day_end_ms
        # the state intervals only (``IV#...``), not the calls talked in (``TALK#...``); of each
        # only what a timeline shows (the agent, the day and the event key are in its key)
        intervals = self._table.query(
            timeline_pk(agent, day), sk_between=("IV#", "IV$"), fields=TIMELINE_FIELDS
        )
        entries = [
            report_of(
                TimelineEntry,
                i,
                agent=agent,
                day=day,
                sort_key=str(i["sk"]),
                event_key=str(i["sk"]).rsplit("#", 1)[-1],
            )
            for i in sorted(intervals, key=lambda i: str(i["sk"]))
            if i.get("kind") == "interval"
        ]
        # each state ends where the next begins; the day's last, where the day's report says
        ends = [entry.link.start_ms for entry in entries[1:]]
        last_end = stored.last.next_ms if stored.last else None
        if entries and (stored.last is None or stored.last.sort_key != entries[-1].link.sort_key):
            last_end = None  # the day's report and its timeline not yet alike (a write under way)
        timeline = [
            _interval(entry, entry.link.start_ms, _until(end, end_of_day))
            for entry, end in zip(entries, [*ends, last_end], strict=False)
        ]
        # the state the agent was in at midnight, carried in from the day before
        last = report_of(AgentDay, previous).last if previous and previous.get("last") else None
        if entries and last and last.start_ms < start_of_day < entries[0].link.start_ms:
            carried = self._get((timeline_pk(agent, last.day), last.sort_key))
            if carried is not None:
                entry = report_of(TimelineEntry, carried, sort_key=str(carried["sk"]))
                timeline.insert(0, _interval(entry, start_of_day, entries[0].link.start_ms, carried=True))
        return timeline

    def freshness(self, now_ms: int | None = None) -> Freshness:
        """Up to when the reports are complete, and what holds them back (:func:`acd_hub.reports.freshness.read`)."""
        return freshness.read(self.reads, now_ms)

    def call(self, task_id: str) -> CallSummary | None:
        """One call's summary; None before the aggregator has seen it."""
        return call.summary(self.reads, task_id.strip().lower())

    def calls(self, hotline: str | int, day: str | date) -> list[CallSummary]:
        """The summaries of the calls a hotline got on a day, by start time."""
        hotline, day = str(hotline).strip(), _day_text(day)
        return call.listing(self.reads, hotline, day, self._shards(hotline, day)[1])

    def board(self) -> list[BoardEntry]:
        """The live board: every agent's latest state (:func:`acd_hub.reports.board.entries`)."""
        return board.entries(self.reads, self._table.board_shards)


def _unique(items: Iterable[Item]) -> list[Item]:
    """Drop the same item seen twice (the base partition and an index never overlap, but be safe)."""
    seen: dict[tuple[str, str], Item] = {}
    for item in items:
        seen.setdefault((str(item.get("pk")), str(item.get("sk"))), item)
    return list(seen.values())


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
