"""The local stack under hostile conditions (issue 16): a child process killed with -9 is
noticed (a consumer restarted, a dead moto a clear failure), a request smuggled behind
Content-Length + Transfer-Encoding is refused with the connection closed, and the banner shows
nothing of a chosen token."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

from click.testing import CliRunner

from acd_local.hub import LocalHub
from acd_local.spec import StackSpec
from acd_local.stack import _banner, main
from tests.integration.test_local_stack import (  # noqa: F401 - leave_moto_empty: an autouse fixture
    TOKEN,
    consumer_batches,
    echo_events,
    leave_moto_empty,
    put_item,
    raw_exchange,
    request,
    standin_spec,
)


def wait_until(condition: Callable[[], object], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


# --- 10: request smuggling ---------------------------------------------------------------------


def test_content_length_with_transfer_encoding_is_a_400_and_the_connection_closes(
    standin_stack: LocalHub,
) -> None:
    hidden = f"GET /callback/{TOKEN}?cmd=configchanged&smuggled=1 HTTP/1.1\r\nHost: x\r\n\r\n".encode()
    chunked = b"5\r\nhello\r\n0\r\n\r\n"
    answer = raw_exchange(
        standin_stack,
        b"PUT /callback HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
        + f"Content-Length: {len(chunked) + 5}\r\n".encode()
        + b"Transfer-Encoding: chunked\r\n\r\n"
        + chunked
        + hidden,
    )
    assert answer.startswith(b"HTTP/1.1 400"), answer[:80]
    assert answer.count(b"HTTP/1.1 ") == 1  # one answer, then the connection was closed
    assert b"Connection: close" in answer
    time.sleep(0.3)
    assert echo_events(standin_stack) == []


def test_transfer_encoding_alone_still_works(standin_stack: LocalHub) -> None:
    answer = raw_exchange(
        standin_stack,
        b"PUT /callback HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        b"3\r\na=1\r\n0\r\n\r\n",
    )
    assert answer.startswith(b"HTTP/1.1 201")


# --- 9: a dead child --------------------------------------------------------------------------------


def test_a_consumer_killed_with_9_is_started_again_and_catches_up(
    standin_stack: LocalHub, tmp_path: Path
) -> None:
    aws = standin_stack.clients()
    put_item(aws, "before")
    standin_stack.wait_for_stream_idle(10)
    consumer = standin_stack._consumers["ConsumerFunction"]
    first = consumer.worker.process.pid
    os.kill(first, signal.SIGKILL)
    wait_until(lambda: consumer.worker.process.pid != first and consumer.worker.alive)
    put_item(aws, "after")
    standin_stack.wait_for_stream_idle(20)
    delivered = [key for batch in consumer_batches(tmp_path) for key in batch["keys"]]
    assert "after" in delivered
    assert standin_stack.failure is None
    assert "DIED" not in standin_stack.stream_status()


def test_the_keeper_killed_with_9_is_started_again_and_compacts(tmp_path: Path, moto_server: str) -> None:
    """Before, a dead keeper stayed dead: no compaction for the rest of the run and the same
    warning every 10 s."""
    spec = standin_spec(tmp_path)
    with LocalHub(port=0, aws_port=0, tokens=[TOKEN], spec=spec, data_dir=tmp_path / "data") as stack:
        first = stack._keeper.process.pid
        os.kill(first, signal.SIGKILL)
        wait_until(lambda: stack._keeper is not None and stack._keeper.process.pid != first)
        put_item(stack.clients(), "after")
        summary = stack.snapshot()  # compacted by the new keeper
        assert summary is not None
        assert summary["items"] == 1
        assert stack.failure is None


def test_the_lag_line_says_a_consumer_died(standin_stack: LocalHub) -> None:
    consumer = standin_stack._consumers["ConsumerFunction"]
    consumer.problem = "DIED (exit code -9): restarting"  # what _supervise shows while it restarts
    assert "ConsumerFunction DIED (exit code -9)" in standin_stack.stream_status()


def test_moto_killed_with_9_stops_the_stack_with_a_clear_error(tmp_path: Path, moto_server: str) -> None:
    with LocalHub(port=0, aws_port=0, tokens=[TOKEN], spec=standin_spec(tmp_path)) as stack:
        os.kill(stack._moto.process.pid, signal.SIGKILL)
        assert stack.failed.wait(10)
        assert stack.failure is not None
        assert "moto" in stack.failure
        assert "died" in stack.failure
        status, _, _, _ = request(stack, "GET", f"/callback/{TOKEN}?cmd=agentstate")
        assert status == 503


# --- 12: the banner --------------------------------------------------------------------------


def test_the_banner_shows_nothing_of_a_chosen_token() -> None:
    stack = LocalHub(port=0, aws_port=0, tokens=["Zq81x0Lm-chosen-secret"])
    stack.tokens_source = "environment"
    stack.spec = StackSpec(tables={})
    banner = _banner(stack)
    (line,) = [line for line in banner.splitlines() if line.strip().startswith("token")]
    assert line.split() == ["token", "(from", "ACD_CALLBACK_TOKENS;", "not", "shown)"]
    assert "Zq" not in banner


def test_the_banner_shows_a_data_folder_inert() -> None:
    """An escape sequence in --data-dir is shown as typed, not sent to the terminal."""
    stack = LocalHub(port=0, aws_port=0, tokens=["t"], data_dir=Path("/tmp/acd-\x1b[31mred"))
    stack.spec = StackSpec(tables={})
    banner = _banner(stack)
    assert "\x1b" not in banner
    assert "kept in /tmp/acd-\\x1b[31mred" in banner


def test_a_sync_interval_that_is_no_finite_number_is_refused_before_anything_starts() -> None:
    """nan passes every bound check, and the journal's sync thread would wait on it forever."""
    for value in ("nan", "inf"):
        result = CliRunner().invoke(main, ["--sync-interval", value])
        assert result.exit_code == 2
        assert f"'{value}' is not a finite number" in result.stderr
