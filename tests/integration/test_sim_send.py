"""``acd-sim``'s sender against a tiny recording HTTP server on 127.0.0.1: every planned request
arrives once, with the parameters as generated, over a few keep-alive connections; answers
other than 2xx are counted, printed and make the CLI exit 1."""

from __future__ import annotations

import json
import os
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
from click.testing import CliRunner

from acd_local import running
from acd_sim import sim
from acd_sim.day import generate_day
from acd_sim.model import SimConfig
from acd_sim.plan import plan_requests
from acd_sim.sender import Answer, send

pytestmark = pytest.mark.integration

TOKEN = "sim-tok-ö/1"
CONFIG = SimConfig(day=date(2026, 11, 20), seed=4, agents=4, calls=40, outbound=6)


@dataclass
class Received:
    method: str
    path: str
    params: dict[str, str]
    content_type: str
    peer: tuple[str, int]


@dataclass
class Recorder:
    url: str
    received: list[Received] = field(default_factory=list)
    status_for: Callable[[dict[str, str]], int] = lambda _params: 200
    keep_alive: bool = True


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # one write per answer (headers + body) and no Nagle: else every keep-alive request
        # waits out the client's delayed ACK (~40 ms)
        wbufsize = 64 * 1024
        disable_nagle_algorithm = True

        def log_message(self, *args: object) -> None:
            pass

        def _handle(self) -> None:
            parts = urlsplit(self.path)
            pairs = parse_qsl(parts.query, keep_blank_values=True, encoding="utf-8", errors="strict")
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            if body:
                pairs += parse_qsl(
                    body.decode("utf-8"), keep_blank_values=True, encoding="utf-8", errors="strict"
                )
            params = dict(pairs)
            with lock:
                state.received.append(
                    Received(
                        self.command,
                        parts.path,
                        params,
                        self.headers.get("Content-Type", ""),
                        self.client_address,
                    )
                )
            status = state.status_for(params)
            answer = json.dumps({"status": "stored" if status < 300 else "bad"}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(0 if self.command == "HEAD" else len(answer)))
            if not state.keep_alive:
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(answer)

        do_GET = do_PUT = do_HEAD = _handle

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state = Recorder(url=f"http://127.0.0.1:{server.server_address[1]}/callback")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("keep_alive", [True, False])
def test_every_planned_request_arrives_as_generated(recorder: Recorder, keep_alive: bool) -> None:
    recorder.keep_alive = keep_alive
    events = generate_day(CONFIG)
    plan = plan_requests(events, methods=["get", "put", "head"], duplicates=0.2, shuffle_window=15, seed=4)
    answered: list[Answer] = []
    report = send(events, recorder.url, TOKEN, plan=plan, concurrency=4, on_answer=answered.append)

    assert report.failures == []
    assert report.ok == report.requests == len(plan) == len(answered) == len(recorder.received)
    assert report.statuses == Counter({"200": len(plan)})
    assert {r.path for r in recorder.received} == {"/callback/sim-tok-%C3%B6%2F1"}
    assert Counter(r.method for r in recorder.received) == Counter(r.method for r in plan)
    # each event arrives exactly as often as planned, with its parameters unchanged (umlauts too)
    key = {json.dumps(e.params, sort_keys=True): i for i, e in enumerate(events)}
    arrived = Counter(key[json.dumps(r.params, sort_keys=True)] for r in recorder.received)
    assert arrived == Counter(r.index for r in plan)
    bodies = [r for r in recorder.received if r.method == "PUT" and r.content_type]
    assert bodies
    assert all(r.content_type.startswith("application/x-www-form-urlencoded") for r in bodies)
    if keep_alive:
        assert len({r.peer for r in recorder.received}) <= 4  # one connection per worker
    else:
        assert len({r.peer for r in recorder.received}) > 4


def test_non_2xx_answers_are_counted_and_fail_the_cli(recorder: Recorder, tmp_path: Path) -> None:
    recorder.status_for = lambda params: 400 if params.get("cmd") == "broadcastevent" else 200
    events = generate_day(CONFIG)
    broadcasts = sum(1 for e in events if e.cmd == "broadcastevent")
    report = send(events, recorder.url, TOKEN, concurrency=2)
    assert len(report.failures) == broadcasts > 0
    assert {a.status for a in report.failures} == {400}
    assert report.ok == len(events) - broadcasts

    args = ["--url", recorder.url, "--token", TOKEN, "--day", "2026-11-20", "--seed", "4", "--agents", "4"]
    args += ["--calls", "40", "--outbound", "6", "--quiet"]
    result = CliRunner().invoke(sim.main, args)
    assert result.exit_code == 1
    assert "FAILED" in result.output
    assert "HTTP 400" in result.output


def test_cli_sends_the_day_and_writes_expectations(
    recorder: Recorder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ACD_CALLBACK_TOKENS", "from-env, second")
    out = tmp_path / "expect.json"
    args = ["--url", recorder.url, "--day", "2026-11-20", "--seed", "4", "--agents", "4", "--calls", "40"]
    args += ["--outbound", "6", "--duplicates", "0.1", "--methods", "get,head", "--rate", "2000"]
    args += ["--expect-out", str(out)]
    result = CliRunner().invoke(sim.main, args)
    assert result.exit_code == 0, result.output
    truth = json.loads(out.read_text(encoding="utf-8"))
    assert truth["sent"]["requests"] == len(recorder.received)
    assert {r.path for r in recorder.received} == {"/callback/from-env"}
    assert {r.method for r in recorder.received} == {"GET", "HEAD"}
    assert "Expected KPIs 2026-11-20" in result.output
    assert "0 failed" in result.output


def test_unreachable_target_is_one_clear_error_and_writes_no_expectations(tmp_path: Path) -> None:
    out = tmp_path / "expected.json"
    result = CliRunner().invoke(
        sim.main,
        [
            "--url",
            "http://127.0.0.1:9/callback",
            "--token",
            "x",
            "--calls",
            "5",
            "--agents",
            "2",
            "--expect-out",
            str(out),
        ],
    )
    assert result.exit_code == 1
    assert "cannot reach http://127.0.0.1:9/callback" in result.output
    assert "Traceback" not in result.output
    assert "FAILED" not in result.output
    assert not out.exists()


def test_a_day_not_sent_whole_writes_no_expectations(recorder: Recorder, tmp_path: Path) -> None:
    recorder.status_for = lambda params: 400 if params.get("cmd") == "broadcastevent" else 200
    out = tmp_path / "expected.json"
    args = ["--url", recorder.url, "--token", TOKEN, "--day", "2026-11-20", "--seed", "4", "--agents", "4"]
    args += ["--calls", "40", "--outbound", "6", "--expect-out", str(out)]
    result = CliRunner().invoke(sim.main, args)
    assert result.exit_code == 1
    assert "expectations not written" in result.output
    assert not out.exists()


@pytest.fixture
def no_target(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No URL in the environment, and the running stack's file in a folder of the test's own."""
    for name in ("ACD_CALLBACK_URL", "ACD_CALLBACK_TOKENS"):
        monkeypatch.delenv(name, raising=False)
    run_file = tmp_path / "running.json"
    monkeypatch.setenv(running.RUN_FILE_ENV, str(run_file))
    return run_file


def test_without_url_it_sends_to_the_running_acd_local(
    recorder: Recorder, no_target: Path, tmp_path: Path
) -> None:
    running.write(
        running.RunningStack(
            pid=os.getpid(),
            callback_url=recorder.url,
            aws_endpoint="-",
            region="eu-central-1",
            token="gen-tok-1",
        ),
        no_target,
    )
    out = tmp_path / "sub" / "expected.json"
    args = [
        "--day",
        "2026-11-20",
        "--seed",
        "4",
        "--agents",
        "2",
        "--calls",
        "5",
        "--outbound",
        "1",
        "--quiet",
    ]
    result = CliRunner().invoke(sim.main, [*args, "--expect-out", str(out)])
    assert result.exit_code == 0, result.output
    assert recorder.received
    assert {r.path for r in recorder.received} == {"/callback/gen-tok-1"}  # its generated token
    assert json.loads(out.read_text(encoding="utf-8"))["sent"]["requests"] == len(recorder.received)


def test_without_url_and_no_running_stack_it_says_so(no_target: Path, tmp_path: Path) -> None:
    # a file left by a process that is gone (kill -9) does not count
    running.write(
        running.RunningStack(
            pid=2**22 + 7,
            callback_url="http://127.0.0.1:9/callback",
            aws_endpoint="-",
            region="eu-central-1",
            token=None,
        ),
        no_target,
    )
    out = tmp_path / "expected.json"
    result = CliRunner().invoke(sim.main, ["--calls", "5", "--agents", "2", "--expect-out", str(out)])
    assert result.exit_code == 2
    assert "no running acd-local found" in result.output
    assert "3000" not in result.output
    assert not out.exists()
