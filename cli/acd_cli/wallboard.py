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
"""

from __future__ import annotations

import json
import threading
import time
import traceback
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from botocore.exceptions import BotoCoreError, ClientError

from acd_cli import html_report, labels
from acd_cli.output import parse_utc

if TYPE_CHECKING:
    from acd_cli.report_cli import ReportContext
    from acd_hub.call_stats import CallSummary

# A call still waiting after this long has most likely lost its CallEnd: not a current wait.
MAX_CURRENT_WAIT = timedelta(hours=2)
# How long one read of the tables serves every browser asking.
SNAPSHOT_TTL_S = 1.0
# A day's hotlines are looked up from its call events (see html_report.day_hotlines): not on
# every refresh.
HOTLINES_TTL_S = 60.0


def longest_current_wait_s(calls: Sequence[CallSummary], now: datetime) -> float | None:
    """The longest wait of the inbound calls not yet answered nor ended; None when none waits."""
    waits = []
    for call in calls:
        if call.direction != "inbound" or call.answered or call.ended:
            continue
        started = parse_utc(str(call.started))
        if started is not None and timedelta(0) <= now - started <= MAX_CURRENT_WAIT:
            waits.append((now - started).total_seconds())
    return max(waits) if waits else None


class Wallboard:
    """Reads what the wallboard shows; cached for a second, shared by all requests."""

    def __init__(
        self,
        report: ReportContext,
        *,
        hotlines: Sequence[str] = (),
        refresh_s: float = 3.0,
        sl_target_pct: float = html_report.DEFAULT_SL_TARGET_PCT,
    ) -> None:
        self.report = report
        self.hotlines = list(hotlines)
        self.refresh_s = refresh_s
        self.sl_target_pct = sl_target_pct
        self._lock = threading.Lock()
        self._snapshot: tuple[float, dict[str, Any]] | None = None
        self._found_hotlines: tuple[float, str, list[str]] | None = None

    def _day_hotlines(self, day: str) -> list[str]:
        if self.hotlines:
            return self.hotlines
        cached = self._found_hotlines
        if cached is None or cached[1] != day or time.monotonic() - cached[0] > HOTLINES_TTL_S:
            cached = (time.monotonic(), day, html_report.day_hotlines(self.report.queries, day))
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
        agents = [
            {
                "agent": entry.agent,
                "state": entry.state,
                "label": labels.state_text(entry.state, entry.pause_reason),
                "colour": labels.state_colour(entry.state),
                "since": entry.since,
                "since_ms": entry.since_ms,
                "pause_reason": entry.pause_reason,
                "hotline": entry.hotline_name or entry.hotline,
            }
            for entry in reports.board()
        ]
        hotlines = []
        for hotline in self._day_hotlines(today):
            found = reports.kpis(hotline, today)
            figures = found.day.as_dict() if found else {}
            wait = longest_current_wait_s(reports.calls(hotline, today), now)
            shown = {
                name: {"value": figures.get(name), "text": labels.kpi_text(name, figures.get(name))}
                for name in ("offered", "answered", "abandoned", "service_level_pct")
            }
            shown["longest_wait_s"] = {
                "value": None if wait is None else round(wait),
                "text": "none" if wait is None else labels.kpi_text("max_wait_s", wait),
            }
            level = figures.get("service_level_pct")
            hotlines.append(
                {
                    "hotline": hotline,
                    "figures": shown,
                    "sl_status": ""
                    if level is None
                    else ("met" if level >= self.sl_target_pct else "missed"),
                }
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
            "hotlines": hotlines,
        }

    def page(self) -> str:
        import jinja2  # noqa: PLC0415

        env = jinja2.Environment(
            loader=jinja2.PackageLoader("acd_cli", "templates"),
            autoescape=jinja2.select_autoescape(default=True),
            undefined=jinja2.StrictUndefined,
        )
        return env.get_template("wallboard.html.j2").render(
            refresh_ms=int(self.refresh_s * 1000), zone=self.report.zone.key, target=self.sl_target_pct
        )

    def day_report(self, day: str, hotlines: Sequence[str], agents: Sequence[str]) -> str:
        found = html_report.gather(
            self.report.reports,
            self.report.queries,
            day,
            self.report.zone,
            hotlines=hotlines,
            agents=agents,
            now=self.report.now(),
            sl_target_pct=self.sl_target_pct,
        )
        return html_report.render(found)


class WallboardServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], wallboard: Wallboard) -> None:
        self.wallboard = wallboard
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: WallboardServer
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        from acd_cli.report_cli import ReportError, describe_aws_error, parse_day  # noqa: PLC0415 - a cycle otherwise

        url = urlsplit(self.path)
        query = parse_qs(url.query)
        wallboard = self.server.wallboard
        try:
            if url.path == "/":
                self._send(HTTPStatus.OK, "text/html; charset=utf-8", wallboard.page())
            elif url.path == "/api/wallboard":
                body = json.dumps(wallboard.snapshot(), ensure_ascii=False, default=str)
                self._send(HTTPStatus.OK, "application/json", body)
            elif url.path == "/report":
                asked = query.get("day")
                day = parse_day(asked[0] if asked else None) or wallboard.report.today()
                page = wallboard.day_report(day, query.get("hotline", []), query.get("agent", []))
                self._send(HTTPStatus.OK, "text/html; charset=utf-8", page)
            elif url.path == "/healthz":
                self._send(HTTPStatus.OK, "text/plain", "ok\n")
            else:
                self._send(HTTPStatus.NOT_FOUND, "text/plain", "not found\n")
        except ReportError as exc:  # a bad ?day=
            self._send(HTTPStatus.BAD_REQUEST, "application/json", json.dumps({"error": exc.message}))
        except (ClientError, BotoCoreError) as exc:
            message = describe_aws_error(exc, wallboard.report)
            self._send(HTTPStatus.SERVICE_UNAVAILABLE, "application/json", json.dumps({"error": message}))
        except Exception:  # a bug: answer (the page keeps its last figures), and say what happened
            traceback.print_exc()
            self._send(
                HTTPStatus.INTERNAL_SERVER_ERROR, "application/json", json.dumps({"error": "internal error"})
            )

    def _send(self, status: HTTPStatus, content_type: str, body: str) -> None:
        data = body.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: a wallboard polls every few seconds."""
