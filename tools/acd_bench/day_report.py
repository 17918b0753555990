"""4 (cont.): ``acd-report html`` of the README's default day on the local stack, against the
report's own reads (:func:`acd_cli.html_report.gather`: the same queries, no drawing) in the
same run, and ``serve``'s ``/report`` until its page is there. Issue 18: at most 10 s."""

from __future__ import annotations

import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from acd_bench.dynamo import DynamoCounter
from acd_bench.harness import median, ratio, run_child
from acd_cli import html_report, wallboard
from acd_cli.report_context import ReportContext

TARGET_S = 10.0


def _acd_report_html(endpoint: str, day: str, out: Path) -> float:
    """``acd-report html`` in a process of its own, as a user runs it (imports and all)."""
    started = time.perf_counter()
    run_child(
        [
            str(Path(sys.executable).parent / "acd-report"),
            "--endpoint-url",
            endpoint,
            "html",
            "--day",
            day,
            "--out",
            str(out),
        ],
        "acd-report html",
        600,
    )
    return time.perf_counter() - started


def _reads(endpoint: str, day: str, counted: dict[str, Any] | None = None) -> float:
    """The report's reads alone: what ``html`` reads, in this (warm) process, nothing drawn.
    ``counted`` receives its DynamoDB requests by operation and the items they read."""
    report = ReportContext(endpoint_url=endpoint)
    counter = DynamoCounter(report.dynamodb)
    started = time.perf_counter()
    html_report.gather(report.reports, report.queries, day, report.zone, now=report.now())
    took = time.perf_counter() - started
    if counted is not None:
        counted.update(
            requests=counter.requests, by_operation=dict(counter.calls), items_read=counter.items_read
        )
    return took


def _serve_report(endpoint: str, day: str) -> float:
    """``serve``'s ``/report?day=`` on a fresh server (nothing cached), asked again as its
    loading page says, until the report is there."""
    server = wallboard.WallboardServer(
        ("127.0.0.1", 0), wallboard.Wallboard(ReportContext(endpoint_url=endpoint))
    )
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}/report?day={day}"
    try:
        started = time.perf_counter()
        while time.perf_counter() - started < 600:
            with urllib.request.urlopen(url, timeout=60) as answer:
                if b"data-loading=" not in answer.read():
                    return time.perf_counter() - started
            time.sleep(0.25)
        raise TimeoutError("serve's /report never finished")
    finally:
        server.shutdown()
        server.server_close()


def bench_day_report(endpoint: str, day: str, rounds: int = 3) -> dict[str, Any]:
    """Each round: ``acd-report html`` in its own process and the reads alone, interleaved;
    then ``/report`` once. Medians."""
    html_s: list[float] = []
    reads_s: list[float] = []
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "day.html"
        counted: dict[str, Any] = {}
        _reads(endpoint, day, counted)  # this process's imports and clients out of the figure
        for i in range(rounds):
            if i % 2 == 0:
                html_s.append(_acd_report_html(endpoint, day, out))
                reads_s.append(_reads(endpoint, day))
            else:
                reads_s.append(_reads(endpoint, day))
                html_s.append(_acd_report_html(endpoint, day, out))
        size = out.stat().st_size
    serve_s = _serve_report(endpoint, day)
    html, reads = median(html_s), median(reads_s)
    return {
        "day": day,
        "html_seconds": html,
        "reads_seconds": reads,
        "ratio": ratio(html, reads),
        "html_seconds_samples": html_s,
        "reads_seconds_samples": reads_s,
        "serve_report_seconds": serve_s,
        "html_bytes": size,
        "reads": counted,
        "target_seconds_max": TARGET_S,
    }
