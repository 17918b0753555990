"""Ground truth of the traffic simulator: what the hub's reports must say about a list of events.

Computed from the callback *parameters* alone (as the hub receives them), independently of the
hub's own code: stdlib only, and of the hub it imports nothing but the vendor's vocabulary
(:mod:`acd_hub.vocabulary`, the names of states and event types; stdlib only too), never a
formula. The definitions are written out below, and the hub's ``call_stats``/``agent_stats``
implement the same words; an end-to-end test compares this with the hub's aggregates, so a
disagreement is a bug on one side or an ambiguity in the definitions.

Input: any objects with a ``params`` mapping (``name -> str`` as sent, names in any case; the
``cmd`` is a parameter too). Duplicates (same callevent ``id``, or the same parameters) count
once, and the input order does not matter.

Definitions (reporting zone, default Europe/Berlin; calls grouped by task id):

* inbound call: its ``CallStart`` has ``mode`` 0; hotline = that CallStart's ``hotlineid``;
  interval = CallStart time floored to 15 minutes (local), day = local date of CallStart.
* offered / answered (has ``Connected``) / abandoned (has ``CallEnd`` and none of Connected,
  Rejected, BadCall, Mailbox, ForwardNumber) / rejected, badcall, mailbox, forwarded (never
  connected, and the first of {Rejected, BadCall, Mailbox, ForwardNumber} was that one).
* wait = first Connected − CallStart; within SL: wait ≤ ``sl_seconds``.
* hold = sum of Holdstart→Holdstop spans, an unmatched Holdstart lasting until CallEnd;
  talk = CallEnd − first Connected − hold; acw = the agents' ``working``/``outworking``
  intervals carrying the task id (an agent-state interval lasts until that agent's next
  agentstate event; the last one is open and not counted).
* service level % and abandon rate % over (answered + abandoned); ASA/max wait over answered
  calls; avg talk/hold and AHT (talk + hold + acw) over answered calls that ended. Means and
  ratios ``round(x, 2)``; null over nothing.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from acd_hub.vocabulary import EVENT_TYPE_BY_LOWER, PAUSE_STATES, TALK_STATES, TERMINAL_ROUTING, WORK_STATES

INTERVAL = timedelta(minutes=15)
DEFAULT_ZONE = "Europe/Berlin"

_LOCAL = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,6}))?)?$")


class HasParams(Protocol):
    @property
    def params(self) -> Mapping[str, str]: ...


# --------------------------------------------------------------------------- parsing


def parse_time(text: str, zone: ZoneInfo) -> datetime:
    """ms since epoch, ``YYYY-MM-DD HH:MM[:SS]`` in ``zone``, or ISO 8601 -> aware UTC."""
    text = text.strip()
    if text.isdigit():
        return datetime.fromtimestamp(int(text) / 1000, tz=UTC)
    match = _LOCAL.match(text)
    if match:
        year, month, day, hour, minute, second, fraction = match.groups()
        micro = int((fraction or "0").ljust(6, "0"))
        local = datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second or 0), micro, zone
        )
        return local.astimezone(UTC)
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone)
    return parsed.astimezone(UTC)


def iso_utc(moment: datetime) -> str:
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _hotline_id(value: str | None) -> int | str | None:
    """``hotlineid`` is an integer (``"0501"`` -> 501); anything else as sent; blank -> None."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    return int(value) if value.lstrip("-").isdigit() else value


def _num(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


@dataclass(frozen=True)
class _CallEv:
    at: datetime
    order: tuple[Any, ...]
    task: str
    type: str
    mode: int | None
    hotline: int | str | None
    agent: str | None


@dataclass(frozen=True)
class _AgentEv:
    at: datetime
    order: tuple[Any, ...]
    agent: str
    state: str
    task: str | None
    hotline: int | str | None
    reason: str | None


@dataclass
class _Parsed:
    calls: dict[str, list[_CallEv]] = field(default_factory=lambda: defaultdict(list))
    agents: dict[str, list[_AgentEv]] = field(default_factory=lambda: defaultdict(list))
    recorded: set[str] = field(default_factory=set)
    # task -> [(time, order, reason)]
    classifications: dict[str, list[tuple[datetime, tuple[Any, ...], str]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    by_cmd: Counter[str] = field(default_factory=Counter)


def _mode(value: str | None) -> int | None:
    return int(value) if value is not None and value.strip() in ("0", "1") else None


def _parse(events: Iterable[HasParams], zone: ZoneInfo) -> _Parsed:
    parsed = _Parsed()
    seen: set[Any] = set()
    for event in events:
        p = {name.strip().lower(): str(value).strip() for name, value in event.params.items()}
        p = {name: value for name, value in p.items() if value != ""}
        cmd = p.get("cmd", "").lower()
        canonical = tuple(sorted((k, v) for k, v in p.items() if k != "token"))
        identity: Any = ("ce", p["id"]) if cmd == "callevent" and "id" in p else canonical
        if identity in seen:
            continue
        seen.add(identity)
        parsed.by_cmd[cmd] += 1
        if cmd == "callevent":
            task = p["taskid"].lower()
            event_id = int(p["id"]) if p.get("id", "").isdigit() else -1
            parsed.calls[task].append(
                _CallEv(
                    at=parse_time(p["eventtime"], zone),
                    order=(event_id, canonical),
                    task=task,
                    type=EVENT_TYPE_BY_LOWER.get(p.get("eventtype", "").lower(), p.get("eventtype", "")),
                    mode=_mode(p.get("mode")),
                    hotline=_hotline_id(p.get("hotlineid")),
                    agent=p.get("agentid"),
                )
            )
        elif cmd == "agentstate":
            parsed.agents[p["agentid"]].append(
                _AgentEv(
                    at=parse_time(p["eventtime"], zone),
                    order=canonical,
                    agent=p["agentid"],
                    state=p["state"].lower(),
                    task=p["taskid"].lower() if "taskid" in p else None,
                    hotline=_hotline_id(p.get("hotlineid")),
                    reason=p.get("pause-reason"),
                )
            )
        elif cmd == "recordedcall":
            parsed.recorded.add(p["taskid"].lower())
        elif cmd == "classificationevent":
            stamp = p.get("eventtime") or p["timestamp"]
            parsed.classifications[p["callid"].lower()].append(
                (parse_time(stamp, zone), canonical, p["classificationreason"])
            )
    for events_of_call in parsed.calls.values():
        events_of_call.sort(key=lambda e: (e.at, e.order))
    for events_of_agent in parsed.agents.values():
        events_of_agent.sort(key=lambda e: (e.at, e.order))
    return parsed


# --------------------------------------------------------------------------- agents


@dataclass(frozen=True)
class StateInterval:
    agent: str
    state: str
    start: datetime
    end: datetime  # exclusive
    task: str | None
    reason: str | None


def _intervals(parsed: _Parsed) -> list[StateInterval]:
    """Closed intervals only: a state lasts until the same agent's next agentstate event."""
    out = []
    for agent, evs in parsed.agents.items():
        for current, following in itertools.pairwise(evs):
            out.append(
                StateInterval(agent, current.state, current.at, following.at, current.task, current.reason)
            )
    return out


def _split_at_midnight(start: datetime, end: datetime, zone: ZoneInfo) -> list[tuple[date, float]]:
    pieces = []
    cursor = start
    while cursor < end:
        local_day = cursor.astimezone(zone).date()
        midnight = datetime.combine(local_day + timedelta(days=1), time(0), zone).astimezone(UTC)
        piece_end = min(end, midnight)
        pieces.append((local_day, (piece_end - cursor).total_seconds()))
        cursor = piece_end
    return pieces


def agent_days(
    events: Iterable[HasParams], zone: ZoneInfo | str = DEFAULT_ZONE
) -> dict[tuple[str, str], dict[str, Any]]:
    """``(agent, "YYYY-MM-DD") -> agent day`` for every agent-day with an event or a counted second."""
    zone = ZoneInfo(zone) if isinstance(zone, str) else zone
    return _agent_days(_parse(events, zone), zone)


def _agent_days(parsed: _Parsed, zone: ZoneInfo) -> dict[tuple[str, str], dict[str, Any]]:
    states: dict[tuple[str, str], dict[str, float]] = defaultdict(lambda: defaultdict(float))
    pauses: dict[tuple[str, str], dict[str, float]] = defaultdict(lambda: defaultdict(float))
    handled: dict[tuple[str, str], set[str]] = defaultdict(set)
    keys: set[tuple[str, str]] = set()
    for agent, evs in parsed.agents.items():
        for ev in evs:
            key = (agent, ev.at.astimezone(zone).date().isoformat())
            keys.add(key)
            if ev.state in TALK_STATES and ev.task:
                handled[key].add(ev.task)
    for interval in _intervals(parsed):
        for day, seconds in _split_at_midnight(interval.start, interval.end, zone):
            key = (interval.agent, day.isoformat())
            keys.add(key)
            states[key][interval.state] += seconds
            if interval.state in PAUSE_STATES:
                pauses[key][interval.reason or "unknown"] += seconds
    return {
        key: {
            "agent": key[0],
            "day": key[1],
            "state_seconds": {s: _num(v) for s, v in sorted(states[key].items()) if v > 0},
            "pause_seconds": {r: _num(v) for r, v in sorted(pauses[key].items()) if v > 0},
            "calls_handled": len(handled[key]),
        }
        for key in sorted(keys)
    }


def board(events: Iterable[HasParams], zone: ZoneInfo | str = DEFAULT_ZONE) -> dict[str, dict[str, Any]]:
    zone = ZoneInfo(zone) if isinstance(zone, str) else zone
    return _board(_parse(events, zone))


def _board(parsed: _Parsed) -> dict[str, dict[str, Any]]:
    out = {}
    for agent in sorted(parsed.agents):
        latest = parsed.agents[agent][-1]
        out[agent] = {
            "agent": agent,
            "state": latest.state,
            "since": iso_utc(latest.at),
            "task_id": latest.task,
            "hotline": latest.hotline,
        }
    return out


# --------------------------------------------------------------------------- calls


@dataclass(frozen=True)
class CallFacts:
    task: str
    direction: str | None
    hotline: int | str | None  # the CallStart's hotlineid (an integer)
    agents: tuple[str, ...]
    started: datetime | None
    answered: datetime | None  # first Connected (inbound) / first BConnected (outbound)
    ended: datetime | None
    terminal: str | None  # first of TERMINAL_ROUTING (outcome name), if never connected
    wait_s: float | None
    talk_s: float | None
    hold_s: float | None
    acw_s: float | None
    outcome: str
    recorded: bool
    classification: str | None

    @property
    def inbound(self) -> bool:
        return self.direction == "inbound"

    def summary(self) -> dict[str, Any]:
        def opt(value: float | None) -> int | float | None:
            return None if value is None else _num(value)

        return {
            "task_id": self.task,
            "direction": self.direction,
            "hotline": self.hotline,
            "agents": list(self.agents),
            "started": iso_utc(self.started) if self.started else None,
            "answered": iso_utc(self.answered) if self.answered else None,
            "ended": iso_utc(self.ended) if self.ended else None,
            "wait_s": opt(self.wait_s),
            "talk_s": opt(self.talk_s),
            "hold_s": opt(self.hold_s),
            "acw_s": opt(self.acw_s),
            "outcome": self.outcome,
            "recorded": self.recorded,
            "classification": self.classification,
        }


def _hold_seconds(evs: list[_CallEv], ended: datetime) -> float:
    total = 0.0
    held_since: datetime | None = None
    for ev in evs:
        if ev.type == "Holdstart" and held_since is None:
            held_since = ev.at
        elif ev.type == "Holdstop" and held_since is not None:
            total += (ev.at - held_since).total_seconds()
            held_since = None
    if held_since is not None:
        total += max(0.0, (ended - held_since).total_seconds())
    return total


def _acw_by_task(parsed: _Parsed) -> dict[str, float]:
    acw: dict[str, float] = defaultdict(float)
    for interval in _intervals(parsed):
        if interval.state in WORK_STATES and interval.task:
            acw[interval.task] += (interval.end - interval.start).total_seconds()
    return acw


def _call_facts(parsed: _Parsed) -> dict[str, CallFacts]:
    acw = _acw_by_task(parsed)
    out = {}
    for task in sorted(parsed.calls):
        evs = parsed.calls[task]

        def first(kind: str, evs: list[_CallEv] = evs) -> _CallEv | None:
            return next((e for e in evs if e.type == kind), None)

        start = first("CallStart")
        mode = start.mode if start else next((e.mode for e in evs if e.mode is not None), None)
        direction = {0: "inbound", 1: "outbound"}.get(mode) if mode is not None else None
        end = first("CallEnd")
        ended = end.at if end else None
        agents = tuple(dict.fromkeys(e.agent for e in evs if e.agent))
        recorded = task in parsed.recorded
        classes = sorted(parsed.classifications.get(task, []), key=lambda c: (c[0], c[1]))
        classification = classes[-1][2] if classes else None
        started = start.at if start else None
        hotline = start.hotline if start else None
        wait = talk = hold = call_acw = None
        terminal = None
        if direction == "outbound":
            connected = first("BConnected")
            answered = connected.at if connected else None
            outcome = "connected" if connected else ("not_connected" if end else "in_progress")
        else:
            connected = first("Connected")
            answered = connected.at if connected else None
            if connected is None:
                routed = next((e for e in evs if e.type in TERMINAL_ROUTING), None)
                terminal = TERMINAL_ROUTING[routed.type] if routed else None
            if connected is not None:
                outcome = "answered"
            elif terminal:
                outcome = terminal
            else:
                outcome = "abandoned" if end else "in_progress"
            if direction == "inbound" and answered is not None:
                if started is not None:
                    wait = (answered - started).total_seconds()
                call_acw = acw.get(task, 0.0)
                if ended is not None:
                    hold = _hold_seconds(evs, ended)
                    talk = (ended - answered).total_seconds() - hold
        out[task] = CallFacts(
            task=task,
            direction=direction,
            hotline=hotline,
            agents=agents,
            started=started,
            answered=answered,
            ended=ended,
            terminal=terminal,
            wait_s=wait,
            talk_s=talk,
            hold_s=hold,
            acw_s=call_acw,
            outcome=outcome,
            recorded=recorded,
            classification=classification,
        )
    return out


# --------------------------------------------------------------------------- KPIs


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 2) if values else None


def _pct(part: int, whole: int) -> float | None:
    return round(part / whole * 100, 2) if whole else None


def kpis(calls: Iterable[CallFacts], sl_seconds: int = 20) -> dict[str, Any]:
    """The KPI object over the given inbound calls (each one offered)."""
    offered = answered = abandoned = within = 0
    routed: Counter[str] = Counter()
    waits: list[float] = []
    talks: list[float] = []
    holds: list[float] = []
    handles: list[float] = []
    for call in calls:
        offered += 1
        if call.answered is not None:
            answered += 1
            assert call.wait_s is not None
            waits.append(call.wait_s)
            if call.wait_s <= sl_seconds:
                within += 1
            if call.ended is not None:
                assert call.talk_s is not None
                assert call.hold_s is not None
                talks.append(call.talk_s)
                holds.append(call.hold_s)
                handles.append(call.talk_s + call.hold_s + (call.acw_s or 0.0))
        elif call.terminal:
            routed[call.terminal] += 1
        elif call.ended is not None:
            abandoned += 1
    handled = answered + abandoned
    return {
        "offered": offered,
        "answered": answered,
        "abandoned": abandoned,
        "rejected": routed["rejected"],
        "badcall": routed["badcall"],
        "mailbox": routed["mailbox"],
        "forwarded": routed["forwarded"],
        "answered_within_sl": within,
        "service_level_pct": _pct(within, handled),
        "abandon_rate_pct": _pct(abandoned, handled),
        "asa_s": _mean(waits),
        "max_wait_s": _num(max(waits)) if waits else None,
        "aht_s": _mean(handles),
        "avg_talk_s": _mean(talks),
        "avg_hold_s": _mean(holds),
    }


def interval_start(moment: datetime, zone: ZoneInfo) -> datetime:
    local = moment.astimezone(zone)
    return local.replace(minute=local.minute - local.minute % 15, second=0, microsecond=0)


def _default_day(parsed: _Parsed, zone: ZoneInfo) -> str | None:
    moments = [e.at for evs in parsed.calls.values() for e in evs if e.type == "CallStart"]
    moments = moments or [e.at for evs in parsed.agents.values() for e in evs]
    return min(moments).astimezone(zone).date().isoformat() if moments else None


def expectations(
    events: Iterable[HasParams],
    sl_seconds: int = 20,
    zone: ZoneInfo | str = DEFAULT_ZONE,
    day: date | str | None = None,
) -> dict[str, Any]:
    """Everything the hub should report for ``day`` (default: the local day of the first call).

    ``kpis`` per hotline (the day and its 15-minute intervals with offered > 0), ``agent_days``
    of that day, a summary of every call (any day), the live ``board``.
    """
    zone = ZoneInfo(zone) if isinstance(zone, str) else zone
    parsed = _parse(events, zone)
    day_text = day.isoformat() if isinstance(day, date) else (day or _default_day(parsed, zone))
    facts = _call_facts(parsed)

    inbound = [c for c in facts.values() if c.inbound and c.started is not None]
    by_hotline: dict[str, list[CallFacts]] = defaultdict(list)
    for call in inbound:
        if call.started is not None and call.started.astimezone(zone).date().isoformat() == day_text:
            by_hotline["unknown" if call.hotline is None else str(call.hotline)].append(call)
    kpi_out: dict[str, Any] = {}
    for hotline in sorted(by_hotline, key=lambda h: (len(h), h)):
        calls = by_hotline[hotline]
        per_interval: dict[datetime, list[CallFacts]] = defaultdict(list)
        for call in calls:
            assert call.started is not None
            per_interval[interval_start(call.started, zone)].append(call)
        kpi_out[hotline] = {
            "hotline": hotline,
            "day": kpis(calls, sl_seconds),
            "intervals": [
                {"start": start.isoformat(), **kpis(per_interval[start], sl_seconds)}
                for start in sorted(per_interval)
            ],
        }
    days = _agent_days(parsed, zone)
    return {
        "day": day_text,
        "sl_seconds": sl_seconds,
        "kpis": kpi_out,
        "agent_days": {agent: value for (agent, d), value in days.items() if d == day_text},
        "calls": {task: call.summary() for task, call in facts.items()},
        "board": _board(parsed),
        "sent": {"events": sum(parsed.by_cmd.values()), "by_cmd": dict(sorted(parsed.by_cmd.items()))},
    }
