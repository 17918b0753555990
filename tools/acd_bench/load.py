"""``python -m acd_bench.load``: the callback endpoint at its top rate, then proof that every
unique event was stored exactly once.

* Starts the local stack in this process on free ports (or targets ``--url``).
* ``--clients`` threads, each with one keep-alive HTTP/1.1 connection to 127.0.0.1, send unique,
  realistic events — agents changing state (``agentstate``) and calls running through their
  events (``callevent``) — by GET (query string) and PUT (form or JSON body), plus a share of
  deliberate duplicates (an event sent before, again, by any method). No pacing: each client
  sends its next request as soon as the last is answered.
* Bounded twice: by ``--seconds`` and by ``--max-requests``; every request has a timeout.
* Reports requests/s, latency percentiles, the count of each status, the 5xx count, and — by
  DynamoDB ``Query`` over every partition the events were written to (never a ``Scan``) —
  whether each unique event is stored exactly once: none lost, none doubled, nothing unexpected
  in those partitions (duplicates must not add items).

Exit status 1 if any answer was a 5xx, any request got no answer, or any unique event was lost
or doubled. ``make load`` runs it for 60 s with 8 clients.
"""

from __future__ import annotations

import dataclasses
import http.client
import itertools
import json
import random
import secrets
import statistics
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

import click

from acd_hub.items import event_item
from acd_hub.models import ParseContext, parse_callback
from acd_hub.settings import HubSettings

LOOPBACK = ("127.0.0.1", "localhost", "::1")
ZONE = "Europe/Berlin"
# agent state cycle of an inbound agent: (state, whether it belongs to a call)
AGENT_CYCLE = (
    ("online", False),
    ("alerting", True),
    ("connected", True),
    ("working", True),
    ("online", False),
    ("paused", False),
)
PAUSE_REASONS = ("Mittag", "Kaffee", "Schulung")
# one inbound call's events, in order
CALL_FLOW = ("CallStart", "WaitingQueue", "Alerting", "Connected", "Holdstart", "Holdstop", "CallEnd")
HOTLINES = (("501", "Support"), ("502", "Sales"), ("503", "Billing"))


@dataclass(frozen=True)
class LoadConfig:
    seconds: float = 60.0
    clients: int = 8
    max_requests: int = 500_000
    duplicates: float = 0.1  # share of requests that resend an event sent before
    put_share: float = 0.4  # share of requests sent by PUT (the rest by GET)
    json_share: float = 0.25  # share of PUT bodies sent as JSON (the rest form-urlencoded)
    timeout: float = 30.0
    seed: int = 0  # 0: a fresh run id (new agents, calls and ids every run)


@dataclass(frozen=True)
class Planned:
    """One unique event: its parameters and where it must end up."""

    cmd: str
    params: dict[str, str]
    pk: str
    event_key: str


# --------------------------------------------------------------------------- events


class EventSource:
    """One client's unique events: its own agents cycling through their states and its own
    calls running through their flow, interleaved; ids and agents unique to the run."""

    def __init__(self, run: int, client: int, rng: random.Random, settings: HubSettings) -> None:
        self._run, self._client, self._rng = run, client, rng
        self._settings = settings
        self._context = ParseContext(settings.acd_zone, settings.default_phone_region)
        self._ids = itertools.count(1)
        # 10 agents per client: agent numbers unique per run and client (6 digits)
        base = 100_000 + (run % 800) * 1_000 + client * 10
        self._agents: list[dict[str, Any]] = [
            {"agentid": str(base + k), "step": k % len(AGENT_CYCLE)} for k in range(10)
        ]
        self._calls: list[dict[str, Any]] = []
        self._clock_ms = int(time.time() * 1000) - 3_600_000  # events of the last hour, advancing

    def _tick(self) -> int:
        self._clock_ms += self._rng.randint(1, 40)
        return self._clock_ms

    def _task_id(self) -> str:
        return f"{self._run:08x}{self._client:04x}{next(self._ids):012x}"

    def _phone(self) -> str:
        number = f"221{self._rng.randint(1_000_000, 9_999_999)}"
        return self._rng.choice((f"0{number}", f"0049{number}", f"+49{number}"))

    def next(self) -> Planned:
        if self._rng.random() < 0.5:
            return self._plan("agentstate", self._agent_state())
        return self._plan("callevent", self._call_event())

    def _agent_state(self) -> dict[str, str]:
        agent = self._rng.choice(self._agents)
        state, in_call = AGENT_CYCLE[agent["step"] % len(AGENT_CYCLE)]
        agent["step"] += 1
        params: dict[str, str] = {
            "cmd": "agentstate",
            "agentid": agent["agentid"],
            "mode": "0",
            "state": state,
            "eventtime": str(self._tick()),
            "customerNumber": "10042",
        }
        if in_call:
            hotline_id, hotline = self._rng.choice(HOTLINES)
            params |= {
                "hotline": hotline,
                "hotlineid": hotline_id,
                "callingnumber": self._phone(),
                "callednumber": "08001234567",
                "taskid": self._task_id(),
            }
        if state == "paused":
            params["pause-reason"] = self._rng.choice(PAUSE_REASONS)
        return params

    def _call_event(self) -> dict[str, str]:
        if len(self._calls) < 5:
            hotline_id, _ = self._rng.choice(HOTLINES)
            self._calls.append(
                {
                    "taskid": self._task_id(),
                    "hotlineid": hotline_id,
                    "caller": self._phone(),
                    "agent": self._rng.choice(self._agents)["agentid"],
                    "step": 0,
                }
            )
        call = self._rng.choice(self._calls)
        event_type = CALL_FLOW[call["step"]]
        call["step"] += 1
        if call["step"] == len(CALL_FLOW):
            self._calls.remove(call)
        moment = datetime.fromtimestamp(self._tick() / 1000, UTC).astimezone(self._settings.acd_zone)
        params = {
            "cmd": "callevent",
            # unique per run, client and event (at most 20 digits)
            "id": f"{self._run % 10**8:08d}{self._client:03d}{next(self._ids):09d}",
            "taskid": call["taskid"],
            "eventtype": event_type,
            # the ACD's local wall-clock format, with milliseconds so every event is its own
            "eventtime": moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{moment.microsecond // 1000:03d}",
            "hotlineid": call["hotlineid"],
            "mode": "0",
            "callingnumber": call["caller"],
            "callednumber": "08001234567",
        }
        if event_type in ("Alerting", "Connected", "Holdstart", "Holdstop"):
            params["agentid"] = call["agent"]
        if event_type == "CallEnd":
            params |= {"tried": "1", "connected": "1"}
        return params

    def _plan(self, cmd: str, params: dict[str, str]) -> Planned:
        """Where the event must be stored: the same key and partition the ingest computes."""
        lowered = {name.lower(): value for name, value in params.items()}
        item = event_item(parse_callback(lowered, self._context), lowered, self._settings, datetime.now(UTC))
        return Planned(cmd, params, item["pk"], item["event_key"])


# --------------------------------------------------------------------------- sending


@dataclass
class ClientStats:
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    transport_errors: Counter[str] = field(default_factory=Counter)
    sent: list[Planned] = field(default_factory=list)
    duplicates_sent: int = 0
    duplicate_answers: Counter[str] = field(default_factory=Counter)  # "duplicate" / "stored" / ...
    key_mismatches: int = 0  # the answer's event_key is not the one computed here
    by_method: Counter[str] = field(default_factory=Counter)


class _Connection:
    """One keep-alive connection; reopened after a transport error or a server-side close."""

    def __init__(self, host: str, port: int, timeout: float) -> None:
        self._host, self._port, self._timeout = host, port, timeout
        self._conn: http.client.HTTPConnection | None = None

    def request(
        self, method: str, target: str, body: bytes | None, headers: dict[str, str]
    ) -> tuple[int, bytes]:
        if self._conn is None:
            self._conn = http.client.HTTPConnection(self._host, self._port, timeout=self._timeout)
        try:
            self._conn.request(method, target, body=body, headers=headers)
            response = self._conn.getresponse()
            data = response.read()
            if response.will_close:
                self.close()
            return response.status, data
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def _request_for(
    planned: Planned, path: str, rng: random.Random, config: LoadConfig
) -> tuple[str, str, bytes | None, dict[str, str]]:
    if rng.random() >= config.put_share:
        return "GET", f"{path}?{urlencode(planned.params)}", None, {}
    if rng.random() < config.json_share:
        return "PUT", path, json.dumps(planned.params).encode(), {"Content-Type": "application/json"}
    body = urlencode(planned.params).encode()
    return "PUT", path, body, {"Content-Type": "application/x-www-form-urlencoded"}


@dataclass(frozen=True)
class _Run:
    """What every client of one run shares."""

    url: str
    config: LoadConfig
    run_id: int
    settings: HubSettings
    deadline: float  # time.monotonic()
    budget: Iterator[int]  # next() is atomic under the GIL: the shared request count


def _client(index: int, run: _Run, stats: ClientStats) -> None:
    config = run.config
    rng = random.Random(f"{run.run_id}-{index}")  # noqa: S311 - reproducible traffic, not secret
    source = EventSource(run.run_id, index, rng, run.settings)
    parts = urlsplit(run.url)
    connection = _Connection(parts.hostname or "127.0.0.1", parts.port or 80, config.timeout)
    try:
        while time.monotonic() < run.deadline and next(run.budget) < config.max_requests:
            duplicate = bool(stats.sent) and rng.random() < config.duplicates
            planned = rng.choice(stats.sent[-500:]) if duplicate else source.next()
            method, target, body, headers = _request_for(planned, parts.path, rng, config)
            started = time.perf_counter()
            try:
                status, data = connection.request(method, target, body, headers)
            except (OSError, http.client.HTTPException) as exc:
                stats.transport_errors[type(exc).__name__] += 1
                if not duplicate:
                    stats.sent.append(planned)  # sent, maybe stored: verification tells
                continue
            stats.latencies.append(time.perf_counter() - started)
            stats.statuses[status] += 1
            stats.by_method[method] += 1
            if duplicate:
                stats.duplicates_sent += 1
            else:
                stats.sent.append(planned)
            if status == 200:
                answer = json.loads(data)
                if answer.get("event_key") != planned.event_key:
                    stats.key_mismatches += 1
                if duplicate:
                    stats.duplicate_answers[str(answer.get("status"))] += 1
    finally:
        connection.close()


# --------------------------------------------------------------------------- verifying


@dataclass
class Verification:
    partitions: int = 0
    expected: int = 0
    lost: int = 0
    doubled: int = 0  # unique events stored more than once
    unexpected: int = 0  # items in those partitions that are none of the events sent
    examples: list[str] = field(default_factory=list)


def stored_keys(dynamodb: Any, table: str, pk: str) -> list[str]:
    """The event keys of one partition, by Query (strongly consistent, every page)."""
    pages = dynamodb.get_paginator("query").paginate(
        TableName=table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": pk}},
        ProjectionExpression="event_key",
        ConsistentRead=True,
    )
    return [item.get("event_key", {}).get("S", "") for page in pages for item in page.get("Items", [])]


def verify(dynamodb: Any, table: str, unique: list[Planned], workers: int = 4) -> Verification:
    expected: dict[str, set[str]] = {}
    for planned in unique:
        expected.setdefault(planned.pk, set()).add(planned.event_key)
    result = Verification(partitions=len(expected), expected=sum(len(v) for v in expected.values()))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        found = dict(
            zip(expected, pool.map(lambda pk: stored_keys(dynamodb, table, pk), expected), strict=True)
        )
    for pk, keys in expected.items():
        counts = Counter(found[pk])
        for key in keys:
            if counts[key] == 0:
                result.lost += 1
                if len(result.examples) < 5:
                    result.examples.append(f"lost {key} in {pk}")
            elif counts[key] > 1:
                result.doubled += 1
                if len(result.examples) < 5:
                    result.examples.append(f"{key} stored {counts[key]} times in {pk}")
        result.unexpected += sum(n for key, n in counts.items() if key not in keys)
    return result


# --------------------------------------------------------------------------- the run


@dataclass
class LoadReport:
    target: str
    config: LoadConfig
    elapsed_s: float
    requests: int
    statuses: dict[int, int]
    by_method: dict[str, int]
    transport_errors: dict[str, int]
    latency_ms: dict[str, float]
    unique_events: dict[str, int]
    duplicates_sent: int
    duplicate_answers: dict[str, int]
    key_mismatches: int
    verification: Verification | None
    function_errors: list[str] | None = None  # known only for the in-process local stack

    @property
    def requests_per_second(self) -> float:
        return self.requests / self.elapsed_s if self.elapsed_s else 0.0

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)

    def problems(self) -> list[str]:
        found = []
        if self.server_errors:
            found.append(f"{self.server_errors} answers were 5xx")
        if self.transport_errors:
            found.append(f"{sum(self.transport_errors.values())} requests got no answer")
        if self.key_mismatches:
            found.append(f"{self.key_mismatches} answers named another event key than expected")
        check = self.verification
        if check is not None:
            if check.lost:
                found.append(f"{check.lost} unique events lost")
            if check.doubled:
                found.append(f"{check.doubled} unique events stored more than once")
            if check.unexpected:
                found.append(f"{check.unexpected} unexpected items in the partitions written")
        return found

    @property
    def ok(self) -> bool:
        return not self.problems()

    def as_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["config"] = dataclasses.asdict(self.config)
        data["requests_per_second"] = round(self.requests_per_second, 1)
        data["server_errors"] = self.server_errors
        data["ok"] = self.ok
        data["problems"] = self.problems()
        return data


def _percentiles(latencies: list[float]) -> dict[str, float]:
    if not latencies:
        return {}
    ms = sorted(x * 1000 for x in latencies)
    if len(ms) == 1:
        return {"p50": ms[0], "p95": ms[0], "p99": ms[0], "max": ms[0]}
    cuts = statistics.quantiles(ms, n=100, method="inclusive")
    return {"p50": cuts[49], "p95": cuts[94], "p99": cuts[98], "max": ms[-1]}


def run_load(
    url: str,
    config: LoadConfig,
    *,
    dynamodb: Any | None = None,
    events_table: str = "EventsTable",
    settings: HubSettings | None = None,
    progress: Callable[[str], None] | None = None,
) -> LoadReport:
    """Drive ``url`` (the callback URL with its token) and, given a DynamoDB client, verify."""
    _check_loopback(url)
    settings = settings or HubSettings()
    per_client = [ClientStats() for _ in range(config.clients)]
    started = time.monotonic()
    run = _Run(
        url=url,
        config=config,
        run_id=config.seed or secrets.randbelow(10**8),
        settings=settings,
        deadline=started + config.seconds,
        budget=itertools.count(),
    )
    threads = [
        threading.Thread(
            target=_client,
            args=(k, run, per_client[k]),
            name=f"acd-load-{k}",
            daemon=True,
        )
        for k in range(config.clients)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        # each request times out, so every client ends soon after the deadline
        thread.join(timeout=config.seconds + config.timeout + 30)
    elapsed = time.monotonic() - started

    merged = ClientStats()
    for stats in per_client:
        merged.latencies += stats.latencies
        merged.statuses.update(stats.statuses)
        merged.transport_errors.update(stats.transport_errors)
        merged.sent += stats.sent
        merged.duplicates_sent += stats.duplicates_sent
        merged.duplicate_answers.update(stats.duplicate_answers)
        merged.key_mismatches += stats.key_mismatches
        merged.by_method.update(stats.by_method)

    verification = None
    if dynamodb is not None:
        if progress:
            progress(f"verifying {len(merged.sent)} unique events by Query ...")
        verification = verify(dynamodb, events_table, merged.sent)
    return LoadReport(
        target=_masked(url),
        config=config,
        elapsed_s=elapsed,
        requests=sum(merged.statuses.values()) + sum(merged.transport_errors.values()),
        statuses=dict(sorted(merged.statuses.items())),
        by_method=dict(merged.by_method),
        transport_errors=dict(merged.transport_errors),
        latency_ms=_percentiles(merged.latencies),
        unique_events=dict(sorted(Counter(p.cmd for p in merged.sent).items())),
        duplicates_sent=merged.duplicates_sent,
        duplicate_answers=dict(merged.duplicate_answers),
        key_mismatches=merged.key_mismatches,
        verification=verification,
    )


def _check_loopback(url: str) -> None:
    host = urlsplit(url).hostname or ""
    if host not in LOOPBACK and not host.startswith("127."):
        raise ValueError(f"load is only ever sent to this machine (127.0.0.1), not to {host!r}")


def _masked(url: str) -> str:
    parts = urlsplit(url)
    segments = parts.path.rstrip("/").split("/")
    if len(segments) > 2 and segments[-2] == "callback":
        segments[-1] = "***"
    return f"{parts.scheme}://{parts.netloc}{'/'.join(segments)}"


def format_report(report: LoadReport) -> str:
    lat = report.latency_ms
    statuses = "  ".join(f"{status}: {n}" for status, n in report.statuses.items()) or "-"
    methods = "  ".join(f"{m}: {n}" for m, n in sorted(report.by_method.items()))
    unique = sum(report.unique_events.values())
    kinds = ", ".join(f"{cmd} {n}" for cmd, n in report.unique_events.items())
    answers = ", ".join(f"{k} {n}" for k, n in sorted(report.duplicate_answers.items())) or "-"
    lines = [
        f"target          {report.target}",
        f"clients         {report.config.clients} keep-alive connections, {report.config.seconds:g} s "
        f"(at most {report.config.max_requests} requests)",
        f"requests        {report.requests} in {report.elapsed_s:.1f} s = {report.requests_per_second:.1f} req/s"
        f"  ({methods})",
    ]
    if lat:
        lines.append(
            f"latency ms      p50 {lat['p50']:.1f}   p95 {lat['p95']:.1f}   p99 {lat['p99']:.1f}   max {lat['max']:.1f}"
        )
    lines += [
        f"status          {statuses}",
        f"5xx             {report.server_errors}",
        f"no answer       {sum(report.transport_errors.values())}"
        + (f"  ({report.transport_errors})" if report.transport_errors else ""),
        f"unique events   {unique} ({kinds})",
        f"duplicates      {report.duplicates_sent} sent, answered: {answers}",
    ]
    check = report.verification
    if check is None:
        lines.append("stored once     not verified (no --aws-endpoint)")
    else:
        lines.append(
            f"stored once     {check.expected - check.lost - check.doubled} of {check.expected}: "
            f"lost {check.lost}, doubled {check.doubled}, unexpected {check.unexpected} "
            f"(Query over {check.partitions} partitions)"
        )
        lines += [f"                {example}" for example in check.examples]
    if report.function_errors is not None:
        lines.append(f"function errors {len(report.function_errors)}")
        lines += [f"                {error[:200]}" for error in report.function_errors[:3]]
    problems = report.problems()
    lines.append("result          " + ("OK" if not problems else "FAILED: " + "; ".join(problems)))
    return "\n".join(lines)


def run_against_local_stack(config: LoadConfig, progress: Callable[[str], None] | None = None) -> LoadReport:
    """Start the local stack in this process on free ports, drive it, verify, stop it."""
    from acd_local.hub import LocalHub  # noqa: PLC0415 - heavy imports
    from acd_local.spec import StackSpec  # noqa: PLC0415 - heavy imports

    spec = StackSpec.load()
    # One JSON log line per callback on this terminal would drown the report (and cost CPU the
    # endpoint would not spend on AWS, where logs are shipped asynchronously).
    spec = dataclasses.replace(spec, parameters={**spec.parameters, "LogLevel": "WARNING"})
    token = "load-" + secrets.token_urlsafe(12)
    with LocalHub(port=0, aws_port=0, tokens=[token], spec=spec, local_subscriber=False) as stack:
        if progress:
            progress(f"local stack up: callback {stack.base_url}/callback/***, AWS {stack.aws_endpoint}")
        report = run_load(
            stack.callback_url,
            config,
            dynamodb=stack.clients().dynamodb,
            events_table=stack.table_names.get("EventsTable", "EventsTable"),
            settings=HubSettings(),  # the stack's settings: it exported its functions' environment
            progress=progress,
        )
        # Exceptions raised by a function (the ingest: counted as 5xx above; a stream consumer:
        # retried by its poller). Reported, not judged: stream retries are no loss.
        report.function_errors = [f"{e.function}: {e.error}" for e in stack.errors]
    return report


@click.command(context_settings={"help_option_names": ["-h", "--help"], "show_default": True})
@click.option("--seconds", type=click.FloatRange(0.5, 3600), default=60.0, help="How long to send.")
@click.option("--clients", type=click.IntRange(1, 64), default=8, help="Concurrent keep-alive clients.")
@click.option(
    "--max-requests",
    type=click.IntRange(1, 5_000_000),
    default=500_000,
    help="Stop after this many requests even if time is left.",
)
@click.option(
    "--duplicates",
    type=click.FloatRange(0, 0.9),
    default=0.1,
    help="Share of requests resending an event sent before.",
)
@click.option(
    "--seed",
    type=int,
    default=0,
    show_default=False,
    help="Run id (0: a fresh one; new agents and ids each run).",
)
@click.option(
    "--url",
    default=None,
    help="Callback URL with its token (http://127.0.0.1:3000/callback/TOKEN); default: start the local stack.",
)
@click.option(
    "--aws-endpoint", default=None, help="With --url: the moto endpoint, to verify what was stored."
)
@click.option("--events-table", default="EventsTable", help="With --aws-endpoint.")
@click.option(
    "--json-out", type=click.Path(dir_okay=False), default=None, help="Also write the report as JSON."
)
def main(
    *,
    seconds: float,
    clients: int,
    max_requests: int,
    duplicates: float,
    seed: int,
    url: str | None,
    aws_endpoint: str | None,
    events_table: str,
    json_out: str | None,
) -> None:
    """Load the callback endpoint and check that every unique event is stored exactly once."""
    config = LoadConfig(
        seconds=seconds, clients=clients, max_requests=max_requests, duplicates=duplicates, seed=seed
    )

    def progress(message: str) -> None:
        click.echo(message, err=True)

    try:
        if url is None:
            report = run_against_local_stack(config, progress)
        else:
            dynamodb = None
            if aws_endpoint:
                _check_loopback(aws_endpoint)
                from acd_devkit.moto_resources import aws_clients  # noqa: PLC0415

                dynamodb = aws_clients(aws_endpoint).dynamodb
            report = run_load(url, config, dynamodb=dynamodb, events_table=events_table, progress=progress)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    click.echo(format_report(report))
    if json_out:
        with open(json_out, "w", encoding="utf-8") as out:
            json.dump(report.as_dict(), out, indent=2)
    sys.exit(0 if report.ok else 1)


if __name__ == "__main__":
    main()
