"""``acd-sim``: a realistic call-center day, sent to a callback URL, with the KPIs it must produce.

Four parts, each usable on its own:

* :func:`generate_day` — pure and deterministic for a :class:`SimConfig`: agents log in
  staggered, take pauses (Mittag, Kaffee, Schulung), run an outbound dialer campaign and log
  out; inbound calls arrive (busier late morning, plus an incident burst), queue while no agent
  is free, ring (sometimes time out and ring the next agent), are answered, held, consulted,
  transferred, wrapped up — or abandoned, rejected (queue full), sent to the mailbox,
  forwarded to an external number, or fail as a BadCall. Plus classifications, recordings,
  scheduled calls, config changes and broadcasts. A discrete-event simulation keeps agent
  states consistent: one call per agent at a time, every agent's events strictly increasing in
  time, a call's events causally ordered.
* :func:`acd_sim.truth.expectations` — the ground truth, computed from the events.
* :func:`plan_requests` — the order of sending: time order, optionally shuffled within a
  sliding window, some events repeated (``--duplicates``), each request's HTTP method.
* :func:`send` — worker threads with keep-alive ``http.client`` connections, an optional rate
  limit (token bucket), every answer checked (2xx expected).
"""

from __future__ import annotations

import hashlib
import heapq
import http.client
import itertools
import json
import math
import os
import random
import sys
import threading
import time as time_module
from collections import Counter
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode, urlsplit
from zoneinfo import ZoneInfo

import click
from rich import box
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from acd_cli import labels
from acd_sim.truth import expectations

ZONE_NAME = "Europe/Berlin"
PHONE_FORMATS = ("acd", "fqtn00", "plus")
METHODS = ("get", "put", "head")
CUSTOMER = "10042"
DEFAULT_URL = "http://127.0.0.1:3000/callback"


# =========================================================================== the day


@dataclass(frozen=True)
class SimEvent:
    """One callback: its ``cmd``, the parameters exactly as sent (strings; ``cmd`` included),
    and its moment (aware, UTC) — used only to order the sending."""

    cmd: str
    params: dict[str, str]
    time: datetime


@dataclass(frozen=True)
class SimConfig:
    day: date
    seed: int = 1
    agents: int = 12
    calls: int = 300
    outbound: int = 40
    phone_format: str = "mixed"  # acd | fqtn00 | plus | mixed
    zone: str = ZONE_NAME

    def __post_init__(self) -> None:
        if self.agents < 1 or self.agents > 899_999:
            raise ValueError("agents must be between 1 and 899999")
        if self.calls < 0 or self.outbound < 0:
            raise ValueError("calls and outbound must not be negative")
        if self.phone_format not in (*PHONE_FORMATS, "mixed"):
            raise ValueError(f"phone_format must be one of {', '.join((*PHONE_FORMATS, 'mixed'))}")


@dataclass(frozen=True)
class Hotline:
    id: int
    name: str
    number: str  # national significant number of the service number
    group: int
    weight: float
    mailbox_after: int | None = None  # seconds of waiting after which callers may leave a message
    forward_after: int | None = None  # overflow: forwarded to an external number after waiting


GROUPS = {601: "Team Köln", 602: "Team Düsseldorf"}
HOTLINES = (
    Hotline(501, "Vertrieb", "8001234501", 601, 0.40, mailbox_after=45),
    Hotline(502, "Technik-Hotline", "8001234502", 602, 0.35),
    Hotline(503, "Kundenservice", "2212601503", 601, 0.25, forward_after=90),
)
MANDATOR = (701, "Winterkampagne")
PAUSE_REASONS = ("Mittag", "Kaffee", "Schulung")
CLASSIFICATIONS = (
    (11, "Auskunft"),
    (12, "Bestellung"),
    (13, "Beschwerde"),
    (14, "Technisches Problem"),
    (15, "Rückruf vereinbart"),
)
REQUEST_TEXTS = (
    "Vertragsverlängerung Kd. 4711",
    "Angebot Glasfaser",
    "Zählerstand nachfragen",
    "Umfrage Zufriedenheit",
)
RING_TIMEOUT = 15  # seconds an agent's phone rings before the ACD gives up on him
QUEUE_LIMIT = 6  # waiting calls per hotline; the next one is rejected

# (country code, national significant numbers to draw from: prefix, remaining digit count)
_DE_PREFIXES = (
    ("221", 7),
    ("211", 7),
    ("89", 8),
    ("30", 8),
    ("40", 8),
    ("69", 8),
    ("151", 8),
    ("160", 7),
    ("176", 8),
)
_FOREIGN = (("43", "1", 7), ("41", "44", 7), ("31", "20", 7), ("33", "1", 8), ("1", "212555", 4))


@dataclass(frozen=True)
class Phone:
    country: str
    nsn: str

    def render(self, fmt: str, suppressed: bool = False) -> str:
        if fmt == "plus":
            text = f"+{self.country}{self.nsn}"
        elif fmt == "fqtn00" or self.country != "49":
            text = f"00{self.country}{self.nsn}"
        else:
            text = f"0{self.nsn}"
        return text[:-3] + "xxx" if suppressed else text


@dataclass
class _Agent:
    index: int
    number: str
    resource_id: str
    phone: Phone
    fmt: str
    status: str = "out"  # out | idle | busy | gone
    last_t: int = -(10**9)
    idle_since: int = 0
    mode: int = 0
    duties: list[tuple[int, int, str, Any]] = field(default_factory=list)  # (due, seq, kind, payload)
    outbound_calls: int = 0


@dataclass
class _Call:
    index: int
    task: str
    hotline: Hotline
    caller: Phone
    fmt: str
    suppressed: bool
    arrival: int
    patience: int
    wants_mailbox: bool
    state: str = "new"  # new | queued | ringing | connected | ended
    tried: bool = False
    waited: bool = False  # WaitingQueue sent
    fate_set: bool = False
    excluded: set[int] = field(default_factory=set)


class _DaySim:
    """A discrete-event simulation; times are whole seconds relative to 08:00 local."""

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.zone = ZoneInfo(config.zone)
        # a simulation, not cryptography: reproducible pseudo-random numbers are the point
        self.rng = random.Random(f"acd-sim/{config.seed}/{config.day.isoformat()}")  # noqa: S311
        self.base = datetime.combine(config.day, time(8, 0), self.zone).astimezone(UTC)
        # ids that differ between days and seeds, so several simulated days can share one hub
        digest = hashlib.blake2b(f"{config.seed}/{config.day}".encode(), digest_size=4).digest()
        self.id_base = (config.day.toordinal() * 10**6 + int.from_bytes(digest, "big") % 10**6) * 10**6
        self.heap: list[tuple[int, int, Callable[..., None], tuple[Any, ...]]] = []
        self.seq = itertools.count()
        self.raw: list[tuple[int, int, dict[str, str]]] = []  # (t, seq, params)
        self.agents: list[_Agent] = []
        self.queue: list[_Call] = []
        self.tasks: set[str] = set()
        self.hotlines = HOTLINES if config.agents >= 4 else HOTLINES[:2]

    # ------------------------------------------------------------------ plumbing

    def at(self, t: int, action: Callable[..., None], *args: Any) -> None:
        heapq.heappush(self.heap, (t, next(self.seq), action, args))

    def run(self) -> list[SimEvent]:
        while self.heap:
            t, _, action, args = heapq.heappop(self.heap)
            action(t, *args)
        return self.finish()

    def spawn(self, t: int, gen: Generator[int, int]) -> None:
        """Start a process: a generator that yields delays and is resumed with the current time
        (its first statement is ``t = yield 0``)."""
        self.at(t + next(gen), self.resume, gen)

    def resume(self, t: int, gen: Generator[int, int]) -> None:
        try:
            delay = gen.send(t)
        except StopIteration:
            return
        self.at(t + max(0, delay), self.resume, gen)

    def emit(self, t: int, cmd: str, **params: Any) -> None:
        values = {"cmd": cmd}
        values.update({name.replace("__", "-"): str(v) for name, v in params.items() if v is not None})
        self.raw.append((t, next(self.seq), values))

    def moment(self, t: int) -> datetime:
        return self.base + timedelta(seconds=t)

    def ms(self, t: int) -> str:
        return str(int(self.moment(t).timestamp()) * 1000)

    def local(self, t: int) -> str:
        return self.moment(t).astimezone(self.zone).strftime("%Y-%m-%d %H:%M:%S")

    def clock(self, hh: int, mm: int = 0, ss: int = 0) -> int:
        """Seconds relative to 08:00 for a local wall-clock time of the day."""
        moment = datetime.combine(self.config.day, time(hh, mm, ss), self.zone).astimezone(UTC)
        return int((moment - self.base).total_seconds())

    def fmt(self) -> str:
        choice = self.config.phone_format
        return self.rng.choice(PHONE_FORMATS) if choice == "mixed" else choice

    def new_task(self) -> str:
        while True:
            if self.rng.random() < 0.05:  # an old ACD's 10-digit task id
                task = str(self.rng.randrange(10**9, 10**10))
            else:
                task = f"{self.rng.getrandbits(96):024x}"
            if task not in self.tasks:
                self.tasks.add(task)
                return task

    def random_phone(self) -> Phone:
        if self.rng.random() < 0.12:
            country, prefix, digits = self.rng.choice(_FOREIGN)
            return Phone(country, prefix + "".join(self.rng.choice("0123456789") for _ in range(digits)))
        prefix, digits = self.rng.choice(_DE_PREFIXES)
        first = self.rng.choice("123456789")
        return Phone("49", prefix + first + "".join(self.rng.choice("0123456789") for _ in range(digits - 1)))

    def finish(self) -> list[SimEvent]:
        self.raw.sort(key=lambda item: (item[0], item[1]))
        events = []
        next_id = itertools.count(self.id_base + 1)
        for t, _, values in self.raw:
            cmd = values["cmd"]
            params = dict(values)
            if cmd == "callevent":
                params = {
                    "cmd": cmd,
                    "id": str(next(next_id)),
                    **{k: v for k, v in values.items() if k != "cmd"},
                }
                params["eventtime"] = self.local(t)
            elif cmd == "recordedcall":
                params["eventtime"] = self.local(t)
            elif cmd == "classificationevent":
                params["timestamp"] = self.local(t)
                params["eventtime"] = self.ms(t)
            else:
                params["eventtime"] = self.ms(t)
            events.append(SimEvent(cmd, params, self.moment(t)))
        return events

    # ------------------------------------------------------------------ agents

    def agent_state(self, agent: _Agent, t: int, state: str, mode: int = 0, **extra: Any) -> None:
        assert t > agent.last_t, f"agent {agent.number}: {state} at {t} not after {agent.last_t}"
        agent.last_t = t
        agent.mode = mode
        self.emit(
            t,
            "agentstate",
            agentid=agent.number,
            mode=mode,
            state=state,
            agentphonenumber=agent.phone.render(agent.fmt),
            agent_id=agent.resource_id,
            customerNumber=CUSTOMER,
            **extra,
        )

    def setup_agents(self) -> None:
        n = self.config.agents
        kinds = ["full", "full"] + [
            self.rng.choice(("full", "full", "early", "late")) for _ in range(max(0, n - 2))
        ]
        trainees = set(self.rng.sample(range(n), k=min(n, 1 + n // 8)))
        for i in range(n):
            agent = _Agent(
                index=i,
                number=str(100001 + i),
                resource_id=str(5001 + i),
                phone=Phone("49", f"22126015{i % 1000:03d}"),
                fmt=self.fmt(),
            )
            self.agents.append(agent)
            kind = kinds[i]
            if kind == "late":
                login = self.clock(10) + self.rng.randint(-900, 900)
                logout = self.clock(17, 58) + self.rng.randint(0, 900)
            elif kind == "early":
                login = self.clock(7, 45) + self.rng.randint(0, 1500)
                logout = self.clock(14) + self.rng.randint(0, 1800)
            else:
                login = self.clock(7, 45) + self.rng.randint(0, 1500)
                logout = self.clock(17, 55) + self.rng.randint(0, 900)
            self.at(login - self.rng.randint(20, 240), self.login, agent, login)
            self.duty(agent, logout, "logout", None)
            if kind == "full":
                lunch = self.clock(11, 30) + self.rng.randint(0, 7200)
                self.duty(agent, lunch, "pause", ("Mittag", self.rng.randint(1800, 2700)))
            for _ in range(self.rng.randint(1, 2)):
                coffee = self.rng.randint(login + 1800, max(login + 1801, logout - 1800))
                self.duty(agent, coffee, "pause", ("Kaffee", self.rng.randint(300, 900)))
            if i in trainees and i >= 2:
                training = self.rng.choice((self.clock(9, 30), self.clock(14, 0))) + self.rng.randint(0, 1200)
                if login < training < logout - 3600:
                    self.duty(agent, training, "pause", ("Schulung", self.rng.randint(2700, 5400)))
            if self.rng.random() < 0.15:  # a pause without a configured reason
                self.duty(
                    agent,
                    self.rng.randint(login + 600, logout - 600),
                    "pause",
                    (None, self.rng.randint(60, 400)),
                )
        # the outbound dialer campaign: one or two full-time agents in the afternoon
        if self.config.outbound:
            dialers = self.agents[: 1 if n < 6 else 2]
            shares = [
                self.config.outbound // len(dialers) + (k < self.config.outbound % len(dialers))
                for k in range(len(dialers))
            ]
            for agent, share in zip(dialers, shares, strict=True):
                if share:
                    agent.outbound_calls = share
                    self.duty(agent, self.clock(14) + self.rng.randint(0, 1800), "outbound", share)

    def duty(self, agent: _Agent, due: int, kind: str, payload: Any) -> None:
        heapq.heappush(agent.duties, (due, next(self.seq), kind, payload))
        self.at(due, self.duty_due, agent)

    def login(self, t: int, agent: _Agent, online_at: int) -> None:
        self.agent_state(agent, t, "offline")
        self.at(online_at, self.become_idle, agent)

    def duty_due(self, t: int, agent: _Agent) -> None:
        if agent.status == "idle":
            if agent.last_t < t:
                self.become_idle(t, agent)
            else:
                self.at(t + 1, self.duty_due, agent)
        # busy: taken up by become_idle when the agent is done; out: after login

    def become_idle(self, t: int, agent: _Agent) -> None:
        """The agent is done with whatever he did: a due duty, or available for calls."""
        if agent.status == "gone":
            return
        if agent.duties and agent.duties[0][0] <= t:
            _, _, kind, payload = heapq.heappop(agent.duties)
            if kind == "logout":
                self.agent_state(agent, t, "offline")
                agent.status = "gone"
                agent.duties.clear()
                return
            agent.status = "busy"
            if kind == "pause":
                reason, length = payload
                self.agent_state(agent, t, "paused", pause__reason=reason)
                self.at(t + length, self.become_idle, agent)
            elif kind == "outbound":
                self.spawn(t, self.dialer(agent, payload))
            return
        if agent.status == "idle" and agent.mode == 0:
            return  # already online
        self.agent_state(agent, t, "online")
        agent.status = "idle"
        agent.idle_since = t
        self.at(t + 1, self.dispatch)

    def free_agents(self, t: int) -> list[_Agent]:
        free = [a for a in self.agents if a.status == "idle" and a.last_t < t]
        return sorted(free, key=lambda a: (a.idle_since, a.index))

    # ------------------------------------------------------------------ inbound calls

    def setup_calls(self) -> None:
        weights = {8: 1.0, 9: 1.6, 10: 2.2, 11: 2.4, 12: 1.4, 13: 1.5, 14: 1.7, 15: 1.5, 16: 1.2, 17: 0.8}
        hours, hour_weights = list(weights), list(weights.values())
        # Two rushes that overload the agents on duty: an incident floods the Technik hotline for
        # ten minutes in the late morning, a newsletter makes Vertrieb ring in the afternoon.
        rushes = []
        if self.config.calls >= 30:
            rushes.append(
                (round(self.config.calls * 0.15), self.clock(10, 15) + self.rng.randint(0, 2700), 600, 502)
            )
            rushes.append(
                (round(self.config.calls * 0.06), self.clock(15, 30) + self.rng.randint(0, 1800), 300, 501)
            )
        arrivals: list[tuple[int, Hotline]] = []
        for count, start, length, hotline_id in rushes:
            hotline = next(h for h in self.hotlines if h.id == hotline_id)
            arrivals.extend((start + self.rng.randint(0, length), hotline) for _ in range(count))
        for _ in range(self.config.calls - len(arrivals)):
            hour = self.rng.choices(hours, hour_weights)[0]
            hotline = self.rng.choices(self.hotlines, [h.weight for h in self.hotlines])[0]
            arrivals.append((self.clock(hour) + self.rng.randint(0, 3599), hotline))
        arrivals.sort(key=lambda a: a[0])
        bad = (
            set(self.rng.sample(range(len(arrivals)), k=max(1, round(len(arrivals) * 0.005))))
            if arrivals
            else set()
        )
        for k, (t, hotline) in enumerate(arrivals):
            call = _Call(
                index=k,
                task=self.new_task(),
                hotline=hotline,
                caller=self.random_phone(),
                fmt=self.fmt(),
                suppressed=self.rng.random() < 0.08,
                arrival=t,
                patience=max(5, int(self.rng.expovariate(1 / 80))),
                wants_mailbox=hotline.mailbox_after is not None and self.rng.random() < 0.5,
            )
            self.at(t, self.bad_call if k in bad else self.arrive, call)

    def call_event(
        self, t: int, call: _Call, eventtype: str, agent: _Agent | None = None, **extra: Any
    ) -> None:
        if agent is not None:
            extra = {"agentid": agent.number, "agent_id": agent.resource_id, **extra}
        self.emit(
            t, "callevent", taskid=call.task, eventtype=eventtype, mode=0, customerNumber=CUSTOMER, **extra
        )

    def numbers(self, call: _Call) -> dict[str, Any]:
        return {
            "callingnumber": call.caller.render(call.fmt, call.suppressed),
            "callednumber": Phone("49", call.hotline.number).render(call.fmt),
        }

    def call_start(self, t: int, call: _Call) -> None:
        self.call_event(t, call, "CallStart", hotlineid=call.hotline.id, **self.numbers(call))

    def bad_call(self, t: int, call: _Call) -> None:
        self.call_start(t, call)
        self.call_event(t + 1, call, "BadCall", hotlineid=call.hotline.id)
        self.call_event(t + 2, call, "CallEnd", hotlineid=call.hotline.id, tried=0, connected=0)
        call.state = "ended"

    def arrive(self, t: int, call: _Call) -> None:
        self.call_start(t, call)
        waiting = sum(1 for c in self.queue if c.hotline.id == call.hotline.id)
        if call.hotline.forward_after is not None and (waiting >= 3 or t >= self.clock(17, 45)):
            # overflow, and the late service: straight on to the partner call center
            self.forward(t + 2, call)
            return
        free = self.free_agents(t + 1)
        if free and not self.queue:
            self.ring(t + 1, call, free[0])
            return
        logged_in = any(a.status in ("idle", "busy") for a in self.agents)
        if waiting >= QUEUE_LIMIT or not logged_in:
            self.call_event(t + 1, call, "Rejected", hotlineid=call.hotline.id)
            self.call_event(
                t + 2 + self.rng.randint(0, 3),
                call,
                "CallEnd",
                hotlineid=call.hotline.id,
                tried=0,
                connected=0,
            )
            call.state = "ended"
            return
        self.enqueue(t + 1, call)
        self.at(t + 1, self.dispatch)

    def enqueue(self, t: int, call: _Call) -> None:
        call.state = "queued"
        self.queue.append(call)
        self.queue.sort(key=lambda c: (c.arrival, c.index))
        if not call.waited:
            call.waited = True
            self.call_event(t, call, "WaitingQueue", hotlineid=call.hotline.id, groupid=call.hotline.group)
            self.call_event(
                t, call, "Announcement", hotlineid=call.hotline.id, announcement=900 + call.hotline.id % 100
            )
            if self.rng.random() < 0.2:
                self.emit(t, "enqueuecall", taskid=call.task, customerNumber=CUSTOMER)
        if not call.fate_set:
            call.fate_set = True
            exits = [(call.patience, "abandon")]
            if call.wants_mailbox and call.hotline.mailbox_after is not None:
                exits.append((call.hotline.mailbox_after, "mailbox"))
            if call.hotline.forward_after is not None:
                exits.append((call.hotline.forward_after, "forward"))
            after, kind = min(exits)
            self.at(max(t + 1, call.arrival + after), self.leave_queue, call, kind)

    def leave_queue(self, t: int, call: _Call, kind: str) -> None:
        if call.state == "ringing":  # the caller hears it ring: he waits a little longer
            self.at(t + RING_TIMEOUT, self.leave_queue, call, kind)
            return
        if call.state != "queued":
            return
        self.queue.remove(call)
        call.state = "ended"
        hotline = call.hotline.id
        if kind == "mailbox":
            self.call_event(t, call, "Mailbox", hotlineid=hotline, mailboxid=hotline + 300)
            t += self.rng.randint(15, 70)
        elif kind == "forward":
            self.forward(t, call)
            return
        self.call_event(t, call, "CallEnd", hotlineid=hotline, tried=int(call.tried), connected=0)

    def forward(self, t: int, call: _Call) -> None:
        """To the external partner call center: ForwardNumber; the call ends there later."""
        call.state = "ended"
        target = Phone("49", "2214711" + str(self.rng.randint(100, 999)))
        self.call_event(
            t, call, "ForwardNumber", hotlineid=call.hotline.id, target_number=target.render(call.fmt)
        )
        end = t + self.rng.randint(30, 400)
        self.call_event(end, call, "CallEnd", hotlineid=call.hotline.id, tried=int(call.tried), connected=0)

    def dispatch(self, t: int) -> None:
        for call in list(self.queue):
            free = [a for a in self.free_agents(t) if a.index not in call.excluded] or (
                self.free_agents(t) if len(call.excluded) >= 2 else []
            )
            if not free:
                continue
            self.queue.remove(call)
            self.ring(t, call, free[0])

    def ring(self, t: int, call: _Call, agent: _Agent) -> None:
        agent.status = "busy"
        call.state = "ringing"
        call.tried = True
        hotline = call.hotline
        self.call_event(t, call, "Alerting", agent, hotlineid=hotline.id, groupid=hotline.group)
        self.agent_state(
            agent,
            t,
            "alerting",
            taskid=call.task,
            hotline=hotline.name,
            hotlineid=hotline.id,
            **self.numbers(call),
        )
        if self.rng.random() < 0.06:
            self.at(t + RING_TIMEOUT, self.ring_timeout, call, agent)
        else:
            self.at(t + self.rng.randint(2, 9), self.answer, call, agent)

    def ring_timeout(self, t: int, call: _Call, agent: _Agent) -> None:
        self.call_event(t, call, "Timeout", agent, hotlineid=call.hotline.id)
        self.agent_state(agent, t, "timeouted", taskid=call.task)
        self.at(t + self.rng.randint(3, 20), self.become_idle, agent)
        call.excluded.add(agent.index)
        self.enqueue(t, call)
        self.at(t + 1, self.dispatch)

    def answer(self, t: int, call: _Call, agent: _Agent) -> None:
        call.state = "connected"
        self.connect(t, call, agent)
        self.spawn(t, self.conversation(call, agent))

    def connect(self, t: int, call: _Call, agent: _Agent) -> None:
        hotline = call.hotline
        self.call_event(t, call, "Connected", agent, hotlineid=hotline.id, groupid=hotline.group)
        self.agent_state(
            agent,
            t,
            "connected",
            taskid=call.task,
            hotline=hotline.name,
            hotlineid=hotline.id,
            group=GROUPS[hotline.group],
            groupid=hotline.group,
            **self.numbers(call),
        )

    def conversation(self, call: _Call, agent: _Agent) -> Generator[int, int]:
        """From Connected to CallEnd: hold, a consultation or a transfer, then wrap-up."""
        t = yield 0
        rng = self.rng
        if rng.random() < 0.3:
            self.emit(
                t + 1,
                "recordedcall",
                taskid=call.task,
                agentid=agent.number,
                mode=0,
                agent_id=agent.resource_id,
                customerNumber=CUSTOMER,
            )
        talk = int(min(1800, max(20, rng.lognormvariate(math.log(200), 0.6))))
        feature = rng.choices(("plain", "hold", "consult", "transfer"), (0.65, 0.17, 0.09, 0.09))[0]
        if feature == "hold":
            t = yield int(talk * rng.uniform(0.2, 0.6))
            self.call_event(t, call, "Holdstart", agent)
            hold = rng.randint(15, 120)
            if rng.random() < 0.1:  # the caller hangs up while on hold: no Holdstop
                t = yield hold
                self.end_call(t, call, agent)
                return
            t = yield hold
            self.call_event(t, call, "Holdstop", agent)
            t = yield max(5, int(talk * 0.4))
        elif feature == "consult":
            t = yield int(talk * rng.uniform(0.3, 0.6))
            partner = next(iter(self.free_agents(t)), None)
            if partner is not None:
                partner.status = "busy"
                self.call_event(t, call, "ConfAgent", agent, conf_agent=partner.number)
                t = yield rng.randint(2, 8)
                self.agent_state(partner, t, "busy")
                self.call_event(t, call, "ConfConnected", agent, conf_agent=partner.number)
                t = yield rng.randint(20, 150)
                by_partner = rng.random() < 0.5
                self.call_event(
                    t,
                    call,
                    "ConfEnd",
                    agent,
                    conf_target="agent",
                    conf_target_id=partner.number,
                    conf_target_terminated="true" if by_partner else "false",
                    **({"conf_agent_terminated": partner.number} if by_partner else {}),
                )
                self.become_idle(t, partner)
            t = yield max(5, int(talk * 0.5))
        elif feature == "transfer":
            t = yield int(talk * rng.uniform(0.3, 0.6))
            target = next(iter(self.free_agents(t)), None)
            if target is not None:
                target.status = "busy"
                self.call_event(t, call, "ForwardAgent", target, hotlineid=call.hotline.id)
                self.wrap_up(t, call, agent)
                t = yield 1
                self.call_event(
                    t, call, "Alerting", target, hotlineid=call.hotline.id, groupid=call.hotline.group
                )
                self.agent_state(
                    target,
                    t,
                    "alerting",
                    taskid=call.task,
                    hotline=call.hotline.name,
                    hotlineid=call.hotline.id,
                    **self.numbers(call),
                )
                t = yield rng.randint(2, 8)
                self.connect(t, call, target)
                agent = target
            t = yield max(10, int(talk * 0.6))
        else:
            t = yield talk
        self.end_call(t, call, agent)

    def end_call(self, t: int, call: _Call, agent: _Agent) -> None:
        call.state = "ended"
        self.call_event(t, call, "CallEnd", agent, hotlineid=call.hotline.id, tried=1, connected=1)
        self.wrap_up(t, call, agent)

    def wrap_up(self, t: int, call: _Call, agent: _Agent, mode: int = 0) -> None:
        """After-call work with the task id, maybe a classification, then the next thing."""
        acw = int(min(300, max(5, self.rng.lognormvariate(math.log(40), 0.7))))
        self.agent_state(agent, t, "outworking" if mode else "working", mode=mode, taskid=call.task)
        if self.rng.random() < 0.5:
            self.classify(
                t + self.rng.randint(1, acw - 1) if acw > 2 else t + 1,
                call.task,
                agent,
                mode,
                call.hotline.id,
            )
        if mode:
            return  # the dialer process continues by itself
        self.at(t + acw, self.become_idle, agent)

    def classify(self, t: int, task: str, agent: _Agent, mode: int, hotline: int | None) -> None:
        category, reason = self.rng.choice(CLASSIFICATIONS)
        where = {"hotlineid": hotline} if mode == 0 else {"mandatorid": MANDATOR[0]}
        self.emit(
            t,
            "classificationevent",
            callid=task,
            agent=agent.number,
            classificationreason=reason,
            classificationcategoryid=category,
            mode=mode,
            agent_id=agent.resource_id,
            customerNumber=CUSTOMER,
            **where,
        )
        if self.rng.random() < 0.06:  # reclassified a little later: the latest one counts
            category, reason = self.rng.choice(CLASSIFICATIONS)
            self.emit(
                t + self.rng.randint(30, 600),
                "classificationevent",
                callid=task,
                agent=agent.number,
                classificationreason=reason,
                classificationcategoryid=category,
                mode=mode,
                agent_id=agent.resource_id,
                customerNumber=CUSTOMER,
                **where,
            )

    # ------------------------------------------------------------------ outbound dialer

    def dialer(self, agent: _Agent, calls: int) -> Generator[int, int]:
        rng = self.rng
        t = yield 0
        self.agent_state(agent, t, "outonline", mode=1, dialer=1)
        paused = False
        for k in range(calls):
            t = yield rng.randint(3, 25)
            if not paused and k >= calls // 2 and rng.random() < 0.5:
                paused = True
                self.agent_state(agent, t, "outpaused", mode=1, dialer=1, pause__reason="Kaffee")
                t = yield rng.randint(120, 400)
                self.agent_state(agent, t, "outonline", mode=1, dialer=1)
                t = yield rng.randint(3, 10)
            task = self.new_task()
            customer = self.random_phone()
            fmt = self.fmt()
            numbers: dict[str, Any] = {
                "callingnumber": agent.phone.render(fmt),
                "callednumber": customer.render(fmt),
            }
            common: dict[str, Any] = {
                "mode": 1,
                "dialer": 1,
                "mandator": MANDATOR[1],
                "mandatorid": MANDATOR[0],
                "taskid": task,
            }
            text = rng.choice(REQUEST_TEXTS)

            def event(at: int, eventtype: str, task: str = task, **extra: Any) -> None:
                self.emit(
                    at,
                    "callevent",
                    taskid=task,
                    eventtype=eventtype,
                    mode=1,
                    agentid=agent.number,
                    agent_id=agent.resource_id,
                    customerNumber=CUSTOMER,
                    **extra,
                )

            event(t, "CallStart", mandatorid=MANDATOR[0], **numbers)
            self.agent_state(agent, t, "outalerting", requesttext=text, **common, **numbers)
            t = yield rng.randint(1, 4)
            event(t, "AConnected", mandatorid=MANDATOR[0])
            self.agent_state(agent, t, "balerting", requesttext=text, **common, **numbers)
            outcome = rng.choices(("connected", "busy", "timeout"), (0.6, 0.2, 0.2))[0]
            if outcome == "connected":
                t = yield rng.randint(4, 25)
                event(t, "BConnected", mandatorid=MANDATOR[0])
                self.agent_state(agent, t, "outconnect", requesttext=text, **common, **numbers)
                if rng.random() < 0.3:
                    self.emit(
                        t + 1,
                        "recordedcall",
                        taskid=task,
                        agentid=agent.number,
                        mode=1,
                        agent_id=agent.resource_id,
                        customerNumber=CUSTOMER,
                    )
                t = yield int(min(900, max(15, rng.lognormvariate(math.log(120), 0.6))))
                event(t, "CallEnd", mandatorid=MANDATOR[0], tried=1, connected=1)
                acw = rng.randint(5, 60)
                self.agent_state(agent, t, "outworking", mode=1, dialer=1, taskid=task)
                if rng.random() < 0.5:
                    self.classify(t + rng.randint(1, acw - 1), task, agent, 1, None)
                t = yield acw
            else:
                t = yield rng.randint(3, 6) if outcome == "busy" else 30
                event(t, "BBusy" if outcome == "busy" else "BTimeout", mandatorid=MANDATOR[0])
                self.agent_state(agent, t, "bbusy" if outcome == "busy" else "btimeout", **common, **numbers)
                t = yield 1
                event(t, "CallEnd", mandatorid=MANDATOR[0], tried=1, connected=0)
                t = yield 1
            self.agent_state(agent, t, "outonline", mode=1, dialer=1)
        t = yield rng.randint(5, 30)
        agent.status = "busy"
        agent.mode = 1
        self.become_idle(t, agent)

    # ------------------------------------------------------------------ everything else

    def setup_misc(self) -> None:
        rng = self.rng
        day = self.config.day
        digest = hashlib.blake2b(f"sched/{self.config.seed}/{day}".encode(), digest_size=3).digest()
        schedule_base = day.toordinal() * 10**7 + int.from_bytes(digest, "big") % 10**4 * 1000
        used: set[int] = set()

        def moment() -> int:
            while True:
                t = rng.randint(self.clock(8, 30), self.clock(17, 30))
                if t not in used:
                    used.add(t)
                    return t

        for k in range(rng.randint(3, 5)):
            start = day + timedelta(days=rng.randint(1, 5))
            hour = rng.randint(9, 15)
            self.emit(
                moment(),
                "schedulecallevent",
                scheduleid=schedule_base + k + 1,
                agentid=rng.choice(self.agents).number,
                callednumber=self.random_phone().render(self.fmt()),
                timefrom=f"{hour:02d}:00",
                timeto=f"{hour + 2:02d}:00",
                weekdays=1,
                saturday=int(rng.random() < 0.3),
                sunday=0,
                nextretrystartdate=f"{start.isoformat()} {hour:02d}:00",
                nextretryenddate=f"{start.isoformat()} {hour + 2:02d}:00",
                agenttype=rng.choice(("ONLY_AGENT", "EVERYONE")),
                requesttext=rng.choice(("Rückruf gewünscht", "Termin bestätigen", "Angebot nachfassen")),
                schedulestartdates=";".join(
                    (start + timedelta(days=d)).isoformat() for d in range(rng.randint(1, 3))
                ),
                customerNumber=CUSTOMER,
            )
        changes = (
            ("update", "agent", None),
            ("create", "pause reason", None),
            ("update", "hotline", "group"),
            ("delete", "classificator", None),
        )
        for action, kind, second in rng.sample(changes, k=rng.randint(2, 3)):
            self.emit(
                moment(),
                "configchanged",
                action=action,
                type=kind,
                secondtype=second,
                customerNumber=CUSTOMER,
            )
        messages = (
            "Großstörung im Netz Köln – bitte Störungsansage nutzen",
            "Bitte an die Schulung um 14 Uhr denken (Raum Düsseldorf)",
            "Kaffeeküche im 2. OG wieder geöffnet",
        )
        for message in rng.sample(messages, k=rng.randint(1, 2)):
            self.emit(
                moment(),
                "broadcastevent",
                admin="Supervisorin Jürgens",
                groupid=rng.choice(list(GROUPS)),
                message=message,
                customerNumber=CUSTOMER,
            )


def generate_day(config: SimConfig) -> list[SimEvent]:
    """The day's callbacks in time order (ties in causal order). Pure: same config, same list."""
    sim = _DaySim(config)
    sim.setup_agents()
    sim.setup_calls()
    sim.setup_misc()
    return sim.run()


# =========================================================================== sending plan


@dataclass(frozen=True)
class Request:
    index: int  # into the event list
    method: str  # GET | PUT | HEAD
    copy: int = 0  # 0: first delivery, 1..: a duplicate
    in_query: bool = True  # PUT: parameters in the query string instead of a form body


def plan_requests(
    events: Sequence[SimEvent],
    *,
    methods: Sequence[str] = ("get", "put"),
    duplicates: float = 0.0,
    shuffle_window: int = 0,
    seed: int = 1,
) -> list[Request]:
    """Time order; with ``shuffle_window`` N every event moves by less than N places (sorted by
    position + uniform(0, N)); ``duplicates`` of the events are delivered again a little later
    (a quarter of those a third time); a method per request from ``methods``."""
    if not 0 <= duplicates <= 1:
        raise ValueError("duplicates must be a fraction between 0 and 1")
    methods = [m.strip().upper() for m in methods if m.strip()]
    if not methods or any(m.lower() not in METHODS for m in methods):
        raise ValueError(f"methods must be some of {', '.join(METHODS)}")
    rng = random.Random(f"acd-sim-plan/{seed}/{len(events)}")  # noqa: S311 - reproducible, not secret
    order = list(range(len(events)))
    if shuffle_window > 1:
        keys = {i: i + rng.random() * shuffle_window for i in order}
        order.sort(key=keys.__getitem__)
    slots: list[tuple[float, int, int]] = [(float(pos), index, 0) for pos, index in enumerate(order)]
    repeated = rng.sample(range(len(order)), k=round(duplicates * len(order))) if order else []
    for pos in sorted(repeated):
        copies = 2 if rng.random() < 0.25 else 1
        later = pos
        for copy in range(1, copies + 1):
            later += rng.randint(1, 60)
            slots.append((later + 0.5, order[pos], copy))
    slots.sort()
    plan = []
    for _, index, copy in slots:
        method = rng.choice(methods)
        plan.append(Request(index, method, copy, in_query=method != "PUT" or rng.random() < 0.2))
    return plan


# =========================================================================== sender


@dataclass(frozen=True)
class Answer:
    request: Request
    status: int | None  # None: no HTTP answer (connection error)
    body: str = ""
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


@dataclass
class SendReport:
    requests: int = 0
    ok: int = 0
    failures: list[Answer] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    elapsed_s: float = 0.0
    aborted: bool = False


class TokenBucket:
    """At most ``rate`` acquisitions per second on average, bursts up to ``capacity``; shared by
    the sender threads. ``rate`` 0: no limit."""

    def __init__(
        self,
        rate: float,
        capacity: float | None = None,
        clock: Callable[[], float] = time_module.monotonic,
        sleep: Callable[[float], None] = time_module.sleep,
    ) -> None:
        self.rate = rate
        self.capacity = capacity if capacity is not None else max(1.0, rate / 10)
        self.tokens = self.capacity
        self.clock = clock
        self.sleep = sleep
        self.updated = clock()
        self.lock = threading.Lock()

    def acquire(self) -> None:
        if self.rate <= 0:
            return
        while True:
            with self.lock:
                now = self.clock()
                self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
                self.updated = now
                if self.tokens >= 1 - 1e-9:  # float sums of the refills land just below 1
                    self.tokens = max(0.0, self.tokens - 1)
                    return
                wait = (1 - self.tokens) / self.rate
            self.sleep(wait)


def callback_path(url: str, token: str | None) -> tuple[str, str, int, str]:
    """(scheme, host, port, path) of the callback URL with ``/<token>`` appended."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {url!r}")
    path = parts.path.rstrip("/") or ""
    if token:
        path = f"{path}/{quote(token, safe='')}"
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return parts.scheme, parts.hostname, port, path or "/"


def encode(params: dict[str, str]) -> str:
    return urlencode(list(params.items()), quote_via=quote, encoding="utf-8")


TRANSPORT_ERRORS = (http.client.HTTPException, ConnectionError, TimeoutError, OSError)
MAX_TRANSPORT_FAILURES = 20


class _Sender:
    """Worker threads sharing one request cursor; each keeps its own keep-alive connection."""

    def __init__(
        self,
        events: Sequence[SimEvent],
        url: str,
        token: str | None,
        *,
        plan: Sequence[Request],
        rate: float,
        timeout: float,
        on_answer: Callable[[Answer], None] | None,
    ) -> None:
        self.scheme, self.host, self.port, self.path = callback_path(url, token)
        self.events = events
        self.timeout = timeout
        self.on_answer = on_answer
        self.report = SendReport(requests=len(plan))
        self.bucket = TokenBucket(rate)
        self.lock = threading.Lock()
        self.cursor = iter(plan)
        self.stop = threading.Event()
        self.transport_failures = 0

    def connect(self) -> http.client.HTTPConnection:
        if self.scheme == "https":
            return http.client.HTTPSConnection(self.host, self.port, timeout=self.timeout)
        return http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)

    def deliver(self, conn: http.client.HTTPConnection, request: Request) -> Answer:
        query = encode(self.events[request.index].params)
        headers = {"User-Agent": "acd-sim/1", "Connection": "keep-alive"}
        if request.method == "PUT" and not request.in_query:
            target, body = self.path, query.encode("ascii")
            headers["Content-Type"] = "application/x-www-form-urlencoded; charset=utf-8"
        else:
            target, body = f"{self.path}?{query}", b""
        if request.method == "PUT":
            headers["Content-Length"] = str(len(body))
        conn.request(request.method, target, body=body or None, headers=headers)
        response = conn.getresponse()
        text = response.read().decode("utf-8", "replace")
        return Answer(request, response.status, text[:500])

    def attempt(
        self, conn: http.client.HTTPConnection, request: Request
    ) -> tuple[Answer, http.client.HTTPConnection]:
        """Up to three tries: a keep-alive connection the server dropped is retried on a new one
        (a repeat is harmless: the hub stores each event once)."""
        answer = Answer(request, None, error="not sent")
        for attempt in range(3):
            try:
                return self.deliver(conn, request), conn
            except TRANSPORT_ERRORS as exc:
                conn.close()
                conn = self.connect()
                answer = Answer(request, None, error=f"{type(exc).__name__}: {exc}")
                time_module.sleep(0.05 * attempt)
        return answer, conn

    def record(self, answer: Answer) -> None:
        report = self.report
        with self.lock:
            if answer.ok:
                report.ok += 1
                report.statuses[str(answer.status)] += 1
                return
            report.failures.append(answer)
            report.statuses[str(answer.status) if answer.status else "no answer"] += 1
            if answer.status is None:
                self.transport_failures += 1
                if self.transport_failures >= MAX_TRANSPORT_FAILURES:
                    report.aborted = True
                    self.stop.set()

    def work(self) -> None:
        conn = self.connect()
        try:
            while not self.stop.is_set():
                with self.lock:
                    request = next(self.cursor, None)
                if request is None:
                    return
                self.bucket.acquire()
                answer, conn = self.attempt(conn, request)
                self.record(answer)
                if self.on_answer:
                    self.on_answer(answer)
        finally:
            conn.close()


def send(
    events: Sequence[SimEvent],
    url: str,
    token: str | None,
    *,
    plan: Sequence[Request] | None = None,
    concurrency: int = 4,
    rate: float = 0.0,
    timeout: float = 30.0,
    on_answer: Callable[[Answer], None] | None = None,
) -> SendReport:
    """Send each planned request (default: every event once, by GET, in order) from
    ``concurrency`` threads; every answer is checked (2xx expected) and reported. Stops early
    after :data:`MAX_TRANSPORT_FAILURES` requests got no HTTP answer at all."""
    plan = list(plan) if plan is not None else [Request(i, "GET") for i in range(len(events))]
    sender = _Sender(events, url, token, plan=plan, rate=rate, timeout=timeout, on_answer=on_answer)
    started = time_module.monotonic()
    threads = [
        threading.Thread(target=sender.work, name=f"acd-sim-{k}", daemon=True)
        for k in range(max(1, concurrency))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    sender.report.elapsed_s = time_module.monotonic() - started
    return sender.report


# =========================================================================== CLI


def today_in(zone: str) -> date:
    return datetime.now(ZoneInfo(zone)).date()


def default_token() -> str | None:
    tokens = [part.strip() for part in os.environ.get("ACD_CALLBACK_TOKENS", "").split(",") if part.strip()]
    return tokens[0] if tokens else None


def build_expectations(
    events: Sequence[SimEvent], plan: Sequence[Request], config: SimConfig, sl_seconds: int
) -> dict[str, Any]:
    truth = expectations(events, sl_seconds, config.zone, config.day)
    truth["sent"] = {
        "events": len(events),
        "requests": len(plan),
        "by_cmd": dict(sorted(Counter(e.cmd for e in events).items())),
    }
    return truth


def kpi_table(truth: dict[str, Any]) -> Table:
    """The expected day KPIs: one column per hotline (fits a narrow terminal)."""
    names = {str(h.id): h.name for h in HOTLINES}
    table = Table(
        title=f"Expected KPIs {truth['day']} (service level: answered within {truth['sl_seconds']} s)",
        box=box.SIMPLE_HEAVY,
    )
    table.add_column("KPI")
    hotlines = list(truth["kpis"])
    for hotline in hotlines:
        table.add_column(f"{hotline}\n{names.get(hotline, '')}".strip(), justify="right")
    # The words, units and formats of acd-report (acd_cli.labels): ``0:08``, ``6.2 %``, so the
    # two can be compared by eye. The figures themselves stay the ground truth's own.
    for kpi in labels.KPIS:
        table.add_row(kpi.header, *(kpi.show(truth["kpis"][h]["day"][kpi.name]) for h in hotlines))
    return table


def _parse_day(_ctx: click.Context, _param: click.Parameter, value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter("expected YYYY-MM-DD") from None


def _parse_methods(_ctx: click.Context, _param: click.Parameter, value: str) -> list[str]:
    methods = [m.strip().lower() for m in value.split(",") if m.strip()]
    bad = [m for m in methods if m not in METHODS]
    if not methods or bad:
        raise click.BadParameter(f"choose from {', '.join(METHODS)} (comma-separated)")
    return methods


def _mask(token: str | None) -> str:
    return "(none)" if not token else (token[:3] + "…" if len(token) > 6 else "…")


@click.command(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.option(
    "--url", default=DEFAULT_URL, show_default=True, help="Callback URL; the token is appended as /<token>."
)
@click.option("--token", default=None, help="Callback token (default: first of $ACD_CALLBACK_TOKENS).")
@click.option(
    "--day", callback=_parse_day, help="Day to simulate, YYYY-MM-DD (default: today in Europe/Berlin)."
)
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--agents", type=click.IntRange(1, 899_999), default=12, show_default=True)
@click.option("--calls", type=click.IntRange(0), default=300, show_default=True, help="Inbound calls.")
@click.option("--outbound", type=click.IntRange(0), default=40, show_default=True, help="Dialer calls.")
@click.option(
    "--rate",
    type=click.FloatRange(0),
    default=0.0,
    show_default=True,
    help="Callbacks per second (0: as fast as possible).",
)
@click.option(
    "--concurrency",
    type=click.IntRange(1, 64),
    default=4,
    show_default=True,
    help="Sender threads (keep-alive connections).",
)
@click.option(
    "--duplicates",
    type=click.FloatRange(0, 1),
    default=0.0,
    show_default=True,
    help="Share of events sent again (some a third time).",
)
@click.option(
    "--shuffle-window",
    type=click.IntRange(0),
    default=0,
    show_default=True,
    help="Random order within sliding windows of N events (0: time order).",
)
@click.option(
    "--methods",
    default="get,put",
    show_default=True,
    callback=_parse_methods,
    help="HTTP methods to mix: get,put,head.",
)
@click.option(
    "--phone-format", type=click.Choice([*PHONE_FORMATS, "mixed"]), default="mixed", show_default=True
)
@click.option(
    "--expect-out", type=click.Path(dir_okay=False, path_type=Path), help="Write the expectations JSON here."
)
@click.option("--dry-run", is_flag=True, help="Generate and print the expectations; send nothing.")
@click.option(
    "--sl-seconds", type=click.IntRange(0), default=20, show_default=True, help="Service-level threshold."
)
@click.option(
    "--quiet", "-q", is_flag=True, help="No progress bar and no tables; failures are still printed."
)
def main(
    *,
    url: str,
    token: str | None,
    day: date | None,
    seed: int,
    agents: int,
    calls: int,
    outbound: int,
    rate: float,
    concurrency: int,
    duplicates: float,
    shuffle_window: int,
    methods: list[str],
    phone_format: str,
    expect_out: Path | None,
    dry_run: bool,
    sl_seconds: int,
    quiet: bool,
) -> None:
    """Simulate a call-center day, send its callbacks to URL, print the KPIs the hub must report."""
    console = Console(stderr=False, highlight=False)
    errors = Console(stderr=True, highlight=False)
    config = SimConfig(
        day=day or today_in(ZONE_NAME),
        seed=seed,
        agents=agents,
        calls=calls,
        outbound=outbound,
        phone_format=phone_format,
    )
    token = token if token is not None else default_token()
    events = generate_day(config)
    plan = plan_requests(
        events, methods=methods, duplicates=duplicates, shuffle_window=shuffle_window, seed=seed
    )
    truth = build_expectations(events, plan, config, sl_seconds)
    if expect_out:
        expect_out.write_text(json.dumps(truth, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")

    by_cmd = ", ".join(f"{cmd} {n}" for cmd, n in truth["sent"]["by_cmd"].items())
    methods_used = Counter(r.method for r in plan)
    if not quiet:
        console.print(
            f"[bold]acd-sim[/] {config.day} seed {seed}: {len(events)} events ({by_cmd}); "
            f"{len(plan)} requests ({', '.join(f'{m} {n}' for m, n in sorted(methods_used.items()))})"
        )
    if dry_run:
        if not quiet:
            console.print(kpi_table(truth))
            if expect_out:
                console.print(f"expectations written to {expect_out}")
        return

    try:
        callback_path(url, token)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--url") from None
    if not quiet:
        console.print(
            f"sending to {url} (token {_mask(token)}), {concurrency} connections"
            + (f", {rate:g}/s" if rate else "")
        )
    report = _send_with_progress(
        console, events, plan, url, token, concurrency=concurrency, rate=rate, quiet=quiet
    )
    _print_failures(errors, events, report)
    done = report.ok + len(report.failures)
    summary = (
        f"{done}/{report.requests} requests in {report.elapsed_s:.1f} s "
        f"({done / report.elapsed_s if report.elapsed_s else 0:.0f}/s): {report.ok} ok, "
        f"{len(report.failures)} failed; statuses {dict(sorted(report.statuses.items()))}"
    )
    if not quiet:
        console.print(summary)
        console.print(kpi_table(truth))
        if expect_out:
            console.print(f"expectations written to {expect_out}")
    elif report.failures:
        errors.print(summary)
    if report.failures or report.aborted:
        sys.exit(1)


def _send_with_progress(
    console: Console,
    events: Sequence[SimEvent],
    plan: Sequence[Request],
    url: str,
    token: str | None,
    *,
    concurrency: int,
    rate: float,
    quiet: bool,
) -> SendReport:
    with Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[failed]} failed"),
        TimeRemainingColumn(),
        console=console,
        disable=quiet,
    ) as progress:
        task_id = progress.add_task("sending", total=len(plan), failed=0)
        failed = 0
        lock = threading.Lock()

        def on_answer(answer: Answer) -> None:
            nonlocal failed
            with lock:
                failed += 0 if answer.ok else 1
                progress.update(task_id, advance=1, failed=failed)

        return send(events, url, token, plan=plan, concurrency=concurrency, rate=rate, on_answer=on_answer)


MAX_FAILURES_SHOWN = 20


def _print_failures(errors: Console, events: Sequence[SimEvent], report: SendReport) -> None:
    for answer in report.failures[:MAX_FAILURES_SHOWN]:
        event = events[answer.request.index]
        what = f"HTTP {answer.status}" if answer.status else answer.error
        errors.print(
            f"[red]FAILED[/] {answer.request.method} {event.cmd} {_brief(event)}: {what} {answer.body[:200]}",
            markup=True,
            highlight=False,
        )
    if len(report.failures) > MAX_FAILURES_SHOWN:
        errors.print(f"... and {len(report.failures) - MAX_FAILURES_SHOWN} more failures")
    if report.aborted:
        errors.print(f"[red]aborted[/] after {MAX_TRANSPORT_FAILURES} requests got no answer")


def _brief(event: SimEvent) -> str:
    p = event.params
    keys = ("id", "taskid", "eventtype", "agentid", "state", "callid", "scheduleid", "eventtime")
    return " ".join(f"{k}={p[k]}" for k in keys if k in p)


if __name__ == "__main__":
    main()
