"""A realistic call-center day as the callbacks its ACD sends: pure and deterministic for a
:class:`~acd_sim.model.SimConfig`.

Agents log in staggered, take pauses, run an outbound dialer campaign and log out
(:mod:`acd_sim.agents`, :mod:`acd_sim.dialer`); inbound calls arrive, queue, ring and end in
every way a real day has (:mod:`acd_sim.inbound`); plus classifications, recordings, scheduled
calls, config changes and broadcasts (:mod:`acd_sim.office`). A discrete-event simulation
(:mod:`acd_sim.engine`) keeps agent states consistent: one call per agent at a time, every
agent's events strictly increasing in time, a call's events causally ordered.
"""

from __future__ import annotations

from acd_sim.agents import AgentFloor
from acd_sim.dialer import Dialer
from acd_sim.engine import DayEngine
from acd_sim.inbound import InboundCalls
from acd_sim.model import SimConfig, SimEvent
from acd_sim.office import schedule_office_events


def generate_day(config: SimConfig) -> list[SimEvent]:
    """The day's callbacks in time order (ties in causal order). Pure: same config, same list."""
    engine = DayEngine(config)
    floor = AgentFloor(engine)
    inbound = InboundCalls(engine, floor)
    floor.on_available = inbound.dispatch  # a free agent takes the longest-waiting call
    floor.campaign = Dialer(engine, floor).campaign  # a due dialer duty runs the campaign
    # The order of the set-ups is the order of the random draws: it makes the day.
    floor.set_up()
    inbound.set_up()
    schedule_office_events(engine, floor)
    return engine.run()
