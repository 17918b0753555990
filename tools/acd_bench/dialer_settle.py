"""9. A dialer agent's day on acd-local: 3,600 state changes of one agent, sent shuffled (the
ACD's retries and parallel connections reorder them), and how long after the last callback the
reports settle. AgentStats applies an agent's events one after another (an agent's chain has
one writer), one transaction per agent and batch, so this is the slowest day there is for one
agent (issue 15: ~290 s before the cuts, 190 s with one transaction per state; target: within
60 s). A figure, never a timed assertion: the machine's load moves it.
"""

from __future__ import annotations

import http.client
import json
import random
import tempfile
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3

from acd_bench.harness import quiet_stdout
from acd_cli.reporting import ReportQueries
from acd_devkit.lambda_events import REGION, TOKEN, patched_env, urlencoded
from acd_local.hub import LocalHub

DIALER_CHANGES = 3_600
SETTLE_TARGET_S = 60.0
AGENT = "100777"
BEGIN = datetime(2026, 11, 20, 7, 0, tzinfo=UTC)
# loopback ports of this project's servers (18900-18999)
HUB_PORT, AWS_PORT = 18931, 18932
RESENDS = 20


def dialer_day(changes: int, seed: int) -> list[dict[str, str]]:
    """A dialer agent every 10 s: ringing out, talking, wrapping up, ready again, now and then a
    pause."""
    cycle = ("online", "outconnect", "outworking")
    sent = []
    for number in range(changes):
        state = "paused" if number % 97 == 96 else cycle[number % 3]
        params = {
            "cmd": "agentstate",
            "agentid": AGENT,
            "mode": "1",
            "state": state,
            "eventtime": str(int((BEGIN + timedelta(seconds=10 * number)).timestamp() * 1000)),
        }
        if state in ("outconnect", "outworking"):
            params["taskid"] = f"d1a1{number // 3:06x}"
        if state == "paused":
            params["pause-reason"] = "Kaffee"
        sent.append(params)
    random.Random(seed).shuffle(sent)  # noqa: S311 - an order, not a secret
    return sent


def stored_times(client: Any, day: str) -> list[int]:
    """The event times the events table holds for the agent's day (its partition, every page)."""
    times: list[int] = []
    request: dict[str, Any] = {
        "TableName": "EventsTable",
        "KeyConditionExpression": "pk = :pk",
        "ExpressionAttributeValues": {":pk": {"S": f"AGENT#{AGENT}#{day}"}},
        "ProjectionExpression": "event_time_ms",
        "ConsistentRead": True,
    }
    while True:
        page = client.query(**request)
        times.extend(int(item["event_time_ms"]["N"]) for item in page["Items"])
        if "LastEvaluatedKey" not in page:
            return times
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def send_as_the_acd(host: str, port: int, paths: list[str], concurrency: int) -> dict[str, int]:
    """GET every path over ``concurrency`` keep-alive connections, resending an answer other than
    2xx (a 503 of a busy store, a 429) after a short pause, as the ACD does; the answers seen."""
    pending = iter(paths)
    lock = threading.Lock()
    seen: Counter[str] = Counter()

    def worker() -> None:
        connection = http.client.HTTPConnection(host, port, timeout=60)
        while True:
            with lock:
                path = next(pending, None)
            if path is None:
                break
            for attempt in range(RESENDS):
                try:
                    connection.request("GET", path)
                    response = connection.getresponse()
                    response.read()
                    status = str(response.status)
                except (OSError, http.client.HTTPException):
                    connection.close()
                    connection = http.client.HTTPConnection(host, port, timeout=60)
                    status = "no answer"
                with lock:
                    seen[status] += 1
                if status.startswith("2"):
                    break
                time.sleep(0.2 * (attempt + 1))
        connection.close()

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return dict(seen)


def bench_dialer_settle(
    changes: int = DIALER_CHANGES, concurrency: int = 4, max_settle_s: float = 1200.0, seed: int = 15
) -> dict[str, Any]:
    sent = dialer_day(changes, seed)
    paths = [f"/callback/{TOKEN}?" + urlencoded(list(params.items())) for params in sent]
    with (
        quiet_stdout(),
        patched_env({}, unset=("ACD_CALLBACK_TOKENS",)),
        tempfile.TemporaryDirectory() as data_dir,
    ):
        stack = LocalHub(port=HUB_PORT, aws_port=AWS_PORT, tokens=[TOKEN], data_dir=data_dir)
        stack.start()
        try:
            started = time.perf_counter()
            answers = send_as_the_acd(stack.host, stack.port, paths, concurrency)
            last_callback = time.perf_counter()
            try:
                stack.wait_for_stream_idle(timeout=max_settle_s)
                settle_s: float | None = time.perf_counter() - last_callback
            except TimeoutError:
                settle_s = None
            client = boto3.client("dynamodb", endpoint_url=stack.aws_endpoint, region_name=REGION)
            report = ReportQueries(client, "ReportsTable", 8).agent_day(AGENT, BEGIN.date().isoformat())
            stored = stored_times(client, BEGIN.date().isoformat())
            errors = [e.error for e in stack.errors]
        finally:
            stack.stop()
    # every change applied once, every state but the day's last closed: 3,599 intervals of 10 s
    exact = (
        report is not None
        and len(report.timeline or []) == changes
        and sum(report.state_seconds.values()) == 10 * (changes - 1)
    )
    # Told apart: a callback answered 2xx whose event the events table does not hold (lost
    # before any aggregation) from reports that differ from the events stored.
    of_stored = (
        report is not None
        and len(report.timeline or []) == len(stored)
        and sum(report.state_seconds.values()) * 1000 == (max(stored) - min(stored) if stored else 0)
    )
    return {
        "changes": changes,
        "send_seconds": last_callback - started,
        "answers": answers,
        "settle_seconds": settle_s,
        "reports_exact": exact,
        "events_stored": len(stored),
        "reports_exact_to_stored_events": of_stored,
        "handler_errors": errors[:5],
        "target_settle_seconds_max": SETTLE_TARGET_S,
    }


if __name__ == "__main__":
    print(json.dumps(bench_dialer_settle(), indent=2, default=str))
