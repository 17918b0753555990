"""The committed ``events/`` samples: complete, identical to their generator, and valid input."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2, DynamoDBStreamEvent
from boto3.dynamodb.types import TypeDeserializer

from acd_devkit import lambda_events, sample_events
from acd_devkit.template import function_environment, load_template
from acd_hub.errors import BadCallback
from acd_hub.models import ParseContext, parse_callback
from acd_hub.params import body_pairs, merge_parameters, split_urlencoded
from acd_hub.vocabulary import CMDS

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "events"
GENERATED = sample_events.build_events()
INGEST = sorted(name for name in GENERATED if name.startswith("ingest/"))
GOOD = [name for name in INGEST if not name.startswith("ingest/bad-")]
BAD = [name for name in INGEST if name.startswith("ingest/bad-")]
FANOUT = sorted(name for name in GENERATED if name.startswith("fanout/"))
CONTEXT = ParseContext(ZoneInfo("Europe/Berlin"))


def load(relative: str) -> dict[str, Any]:
    return json.loads((EVENTS / relative).read_text(encoding="utf-8"))


def parameters(event: dict[str, Any]) -> dict[str, str]:
    """What the ingest would read from the request: query string plus body."""
    request = APIGatewayProxyEventV2(event)
    body = request.body or ""
    raw = base64.b64decode(body) if request.is_base64_encoded else body.encode()
    pairs = split_urlencoded(request.raw_query_string or "")
    pairs += body_pairs(raw, request.headers.get("content-type", ""))
    return merge_parameters(pairs)


@pytest.mark.parametrize("cmd", CMDS)
@pytest.mark.parametrize("method", sample_events.METHODS)
def test_every_cmd_has_get_head_and_put(cmd: str, method: str) -> None:
    path = EVENTS / "ingest" / f"{cmd}-{method}.json"
    assert path.is_file(), f"missing {path.relative_to(ROOT)}: run python -m acd_devkit.sample_events"
    assert parameters(load(f"ingest/{cmd}-{method}.json"))["cmd"] == cmd


def test_the_samples_are_of_the_spec_s_cmds() -> None:
    sent = {
        dict(params)["cmd"] for name, params in sample_events.SAMPLES.items() if not name.startswith("bad-")
    }
    assert sent == set(CMDS)


@pytest.mark.parametrize("relative", sorted(GENERATED))
def test_committed_file_equals_the_generator(relative: str) -> None:
    path = EVENTS / relative
    assert path.is_file(), f"missing {relative}: run python -m acd_devkit.sample_events"
    assert path.read_text(encoding="utf-8") == sample_events.dumps(GENERATED[relative]), (
        f"events/{relative} drifted from its generator: run python -m acd_devkit.sample_events"
    )


def test_no_stray_files_in_events() -> None:
    on_disk = {str(p.relative_to(EVENTS)) for p in EVENTS.rglob("*.json")}
    assert on_disk == set(GENERATED)


def test_files_are_sorted_two_space_json() -> None:
    text = (EVENTS / "ingest/agentstate-get.json").read_text(encoding="utf-8")
    assert text == json.dumps(json.loads(text), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


@pytest.mark.parametrize("relative", INGEST)
def test_is_an_http_api_v2_event_for_the_token_route(relative: str) -> None:
    event = load(relative)
    request = APIGatewayProxyEventV2(event)
    method = relative.rsplit("-", 1)[1].removesuffix(".json").upper()
    assert event["version"] == "2.0"
    assert request.request_context.http.method == method
    assert event["routeKey"] == event["requestContext"]["routeKey"] == f"{method} /callback/{{token}}"
    assert request.raw_path == request.request_context.http.path == "/callback/local-dev-token"
    assert request.path_parameters == {"token": sample_events.TOKEN}
    assert request.request_context.stage == "$default"
    assert request.request_context.http.source_ip
    assert isinstance(event["requestContext"]["timeEpoch"], int)
    assert all(name == name.lower() for name in event["headers"]), "HTTP APIs deliver lower-case headers"
    if method == "PUT":
        assert request.is_base64_encoded
        assert event["rawQueryString"] == ""
        assert "queryStringParameters" not in event
        assert request.headers["content-type"] == "application/x-www-form-urlencoded"
        assert int(request.headers["content-length"]) == len(base64.b64decode(event["body"]))
    else:
        assert "body" not in event
        assert not request.is_base64_encoded
        assert event["rawQueryString"]
        # queryStringParameters are the decoded values of rawQueryString
        assert dict(split_urlencoded(event["rawQueryString"])) == event["queryStringParameters"]


@pytest.mark.parametrize("relative", GOOD)
def test_good_samples_validate(relative: str) -> None:
    params = parameters(load(relative))
    event = parse_callback(params, CONTEXT)
    assert event.cmd == relative.removeprefix("ingest/").split("-")[0]
    agent = params.get("agentid") or params.get("agent")
    if agent and event.cmd != "schedulecallevent":
        assert len(agent) == 6
        assert agent.isdigit()
    task = params.get("taskid") or params.get("callid")
    if task:
        assert len(task) <= 24
        int(task, 16)


@pytest.mark.parametrize("relative", BAD)
def test_bad_samples_are_rejected(relative: str) -> None:
    with pytest.raises(BadCallback) as caught:
        parse_callback(parameters(load(relative)), CONTEXT)
    named = {error.parameter for error in caught.value.errors}
    assert named == ({"agentid"} if "agentid" in relative else {"cmd"})


def test_samples_use_all_phone_formats_and_a_suppressed_number() -> None:
    numbers = [
        value
        for name in GOOD
        for key, value in parameters(load(name)).items()
        if key in ("callingnumber", "callednumber", "agentphonenumber")
    ]
    assert any(n.startswith("+49") for n in numbers)
    assert any(n.startswith("0049") for n in numbers)
    assert any(n.startswith("0") and not n.startswith("00") for n in numbers)
    assert "02212601xxx" in numbers


def test_callevent_times_are_local_strings_and_numeric_times_are_millis() -> None:
    for method in sample_events.METHODS:
        params = parameters(load(f"ingest/callevent-{method}.json"))
        assert params["eventtime"].startswith("2026-11-20 ")
        for cmd in ("agentstate", "enqueuecall", "configchanged", "broadcastevent"):
            millis = parameters(load(f"ingest/{cmd}-{method}.json"))["eventtime"]
            assert millis.isdigit()
            assert len(millis) == 13


def test_broadcast_put_carries_umlauts_utf8_encoded() -> None:
    event = load("ingest/broadcastevent-put.json")
    body = base64.b64decode(event["body"])
    assert b"St%C3%B6rung" in body
    assert "Störung" in parameters(event)["message"]


@pytest.mark.parametrize("relative", FANOUT)
def test_stream_samples_are_inserts_of_stored_events(relative: str) -> None:
    cmd = relative.removeprefix("fanout/").split("-")[0]
    stream = DynamoDBStreamEvent(load(relative))
    records = list(stream.records)
    assert len(records) == 1
    record = records[0]
    assert record.event_name is not None
    assert record.event_name.name == "INSERT"
    assert record.event_source == "aws:dynamodb"
    assert record.event_source_arn is not None
    assert record.event_source_arn.startswith(
        "arn:aws:dynamodb:eu-central-1:123456789012:table/EventsTable/stream/"
    )
    assert record.dynamodb is not None
    image = record.dynamodb.new_image
    assert image["kind"] == "event"
    assert image["cmd"] == cmd
    assert image["schema_version"] == 2
    assert image["pk"] == f"EVENT#{image['event_key']}"
    assert image["sk"] == "EVENT"
    assert image["gsi3pk"].startswith(f"CMD#{cmd}#{image['day']}#")
    assert image["data"]["cmd"] == cmd
    typed = load(relative)["Records"][0]["dynamodb"]
    assert {k: TypeDeserializer().deserialize(v) for k, v in typed["Keys"].items()} == {
        "pk": image["pk"],
        "sk": image["sk"],
    }


def test_env_json_equals_the_generator() -> None:
    text = (ROOT / "env.json").read_text(encoding="utf-8")
    assert text == sample_events.env_json(sample_events.env_vars()), (
        "env.json drifted from its generator: run python -m acd_devkit.sample_events"
    )


def test_env_json_points_both_functions_at_the_local_stack() -> None:
    env = json.loads((ROOT / "env.json").read_text(encoding="utf-8"))
    assert set(env) >= {"IngestFunction", "FanoutFunction"}
    ingest, fanout = env["IngestFunction"], env["FanoutFunction"]
    assert ingest["ACD_CALLBACK_TOKENS"] == sample_events.TOKEN
    assert ingest["ACD_TOKEN_PARAMETER"] == ""
    assert ingest["ACD_EVENTS_TABLE"] == "EventsTable"
    for function in (ingest, fanout):
        # acd-local's moto server as a container sees the host (not 127.0.0.1: SAM ignores
        # --docker-network host, so that would be the container itself)
        assert function["ACD_AWS_ENDPOINT_URL"] == "http://host.docker.internal:5000"
        assert function["POWERTOOLS_METRICS_DISABLED"] == "true"
        assert all(isinstance(value, str) for value in function.values())
    assert fanout["ACD_CONFIG_TOPIC_ARN"] == "arn:aws:sns:eu-central-1:123456789012:ConfigChangedTopic"
    assert fanout["ACD_BROADCAST_TOPIC_ARN"] == "arn:aws:sns:eu-central-1:123456789012:BroadcastTopic"


def test_env_json_names_only_variables_the_template_declares() -> None:
    """sam local invoke --env-vars silently drops a name the function's environment does not
    declare (AWS_ENDPOINT_URL, AWS_REGION, ...): such an entry would never take effect."""
    template = load_template(ROOT / "template.yaml")
    env = json.loads((ROOT / "env.json").read_text(encoding="utf-8"))
    for function, variables in env.items():
        declared = set(function_environment(template, function))
        assert set(variables) <= declared, f"{function}: {sorted(set(variables) - declared)} not declared"


# -- the builders behind the samples (acd_devkit.lambda_events) ------------------------------


def test_the_builders_import_nothing_a_function_imports() -> None:
    """make bench's cold-start driver builds its context from this module before the function's
    first request: importing it must not load what that request would load itself."""
    probe = (
        "import sys; import acd_devkit.lambda_events; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('boto3', 'botocore', 'aws_lambda_powertools', 'acd_hub', 'pydantic')))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_the_fake_context_is_what_powertools_logs() -> None:
    from aws_lambda_powertools.logging.lambda_context import build_lambda_context_model  # noqa: PLC0415

    context = lambda_events.FakeLambdaContext("StatsFunction", memory_limit_in_mb=256)
    model = build_lambda_context_model(context)
    assert model.function_arn == "arn:aws:lambda:eu-central-1:123456789012:function:StatsFunction"
    assert (model.function_memory_size, model.function_request_id) == (256, context.aws_request_id)
    assert 0 < context.get_remaining_time_in_millis() <= 3_000


def test_a_keys_only_stream_record_carries_no_image() -> None:
    item = {"pk": "EVENT_KEY#ce-1", "sk": "CLAIM", "kind": "claim"}
    record = lambda_events.stream_record(item, 7, view_type="KEYS_ONLY")
    assert record["dynamodb"]["Keys"] == {"pk": {"S": "EVENT_KEY#ce-1"}, "sk": {"S": "CLAIM"}}
    assert "NewImage" not in record["dynamodb"]
    assert record["dynamodb"]["SequenceNumber"] == "000000000000000000007"
    assert "NewImage" in lambda_events.stream_record(item, 7)["dynamodb"]
