"""End to end through acd-local's HTTP endpoint: real requests, the real ingest handler, the
moto server, the stream-fed fan-out, and acd-report reading it all back."""

from __future__ import annotations

import base64
import http.client
import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
from click.testing import CliRunner

from acd_cli.report_cli import cli
from acd_hub.models import CALLBACK_MODELS
from acd_local.hub import LocalHub
from tests.e2e.conftest import E2E_TOKEN

EVENTS = Path(__file__).resolve().parents[2] / "events" / "ingest"
SAMPLE_TOKEN = "local-dev-token"


def send(
    stack: LocalHub, method: str, target: str, body: bytes = b"", content_type: str = ""
) -> tuple[int, dict[str, str], bytes]:
    """One real HTTP request; returns status, headers (lower-case) and body."""
    parts = urlsplit(stack.base_url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    headers = {"Content-Type": content_type} if content_type else {}
    try:
        connection.request(method, target, body=body or None, headers=headers)
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def get(stack: LocalHub, params: dict[str, str], token: str = E2E_TOKEN) -> tuple[int, Any]:
    """A callback sent as a GET with these parameters: its status and its JSON answer (None
    when it has no body)."""
    status, _, body = send(stack, "GET", f"/callback/{token}?{urlencode(params)}")
    return status, json.loads(body) if body else None


def replay(stack: LocalHub, sample: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
    """Send an events/ sample (an API Gateway event) as the HTTP request it stands for."""
    path = sample["rawPath"].replace(SAMPLE_TOKEN, E2E_TOKEN)
    target = f"{path}?{sample['rawQueryString']}" if sample.get("rawQueryString") else path
    body = sample.get("body") or ""
    raw = base64.b64decode(body) if sample.get("isBase64Encoded") else body.encode()
    return send(
        stack,
        sample["requestContext"]["http"]["method"],
        target,
        raw,
        sample["headers"].get("content-type", ""),
    )


def report(stack: LocalHub, *args: str) -> Any:
    result = CliRunner().invoke(cli, ["--endpoint-url", stack.aws_endpoint, *args, "--format", "json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def sample_files() -> list[Path]:
    return sorted(EVENTS.glob("*.json"))


@pytest.mark.parametrize("path", sample_files(), ids=lambda p: p.stem)
def test_every_events_file_is_answered_as_expected(local_stack: LocalHub, path: Path) -> None:
    sample = json.loads(path.read_text())
    status, _headers, body = replay(local_stack, sample)
    method = sample["requestContext"]["http"]["method"]
    if path.stem.startswith("bad-"):
        assert status == 400
        assert json.loads(body)["errors"]
    else:
        assert status == 200, body
        if method == "HEAD":
            assert body == b""
        else:
            assert json.loads(body)["status"] in ("stored", "duplicate")


def test_each_cmd_by_get_head_and_put_is_stored_and_listed(local_stack: LocalHub) -> None:
    for cmd in CALLBACK_MODELS:
        samples = [json.loads(p.read_text()) for p in sorted(EVENTS.glob(f"{cmd}-*.json"))]
        assert {s["requestContext"]["http"]["method"] for s in samples} == {"GET", "HEAD", "PUT"}
        answered: dict[str, str] = {}  # event key -> day
        for sample in samples:
            status, _, body = replay(local_stack, sample)
            assert status == 200
            if body:  # HEAD answers have none; the same message by GET tells its key
                answer = json.loads(body)
                answered[answer["event_key"]] = answer["day"]
        listed = {}
        for day in set(answered.values()):
            for item in report(local_stack, "events", "--cmd", cmd, "--day", day):
                listed[item["event_key"]] = item
        assert set(answered) <= set(listed), cmd
        for key in answered:
            item = listed[key]
            assert item["cmd"] == cmd
            assert item["event_time"].endswith("Z")
            assert item["data"]["cmd"] == cmd
            assert "token" not in item["raw"]


def test_an_unknown_parameter_is_stored_answered_with_a_warning_and_listed_by_day(
    local_stack: LocalHub,
) -> None:
    """Issue 18, item 5, over HTTP: 200 with the warning, and `acd-report warnings` lists it."""
    query = "cmd=agentstate&agentid=100777&mode=0&state=paused&pausereason=Kaffee&eventtime=1795168800000"  # 2026-11-20
    status, _, body = send(local_stack, "GET", f"/callback/{E2E_TOKEN}?{query}")
    assert status == 200
    answer = json.loads(body)
    assert answer["status"] in {"stored", "duplicate"}
    assert [(w["parameter"], w["closest"]) for w in answer["warnings"]] == [("pausereason", "pause-reason")]
    listed = report(local_stack, "warnings", "--day", answer["day"])
    mine = [row for row in listed if row["event_key"] == answer["event_key"]]
    assert [(r["cmd"], r["agent"], r["parameter"], r["value"], r["closest"]) for r in mine] == [
        ("agentstate", "100777", "pausereason", "Kaffee", "pause-reason")
    ]


def test_freshness_includes_the_fan_out(local_stack: LocalHub) -> None:
    """Issue 18: `acd-report freshness` lists the fan-out beside the aggregators, from the note
    it writes after a batch; its progress does not hold back the reports' "complete up to"."""
    query = "cmd=configchanged&action=edit&type=agent&customerNumber=4711&eventtime=1795168800000"
    status, _, _ = send(local_stack, "GET", f"/callback/{E2E_TOKEN}?{query}")
    assert status == 200
    local_stack.wait_for_stream_idle(timeout=60)
    fresh = report(local_stack, "freshness")
    by_name = {c["consumer"]: c for c in fresh["consumers"]}
    assert {"fanout", "agent-stats", "call-stats"} <= set(by_name)
    assert by_name["fanout"]["complete_to"] is not None
    aggregators = [c["complete_to"] for name, c in by_name.items() if name != "fanout"]
    assert fresh["complete_to"] == min(aggregators)
    table = CliRunner().invoke(cli, ["--endpoint-url", local_stack.aws_endpoint, "freshness"])
    assert table.exit_code == 0
    assert re.search(r"^fanout\s", table.output, flags=re.MULTILINE)
