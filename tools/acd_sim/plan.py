"""The order of sending a day's callbacks: time order, optionally shuffled within a sliding
window, some events delivered again (``--duplicates``), each request's HTTP method."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from acd_sim.model import SimEvent

METHODS = ("get", "put", "head")


@dataclass(frozen=True)
class Request:
    index: int  # into the event list
    method: str  # GET | PUT | HEAD
    copy: int = 0  # 0: first delivery, 1..: a duplicate
    in_query: bool = True  # PUT: parameters in the query string instead of a form body
    json_body: bool = False  # PUT with a body: a JSON object instead of a form


def plan_requests(
    events: Sequence[SimEvent],
    *,
    methods: Sequence[str] = ("get", "put"),
    duplicates: float = 0.0,
    shuffle_window: int = 0,
    seed: int = 1,
    json_share: float = 0.0,
) -> list[Request]:
    """Time order; with ``shuffle_window`` N every event moves by less than N places (sorted by
    position + uniform(0, N)); ``duplicates`` of the events are delivered again a little later
    (a quarter of those a third time); a method per request from ``methods``; ``json_share`` of
    the PUT bodies a JSON object (the rest a form)."""
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
    # JSON or form: drawn apart, so the rest of the plan is the same whatever the share
    bodies = random.Random(f"acd-sim-plan-json/{seed}/{len(events)}")  # noqa: S311
    plan = []
    for _, index, copy in slots:
        method = rng.choice(methods)
        in_query = method != "PUT" or rng.random() < 0.2
        json_body = not in_query and bodies.random() < json_share
        plan.append(Request(index, method, copy, in_query=in_query, json_body=json_body))
    return plan
