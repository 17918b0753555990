"""The live board: every agent's latest state and since when (``acd-report board``, the
wallboard), spread over ``board_shards`` partitions by agent.

==========================================  ================================  =====================
item                                        pk                                sk
==========================================  ================================  =====================
live board entry                            ``BOARD#<shard>``                 ``AGENT#<agent>``
shard counts the board was written with     ``SHARDS#BOARD``                  ``SHARDS``
==========================================  ================================  =====================
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar

from acd_hub import keys
from acd_hub.keys import iso_utc
from acd_hub.reports.hotline_day import SHARDS_SK
from acd_hub.reports.stored import Key, ReportItems, report_of

if TYPE_CHECKING:
    from acd_hub.events import StoredEvent

SHARDS_KEY: Key = ("SHARDS#BOARD", SHARDS_SK)


@dataclass(frozen=True)
class BoardEntry:
    """One agent on the live board: the current state and since when."""

    KIND: ClassVar[str] = "board"

    agent: str | None
    state: str | None
    since: str
    since_ms: int
    event_key: str
    mode: int | None = None
    task_id: str | None = None
    hotline: int | None = None
    hotline_name: str | None = None
    pause_reason: str | None = None

    @classmethod
    def of_event(cls, event: StoredEvent) -> BoardEntry:
        return cls(
            agent=event.agent,
            state=event.state,
            since=iso_utc(datetime.fromtimestamp(event.time_ms / 1000, tz=UTC)),
            since_ms=event.time_ms,
            event_key=event.key,
            mode=event.data.get("mode"),
            task_id=event.task_id,
            hotline=event.data.get("hotlineid"),
            hotline_name=event.data.get("hotline"),
            pause_reason=event.data.get("pause-reason"),
        )

    @property
    def order(self) -> tuple[int, str]:
        """The event it shows, in the order of events (see :attr:`StoredEvent.order`)."""
        return (self.since_ms, self.event_key)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def board_pk(shard: int) -> str:
    return f"BOARD#{shard}"


def board_key(agent: str, shards: int) -> Key:
    return board_pk(keys.shard_of(agent, shards)), f"AGENT#{agent}"


def recorded_shards(reports: ReportItems) -> set[int]:
    # a Query of its one-item partition: the board's reads are all Query
    item = next(reports.partition(SHARDS_KEY[0], limit=1), None)
    return set() if item is None else {int(n) for n in item.get("board_shards") or ()}


def entries(reports: ReportItems, shards: int) -> list[BoardEntry]:
    """Every agent's latest state, from all board partitions (up to the largest count the board
    was written with; ``shards`` for a board written before counts were recorded), by agent.
    After a change of count an agent may have an entry under the old count and one under the
    new: the newer is its state."""
    written = max(recorded_shards(reports) or {shards})
    newest: dict[str | None, BoardEntry] = {}
    for item in reports.partitions([board_pk(shard) for shard in range(written)]):
        if item.get("kind") != "board":
            continue
        entry = report_of(BoardEntry, item)
        if entry.agent not in newest or newest[entry.agent].order < entry.order:
            newest[entry.agent] = entry
    return sorted(newest.values(), key=lambda e: str(e.agent or ""))
