"""The AgentStats consumer: each ``agentstate`` event inserted into its agent's chain of applied
states (how, and what each store answer leads to: :mod:`acd_hub.aggregation`)."""

from __future__ import annotations

import bisect
import functools
import itertools
from collections.abc import Callable, Collection, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

from acd_hub import agent_stats, backoff, concurrency, vocabulary
from acd_hub.agent_stats import AgentDay, Link, TalkMarker, TimelineEntry
from acd_hub.aggregation import MAX_ATTEMPTS, AggregatorBase, Conflict, shift, stamp
from acd_hub.aggregation import throttled as throttled_wait
from acd_hub.events import StoredEvent
from acd_hub.ports import Cancelled, CheckAgentDay, Create, PutVersioned, ReportsStore, ReportWrite, Throttled
from acd_hub.reports.board import BoardEntry


@dataclass(frozen=True)
class AgentEvent:
    agent: str
    day: str
    key: str
    event: StoredEvent = field(compare=False, hash=False)


class AgentWindow:
    """What one batch has read or written of agent days and board entries.

    After its own transaction commits, the aggregator knows the new reports (it wrote them), so
    the next event of the same agent in the batch needs no read; if someone else wrote
    meanwhile, the version conditions fail and the agent's entries are read again.

    So it is with the stored links around the batch's events, read ahead (``links``, by agent,
    day and sort key): the links the batch's own transactions created since (``written``) are
    laid over them; anything else changed fails the version conditions on the agent's days, and
    they are forgotten with the rest.
    """

    def __init__(self, reports: ReportsStore) -> None:
        self._reports = reports
        self.days: dict[tuple[str, str], AgentDay | None] = {}
        self.boards: dict[str, BoardEntry | None] = {}
        self.talked: set[TalkMarker] = set()
        self.links: dict[tuple[str, str, str], tuple[Link | None, Link | None]] = {}
        self.written: dict[str, dict[tuple[str, str], Link]] = {}

    def load(self, agent: str, days: list[str]) -> tuple[dict[str, AgentDay | None], BoardEntry | None]:
        missing = [day for day in days if (agent, day) not in self.days]
        if missing or agent not in self.boards:
            found, board = self._reports.agent_days(agent, missing, with_board=agent not in self.boards)
            for day in missing:
                self.days[(agent, day)] = found[day]
            if agent not in self.boards:
                self.boards[agent] = board
        return {day: self.days[(agent, day)] for day in days}, self.boards[agent]

    def remember(
        self,
        agent: str,
        days: dict[str, AgentDay | None],
        board: BoardEntry | None,
        links: Mapping[tuple[str, str], Link],
    ) -> None:
        for day, report in days.items():
            self.days[(agent, day)] = report
        self.boards[agent] = board
        self.written.setdefault(agent, {}).update(links)

    def stored_links(self, agent: str, day: str, sort_key: str) -> tuple[Link | None, Link | None] | None:
        """The links stored around ``sort_key`` now, if they were read ahead (None if not)."""
        read = self.links.get((agent, day, sort_key))
        return None if read is None else _nearest(day, sort_key, read, self.written.get(agent, {}))

    def forget(self, agent: str) -> None:
        for key in [key for key in self.days if key[0] == agent]:
            del self.days[key]
        for place in [place for place in self.links if place[0] == agent]:
            del self.links[place]
        self.written.pop(agent, None)
        self.boards.pop(agent, None)


def _nearest(
    day: str, sort_key: str, stored: tuple[Link | None, Link | None], links: Mapping[tuple[str, str], Link]
) -> tuple[Link | None, Link | None]:
    """The links just before and just after ``sort_key`` on ``day``: ``stored``, or one of
    ``links`` (by day and sort key) in between."""
    before, after = stored
    for (link_day, key), link in links.items():
        if link_day != day:
            continue
        if key < sort_key and (before is None or key > before.sort_key):
            before = link
        if key > sort_key and (after is None or key < after.sort_key):
            after = link
    return before, after


def _inside(day: AgentDay | None, sort_key: str) -> bool:
    """Whether an event lands between the stored day's first and last links."""
    return (
        day is not None
        and day.first is not None
        and day.last is not None
        and day.first.sort_key < sort_key < day.last.sort_key
    )


class _StaleRead(Exception):
    """Two reads disagree (a day's first link moved between them, or a link ends on a day read
    as empty): read again."""


# One transaction holds at most 100 items (and 4 MB: a fold's items are a timeline entry or a
# talk marker of well under 1 KB each and at most a few agent days, each bounded to a few KB by
# PAUSE_REASONS_KEPT, so 100 of them stay far below it).
MAX_TRANSACTION_ITEMS = 100
EVENT_ITEMS = 2  # what one event adds at most: its timeline entry and a talk marker
# The stored links around a batch's events are read this many at a time (CallStats' readers,
# NEIGHBOUR_READERS, and these stay within boto3's 10 pooled connections of the shared client).
LINK_READERS = 4
# Or the stretch of a day's timeline between a batch's first and last event there, in one read,
# when the day holds at most this many entries per event: a timeline entry is a few hundred bytes,
# so that many cost the read units of the two queries each event's links take on their own
# (a strongly consistent query is at least one unit of 4 KB).
RANGE_ENTRIES_PER_EVENT = 24
RANGE_EVENTS = 4  # the fewest events of a day read as one stretch (its two ends take 4 queries)


@dataclass
class _Fold:
    """An agent's events of one batch, applied one after another onto what was read and written
    as one transaction: the same insertions, in the same order, as one transaction per event
    would make, but each item written once (a day changed by every event is put once, under the
    version read).

    ``read``: the agent days as read (their versions are the conditions); ``days``: as they
    will be once the fold commits. ``links``: the timeline links it creates, by (day, sort key),
    and ``created`` their events; ``told``: the days whose reports told where a predecessor or
    successor is (checked if the fold does not change them); ``taken``: the events it handled,
    applied by it or found applied before."""

    agent: str
    read: dict[str, AgentDay | None]
    days: dict[str, AgentDay | None]
    board: BoardEntry | None
    links: dict[tuple[str, str], Link] = field(default_factory=dict)
    created: dict[tuple[str, str], AgentEvent] = field(default_factory=dict)
    talks: list[TalkMarker] = field(default_factory=list)
    told: set[str] = field(default_factory=set)
    taken: list[AgentEvent] = field(default_factory=list)

    def has_room(self, days: Collection[str]) -> bool:
        """Whether one more event, reading ``days``, surely fits in the transaction."""
        items = len(self.links) + len(self.talks) + len(set(self.days) | set(days))
        return items + EVENT_ITEMS <= MAX_TRANSACTION_ITEMS

    def around(
        self, day: str, sort_key: str, stored: tuple[Link | None, Link | None]
    ) -> tuple[Link | None, Link | None]:
        """The links just before and just after ``sort_key`` on ``day`` once the fold commits:
        the stored ones (``stored``) or the fold's own in between."""
        return _nearest(day, sort_key, stored, self.links)

    def writes(self, stamp: str) -> tuple[list[ReportWrite], dict[int, AgentEvent], dict[int, TalkMarker]]:
        """The transaction, and which of its writes create which event's entry and talk marker
        (a failed "must not exist" there: applied, or counted, before)."""
        writes: list[ReportWrite] = []
        entries: dict[int, AgentEvent] = {}
        talks: dict[int, TalkMarker] = {}
        for place, link in self.links.items():
            report = self.created[place]
            entries[len(writes)] = report
            writes.append(Create(TimelineEntry.of_event(report.event, link)))
        for talk in self.talks:
            talks[len(writes)] = talk
            writes.append(Create(talk))
        for day, changed in self.days.items():
            was = self.read[day]
            read_version = None if was is None else was.version
            if changed is None or changed == was:
                if day in self.told:
                    writes.append(CheckAgentDay(self.agent, day, read_version))
                continue
            written = self.days[day] = changed.written(stamp)
            writes.append(PutVersioned(written, read_version))
        return writes, entries, talks


class AgentStatsAggregator(AggregatorBase):
    name = "agent-stats"
    cmds = frozenset({"agentstate"})

    def prepare(self, items: list[dict[str, Any]]) -> None:
        """Nothing here: the stored links around an agent's events are read ahead as its events
        are folded (:meth:`_read_ahead`), once its days are read."""

    def touched(self, item: dict[str, Any]) -> set[Hashable]:
        if item.get("cmd") != "agentstate" or not item.get("agent"):
            return set()
        event = StoredEvent.from_item(item)
        day = str(item["day"])
        date.fromisoformat(day)  # a day that is no day fails this record alone, here: not the
        # agent's other events of the batch, folded with it, where the days around it are read
        return {AgentEvent(str(item["agent"]), day, event.key, event)}

    def refresh(
        self, reports: Iterable[Hashable], patience: backoff.Patience | None = None
    ) -> dict[Hashable, Exception]:
        failed: dict[Hashable, Exception] = {}
        window = AgentWindow(self._reports)
        patience = patience or backoff.Patience()
        events = sorted(
            (r for r in reports if isinstance(r, AgentEvent)), key=lambda r: (r.agent, r.event.order)
        )
        for _agent, group in itertools.groupby(events, key=lambda r: r.agent):
            pending = list(group)
            while pending:
                try:
                    done = self.apply_all(pending, window, patience)
                except Exception as exc:  # one agent's failure must not stop the batch
                    failed.update(dict.fromkeys(pending, exc))
                    break
                pending = pending[len(done) :]
        return failed

    def apply_all(
        self, reports: Sequence[AgentEvent], window: AgentWindow, patience: backoff.Patience | None = None
    ) -> list[AgentEvent]:
        """Insert an agent's events (in the order of events) into its chain, as many of the first
        as one transaction holds (at least one); returns those it handled: applied now, or found
        applied before."""
        agent = reports[0].agent
        patience = patience or backoff.Patience()
        attempt = throttled = 0
        applied_before: set[AgentEvent] = set()
        last: Cancelled | None = None
        while attempt < MAX_ATTEMPTS:
            attempt += 1
            try:
                # read and compute: the events inserted one after another onto what was read
                try:
                    fold = self._fold(reports, applied_before, window)
                except _StaleRead:
                    window.forget(agent)
                    continue
                writes, entries, talks = fold.writes(stamp(self.clock))
                # write, under conditions on what was read
                if entries:
                    self._reports.commit(writes)
            except Throttled as exc:
                window.forget(agent)
                throttled_wait(patience, throttled, exc)
                throttled += 1
                attempt -= 1  # throttling says nothing about the data: not a conflict
                continue
            except Cancelled as cancelled:
                last = cancelled
                found = {report for index, report in entries.items() if cancelled.failed(index)}
                # counted by an earlier delivery
                window.talked.update(talk for index, talk in talks.items() if cancelled.failed(index))
                window.forget(agent)
                if found - applied_before:
                    applied_before |= found  # stored by an earlier delivery: duplicates
                    attempt -= 1  # fewer events each time: this ends
                    continue
                backoff.after_conflict(attempt)
                continue
            if entries:
                window.remember(agent, fold.days, fold.board, fold.links)
                window.talked.update(fold.talks)
            self._board_after(max(fold.taken, key=lambda r: r.event.order), window, patience)
            return fold.taken
        raise Conflict(f"agent {agent}: gave up after {MAX_ATTEMPTS} conflicting attempts ({last})")

    def _fold(
        self, reports: Sequence[AgentEvent], applied_before: set[AgentEvent], window: AgentWindow
    ) -> _Fold:
        """The first of ``reports`` that fit in one transaction, inserted one after another."""
        agent = reports[0].agent
        fold: _Fold | None = None
        for index, report in enumerate(reports):
            around = [shift(report.day, -1), report.day, shift(report.day, 1)]
            if fold is not None and not fold.has_room(around):
                break
            # read: the day reports around the event and the board entry (kept for the batch)
            read, board = window.load(agent, around)
            if fold is None:
                fold = _Fold(agent, dict(read), dict(read), board)
            for day in around:
                if day not in fold.days:
                    fold.read[day] = fold.days[day] = read[day]
            fold.taken.append(report)
            if report in applied_before:
                continue
            sort_key = agent_stats.link_sort_key(report.event.time_ms, report.event.key)
            if (agent, report.day, sort_key) not in window.links and _inside(read[report.day], sort_key):
                self._read_ahead(reports[index:], applied_before, window)
            neighbours = self._neighbours(report, sort_key, fold, window)
            if neighbours is not None:
                self._insert(report, sort_key, neighbours, fold, window.talked)
        assert fold is not None
        return fold

    def _read_ahead(
        self, reports: Sequence[AgentEvent], applied_before: set[AgentEvent], window: AgentWindow
    ) -> None:
        """Read the stored links around the agent's next events of the batch that land inside
        their stored day (:meth:`_neighbours` asks for them): the same queries each would make
        on its own, ``LINK_READERS`` at a time, or a day's stretch between the first and the
        last of them in one read (:data:`RANGE_ENTRIES_PER_EVENT`). The batch's own
        transactions meanwhile are laid over them (:class:`AgentWindow`); a conflict forgets
        them, and the retry reads again."""
        agent = reports[0].agent
        wanted: dict[str, set[str]] = {}
        stored_days: dict[str, AgentDay | None] = {}
        for report in reports:
            if report in applied_before:
                continue
            around = [shift(report.day, -1), report.day, shift(report.day, 1)]
            read, _board = window.load(agent, around)  # as the fold will: kept for the batch
            sort_key = agent_stats.link_sort_key(report.event.time_ms, report.event.key)
            if (agent, report.day, sort_key) not in window.links and _inside(read[report.day], sort_key):
                wanted.setdefault(report.day, set()).add(sort_key)
                stored_days[report.day] = read[report.day]
        work: list[Callable[[], list[tuple[str, str, tuple[Link | None, Link | None]]]]] = []
        singles: list[tuple[str, str]] = []
        for day, keys in sorted(wanted.items()):
            stored = stored_days[day]
            if (
                len(keys) >= RANGE_EVENTS
                and stored is not None
                and stored.events <= RANGE_ENTRIES_PER_EVENT * len(keys)
            ):
                work.append(functools.partial(self._read_stretch, agent, day, sorted(keys)))
            else:
                singles += [(day, key) for key in sorted(keys)]
        readers = max(1, min(LINK_READERS - len(work), len(singles)))
        work += [
            functools.partial(self._read_links, agent, singles[start::readers])
            for start in range(readers)
            if singles[start::readers]
        ]
        found = [work[0]()] if len(work) == 1 else concurrency.side_by_side(work)
        for links in found:
            for day, key, around_key in links:
                window.links[(agent, day, key)] = around_key

    def _read_links(
        self, agent: str, wanted: list[tuple[str, str]]
    ) -> list[tuple[str, str, tuple[Link | None, Link | None]]]:
        return [(day, key, self._reports.links_around(agent, day, key)) for day, key in wanted]

    def _read_stretch(
        self, agent: str, day: str, keys: list[str]
    ) -> list[tuple[str, str, tuple[Link | None, Link | None]]]:
        """What :meth:`~acd_hub.ports.ReportsStore.links_around` gives for each of ``keys``
        (sorted), from one read of the links between the first and the last and the links
        beyond those two."""
        first, last = keys[0], keys[-1]
        before_first, _ = self._reports.links_around(agent, day, first)
        _, after_last = self._reports.links_around(agent, day, last)
        between = self._reports.links_between(agent, day, first, last)
        links = [link for link in (before_first, *between, after_last) if link is not None]
        places = [link.sort_key for link in links]
        found = []
        for key in keys:
            before, after = bisect.bisect_left(places, key), bisect.bisect_right(places, key)
            found.append(
                (
                    day,
                    key,
                    (links[before - 1] if before else None, links[after] if after < len(links) else None),
                )
            )
        return found

    def _board_after(self, report: AgentEvent, window: AgentWindow, patience: backoff.Patience) -> None:
        throttled = 0
        while True:
            try:
                self._show_on_board(report.event, report.agent, window)
            except Throttled as exc:
                throttled_wait(patience, throttled, exc)
                throttled += 1
                continue
            return

    def _neighbours(
        self, report: AgentEvent, sort_key: str, fold: _Fold, window: AgentWindow
    ) -> tuple[Link | None, int | None, set[str]] | None:
        """The applied predecessor, the successor's time, and the days whose reports told them
        (an absent report tells something too: nobody there); None if the event is applied."""
        read = fold.days
        earlier_day, later_day = shift(report.day, -1), shift(report.day, 1)
        earlier, today, later = read[earlier_day], read[report.day], read[later_day]
        after_ms = later.first.start_ms if later and later.first else None
        if today is None:
            return (earlier.last if earlier else None), after_ms, {earlier_day, later_day}
        first, last = today.first, today.last
        assert first is not None
        assert last is not None
        if sort_key in (first.sort_key, last.sort_key):
            return None
        if sort_key > last.sort_key:
            # an event inserted first into the next day takes today's last as its predecessor,
            # so it conditions on today too: today's version guards the successor here
            return last, after_ms, set()
        if sort_key < first.sort_key:
            return (earlier.last if earlier else None), first.start_ms, {earlier_day}
        # inside the day: the entries around it (an entry's end is the next one's start)
        stored = window.stored_links(report.agent, report.day, sort_key)
        if stored is None:  # not read ahead: landing inside the day by the batch's own insertions
            stored = self._reports.links_around(report.agent, report.day, sort_key)
        before, after = fold.around(report.day, sort_key, stored)
        if before is None or after is None:  # the day's first or last entry moved under us
            raise _StaleRead
        return replace(before, next_ms=after.start_ms), after.start_ms, set()

    def _insert(
        self,
        report: AgentEvent,
        sort_key: str,
        neighbours: tuple[Link | None, int | None, set[str]],
        fold: _Fold,
        talked: set[TalkMarker],
    ) -> None:
        """Insert one event into the fold: the milliseconds that move between states, the new
        link and the relinked predecessor, the day's first and last links, calls handled."""
        event, agent, day = report.event, report.agent, report.day
        zone = self._settings.report_zone
        before, after_ms, told = neighbours
        new = Link(
            day,
            sort_key,
            event.time_ms,
            event.state or "unknown",
            agent_stats.pause_reason_of(event.state, event.data),
        )
        moves, placed, relinked = agent_stats.insert_event(new, before, after_ms, zone)

        days = fold.days
        own = days[day] = days[day] or AgentDay.empty(agent, day, zone)
        if new.pause_reason is not None:  # the day's reasons grow by this one before any ms move
            admitted = own.totals()
            admitted.admit(new.pause_reason)
            days[day] = own.with_totals(admitted)
        for moved_day, entries in moves.items():
            target = days.get(moved_day)
            if target is None:
                # a link ends on a day read as empty: the days were read at different moments
                # (BatchGetItem is no snapshot; unprocessed keys come later), around another
                # shard's writer of this agent. Read again rather than fail the batch.
                raise _StaleRead
            totals = target.totals()
            for link, ms in entries:
                totals.add(link, ms, moved_day)
            days[moved_day] = target.with_totals(totals)
        today = days[day]
        assert today is not None
        days[day] = replace(
            today,
            events=today.events + 1,
            complete_to_ms=max(today.complete_to_ms or 0, event.time_ms),
            first=placed if today.first is None or sort_key < today.first.sort_key else today.first,
            last=placed if today.last is None or sort_key > today.last.sort_key else today.last,
        )
        if relinked is not None:
            owner = days[relinked.day]
            assert owner is not None
            days[relinked.day] = replace(
                owner,
                first=relinked if owner.first and owner.first.sort_key == relinked.sort_key else owner.first,
                last=relinked if owner.last and owner.last.sort_key == relinked.sort_key else owner.last,
            )
        fold.links[(day, sort_key)] = placed
        fold.created[(day, sort_key)] = report
        if event.state in vocabulary.TALK_STATES:
            talk = TalkMarker(agent, day, event.task_id) if event.task_id else None
            if talk is None or (talk not in talked and talk not in fold.talks):
                counted = days[day]
                assert counted is not None
                days[day] = replace(counted, calls_handled=counted.calls_handled + 1)
                if talk is not None:
                    fold.talks.append(talk)
        # A neighbour day this insertion read but does not change is checked only if it told
        # where the predecessor or the successor is (its absence included). One it only looked
        # at, as both neighbours of an event appended after today's last, needs no
        # ConditionCheck (billed as a transactional write): a change there that would matter
        # here goes through today, whose version is a condition already.
        fold.told |= told | {day}

    def _show_on_board(self, event: StoredEvent, agent: str, window: AgentWindow) -> None:
        """The board shows the agent's newest event: put the entry only if this one is newer
        than the one this batch knows of (the store checks again: a newer one stays). Outside
        the agent's transaction, after it (or after finding the event applied before, so a
        retry after a lost answer still shows it)."""
        board = window.boards.get(agent)
        if board is not None and board.order >= event.order:
            return
        entry = BoardEntry.of_event(event)
        if self._reports.show_on_board(entry):
            window.boards[agent] = entry
        else:
            window.boards.pop(agent, None)  # a newer one is there: read it with the next load
