"""``python -m acd_bench.load``: the callback endpoint at its top rate, then proof that every
unique event was stored exactly once.

* Starts the local stack in this process on free ports (or targets ``--url``).
* The traffic is ``acd-sim``'s (:mod:`acd_sim`): simulated call-center days (all eight cmds,
  agents and calls consistent), planned as ``acd-sim`` plans them (GET and PUT, a share of PUT
  bodies as JSON, ``--duplicates`` of the events delivered again a little later) and sent by its
  sender: ``--clients`` threads, each with one keep-alive HTTP/1.1 connection to 127.0.0.1, no
  pacing (each client sends its next request as soon as the last is answered). Each run
  simulates days of its own (its run id picks the seed and the days), so runs against one stack
  do not meet.
* Bounded twice: by ``--seconds`` and by ``--max-requests``; every request has a timeout.
* Reports requests/s, latency percentiles, the count of each status, the 5xx count, and — by
  DynamoDB ``Query`` over every partition the events were written to (never a ``Scan``) —
  whether each unique event is stored exactly once: none lost, none doubled, nothing unexpected
  in those partitions (duplicates must not add items), and no event answered "stored" twice.

Exit status 1 if any answer was a 5xx, any request got no answer, or any unique event was lost
or doubled. ``make load`` runs it for 60 s with 8 clients.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import secrets
import statistics
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import click

from acd_cli.numbers import FloatRange
from acd_cli.output import printable
from acd_hub.items import event_item
from acd_hub.models import ParseContext, parse_callback
from acd_hub.settings import HubSettings
from acd_sim.day import generate_day
from acd_sim.model import SimConfig, SimEvent
from acd_sim.plan import Request, plan_requests
from acd_sim.sender import Answer, send
from acd_sim.sim import reachable

LOOPBACK = ("127.0.0.1", "localhost", "::1")
# A busier center than acd-sim's default day (16,000 callbacks instead of 3,400): one day lasts a
# whole `make load` at the local stack's rate; should it not, the next (earlier) day follows.
LOAD_AGENTS, LOAD_CALLS, LOAD_OUTBOUND = 40, 1500, 200
# Days before today: every run simulates days of its own, in the past (never ahead of the clock).
DAYS_BACK = 365


@dataclass(frozen=True)
class LoadConfig:
    seconds: float = 60.0
    clients: int = 8
    max_requests: int = 500_000
    duplicates: float = 0.1  # share of events delivered again (acd-sim's --duplicates)
    json_share: float = 0.25  # share of PUT bodies sent as JSON (the rest form-urlencoded)
    timeout: float = 30.0
    seed: int = 0  # 0: a fresh run id (new days, calls and ids every run)


@dataclass(frozen=True)
class Planned:
    """One unique event: its parameters and where it must end up."""

    cmd: str
    params: dict[str, str]
    pk: str
    event_key: str


# --------------------------------------------------------------------------- traffic


def traffic(config: LoadConfig, run_id: int) -> tuple[list[SimEvent], Iterator[Request]]:
    """acd-sim's days, newest first, and their requests (at most ``max_requests``). The first
    day is simulated here, before any clock starts; a later one when the requests reach it (the
    sender reads the plan under its lock, so ``events`` holds a day before its requests come)."""
    events: list[SimEvent] = []
    newest = date.today() - timedelta(days=1 + run_id % DAYS_BACK)

    def day_requests(n: int) -> list[Request]:
        config_n = SimConfig(
            day=newest - timedelta(days=n),
            seed=run_id,
            agents=LOAD_AGENTS,
            calls=LOAD_CALLS,
            outbound=LOAD_OUTBOUND,
        )
        day = generate_day(config_n)
        offset = len(events)
        events.extend(day)
        plan = plan_requests(day, duplicates=config.duplicates, seed=run_id + n, json_share=config.json_share)
        return [dataclasses.replace(request, index=offset + request.index) for request in plan]

    later = itertools.chain.from_iterable(day_requests(n) for n in itertools.count(1))
    return events, itertools.islice(itertools.chain(day_requests(0), later), config.max_requests)


class _Where:
    """Where each event must be stored: the same key and partition the ingest computes."""

    def __init__(self, settings: HubSettings) -> None:
        self._settings = settings
        self._context = ParseContext(settings.acd_zone, settings.default_phone_region)

    def __call__(self, event: SimEvent) -> Planned:
        lowered = {name.lower(): value for name, value in event.params.items()}
        item = event_item(parse_callback(lowered, self._context), lowered, self._settings, datetime.now(UTC))
        return Planned(event.cmd, event.params, item["pk"], item["event_key"])


@dataclass
class _Tally:
    """What the answers said, gathered from the sender's threads (under ``lock``)."""

    events: list[SimEvent]
    where: _Where
    lock: threading.Lock = field(default_factory=threading.Lock)
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    transport_errors: Counter[str] = field(default_factory=Counter)
    by_method: Counter[str] = field(default_factory=Counter)
    sent: dict[int, Planned] = field(default_factory=dict)  # by event index
    acknowledged: set[int] = field(default_factory=set)  # event indexes a delivery got a 2xx for
    stored: Counter[int] = field(default_factory=Counter)  # answers "stored", by event index
    duplicates_sent: int = 0
    duplicate_answers: Counter[str] = field(default_factory=Counter)  # "duplicate" / "stored" / ...
    key_mismatches: int = 0  # the answer's event_key is not the one computed here

    def __call__(self, answer: Answer) -> None:
        request = answer.request
        planned = self.sent.get(request.index) or self.where(self.events[request.index])
        said = _answer_json(answer) if answer.status == 200 else {}
        with self.lock:
            self.sent[request.index] = planned  # sent, maybe stored: verification tells
            if answer.status is None:
                self.transport_errors[(answer.error or "error").split(":", 1)[0]] += 1
                return
            self.latencies.append(answer.seconds)
            self.statuses[answer.status] += 1
            if answer.ok:
                self.acknowledged.add(request.index)
            self.by_method[request.method] += 1
            if request.copy:
                self.duplicates_sent += 1
                # the hub's word (duplicate / stored), else the HTTP status (401, 503), not "None"
                self.duplicate_answers[str(said.get("status") or answer.status)] += 1
            if said.get("status") == "stored":
                self.stored[request.index] += 1
            if said and said.get("event_key") != planned.event_key:
                self.key_mismatches += 1


def _answer_json(answer: Answer) -> dict[str, Any]:
    try:
        said = json.loads(answer.body)
    except ValueError:  # a body cut at 500 characters, or none (HEAD)
        return {}
    return said if isinstance(said, dict) else {}


# --------------------------------------------------------------------------- verifying


@dataclass
class Verification:
    partitions: int = 0
    expected: int = 0
    lost: int = 0
    doubled: int = 0  # unique events stored more than once
    unexpected: int = 0  # items in those partitions that are none of the events sent
    examples: list[str] = field(default_factory=list)
    # Events no delivery of which was answered 2xx (refused, 5xx, no answer): the hub never said
    # it stored them, so not storing them is no loss; they are only checked for being doubled.
    unacknowledged: int = 0


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


def verify(
    dynamodb: Any,
    table: str,
    unique: list[Planned],
    workers: int = 4,
    unacknowledged: Sequence[Planned] = (),
) -> Verification:
    """``unique``: the events the hub answered 2xx for, each to be stored exactly once;
    ``unacknowledged``: events sent but never answered 2xx, which may be stored (once) or not."""
    expected: dict[str, set[str]] = {}
    for planned in unique:
        expected.setdefault(planned.pk, set()).add(planned.event_key)
    maybe: dict[str, set[str]] = {}
    for planned in unacknowledged:
        if planned.event_key not in expected.get(planned.pk, ()):
            maybe.setdefault(planned.pk, set()).add(planned.event_key)
    partitions = list(dict.fromkeys([*expected, *maybe]))
    result = Verification(
        partitions=len(partitions),
        expected=sum(len(v) for v in expected.values()),
        unacknowledged=sum(len(v) for v in maybe.values()),
    )
    with ThreadPoolExecutor(max_workers=workers) as pool:
        found = dict(
            zip(partitions, pool.map(lambda pk: stored_keys(dynamodb, table, pk), partitions), strict=True)
        )
    for pk in partitions:
        keys = expected.get(pk, set())
        counts = Counter(found[pk])
        for key in maybe.get(pk, set()):
            if counts[key] > 1:
                result.doubled += 1
                if len(result.examples) < 5:
                    result.examples.append(f"{key} stored {counts[key]} times in {pk}")
        for key in keys:
            if counts[key] == 0:
                result.lost += 1
                if len(result.examples) < 5:
                    result.examples.append(f"lost {key} in {pk}")
            elif counts[key] > 1:
                result.doubled += 1
                if len(result.examples) < 5:
                    result.examples.append(f"{key} stored {counts[key]} times in {pk}")
        result.unexpected += sum(n for key, n in counts.items() if key not in keys | maybe.get(pk, set()))
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
    stored_twice: int = 0  # events whose deliveries were answered "stored" more than once
    verification_error: str | None = None  # why what was stored could not be read back

    @property
    def requests_per_second(self) -> float:
        return self.requests / self.elapsed_s if self.elapsed_s else 0.0

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)

    @property
    def refused(self) -> int:
        """Answers 4xx: requests the hub did not take (a wrong token, a wrong path)."""
        return sum(n for status, n in self.statuses.items() if 400 <= status < 500)

    def problems(self) -> list[str]:
        check = self.verification or Verification()
        counted = (
            (self.server_errors, "answers were 5xx"),
            (self.refused, "answers were 4xx (refused: the token, the path?)"),
            (sum(self.transport_errors.values()), "requests got no answer"),
            (self.key_mismatches, "answers named another event key than expected"),
            (self.stored_twice, "events were answered 'stored' more than once"),
            (check.lost, "unique events lost"),
            (check.doubled, "unique events stored more than once"),
            (check.unexpected, "unexpected items in the partitions written"),
        )
        problems = [f"{count} {what}" for count, what in counted if count]
        if self.verification_error:
            problems.append(f"not verified: {self.verification_error}")
        return problems

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
    run_id = config.seed or secrets.randbelow(10**8)
    events, plan = traffic(config, run_id)
    tally = _Tally(events, _Where(settings or HubSettings()))
    sent = send(
        events,
        url,
        None,
        plan=plan,
        concurrency=config.clients,
        seconds=config.seconds,
        timeout=config.timeout,
        on_answer=tally,
    )
    unique = list(tally.sent.values())
    # Lost means answered 2xx and not stored: an event the hub refused or never answered for is
    # reported as such (4xx, 5xx, no answer), not counted as lost by the hub.
    acknowledged = [planned for index, planned in tally.sent.items() if index in tally.acknowledged]
    unacknowledged = [planned for index, planned in tally.sent.items() if index not in tally.acknowledged]
    verification = None
    verification_error = None
    if dynamodb is not None:
        from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

        if progress:
            progress(f"verifying {len(unique)} unique events by Query ...")
        try:
            verification = verify(dynamodb, events_table, acknowledged, unacknowledged=unacknowledged)
        except (BotoCoreError, ClientError) as exc:
            # The store stopped answering during the run (a stack stopped mid-run): the load's
            # own figures are still reported; what was stored is unknown, so not OK.
            verification_error = printable(str(exc))
    return LoadReport(
        target=_masked(url),
        config=config,
        elapsed_s=sent.elapsed_s,
        requests=sent.requests,
        statuses=dict(sorted(tally.statuses.items())),
        by_method=dict(tally.by_method),
        transport_errors=dict(tally.transport_errors),
        latency_ms=_percentiles(tally.latencies),
        unique_events=dict(sorted(Counter(p.cmd for p in unique).items())),
        duplicates_sent=tally.duplicates_sent,
        duplicate_answers=dict(tally.duplicate_answers),
        key_mismatches=tally.key_mismatches,
        verification=verification,
        stored_twice=sum(1 for n in tally.stored.values() if n > 1),
        verification_error=verification_error,
    )


def _check_loopback(url: str) -> None:
    host = urlsplit(url).hostname or ""
    if host not in LOOPBACK and not host.startswith("127."):
        raise ValueError(f"load is only ever sent to this machine (127.0.0.1), not to {url!r}")


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
    if report.verification_error:
        lines.append(f"stored once     not verified: {report.verification_error}")
    elif check is None:
        lines.append("stored once     not verified (no --aws-endpoint)")
    else:
        lines.append(
            f"stored once     {check.expected - check.lost - check.doubled} of {check.expected}: "
            f"lost {check.lost}, doubled {check.doubled}, unexpected {check.unexpected} "
            f"(Query over {check.partitions} partitions)"
            + (
                f"; {check.unacknowledged} never answered 2xx: not counted as lost"
                if check.unacknowledged
                else ""
            )
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
@click.option("--seconds", type=FloatRange(0.5, 3600), default=60.0, help="How long to send.")
@click.option("--clients", type=click.IntRange(1, 64), default=8, help="Concurrent keep-alive clients.")
@click.option(
    "--max-requests",
    type=click.IntRange(1, 5_000_000),
    default=500_000,
    help="Stop after this many requests even if time is left.",
)
@click.option(
    "--duplicates",
    type=FloatRange(0, 0.9),
    default=0.1,
    help="Share of events delivered again a little later (a quarter of those twice).",
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

    if aws_endpoint and url is None:
        raise click.UsageError(
            "--aws-endpoint goes with --url (without it the load starts and verifies its own stack)"
        )
    try:
        if url is None:
            report = run_against_local_stack(config, progress)
        else:
            _check_loopback(url)
            if (why := reachable(url)) is not None:  # no report of a run that never reached it
                raise click.ClickException(
                    f"--url: cannot reach {printable(_masked(url))}: {why}; nothing sent"
                )
            dynamodb = None
            if aws_endpoint:
                _check_loopback(aws_endpoint)
                dynamodb = _verifying_client(aws_endpoint, events_table)
            report = run_load(url, config, dynamodb=dynamodb, events_table=events_table, progress=progress)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    click.echo(format_report(report))
    if json_out:
        try:
            with open(json_out, "w", encoding="utf-8") as out:
                json.dump(report.as_dict(), out, indent=2)
        except OSError as exc:
            raise click.ClickException(
                f"--json-out: cannot write {printable(json_out)}: {exc.strerror}"
            ) from None
    sys.exit(0 if report.ok else 1)


def _verifying_client(aws_endpoint: str, events_table: str) -> Any:
    """The DynamoDB client that verifies the run, its table asked for first: an endpoint that
    does not answer or a table it does not have is a one-line error before any load is sent."""
    from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

    from acd_devkit.moto_resources import aws_clients  # noqa: PLC0415

    dynamodb = aws_clients(aws_endpoint).dynamodb
    try:
        dynamodb.describe_table(TableName=events_table)
    except (BotoCoreError, ClientError) as exc:
        raise click.ClickException(
            printable(f"--aws-endpoint {aws_endpoint}: table {events_table!r}: {exc}")
        ) from None
    return dynamodb


if __name__ == "__main__":
    main()
