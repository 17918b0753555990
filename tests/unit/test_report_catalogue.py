"""The report catalogue's one codec (acd_hub/reports/stored.py): what each report's item holds,
that every report reads back as it was written, and what an item written by an older hub
reads as. The items are the contract with the data already stored: an attribute renamed,
added or left out here would be a migration."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from acd_hub.agent_stats import AgentDay, Link, TalkMarker, TimelineEntry
from acd_hub.reports import board, freshness_notes
from acd_hub.reports.board import BoardEntry
from acd_hub.reports.call import CallSummary, Contribution, ListedCall, StoredCall
from acd_hub.reports.freshness_notes import ShardNote
from acd_hub.reports.hotline_day import ShardCounts, WaitEntry
from acd_hub.reports.stored import Item, Key, attribute, attributes, report_of

ANSWERED = CallSummary(
    task_id="c0ffee01",
    direction="inbound",
    hotline=501,
    group=601,
    agents=["100001"],
    started="2026-11-20T08:00:00Z",
    answered="2026-11-20T08:00:12.5Z",
    ended="2026-11-20T08:03:00Z",
    wait_s=12.5,
    talk_s=167.5,
    hold_s=0,
    acw_s=20,
    outcome="answered",
    recorded=False,
    classification=None,
    started_ms=1_795_680_000_000,
    event_count=4,
    day="2026-11-20",
    interval="2026-11-20T09:00:00+01:00",
)
SHARE = Contribution("501", "2026-11-20", "2026-11-20T09:00:00+01:00", {"offered": 1, "answered": 1}, 12_500)


def test_a_call_summary_is_shown_and_stored_in_its_fields_order_leaving_out_what_it_lacks() -> None:
    # acd-report call's JSON is these attributes: their order is the output's
    not_started = replace(ANSWERED, started=None, started_ms=None, day=None, interval=None)
    assert list(not_started.as_dict()) == [
        "task_id", "direction", "hotline", "group", "agents", "started", "answered", "ended",
        "wait_s", "talk_s", "hold_s", "acw_s", "outcome", "recorded", "classification",
        "started_ms", "event_count",
    ]  # fmt: skip
    odd = replace(ANSWERED, problems=["answered_before_start"], more_agents=3)
    assert list(odd.as_dict())[-4:] == ["day", "interval", "problems", "more_agents"]


def test_a_stored_call_holds_its_summary_its_share_of_the_kpis_and_the_shards_it_was_written_with() -> None:
    item = attributes(StoredCall(ANSWERED, SHARE, "2026-11-20T08:03:01Z", 3, ShardCounts(4, 2)))
    # without the count of the call's events (acd-report call counts them: a hold would
    # otherwise rewrite the summary, a transactional put)
    assert "event_count" not in item
    assert item == {
        **{k: v for k, v in ANSWERED.as_dict().items() if k != "event_count"},
        "kind": "call",
        "kpi": {
            "hotline": "501",
            "day": "2026-11-20",
            "interval": "2026-11-20T09:00:00+01:00",
            "counters": {"offered": 1, "answered": 1},
            "wait_ms": 12_500,
        },
        "updated_at": "2026-11-20T08:03:01Z",
        "version": 3,
        "shards": {"kpi": 4, "listing": 2},
    }
    # an outbound call counts nowhere: its share is stored as null; no version nor shards yet
    bare = attributes(StoredCall(ANSWERED, None))
    assert bare["kpi"] is None
    assert bare["updated_at"] is None
    assert "version" not in bare
    assert "shards" not in bare


def test_a_listed_call_and_a_wait_hold_only_what_their_keys_do_not() -> None:
    listed = attributes(ListedCall(ANSWERED, "2026-11-20T08:03:01Z", shard=1))
    assert "event_count" not in listed
    assert "shard" not in listed
    assert listed == {k: v for k, v in ANSWERED.as_dict().items() if k != "event_count"} | {
        "kind": "call",
        "updated_at": "2026-11-20T08:03:01Z",
    }
    wait = WaitEntry("501", "2026-11-20", None, 12_500, "c0ffee01", shard=1)
    assert attributes(wait) == {"kind": "wait", "wait_ms": 12_500, "task_id": "c0ffee01"}
    assert wait.key() == ("WAIT#501#2026-11-20#1", "000000012500#c0ffee01")


def test_items_written_by_an_older_hub_read_as_it_meant_them() -> None:
    stored = attributes(StoredCall(ANSWERED, SHARE, "2026-11-20T08:03:01Z", 3))
    del stored["version"]
    # a summary stored before items carried a version is version 0 (its writes are conditional on that)
    assert report_of(StoredCall, stored).version == 0
    # DynamoDB's numbers come back as whatever the reader decoded: a field's type decides
    loose = {
        **stored,
        "started_ms": "1795680000000",
        "recorded": 1,
        "kpi": {**stored["kpi"], "wait_ms": 12_500.0},
    }
    read = report_of(StoredCall, loose)
    assert (read.summary.started_ms, read.summary.recorded) == (1_795_680_000_000, True)
    # an older hub stored the call's event count with its summary: no longer the summary's (a
    # reader counts the events), so it is not read back, and the summary equals a recomputed one
    assert report_of(StoredCall, {**stored, "event_count": 4}).summary.event_count is None
    assert read.contribution is not None
    assert type(read.contribution.wait_ms) is int


@dataclass(frozen=True)
class Span:
    start_ms: int
    sort_key: str = field(metadata=attribute(omit="always"))


@dataclass(frozen=True)
class Entry:
    agent: str
    span: Span = field(metadata=attribute(inline=True))


def test_a_key_held_field_of_an_inlined_report_is_given_by_the_reader() -> None:
    # the shape of the agent's timeline items (an entry and its link), ready for the codec
    stored = attributes(Entry("100001", Span(5, "IV#1")))
    assert stored == {"agent": "100001", "start_ms": 5}
    assert report_of(Entry, stored, sort_key="IV#1") == Entry("100001", Span(5, "IV#1"))


class Partitions:
    """The reports table's items in memory, as a catalogue read asks for them."""

    def __init__(self, items: Sequence[Item]) -> None:
        self._items = sorted(items, key=lambda i: (i["pk"], i["sk"]))

    def item(self, key: Key) -> Item | None:
        return next((i for i in self._items if (i["pk"], i["sk"]) == key), None)

    def partition(self, pk: str, *, limit: int | None = None, **_: Any) -> Iterator[Item]:
        yield from [i for i in self._items if i["pk"] == pk][:limit]

    def partitions(self, pks: Sequence[str], **_: Any) -> list[Item]:
        return [i for i in self._items if i["pk"] in pks]


def test_a_freshness_note_from_before_notes_named_their_consumer_is_named_by_its_key() -> None:
    notes = freshness_notes.notes(
        Partitions(
            [
                {"pk": "FRESHNESS", "sk": "call-stats", "kind": "freshness", "processed_at_ms": 5},
                {"pk": "FRESHNESS", "sk": "agent-stats#s1", "kind": "freshness", "consumer": "agent-stats",
                 "shard": "s1", "processed_at_ms": 7, "complete_to_ms": 6, "behind_ms": 0},
            ]
        )
    )  # fmt: skip
    assert notes == [
        ShardNote("agent-stats", "s1", 7, 6, None, 0),
        ShardNote("call-stats", "", 5, None, None, 0),
    ]


def test_the_board_shows_an_agent_once_at_its_newest_state_after_its_shard_count_changed() -> None:
    def entry(state: str, since_ms: int) -> BoardEntry:
        return BoardEntry("100001", state, "", since_ms, f"k{since_ms}")

    written = [
        {"pk": board.board_pk(0), "sk": "AGENT#100001", **attributes(entry("online", 1))},
        {"pk": board.board_pk(3), "sk": "AGENT#100001", **attributes(entry("paused", 2))},
        {"pk": "SHARDS#BOARD", "sk": "SHARDS", "kind": "shards", "board_shards": [1, 4]},
    ]
    # read with the setting's 1 shard: the recorded 4 say where else to look
    assert board.entries(Partitions(written), shards=1) == [entry("paused", 2)]


# -- every report reads back as it was written -------------------------------------------------

durations = st.none() | st.integers(0, 10**7) | st.floats(0, 1e7, allow_nan=False)
summaries = st.builds(
    CallSummary,
    wait_s=durations,
    talk_s=durations,
    hold_s=durations,
    acw_s=durations,
    day=st.none() | st.text(max_size=10),
    interval=st.none() | st.text(max_size=25),
)
# no deadline: a shared CI machine's pauses are not the codec's time
quick = settings(deadline=None, max_examples=60)
shares = st.none() | st.builds(Contribution, counters=st.dictionaries(st.text(max_size=8), st.integers()))


@quick
@given(summaries, shares, st.none() | st.text(max_size=24), st.integers(1, 10**6))
def test_a_stored_call_reads_back_as_written(
    summary: CallSummary, share: Contribution | None, stamp: str | None, version: int
) -> None:
    call = StoredCall(summary, share, stamp, version, ShardCounts(4, 1))
    assert report_of(StoredCall, attributes(call)) == replace(
        call, summary=replace(summary, event_count=None)
    )


@quick
@given(summaries, st.integers(0, 7))
def test_a_listed_call_reads_back_as_listed(summary: CallSummary, shard: int) -> None:
    listed = ListedCall(summary, "2026-11-20T08:03:01Z", shard)
    assert report_of(ListedCall, attributes(listed), shard=shard) == replace(listed, summary=listed.listed)


@quick
@given(st.builds(BoardEntry), st.builds(WaitEntry), st.builds(ShardNote))
def test_a_board_entry_a_wait_and_a_freshness_note_read_back_as_written(
    entry: BoardEntry, wait: WaitEntry, note: ShardNote
) -> None:
    assert report_of(BoardEntry, attributes(entry)) == entry
    where = {"hotline": wait.hotline, "day": wait.day, "interval": wait.interval, "shard": wait.shard}
    assert report_of(WaitEntry, attributes(wait), **where) == wait
    assert report_of(ShardNote, attributes(note)) == note


# -- the agent's items: the same attributes the hand codecs wrote, through the one codec ----------

LUNCH = Link("2026-11-20", "IV#2026-11-20T08:00:00.000Z#k1", 1795680000000, "pause", "Lunch", 1795680060000)
ONLINE = Link("2026-11-20", "IV#2026-11-20T08:01:00.000Z#k2", 1795680060000, "online")
LINK_ITEM = {
    "day": "2026-11-20",
    "sort_key": "IV#2026-11-20T08:00:00.000Z#k1",
    "start_ms": 1795680000000,
    "state": "pause",
    "pause_reason": "Lunch",
}


def test_an_agent_day_keeps_its_counts_always_and_the_rest_only_when_it_has_them() -> None:
    empty = AgentDay("100001", "2026-11-20", 1795647600000, 1795734000000)
    assert attributes(empty) == {
        "kind": "agent_day", "agent": "100001", "day": "2026-11-20", "day_start_ms": 1795647600000,
        "day_end_ms": 1795734000000, "state_ms": {}, "pause_ms": {}, "calls_handled": 0, "events": 0,
    }  # fmt: skip
    full = AgentDay(
        "100001", "2026-11-20", 1795647600000, 1795734000000, {"online": 5000}, {"Lunch": 60000}, 2, 3,
        LUNCH, ONLINE, 1795680060000, "2026-11-20T08:01:01.000Z", 4, 7, {"Old": 5}, True,
    )  # fmt: skip
    item = attributes(full)
    assert item["first"] == {**LINK_ITEM, "next_ms": 1795680060000}
    assert item["last"]["pause_reason"] is None  # a link's map keeps its nulls
    assert {name: item[name] for name in ("pause_other_ms", "carried_pause_ms", "pause_folded", "version")} == {
        "pause_other_ms": 7, "carried_pause_ms": {"Old": 5}, "pause_folded": True, "version": 4,
    }  # fmt: skip
    assert report_of(AgentDay, item) == full
    # an agent day stored before items carried a version is version 0 (its writes condition on that)
    assert report_of(AgentDay, attributes(empty)).version == 0


def test_a_timeline_entry_stores_its_link_but_not_its_end_and_a_talk_marker_only_its_kind() -> None:
    entry = TimelineEntry("100001", LUNCH, "k1", "c0ffee01", 501)
    item = attributes(entry)
    assert item == {
        "kind": "interval",
        "agent": "100001",
        "event_key": "k1",
        "task_id": "c0ffee01",
        "hotline": 501,
        **LINK_ITEM,
    }
    assert attributes(TimelineEntry("100001", ONLINE, "k2"))["task_id"] is None
    # an entry stored before kept its end: it is not read (the next entry's start is the end)
    older = {**item, "next_ms": 1795680060000, "sk": LUNCH.sort_key}
    assert report_of(TimelineEntry, older, sort_key=LUNCH.sort_key) == replace(
        entry, link=replace(LUNCH, next_ms=None)
    )
    assert attributes(TalkMarker("100001", "2026-11-20", "c0ffee01")) == {"kind": "talk"}


@quick
@given(
    st.builds(
        AgentDay,
        first=st.none() | st.builds(Link),
        last=st.none() | st.builds(Link),
        version=st.integers(0, 9),
    )
)
def test_an_agent_day_reads_back_as_written(day: AgentDay) -> None:
    assert report_of(AgentDay, attributes(day)) == day
