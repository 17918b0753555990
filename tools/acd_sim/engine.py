"""The discrete-event simulation every part of a day runs on, and what the parts share: the
random numbers, the ids, the callbacks emitted so far and how the ACD writes their times."""

from __future__ import annotations

import hashlib
import heapq
import itertools
import random
from collections.abc import Callable, Generator
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from acd_sim.model import DE_PREFIXES, FOREIGN, PHONE_FORMATS, Phone, SimConfig, SimEvent


class DayEngine:
    """Actions at whole seconds relative to 08:00 local, run in time order (ties in the order
    they were scheduled). A process is a generator that yields delays (see :meth:`spawn`)."""

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
        # one sequence for the heap, the emitted callbacks and the agents' duties: ties keep the
        # order in which they were made
        self.seq = itertools.count()
        self.raw: list[tuple[int, int, dict[str, str]]] = []  # (t, seq, params)
        self.tasks: set[str] = set()

    # ------------------------------------------------------------------ scheduling

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

    # ------------------------------------------------------------------ callbacks

    def emit(self, t: int, cmd: str, **params: Any) -> None:
        """A callback at ``t``; ``name__part`` is sent as ``name-part``, None is left out."""
        values = {"cmd": cmd}
        values.update({name.replace("__", "-"): str(v) for name, v in params.items() if v is not None})
        self.raw.append((t, next(self.seq), values))

    def finish(self) -> list[SimEvent]:
        """The callbacks in time order, with their ids and their times as the ACD writes them:
        local wall-clock strings for callevent and recordedcall, ms since the epoch otherwise."""
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

    # ------------------------------------------------------------------ times

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

    # ------------------------------------------------------------------ draws

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
            country, prefix, digits = self.rng.choice(FOREIGN)
            return Phone(country, prefix + "".join(self.rng.choice("0123456789") for _ in range(digits)))
        prefix, digits = self.rng.choice(DE_PREFIXES)
        first = self.rng.choice("123456789")
        return Phone("49", prefix + first + "".join(self.rng.choice("0123456789") for _ in range(digits - 1)))
