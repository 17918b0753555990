"""A range of days (a day, a week, a month, any from-to) next to the period of the same length
just before it: per hotline the range's KPIs, the previous period's and the change, and a bar
per day. ``acd-report range`` prints it (``--format json`` is what the page shows), ``serve``
shows it on ``/range``. Reads (:func:`gather`) and drawing (:func:`render`) are separate: the
renderer reads nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from acd_cli import labels
from acd_cli.html_report import HEADLINE_KPIS, OUTCOME_SERIES, _draw, chart_spec, outcome_bars, template
from acd_cli.names import Names

if TYPE_CHECKING:
    from acd_cli.report_context import ReportContext
    from acd_cli.reporting import ReportQueries
    from acd_hub.reports.hotline_day import RangeKpis

PERIODS = ("day", "week", "month")
# A range longer than this is a job for an export, not a page (and 4 queries a day per hotline).
MAX_DAYS = 92


class RangeError(ValueError):
    """A range that cannot be shown, with why."""


def period_of(kind: str, day: str) -> tuple[str, str]:
    """The day, the week (Monday to Sunday) or the calendar month ``day`` is in."""
    moment = date.fromisoformat(day)
    if kind == "day":
        first = last = moment
    elif kind == "week":
        first = moment - timedelta(days=moment.weekday())
        last = first + timedelta(days=6)
    elif kind == "month":
        first = moment.replace(day=1)
        last = (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    else:
        raise RangeError(f"period: one of {', '.join(PERIODS)}")
    return first.isoformat(), last.isoformat()


def checked(first: str, last: str) -> tuple[str, str]:
    start, end = date.fromisoformat(first), date.fromisoformat(last)
    if end < start:
        raise RangeError(f"the range ends ({last}) before it starts ({first})")
    if (end - start).days + 1 > MAX_DAYS:
        raise RangeError(f"at most {MAX_DAYS} days in a range")
    if start - timedelta(days=(end - start).days + 1) < date(1, 1, 2):
        raise RangeError("day out of range")
    return first, last


def previous_of(first: str, last: str) -> tuple[str, str]:
    """The period of the same length just before ``first``..``last``."""
    start, end = date.fromisoformat(first), date.fromisoformat(last)
    length = (end - start).days + 1
    return (start - timedelta(days=length)).isoformat(), (start - timedelta(days=1)).isoformat()


@dataclass
class RangeReport:
    first: str
    last: str
    previous: tuple[str, str]
    hotlines: dict[str, tuple[RangeKpis | None, RangeKpis | None]]  # hotline -> (range, previous)
    names: Names = field(default_factory=Names)

    def as_dict(self) -> list[dict[str, Any]]:
        """What ``acd-report range --format json`` prints: per hotline the range and the previous."""
        return [
            {
                "hotline": hotline,
                "from": self.first,
                "to": self.last,
                "figures": now.figures.as_dict() if now else None,
                "days": [d.as_dict() for d in now.days] if now else [],
                "previous": {
                    "from": self.previous[0],
                    "to": self.previous[1],
                    "figures": before.figures.as_dict() if before else None,
                },
            }
            for hotline, (now, before) in self.hotlines.items()
        ]


def gather(reports: ReportQueries, hotlines: Sequence[str], first: str, last: str) -> RangeReport:
    """Every read of the range page: each hotline's range and previous period."""
    first, last = checked(first, last)
    previous = previous_of(first, last)
    return RangeReport(
        first=first,
        last=last,
        previous=previous,
        hotlines={
            hotline: (reports.kpis_range(hotline, first, last), reports.kpis_range(hotline, *previous))
            for hotline in hotlines
        },
    )


def _change(name: str, now: Any, before: Any) -> tuple[str, str]:
    """The change in words and whether it is for the better (service level up, the rest down
    for rates and times; counts have no better)."""
    if not isinstance(now, (int, float)) or not isinstance(before, (int, float)):
        return "", ""
    delta = now - before
    unit = labels.KPI_BY_NAME[name].unit
    if unit == "percent":
        text = f"{delta:+.1f} points"
    elif unit == "seconds":
        text = ("+" if delta >= 0 else "−") + labels.kpi_text(name, abs(delta))
    else:
        text = f"{delta:+d}" if isinstance(delta, int) else f"{delta:+g}"
    if delta == 0 or unit == "count":
        return text, ""
    better = delta > 0 if name == "service_level_pct" else delta < 0
    return text, "better" if better else "worse"


def day_chart(report: RangeKpis | None) -> str:
    """Offered, answered and abandoned per day of the range."""
    import altair as alt  # noqa: PLC0415 - only when a page is drawn

    rows = [
        {
            "day": d.day[5:],
            "series": series,
            "value": getattr(d.figures, series),
            "description": f"{series} {d.day}: {getattr(d.figures, series)}",
        }
        for d in (report.days if report else [])
        for series in OUTCOME_SERIES
    ]
    chart = outcome_bars("days", "calls per day", alt.X("day:O", title=None, axis=alt.Axis(labelAngle=0)))
    chart = chart.properties(width=max(240, 40 * len({r["day"] for r in rows})), height=180)
    return _draw(chart_spec(chart), {"days": rows})


def render(report: RangeReport) -> str:
    """The page (a complete HTML document)."""
    hotlines = []
    for hotline, (now, before) in report.hotlines.items():
        figures = now.figures.as_dict() if now else {}
        previous = before.figures.as_dict() if before else {}
        cards = []
        for name in HEADLINE_KPIS:
            kpi = labels.KPI_BY_NAME[name]
            change, quality = _change(name, figures.get(name), previous.get(name))
            cards.append(
                {
                    "name": name,
                    "label": kpi.label,
                    "text": kpi.show(figures.get(name)),
                    "raw": "null" if figures.get(name) is None else figures.get(name),
                    "previous": kpi.show(previous.get(name)),
                    "previous_raw": "null" if previous.get(name) is None else previous.get(name),
                    "change": change,
                    "quality": quality,
                }
            )
        hotlines.append(
            {
                "id": hotline,
                "title": report.names.hotline(hotline),
                "found": now is not None,
                "cards": cards,
                "chart": day_chart(now) if now else "",
            }
        )
    return template("range_report.html.j2").render(
        first=report.first, last=report.last, previous=report.previous, hotlines=hotlines
    )


def range_hotlines(report: ReportContext, hotlines: Sequence[str], last: str) -> list[str]:
    """The hotlines of a range: those asked for, else the operator's named ones, else those with
    calls on its last day, or today when the range ends later (the current week or month: its
    last day has no calls yet). A listing per day of a long range would be a query per day and
    shard."""
    if hotlines:
        return list(hotlines)
    named = sorted(report.names.hotlines, key=lambda h: (not h.isdigit(), int(h) if h.isdigit() else 0, h))
    return named or report.queries.inbound_hotlines(min(last, report.today()))
