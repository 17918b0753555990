"""``acd-report serve`` under hostile requests (issue 16, items 7 and 8): only requests naming
the server are answered (DNS rebinding), parameters are bounded, a day report is built once
and kept, idle connections time out, the number of connections is capped, the backlog is real,
and an extreme day is a 400.

The server is the real one on a free loopback port; the reports it reads are a small fake (what
it reads is tested in test_report_commands)."""

from __future__ import annotations

import http.client
import json
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from acd_cli import report_context, wallboard
from tests.support import EmptyReports


class CountingReports(EmptyReports):
    """The reports' read side with nothing in it, counting the reads a day report makes."""

    def __init__(self) -> None:
        self.kpi_reads = 0

    def kpis(self, hotline: str, day: str) -> None:
        self.kpi_reads += 1


@pytest.fixture
def served() -> Iterator[tuple[wallboard.WallboardServer, CountingReports]]:
    report = report_context.ReportContext(endpoint_url="http://127.0.0.1:9")
    reports = CountingReports()
    report.__dict__["reports"] = reports
    server = wallboard.WallboardServer(("127.0.0.1", 0), wallboard.Wallboard(report, hotlines=["501"]))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server, reports
    finally:
        server.shutdown()
        server.server_close()


def get(
    server: wallboard.WallboardServer, path: str, headers: dict[str, str] | None = None
) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=20)
    try:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


@pytest.mark.parametrize(
    "headers",
    [
        {"Host": "attacker.example:8080"},
        {"Host": "attacker.example"},
        {"Host": "127.0.0.1.nip.io"},
        {"Origin": "http://attacker.example"},
        {"Origin": "null"},
    ],
)
def test_a_request_by_another_name_or_from_another_site_is_refused(
    served: tuple[wallboard.WallboardServer, CountingReports], headers: dict[str, str]
) -> None:
    server, _ = served
    for path in ("/api/wallboard", "/", "/report?day=2026-11-20"):
        status, body = get(server, path, headers)
        assert status == 403, (path, headers)
        assert b"agents" not in body


def test_requests_naming_this_server_are_answered(
    served: tuple[wallboard.WallboardServer, CountingReports],
) -> None:
    server, _ = served
    port = server.server_address[1]
    for host in (f"127.0.0.1:{port}", f"localhost:{port}"):
        status, body = get(server, "/api/wallboard", {"Host": host, "Origin": f"http://{host}"})
        assert status == 200
        assert "agents" in json.loads(body)


def test_report_parameters_are_bounded(served: tuple[wallboard.WallboardServer, CountingReports]) -> None:
    server, reports = served
    many = "&".join(f"hotline={n}" for n in range(1, 301))
    started = time.monotonic()
    status, body = get(server, f"/report?day=2026-11-20&{many}")
    assert status == 400
    assert "at most 20" in json.loads(body)["error"]
    assert time.monotonic() - started < 5
    assert reports.kpi_reads == 0
    assert get(server, "/report?day=2026-11-20&hotline=1%27%3E")[0] == 400
    assert get(server, "/report?" + "&".join(f"x{n}=1" for n in range(1000)))[0] == 400


def test_a_day_report_is_built_once_and_kept(
    served: tuple[wallboard.WallboardServer, CountingReports],
) -> None:
    server, reports = served
    for _ in range(5):
        assert get(server, "/report?day=2026-11-20&hotline=501&hotline=0502")[0] == 200
    assert reports.kpi_reads == 2  # two hotlines, read once


@pytest.mark.parametrize("day", ["9999-12-31", "0001-01-01"])
def test_an_extreme_day_is_a_400(served: tuple[wallboard.WallboardServer, CountingReports], day: str) -> None:
    server, _ = served
    status, body = get(server, f"/report?day={day}")
    assert status == 400
    assert "day out of range" in json.loads(body)["error"]


def test_an_idle_or_half_sent_connection_is_closed(
    served: tuple[wallboard.WallboardServer, CountingReports], monkeypatch: pytest.MonkeyPatch
) -> None:
    server, _ = served
    assert wallboard._Handler.timeout == wallboard.SOCKET_TIMEOUT_S <= 30  # the stdlib's default: none
    monkeypatch.setattr(wallboard._Handler, "timeout", 0.5)  # the same, quicker
    with socket.create_connection(("127.0.0.1", server.server_address[1]), timeout=10) as sock:
        sock.sendall(b"GET /api/wallboard HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # never finished
        started = time.monotonic()
        assert sock.recv(1024) == b""  # closed by the server
        assert time.monotonic() - started < 5


def test_connections_beyond_the_cap_are_answered_busy_at_once(
    served: tuple[wallboard.WallboardServer, CountingReports],
) -> None:
    server, _ = served
    port = server.server_address[1]
    before = threading.active_count()  # what other tests of this process left running
    held = [
        socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(wallboard.MAX_CONNECTIONS)
    ]
    try:
        time.sleep(0.3)  # every one accepted, each holding a thread
        with socket.create_connection(("127.0.0.1", port), timeout=10) as extra:
            assert extra.recv(1024).startswith(b"HTTP/1.1 503")
        assert threading.active_count() - before < wallboard.MAX_CONNECTIONS + 20
    finally:
        for sock in held:
            sock.close()
    time.sleep(0.3)
    assert get(server, "/healthz", {"Host": f"127.0.0.1:{port}"})[0] == 200


def test_the_listen_backlog_is_real(served: tuple[wallboard.WallboardServer, CountingReports]) -> None:
    server, _ = served
    shown = subprocess.run(
        ["ss", "-ltnH", f"sport = :{server.server_address[1]}"], capture_output=True, text=True, check=True
    ).stdout.split()
    assert int(shown[2]) >= wallboard.LISTEN_BACKLOG, shown


def test_a_slow_sender_is_dropped_at_the_head_deadline(
    served: tuple[wallboard.WallboardServer, CountingReports], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A byte every 0.2 s keeps the socket's own time-out from firing; the head's deadline does."""
    server, _ = served
    monkeypatch.setattr(wallboard, "HEAD_DEADLINE_S", 1.0)
    request = f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{server.server_address[1]}\r\n\r\n".encode()
    closed_after = None
    with socket.create_connection(("127.0.0.1", server.server_address[1]), timeout=10) as sock:
        started = time.monotonic()
        for index in range(len(request)):  # 45 bytes: 9 s if all were taken
            try:
                sock.sendall(request[index : index + 1])
            except OSError:  # reset by the server
                closed_after = time.monotonic() - started
                break
            sock.settimeout(0.2)
            try:
                if sock.recv(1024) == b"":
                    closed_after = time.monotonic() - started
                    break
            except TimeoutError:
                continue
            except OSError:
                closed_after = time.monotonic() - started
                break
    assert closed_after is not None, "the whole request trickled in"
    assert 0.8 < closed_after < 4
    # a client in no hurry but within the deadline is still served
    assert get(server, "/healthz", {"Host": f"127.0.0.1:{server.server_address[1]}"})[0] == 200


def test_a_client_that_goes_away_mid_answer_prints_no_traceback(
    served: tuple[wallboard.WallboardServer, CountingReports], capfd: pytest.CaptureFixture[str]
) -> None:
    server, _ = served
    port = server.server_address[1]
    for _ in range(20):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            # ask for the wallboard page (tens of KB) and close at once, with a reset (linger 0)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            sock.sendall(f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
    time.sleep(0.5)
    assert get(server, "/healthz", {"Host": f"127.0.0.1:{port}"})[0] == 200
    errors = capfd.readouterr().err
    assert "Traceback" not in errors
    assert "BrokenPipe" not in errors
    assert "ConnectionReset" not in errors


def test_a_slow_day_report_shows_that_it_loads_then_the_report(
    served: tuple[wallboard.WallboardServer, CountingReports], monkeypatch: pytest.MonkeyPatch
) -> None:
    server, reports = served
    slow = reports.kpis

    def kpis(hotline: str, day: str) -> None:
        time.sleep(2.5)
        slow(hotline, day)

    monkeypatch.setattr(reports, "kpis", kpis)
    status, body = get(server, "/report?day=2026-11-21&hotline=501")
    assert status == 200
    assert b"data-loading=" in body
    assert b'http-equiv="refresh"' in body  # asks again by itself
    deadline = time.monotonic() + 30
    while b"data-loading=" in body and time.monotonic() < deadline:
        time.sleep(0.5)
        status, body = get(server, "/report?day=2026-11-21&hotline=501")
    assert status == 200
    assert b'data-hotline="501"' in body
    assert reports.kpi_reads == 1  # built once, whoever asked meanwhile


def ask(
    server: wallboard.WallboardServer, method: str, path: str, body: bytes | None = None
) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=20)
    try:
        connection.request(method, path, body=body, headers={"Host": f"127.0.0.1:{server.server_address[1]}"})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def test_head_is_get_without_its_body(served: tuple[wallboard.WallboardServer, CountingReports]) -> None:
    server, _ = served
    for path in ("/", "/api/wallboard", "/healthz", "/nope", "/report?day=2026-13-40"):
        status, headers, body = ask(server, "HEAD", path)
        got, _, whole = ask(server, "GET", path)
        assert (status, body) == (got, b""), path
        if path != "/api/wallboard":  # the figures' "now" moves between the two
            assert int(headers["Content-Length"]) == len(whole), path


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "OPTIONS", "TRACE", "PATCH", "BREW"])
def test_another_method_is_a_405_naming_get_and_head_and_the_server_serves_on(
    served: tuple[wallboard.WallboardServer, CountingReports], method: str
) -> None:
    server, reports = served
    status, headers, body = ask(server, method, "/report?day=2026-11-20", body=b"day=2026-11-21")
    assert status == 405  # the stdlib's answer was 501, a server error
    assert headers["Allow"] == "GET, HEAD"
    assert headers["Connection"] == "close"  # the body is never read
    assert method in json.loads(body)["error"]
    assert reports.kpi_reads == 0
    assert ask(server, "GET", "/healthz")[0] == 200


@pytest.mark.parametrize(
    "framing",
    [
        lambda body: f"Content-Length: {len(body)}\r\n\r\n".encode() + body,
        lambda body: (
            f"Transfer-Encoding: chunked\r\n\r\n{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n"
        ),
    ],
    ids=["content-length", "chunked"],
)
def test_the_body_of_a_get_is_never_taken_for_another_request(
    served: tuple[wallboard.WallboardServer, CountingReports], framing: Any
) -> None:
    server, _ = served
    host = f"Host: 127.0.0.1:{server.server_address[1]}\r\n".encode()
    smuggled = b"GET /nope HTTP/1.1\r\n" + host + b"\r\n"
    with socket.create_connection(("127.0.0.1", server.server_address[1]), timeout=10) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\n" + host + framing(smuggled))
        answered = b""
        while chunk := sock.recv(65536):  # until the server closes the connection
            answered += chunk
    assert answered.startswith(b"HTTP/1.1 200 ")
    assert b"Connection: close" in answered
    assert answered.count(b"HTTP/1.1 ") == 1  # one request, one answer: no 404 of /nope
    assert get(server, "/healthz", {"Host": f"127.0.0.1:{server.server_address[1]}"})[0] == 200


@pytest.mark.parametrize("target", ["http://[x/", "http://[::1/api/wallboard"])
def test_a_target_that_is_no_url_is_a_400_without_a_traceback(
    served: tuple[wallboard.WallboardServer, CountingReports], capfd: pytest.CaptureFixture[str], target: str
) -> None:
    server, _ = served
    port = server.server_address[1]
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n".encode())
        answered = b""
        while chunk := sock.recv(65536):
            answered += chunk
    assert answered.startswith(b"HTTP/1.1 400 "), answered[:200]  # it was no answer at all
    assert b"not a URL" in answered
    assert "Traceback" not in capfd.readouterr().err
    assert get(server, "/healthz", {"Host": f"127.0.0.1:{port}"})[0] == 200


@pytest.mark.parametrize("path", ["/report?day=2026-13-40", "/calls?hotline=501&day=%ff", "/range?day=x"])
def test_a_bad_day_names_the_parameter_not_the_command_line_option(
    served: tuple[wallboard.WallboardServer, CountingReports], path: str
) -> None:
    server, _ = served
    status, body = get(server, path, {"Host": f"127.0.0.1:{server.server_address[1]}"})
    assert status == 400
    assert json.loads(body)["error"].startswith("day: ")  # it said --day, an option of acd-report


def test_a_burst_of_day_reports_queues_a_bounded_number_of_builds(
    served: tuple[wallboard.WallboardServer, CountingReports], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each new day (or choice of hotlines) started a build waiting for the one before: a burst
    queued a thread and a whole build each, and the report asked for next waited for them all."""
    server, reports = served
    host = {"Host": f"127.0.0.1:{server.server_address[1]}"}
    release = threading.Event()
    counted = reports.kpis

    def kpis(hotline: str, day: str) -> None:
        release.wait(60)  # the builds stay pending until the test lets them go
        counted(hotline, day)

    monkeypatch.setattr(reports, "kpis", kpis)
    days = [f"2026-11-{n:02d}" for n in range(1, wallboard.MAX_PENDING_REPORTS + 1)]
    try:
        for day in days:
            status, body = get(server, f"/report?day={day}&hotline=501", host)
            assert (status, b"data-loading=" in body) == (200, True), day
        status, body = get(server, "/report?day=2026-11-30&hotline=501", host)
        assert status == 503
        assert "being built; try again" in json.loads(body)["error"]
        assert (
            get(server, f"/report?day={days[0]}&hotline=501", host)[0] == 200
        )  # one already queued: its page
        assert get(server, "/healthz", host)[0] == 200
    finally:
        release.set()
    deadline = time.monotonic() + 60
    while reports.kpi_reads < len(days) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert reports.kpi_reads == len(days)  # the refused one was never queued
    status, body = get(server, "/report?day=2026-11-30&hotline=501", host)
    assert status == 200


@pytest.mark.parametrize(
    ("query", "error"),
    [
        ("from=2026-11-02", "from and to go together"),
        ("to=2026-11-08", "from and to go together"),
        ("from=2026-11-02&to=2026-11-08&period=month", "do not apply"),
        ("from=2026-11-02&to=2026-11-08&day=2026-10-01", "do not apply"),
    ],
)
def test_a_range_asked_for_in_part_is_a_400_not_another_range(
    served: tuple[wallboard.WallboardServer, CountingReports], query: str, error: str
) -> None:
    """It showed the current week (or the from/to range, the period ignored) without a word."""
    server, _ = served
    status, body = get(server, f"/range?{query}", {"Host": f"127.0.0.1:{server.server_address[1]}"})
    assert status == 400, body[:300]
    assert error in json.loads(body)["error"]


def test_a_throttled_store_is_a_503_not_an_internal_error(capfd: pytest.CaptureFixture[str]) -> None:
    """DynamoDB throttling past botocore's retries reaches the reads as the table adapters'
    Throttled, not a ClientError: serve answered it 500 "internal error" with a traceback."""
    from acd_cli.reporting import ReportQueries  # noqa: PLC0415
    from acd_devkit.memory_dynamodb import Faults, MemoryDynamoDB  # noqa: PLC0415
    from acd_devkit.template import dynamodb_tables, load_template  # noqa: PLC0415

    db = MemoryDynamoDB(dynamodb_tables(load_template()))
    db.faults = Faults(throttle=1.0, operations=frozenset({"Query"}))
    report = report_context.ReportContext(endpoint_url="http://127.0.0.1:9")
    report.__dict__["reports"] = ReportQueries(db, "ReportsTable", 1)
    server = wallboard.WallboardServer(("127.0.0.1", 0), wallboard.Wallboard(report, hotlines=["501"]))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        status, body = get(server, "/api/wallboard", {"Host": f"127.0.0.1:{server.server_address[1]}"})
    finally:
        server.shutdown()
        server.server_close()
    assert status == 503, body
    assert json.loads(body)["error"].startswith("ProvisionedThroughputExceededException: ")
    assert "Traceback" not in capfd.readouterr().err
