"""What a simulated day is made of: its settings, the callbacks it yields, and the call center's
fixed parts (hotlines, groups, the dialer campaign, phone numbers)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

ZONE_NAME = "Europe/Berlin"
PHONE_FORMATS = ("acd", "fqtn00", "plus")
CUSTOMER = "10042"


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
# The simulated agents' names, agent 100001 first (acd-sim --names-out writes them for acd-report).
AGENT_NAMES = (
    "Anna Becker", "Ben Schulz", "Clara Wagner", "David Hoffmann", "Elif Yılmaz", "Felix Koch",
    "Greta Richter", "Hannes Wolf", "Ida Neumann", "Jonas Schäfer", "Katrin Braun", "Lukas Zimmermann",
)  # fmt: skip


def agent_name(index: int) -> str:
    """The name of the simulated agent ``100001 + index`` (past the list: numbered)."""
    if index < len(AGENT_NAMES):
        return AGENT_NAMES[index]
    return f"{AGENT_NAMES[index % len(AGENT_NAMES)]} {index // len(AGENT_NAMES) + 1}"


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
DE_PREFIXES = (
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
FOREIGN = (("43", "1", 7), ("41", "44", 7), ("31", "20", 7), ("33", "1", 8), ("1", "212555", 4))


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
