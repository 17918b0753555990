"""The outbound dialer campaign: its agents call customers one after the other (A side rings,
B side answers, is busy or does not pick up), with a pause halfway and after-call work."""

from __future__ import annotations

import math
from collections.abc import Generator
from typing import Any

from acd_sim.agents import Agent, AgentFloor
from acd_sim.engine import DayEngine
from acd_sim.model import CUSTOMER, MANDATOR, REQUEST_TEXTS


class Dialer:
    """Runs as an agent's process (:meth:`campaign`) when his dialer duty is due."""

    def __init__(self, engine: DayEngine, floor: AgentFloor) -> None:
        self.engine = engine
        self.floor = floor

    def campaign(self, agent: Agent, calls: int) -> Generator[int, int]:
        """The agent's share of the campaign's calls, one after the other, then back online."""
        rng = self.engine.rng
        t = yield 0
        self.floor.agent_state(agent, t, "outonline", mode=1, dialer=1)
        paused = False
        for k in range(calls):
            t = yield rng.randint(3, 25)
            if not paused and k >= calls // 2 and rng.random() < 0.5:
                paused = True
                self.floor.agent_state(agent, t, "outpaused", mode=1, dialer=1, pause__reason="Kaffee")
                t = yield rng.randint(120, 400)
                self.floor.agent_state(agent, t, "outonline", mode=1, dialer=1)
                t = yield rng.randint(3, 10)
            t = yield from self.call(agent, t)
            self.floor.agent_state(agent, t, "outonline", mode=1, dialer=1)
        t = yield rng.randint(5, 30)
        agent.status = "busy"
        agent.mode = 1
        self.floor.become_idle(t, agent)

    def call(self, agent: Agent, t: int) -> Generator[int, int, int]:
        """One customer's call, dialed at ``t``, to the end of its after-call work (returned)."""
        rng = self.engine.rng
        task = self.engine.new_task()
        customer = self.engine.random_phone()
        fmt = self.engine.fmt()
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

        def event(at: int, eventtype: str, **extra: Any) -> None:
            self.engine.emit(
                at,
                "callevent",
                taskid=task,
                eventtype=eventtype,
                mode=1,
                agentid=agent.number,
                agent_id=agent.resource_id,
                customerNumber=CUSTOMER,
                mandatorid=MANDATOR[0],
                **extra,
            )

        event(t, "CallStart", **numbers)
        self.floor.agent_state(agent, t, "outalerting", requesttext=text, **common, **numbers)
        t = yield rng.randint(1, 4)
        event(t, "AConnected")
        self.floor.agent_state(agent, t, "balerting", requesttext=text, **common, **numbers)
        outcome = rng.choices(("connected", "busy", "timeout"), (0.6, 0.2, 0.2))[0]
        if outcome == "connected":
            t = yield rng.randint(4, 25)
            event(t, "BConnected")
            self.floor.agent_state(agent, t, "outconnect", requesttext=text, **common, **numbers)
            if rng.random() < 0.3:
                self.floor.recorded(t + 1, agent, task, mode=1)
            t = yield int(min(900, max(15, rng.lognormvariate(math.log(120), 0.6))))
            event(t, "CallEnd", tried=1, connected=1)
            acw = rng.randint(5, 60)
            self.floor.agent_state(agent, t, "outworking", mode=1, dialer=1, taskid=task)
            if rng.random() < 0.5:
                self.floor.classify(t + rng.randint(1, acw - 1), task, agent, 1, None)
            t = yield acw
        else:
            t = yield rng.randint(3, 6) if outcome == "busy" else 30
            event(t, "BBusy" if outcome == "busy" else "BTimeout")
            self.floor.agent_state(
                agent, t, "bbusy" if outcome == "busy" else "btimeout", **common, **numbers
            )
            t = yield 1
            event(t, "CallEnd", tried=1, connected=0)
            t = yield 1
        return t
