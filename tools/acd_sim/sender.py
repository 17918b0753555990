"""Sending planned callbacks over HTTP: worker threads with keep-alive ``http.client``
connections, an optional rate limit (token bucket) and time limit, every answer checked (2xx
expected) and timed. ``acd-sim`` sends a day with it, ``make load`` (:mod:`acd_bench.load`) as
many days as it can in its seconds."""

from __future__ import annotations

import http.client
import json
import threading
import time as time_module
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from urllib.parse import quote, urlencode, urlsplit

from acd_sim.model import SimEvent
from acd_sim.plan import Request


@dataclass(frozen=True)
class Answer:
    request: Request
    status: int | None  # None: no HTTP answer (connection error)
    body: str = ""
    error: str | None = None
    seconds: float = 0.0  # from sending to the whole answer read (of the attempt answered)

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


@dataclass
class SendReport:
    requests: int = 0  # sent (a time limit can leave some of the plan unsent)
    ok: int = 0
    failures: list[Answer] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    elapsed_s: float = 0.0
    aborted: bool = False


class TokenBucket:
    """At most ``rate`` acquisitions per second on average, bursts up to ``capacity``; shared by
    the sender threads. ``rate`` 0: no limit."""

    def __init__(
        self,
        rate: float,
        capacity: float | None = None,
        clock: Callable[[], float] = time_module.monotonic,
        sleep: Callable[[float], None] = time_module.sleep,
    ) -> None:
        self.rate = rate
        self.capacity = capacity if capacity is not None else max(1.0, rate / 10)
        self.tokens = self.capacity
        self.clock = clock
        self.sleep = sleep
        self.updated = clock()
        self.lock = threading.Lock()

    def acquire(self) -> None:
        if self.rate <= 0:
            return
        while True:
            with self.lock:
                now = self.clock()
                self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
                self.updated = now
                if self.tokens >= 1 - 1e-9:  # float sums of the refills land just below 1
                    self.tokens = max(0.0, self.tokens - 1)
                    return
                wait = (1 - self.tokens) / self.rate
            self.sleep(wait)


def callback_path(url: str, token: str | None) -> tuple[str, str, int, str]:
    """(scheme, host, port, path) of the callback URL with ``/<token>`` appended."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {url!r}")
    path = parts.path.rstrip("/") or ""
    if token:
        path = f"{path}/{quote(token, safe='')}"
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return parts.scheme, parts.hostname, port, path or "/"


def encode(params: dict[str, str]) -> str:
    return urlencode(list(params.items()), quote_via=quote, encoding="utf-8")


TRANSPORT_ERRORS = (http.client.HTTPException, ConnectionError, TimeoutError, OSError)
MAX_TRANSPORT_FAILURES = 20


class _Sender:
    """Worker threads sharing one request cursor; each keeps its own keep-alive connection."""

    def __init__(
        self,
        events: Sequence[SimEvent],
        url: str,
        token: str | None,
        *,
        plan: Iterable[Request],
        rate: float,
        timeout: float,
        on_answer: Callable[[Answer], None] | None,
        deadline: float | None = None,
    ) -> None:
        self.scheme, self.host, self.port, self.path = callback_path(url, token)
        self.events = events
        self.timeout = timeout
        self.on_answer = on_answer
        self.report = SendReport()
        self.bucket = TokenBucket(rate)
        self.lock = threading.Lock()
        # read under the lock: a generator may extend ``events`` before it yields their requests
        self.cursor = iter(plan)
        self.deadline = deadline  # time.monotonic(); None: until the plan is sent
        self.stop = threading.Event()
        self.transport_failures = 0

    def connect(self) -> http.client.HTTPConnection:
        if self.scheme == "https":
            return http.client.HTTPSConnection(self.host, self.port, timeout=self.timeout)
        return http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)

    def deliver(self, conn: http.client.HTTPConnection, request: Request) -> Answer:
        params = self.events[request.index].params
        headers = {"User-Agent": "acd-sim/1", "Connection": "keep-alive"}
        if request.method == "PUT" and request.json_body:
            target, body = self.path, json.dumps(params).encode("utf-8")
            headers["Content-Type"] = "application/json"
        elif request.method == "PUT" and not request.in_query:
            target, body = self.path, encode(params).encode("ascii")
            headers["Content-Type"] = "application/x-www-form-urlencoded; charset=utf-8"
        else:
            target, body = f"{self.path}?{encode(params)}", b""
        if request.method == "PUT":
            headers["Content-Length"] = str(len(body))
        started = time_module.perf_counter()
        conn.request(request.method, target, body=body or None, headers=headers)
        response = conn.getresponse()
        text = response.read().decode("utf-8", "replace")
        return Answer(request, response.status, text[:500], seconds=time_module.perf_counter() - started)

    def attempt(
        self, conn: http.client.HTTPConnection, request: Request
    ) -> tuple[Answer, http.client.HTTPConnection]:
        """Up to three tries: a keep-alive connection the server dropped is retried on a new one
        (a repeat is harmless: the hub stores each event once)."""
        answer = Answer(request, None, error="not sent")
        for attempt in range(3):
            try:
                return self.deliver(conn, request), conn
            except TRANSPORT_ERRORS as exc:
                conn.close()
                conn = self.connect()
                answer = Answer(request, None, error=f"{type(exc).__name__}: {exc}")
                time_module.sleep(0.05 * attempt)
        return answer, conn

    def record(self, answer: Answer) -> None:
        report = self.report
        with self.lock:
            report.requests += 1
            if answer.ok:
                report.ok += 1
                report.statuses[str(answer.status)] += 1
                return
            report.failures.append(answer)
            report.statuses[str(answer.status) if answer.status else "no answer"] += 1
            if answer.status is None:
                self.transport_failures += 1
                if self.transport_failures >= MAX_TRANSPORT_FAILURES:
                    report.aborted = True
                    self.stop.set()

    def work(self) -> None:
        conn = self.connect()
        try:
            while not self.stop.is_set():
                if self.deadline is not None and time_module.monotonic() >= self.deadline:
                    return
                with self.lock:
                    request = next(self.cursor, None)
                if request is None:
                    return
                self.bucket.acquire()
                answer, conn = self.attempt(conn, request)
                self.record(answer)
                if self.on_answer:
                    self.on_answer(answer)
        finally:
            conn.close()


def send(
    events: Sequence[SimEvent],
    url: str,
    token: str | None,
    *,
    plan: Iterable[Request] | None = None,
    concurrency: int = 4,
    rate: float = 0.0,
    seconds: float | None = None,
    timeout: float = 30.0,
    on_answer: Callable[[Answer], None] | None = None,
) -> SendReport:
    """Send each planned request (default: every event once, by GET, in order) from
    ``concurrency`` threads, at most ``rate`` per second (0: as fast as answered) and for at most
    ``seconds`` (None: until the plan is sent; a request under way is finished); every answer is
    checked (2xx expected) and reported. Stops early after :data:`MAX_TRANSPORT_FAILURES`
    requests got no HTTP answer at all. ``plan`` may be a generator that extends ``events``."""
    plan = plan if plan is not None else [Request(i, "GET") for i in range(len(events))]
    started = time_module.monotonic()
    deadline = started + seconds if seconds is not None else None
    sender = _Sender(
        events, url, token, plan=plan, rate=rate, timeout=timeout, on_answer=on_answer, deadline=deadline
    )
    threads = [
        threading.Thread(target=sender.work, name=f"acd-sim-{k}", daemon=True)
        for k in range(max(1, concurrency))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    sender.report.elapsed_s = time_module.monotonic() - started
    return sender.report
