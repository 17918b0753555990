"""The ACD's vocabulary (``acd_hub.vocabulary``) is the spec's, and what the models accept."""

from __future__ import annotations

import ast
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from acd_hub import vocabulary
from acd_hub.errors import BadCallback
from acd_hub.models import ParseContext, parse_callback
from acd_hub.vocabulary import (
    AGENT_STATES,
    CMDS,
    EVENT_TYPE_BY_LOWER,
    EVENT_TYPES,
    PAUSE_STATES,
    TALK_STATES,
    TERMINAL_ROUTING,
    WORK_STATES,
)

CONTEXT = ParseContext(ZoneInfo("Europe/Berlin"))
MS = "1763629200000"


def test_stdlib_only() -> None:
    tree = ast.parse(Path(vocabulary.__file__).read_text(encoding="utf-8"))
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert imported
    assert {name.split(".")[0] for name in imported} <= sys.stdlib_module_names | {"__future__"}


def test_the_lists_have_no_repeats() -> None:
    for names in (CMDS, AGENT_STATES, EVENT_TYPES):
        assert len(set(names)) == len(names)
    assert len(EVENT_TYPE_BY_LOWER) == len(EVENT_TYPES)


def test_the_counted_states_and_routing_are_of_the_vocabulary() -> None:
    counted = (TALK_STATES, WORK_STATES, PAUSE_STATES)
    assert set(AGENT_STATES).issuperset(TALK_STATES | WORK_STATES | PAUSE_STATES)
    assert sum(map(len, counted)) == len(frozenset().union(*counted))  # no state in two sets
    assert set(TERMINAL_ROUTING) <= set(EVENT_TYPES)
    assert len(set(TERMINAL_ROUTING.values())) == len(TERMINAL_ROUTING)


@pytest.mark.parametrize("state", AGENT_STATES)
def test_every_state_is_accepted_in_any_case(state: str) -> None:
    params = {"cmd": "agentstate", "agentid": "100001", "mode": "0", "state": state.upper(), "eventtime": MS}
    assert parse_callback(params, CONTEXT).state == state  # type: ignore[union-attr]


@pytest.mark.parametrize("event_type", EVENT_TYPES)
def test_every_event_type_is_accepted_in_any_case(event_type: str) -> None:
    params = {
        "cmd": "callevent",
        "id": "1",
        "taskid": "ab12",
        "eventtype": event_type.lower(),
        "eventtime": MS,
    }
    assert parse_callback(params, CONTEXT).eventtype == event_type  # type: ignore[union-attr]


def test_a_word_outside_the_vocabulary_is_refused() -> None:
    for params, name in (
        (
            {"cmd": "agentstate", "agentid": "100001", "mode": "0", "state": "sleeping", "eventtime": MS},
            "state",
        ),
        (
            {"cmd": "callevent", "id": "1", "taskid": "ab12", "eventtype": "Ringing", "eventtime": MS},
            "eventtype",
        ),
        ({"cmd": "hangupevent"}, "cmd"),
    ):
        with pytest.raises(BadCallback) as caught:
            parse_callback(params, CONTEXT)
        assert [e.parameter for e in caught.value.errors] == [name]
