"""``serve``'s drill-down: from a hotline's day to its calls (``/calls?hotline=&day=``) and from a
call to its events (``/call?task=``). Pure renderers, data in and HTML out (the reads are the
caller's: :class:`acd_cli.reporting.ReportQueries.calls` and ``.call``,
:meth:`acd_cli.reporting.EventQueries.events_by_call`), so a deployed board can serve the same
pages. Each row carries its raw figures in ``data-*`` attributes, as ``acd-report calls`` and
``acd-report events --call`` print them with ``--format json``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from acd_cli import labels
from acd_cli.html_report import template
from acd_cli.names import Names
from acd_cli.output import duration, local_time

if TYPE_CHECKING:
    from acd_hub.reports.call import CallSummary


def _raw(value: object) -> str:
    return "null" if value is None else str(value)


def calls_page(
    hotline: str, day: str, calls: Sequence[CallSummary], zone: ZoneInfo, names: Names | None = None
) -> str:
    """One hotline's calls of a day, by start, each linked to its events."""
    names = names or Names()
    rows = [
        {
            "task_id": call.task_id,
            "href": "/call?" + urlencode({"task": call.task_id}),
            "started": local_time(call.started, zone, "%H:%M:%S") or "",
            "direction": call.direction,
            "outcome": call.outcome,
            "outcome_text": labels.outcome_label(call.outcome),
            "wait": (_raw(call.wait_s), duration(call.wait_s) or "–"),
            "talk": (_raw(call.talk_s), duration(call.talk_s) or "–"),
            "agents": ", ".join(names.agent(agent) for agent in call.agents),
        }
        for call in calls
    ]
    return template("calls.html.j2").render(
        hotline=hotline,
        title=names.hotline(hotline) if hotline != "none" else "none (the dialer's calls)",
        day=day,
        zone=zone.key,
        rows=rows,
        report_href="/report?" + urlencode({"day": day}),
    )


def call_page(
    task_id: str,
    summary: CallSummary | None,
    events: Sequence[Mapping[str, Any]],
    *,
    zone: ZoneInfo,
    details: Callable[[Mapping[str, Any]], str],
    names: Names | None = None,
) -> str:
    """One call: its summary and every stored event, in event time order."""
    names = names or Names()
    rows = [
        {
            "time": local_time(event.get("event_time"), zone, "%Y-%m-%d %H:%M:%S") or "",
            "cmd": str(event.get("cmd") or ""),
            "event_key": str(event.get("event_key") or ""),
            "agent": names.agent(event.get("agent")) if event.get("agent") else "",
            "what": _what(event),
            "details": details(event),
        }
        for event in events
    ]
    back = (
        "/calls?"
        + urlencode(
            {"hotline": str(summary.hotline if summary.hotline is not None else "none"), "day": summary.day}
        )
        if summary is not None and summary.day
        else None
    )
    return template("call.html.j2").render(
        task_id=task_id,
        summary=summary,
        hotline=names.hotline(summary.hotline) if summary and summary.hotline is not None else "",
        outcome=labels.outcome_label(summary.outcome) if summary else "",
        wait=duration(summary.wait_s) if summary else None,
        talk=duration(summary.talk_s) if summary else None,
        agents=", ".join(names.agent(a) for a in summary.agents) if summary else "",
        zone=zone.key,
        rows=rows,
        back=back,
    )


def _what(event: Mapping[str, Any]) -> str:
    """What happened, in words: a call event's type or an agent's state."""
    data = event.get("data") or {}
    if event.get("cmd") == "agentstate":
        return labels.state_text(data.get("state"), data.get("pause-reason"))
    kind = data.get("eventtype")
    return labels.EVENT_TYPES.get(str(kind), str(kind or ""))
