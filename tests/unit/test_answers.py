"""Every answer the callback function sends is its pydantic model's, and so matches the schema the
OpenAPI document generates from that model (docs/openapi.yaml): status by status, over the real
function and an in-memory store."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from acd_devkit.lambda_events import callback_event
from acd_devkit.openapi import ANSWERS, answer_schema
from acd_hub.auth import static_tokens
from acd_hub.errors import TokensUnavailable
from acd_hub.ingest import CallbackIngest
from acd_hub.settings import HubSettings
from tests.support import TOKEN, MemoryStore, ingest_function, lambda_context

AGENTSTATE = [("cmd", "agentstate"), ("agentid", "100001"), ("mode", "0"), ("state", "paused")]
NOW_MS = "1763629200000"
CALL = [("cmd", "callevent"), ("id", "42"), ("taskid", "ab"), ("eventtime", NOW_MS)]


def send(ingest: CallbackIngest, params: Sequence[tuple[str, str]], token: str = TOKEN) -> dict[str, Any]:
    with ingest_function(ingest) as function:
        answer: dict[str, Any] = function.lambda_handler(
            callback_event("GET", params, token=token), lambda_context()
        )
    return answer


def no_tokens() -> Sequence[str]:
    raise TokensUnavailable("ThrottlingException")


def answers() -> list[tuple[str, int, dict[str, Any]]]:
    """(schema, status, answer) of one request per documented answer of the function."""
    hub = HubSettings(callback_tokens=[TOKEN])
    store = MemoryStore()
    ingest = CallbackIngest(hub, store, static_tokens(hub))
    sent = [
        ("Accepted", send(ingest, [*AGENTSTATE, ("eventtime", NOW_MS), ("pausereason", "Lunch")])),
        ("Accepted", send(ingest, [*AGENTSTATE, ("eventtime", NOW_MS), ("pausereason", "Lunch")])),
        ("BadRequest", send(ingest, [*AGENTSTATE, ("agentid", "1")])),
        ("Accepted", send(ingest, [*CALL, ("eventtype", "CallStart")])),
        ("Conflict", send(ingest, [*CALL, ("eventtype", "CallEnd")])),  # the same id, other content
        ("Unauthorized", send(ingest, AGENTSTATE, token="wrong")),
    ]
    forbidden = HubSettings(callback_tokens=[TOKEN], allowed_source_cidrs=["10.0.0.0/8"])
    sent.append(("Forbidden", send(CallbackIngest(forbidden, store, static_tokens(forbidden)), AGENTSTATE)))
    sent.append(("StoreUnavailable", send(CallbackIngest(hub, store, no_tokens), AGENTSTATE)))
    store.down = True
    sent.append(("StoreUnavailable", send(ingest, [*AGENTSTATE, ("eventtime", "1763629300000")])))
    return [(name, answer["statusCode"], json.loads(answer["body"])) for name, answer in sent]


STATUS = {
    "Accepted": 200,
    "BadRequest": 400,
    "Unauthorized": 401,
    "Forbidden": 403,
    "Conflict": 409,
    "StoreUnavailable": 503,
}


@pytest.mark.parametrize(("name", "status", "body"), answers())
def test_each_answer_matches_its_generated_schema(name: str, status: int, body: dict[str, Any]) -> None:
    assert status == STATUS[name], body
    errors = list(Draft202012Validator(answer_schema(ANSWERS[name])).iter_errors(body))
    assert not errors, [e.message for e in errors]


def test_every_answer_schema_is_sent() -> None:
    assert {name for name, _, _ in answers()} == set(ANSWERS) == set(STATUS)


def test_a_schema_refuses_an_answer_it_does_not_describe() -> None:
    """The check above can fail: a body without a field its model requires, or with no error
    named, is refused."""
    schema = answer_schema(ANSWERS["BadRequest"])
    bad = {"error": "bad_request", "message": "m", "request_id": "r", "errors": []}
    assert list(Draft202012Validator(schema).iter_errors(bad))  # minItems: 1
    assert list(Draft202012Validator(answer_schema(ANSWERS["Accepted"])).iter_errors({"status": "stored"}))


def test_a_quarantined_request_keeps_the_status_it_was_answered() -> None:
    hub = HubSettings(callback_tokens=[TOKEN])
    store = MemoryStore()
    ingest = CallbackIngest(hub, store, static_tokens(hub))
    send(ingest, [*CALL, ("eventtype", "CallStart")])
    answered = [
        send(ingest, [*AGENTSTATE, ("agentid", "1")])["statusCode"],
        send(ingest, [*CALL, ("eventtype", "CallEnd")])["statusCode"],
    ]
    assert answered == [400, 409]
    assert [item["status"] for item in store.rejected] == answered
