"""The callback contract (docs/openapi.yaml) against the running local stack.

* The committed document is exactly what :mod:`acd_devkit.openapi` generates from the models,
  it is a valid OpenAPI 3.1 document, and its examples are callbacks the models accept.
* schemathesis generates requests from the document (every method, both paths, query strings,
  form and JSON bodies, valid and invalid data) and sends them to the local stack: no answer is
  a 5xx, and every answer is documented — status code, content type, body schema, headers.

Examples per operation: 200 (``ACD_CONTRACT_EXAMPLES`` overrides); ``HYPOTHESIS_PROFILE=deep``
runs 2,000 and schemathesis' coverage phase too.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

import jsonschema
import pytest
import schemathesis
import yaml
from hypothesis import HealthCheck, settings
from openapi_spec_validator import validate as validate_openapi
from pydantic import Field
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from acd_devkit import openapi
from acd_hub.models import CALLBACK_MODELS, AgentState, ParseContext, Text, parse_callback
from acd_local.hub import LocalHub
from tests.e2e.conftest import E2E_TOKEN
from tests.e2e.test_callbacks import send

DOCUMENT = openapi.DEFAULT_PATH


DEEP = os.environ.get("HYPOTHESIS_PROFILE") == "deep"


def _examples() -> int:
    if os.environ.get("ACD_CONTRACT_EXAMPLES"):
        return int(os.environ["ACD_CONTRACT_EXAMPLES"])
    return 2_000 if DEEP else 200


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]

# The documented examples, then generated requests (valid and invalid data). The coverage phase
# (every parameter's boundary and invalid values, unexpected methods: ~1,000 requests per
# operation whatever max_examples says) runs in the deep profile.
CONFIG = schemathesis.Config.from_dict(
    {"phases": {"examples": {"enabled": True}, "fuzzing": {"enabled": True}, "coverage": {"enabled": DEEP}}}
)
schema = schemathesis.openapi.from_path(DOCUMENT, config=CONFIG)


# --- the document ---------------------------------------------------------------------------------


def test_committed_document_is_the_generated_one() -> None:
    assert DOCUMENT.read_text(encoding="utf-8") == openapi.render(), (
        "docs/openapi.yaml is stale: run `make openapi` (python -m acd_devkit.openapi)"
    )


def test_document_is_valid_openapi_3_1() -> None:
    document = yaml.safe_load(DOCUMENT.read_text(encoding="utf-8"))
    assert document["openapi"].startswith("3.1")
    validate_openapi(document)


def test_every_cmd_and_every_model_parameter_is_documented() -> None:
    document = yaml.safe_load(DOCUMENT.read_text(encoding="utf-8"))
    components = document["components"]
    assert components["parameters"]["cmdQuery"]["schema"]["enum"] == list(CALLBACK_MODELS)
    documented = {p["name"].lower() for p in components["parameters"].values()}
    for cmd, model in CALLBACK_MODELS.items():
        message = components["schemas"][model.__name__]
        assert message["properties"]["cmd"]["const"] == cmd
        for name, field in model.model_fields.items():
            alias = (field.alias or name).lower()
            assert alias in documented, f"{cmd}.{alias} is not a documented query parameter"
            assert alias in {p.lower() for p in message["properties"]}
            if field.is_required():
                assert alias in {r.lower() for r in message["required"]}


@pytest.mark.parametrize("cmd", list(CALLBACK_MODELS))
def test_the_examples_are_accepted_by_the_models_and_the_schemas(cmd: str, context: ParseContext) -> None:
    document = yaml.safe_load(DOCUMENT.read_text(encoding="utf-8"))
    message = document["components"]["schemas"][CALLBACK_MODELS[cmd].__name__]
    (example,) = message["examples"]
    event = parse_callback({k.lower(): v for k, v in example.items()}, context)
    assert event.cmd == cmd
    jsonschema.Draft202012Validator(message).validate(example)
    # each parameter's own example, put into this cmd's example, is still accepted
    for name, prop in message["properties"].items():
        variant = {**example, name: prop.get("examples", [prop.get("const")])[0]}
        parse_callback({k.lower(): v for k, v in variant.items()}, context)
        jsonschema.Draft202012Validator(message).validate(variant)


@pytest.mark.parametrize(
    ("cmd", "parameter", "bad"),
    [
        ("agentstate", "agentid", "12345"),
        ("agentstate", "agentid", "1234567"),
        ("agentstate", "taskid", "g" * 3),
        ("agentstate", "taskid", "a" * 25),
        ("agentstate", "mode", "2"),
        ("agentstate", "state", "sleeping"),
        ("callevent", "eventtype", "Teleport"),
        ("agentstate", "dialer", "yes"),
        ("schedulecallevent", "timefrom", "24:00"),
        ("schedulecallevent", "nextretrystartdate", "2025-11-21"),
    ],
)
def test_what_the_schemas_reject_the_models_reject(
    cmd: str, parameter: str, bad: str, context: ParseContext
) -> None:
    document = yaml.safe_load(DOCUMENT.read_text(encoding="utf-8"))
    message = document["components"]["schemas"][CALLBACK_MODELS[cmd].__name__]
    variant = {**message["examples"][0], parameter: bad}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(message).validate(variant)
    with pytest.raises(Exception, match=parameter):
        parse_callback({k.lower(): v for k, v in variant.items()}, context)


class _Undescribed(AgentState):
    newfield: int | None = Field(None, description="A count, but the wire format is not said.")


class _Unexplained(AgentState):
    newfield: Text | None = None


@pytest.mark.parametrize(
    ("model", "refusal"), [(_Undescribed, "no wire schema"), (_Unexplained, "no description")]
)
def test_generator_refuses_a_field_it_cannot_describe(model: type[AgentState], refusal: str) -> None:
    assert openapi.parameters_of("agentstate", AgentState)
    with pytest.raises(LookupError, match=f"agentstate.newfield.*{refusal}"):
        openapi.parameters_of("agentstate", model)


# --- the running endpoint -------------------------------------------------------------------------


def _authenticate(case: Any) -> None:
    """Every generated request carries the e2e token: the path segment, or ?token= on /callback."""
    if "{token}" in case.operation.path:
        case.path_parameters = {**(case.path_parameters or {}), "token": E2E_TOKEN}
    else:
        query = case.query if isinstance(case.query, dict) else {}
        case.query = {**query, "token": E2E_TOKEN}


@schema.parametrize()
@pytest.mark.timeout(7_200 if DEEP else 600)
@settings(
    max_examples=_examples(),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
)
def test_every_answer_is_documented_and_none_is_a_5xx(case: Any, local_stack: LocalHub) -> None:
    _authenticate(case)
    case.call_and_validate(base_url=local_stack.base_url, checks=CHECKS, timeout=30)


def test_no_function_raised_on_the_generated_traffic(local_stack: LocalHub) -> None:
    """Neither the ingest (an HTTP 500) nor a stream consumer fed the stored events raised."""
    local_stack.wait_for_stream_idle(timeout=120)
    assert local_stack.errors == []


def test_documented_examples_are_stored_over_http(local_stack: LocalHub) -> None:
    """The document's own examples, as an integrator would paste them, are answered 200."""
    target = f"/callback/{E2E_TOKEN}"
    for cmd, model in CALLBACK_MODELS.items():
        (documented,) = model.model_json_schema()["examples"]
        # schemathesis sends the documented callevent id with other content, which is rightly a
        # conflict (one event key, one event): this example gets an id of its own
        example = {**documented, "id": str(time.time_ns())[-18:]} if "id" in documented else documented
        status, _, body = send(local_stack, "PUT", target, json.dumps(example).encode(), "application/json")
        assert status == 200, body
        answer = json.loads(body)
        assert answer["cmd"] == cmd
        assert answer["status"] in ("stored", "duplicate")
