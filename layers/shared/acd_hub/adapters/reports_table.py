"""The reports table: the translation of the domain's report writes (:mod:`acd_hub.ports`)
into DynamoDB requests, and the live path's and the rebuild's reads. Each report's key and
attributes are declared where the report is (the catalogue, :mod:`acd_hub.reports`; the
agent's own items in :mod:`acd_hub.agent_stats`); its attributes go through the one codec
(:func:`acd_hub.reports.stored.attributes` and :func:`~acd_hub.reports.stored.report_of`) and
on the wire through boto3's ``TypeSerializer``.

Keys (``pk`` / ``sk``), all reports together. No item grows with the day: one item per agent
state change, one per call, counters per 15 minutes.

==========================================  ================================  =====================
item                                        pk                                sk
==========================================  ================================  =====================
agent day: ms per state and pause reason,   ``AGENT#<agent>``                 ``DAY#<day>``
calls handled, first/last link, version
agent timeline: one per applied state       ``TIMELINE#<agent>#<day>``        ``IV#<time>#<key>``
a call the agent talked in that day         ``TIMELINE#<agent>#<day>``        ``TALK#<taskid>``
live board entry                            ``BOARD#<shard>``                 ``AGENT#<agent>``
call summary (+ its KPI contribution), or   ``CALL#<taskid>``                 ``SUMMARY``
where it is once listed (``call-at``)
calls of a hotline's day (listing, shard):  ``CALLS#<hotline>#<day>[#<s>]``   ``<started>#<taskid>``
each the call itself (see reports.call)
hotline 15-minute counters (per shard)      ``KPI#<hotline>#<day>#<shard>``   ``IV#<interval>``
shard counts a hotline day was written with ``SHARDS#<hotline>#<day>``        ``SHARDS``
shard counts the live board was written with ``SHARDS#BOARD``                 ``SHARDS``
a day's hotlines with KPIs, one each        ``HOTLINES#<day>``                ``<hotline>``
freshness of a consumer on a stream shard  ``FRESHNESS``                     ``<consumer>#<shard>``
==========================================  ================================  =====================

Versions before also wrote a hotline day's counters to a ``DAY`` item per shard and a wait
index (``WAIT#<hotline>#<day>[#<interval>][#<s>]``): left out by the readers now, deleted by the
rebuild (:mod:`acd_hub.reports.hotline_day`).

Hot keys are spread by task id (the listing, ``listing_shards``; the counters, ``kpi_shards``)
or by agent (the board, ``board_shards``); shard 0 of the listing has no suffix, the key it
had when it was one partition. Each writer
records the counts it writes with in a ``SHARDS#`` item (a number set, ``ADD``: a union, so
writers never conflict over what they add) the first time a container writes a hotline day or
the board, in the same transaction: a reader reads every shard up to the largest count
recorded, so it never guesses, and a call summary records the counts of its own reports, so a
late change of the call retracts them where they are after a change of setting. The same
transaction lists the hotline under its day (``HOTLINES#<day>``, written the first time a
container adds to a hotline day's counters, and by a rebuild): a day's hotlines are one query
of one partition, not a read of the day's events.

Writes are single ``TransactWriteItems`` guarded by conditions on what was read (a version on
agent days and call summaries), so concurrent aggregators, retried batches and a rebuild never
apply a change twice or on top of a state they did not see. The KPI counters only ever receive
``ADD``s of differences inside such a transaction, so they need no version of their own (hot
items: no read-modify-write), and they are spread over ``kpi_shards`` partitions by task id (the domain picks the shard).

Counters are integers (ratios and means are computed on read: :mod:`acd_hub.kpis`). The floats
that are stored (a call summary's durations in seconds with three decimals) go to DynamoDB as
``Decimal`` via ``str``: no binary noise.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from acd_hub.adapters.dynamodb import Key, Table, translated, wire_key
from acd_hub.agent_stats import AgentDay, Link, TalkMarker, TimelineEntry
from acd_hub.kpis import COUNTER_NAMES
from acd_hub.ports import (
    AddCounters,
    BatchProgress,
    Cancelled,
    CheckAgentDay,
    CheckCall,
    CheckShards,
    CorrectCounters,
    Create,
    Delete,
    DeleteVersioned,
    DropCounters,
    ListHotlineDay,
    Put,
    PutVersioned,
    RecordShards,
    Refused,
    Repoint,
    ReportWrite,
    Throttled,
)
from acd_hub.reports import board
from acd_hub.reports.board import BoardEntry, board_key
from acd_hub.reports.call import CallMoved, ListedCall, StoredCall, pointed_at, stored_item, summary_key
from acd_hub.reports.freshness_notes import note_attributes, note_key
from acd_hub.reports.hotline_day import (
    KPI_DAY_SK,
    CounterKey,
    WaitEntry,
    counter_attributes,
    counter_key,
    counters_of,
    day_hotline_attributes,
    day_hotline_key,
    kpi_pk,
    listing_pk,
    recorded_shards,
    shards_key,
    wait_pk,
)
from acd_hub.reports.stored import Keyed, attributes, report_of

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

# A transaction's reasons that mean "back off", not "someone else wrote" (DynamoDB's
# CancellationReason codes).
THROTTLED_REASONS = frozenset({"ThrottlingError", "ProvisionedThroughputExceeded"})

# The agent's own reports and the board's entry are placed here (the entry by the board's shard
# count); every other report knows its key (the catalogue's, acd_hub.reports).
Report = TimelineEntry | TalkMarker | BoardEntry | AgentDay | Keyed


def agent_day_key(agent: str, day: str) -> Key:
    return f"AGENT#{agent}", f"DAY#{day}"


def timeline_pk(agent: str, day: str) -> str:
    return f"TIMELINE#{agent}#{day}"


def talk_key(agent: str, day: str, task_id: str) -> Key:
    # sorts after every IV# item, so "the interval before X" never meets one
    return timeline_pk(agent, day), f"TALK#{task_id}"


def _decimals(value: Any) -> Any:
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, dict):
        return {k: _decimals(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decimals(v) for v in value]
    return value


class ReportsTable(Table):
    """Implements :class:`~acd_hub.ports.ReportsStore`; ``board_shards`` must be the stack's
    ``ACD_CMD_DAY_SHARDS`` (the live board is spread over that many partitions)."""

    def __init__(self, client: DynamoDBClient, name: str, board_shards: int) -> None:
        super().__init__(client, name)
        self.board_shards = board_shards
        self._board_recorded = False  # this container has recorded board_shards (SHARDS#BOARD)

    def encode(self, item: dict[str, Any]) -> dict[str, Any]:
        return super().encode(_decimals(item))

    # -- keys and items of the domain's reports --

    def key_of(self, report: Report) -> Key:
        match report:
            case TimelineEntry(agent=agent, link=link):
                return timeline_pk(agent, link.day), link.sort_key
            case TalkMarker(agent=agent, day=day, task_id=task_id):
                return talk_key(agent, day, task_id)
            case BoardEntry(agent=agent):
                return board_key(str(agent), self.board_shards)
            case AgentDay(agent=agent, day=day):
                return agent_day_key(agent, day)
        return report.key()

    def item_of(self, report: Report) -> dict[str, Any]:
        pk, sk = self.key_of(report)
        return {"pk": pk, "sk": sk, **attributes(report)}

    # -- the live path's reads (strongly consistent) --

    def agent_days(
        self, agent: str, days: Sequence[str], *, with_board: bool
    ) -> tuple[dict[str, AgentDay | None], BoardEntry | None]:
        board = board_key(agent, self.board_shards)
        wanted = [agent_day_key(agent, day) for day in days] + ([board] if with_board else [])
        found = self.get_many(wanted)
        read = {day: found.get(agent_day_key(agent, day)) for day in days}
        days_read = {day: None if item is None else report_of(AgentDay, item) for day, item in read.items()}
        entry = found.get(board)
        return days_read, None if entry is None else report_of(BoardEntry, entry)

    def links_around(self, agent: str, day: str, sort_key: str) -> tuple[Link | None, Link | None]:
        # nothing in a timeline partition sorts before "IV#" (the TALK# markers sort after "IV$")
        pk = timeline_pk(agent, day)
        before = next(self.query(pk, consistent=True, forward=False, limit=1, sk_before=sort_key), None)
        after = next(
            (
                item
                for item in self.query(pk, consistent=True, limit=2, sk_between=(sort_key, "IV$"))
                if item["sk"] != sort_key
            ),
            None,
        )

        def link(item: dict[str, Any] | None) -> Link | None:
            return None if item is None else report_of(TimelineEntry, item, sort_key=str(item["sk"])).link

        return link(before), link(after)

    def links_between(self, agent: str, day: str, first: str, last: str) -> list[Link]:
        # timeline sort keys only: both bounds are links' ("IV#...")
        items = self.query(timeline_pk(agent, day), consistent=True, sk_between=(first, last))
        return [report_of(TimelineEntry, item, sort_key=str(item["sk"])).link for item in items]

    def calls(self, task_ids: Sequence[str]) -> dict[str, StoredCall]:
        """Each call's ``SUMMARY`` item, then (one read more) the listing items those of listed
        calls point to; a call that moved in between is read again on its own."""
        wanted = {summary_key(task): task for task in task_ids}
        found = self.get_many(list(wanted))
        stored: dict[str, StoredCall] = {}
        listed: dict[Key, str] = {}
        for key, item in found.items():
            if (at := pointed_at(item)) is not None:
                listed[at] = wanted[key]
            else:
                stored[wanted[key]] = report_of(StoredCall, item)
        there = self.get_many(list(listed)) if listed else {}
        for at, task in listed.items():
            held = there.get(at)
            call = report_of(StoredCall, held, at=at) if held is not None else self.call(task)
            if call is not None:
                stored[task] = call
        return stored

    def call(self, task_id: str) -> StoredCall | None:
        try:
            found = stored_item(self.get, task_id)
        except CallMoved:
            raise Cancelled(set(), f"call {task_id} moved while it was read") from None
        return None if found is None else report_of(StoredCall, found[0], at=found[1])

    # -- writes --

    def commit(self, writes: Sequence[ReportWrite]) -> None:
        """One ``TransactWriteItems``. DynamoDB's reason per item decides what is raised:
        throttling (``ThrottlingError``, ``ProvisionedThroughputExceeded``) is
        :class:`Throttled`, a ``ValidationError`` is :class:`Refused`, failed conditions and
        ``TransactionConflict`` are :class:`Cancelled` (naming the writes whose conditions
        failed). Every reason is in the message, for the log line."""
        try:
            with translated():
                self.client.transact_write_items(TransactItems=[self._request(w) for w in writes])  # type: ignore[misc]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                raise
            cancelled = exc.response.get("CancellationReasons") or []  # type: ignore[typeddict-item]
            reasons = [str(r.get("Code") or "None") for r in cancelled]
            why = "cancelled: " + ", ".join(reasons)
            if THROTTLED_REASONS.intersection(reasons):
                raise Throttled(why) from exc
            if "ValidationError" in reasons:
                raise Refused(why) from exc
            failed = {index for index, code in enumerate(reasons) if code == "ConditionalCheckFailed"}
            raise Cancelled(failed, why, reasons) from exc

    def show_on_board(self, entry: BoardEntry) -> bool:
        """Put an agent's board entry unless the stored one shows a later event; False if it
        did. One conditional ``PutItem``, outside any transaction: the condition on the order
        of events makes it right whenever it runs (1 write unit; inside the agent's
        transaction it was 2). The board's entries are placed here (:meth:`key_of`), so the
        shard count they are placed by is recorded here, before this container's first."""
        with translated():
            if not self._board_recorded:
                self.client.update_item(
                    TableName=self.name,
                    Key=wire_key(board.SHARDS_KEY),
                    UpdateExpression="SET #kind = :kind ADD #board :board",
                    ExpressionAttributeNames={"#kind": "kind", "#board": "board_shards"},
                    ExpressionAttributeValues=self.encode({":kind": "shards", ":board": {self.board_shards}}),
                )
                self._board_recorded = True
            try:
                self.client.put_item(
                    TableName=self.name,
                    Item=self.encode(self.item_of(entry)),
                    ConditionExpression=(
                        "attribute_not_exists(pk) OR since_ms < :since"
                        " OR (since_ms = :since AND event_key < :key)"
                    ),
                    ExpressionAttributeValues=self.encode(
                        {":since": entry.since_ms, ":key": entry.event_key}
                    ),
                )
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                    return False
                raise
        return True

    def _request(self, write: ReportWrite) -> dict[str, Any]:
        """One item of a transaction: what it writes and the condition it is written under."""
        match write:
            case Create(report=report):
                return self._put(report, "attribute_not_exists(pk)")
            case PutVersioned(report=report, read_version=None):
                return self._put(report, "attribute_not_exists(pk)")
            case PutVersioned(report=report, read_version=0):  # written before items carried one
                return self._put(
                    report, "attribute_exists(pk) AND attribute_not_exists(#version)", {"#version": "version"}
                )
            case PutVersioned(report=report, read_version=read):
                return self._put(report, "#version = :read", {"#version": "version"}, {":read": read})
            case CheckAgentDay(agent=agent, day=day, read_version=read):
                check: dict[str, Any] = {"TableName": self.name, "Key": wire_key(agent_day_key(agent, day))}
                if read is None:
                    check["ConditionExpression"] = "attribute_not_exists(pk)"
                else:
                    check |= self._condition("#version = :read", {"#version": "version"}, {":read": read})
                return {"ConditionCheck": check}
            case CheckCall(task_id=task_id, read_version=read, at=at):
                return {"ConditionCheck": self._versioned(at or summary_key(task_id), read)}
            case DeleteVersioned(report=report, read_version=read):
                delete = self._versioned(self.key_of(report), read)
                return {"Delete": delete}
            case Repoint(report=report, read_at=(at_pk, at_sk)):
                return self._put(
                    report,
                    "#at_pk = :at_pk AND #at_sk = :at_sk",
                    {"#at_pk": "at_pk", "#at_sk": "at_sk"},
                    {":at_pk": at_pk, ":at_sk": at_sk},
                )
            case Put(report=report):
                return self._put(report, None)
            case Delete(report=report):
                return {"Delete": {"TableName": self.name, "Key": wire_key(self.key_of(report))}}
            case (
                AddCounters()
                | CorrectCounters()
                | DropCounters()
                | CheckShards()
                | RecordShards()
                | ListHotlineDay()
            ):
                return self._hotline_request(write)
        raise TypeError(f"not a report write: {write!r}")

    def _hotline_request(self, write: ReportWrite) -> dict[str, Any]:
        """A transaction item of a hotline day's own reports: its counters, shard counts, listing."""
        match write:
            case AddCounters(key=key, deltas=deltas, sl_seconds=sl_seconds, updated_at=stamp):
                fields = {**counter_attributes(key, sl_seconds), "updated_at": stamp}
                return self._update(counter_key(key), *_set_and_add(fields, deltas))
            case CorrectCounters(key=key, deltas=deltas, read=read, sl_seconds=sl_seconds):
                expression, names, values = _set_and_add(counter_attributes(key, sl_seconds), deltas)
                condition, check_names, check_values = _counters_hold(read)
                update = self._update(
                    counter_key(key), expression, names | check_names, values | check_values
                )
                update["Update"]["ConditionExpression"] = condition
                return update
            case DropCounters(key=key, read=read):
                delete = {"TableName": self.name, "Key": wire_key(counter_key(key))}
                return {"Delete": delete | self._condition(*_counters_hold(read))}
            case CheckShards(hotline=hotline, day=day, read=read):
                check = {"TableName": self.name, "Key": wire_key(shards_key(hotline, day))}
                return {"ConditionCheck": check | self._condition(*_shards_hold(read))}
            case RecordShards(hotline=hotline, day=day, counts=counts):
                return self._update(
                    shards_key(hotline, day),
                    "SET #kind = :kind ADD #kpi :kpi, #listing :listing",
                    {"#kind": "kind", "#kpi": "kpi_shards", "#listing": "listing_shards"},
                    {":kind": "shards", ":kpi": {counts.kpi}, ":listing": {counts.listing}},
                )
            case ListHotlineDay(hotline=hotline, day=day):
                # an update, not a put: idempotent, and never a conflict over what it holds
                fields = day_hotline_attributes(hotline, day)
                return self._update(day_hotline_key(hotline, day), *_set_and_add(fields, {}))
        raise TypeError(f"not a hotline day write: {write!r}")

    def _versioned(self, key: Key, read: int | None) -> dict[str, Any]:
        """A check that a versioned report is still at the version read (None: absent; 0:
        stored before items carried one)."""
        check: dict[str, Any] = {"TableName": self.name, "Key": wire_key(key)}
        if read is None:
            return check | self._condition("attribute_not_exists(pk)")
        if read == 0:
            return check | self._condition(
                "attribute_exists(pk) AND attribute_not_exists(#version)", {"#version": "version"}
            )
        return check | self._condition("#version = :read", {"#version": "version"}, {":read": read})

    def _condition(
        self,
        condition: str | None,
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        request: dict[str, Any] = {}
        if condition:
            request["ConditionExpression"] = condition
        if names:
            request["ExpressionAttributeNames"] = dict(names)
        if values:
            request["ExpressionAttributeValues"] = self.encode(dict(values))
        return request

    def _put(
        self,
        report: Report,
        condition: str | None,
        names: Mapping[str, str] | None = None,
        values: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        request = {"TableName": self.name, "Item": self.encode(self.item_of(report))}
        return {"Put": request | self._condition(condition, names, values)}

    def _update(
        self, key: Key, expression: str, names: Mapping[str, str], values: Mapping[str, Any]
    ) -> dict[str, Any]:
        request = {"TableName": self.name, "Key": wire_key(key), "UpdateExpression": expression}
        return {"Update": request | self._condition(None, names, values)}

    def note_batch(self, consumer: str, progress: BatchProgress) -> None:
        """How far a stream consumer has got on one shard (folded by ``acd-report`` into the
        reports' freshness, :mod:`acd_hub.freshness`). A good batch clears the shard's pending
        mark; a failed one keeps the last good watermark."""
        expression, names, values = _set_and_add(note_attributes(consumer, progress), {})
        if progress.pending_from_ms is None:
            names["#pending"] = "pending_from_ms"
            expression += " REMOVE #pending"
        self.client.update_item(
            TableName=self.name,
            Key=wire_key(note_key(consumer, progress.shard)),
            UpdateExpression=expression,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=self.encode(values),
        )

    # -- the rebuild's reads and bulk replacement --

    def agent_day(self, agent: str, day: str) -> AgentDay | None:
        item = self.get(agent_day_key(agent, day))
        return None if item is None else report_of(AgentDay, item)

    def timeline(self, agent: str, day: str) -> list[TimelineEntry | TalkMarker]:
        entries: list[TimelineEntry | TalkMarker] = []
        for item in self.query(timeline_pk(agent, day), consistent=True):
            if item.get("kind") == "talk":
                entries.append(TalkMarker(agent, day, str(item["sk"]).removeprefix("TALK#")))
            else:
                entries.append(report_of(TimelineEntry, item, sort_key=str(item["sk"])))
        return entries

    def board_entry(self, agent: str) -> BoardEntry | None:
        item = self.get(board_key(agent, self.board_shards))
        return None if item is None else report_of(BoardEntry, item)

    def shard_counts(self, hotline: str, day: str) -> tuple[set[int], set[int]] | None:
        return recorded_shards(self.get(shards_key(hotline, day)))

    def listed_calls(self, hotline: str, day: str, shards: int) -> list[ListedCall]:
        return [
            report_of(ListedCall, item, shard=shard)
            for shard in range(shards)
            for item in self.query(listing_pk(hotline, day, shard), consistent=True)
            if item.get("kind") == "call"
        ]

    def counters(self, hotline: str, day: str, shard: int) -> dict[CounterKey, dict[str, int]]:
        found = {}
        for item in self.query(kpi_pk(hotline, day, shard), consistent=True):
            interval = None if item["sk"] == KPI_DAY_SK else str(item["sk"]).removeprefix("IV#")
            found[CounterKey(hotline, day, shard, interval)] = counters_of(item)
        return found

    def waits(self, hotline: str, day: str, interval: str | None, shards: int) -> set[WaitEntry]:
        where = {"hotline": hotline, "day": day, "interval": interval}
        return {
            report_of(WaitEntry, item, **where, shard=shard)
            for shard in range(shards)
            for item in self.query(wait_pk(hotline, day, interval, shard), consistent=True)
        }

    def replace(
        self,
        puts: Sequence[TimelineEntry | TalkMarker | WaitEntry],
        deletes: Sequence[TimelineEntry | TalkMarker | WaitEntry | ListedCall],
    ) -> None:
        self.write_batch([self.item_of(report) for report in puts], [self.key_of(r) for r in deletes])


def _shards_hold(
    read: tuple[frozenset[int], frozenset[int]] | None,
) -> tuple[str, dict[str, str], dict[str, Any]]:
    """A condition that a hotline day's recorded shard counts are still those read (None: no
    item). They only grow (``ADD`` to a number set), so as many as read means the same ones."""
    if read is None:
        return "attribute_not_exists(pk)", {}, {}
    names: dict[str, str] = {}
    values: dict[str, Any] = {}
    parts = ["attribute_exists(pk)"]
    for i, (name, counts) in enumerate((("kpi_shards", read[0]), ("listing_shards", read[1]))):
        names[f"#n{i}"] = name
        if counts:
            values[f":n{i}"] = len(counts)
            parts.append(f"size(#n{i}) = :n{i}")
        else:
            parts.append(f"attribute_not_exists(#n{i})")
    return " AND ".join(parts), names, values


def _counters_hold(read: Mapping[str, int]) -> tuple[str, dict[str, str], dict[str, Any]]:
    """A condition that every counter still holds what was read (absent or 0 where none was)."""
    names: dict[str, str] = {}
    values: dict[str, Any] = {":zero": 0}
    parts = []
    for i, name in enumerate(COUNTER_NAMES):
        names[f"#c{i}"] = name
        if read.get(name):
            values[f":c{i}"] = read[name]
            parts.append(f"#c{i} = :c{i}")
        else:
            parts.append(f"(attribute_not_exists(#c{i}) OR #c{i} = :zero)")
    return " AND ".join(parts), names, values


def _set_and_add(
    fields: Mapping[str, Any], counters: Mapping[str, int]
) -> tuple[str, dict[str, str], dict[str, Any]]:
    """An update expression that SETs ``fields`` and ADDs ``counters`` (differences)."""
    names: dict[str, str] = {}
    values: dict[str, Any] = {}
    sets, adds = [], []
    for i, (name, value) in enumerate(fields.items()):
        names[f"#s{i}"], values[f":s{i}"] = name, value
        sets.append(f"#s{i} = :s{i}")
    for i, (name, value) in enumerate(counters.items()):
        names[f"#a{i}"], values[f":a{i}"] = name, value
        adds.append(f"#a{i} :a{i}")
    parts = [f"SET {', '.join(sets)}" if sets else "", f"ADD {', '.join(adds)}" if adds else ""]
    return " ".join(part for part in parts if part), names, values
