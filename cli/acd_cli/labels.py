"""Plain words for the vendor's names, and one way to show each figure.

One table of display labels and colours for the agent states and call event types of the
callback API (``spec/acd-callback-api.md``), the call outcomes and the KPIs. The ``acd-report``
tables, the HTML day report, the wallboard and ``acd-sim``'s expectations all read it, so a
supervisor sees the same words, units and colours everywhere. JSON and CSV keep the vendor's
names: they are for machines and must not change with a wording.

Colours group states by what the agent is doing, so a wallboard reads at a glance: green is
free for a call, blue talking, amber ringing, purple after-call work, grey away or off, red a
missed call. Outbound states use a lighter shade of the same family as their inbound twin.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from acd_cli.output import duration, or_not_applicable, percent
from acd_hub import kpis
from acd_hub.kpis import Unit
from acd_hub.vocabulary import PAUSE_STATES, TALK_STATES, TERMINAL_ROUTING, WORK_STATES


@dataclass(frozen=True)
class Label:
    text: str
    colour: str


# Every agent state of the spec (acd_hub.vocabulary.AGENT_STATES, in its order). The vendor's
# one-word names stay visible in JSON/CSV.
STATES: dict[str, Label] = {
    "offline": Label("logged off", "#bdbdbd"),
    "online": Label("available", "#2e7d32"),
    "alerting": Label("ringing", "#f9a825"),
    "connected": Label("on a call", "#1565c0"),
    "timeouted": Label("missed a call", "#c62828"),
    "busy": Label("on a non-ACD call", "#5c6bc0"),
    "working": Label("after-call work", "#8e24aa"),
    "paused": Label("paused", "#757575"),
    "outonline": Label("available (outbound)", "#66bb6a"),
    "outalerting": Label("agent ringing (outbound)", "#fbc02d"),
    "outbusy": Label("on a non-ACD call (outbound)", "#7986cb"),
    "outtimeouted": Label("missed a dialer call (outbound)", "#e57373"),
    "balerting": Label("customer ringing (outbound)", "#ffb300"),
    "bbusy": Label("customer busy (outbound)", "#ef6c00"),
    "btimeout": Label("customer did not answer (outbound)", "#ff8a65"),
    "bunassigned": Label("number unassigned (outbound)", "#a1887f"),
    "bconnected": Label("customer answered (outbound)", "#42a5f5"),
    "outconnect": Label("on a call (outbound)", "#1e88e5"),
    "outworking": Label("after-call work (outbound)", "#ba68c8"),
    "outpaused": Label("paused (outbound)", "#78909c"),
}
UNKNOWN_COLOUR = "#e0e0e0"

# The timeline's legend: an outbound (dialer) state is drawn in the colour of its inbound
# counterpart, lighter (a second, two-entry legend says which is which), so the legend has a
# handful of clearly different colours instead of 17 with near twins. The customer-side dialer
# states that end without a conversation share one colour.
NOT_REACHED = Label("customer not reached (outbound)", "#ef6c00")
TIMELINE_AS: dict[str, str] = {
    "outonline": "online",
    "outalerting": "alerting",
    "outbusy": "busy",
    "outtimeouted": "timeouted",
    "outconnect": "connected",
    "outworking": "working",
    "outpaused": "paused",
    "balerting": "alerting",
    "bconnected": "connected",
}
NOT_REACHED_STATES = ("bbusy", "btimeout", "bunassigned")


def timeline_key(state: object) -> tuple[Label, bool]:
    """The legend entry a state is drawn as, and whether it is an outbound one."""
    name = str(state).lower() if state is not None else ""
    if name in NOT_REACHED_STATES:
        return NOT_REACHED, True
    inbound = TIMELINE_AS.get(name, name)
    label = STATES.get(inbound)
    return (label or Label(str(state), UNKNOWN_COLOUR)), name != inbound


# What a supervisor counts on the board (Amazon Connect's and Genesys's agent states), each a
# set of the spec's states; "logged on" is every state but ``offline``.
STATE_GROUPS: dict[str, tuple[str, frozenset[str]]] = {
    "available": ("available", frozenset({"online", "outonline"})),
    "ringing": ("ringing", frozenset({"alerting", "outalerting", "balerting"})),
    "on_call": ("on a call", TALK_STATES | {"bconnected", "busy", "outbusy"}),
    "after_call_work": ("after-call work", WORK_STATES),
    "paused": ("paused", PAUSE_STATES),
}


def state_group(state: object) -> str | None:
    """``outconnect`` -> ``on_call``; None for logged off, unknown or no state."""
    name = str(state).lower() if state is not None else ""
    return next((group for group, (_, states) in STATE_GROUPS.items() if name in states), None)


# Every call event type of the spec (acd_hub.vocabulary.EVENT_TYPES, in its order).
EVENT_TYPES: dict[str, str] = {
    "CallStart": "call started",
    "Alerting": "ringing at an agent",
    "Timeout": "agent did not answer",
    "BTimeout": "customer did not answer (outbound)",
    "Busy": "agent busy",
    "BBusy": "customer busy (outbound)",
    "Connected": "answered",
    "AConnected": "agent connected (outbound)",
    "BConnected": "customer answered (outbound)",
    "ForwardAgent": "forwarded to an agent",
    "ForwardGroup": "forwarded to a group",
    "ForwardHotline": "forwarded to a hotline",
    "ForwardNumber": "forwarded to an external number",
    "ConfAgent": "consulting an agent",
    "ConfGroup": "consulting a group",
    "ConfNumber": "consulting an external number",
    "ConfBusy": "consultation target busy",
    "ConfTimeout": "consultation target did not answer",
    "ConfConnected": "consultation connected",
    "ConfEnd": "consultation ended",
    "WaitingQueue": "waiting in the queue",
    "Mailbox": "sent to the mailbox",
    "Announcement": "announcement played",
    "Rejected": "rejected (no agent or queue free)",
    "BadCall": "failed (network error)",
    "CallEnd": "call ended",
    "Holdstart": "put on hold",
    "Holdstop": "taken off hold",
    "ConfConnectedWithAgent": "consultation: agent with agent",
    "ConfConnectedWithCaller": "consultation: agent back with caller",
    "ConfConnectedWithNumber": "consultation: agent with external number",
    "ConfConference": "conference call",
    "ConfTransfer": "transferred after consultation",
    "Working": "after-call work (inbound)",
    "OutWorking": "after-call work (outbound)",
}

OUTCOMES: dict[str, Label] = {
    "answered": Label("answered", "#1565c0"),
    "abandoned": Label("abandoned", "#c62828"),
    "rejected": Label("rejected", "#6d4c41"),
    "badcall": Label("failed (bad call)", "#757575"),
    "mailbox": Label("mailbox", "#8e24aa"),
    "forwarded": Label("forwarded", "#00897b"),
    "connected": Label("connected (outbound)", "#1e88e5"),
    "not_connected": Label("not connected (outbound)", "#ef6c00"),
    "in_progress": Label("in progress", "#f9a825"),
}
# Why a call's durations are unknown (acd_hub.call_stats): its events' times contradict their order.
CALL_PROBLEMS: dict[str, str] = {
    "answered_before_start": "answered before it started: wait unknown, not within the service level",
    "ended_before_answer": "ended before it was answered: talk time unknown",
    "hold_outside_call": "on hold outside the call: hold cut to the call",
    "dst_doubtful_times": "local times doubtful at the DST change",
}

# The outcome breakdown of a hotline's day, in this order (the KPI names of those counts).
OUTCOME_KPIS = ("answered", "abandoned", *TERMINAL_ROUTING.values())

# Chart colours of the interval series (the bars reuse the outcome colours).
OFFERED_COLOUR = "#90a4ae"
SERVICE_LEVEL_COLOUR = "#2e7d32"
# A service level of too few calls to judge (html_report.DEFAULT_MIN_SL_CALLS).
FEW_CALLS_COLOUR = "#9e9e9e"


def _count(value: object) -> str:
    return "0" if value is None else str(value)


def _seconds(value: object) -> str:
    return or_not_applicable(duration(value))


def _percent(value: object) -> str:
    return or_not_applicable(percent(value, 1))


SHOW: dict[Unit, Callable[[Any], str]] = {"count": _count, "seconds": _seconds, "percent": _percent}


@dataclass(frozen=True)
class Kpi:
    """One KPI as people read it (its definition, label and unit: :data:`acd_hub.kpis.KPIS`):
    counts as numbers, times as ``m:ss``, ratios as ``6.2 %``."""

    name: str
    label: str
    header: str
    unit: Unit

    def show(self, value: object) -> str:
        return SHOW[self.unit](value)


KPIS: tuple[Kpi, ...] = tuple(Kpi(k.name, k.label, k.header, k.unit) for k in kpis.KPIS)
KPI_BY_NAME = {kpi.name: kpi for kpi in KPIS}


def state_label(state: object) -> str:
    """``balerting`` -> ``customer ringing (outbound)``; an unknown name as it came."""
    if state is None:
        return ""
    label = STATES.get(str(state).lower())
    return label.text if label else str(state)


def state_colour(state: object) -> str:
    label = STATES.get(str(state).lower()) if state is not None else None
    return label.colour if label else UNKNOWN_COLOUR


def state_text(state: object, pause_reason: object = None) -> str:
    """A state in words, with the pause reason where there is one: ``paused: lunch``."""
    text = state_label(state)
    return f"{text}: {pause_reason}" if pause_reason else text


def outcome_label(outcome: object) -> str:
    if outcome is None:
        return ""
    label = OUTCOMES.get(str(outcome))
    return label.text if label else str(outcome)


def kpi_text(name: str, value: object) -> str:
    """A KPI's value as every human-facing output shows it."""
    return KPI_BY_NAME[name].show(value)
