"""The inbound calls of a day: they arrive (busier late morning, plus an incident burst and a
newsletter rush), queue while no agent is free, ring (sometimes time out and ring the next
agent), are answered, held, consulted, transferred, wrapped up — or abandoned, rejected (queue
full), sent to the mailbox, forwarded to an external number, or fail as a BadCall."""

from __future__ import annotations

import math
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any

from acd_sim.agents import Agent, AgentFloor
from acd_sim.engine import DayEngine
from acd_sim.model import CUSTOMER, GROUPS, HOTLINES, QUEUE_LIMIT, RING_TIMEOUT, Hotline, Phone


@dataclass
class Call:
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


class InboundCalls:
    """The hotlines' calls and their one queue; agents come from the floor."""

    def __init__(self, engine: DayEngine, floor: AgentFloor) -> None:
        self.engine = engine
        self.floor = floor
        self.rng = engine.rng  # the day's one stream of draws, shared with every part
        self.queue: list[Call] = []
        self.hotlines = HOTLINES if engine.config.agents >= 4 else HOTLINES[:2]

    def set_up(self) -> None:
        """The day's arrivals: busier late morning, two rushes, a few bad calls."""
        engine, rng, calls = self.engine, self.rng, self.engine.config.calls
        weights = {8: 1.0, 9: 1.6, 10: 2.2, 11: 2.4, 12: 1.4, 13: 1.5, 14: 1.7, 15: 1.5, 16: 1.2, 17: 0.8}
        hours, hour_weights = list(weights), list(weights.values())
        # Two rushes that overload the agents on duty: an incident floods the Technik hotline for
        # ten minutes in the late morning, a newsletter makes Vertrieb ring in the afternoon.
        rushes = []
        if calls >= 30:
            rushes.append((round(calls * 0.15), engine.clock(10, 15) + rng.randint(0, 2700), 600, 502))
            rushes.append((round(calls * 0.06), engine.clock(15, 30) + rng.randint(0, 1800), 300, 501))
        arrivals: list[tuple[int, Hotline]] = []
        for count, start, length, hotline_id in rushes:
            hotline = next(h for h in self.hotlines if h.id == hotline_id)
            arrivals.extend((start + rng.randint(0, length), hotline) for _ in range(count))
        for _ in range(calls - len(arrivals)):
            hour = rng.choices(hours, hour_weights)[0]
            hotline = rng.choices(self.hotlines, [h.weight for h in self.hotlines])[0]
            arrivals.append((engine.clock(hour) + rng.randint(0, 3599), hotline))
        arrivals.sort(key=lambda a: a[0])
        bad = (
            set(rng.sample(range(len(arrivals)), k=max(1, round(len(arrivals) * 0.005))))
            if arrivals
            else set()
        )
        for k, (t, hotline) in enumerate(arrivals):
            call = Call(
                index=k,
                task=engine.new_task(),
                hotline=hotline,
                caller=engine.random_phone(),
                fmt=engine.fmt(),
                suppressed=rng.random() < 0.08,
                arrival=t,
                patience=max(5, int(rng.expovariate(1 / 80))),
                wants_mailbox=hotline.mailbox_after is not None and rng.random() < 0.5,
            )
            engine.at(t, self.bad_call if k in bad else self.arrive, call)

    def call_event(
        self, t: int, call: Call, eventtype: str, agent: Agent | None = None, **extra: Any
    ) -> None:
        if agent is not None:
            extra = {"agentid": agent.number, "agent_id": agent.resource_id, **extra}
        self.engine.emit(
            t, "callevent", taskid=call.task, eventtype=eventtype, mode=0, customerNumber=CUSTOMER, **extra
        )

    def numbers(self, call: Call) -> dict[str, Any]:
        return {
            "callingnumber": call.caller.render(call.fmt, call.suppressed),
            "callednumber": Phone("49", call.hotline.number).render(call.fmt),
        }

    def call_start(self, t: int, call: Call) -> None:
        self.call_event(t, call, "CallStart", hotlineid=call.hotline.id, **self.numbers(call))

    def bad_call(self, t: int, call: Call) -> None:
        self.call_start(t, call)
        self.call_event(t + 1, call, "BadCall", hotlineid=call.hotline.id)
        self.call_event(t + 2, call, "CallEnd", hotlineid=call.hotline.id, tried=0, connected=0)
        call.state = "ended"

    def arrive(self, t: int, call: Call) -> None:
        self.call_start(t, call)
        waiting = sum(1 for c in self.queue if c.hotline.id == call.hotline.id)
        if call.hotline.forward_after is not None and (waiting >= 3 or t >= self.engine.clock(17, 45)):
            # overflow, and the late service: straight on to the partner call center
            self.forward(t + 2, call)
            return
        free = self.floor.free_agents(t + 1)
        if free and not self.queue:
            self.ring(t + 1, call, free[0])
            return
        logged_in = self.floor.anyone_logged_in()
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
        self.engine.at(t + 1, self.dispatch)

    def enqueue(self, t: int, call: Call) -> None:
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
                self.engine.emit(t, "enqueuecall", taskid=call.task, customerNumber=CUSTOMER)
        if not call.fate_set:
            call.fate_set = True
            exits = [(call.patience, "abandon")]
            if call.wants_mailbox and call.hotline.mailbox_after is not None:
                exits.append((call.hotline.mailbox_after, "mailbox"))
            if call.hotline.forward_after is not None:
                exits.append((call.hotline.forward_after, "forward"))
            after, kind = min(exits)
            self.engine.at(max(t + 1, call.arrival + after), self.leave_queue, call, kind)

    def leave_queue(self, t: int, call: Call, kind: str) -> None:
        if call.state == "ringing":  # the caller hears it ring: he waits a little longer
            self.engine.at(t + RING_TIMEOUT, self.leave_queue, call, kind)
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

    def forward(self, t: int, call: Call) -> None:
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
            free = [a for a in self.floor.free_agents(t) if a.index not in call.excluded] or (
                self.floor.free_agents(t) if len(call.excluded) >= 2 else []
            )
            if not free:
                continue
            self.queue.remove(call)
            self.ring(t, call, free[0])

    def ring(self, t: int, call: Call, agent: Agent) -> None:
        agent.status = "busy"
        call.state = "ringing"
        call.tried = True
        self.alert(t, call, agent)
        if self.rng.random() < 0.06:
            self.engine.at(t + RING_TIMEOUT, self.ring_timeout, call, agent)
        else:
            self.engine.at(t + self.rng.randint(2, 9), self.answer, call, agent)

    def alert(self, t: int, call: Call, agent: Agent) -> None:
        """The agent's phone rings with the call."""
        self._agent_takes(t, call, agent, "Alerting", "alerting")

    def _agent_takes(
        self, t: int, call: Call, agent: Agent, eventtype: str, state: str, **extra: Any
    ) -> None:
        """The call's ``eventtype`` naming the agent, and his agent state ``state`` with the call."""
        hotline = call.hotline
        self.call_event(t, call, eventtype, agent, hotlineid=hotline.id, groupid=hotline.group)
        self.floor.agent_state(
            agent,
            t,
            state,
            taskid=call.task,
            hotline=hotline.name,
            hotlineid=hotline.id,
            **extra,
            **self.numbers(call),
        )

    def ring_timeout(self, t: int, call: Call, agent: Agent) -> None:
        self.call_event(t, call, "Timeout", agent, hotlineid=call.hotline.id)
        self.floor.agent_state(agent, t, "timeouted", taskid=call.task)
        self.engine.at(t + self.rng.randint(3, 20), self.floor.become_idle, agent)
        call.excluded.add(agent.index)
        self.enqueue(t, call)
        self.engine.at(t + 1, self.dispatch)

    def answer(self, t: int, call: Call, agent: Agent) -> None:
        call.state = "connected"
        self.connect(t, call, agent)
        self.engine.spawn(t, self.conversation(call, agent))

    def connect(self, t: int, call: Call, agent: Agent) -> None:
        group = call.hotline.group
        self._agent_takes(t, call, agent, "Connected", "connected", group=GROUPS[group], groupid=group)

    def conversation(self, call: Call, agent: Agent) -> Generator[int, int]:
        """From Connected to CallEnd: hold, a consultation or a transfer, then wrap-up."""
        t = yield 0
        rng = self.rng
        if rng.random() < 0.3:
            self.floor.recorded(t + 1, agent, call.task, mode=0)
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
            partner = next(iter(self.floor.free_agents(t)), None)
            if partner is not None:
                partner.status = "busy"
                self.call_event(t, call, "ConfAgent", agent, conf_agent=partner.number)
                t = yield rng.randint(2, 8)
                self.floor.agent_state(partner, t, "busy")
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
                self.floor.become_idle(t, partner)
            t = yield max(5, int(talk * 0.5))
        elif feature == "transfer":
            t = yield int(talk * rng.uniform(0.3, 0.6))
            target = next(iter(self.floor.free_agents(t)), None)
            if target is not None:
                target.status = "busy"
                self.call_event(t, call, "ForwardAgent", target, hotlineid=call.hotline.id)
                self.wrap_up(t, call, agent)
                t = yield 1
                self.alert(t, call, target)
                t = yield rng.randint(2, 8)
                self.connect(t, call, target)
                agent = target
            t = yield max(10, int(talk * 0.6))
        else:
            t = yield talk
        self.end_call(t, call, agent)

    def end_call(self, t: int, call: Call, agent: Agent) -> None:
        call.state = "ended"
        self.call_event(t, call, "CallEnd", agent, hotlineid=call.hotline.id, tried=1, connected=1)
        self.wrap_up(t, call, agent)

    def wrap_up(self, t: int, call: Call, agent: Agent) -> None:
        """After-call work with the task id, maybe a classification, then the next thing."""
        rng = self.rng
        acw = int(min(300, max(5, rng.lognormvariate(math.log(40), 0.7))))
        self.floor.agent_state(agent, t, "working", taskid=call.task)
        if rng.random() < 0.5:
            self.floor.classify(
                t + rng.randint(1, acw - 1) if acw > 2 else t + 1, call.task, agent, 0, call.hotline.id
            )
        self.engine.at(t + acw, self.floor.become_idle, agent)
