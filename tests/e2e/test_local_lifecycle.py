"""``acd-local`` across its life: a restart on the same data folder keeps events, quarantine,
reports and stream positions (nothing published twice, nothing pending lost), and so does a
crash (``kill -9``) for every callback answered; each function's log lines carry its own name;
and the command itself stops promptly on SIGTERM, under load and with a big data folder, and
never prints a token the user chose."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from acd_local import state as local_state
from acd_local.hub import LocalHub
from tests.e2e.conftest import E2E_TOKEN
from tests.e2e.test_callbacks import get, report

NOW_MS = int(datetime.now(UTC).timestamp() * 1000)
AGENT = "100777"
pytestmark = pytest.mark.timeout(600)


def config_change(n: int) -> dict[str, str]:
    return {"cmd": "configchanged", "action": "edit", "type": "agent", "eventtime": str(NOW_MS + n)}


def agent_state(state: str, n: int) -> dict[str, str]:
    return {"cmd": "agentstate", "agentid": AGENT, "mode": "0", "state": state, "eventtime": str(NOW_MS + n)}


def published(stack: LocalHub, settle: float = 2.0) -> list[str]:
    """The event keys SNS delivered to the config topic's subscriber queue (drained)."""
    sqs = stack.clients().sqs
    queue = stack.subscriber_queue_urls["ConfigChangedTopic"]
    keys: list[str] = []
    deadline = time.monotonic() + settle
    while time.monotonic() < deadline:
        messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
            "Messages", []
        )
        for message in messages:
            keys.append(json.loads(json.loads(message["Body"])["Message"])["event_key"])
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
    return keys


@pytest.fixture
def persistent_stack(tmp_path: Path) -> Any:
    def start() -> LocalHub:
        return LocalHub(
            port=0,
            aws_port=0,
            tokens=[E2E_TOKEN],
            local_subscriber=False,
            data_dir=tmp_path / "data",
            retry_delay=0.05,
            max_retry_delay=0.5,
        ).start()

    return start


def test_a_restart_keeps_events_quarantine_reports_and_stream_positions(persistent_stack: Any) -> None:
    # First run: a handled configchanged, an agent state, a rejected request; then two callbacks
    # stored while the consumers are held, so they are still to handle when it stops.
    stack = persistent_stack()
    try:
        assert stack.restored is None
        _, first = get(stack, config_change(1))
        status, online = get(stack, agent_state("online", 2))
        assert status == 200
        day = online["day"]
        assert get(stack, {"cmd": "agentstate", "agentid": "1"})[0] == 400
        stack.wait_for_stream_idle(60)
        assert published(stack) == [first["event_key"]]
        stack.pause_consumers()
        _, pending = get(stack, config_change(3))
        assert get(stack, agent_state("paused", 60_000))[0] == 200
        assert stack.errors == []
    finally:
        stack.stop()
    assert stack.last_saved is not None
    assert stack.last_saved["items"] >= 5  # four events, the rejected request, their reports

    # Second run, same folder: everything is back, and only the pending records are handled.
    stack = persistent_stack()
    try:
        assert stack.restored is not None
        assert stack.restored["carried"]["FanoutFunction"] >= 1
        stack.wait_for_stream_idle(60)
        assert len(report(stack, "events", "--agent", AGENT, "--day", day)) == 2
        assert len(report(stack, "rejected")) >= 1
        timeline = report(stack, "agent-timeline", "--agent", AGENT, "--day", day)
        assert [row["state"] for row in timeline][:2] == ["online", "paused"]
        assert published(stack) == [pending["event_key"]]  # the handled one is not sent again
        assert stack.errors == []
    finally:
        stack.stop()

    # Third run: nothing left to handle, nothing published again.
    stack = persistent_stack()
    try:
        assert sum(stack.restored["carried"].values()) == 0
        stack.wait_for_stream_idle(60)
        assert published(stack) == []
        assert len(report(stack, "events", "--agent", AGENT, "--day", day)) == 2
    finally:
        stack.stop()


def test_each_function_logs_under_its_own_name(
    local_stack: LocalHub, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level("INFO")
    # The ingest runs in this process: its lines as its own Powertools handler writes them.
    service = logging.getLogger("acd-callback-hub")
    ingest_lines = io.StringIO()
    copy = logging.StreamHandler(ingest_lines)
    copy.setFormatter(service.handlers[0].formatter)
    service.addHandler(copy)
    try:
        status, stored = get(local_stack, config_change(500))
        assert status == 200
        local_stack.wait_for_stream_idle(60)
        time.sleep(1.0)  # the consumer's output is forwarded line by line
    finally:
        service.removeHandler(copy)
    # The stream consumers' lines come from their processes, through acd_local.fn.<Function>.
    lines = ingest_lines.getvalue().splitlines() + [r.getMessage() for r in caplog.records]
    lines += capfd.readouterr().out.splitlines()
    tagged: dict[str, set[str]] = {}
    for line in lines:
        start = line.find("{")
        if start < 0:
            continue
        try:
            entry = json.loads(line[start:])
        except ValueError:
            continue
        if entry.get("event_key") == stored["event_key"]:
            tagged.setdefault(entry.get("message", ""), set()).add(entry.get("function_name", ""))
    assert tagged.get("callback stored") == {"IngestFunction"}
    assert tagged.get("fanned out") == {"FanoutFunction"}


# --- the command -----------------------------------------------------------------------------------


def _start_command(
    tmp_path: Path, env: dict[str, str], *args: str
) -> tuple[subprocess.Popen[str], str, list[str]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "acd_local.stack", "--port", "0", "--aws-port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert process.stdout is not None
    output: list[str] = []
    deadline = time.monotonic() + 180
    url = ""
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        output.append(line)
        found = re.search(r"callback URL\s+(http://127\.0\.0\.1:\d+)/callback/", line)
        if found:
            url = found.group(1)
        if line.startswith("Ctrl-C"):
            break
    assert url, "".join(output)
    # Keep reading (a full pipe would block it) until it exits.
    threading.Thread(target=lambda: output.extend(iter(process.stdout.readline, "")), daemon=True).start()  # type: ignore[union-attr]
    return process, url, output


def _stopped_by_sigterm(process: subprocess.Popen[str], output: list[str], wait_s: float) -> str:
    """SIGTERM, then all it printed: it must have stopped cleanly within 10 s, however long the
    wait allowed (a hung stop shows as a slow one, not as a test that never ends)."""
    sent = time.monotonic()
    process.send_signal(signal.SIGTERM)
    process.wait(wait_s)
    took = time.monotonic() - sent
    everything = "".join(output)
    assert process.returncode == 0, everything[-2000:]
    assert took < 10, f"SIGTERM took {took:.1f}s"
    return everything


def test_sigterm_under_load_stops_it_within_seconds_and_a_chosen_token_is_never_printed(
    tmp_path: Path,
) -> None:
    secret = "chosen-secret-Zq81x0Lm"
    env = {**os.environ, "ACD_CALLBACK_TOKENS": f"{secret},second-secret-77Hq"}
    process, base, output = _start_command(tmp_path, env, "--data-dir", str(tmp_path / "data"))
    try:
        banner = "".join(output)
        assert secret not in banner
        assert "second-secret-77Hq" not in banner
        assert "not shown" in banner
        assert f"kept in {tmp_path / 'data'}" in banner
        assert ".venv/bin/acd-report" in banner
        assert "serve" in banner
        stop = threading.Event()
        answered = [0]

        def load() -> None:
            while not stop.is_set():
                query = urlencode(agent_state("online", int(time.time() * 1000) % 10_000_000))
                try:
                    with urllib.request.urlopen(f"{base}/callback/{secret}?{query}", timeout=10) as response:
                        response.read()
                        answered[0] += 1
                except OSError:
                    time.sleep(0.1)  # an ACD backs off too (and a spinning client would eat the CPU)

        workers = [threading.Thread(target=load, daemon=True) for _ in range(8)]
        for worker in workers:
            worker.start()
        time.sleep(5)
        assert answered[0] > 0
        everything = _stopped_by_sigterm(process, output, 30)
        stop.set()
    finally:
        if process.poll() is None:
            process.kill()
    assert secret not in everything
    assert "data kept in" in everything


def test_the_banner_of_an_ephemeral_run_says_so_and_shows_a_generated_token(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "ACD_CALLBACK_TOKENS"}
    process, _, output = _start_command(tmp_path, env, "--ephemeral")
    try:
        banner = "".join(output)
        token = re.search(r"export TOKEN=(local-\S+)", banner)
        assert token is not None, banner
        assert "/callback/$TOKEN" in banner
        assert "ephemeral" in banner
        process.send_signal(signal.SIGINT)
        process.wait(30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0
    assert "data kept" not in "".join(output)


def test_a_crash_loses_no_answered_callback_and_leaves_no_process_behind(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = {**os.environ, "ACD_CALLBACK_TOKENS": E2E_TOKEN}
    process, base, output = _start_command(tmp_path, env, "--data-dir", str(data))
    aws_port = int(re.search(r"AWS endpoint\s+http://127\.0\.0\.1:(\d+)", "".join(output)).group(1))  # type: ignore[union-attr]

    def callback(params: dict[str, str]) -> int:
        try:
            with urllib.request.urlopen(
                f"{base}/callback/{E2E_TOKEN}?{urlencode(params)}", timeout=30
            ) as answer:
                return int(answer.status)
        except urllib.error.HTTPError as error:
            return int(error.code)

    try:
        for n in range(4):
            assert callback(agent_state("online" if n % 2 == 0 else "paused", 1_000 * n)) == 200
        assert callback({"cmd": "agentstate", "agentid": "1"}) == 400  # quarantined
        time.sleep(2.5)  # answered 2.5 s before the crash ...
        assert callback(agent_state("online", 4_000)) == 200  # ... and just before it
        process.kill()  # a crash: no goodbye, no last write
        process.wait(10)
    finally:
        if process.poll() is None:
            process.kill()
    # Its workers notice that it is gone and end too (moto's port is free again).
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", aws_port)) != 0:
                break
        time.sleep(0.2)
    else:
        pytest.fail("the moto worker outlived acd-local")
    stack = LocalHub(port=0, aws_port=0, tokens=[E2E_TOKEN], local_subscriber=False, data_dir=data).start()
    try:
        stack.wait_for_stream_idle(120)
        events = report(stack, "events", "--agent", AGENT, "--day", _local_day(stack))
        assert len(events) == 5  # every callback answered 200, the last one too
        assert len(report(stack, "rejected")) == 1
        # The aggregator's reports: what it had done before the crash, and what it had not
        # (carried over and delivered after the start).
        timeline = report(stack, "agent-timeline", "--agent", AGENT, "--day", _local_day(stack))
        assert [row["state"] for row in timeline] == ["online", "paused", "online", "paused", "online"]
        assert stack.errors == []
    finally:
        stack.stop()


def test_sigterm_stops_it_within_seconds_however_big_its_data_folder(tmp_path: Path) -> None:
    # A data folder bigger than the README's default acd-sim day (20,000 items, ~14 MB): stopping
    # must not cost what the data costs.
    data = tmp_path / "data"
    filler = [
        {
            "pk": {"S": f"FILLER#{n % 500:03d}"},
            "sk": {"S": f"{n:08d}"},
            "kind": {"S": "filler"},
            "payload": {"S": "x" * 600},
        }
        for n in range(20_000)
    ]
    local_state.write_snapshot(
        data / local_state.SNAPSHOT_NAME,
        {
            "key_schema": {"EventsTable": ["pk", "sk"], "ReportsTable": ["pk", "sk"]},
            "tables": {"EventsTable": filler},
            "journal_from": 0,
        },
    )
    env = {**os.environ, "ACD_CALLBACK_TOKENS": E2E_TOKEN}
    process, base, output = _start_command(tmp_path, env, "--data-dir", str(data))
    try:
        assert "restored       20,000 in EventsTable" in "".join(output)
        query = urlencode(agent_state("online", 9_000))
        with urllib.request.urlopen(f"{base}/callback/{E2E_TOKEN}?{query}", timeout=30) as answer:
            assert answer.status == 200
        everything = _stopped_by_sigterm(process, output, 60)
    finally:
        if process.poll() is None:
            process.kill()
    assert "stopped; data kept in" in everything
    # Everything is in the folder: the filler and the callback (with its claim-less event).
    state, _ = local_state.fold(data)
    kept = state.tables["EventsTable"].values()
    assert sum(1 for i in kept if i["kind"]["S"] == "filler") == 20_000
    assert sum(1 for i in kept if i.get("agent", {}).get("S") == AGENT) == 1


def test_a_damaged_journal_stops_the_start_with_a_clear_message(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    line = json.dumps({"t": "del", "table": "EventsTable", "key": {"pk": {"S": "a"}, "sk": {"S": "b"}}})
    # A damaged line with others after it is no crash's torn tail: nothing is loaded.
    local_state.segment_path(data, 0).write_text(line + "\n{damaged\n" + line + "\n")
    env = {**os.environ, "ACD_CALLBACK_TOKENS": E2E_TOKEN}
    done = subprocess.run(
        [sys.executable, "-m", "acd_local.stack", "--port", "0", "--aws-port", "0", "--data-dir", str(data)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=180,
        check=False,
    )
    assert done.returncode == 1
    assert "cannot start" in done.stderr
    assert "line 2 is damaged" in done.stderr


def _local_day(stack: LocalHub) -> str:
    from zoneinfo import ZoneInfo  # noqa: PLC0415

    assert stack.spec is not None
    zone = ZoneInfo(str(stack.spec.parameters.get("ReportTimeZone", "Europe/Berlin")))
    return datetime.fromtimestamp(NOW_MS / 1000, zone).date().isoformat()
