"""The agents' day: staggered shifts, pauses (Mittag, Kaffee, Schulung), the dialer duty of one
or two of them, and the agent states each change sends."""

from __future__ import annotations

import heapq
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any

from acd_sim.engine import DayEngine
from acd_sim.model import CLASSIFICATIONS, CUSTOMER, MANDATOR, Phone

# The simulated agents' numbers start here: anything below is never one of them (the README's
# first callback uses 100000, so it does not touch the simulated day's ground truth).
FIRST_AGENT_NUMBER = 100001


@dataclass
class Agent:
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


def _nothing_waits(_t: int) -> None:
    return None


class AgentFloor:
    """Every agent of the day. An agent who becomes free calls :attr:`on_available` a second
    later (the inbound queue takes him); a dialer duty runs :attr:`campaign` as his process."""

    def __init__(self, engine: DayEngine) -> None:
        self.engine = engine
        self.agents: list[Agent] = []
        self.on_available: Callable[[int], None] = _nothing_waits
        self.campaign: Callable[[Agent, int], Generator[int, int]] | None = None

    def agent_state(self, agent: Agent, t: int, state: str, mode: int = 0, **extra: Any) -> None:
        assert t > agent.last_t, f"agent {agent.number}: {state} at {t} not after {agent.last_t}"
        agent.last_t = t
        agent.mode = mode
        self.engine.emit(
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

    def set_up(self) -> None:
        """Each agent's shift, pauses and dialer duty, drawn for the day."""
        engine, rng = self.engine, self.engine.rng
        n = engine.config.agents
        kinds = ["full", "full"] + [
            rng.choice(("full", "full", "early", "late")) for _ in range(max(0, n - 2))
        ]
        trainees = set(rng.sample(range(n), k=min(n, 1 + n // 8)))
        for i in range(n):
            agent = Agent(
                index=i,
                number=str(FIRST_AGENT_NUMBER + i),
                resource_id=str(5001 + i),
                phone=Phone("49", f"22126015{i % 1000:03d}"),
                fmt=engine.fmt(),
            )
            self.agents.append(agent)
            kind = kinds[i]
            if kind == "late":
                login = engine.clock(10) + rng.randint(-900, 900)
                logout = engine.clock(17, 58) + rng.randint(0, 900)
            elif kind == "early":
                login = engine.clock(7, 45) + rng.randint(0, 1500)
                logout = engine.clock(14) + rng.randint(0, 1800)
            else:
                login = engine.clock(7, 45) + rng.randint(0, 1500)
                logout = engine.clock(17, 55) + rng.randint(0, 900)
            engine.at(login - rng.randint(20, 240), self.login, agent, login)
            self.duty(agent, logout, "logout", None)
            if kind == "full":
                lunch = engine.clock(11, 30) + rng.randint(0, 7200)
                self.duty(agent, lunch, "pause", ("Mittag", rng.randint(1800, 2700)))
            for _ in range(rng.randint(1, 2)):
                coffee = rng.randint(login + 1800, max(login + 1801, logout - 1800))
                self.duty(agent, coffee, "pause", ("Kaffee", rng.randint(300, 900)))
            if i in trainees and i >= 2:
                training = rng.choice((engine.clock(9, 30), engine.clock(14, 0))) + rng.randint(0, 1200)
                if login < training < logout - 3600:
                    self.duty(agent, training, "pause", ("Schulung", rng.randint(2700, 5400)))
            if rng.random() < 0.15:  # a pause without a configured reason
                self.duty(
                    agent, rng.randint(login + 600, logout - 600), "pause", (None, rng.randint(60, 400))
                )
        # the outbound dialer campaign: one or two full-time agents in the afternoon
        outbound = engine.config.outbound
        if outbound:
            dialers = self.agents[: 1 if n < 6 else 2]
            shares = [outbound // len(dialers) + (k < outbound % len(dialers)) for k in range(len(dialers))]
            for agent, share in zip(dialers, shares, strict=True):
                if share:
                    self.duty(agent, engine.clock(14) + rng.randint(0, 1800), "outbound", share)

    def duty(self, agent: Agent, due: int, kind: str, payload: Any) -> None:
        heapq.heappush(agent.duties, (due, next(self.engine.seq), kind, payload))
        self.engine.at(due, self.duty_due, agent)

    def login(self, t: int, agent: Agent, online_at: int) -> None:
        self.agent_state(agent, t, "offline")
        self.engine.at(online_at, self.become_idle, agent)

    def duty_due(self, t: int, agent: Agent) -> None:
        if agent.status == "idle":
            if agent.last_t < t:
                self.become_idle(t, agent)
            else:
                self.engine.at(t + 1, self.duty_due, agent)
        # busy: taken up by become_idle when the agent is done; out: after login

    def become_idle(self, t: int, agent: Agent) -> None:
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
                self.engine.at(t + length, self.become_idle, agent)
            elif kind == "outbound" and self.campaign is not None:
                self.engine.spawn(t, self.campaign(agent, payload))
            return
        if agent.status == "idle" and agent.mode == 0:
            return  # already online
        self.agent_state(agent, t, "online")
        agent.status = "idle"
        agent.idle_since = t
        self.engine.at(t + 1, self.on_available)

    def free_agents(self, t: int) -> list[Agent]:
        free = [a for a in self.agents if a.status == "idle" and a.last_t < t]
        return sorted(free, key=lambda a: (a.idle_since, a.index))

    def anyone_logged_in(self) -> bool:
        return any(a.status in ("idle", "busy") for a in self.agents)

    def recorded(self, t: int, agent: Agent, task: str, mode: int) -> None:
        """The ACD recorded the agent's call (``recordedcall``)."""
        self.engine.emit(
            t,
            "recordedcall",
            taskid=task,
            agentid=agent.number,
            mode=mode,
            agent_id=agent.resource_id,
            customerNumber=CUSTOMER,
        )

    def classify(self, t: int, task: str, agent: Agent, mode: int, hotline: int | None) -> None:
        """The agent classifies the call (inbound: by hotline, outbound: by campaign)."""
        rng = self.engine.rng
        where = {"hotlineid": hotline} if mode == 0 else {"mandatorid": MANDATOR[0]}

        def send(at: int, chosen: tuple[int, str]) -> None:
            category, reason = chosen
            self.engine.emit(
                at,
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

        send(t, rng.choice(CLASSIFICATIONS))
        if rng.random() < 0.06:  # reclassified a little later: the latest one counts
            chosen = rng.choice(CLASSIFICATIONS)
            send(t + rng.randint(30, 600), chosen)
