"""``acd-report serve``: the live wallboard and the day report over HTTP on 127.0.0.1.

* ``/``: the wallboard. The page asks ``/api/wallboard`` every few seconds and redraws itself:
  each agent's current state (in plain words, coloured by state) and how long it has lasted,
  per hotline today offered, answered, abandoned, service level and the longest current wait,
  and how fresh the figures are. The time in state ticks every second between refreshes.
* ``/api/wallboard``: what the page shows, as JSON.
* ``/report?day=YYYY-MM-DD``: the HTML day report (:mod:`acd_cli.html_report`) of any day.

Every figure is read with the same ``Query``/``GetItem`` calls as the other ``acd-report``
commands (:class:`acd_cli.reporting.ReportQueries`), against the local stack or AWS. One read
serves all browsers for a second, so ten open wallboards cost what one does.

A stdlib ``ThreadingHTTPServer`` bound to loopback only: the wallboard has no login of its own.
Loopback alone does not keep a web page out: a page of another site can reach it through a
name that resolves to 127.0.0.1 (DNS rebinding) or just post to it. So only requests naming
this server (``Host``, and ``Origin`` when a browser sends one) are answered; parameters are
bounded, a day report is built one at a time and kept for a while, idle or half-sent
connections time out and their number is capped.
"""

from __future__ import annotations

import contextlib
import io
import json
import socket
import sys
import threading
import time
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import SplitResult, parse_qs, urlencode, urlsplit

from acd_cli import drilldown, html_report, labels
from acd_cli.output import parse_utc
from acd_cli.report_context import STORE_ERRORS, ReportContext, ReportError, describe_aws_error, parse_day
from acd_cli.report_listings import event_details

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

    from acd_hub.reports.agent_day import AgentDayReport
    from acd_hub.reports.board import BoardEntry
    from acd_hub.reports.call import CallSummary
    from acd_hub.reports.hotline_day import HotlineKpis

# A call still waiting after this long has most likely lost its CallEnd: not a current wait.
MAX_CURRENT_WAIT = timedelta(hours=2)
# How long one read of the tables serves every browser asking.
SNAPSHOT_TTL_S = 1.0
# A day's hotlines are one query of the reports table's listing of the day (of its call events
# for a day aggregated before that listing; see html_report.day_hotlines): not on every refresh.
HOTLINES_TTL_S = 60.0
# A day report reads every hotline's and agent's reports: built once, served for a while.
REPORT_TTL_S = 30.0
REPORTS_KEPT = 16
# Day reports being built or waiting their turn: a new one beyond these is refused (503, try
# again). Each waits for the one before, so without a bound a burst of days or hotline choices
# queued a thread and a whole build each, and a report asked for after them waited for them all.
MAX_PENDING_REPORTS = 4
# Waiting longer than this for another day report to be built: 503, try again.
REPORT_WAIT_S = 30.0
# A browser gets the page if it is ready this soon, else a page saying it is being built.
REPORT_SHOW_WAIT_S = 1.0
# What one /report may ask for: a wall of hotlines or agents is a job for `acd-report html`.
MAX_HOTLINES = 20
MAX_AGENTS = 200
MAX_QUERY_FIELDS = 2 * MAX_AGENTS
# A connection that sends nothing for this long is closed (idle keep-alive, half-sent request).
SOCKET_TIMEOUT_S = 10.0
# A request line and headers not complete this long after the connection was ready for them are
# dropped, however they trickle in: a byte every few seconds resets the socket's time-out above,
# so a slow sender would hold one of the MAX_CONNECTIONS for as long as it likes.
HEAD_DEADLINE_S = 10.0
MAX_CONNECTIONS = 64
# The methods served; any other is a 405 naming these.
ALLOWED_METHODS = ("GET", "HEAD")
LISTEN_BACKLOG = 128


def current_waits_s(calls: Sequence[CallSummary], now: datetime) -> list[float]:
    """How long each inbound call not yet answered nor ended has been waiting (a call older than
    ``MAX_CURRENT_WAIT`` has lost its end, and does not count)."""
    waits = []
    for call in calls:
        if call.direction != "inbound" or call.answered or call.ended:
            continue
        started = parse_utc(str(call.started))
        if started is not None and timedelta(0) <= now - started <= MAX_CURRENT_WAIT:
            waits.append((now - started).total_seconds())
    return waits


def longest_current_wait_s(calls: Sequence[CallSummary], now: datetime) -> float | None:
    """The longest wait of the inbound calls not yet answered nor ended; None when none waits."""
    waits = current_waits_s(calls, now)
    return max(waits) if waits else None


@dataclass(frozen=True)
class WaitTargets:
    """When the oldest waiting call turns the hotline amber, then red (``serve`` settings)."""

    warning_s: float = 60.0
    alarm_s: float = 180.0

    def status(self, wait_s: float | None) -> str:
        if wait_s is None or wait_s < self.warning_s:
            return "ok"
        return "warning" if wait_s < self.alarm_s else "alarm"


# The hotline figures of the board, today's and the current interval's.
TODAY_KPIS = ("offered", "answered", "abandoned", "service_level_pct", "abandon_rate_pct", "asa_s")
INTERVAL_KPIS = ("offered", "service_level_pct", "abandon_rate_pct", "asa_s")


def _shown(figures: Mapping[str, Any], names: Sequence[str]) -> dict[str, dict[str, Any]]:
    return {
        name: {"value": figures.get(name), "text": labels.kpi_text(name, figures.get(name))} for name in names
    }


def _sl_status(level: Any, target_pct: float) -> str:
    return "" if level is None else ("met" if level >= target_pct else "missed")


def current_interval(now: datetime, zone: ZoneInfo) -> datetime:
    """The start of the 15-minute interval ``now`` is in, in the reporting zone (as UTC)."""
    local = now.astimezone(zone)
    return local.replace(minute=local.minute - local.minute % 15, second=0, microsecond=0).astimezone(UTC)


def agents_by_state(entries: Sequence[BoardEntry]) -> dict[str, int]:
    """How many agents are in each of ``labels.STATE_GROUPS`` and logged on at all."""
    counts = dict.fromkeys(labels.STATE_GROUPS, 0)
    logged_on = 0
    for entry in entries:
        if entry.state is None or str(entry.state).lower() == "offline":
            continue
        logged_on += 1
        if (group := labels.state_group(entry.state)) is not None:
            counts[group] += 1
    return {**counts, "logged_on": logged_on}


def hotline_tile(
    hotline: str,
    found: HotlineKpis | None,
    waits: Sequence[float],
    entries: Sequence[BoardEntry],
    *,
    now: datetime,
    zone: ZoneInfo,
    sl_target_pct: float,
    wait_targets: WaitTargets,
    min_sl_calls: int = html_report.DEFAULT_MIN_SL_CALLS,
    title: str | None = None,
    drilldown: bool = True,
) -> dict[str, Any]:
    """What the board shows of one hotline (pure: the reads are the caller's). ``drilldown``: its
    title links to its calls (``serve``'s ``/calls``; the board on AWS has no such route)."""
    figures = found.day.as_dict() if found else {}
    interval_start = current_interval(now, zone)
    interval = next(
        (
            i.figures.as_dict()
            for i in (found.intervals if found else [])
            if (moment := parse_utc(i.start)) is not None and moment.astimezone(UTC) == interval_start
        ),
        {},
    )
    oldest = max(waits) if waits else None
    shown = _shown(figures, TODAY_KPIS)
    # the wallboard's first figure, kept under its old name
    shown["longest_wait_s"] = {
        "value": None if oldest is None else round(oldest),
        "text": "none" if oldest is None else labels.kpi_text("max_wait_s", oldest),
    }
    return {
        "hotline": hotline,
        "title": f"Hotline {title or hotline}",
        "calls_href": "/calls?"
        + urlencode({"hotline": hotline, "day": now.astimezone(zone).date().isoformat()})
        if drilldown
        else None,
        "waiting": len(waits),
        "oldest_wait_s": None if oldest is None else round(oldest),
        "oldest_wait_text": "—" if oldest is None else labels.kpi_text("max_wait_s", oldest),
        "wait_status": wait_targets.status(oldest),
        "figures": shown,
        "sl_status": _sl_status(figures.get("service_level_pct"), sl_target_pct),
        "interval": {
            "start": interval_start.astimezone(zone).strftime("%H:%M"),
            # no counters for the interval yet: nothing offered in it
            "figures": _shown({"offered": 0, **interval}, INTERVAL_KPIS),
            "sl_status": _sl_status(interval.get("service_level_pct"), sl_target_pct),
            # a level of a handful of calls: not coloured as met or missed
            "few_calls": interval.get("service_level_pct") is not None
            and int(interval.get("answered") or 0) + int(interval.get("abandoned") or 0) < min_sl_calls,
        },
        # agents whose current state names this hotline (on or ringing with one of its calls)
        "agents": agents_by_state([e for e in entries if str(e.hotline) == hotline]),
    }


def _agent_today(day: AgentDayReport | None) -> dict[str, Any]:
    """An agent's day so far on its tile: calls handled, average handling time, occupancy."""
    handling = day.handling() if day else {"aht_s": None, "occupancy_pct": None}
    return {
        "calls_handled": day.calls_handled if day else 0,
        "aht_s": handling["aht_s"],
        "aht_text": labels.kpi_text("aht_s", handling["aht_s"]),
        "occupancy_pct": handling["occupancy_pct"],
        "occupancy_text": labels.kpi_text("service_level_pct", handling["occupancy_pct"]),
    }


class Wallboard:
    """Reads what the wallboard shows; cached for a second, shared by all requests."""

    def __init__(
        self,
        report: ReportContext,
        *,
        hotlines: Sequence[str] = (),
        refresh_s: float = 3.0,
        sl_target_pct: float = html_report.DEFAULT_SL_TARGET_PCT,
        min_sl_calls: int = html_report.DEFAULT_MIN_SL_CALLS,
        wait_targets: WaitTargets | None = None,
        drilldown: bool = True,
    ) -> None:
        self.report = report
        # Hotlines link to their calls, calls to their events: serve's /calls and /call pages.
        self.drilldown = drilldown
        self.wait_targets = wait_targets or WaitTargets()
        self.hotlines = list(hotlines)
        self.refresh_s = refresh_s
        self.sl_target_pct = sl_target_pct
        self._lock = threading.Lock()
        self._snapshot: tuple[float, dict[str, Any]] | None = None
        self._found_hotlines: tuple[float, str, list[str]] | None = None
        self.min_sl_calls = min_sl_calls
        self._report_lock = threading.Lock()
        self._build_lock = threading.Lock()
        self._reports: dict[tuple[str, tuple[str, ...], tuple[str, ...]], tuple[float, str]] = {}
        self._builds: dict[tuple[str, tuple[str, ...], tuple[str, ...]], _Build] = {}

    def _day_hotlines(self, day: str) -> list[str]:
        if self.hotlines:
            return self.hotlines
        cached = self._found_hotlines
        if cached is None or cached[1] != day or time.monotonic() - cached[0] > HOTLINES_TTL_S:
            cached = (
                time.monotonic(),
                day,
                html_report.day_hotlines(self.report.reports, self.report.queries, day),
            )
            self._found_hotlines = cached
        return cached[2]

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            if self._snapshot and time.monotonic() - self._snapshot[0] < SNAPSHOT_TTL_S:
                return self._snapshot[1]
            snapshot = self._read()
            self._snapshot = (time.monotonic(), snapshot)
            return snapshot

    def _read(self) -> dict[str, Any]:
        report = self.report
        now = report.now()
        today = report.today()
        reports = report.reports
        board = reports.board()
        days = reports.agent_days([str(e.agent) for e in board if e.agent], today, with_timeline=False)
        agents = [
            {
                "agent": entry.agent,
                "title": report.names.agent(entry.agent),
                "state": entry.state,
                "label": labels.state_text(entry.state, entry.pause_reason),
                "colour": labels.state_colour(entry.state),
                "since": entry.since,
                "since_ms": entry.since_ms,
                "pause_reason": entry.pause_reason,
                "hotline": entry.hotline_name or entry.hotline,
                "logged_off": entry.state is None or str(entry.state).lower() == "offline",
                **_agent_today(days.get(str(entry.agent))),
            }
            # logged-off agents last: the wall is for who is working
            for entry in sorted(board, key=lambda e: e.state is None or str(e.state).lower() == "offline")
        ]
        hotlines = []
        for hotline in self._day_hotlines(today):
            hotlines.append(
                hotline_tile(
                    hotline,
                    reports.kpis(hotline, today),
                    current_waits_s(reports.calls(hotline, today), now),
                    board,
                    now=now,
                    zone=report.zone,
                    sl_target_pct=self.sl_target_pct,
                    wait_targets=self.wait_targets,
                    min_sl_calls=self.min_sl_calls,
                    title=report.names.hotline(hotline),
                    drilldown=self.drilldown,
                )
            )
        freshness = reports.freshness()
        return {
            "now": now.astimezone(UTC).isoformat(),
            "now_ms": int(now.timestamp() * 1000),
            "day": today,
            "zone": report.zone.key,
            "sl_target_pct": self.sl_target_pct,
            "freshness": freshness.as_dict(),
            "freshness_text": html_report.freshness_text(freshness, report.zone),
            "agents": agents,
            "agents_by_state": agents_by_state(board),
            "hotlines": hotlines,
            "wait_targets": {"warning_s": self.wait_targets.warning_s, "alarm_s": self.wait_targets.alarm_s},
        }

    def page(self) -> str:
        return html_report.template("wallboard.html.j2").render(
            refresh_ms=int(self.refresh_s * 1000),
            zone=self.report.zone.key,
            target=self.sl_target_pct,
            warning_s=self.wait_targets.warning_s,
            alarm_s=self.wait_targets.alarm_s,
        )

    def range_page(self, query: Mapping[str, list[str]]) -> str:
        """``/range?period=week&day=`` or ``/range?from=&to=`` (and ``hotline=``): the range
        next to the period before (``acd-report range``)."""
        from acd_cli import range_report  # noqa: PLC0415 - altair only when drawn

        report = self.report

        def one(name: str) -> str | None:
            values = query.get(name)
            return values[0] if values else None

        first, last = parse_day(one("from"), "from"), parse_day(one("to"), "to")
        # acd-report range's rules: a lone from (or to) showed the current week instead, and a
        # period or day beside them was ignored, each without a word
        if (first is None) != (last is None):
            raise BadRequest("from and to go together")
        if first is not None and (one("day") is not None or one("period") is not None):
            raise BadRequest("day and period do not apply to from/to: the range is its days")
        try:
            if first is None or last is None:
                first, last = range_report.period_of(
                    one("period") or "week", parse_day(one("day"), "day") or report.today()
                )
            hotlines = _bounded_ids(query.get("hotline", []), "hotline", MAX_HOTLINES)
            found = range_report.gather(
                report.reports, range_report.range_hotlines(report, hotlines, last), first, last
            )
        except range_report.RangeError as exc:
            raise BadRequest(str(exc)) from None
        found.names = report.names
        return range_report.render(found)

    def calls_page(self, hotline: str, day: str) -> str:
        """A hotline's calls of a day (``acd-report calls``), each linked to its events."""
        report = self.report
        calls = report.reports.calls(hotline, day)
        return drilldown.calls_page(hotline, day, calls, report.zone, report.names)

    def call_page(self, task_id: str) -> str:
        """One call's summary and events (``acd-report call`` and ``events --call``)."""
        report = self.report
        zone = report.zone
        return drilldown.call_page(
            task_id,
            report.reports.call(task_id),
            report.queries.events_by_call(task_id),
            zone=zone,
            details=lambda event: event_details(dict(event), zone),
            names=report.names,
        )

    def day_report(self, day: str, hotlines: Sequence[str], agents: Sequence[str]) -> str | None:
        """The page, from the cache when it is recent; None when another report took too long.
        Waits for it to be built (``acd-report html``'s way; :meth:`day_report_or_progress` is
        the browser's)."""
        page = self.day_report_or_progress(day, hotlines, agents, wait_s=REPORT_WAIT_S)
        return page.html if page.done else None

    def day_report_or_progress(
        self, day: str, hotlines: Sequence[str], agents: Sequence[str], *, wait_s: float = REPORT_SHOW_WAIT_S
    ) -> ReportPage:
        """The page if it is ready within ``wait_s``; else a page saying it is being built, which
        asks again every second (a day report of a busy day takes seconds: the browser shows that
        it loads instead of a blank tab). One report is built at a time, in the background, so
        a reader who gives up costs nothing more; it is kept for ``REPORT_TTL_S``."""
        key = (day, tuple(sorted(set(hotlines))), tuple(sorted(set(agents))))
        with self._report_lock:
            cached = self._reports.get(key)
            if cached and time.monotonic() - cached[0] < REPORT_TTL_S:
                return ReportPage(cached[1], done=True)
            build = self._builds.get(key)
            if build is None or build.failed_at_least(REPORT_TTL_S):
                pending = sum(not b.finished.is_set() for b in self._builds.values())
                if pending >= MAX_PENDING_REPORTS:
                    raise ReportsBusy(f"{pending} day reports are being built; try again when they are done")
                build = _Build(key)
                self._builds[key] = build
                threading.Thread(
                    target=self._run_build, args=(build,), name="acd-day-report", daemon=True
                ).start()
        build.finished.wait(wait_s)
        with self._report_lock:
            cached = self._reports.get(key)
            if build.error is not None:
                self._builds.pop(key, None)
                raise build.error
            if cached and build.finished.is_set():
                return ReportPage(cached[1], done=True)
        return ReportPage(
            html_report.template("loading.html.j2").render(
                day=day, seconds=round(time.monotonic() - build.started), refresh_s=1
            ),
            done=False,
        )

    def _run_build(self, build: _Build) -> None:
        day, hotlines, agents = build.key
        try:
            with self._build_lock:  # one at a time: a report reads every hotline and agent
                page = self._build_report(day, hotlines, agents)
            with self._report_lock:
                if len(self._reports) >= REPORTS_KEPT:
                    del self._reports[min(self._reports, key=lambda k: self._reports[k][0])]
                self._reports[build.key] = (time.monotonic(), page)
                self._builds.pop(build.key, None)
        except Exception as exc:  # answered to whoever asks next (a 503 for AWS errors)
            build.error = exc
            build.failed = time.monotonic()
        finally:
            build.finished.set()

    def _build_report(self, day: str, hotlines: Sequence[str], agents: Sequence[str]) -> str:
        with html_report.warming_up():  # the renderer starts (once a process) while the reads run
            found = html_report.gather(
                self.report.reports,
                self.report.queries,
                day,
                self.report.zone,
                hotlines=hotlines,
                agents=agents,
                now=self.report.now(),
                sl_target_pct=self.sl_target_pct,
                min_sl_calls=self.min_sl_calls,
            )
        found.names = self.report.names
        return html_report.render(found, links=self.drilldown)


@dataclass
class ReportPage:
    html: str
    done: bool  # False: the page saying the report is being built


@dataclass
class _Build:
    key: tuple[str, tuple[str, ...], tuple[str, ...]]
    started: float = field(default_factory=time.monotonic)
    finished: threading.Event = field(default_factory=threading.Event)
    error: Exception | None = None
    failed: float | None = None

    def failed_at_least(self, seconds: float) -> bool:
        return self.failed is not None and time.monotonic() - self.failed >= seconds


class WallboardServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = LISTEN_BACKLOG

    def __init__(self, address: tuple[str, int], wallboard: Wallboard) -> None:
        self.wallboard = wallboard
        self._connections = threading.BoundedSemaphore(MAX_CONNECTIONS)
        super().__init__(address, _Handler)

    @property
    def allowed_hosts(self) -> frozenset[str]:
        """The ``Host`` values that name this server; anything else reached it by another name."""
        port = self.server_address[1]
        return frozenset(f"{name}:{port}" for name in ("127.0.0.1", "localhost", "[::1]"))

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._connections.acquire(blocking=False):
            # Full: say so at once rather than queue a thread per connection.
            with contextlib.suppress(OSError):
                request.sendall(BUSY_ANSWER)
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._connections.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A browser that closed its tab or reloaded while being answered: nothing is wrong here,
        # so no traceback on the operator's terminal (anything else is still printed).
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)


BUSY_ANSWER = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n"
    b"Retry-After: 1\r\nConnection: close\r\n\r\nbusy\n"
)


class BadRequest(Exception):
    """A request this server will not serve (400), with why."""


class ReportsBusy(Exception):
    """Too many day reports being built to start another (503, try again), with why."""


def _bounded_ids(values: list[str], name: str, limit: int) -> list[str]:
    """Hotline or agent ids as the reports key them, at most ``limit`` different ones."""
    ids = []
    for value in values:
        text = value.strip()
        if not (text.isascii() and text.isdigit() and len(text) <= 20):
            raise BadRequest(f"{name}: {text[:40]!r} is not a numeric id")
        ids.append(str(int(text)) if name == "hotline" else text)
    unique = list(dict.fromkeys(ids))
    if len(unique) > limit:
        raise BadRequest(f"{name}: at most {limit} per report (got {len(unique)}); use acd-report html")
    return unique


def _target(path: str) -> SplitResult:
    """The request's target; one urlsplit cannot read (``http://[x/``, an absolute URL with a
    broken IPv6 host) is a 400, not a traceback on the terminal and a connection dropped."""
    try:
        return urlsplit(path)
    except ValueError as exc:
        raise BadRequest(f"the request target is not a URL: {exc}") from None


def _query(text: str) -> dict[str, list[str]]:
    try:
        return parse_qs(text, max_num_fields=MAX_QUERY_FIELDS)
    except ValueError:
        raise BadRequest(f"more than {MAX_QUERY_FIELDS} parameters") from None


class _HeadReader(io.RawIOBase):
    """The connection's reads; while a request head is read, none waits past its deadline."""

    def __init__(self, connection: socket.socket, timeout: float) -> None:
        self._connection = connection
        self._timeout = timeout
        self.deadline: float | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self.deadline is not None:
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("request head not complete in time")
            self._connection.settimeout(min(left, self._timeout))
        return self._connection.recv_into(buffer)

    def head_done(self) -> None:
        self.deadline = None
        self._connection.settimeout(self._timeout)


class _Handler(BaseHTTPRequestHandler):
    server: WallboardServer
    protocol_version = "HTTP/1.1"
    timeout = SOCKET_TIMEOUT_S

    def setup(self) -> None:
        super().setup()
        self.rfile.close()
        self._head = _HeadReader(self.connection, self.timeout)
        self.rfile = io.BufferedReader(self._head)

    def handle_one_request(self) -> None:
        # the stdlib answers a TimeoutError here by closing the connection
        self._head.deadline = time.monotonic() + HEAD_DEADLINE_S
        super().handle_one_request()

    def parse_request(self) -> bool:
        try:
            parsed = super().parse_request()
        finally:
            self._head.head_done()
        if parsed and self.command not in ALLOWED_METHODS:
            # The stdlib answers a method without a do_<METHOD> with 501, a server error the
            # server does not have: 405 naming the methods it serves. Any body is left unread,
            # so the connection is closed after the answer.
            self.close_connection = True
            self._send(
                HTTPStatus.METHOD_NOT_ALLOWED,
                "application/json",
                json.dumps({"error": f"method {self.command!r} not allowed; use GET or HEAD"}),
                headers={"Allow": ", ".join(ALLOWED_METHODS), "Connection": "close"},
            )
            return False
        if parsed and (
            self.headers.get("Transfer-Encoding") or self.headers.get("Content-Length", "0").strip() != "0"
        ):
            # A GET with a body: nothing here reads one, and on a kept-alive connection its bytes
            # would be taken for the next request (one request answered twice, or a 400 for the
            # next). Answered, then the connection is closed.
            self.close_connection = True
        return parsed

    def _foreign(self) -> str | None:
        """Why the request does not come from a page of this server (None: it does)."""
        allowed = self.server.allowed_hosts
        host = (self.headers.get("Host") or "").strip().lower()
        if host not in allowed:
            return "Host does not name this server (allowed: " + ", ".join(sorted(allowed)) + ")"
        origin = self.headers.get("Origin")
        if origin is not None and origin.strip().lower() not in {f"http://{h}" for h in allowed}:
            return "Origin is another site"
        return None

    def do_GET(self) -> None:
        if foreign := self._foreign():
            self._send(HTTPStatus.FORBIDDEN, "application/json", json.dumps({"error": foreign}))
            return
        wallboard = self.server.wallboard
        try:
            url = _target(self.path)
            query = _query(url.query)
            if url.path == "/":
                self._send(HTTPStatus.OK, "text/html; charset=utf-8", wallboard.page())
            elif url.path == "/api/wallboard":
                body = json.dumps(wallboard.snapshot(), ensure_ascii=False, default=str)
                self._send(HTTPStatus.OK, "application/json", body)
            elif url.path == "/report":
                asked = query.get("day")
                day = parse_day(asked[0] if asked else None, "day") or wallboard.report.today()
                hotlines = _bounded_ids(query.get("hotline", []), "hotline", MAX_HOTLINES)
                agents = _bounded_ids(query.get("agent", []), "agent", MAX_AGENTS)
                page = wallboard.day_report_or_progress(day, hotlines, agents)
                self._send(HTTPStatus.OK, "text/html; charset=utf-8", page.html)
            elif url.path == "/range":
                self._send(HTTPStatus.OK, "text/html; charset=utf-8", wallboard.range_page(query))
            elif url.path == "/calls":
                asked = query.get("day")
                day = parse_day(asked[0] if asked else None, "day") or wallboard.report.today()
                given = (query.get("hotline") or [""])[0].strip().lower()
                hotline = "none" if given == "none" else _bounded_ids([given], "hotline", 1)[0]
                self._send(HTTPStatus.OK, "text/html; charset=utf-8", wallboard.calls_page(hotline, day))
            elif url.path == "/call":
                task = (query.get("task") or [""])[0].strip()
                if not (task and len(task) <= 100 and task.isascii() and task.isprintable()):
                    raise BadRequest("task: a call's task id")
                self._send(HTTPStatus.OK, "text/html; charset=utf-8", wallboard.call_page(task))
            elif url.path == "/healthz":
                self._send(HTTPStatus.OK, "text/plain", "ok\n")
            else:
                self._send(HTTPStatus.NOT_FOUND, "text/plain", "not found\n")
        except (ReportError, BadRequest) as exc:  # a bad ?day=, parameters out of bounds
            self._send(HTTPStatus.BAD_REQUEST, "application/json", json.dumps({"error": str(exc)}))
        except ReportsBusy as exc:
            self._send(
                HTTPStatus.SERVICE_UNAVAILABLE,
                "application/json",
                json.dumps({"error": str(exc)}),
                headers={"Retry-After": "2"},
            )
        except STORE_ERRORS as exc:  # throttled, unreachable: the store, not a bug (503)
            message = describe_aws_error(exc, wallboard.report)
            self._send(HTTPStatus.SERVICE_UNAVAILABLE, "application/json", json.dumps({"error": message}))
        except (ConnectionError, TimeoutError):
            raise  # the browser went away while being answered: nobody to answer (handle_error)
        except Exception:  # a bug: answer (the page keeps its last figures), and say what happened
            traceback.print_exc()
            self._send(
                HTTPStatus.INTERNAL_SERVER_ERROR, "application/json", json.dumps({"error": "internal error"})
            )

    def do_HEAD(self) -> None:
        """GET's answer without its body (``_send`` leaves it out): HTTP/1.1 servers must take
        HEAD, and link checkers and monitors use it."""
        self.do_GET()

    def _send(
        self, status: HTTPStatus, content_type: str, body: str, headers: Mapping[str, str] | None = None
    ) -> None:
        data = body.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if self.close_connection and "Connection" not in (headers or {}):
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: a wallboard polls every few seconds."""
