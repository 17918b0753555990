"""Read side of the hub's tables: every listing is one or more DynamoDB ``Query`` calls, never a
Scan; single reports are one ``GetItem``.

:class:`EventQueries` reads the events table (key design in :mod:`acd_hub.keys`),
:class:`ReportQueries` the reports table (key design in :mod:`acd_hub.reports_store`). Both turn
a question ("all events of call X", "hotline H's KPIs of a day", "the live board") into the
partitions that hold the answer, query them (in parallel where there are several), follow
``LastEvaluatedKey`` and hand back plain Python items (``Decimal`` -> ``int``/``float``, sets ->
sorted lists, binary -> ``bytes``).

The low-level client is injected (``boto3.client("dynamodb")``); nothing here reads the
environment.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from boto3.dynamodb.types import TypeDeserializer

from acd_hub import keys
from acd_hub.adapters.reports_table import (
    FRESHNESS_PK,
    KPI_DAY_SK,
    agent_day_key,
    board_pk,
    call_summary_key,
    calls_pk,
    kpi_pk,
    timeline_pk,
    wait_pk,
)
from acd_hub.agent_stats import StateInterval, seconds
from acd_hub.call_stats import COUNTERS as COUNTER_NAMES
from acd_hub.call_stats import kpis_from_counters
from acd_hub.events import plain

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

Item = dict[str, Any]

_DESERIALIZER = TypeDeserializer()
MAX_WORKERS = 16
# A consumer whose last batch had waited longer than this in the stream is "catching up".
CATCHING_UP_AFTER_S = 10


def from_dynamodb(item: Mapping[str, Any]) -> Item:
    """A typed item (``{"pk": {"S": ...}}``) as plain Python."""
    return {name: plain(_DESERIALIZER.deserialize(typed)) for name, typed in item.items()}


def _event_order(item: Item) -> tuple[str, str]:
    return (str(item.get("event_time", "")), str(item.get("sk", "")))


def _received_order(item: Item) -> tuple[str, str]:
    return (str(item.get("received_at", "")), str(item.get("sk", "")))


class _TableQueries:
    """The plumbing both readers share: one table, parallel partition queries, single gets.

    ``shards`` must equal the stack's ``ACD_CMD_DAY_SHARDS`` (the writers spread the by-cmd-day
    index, the quarantine and the live board over that many partitions).
    """

    def __init__(self, client: DynamoDBClient, table: str, shards: int) -> None:
        if shards < 1:
            raise ValueError("shards must be at least 1")
        self._client = client
        self._table = table
        self._shards = shards

    @property
    def shards(self) -> int:
        return self._shards

    def _gather(self, partitions: Sequence[tuple[str | None, str, str]]) -> list[Item]:
        """Query each ``(index, key attribute, value)`` partition, in parallel when there are several."""
        if len(partitions) == 1:
            return list(self._query(*partitions[0]))
        workers = min(MAX_WORKERS, len(partitions))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="acd-query") as pool:
            pages = pool.map(lambda part: list(self._query(*part)), partitions)
            return [item for page in pages for item in page]

    def _query(self, index: str | None, attribute: str, value: str) -> Iterator[Item]:
        """All items of one partition (base table or index), following ``LastEvaluatedKey``."""
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "#pk = :pk",
            "ExpressionAttributeNames": {"#pk": attribute},
            "ExpressionAttributeValues": {":pk": {"S": value}},
        }
        if index is not None:
            request["IndexName"] = index
        while True:
            page = self._client.query(**request)
            for raw in page.get("Items", []):
                yield from_dynamodb(raw)
            last = page.get("LastEvaluatedKey")
            if not last:
                return
            request["ExclusiveStartKey"] = last

    def _last(self, pk: str) -> Item | None:
        """The last item of a partition (by sort key)."""
        page = self._client.query(
            TableName=self._table,
            KeyConditionExpression="#pk = :pk",
            ExpressionAttributeNames={"#pk": "pk"},
            ExpressionAttributeValues={":pk": {"S": pk}},
            ScanIndexForward=False,
            Limit=1,
        )
        items = page.get("Items") or []
        return from_dynamodb(items[0]) if items else None

    def _get(self, key: tuple[str, str]) -> Item | None:
        """One item by its ``pk``/``sk``."""
        response = self._client.get_item(
            TableName=self._table, Key={"pk": {"S": key[0]}, "sk": {"S": key[1]}}
        )
        return from_dynamodb(response["Item"]) if "Item" in response else None


class EventQueries(_TableQueries):
    """Listings over the events table."""

    def __init__(self, client: DynamoDBClient, events_table: str, shards: int) -> None:
        super().__init__(client, events_table, shards)

    @property
    def events_table(self) -> str:
        return self._table

    # -- listings ---------------------------------------------------------------------------

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


# The attributes that only the aggregators' conditional writes and the key design need.
BOOKKEEPING = frozenset({"pk", "sk", "version", "next_version", "kind", "kpi", "updated_at"})


def _report(item: Item | None, kind: str) -> Item | None:
    """A stored report without its bookkeeping; None for anything else.

    A versioned write bumps ``next_version`` before it computes, so an item can exist that holds
    nothing but the counter (the computation found no events, or lost to a later one): that is
    no report yet.
    """
    if item is None or item.get("kind") != kind:
        return None
    return {name: value for name, value in item.items() if name not in BOOKKEEPING}


def _day_text(day: str | date) -> str:
    return day.isoformat() if isinstance(day, date) else day.strip()


class ReportQueries(_TableQueries):
    """The aggregators' reports: single reports by ``GetItem``, listings by ``Query``.

    Every report comes back without ``pk``/``sk``/``version``/``next_version``/``kind``.
    ``shards`` must equal the stack's ``ACD_CMD_DAY_SHARDS`` (the live board's partitions).
    """

    def __init__(self, client: DynamoDBClient, reports_table: str, shards: int, kpi_shards: int = 4) -> None:
        super().__init__(client, reports_table, shards)
        if kpi_shards < 1:
            raise ValueError("kpi_shards must be at least 1")
        self._kpi_shards = kpi_shards

    @property
    def reports_table(self) -> str:
        return self._table

    def kpis(self, hotline: str | int, day: str | date) -> Item | None:
        """A hotline's KPIs of one day: ``{hotline, date, day, intervals, sl_seconds}``, the
        figures in :data:`~acd_hub.call_stats.KPI_KEYS` order; None if none computed yet.

        Sums the counter shards (one ``Query`` each, in parallel) and reads the longest wait of
        the day and of each interval from the wait index (one ``Query`` each, ``Limit 1``)."""
        hotline, day = str(hotline).strip(), _day_text(day)
        shards = [(None, "pk", kpi_pk(hotline, day, shard)) for shard in range(self._kpi_shards)]
        day_counters: dict[str, int] = {}
        interval_counters: dict[str, dict[str, int]] = {}
        sl_seconds = None
        found = False
        updated: list[str] = []
        for item in self._gather(shards):
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
        longest = self._longest_waits([wait_pk(hotline, day), *(wait_pk(hotline, day, s) for s in answered)])
        intervals = [
            {"start": start, **_figures(offered[start], longest.get(wait_pk(hotline, day, start)))}
            for start in sorted(offered, key=datetime.fromisoformat)
        ]
        return {
            "hotline": hotline,
            "date": day,
            "day": _figures(day_counters, longest.get(wait_pk(hotline, day))),
            "intervals": intervals,
            "sl_seconds": sl_seconds,
            "freshness": {"updated_at": max(updated) or None},
        }

    def _longest_waits(self, partitions: list[str]) -> dict[str, int]:
        def longest(pk: str) -> tuple[str, int | None]:
            item = self._last(pk)
            return pk, None if item is None else int(item["wait_ms"])

        with ThreadPoolExecutor(
            max_workers=min(MAX_WORKERS, len(partitions)), thread_name_prefix="acd-wait"
        ) as pool:
            return {pk: wait for pk, wait in pool.map(longest, partitions) if wait is not None}

    def agent_day(self, agent: str, day: str | date, *, with_timeline: bool = True) -> Item | None:
        """An agent's day: ``{agent, day, state_seconds, pause_seconds, calls_handled, timeline}``."""
        agent, day = agent.strip(), _day_text(day)
        counters = self._get(agent_day_key(agent, day))
        if counters is None or counters.get("kind") != "agent_day" or not counters.get("events"):
            return None
        report: Item = {
            "agent": agent,
            "day": day,
            "state_seconds": {
                s: seconds(ms) for s, ms in sorted((counters.get("state_ms") or {}).items()) if ms
            },
            "pause_seconds": {
                r: seconds(ms) for r, ms in sorted((counters.get("pause_ms") or {}).items()) if ms
            },
            "calls_handled": int(counters.get("calls_handled") or 0),
            # up to which event this day is built, and when it last changed
            "freshness": {
                "latest_event": _iso_ms(counters.get("complete_to_ms")),
                "updated_at": counters.get("updated_at"),
            },
        }
        if with_timeline:
            report["timeline"] = self._timeline(agent, day, counters)
        return report

    def agent_timeline(self, agent: str, day: str | date) -> list[Item]:
        """The agent's state intervals of the day, in time order (the last may be open)."""
        agent, day = agent.strip(), _day_text(day)
        counters = self._get(agent_day_key(agent, day))
        if counters is None or counters.get("kind") != "agent_day" or not counters.get("events"):
            return []
        return self._timeline(agent, day, counters)

    def _timeline(self, agent: str, day: str, counters: Item) -> list[Item]:
        start_of_day, end_of_day = int(counters["day_start_ms"]), int(counters["day_end_ms"])
        items = [i for i in self._query(None, "pk", timeline_pk(agent, day)) if i.get("kind") == "interval"]
        items.sort(key=lambda i: str(i["sk"]))
        timeline = [
            _interval(
                item,
                int(item["start_ms"]),
                None if item.get("next_ms") is None else min(int(item["next_ms"]), end_of_day),
            )
            for item in items
        ]
        # the state the agent was in at midnight, carried in from the day before
        previous = self._get(agent_day_key(agent, _shift_day(day, -1)))
        last = (previous or {}).get("last")
        if items and last and int(last["start_ms"]) < start_of_day < int(items[0]["start_ms"]):
            carried = self._get((timeline_pk(agent, last["day"]), last["sort_key"]))
            if carried is not None:
                timeline.insert(0, _interval(carried, start_of_day, int(items[0]["start_ms"]), carried=True))
        return timeline

    def freshness(self) -> Item:
        """Up to when the reports are complete, and whether the stream consumers are behind.

        ``complete_to``: every event received up to then is in the reports (the slowest
        consumer's last good batch); ``behind_s``: how long the oldest record of the latest
        batch had waited in the stream (Lambda's IteratorAge, seen from the reports table)."""
        consumers = []
        for item in self._query(None, "pk", FRESHNESS_PK):
            behind = item.get("behind_ms")
            consumers.append(
                {
                    "consumer": item.get("consumer") or item["sk"],
                    "complete_to": _iso_ms(item.get("complete_to_ms")),
                    "updated_at": _iso_ms(item.get("processed_at_ms")),
                    "latest_event": _iso_ms(item.get("latest_event_ms")),
                    "behind_s": None if behind is None else round(int(behind) / 1000, 1),
                }
            )
        completes = [c["complete_to"] for c in consumers]
        behind = [c["behind_s"] for c in consumers if c["behind_s"] is not None]
        updated = [c["updated_at"] for c in consumers if c["updated_at"]]
        worst = max(behind) if behind else None
        return {
            "complete_to": None if not completes or None in completes else min(completes),
            "updated_at": max(updated) if updated else None,
            "behind_s": worst,
            "catching_up": worst is not None and worst > CATCHING_UP_AFTER_S,
            "consumers": sorted(consumers, key=lambda c: str(c["consumer"])),
        }

    def call(self, task_id: str) -> Item | None:
        """One call's summary; None before the aggregator has seen it."""
        return _report(self._get(call_summary_key(task_id.strip().lower())), "call")

    def calls(self, hotline: str | int, day: str | date) -> list[Item]:
        """The summaries of the calls a hotline got on a day, by start time."""
        pk = calls_pk(str(hotline).strip(), _day_text(day))
        reports = (_report(item, "call") for item in self._gather([(None, "pk", pk)]))
        return sorted(
            (r for r in reports if r is not None),
            key=lambda r: (str(r.get("started") or ""), str(r.get("task_id") or "")),
        )

    def board(self) -> list[Item]:
        """The live board: every agent's latest state, from all board partitions, by agent."""
        partitions = [(None, "pk", board_pk(shard)) for shard in range(self._shards)]
        reports = (_report(item, "board") for item in self._gather(partitions))
        return sorted((r for r in reports if r is not None), key=lambda r: str(r.get("agent") or ""))


def _unique(items: Iterable[Item]) -> list[Item]:
    """Drop the same item seen twice (the base partition and an index never overlap, but be safe)."""
    seen: dict[tuple[str, str], Item] = {}
    for item in items:
        seen.setdefault((str(item.get("pk")), str(item.get("sk"))), item)
    return list(seen.values())


def _figures(counters: dict[str, int], max_wait_ms: int | None) -> Item:
    # whole numbers as ints, as they read back from DynamoDB when reports were stored whole
    return {
        name: int(value) if isinstance(value, float) and value.is_integer() else value
        for name, value in kpis_from_counters(counters, max_wait_ms).items()
    }


def _sum_into(total: dict[str, int], item: Item) -> None:
    for name in COUNTER_NAMES:
        value = item.get(name)
        if value:
            total[name] = total.get(name, 0) + int(value)


def _iso_ms(value: Any) -> str | None:
    if value is None:
        return None
    return keys.iso_utc(datetime.fromtimestamp(int(value) / 1000, tz=UTC))


def _shift_day(day: str, days: int) -> str:
    return (date.fromisoformat(day) + timedelta(days=days)).isoformat()


def _interval(item: Item, start_ms: int, end_ms: int | None, *, carried: bool = False) -> Item:
    return StateInterval(
        state=str(item["state"]),
        start_ms=start_ms,
        end_ms=end_ms,
        pause_reason=item.get("pause_reason"),
        task_id=item.get("task_id"),
        hotline=item.get("hotline"),
        carried=carried,
    ).as_dict()
