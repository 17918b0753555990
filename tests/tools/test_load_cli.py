"""``python -m acd_bench.load`` (``make load``): what it says about bad options and a run where
the hub took nothing. The load itself is exercised end to end in tests/e2e/test_load_short.py;
here the run and the verifying client are stand-ins (this tier opens no connection)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from botocore.exceptions import EndpointConnectionError
from click.testing import CliRunner

from acd_bench import load
from acd_bench.load import LoadConfig, LoadReport
from acd_sim.sender import Answer, SendReport

URL = "http://127.0.0.1:3000/callback/TOKEN"


def _report(statuses: dict[int, int]) -> LoadReport:
    requests = sum(statuses.values())
    return LoadReport(
        target=URL,
        config=LoadConfig(seconds=1),
        elapsed_s=1.0,
        requests=requests,
        statuses=statuses,
        by_method={"GET": requests},
        transport_errors={},
        latency_ms={},
        unique_events={"agentstate": requests},
        duplicates_sent=0,
        duplicate_answers={},
        key_mismatches=0,
        verification=None,
    )


def test_a_run_the_hub_refused_is_not_ok() -> None:
    """A wrong token: every request answered 401, nothing stored; not 'result OK', exit 0."""
    report = _report({401: 120})
    assert not report.ok
    assert report.problems() == ["120 answers were 4xx (refused: the token, the path?)"]
    assert _report({200: 120}).ok


def _one_line_error(args: list[str], code: int) -> str:
    result = CliRunner().invoke(load.main, args)
    assert result.exit_code == code, result.output
    assert isinstance(result.exception, SystemExit)  # not a traceback
    lines = result.stderr.strip().splitlines()
    assert lines[-1].startswith("Error: ")
    return lines[-1]


@pytest.mark.parametrize("option", ["--seconds", "--duplicates"])
def test_nan_is_not_a_number(option: str) -> None:
    line = _one_line_error([option, "nan"], 2)
    assert line == f"Error: Invalid value for '{option}': 'nan' is not a finite number."


def test_a_url_nothing_listens_on_is_a_one_line_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """Not a report of a run in which every request got no answer."""
    monkeypatch.setattr(load, "reachable", lambda url: "Connection refused")
    monkeypatch.setattr(load, "run_load", lambda *_, **__: pytest.fail("load sent"))
    line = _one_line_error(["--url", URL, "--seconds", "1"], 1)
    assert (
        line
        == "Error: --url: cannot reach http://127.0.0.1:3000/callback/***: Connection refused; nothing sent"
    )


def test_aws_endpoint_without_url_is_a_usage_error() -> None:
    line = _one_line_error(["--aws-endpoint", "http://127.0.0.1:5000", "--seconds", "1"], 2)
    assert line.startswith("Error: --aws-endpoint goes with --url")


def test_an_aws_endpoint_that_does_not_answer_fails_before_any_load(monkeypatch: pytest.MonkeyPatch) -> None:
    class Unreachable:
        def describe_table(self, **_: Any) -> None:
            raise EndpointConnectionError(endpoint_url="http://127.0.0.1:1/")

    monkeypatch.setattr(load, "reachable", lambda url: None)
    monkeypatch.setattr(
        "acd_devkit.moto_resources.aws_clients", lambda _: SimpleNamespace(dynamodb=Unreachable())
    )
    monkeypatch.setattr(load, "run_load", lambda *_, **__: pytest.fail("load sent"))
    line = _one_line_error(["--url", URL, "--aws-endpoint", "http://127.0.0.1:1", "--seconds", "1"], 1)
    assert line.startswith("Error: --aws-endpoint http://127.0.0.1:1: table 'EventsTable': Could not connect")


def test_a_json_out_it_cannot_write_is_a_one_line_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(load, "reachable", lambda url: None)
    monkeypatch.setattr(load, "run_load", lambda *_, **__: _report({200: 10}))
    blocker = tmp_path / "a-file"
    blocker.write_text("", encoding="utf-8")
    target = blocker / "report.json"  # its folder is a file
    line = _one_line_error(["--url", URL, "--seconds", "1", "--json-out", str(target)], 1)
    assert line == f"Error: --json-out: cannot write {target}: Not a directory"


def test_a_store_gone_before_verifying_is_reported_not_a_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    """The stack stopped mid-run: the load's figures are still printed, 'not verified', exit 1."""

    class Gone:
        def get_paginator(self, _: str) -> Any:
            raise EndpointConnectionError(endpoint_url="http://127.0.0.1:5000/")

    def one_answered(_events: Any, _url: str, _token: None, **kwargs: Any) -> SendReport:
        first = next(iter(kwargs["plan"]))  # the plan's generator simulates the day here
        kwargs["on_answer"](Answer(first, 200, seconds=0.01))
        return SendReport(requests=1, ok=1, elapsed_s=1.0)

    monkeypatch.setattr(load, "send", one_answered)
    report = load.run_load(URL, LoadConfig(seconds=1, seed=7), dynamodb=Gone())
    unverified = 'not verified: Could not connect to the endpoint URL: "http://127.0.0.1:5000/"'
    assert report.problems() == [unverified]
    assert f"stored once     {unverified}" in load.format_report(report)
    assert load.format_report(report).endswith("result          FAILED: " + unverified)


class _EmptyTable:
    """A DynamoDB client whose every partition is empty (the hub stored nothing)."""

    def get_paginator(self, _: str) -> Any:
        return SimpleNamespace(paginate=lambda **_: [{"Items": []}])


def test_an_event_the_hub_refused_is_not_counted_as_lost(monkeypatch: pytest.MonkeyPatch) -> None:
    """A wrong token: every delivery answered 401, nothing stored. The hub lost nothing (it
    never said 'stored'): the report names the 401s, not 'unique events lost'."""

    def refused(_events: Any, _url: str, _token: None, **kwargs: Any) -> SendReport:
        first = next(iter(kwargs["plan"]))
        kwargs["on_answer"](Answer(first, 401, '{"error": "unauthorized"}', seconds=0.01))
        return SendReport(requests=1, elapsed_s=1.0)

    monkeypatch.setattr(load, "send", refused)
    report = load.run_load(URL, LoadConfig(seconds=1, seed=7), dynamodb=_EmptyTable())
    assert report.problems() == ["1 answers were 4xx (refused: the token, the path?)"]
    check = report.verification
    assert check is not None
    assert (check.expected, check.lost, check.unacknowledged) == (0, 0, 1)
    assert "1 never answered 2xx: not counted as lost" in load.format_report(report)


def test_copies_the_hub_refused_are_counted_by_their_status(monkeypatch: pytest.MonkeyPatch) -> None:
    """A copy answered 401 (no JSON status in the answer) is counted as '401', not as 'None'."""

    def copies_refused(_events: Any, _url: str, _token: None, **kwargs: Any) -> SendReport:
        first = next(request for request in kwargs["plan"] if request.copy)
        kwargs["on_answer"](Answer(first, 401, '{"error": "unauthorized"}', seconds=0.01))
        return SendReport(requests=1, elapsed_s=1.0)

    monkeypatch.setattr(load, "send", copies_refused)
    report = load.run_load(URL, LoadConfig(seconds=1, seed=7, duplicates=0.5))
    assert (report.duplicates_sent, report.duplicate_answers) == (1, {"401": 1})
    assert "duplicates      1 sent, answered: 401 1" in load.format_report(report)
