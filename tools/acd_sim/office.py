"""The rest of a day at the office: scheduled callbacks the agents arrange, configuration
changes of the supervisors, and their broadcasts to the groups."""

from __future__ import annotations

import hashlib
from datetime import timedelta

from acd_sim.agents import AgentFloor
from acd_sim.engine import DayEngine
from acd_sim.model import CUSTOMER, GROUPS


def schedule_office_events(engine: DayEngine, floor: AgentFloor) -> None:
    """Three to five scheduled callbacks, two or three config changes, one or two broadcasts, at
    distinct moments between 08:30 and 17:30."""
    rng = engine.rng
    day = engine.config.day
    digest = hashlib.blake2b(f"sched/{engine.config.seed}/{day}".encode(), digest_size=3).digest()
    schedule_base = day.toordinal() * 10**7 + int.from_bytes(digest, "big") % 10**4 * 1000
    used: set[int] = set()

    def moment() -> int:
        while True:
            t = rng.randint(engine.clock(8, 30), engine.clock(17, 30))
            if t not in used:
                used.add(t)
                return t

    for k in range(rng.randint(3, 5)):
        start = day + timedelta(days=rng.randint(1, 5))
        hour = rng.randint(9, 15)
        engine.emit(
            moment(),
            "schedulecallevent",
            scheduleid=schedule_base + k + 1,
            agentid=rng.choice(floor.agents).number,
            callednumber=engine.random_phone().render(engine.fmt()),
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
        engine.emit(
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
        engine.emit(
            moment(),
            "broadcastevent",
            admin="Supervisorin Jürgens",
            groupid=rng.choice(list(GROUPS)),
            message=message,
            customerNumber=CUSTOMER,
        )
