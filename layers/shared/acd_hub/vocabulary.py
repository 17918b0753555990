"""The ACD's vocabulary, written once: its messages, agent states and call event types
(``spec/acd-callback-api.md``), and the groups of them the reports count.

Stdlib only and free of the hub's own code, so that the models, the statistics, the CLI's
labels, the tests (the sample events', the template's stream filters') and the simulator's
ground truth (``tools/acd_sim/truth.py``, which keeps its own formulas) all name the same
things. Each list
is in the spec's order; the vendor's spelling is kept (states lower-case, event types in
CamelCase, both matched case-insensitively on input).
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Literal, get_args

# The message types (the ``cmd`` parameter).
Cmd = Literal[
    "agentstate",
    "callevent",
    "recordedcall",
    "classificationevent",
    "enqueuecall",
    "schedulecallevent",
    "configchanged",
    "broadcastevent",
]
CMDS: tuple[Cmd, ...] = get_args(Cmd)

# An agent's ``state``: the inbound states, then the outbound (dialer) ones (``mode`` 1).
InboundState = Literal[
    "offline",
    "online",
    "alerting",
    "connected",
    "timeouted",
    "busy",
    "working",
    "paused",
]
OutboundState = Literal[
    "outonline",
    "outalerting",
    "outbusy",
    "outtimeouted",
    "balerting",
    "bbusy",
    "btimeout",
    "bunassigned",
    "bconnected",
    "outconnect",
    "outworking",
    "outpaused",
]
AgentStateName = Literal[InboundState, OutboundState]
OUTBOUND_STATES: tuple[OutboundState, ...] = get_args(OutboundState)
AGENT_STATES: tuple[AgentStateName, ...] = get_args(AgentStateName)

# A callevent's ``eventtype``.
CallEventType = Literal[
    "CallStart",
    "Alerting",
    "Timeout",
    "BTimeout",
    "Busy",
    "BBusy",
    "Connected",
    "AConnected",
    "BConnected",
    "ForwardAgent",
    "ForwardGroup",
    "ForwardHotline",
    "ForwardNumber",
    "ConfAgent",
    "ConfGroup",
    "ConfNumber",
    "ConfBusy",
    "ConfTimeout",
    "ConfConnected",
    "ConfEnd",
    "WaitingQueue",
    "Mailbox",
    "Announcement",
    "Rejected",
    "BadCall",
    "CallEnd",
    "Holdstart",
    "Holdstop",
    "ConfConnectedWithAgent",
    "ConfConnectedWithCaller",
    "ConfConnectedWithNumber",
    "ConfConference",
    "ConfTransfer",
    "Working",
    "OutWorking",
]
EVENT_TYPES: tuple[CallEventType, ...] = get_args(CallEventType)
# An event type as the ACD may spell it (any case) -> the spec's spelling. The names are ASCII,
# so str.lower() is the ASCII-only lowering the parameters get.
EVENT_TYPE_BY_LOWER: MappingProxyType[str, CallEventType] = MappingProxyType(
    {name.lower(): name for name in EVENT_TYPES}
)

# The states the reports count: talking with a caller or customer (a handled call), after-call
# work (added to the call it wraps up), paused (split by pause reason).
TALK_STATES = frozenset({"connected", "outconnect"})
WORK_STATES = frozenset({"working", "outworking"})
PAUSE_STATES = frozenset({"paused", "outpaused"})

# An inbound call that is never answered and meets one of these events was routed away: the
# first of them names its outcome (a call that just ends is abandoned).
TERMINAL_ROUTING: MappingProxyType[str, str] = MappingProxyType(
    {
        "Rejected": "rejected",
        "BadCall": "badcall",
        "Mailbox": "mailbox",
        "ForwardNumber": "forwarded",
    }
)
