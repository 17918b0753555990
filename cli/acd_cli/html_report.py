"""The day report as one self-contained HTML file: per hotline the day's KPIs as big numbers, a
15-minute chart and the outcome breakdown; per agent a timeline of the day, time per state and
pause reason, and the calls handled; the report's freshness and its time zone.

Charts are Vega-Lite specifications (built with altair) rendered to SVG in this process by
``vl-convert`` (Vega's own renderer, embedded): the file holds finished SVG and no script, so it
opens offline, from disk or as an e-mail attachment, and needs no charting library in the
reader's browser. A default simulated day (12 agents, 300 calls) is 652 KB (66 KB gzipped).

Everything a person reads comes from :mod:`acd_cli.labels`, so the words, units and colours are
those of the ``acd-report`` tables and the wallboard. The figures are the read API's
(:class:`acd_cli.reporting.ReportQueries`), unchanged: the page only lays them out. Each figure and
chart carries ``data-*`` attributes and ARIA labels with its raw value, which the browser tests
compare with ``acd-report ... --format json``.
"""

from __future__ import annotations

import contextlib
import functools
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from acd_cli import labels
from acd_cli.names import Names
from acd_cli.output import duration, local_time, parse_utc

if TYPE_CHECKING:
    import altair as alt
    import jinja2

    from acd_cli.reporting import EventQueries, ReportQueries
    from acd_hub.agent_stats import StateInterval
    from acd_hub.reports.agent_day import AgentDayReport
    from acd_hub.reports.call import CallSummary
    from acd_hub.reports.freshness import Freshness
    from acd_hub.reports.hotline_day import HotlineKpis

INTERVAL = timedelta(minutes=15)
# Calls without a hotline (the dialer's) are listed under this one.
OUTBOUND_LISTING = "none"
DEFAULT_SL_TARGET_PCT = 80.0
# An interval whose service level counts fewer calls than this (answered + abandoned) swings
# between 0 and 100 % on one call: its point is drawn hollow and grey, and says so.
DEFAULT_MIN_SL_CALLS = 5
CHART_WIDTH = 900
# The big numbers at the top of each hotline, in reading order.
HEADLINE_KPIS = (
    "offered",
    "answered",
    "abandoned",
    "service_level_pct",
    "abandon_rate_pct",
    "asa_s",
    "aht_s",
)
# A pause shorter than this has no room for its reason on the timeline (it still has its ARIA
# label and the per-reason table).
PAUSE_LABEL_MIN_HOURS = 0.35


def freshness_text(freshness: Freshness, zone: ZoneInfo) -> str:
    """``complete to 2026-11-18 14:03:10; last batch waited 0:02 in the stream``.

    ``behind_s`` is how long the latest batch's oldest record had waited when it was processed:
    it keeps that value while the stream is idle, so it is told as what it is, not as a lag now.
    """
    complete_to = local_time(freshness.complete_to, zone, "%Y-%m-%d %H:%M:%S")
    text = f"complete to {complete_to}" if complete_to else "not yet marked complete to any moment"
    behind = duration(freshness.behind_s)
    if behind is not None:
        text += f"; last batch waited {behind} in the stream"
        if freshness.catching_up:
            text += " (catching up)"
    return text


# -- the day's shape ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Slot:
    index: int
    start: datetime  # aware, UTC
    label: str  # wall clock in the reporting zone, HH:MM


def day_bounds(day: str, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The day's first and last instant (exclusive) as UTC: 23, 24 or 25 hours."""
    first = date.fromisoformat(day)
    start = datetime.combine(first, datetime.min.time(), zone).astimezone(UTC)
    end = datetime.combine(first + timedelta(days=1), datetime.min.time(), zone).astimezone(UTC)
    return start, end


def day_slots(day: str, zone: ZoneInfo) -> list[Slot]:
    """The day's 15-minute intervals in the reporting zone: 96, or 92/100 on a DST day."""
    start, end = day_bounds(day, zone)
    slots: list[Slot] = []
    moment = start
    while moment < end:
        slots.append(Slot(len(slots), moment, moment.astimezone(zone).strftime("%H:%M")))
        moment += INTERVAL
    return slots


def busy_slots(slots: Sequence[Slot], reports: Iterable[HotlineKpis | None]) -> list[Slot]:
    """The slots of the whole hours from the first to the last interval with an offered call
    of any of the hotlines (the same hours for every chart, so they line up); every slot when
    no call came."""
    starts = set()
    for report in reports:
        for interval in report.intervals if report else []:
            moment = parse_utc(interval.start)
            if moment is not None and interval.figures.offered:
                starts.add(moment.astimezone(UTC))
    busy = [slot.index for slot in slots if slot.start in starts]
    if not busy:
        return list(slots)
    first = busy[0] - busy[0] % 4
    last = busy[-1] - busy[-1] % 4 + 3
    return [slot for slot in slots if first <= slot.index <= last]


def _hour_ticks(day: str, zone: ZoneInfo) -> dict[int, str]:
    """Hours since the day's start -> the wall-clock hour there (``"07:00"``), DST included."""
    start, end = day_bounds(day, zone)
    ticks: dict[int, str] = {}
    moment = start
    while moment <= end:
        ticks[round((moment - start).total_seconds() / 3600)] = moment.astimezone(zone).strftime("%H:%M")
        moment += timedelta(hours=1)
    return ticks


def _label_lookup(mapping: Mapping[Any, str], key: str = "datum.value") -> str:
    """A Vega expression mapping axis values to our own labels (the axis keeps its numbers)."""
    pairs = ", ".join(f"'{value}': '{text}'" for value, text in mapping.items())
    return f"({{{pairs}}})[''+{key}] || ''"


# -- charts ---------------------------------------------------------------------------------------


def _draw(spec: Mapping[str, Any], datasets: Mapping[str, list[dict[str, Any]]]) -> str:
    """Draw a chart's specification (:func:`chart_spec`) with its rows: its layers name their
    rows (``alt.NamedData``), which go into the specification's ``datasets`` as they are.
    Altair never holds them, so it neither copies nor converts every row for each layer (that
    was most of the drawing time of a default day), and a specification shared by several
    charts is built once."""
    import vl_convert  # noqa: PLC0415 - ~40 MB of renderer: loaded when a report is drawn

    whole = {**spec, "datasets": {**spec.get("datasets", {}), **datasets}}
    svg: str = vl_convert.vegalite_to_svg(xml_safe(whole))
    return svg


# What XML 1.0 cannot hold: C0 controls but tab and line breaks, surrogates, U+FFFE and U+FFFF.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_safe(value: Any) -> Any:
    """``value`` with every such character in its strings shown as U+FFFD. The renderer measures
    a chart's text as SVG: one of them in a name or a pause reason (U+FFFF passes the ingest's
    control check; a names file may spell ESC) made it panic and abort the whole process, so a
    day report took ``serve``, ``html`` or the board's function down with it."""
    if isinstance(value, str):
        return _NOT_XML.sub("\ufffd", value)
    if isinstance(value, Mapping):
        return {key: xml_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [xml_safe(item) for item in value]
    return value


def chart_spec(chart: alt.TopLevelMixin) -> dict[str, Any]:
    """The Vega-Lite specification of ``chart``. Not validated against the schema here (it
    took longer than drawing); the unit tests validate each chart's with its rows."""
    spec: dict[str, Any] = chart.to_dict(validate=False)
    return spec


@functools.cache
def warm_up() -> None:
    """Load the chart libraries and start the renderer (once a process): its first drawing
    costs a second or two more than the next."""
    import altair as alt  # noqa: PLC0415
    import vl_convert  # noqa: PLC0415

    vl_convert.vegalite_to_svg(alt.Chart(alt.Data(values=[{"x": 1}])).mark_point().encode(x="x:Q").to_dict())


@contextlib.contextmanager
def warming_up() -> Iterator[None]:
    """:func:`warm_up` in a thread while the block runs (the report's reads, which mostly wait
    for the table): drawing then starts warm. A failure there is left for the drawing to meet
    and report."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="acd-warm-up") as pool:
        pool.submit(warm_up)
        yield


def _interval_rows(
    report: HotlineKpis | None, slots: Sequence[Slot], min_sl_calls: int = DEFAULT_MIN_SL_CALLS
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Bars (one row per interval and series) and the service-level line (null where no call
    counts towards it, so the line breaks there rather than showing 0 or 100); ``few`` marks a
    level of fewer than ``min_sl_calls`` calls."""
    by_start: dict[datetime, Mapping[str, Any]] = {}
    for interval in report.intervals if report else []:
        moment = parse_utc(interval.start)
        if moment is not None:
            by_start[moment.astimezone(UTC)] = interval.figures.as_dict()
    bars: list[dict[str, Any]] = []
    line: list[dict[str, Any]] = []
    for slot in slots:
        figures = by_start.get(slot.start, {})
        for series in ("offered", "answered", "abandoned"):
            value = int(figures.get(series) or 0)
            bars.append(
                {
                    "slot": slot.index,
                    "series": series,
                    "value": value,
                    "description": f"{series} {slot.label}: {value}",
                }
            )
        level = figures.get("service_level_pct")
        counted = int(figures.get("answered") or 0) + int(figures.get("abandoned") or 0)
        few = level is not None and counted < min_sl_calls
        text = f"service level {slot.label}: {labels.kpi_text('service_level_pct', level)}"
        if few:
            text += f" (only {counted} call{'s' if counted != 1 else ''}: too few to judge)"
        line.append({"slot": slot.index, "sl": level, "few": few, "description": text})
    return bars, line


def interval_chart(
    report: HotlineKpis | None,
    slots: Sequence[Slot],
    target_pct: float,
    min_sl_calls: int = DEFAULT_MIN_SL_CALLS,
) -> str:
    """Offered, answered and abandoned per 15 minutes as bars; service level % as a line on its
    own axis, with the target drawn; a level of too few calls as a hollow grey point."""
    bars, line = _interval_rows(report, slots, min_sl_calls)
    hours = tuple((slot.index, slot.label) for slot in slots if slot.label.endswith(":00"))
    return _draw(interval_spec(hours, target_pct), {"bars": bars, "line": line})


OUTCOME_SERIES = ("offered", "answered", "abandoned")


def outcome_bars(data: str, description: str, x: Any) -> Any:
    """Offered, answered and abandoned calls side by side per ``x`` (the rows of the named
    dataset ``data``: ``series``, ``value``, ``description``): the day report's intervals and
    the range report's days."""
    import altair as alt  # noqa: PLC0415 - only when a report is drawn

    series = list(OUTCOME_SERIES)
    colours = [labels.OFFERED_COLOUR, labels.OUTCOMES["answered"].colour, labels.OUTCOMES["abandoned"].colour]
    return (
        alt.Chart(alt.NamedData(name=data), description=description)
        .mark_bar()
        .encode(
            x=x,
            xOffset=alt.XOffset("series:N", sort=series),
            y=alt.Y("value:Q", title="calls", axis=alt.Axis(tickMinStep=1)),
            color=alt.Color(
                "series:N",
                scale=alt.Scale(domain=series, range=colours),
                legend=alt.Legend(orient="top", title=None),
            ),
            description="description:N",
        )
    )


@functools.cache
def interval_spec(hours: tuple[tuple[int, str], ...], target_pct: float) -> dict[str, Any]:
    """The interval chart's specification without its rows: the same for every hotline of a
    report (the same hours and target), so built once (not to be changed: it is shared)."""
    import altair as alt  # noqa: PLC0415 - only when a report is drawn

    x = alt.X(
        "slot:O",
        title=None,
        axis=alt.Axis(labelExpr=_label_lookup(dict(hours)), labelAngle=0, ticks=False, labelOverlap=False),
    )
    bar_layer = outcome_bars("bars", "calls per 15 minutes", x)
    percent = alt.Scale(domain=[0, 100])
    line_base = alt.Chart(alt.NamedData(name="line")).encode(
        x=x, y=alt.Y("sl:Q", scale=percent, title="service level %")
    )
    sl_line = line_base.mark_line(
        color=labels.SERVICE_LEVEL_COLOUR, invalid="break-paths-filter-domains", aria=False
    )
    sl_points = line_base.mark_point(size=40, invalid="filter").encode(
        color=alt.condition(
            "datum.few", alt.value(labels.FEW_CALLS_COLOUR), alt.value(labels.SERVICE_LEVEL_COLOUR)
        ),
        fill=alt.condition("datum.few", alt.value("white"), alt.value(labels.SERVICE_LEVEL_COLOUR)),
        description="description:N",
    )
    target = alt.Data(values=[{"target": target_pct, "text": f"target {target_pct:g} %"}])
    target_rule = (
        alt.Chart(target)
        .mark_rule(strokeDash=[6, 4], color=labels.SERVICE_LEVEL_COLOUR)
        .encode(y=alt.Y("target:Q", scale=percent, title="service level %"))
    )
    target_text = (
        alt.Chart(target)
        .mark_text(align="right", dy=-6, color=labels.SERVICE_LEVEL_COLOUR, x="width")
        .encode(y=alt.Y("target:Q", scale=percent, title="service level %"), text="text:N")
    )
    chart = (
        alt.layer(bar_layer, alt.layer(sl_line, sl_points, target_rule, target_text))
        .resolve_scale(y="independent")
        .properties(width=CHART_WIDTH, height=240)
    )
    return chart_spec(chart)


def outcome_chart(figures: Mapping[str, Any]) -> str:
    """What became of the offered calls, one bar per outcome."""
    rows = [
        {
            "outcome": labels.outcome_label(name),
            "calls": int(figures.get(name) or 0),
            "description": f"{labels.outcome_label(name)}: {int(figures.get(name) or 0)}",
        }
        for name in labels.OUTCOME_KPIS
    ]
    return _draw(outcome_spec(), {"outcomes": rows})


@functools.cache
def outcome_spec() -> dict[str, Any]:
    """The outcome chart's specification without its rows (the same for every hotline; shared)."""
    import altair as alt  # noqa: PLC0415

    order = [labels.outcome_label(name) for name in labels.OUTCOME_KPIS]
    colours = [labels.OUTCOMES[name].colour for name in labels.OUTCOME_KPIS]
    base = alt.Chart(alt.NamedData(name="outcomes")).encode(
        y=alt.Y("outcome:N", sort=order, title=None),
        x=alt.X("calls:Q", title="calls", axis=alt.Axis(tickMinStep=1)),
    )
    bars = base.mark_bar().encode(
        color=alt.Color("outcome:N", scale=alt.Scale(domain=order, range=colours), legend=None),
        description="description:N",
    )
    text = base.mark_text(align="left", dx=4).encode(text="calls:Q")
    return chart_spec((bars + text).properties(width=360, height=150))


def _spans(
    agent: str,
    timeline: Iterable[StateInterval],
    bounds: tuple[datetime, datetime],
    now: datetime,
    zone: ZoneInfo,
    *,
    shown: tuple[datetime, datetime] | None = None,
) -> list[dict[str, Any]]:
    """An agent's state intervals as hours since the day's start (``bounds``), cut to the hours
    ``shown``; an open one runs to now (or the day's end, for a past day)."""
    start, end = bounds
    first, last = shown or bounds
    spans: list[dict[str, Any]] = []
    for interval in timeline:
        since = _moment(interval.start_ms)
        until = min(now, end) if interval.end_ms is None else _moment(interval.end_ms)
        if until <= since or until <= first or since >= last:
            continue
        state = interval.state
        reason = interval.pause_reason
        x0 = (max(since, start, first) - start).total_seconds() / 3600
        x1 = (min(until, end, last) - start).total_seconds() / 3600
        text = labels.state_text(state, reason)
        key, outbound = labels.timeline_key(state)
        spans.append(
            {
                "agent": agent,
                "state": key.text,
                "direction": "outbound" if outbound else "inbound",
                "x0": round(x0, 5),
                "x1": round(x1, 5),
                "reason": reason if reason and x1 - x0 >= PAUSE_LABEL_MIN_HOURS else "",
                "description": (
                    f"{agent} {text} {since.astimezone(zone):%H:%M:%S}-{until.astimezone(zone):%H:%M:%S}"
                ),
            }
        )
    return spans


def _moment(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def working_hours(
    agents: Mapping[str, AgentDayReport],
    slots: Sequence[Slot],
    bounds: tuple[datetime, datetime],
    now: datetime,
) -> tuple[datetime, datetime]:
    """The whole hours of the day in which an agent was logged on or a call came (``slots``,
    the busy ones): the timeline shows those, not the empty night."""
    start, end = bounds
    moments = [slot.start for slot in slots] + ([slots[-1].start + INTERVAL] if slots else [])
    for report in agents.values():
        for interval in report.timeline or []:
            if str(interval.state).lower() == "offline":
                continue
            since = _moment(interval.start_ms)
            until = min(now, end) if interval.end_ms is None else _moment(interval.end_ms)
            moments += [max(since, start), min(max(until, since), end)]
    if not moments:
        return bounds
    hour = timedelta(hours=1)
    first = start + ((min(moments) - start) // hour) * hour
    last = start + -((start - max(moments)) // hour) * hour
    return first, max(last, first + hour)


def timeline_chart(
    agents: Mapping[str, AgentDayReport],
    day: str,
    zone: ZoneInfo,
    now: datetime,
    *,
    shown: tuple[datetime, datetime] | None = None,
    names: Names | None = None,
) -> str:
    """One row per agent (number and name), each state a coloured span across the hours
    ``shown`` (default: the whole day), pauses with their reason."""
    import altair as alt  # noqa: PLC0415

    start, end = day_bounds(day, zone)
    first, last = shown or (start, end)
    names = names or Names()
    titles = [names.agent(agent) for agent in agents]
    rows = [
        span
        for agent, report in agents.items()
        for span in _spans(
            names.agent(agent), report.timeline or [], (start, end), now, zone, shown=(first, last)
        )
    ]
    seen = {row["state"] for row in rows}
    known = [*labels.STATES.values(), labels.NOT_REACHED]
    domain = [label.text for label in known if label.text in seen]
    colours = [label.colour for label in known if label.text in seen]
    extra = sorted(seen.difference(domain))  # a state the spec does not list: grey, still shown
    directions = [d for d in ("inbound", "outbound") if any(row["direction"] == d for row in rows)]
    lo, hi = (first - start).total_seconds() / 3600, (last - start).total_seconds() / 3600
    ticks = {hour: text for hour, text in _hour_ticks(day, zone).items() if lo <= hour <= hi}
    x = alt.X(
        "x0:Q",
        title=f"time of day ({zone.key})",
        scale=alt.Scale(domain=[lo, hi], nice=False),
        axis=alt.Axis(values=list(ticks), labelExpr=_label_lookup(ticks), grid=True),
    )
    base = alt.Chart(alt.NamedData(name="spans"))
    spans = base.mark_bar(height={"band": 0.8}).encode(
        x=x,
        x2="x1:Q",
        y=alt.Y("agent:N", title="agent", sort=titles),
        color=alt.Color(
            "state:N",
            scale=alt.Scale(domain=domain + extra, range=colours + [labels.UNKNOWN_COLOUR] * len(extra)),
            legend=alt.Legend(orient="top", title=None, columns=8, symbolType="square", labelLimit=0),
        ),
        opacity=alt.Opacity(
            "direction:N",
            scale=alt.Scale(domain=["inbound", "outbound"], range=[1.0, 0.5]),
            legend=alt.Legend(orient="top", title=None, symbolType="square", values=directions)
            if len(directions) > 1
            else None,
        ),
        description="description:N",
    )
    reasons = (
        base.transform_filter("datum.reason != ''")
        .transform_calculate(middle="(datum.x0 + datum.x1) / 2")
        .mark_text(color="white", fontSize=10, fontWeight="bold")
        .encode(x="middle:Q", y=alt.Y("agent:N", sort=titles), text="reason:N")
    )
    chart = (spans + reasons).properties(width=CHART_WIDTH, height=max(60, 26 * len(agents)))
    return _draw(chart_spec(chart), {"spans": rows})


# -- the page -------------------------------------------------------------------------------------


@dataclass
class DayReport:
    """What the page shows, read from the reports table."""

    day: str
    zone: ZoneInfo
    hotlines: dict[str, HotlineKpis | None]
    agents: dict[str, AgentDayReport]
    freshness: Freshness
    generated_at: datetime
    sl_target_pct: float = DEFAULT_SL_TARGET_PCT
    missing_agents: list[str] = field(default_factory=list)
    min_sl_calls: int = DEFAULT_MIN_SL_CALLS
    # the operator's names, shown beside the numbers (not read from the tables: see names.py)
    names: Names = field(default_factory=Names)
    # the dialer's calls of the day (the listing of calls without a hotline)
    outbound: list[CallSummary] = field(default_factory=list)


def outbound_figures(calls: list[CallSummary]) -> dict[str, Any]:
    """The dialer's day from its calls (``acd-report calls --hotline none``): calls dialed,
    connected with a customer or not, the connect rate and the mean talk time of the connected
    ones. The reports keep no counters for outbound calls; the listing is their record."""
    outbound = [call for call in calls if call.direction == "outbound"]
    connected = [call for call in outbound if call.outcome == "connected"]
    # An outbound summary keeps no talk time (``talk_s`` is an inbound figure, None here), so the
    # mean of ``talk_s`` was always empty: a connected call talks from the customer's answer
    # (BConnected) to its end.
    talks = [talk for call in connected if (talk := _outbound_talk_s(call)) is not None]
    return {
        "dialed": len(outbound),
        "connected": len(connected),
        "not_connected": sum(1 for call in outbound if call.outcome == "not_connected"),
        "connect_rate_pct": round(100 * len(connected) / len(outbound), 1) if outbound else None,
        "avg_talk_s": round(sum(talks) / len(talks), 2) if talks else None,
    }


def _outbound_talk_s(call: CallSummary) -> float | None:
    """A connected outbound call's seconds from the customer's answer to its end (None while it
    goes on, or when its times contradict each other)."""
    answered, ended = parse_utc(call.answered or ""), parse_utc(call.ended or "")
    if answered is None or ended is None or ended < answered:
        return None
    return (ended - answered).total_seconds()


def day_hotlines(reports: ReportQueries, events: EventQueries, day: str) -> list[str]:
    """The hotlines with KPIs on ``day``: the reports table's listing of the day
    (:meth:`ReportQueries.day_hotlines`, one query); for a day aggregated before that listing
    was written (none listed), those that got an inbound call, from the day's call events
    (:meth:`EventQueries.inbound_hotlines`, a read of every call event of the day)."""
    return reports.day_hotlines(day) or events.inbound_hotlines(day)


def gather(
    reports: ReportQueries,
    events: EventQueries,
    day: str,
    zone: ZoneInfo,
    *,
    hotlines: Sequence[str] = (),
    agents: Sequence[str] = (),
    now: datetime | None = None,
    sl_target_pct: float = DEFAULT_SL_TARGET_PCT,
    min_sl_calls: int = DEFAULT_MIN_SL_CALLS,
) -> DayReport:
    """Read a day: the given hotlines and agents, or every hotline with calls that day and every
    agent on the live board with statistics for it.

    Every read of the page happens here (``render`` reads nothing). The independent ones run at
    once: the day's hotlines and then their KPIs beside the board and then the agents' days (one
    batch and a query per timeline), and the freshness."""
    with ThreadPoolExecutor(max_workers=3, thread_name_prefix="acd-gather") as pool:
        freshness = pool.submit(reports.freshness)
        outbound = pool.submit(reports.calls, OUTBOUND_LISTING, day)
        kpis = pool.submit(lambda: reports.kpis_of(list(hotlines) or day_hotlines(reports, events, day), day))
        chosen_agents = list(agents) or [str(entry.agent) for entry in reports.board()]
        agent_days = reports.agent_days(chosen_agents, day)
        # asked for by name: say it has nothing, rather than leave it out
        missing = [agent for agent in agents if agent.strip() not in agent_days]
        return DayReport(
            day=day,
            zone=zone,
            hotlines=kpis.result(),
            agents=agent_days,
            freshness=freshness.result(),
            generated_at=now or datetime.now(UTC),
            sl_target_pct=sl_target_pct,
            missing_agents=missing,
            min_sl_calls=min_sl_calls,
            outbound=outbound.result(),
        )


def _kpi_cards(figures: Mapping[str, Any], target_pct: float) -> list[dict[str, Any]]:
    cards = []
    for name in HEADLINE_KPIS:
        kpi = labels.KPI_BY_NAME[name]
        value = figures.get(name)
        note = ""
        status = ""
        if name == "service_level_pct":
            note = f"target {target_pct:g} %"
            if isinstance(value, (int, float)):
                status = "met" if value >= target_pct else "missed"
        cards.append(
            {
                "name": name,
                "label": kpi.label,
                "text": kpi.show(value),
                "raw": "null" if value is None else value,
                "note": note,
                "status": status,
            }
        )
    return cards


def _agent_rows(report: DayReport) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[str], list[str]]:
    """Time per state and per pause reason: one row per agent, one column per state/reason seen."""
    states_seen = {s for a in report.agents.values() for s in a.state_seconds}
    reasons_seen = sorted({r for a in report.agents.values() for r in a.pause_seconds})
    states = [s for s in labels.STATES if s in states_seen] + sorted(states_seen.difference(labels.STATES))
    state_rows = []
    pause_rows = []
    for agent, day in report.agents.items():
        seconds, pauses = day.state_seconds, day.pause_seconds
        handling = day.handling()
        state_rows.append(
            {
                "agent": agent,
                "title": report.names.agent(agent),
                "calls": day.calls_handled,
                "aht": (handling["aht_s"], labels.kpi_text("aht_s", handling["aht_s"])),
                "occupancy": (
                    handling["occupancy_pct"],
                    labels.kpi_text("service_level_pct", handling["occupancy_pct"]),
                ),
                "cells": [(s, seconds.get(s), duration(seconds.get(s)) or "") for s in states],
                "total": duration(sum(seconds.values())) or "0:00",
            }
        )
        if pauses:
            pause_rows.append(
                {
                    "agent": agent,
                    "title": report.names.agent(agent),
                    "cells": [(r, pauses.get(r), duration(pauses.get(r)) or "") for r in reasons_seen],
                }
            )
    return state_rows, pause_rows, states, reasons_seen


@functools.cache
def template(name: str) -> jinja2.Template:
    """A page template, compiled once per process (``serve`` renders pages again and again)."""
    import jinja2  # noqa: PLC0415

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("acd_cli", "templates"),
        autoescape=jinja2.select_autoescape(default=True),
        undefined=jinja2.StrictUndefined,
    )
    return env.get_template(name)


def render(report: DayReport, *, links: bool = False) -> str:
    """The page (a complete HTML document). ``links``: served by ``serve``, each hotline links to
    its calls (the file of ``acd-report html`` stands alone, so it has none)."""
    slots = busy_slots(day_slots(report.day, report.zone), report.hotlines.values())
    hotlines = []
    for hotline, found in report.hotlines.items():
        figures = found.day.as_dict() if found else {}
        hotlines.append(
            {
                "id": hotline,
                "title": report.names.hotline(hotline),
                "calls_href": f"/calls?hotline={hotline}&day={report.day}" if links else "",
                "found": found is not None,
                "sl_seconds": found.sl_seconds if found else None,
                "cards": _kpi_cards(figures, report.sl_target_pct),
                "outcomes": [
                    (name, labels.outcome_label(name), int(figures.get(name) or 0))
                    for name in labels.OUTCOME_KPIS
                ],
                "interval_chart": interval_chart(found, slots, report.sl_target_pct, report.min_sl_calls),
                "outcome_chart": outcome_chart(figures),
            }
        )
    state_rows, pause_rows, states, reasons = _agent_rows(report)
    dialer = outbound_figures(report.outbound)
    dialer_cards = [
        (name, label, dialer[name], text(dialer[name]))
        for name, label, text in (
            ("dialed", "dialed", str),
            ("connected", "connected", str),
            ("not_connected", "not connected", str),
            ("connect_rate_pct", "connect rate", lambda v: labels.kpi_text("service_level_pct", v)),
            ("avg_talk_s", "average talk time", lambda v: labels.kpi_text("avg_talk_s", v)),
        )
    ]
    return template("day_report.html.j2").render(
        day=report.day,
        zone=report.zone.key,
        generated=report.generated_at.astimezone(report.zone).strftime("%Y-%m-%d %H:%M:%S"),
        freshness=freshness_text(report.freshness, report.zone),
        complete_to=report.freshness.complete_to or "",
        slots=len(slots),
        first_slot=slots[0].label if slots else "",
        last_slot=(slots[-1].start + INTERVAL).astimezone(report.zone).strftime("%H:%M") if slots else "",
        min_sl_calls=report.min_sl_calls,
        hotlines=hotlines,
        timeline=timeline_chart(
            report.agents,
            report.day,
            report.zone,
            report.generated_at,
            shown=working_hours(
                report.agents, slots, day_bounds(report.day, report.zone), report.generated_at
            ),
            names=report.names,
        )
        if report.agents
        else "",
        agents=state_rows,
        pauses=pause_rows,
        states=[(s, labels.state_label(s), labels.state_colour(s)) for s in states],
        reasons=reasons,
        missing_agents=report.missing_agents,
        dialer=dialer_cards,
    )
