"""``make bench``: what the hub costs, each figure next to a bare baseline measured in the same run.

Seven measurements (see ``docs/bench.md`` for the latest table):

1. **ingest, warm** — time per event of the ingest handler (``functions/ingest/app.py``, the
   real module) vs a bare handler (``parse_qs`` + one conditional ``PutItem``), both calling the
   *same* boto3 DynamoDB client whose HTTP layer is stubbed (a ``before-send`` hook answers);
   API Gateway v2 events from ``events/ingest`` plus agentstate/callevent requests of a
   simulated day. The handlers take turns event by event; medians over rounds.
2. **cold start** — importing the ingest module vs a bare boto3 handler module (``import
   boto3`` + a DynamoDB client), each in a fresh interpreter with ``LAMBDA_TASK_ROOT`` set and
   ``.pyc`` files present; then the first request after the import (same stubbed HTTP layer),
   so the whole cold start is shown, not only the part that was moved around.
3. **aggregation** — a simulated day stored with the real ingest code in moto's in-process
   DynamoDB, its stream records (filtered per function as the template's filter criteria say,
   batches of 100) through both aggregators; vs a loop doing one ``GetItem`` per event.
4. **local end to end** — callbacks/s through ``acd-local`` (the whole stack in-process,
   concurrent keep-alive HTTP clients in a child process) vs the same moto server's raw
   conditional-``PutItem`` rate with the same concurrency, phases interleaved.
5. **DynamoDB requests and items written** per ingested (and duplicate) and per aggregated event,
   counted with botocore event hooks on the clients.
6. **deployment size** of each function and the layer as ``sam build`` lays them out.
7. **aggregation scaling** — DynamoDB requests, items read and items written per aggregated
   event and events/s on days of 1×, 4× and 16× a base day (more calls, same agents and
   hotlines), in batches of 10 and of 100: a constant-cost design keeps the per-event figures
   flat as the day grows.

Figures are medians of interleaved repetitions on a noisy machine: read the ratios, not the
absolute values. Nothing here is a timed test (``tests/unit/test_bench.py`` checks structure).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import gc
import importlib.util
import itertools
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import quote, urlencode

REPO = Path(__file__).resolve().parents[2]
TOKEN = "local-dev-token"  # noqa: S105 - the documented local token of events/ and env.json
REGION = "eu-central-1"
ACCOUNT = "123456789012"
SIM_DAY = date(2026, 11, 20)
RESULT_MARK = "ACD-BENCH-RESULT "
FUNCTIONS = {
    "IngestFunction": "functions/ingest",
    "FanoutFunction": "functions/fanout",
    "AgentStatsFunction": "functions/agent_stats",
    "CallStatsFunction": "functions/call_stats",
}

# What a Lambda container of this stack sees, minus AWS: the template's environment at its
# parameter defaults (see _function_env), tokens from here instead of SSM.
_AWS_ENV = {
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
}
_UNSET_ENV = ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN")


# =========================================================================== small helpers


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def _ratio(measured: float, baseline: float) -> float | None:
    return measured / baseline if baseline else None


@contextlib.contextmanager
def patched_env(values: Mapping[str, str], unset: Sequence[str] = ()) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in [*values, *unset]}
    for name in unset:
        os.environ.pop(name, None)
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextlib.contextmanager
def quiet_stdout() -> Iterator[None]:
    """Handlers log a JSON line per request (and EMF metrics) to stdout, as on Lambda: that
    work is measured, its output goes to /dev/null (file descriptor 1, whoever holds it)."""
    sys.stdout.flush()
    try:
        saved = os.dup(1)
    except OSError:  # no fd 1: nothing to silence
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    try:
        yield
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


@dataclass
class LambdaContext:
    """The attributes of Lambda's context object that Powertools reads."""

    function_name: str = "IngestFunction"
    memory_limit_in_mb: int = 512
    function_version: str = "$LATEST"
    aws_request_id: str = "00000000-0000-0000-0000-000000000000"
    log_group_name: str = "/aws/lambda/bench"
    log_stream_name: str = "bench"

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return 10_000


def _function_env(logical_id: str = "IngestFunction") -> dict[str, str]:
    """The function's environment from template.yaml at parameter defaults, pointed at nothing
    (tokens local, no SSM, no endpoint override)."""
    env = {
        "POWERTOOLS_SERVICE_NAME": "acd-callback-hub",
        "POWERTOOLS_METRICS_NAMESPACE": "AcdCallbackHub",
        "ACD_EVENTS_TABLE": "EventsTable",
        "ACD_REPORTS_TABLE": "ReportsTable",
    }
    with contextlib.suppress(Exception):  # a template this reader cannot resolve: the defaults
        from acd_tools.template import load_template, resolved_environment  # noqa: PLC0415

        refs = {
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT,
            "AWS::StackName": "acd-callback-hub-bench",
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "EventsTable": "EventsTable",
            "ReportsTable": "ReportsTable",
            "CallbackTokenParameterName": "",
        }
        env = resolved_environment(load_template(REPO / "template.yaml"), logical_id, refs)
    return {
        **env,
        "ACD_TOKEN_PARAMETER": "",
        "ACD_CALLBACK_TOKENS": TOKEN,
        "ACD_AWS_ENDPOINT_URL": "",
        "AWS_LAMBDA_FUNCTION_NAME": logical_id,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.13",
        **_AWS_ENV,
    }


# =========================================================================== events


def api_gateway_event(method: str, params: Sequence[tuple[str, str]], request_id: str) -> dict[str, Any]:
    """An API Gateway HTTP API (payload 2.0) request to ``/callback/{token}``."""
    method = method.upper()
    encoded = urlencode(list(params), quote_via=quote)
    path = f"/callback/{TOKEN}"
    headers = {"host": "bench.execute-api.eu-central-1.amazonaws.com", "user-agent": "Java/11.0.22"}
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": f"{method} /callback/{{token}}",
        "rawPath": path,
        "rawQueryString": "",
        "headers": headers,
        "requestContext": {
            "accountId": ACCOUNT,
            "apiId": "bench",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.10",
                "userAgent": "Java/11.0.22",
            },
            "requestId": request_id,
            "routeKey": f"{method} /callback/{{token}}",
            "stage": "$default",
            "timeEpoch": 1795166142150,
        },
        "pathParameters": {"token": TOKEN},
        "isBase64Encoded": False,
    }
    if method == "PUT":
        headers["content-type"] = "application/x-www-form-urlencoded"
        event["body"] = base64.b64encode(encoded.encode()).decode()
        event["isBase64Encoded"] = True
    else:
        event["rawQueryString"] = encoded
        event["queryStringParameters"] = dict(params)
    return event


def simulated_day(seed: int = 7, **config: Any) -> list[Any]:
    """acd-sim's day (``SimEvent``: ``cmd``, ``params``, ``time``), time-ordered; ``config``:
    ``agents``, ``calls``, ``outbound`` (acd-sim's defaults otherwise)."""
    from acd_tools.sim import SimConfig, generate_day  # noqa: PLC0415

    return generate_day(SimConfig(day=SIM_DAY, seed=seed, **config))


# The aggregation day: a small call center's whole day (~1,100 events), kept as the earlier runs
# measured it so this row stays comparable; how the cost behaves as a day grows is section 7's.
AGGREGATION_DAY = {"agents": 4, "calls": 100, "outbound": 12}


def ingest_events(sim_count: int = 200) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """The valid samples of ``events/ingest`` and ``sim_count`` agentstate/callevent requests of a
    simulated day (every 5th a PUT with a form body, every 7th a HEAD)."""
    events = [
        json.loads(path.read_text(encoding="utf-8"))
        for path in sorted((REPO / "events" / "ingest").glob("*.json"))
        if not path.name.startswith("bad-")
    ]
    origin = {"samples": len(events), "simulated": 0}
    if sim_count:
        day = [e for e in simulated_day() if e.cmd in ("agentstate", "callevent")]
        step = max(1, len(day) // sim_count)
        for i, sim_event in enumerate(day[::step][:sim_count]):
            method = "PUT" if i % 5 == 4 else "HEAD" if i % 7 == 6 else "GET"
            events.append(api_gateway_event(method, list(sim_event.params.items()), f"sim-{i}"))
            origin["simulated"] += 1
    return events, origin


# =========================================================================== DynamoDB hooks


class _Raw:
    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._data


def stub_http(client: Any, body: bytes = b"{}") -> None:
    """Answer every call of ``client`` with 200 and ``body`` instead of sending it: the whole
    botocore path (serialization, signing, parsing) runs, the network does not."""
    from botocore.awsrequest import AWSResponse  # noqa: PLC0415

    headers = {"Content-Type": "application/x-amz-json-1.0", "x-amzn-RequestId": "bench"}

    def respond(request: Any, **_: Any) -> Any:
        return AWSResponse(request.url, 200, headers, _Raw(body))  # type: ignore[arg-type]

    client.meta.events.register("before-send.dynamodb", respond, unique_id="acd-bench-stub")


class DynamoCounter:
    """Counts a client's DynamoDB calls by operation, and the items they read and wrote as
    DynamoDB bills them: a query's scanned items (``ScannedCount``, before any filter), the items
    a get returns, each item of a batch or a transaction on its own."""

    WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem"})
    # the parts of a TransactWriteItems that write an item (a ConditionCheck only reads one)
    TRANSACT_WRITES = ("Put", "Update", "Delete")

    def __init__(self, client: Any) -> None:
        self.calls: Counter[str] = Counter()
        self.items_written = 0
        self.items_read = 0
        self.condition_checks = 0
        self.failed_writes = 0
        events = client.meta.events
        # before-parameter-build sees the API parameters (before-call only the serialized body)
        events.register("before-parameter-build.dynamodb", self._params, unique_id="acd-bench-count-params")
        events.register("before-call.dynamodb", self._before, unique_id="acd-bench-count-before")
        events.register("after-call.dynamodb", self._after, unique_id="acd-bench-count-after")

    def reset(self) -> None:
        self.calls.clear()
        self.items_written = self.items_read = self.condition_checks = self.failed_writes = 0

    def _before(self, model: Any, **_: Any) -> None:
        self.calls[model.name] += 1

    def _params(self, model: Any, params: Mapping[str, Any], context: dict[str, Any], **_: Any) -> None:
        if model.name == "BatchWriteItem":
            context["acd_bench_items"] = sum(len(v) for v in params.get("RequestItems", {}).values())
        elif model.name == "TransactWriteItems":
            parts = [next(iter(part)) for part in params.get("TransactItems", [])]
            context["acd_bench_items"] = sum(1 for kind in parts if kind in self.TRANSACT_WRITES)
            context["acd_bench_checks"] = parts.count("ConditionCheck")

    def _after(
        self, model: Any, http_response: Any, parsed: Mapping[str, Any], context: Any, **_: Any
    ) -> None:
        ok = http_response is not None and http_response.status_code == 200
        name = model.name
        if name in self.WRITES or name == "TransactWriteItems":
            if not ok:  # a failed condition or a cancelled transaction writes nothing
                self.failed_writes += 1
            elif name == "TransactWriteItems":
                self.items_written += int(context.get("acd_bench_items", 0))
                self.condition_checks += int(context.get("acd_bench_checks", 0))
            else:
                self.items_written += 1
        elif not ok:
            return
        elif name in ("Query", "Scan"):
            # billed by what was scanned, not by what a filter let through
            scanned = parsed.get("ScannedCount", parsed.get("Count"))
            self.items_read += int(scanned) if scanned is not None else len(parsed.get("Items") or [])
        elif name == "GetItem":
            self.items_read += 1 if parsed.get("Item") else 0
        elif name == "BatchGetItem":
            self.items_read += sum(len(items) for items in (parsed.get("Responses") or {}).values())
        elif name == "TransactGetItems":
            self.items_read += sum(1 for r in parsed.get("Responses") or [] if r.get("Item"))
        elif name == "BatchWriteItem":
            unprocessed = sum(len(v) for v in (parsed.get("UnprocessedItems") or {}).values())
            self.items_written += int(context.get("acd_bench_items", 0)) - unprocessed

    @property
    def requests(self) -> int:
        return sum(self.calls.values())


# =========================================================================== 1. ingest, warm

BARE_HANDLER = '''\
"""The baseline: the least a callback handler does - parse the query (or form body), one
conditional PutItem of the parameters as strings."""

import base64
from urllib.parse import parse_qs


def make_handler(client, table):
    def lambda_handler(event, context):
        params = parse_qs(event.get("rawQueryString") or "")
        body = event.get("body")
        if body:
            raw = base64.b64decode(body) if event.get("isBase64Encoded") else body.encode()
            params.update(parse_qs(raw.decode("utf-8", "replace")))
        item = {name: {"S": values[0]} for name, values in params.items()}
        cmd = params.get("cmd", ["?"])[0]
        item["pk"] = {"S": "BARE#" + cmd + "#" + event["requestContext"]["requestId"]}
        item["sk"] = {"S": params.get("eventtime", ["-"])[0]}
        client.put_item(TableName=table, Item=item, ConditionExpression="attribute_not_exists(pk)")
        return {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": '{"status":"stored"}'}

    return lambda_handler
'''
BARE_MODULE = (
    BARE_HANDLER
    + """

import boto3

client = boto3.client("dynamodb")
lambda_handler = make_handler(client, "EventsTable")
"""
)


def bare_handler(client: Any, table: str = "EventsTable") -> Callable[[dict[str, Any], Any], Any]:
    namespace: dict[str, Any] = {}
    exec(compile(BARE_HANDLER, "<bare handler>", "exec"), namespace)  # noqa: S102 - our own constant
    handler: Callable[[dict[str, Any], Any], Any] = namespace["make_handler"](client, table)
    return handler


def _load_module(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _TimedCalls:
    """Wraps a client's ``put_item`` on the instance: the seconds spent inside boto3."""

    def __init__(self, client: Any) -> None:
        self.seconds = 0.0
        original = client.put_item

        def put_item(**kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return original(**kwargs)
            finally:
                self.seconds += time.perf_counter() - started

        client.put_item = put_item


def _interleaved_pass(
    handlers: Sequence[Callable[[dict[str, Any], Any], Any]],
    events: Sequence[dict[str, Any]],
    flip: bool,
    inner: _TimedCalls | None = None,
) -> tuple[list[float], list[float]]:
    """Seconds per handler for one pass over ``events``, the handlers taking turns event by event
    (the order alternating too), so a noisy neighbour slows both alike; and of those, the seconds
    inside ``inner``'s calls."""
    context = LambdaContext()
    totals = [0.0] * len(handlers)
    inside = [0.0] * len(handlers)
    clock = time.perf_counter
    for n, event in enumerate(events):
        order = range(len(handlers)) if (n % 2 == 0) != flip else range(len(handlers) - 1, -1, -1)
        for i in order:
            before = inner.seconds if inner else 0.0
            started = clock()
            handlers[i](event, context)
            totals[i] += clock() - started
            inside[i] += (inner.seconds if inner else 0.0) - before
    return totals, inside


def bench_ingest_warm(rounds: int = 25, sim_events: int = 200) -> dict[str, Any]:
    """µs per warm event: the ingest module's handler vs the bare handler, one stubbed client."""
    events, origin = ingest_events(sim_events)
    with patched_env(_function_env(), unset=_UNSET_ENV):
        from acd_hub.aws import dynamodb_client  # noqa: PLC0415

        dynamodb_client.cache_clear()
        client = dynamodb_client("")  # the one the ingest module picks up (cached per endpoint)
        stub_http(client)
        boto3_calls = _TimedCalls(client)
        try:
            with quiet_stdout():
                module = _load_module(REPO / "functions" / "ingest" / "app.py", "acd_bench_ingest_app")
                ingest = module.lambda_handler
                bare = bare_handler(client)
                statuses = Counter(ingest(event, LambdaContext())["statusCode"] for event in events)
                if set(statuses) != {200}:
                    raise RuntimeError(
                        f"the ingest handler did not store every bench event: {dict(statuses)}"
                    )
                _interleaved_pass([ingest, bare], events, flip=False)  # warm: every path taken once
                per_event: dict[str, list[float]] = {"ingest": [], "bare": []}
                in_put_item: dict[str, list[float]] = {"ingest": [], "bare": []}
                for i in range(rounds):
                    gc.collect()
                    totals, inside = _interleaved_pass([ingest, bare], events, i % 2 == 1, boto3_calls)
                    for name, total, put in zip(("ingest", "bare"), totals, inside, strict=True):
                        per_event[name].append(total / len(events) * 1e6)
                        in_put_item[name].append(put / len(events) * 1e6)
        finally:
            dynamodb_client.cache_clear()
            sys.modules.pop("acd_bench_ingest_app", None)
    ingest_us, bare_us = median(per_event["ingest"]), median(per_event["bare"])
    return {
        "events": len(events),
        "event_origin": origin,
        "rounds": rounds,
        "ingest_us_per_event": ingest_us,
        "bare_us_per_event": bare_us,
        "ratio": _ratio(ingest_us, bare_us),
        # of those, inside the one boto3 put_item call (the stored item's size shows here)
        "ingest_put_item_us_per_event": median(in_put_item["ingest"]),
        "bare_put_item_us_per_event": median(in_put_item["bare"]),
        "ratio_per_round_median": median(
            [a / b for a, b in zip(per_event["ingest"], per_event["bare"], strict=True)]
        ),
        "samples_us": per_event,
        "target_ratio_max": 1.3,
    }


# =========================================================================== 2. cold start

# Runs in a fresh interpreter: argv = function directory, mode (ingest|bare), event file.
# Everything outside the two timed regions (sys.path, the stub) is the runtime's business.
COLD_DRIVER = r"""
import sys, time
sys.path[:0] = [sys.argv[1]] + sys.argv[4:]
sys.stderr.write("ACD-BENCH-IMPORT-START\n"); sys.stderr.flush()
t0 = time.perf_counter()
import importlib
module = importlib.import_module("app")
t1 = time.perf_counter()
sys.stderr.write("ACD-BENCH-IMPORT-END\n"); sys.stderr.flush()
import json
from botocore.awsrequest import AWSResponse
if sys.argv[2] == "ingest":
    from acd_hub.aws import dynamodb_client
    client = dynamodb_client("")
else:
    client = module.client
class Raw:
    def stream(self, **_):
        yield b"{}"
def respond(request, **_):
    return AWSResponse(request.url, 200, {"Content-Type": "application/x-amz-json-1.0"}, Raw())
client.meta.events.register("before-send.dynamodb", respond)
class Context:
    function_name = "IngestFunction"; memory_limit_in_mb = 512; function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:eu-central-1:123456789012:function:IngestFunction"
    aws_request_id = "cold"; log_group_name = "/aws/lambda/bench"; log_stream_name = "bench"
    def get_remaining_time_in_millis(self): return 10000
with open(sys.argv[3], encoding="utf-8") as f:
    event = json.load(f)
t2 = time.perf_counter()
status = module.lambda_handler(event, Context())["statusCode"]
t3 = time.perf_counter()
print("ACD-BENCH-RESULT " + json.dumps({"import_ms": (t1 - t0) * 1e3, "first_ms": (t3 - t2) * 1e3, "status": status}))
"""


def _run_cold(
    function_dir: Path, mode: str, event_file: Path, env: Mapping[str, str], *, importtime: bool = False
) -> dict[str, Any]:
    extra = [str(REPO / "layers" / "shared")]  # the layer, where Lambda mounts it: on sys.path
    command = [sys.executable, *(["-X", "importtime"] if importtime else []), "-c", COLD_DRIVER]
    done = subprocess.run(  # noqa: S603 - our interpreter, our driver
        [*command, str(function_dir), mode, str(event_file), *extra],
        env={**env, "LAMBDA_TASK_ROOT": str(function_dir)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith(RESULT_MARK)]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"cold-start driver ({mode}) failed: {done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(lines[-1][len(RESULT_MARK) :])
    if result["status"] != 200:
        raise RuntimeError(f"cold-start driver ({mode}): first request answered {result['status']}")
    if importtime:
        result["importtime"] = done.stderr
    return result


_IMPORTTIME = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \|( +)(\S+)$")


def import_costs(stderr: str, top: int = 12) -> list[dict[str, Any]]:
    """From ``-X importtime`` output between the driver's marks (the import of ``app`` only):
    what ``app`` and the ``acd_hub`` modules import, with cumulative ms — where a lazy import
    could save something. Nested entries overlap (a parent's time includes its children's)."""
    section = stderr.partition("ACD-BENCH-IMPORT-START")[2].partition("ACD-BENCH-IMPORT-END")[0]
    entries = []
    for line in section.splitlines():
        match = _IMPORTTIME.match(line)
        if match:
            depth = (len(match.group(3)) - 1) // 2
            entries.append((depth, match.group(4), int(match.group(1)), int(match.group(2))))
    picked: list[dict[str, Any]] = []
    for index, (depth, name, own, cumulative) in enumerate(entries):
        # importtime lists a module after its children: the parent is the next shallower entry
        parent = next((e[1] for e in entries[index + 1 :] if e[0] < depth), "app")
        if name != "app" and (parent == "app" or parent.startswith("acd_hub.")):
            picked.append(
                {
                    "module": name,
                    "imported_by": parent,
                    "cumulative_ms": cumulative / 1000,
                    "self_ms": own / 1000,
                }
            )
    return sorted(picked, key=lambda e: -e["cumulative_ms"])[:top]


def bench_cold_start(repetitions: int = 15, warmups: int = 2) -> dict[str, Any]:
    """ms to import the ingest module vs a bare boto3 handler module, fresh interpreters,
    interleaved; plus each one's first request."""
    import compileall  # noqa: PLC0415

    env = {
        k: v
        for k, v in os.environ.items()
        if k not in _UNSET_ENV and not k.startswith(("ACD_", "POWERTOOLS_"))
    }
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.update(_function_env())
    event_file = REPO / "events" / "ingest" / "agentstate-get.json"
    with tempfile.TemporaryDirectory(prefix="acd-bench-") as tmp:
        bare_dir = Path(tmp) / "bare"
        bare_dir.mkdir()
        (bare_dir / "app.py").write_text(BARE_MODULE, encoding="utf-8")
        ingest_dir = REPO / "functions" / "ingest"
        for directory in (bare_dir, ingest_dir, REPO / "layers" / "shared" / "acd_hub"):
            compileall.compile_dir(directory, quiet=1)
        runs: dict[str, list[dict[str, Any]]] = {"ingest": [], "bare": []}
        dirs = {"ingest": ingest_dir, "bare": bare_dir}
        for _ in range(warmups):  # .pyc written, OS page cache warm
            for mode, directory in dirs.items():
                _run_cold(directory, mode, event_file, env)
        for i in range(repetitions):
            for mode in ("ingest", "bare") if i % 2 == 0 else ("bare", "ingest"):
                runs[mode].append(_run_cold(dirs[mode], mode, event_file, env))
        breakdown = import_costs(
            _run_cold(ingest_dir, "ingest", event_file, env, importtime=True)["importtime"]
        )

    def stat(mode: str, key: str) -> float:
        return median([r[key] for r in runs[mode]])

    def total(mode: str) -> float:
        return median([r["import_ms"] + r["first_ms"] for r in runs[mode]])

    return {
        "repetitions": repetitions,
        "first_request_event": str(event_file.relative_to(REPO)),
        "ingest_import_ms": stat("ingest", "import_ms"),
        "bare_import_ms": stat("bare", "import_ms"),
        "import_ratio": _ratio(stat("ingest", "import_ms"), stat("bare", "import_ms")),
        "ingest_first_request_ms": stat("ingest", "first_ms"),
        "bare_first_request_ms": stat("bare", "first_ms"),
        "first_request_ratio": _ratio(stat("ingest", "first_ms"), stat("bare", "first_ms")),
        "ingest_cold_total_ms": total("ingest"),
        "bare_cold_total_ms": total("bare"),
        "cold_total_ratio": _ratio(total("ingest"), total("bare")),
        "samples": runs,
        "ingest_import_breakdown": breakdown,
        "target_ratio_max": 1.3,
    }


# =========================================================================== 3 + 5. aggregation


def _serializer() -> Callable[[Any], Any]:
    from boto3.dynamodb.types import TypeSerializer  # noqa: PLC0415

    return TypeSerializer().serialize


def stream_record(item: Mapping[str, Any], sequence: int, serialize: Callable[[Any], Any]) -> dict[str, Any]:
    """The INSERT record Lambda hands a stream consumer for a new item (NEW_IMAGE)."""
    return {
        "eventID": str(sequence),
        "eventName": "INSERT",
        "eventSource": "aws:dynamodb",
        "awsRegion": REGION,
        "eventSourceARN": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/EventsTable/stream/bench",
        "dynamodb": {
            "Keys": {"pk": serialize(item["pk"]), "sk": serialize(item["sk"])},
            "NewImage": {k: serialize(v) for k, v in item.items()},
            "SequenceNumber": f"{sequence:021d}",
            "StreamViewType": "NEW_IMAGE",
        },
    }


class RecordingStore:
    """The ingest's EventStore port around the real DynamoDB store, keeping what it stored."""

    def __init__(self, store: Any) -> None:
        self._store = store
        self.stored: list[dict[str, Any]] = []
        self.duplicates = 0

    def put_event(self, item: dict[str, Any], claim: dict[str, Any] | None = None) -> bool:
        stored: bool = self._store.put_event(item, claim)
        if stored:
            self.stored.append(item)
        else:
            self.duplicates += 1
        return stored

    def put_rejected(self, item: dict[str, Any]) -> None:
        self._store.put_rejected(item)


def _filter_cmds(function: str) -> frozenset[str] | None:
    """The cmds the template's stream filter lets through to ``function`` (None: all)."""
    with contextlib.suppress(Exception):
        from acd_tools.template import load_template, stream_mappings  # noqa: PLC0415

        for mapping in stream_mappings(load_template(REPO / "template.yaml")):
            if mapping["function"] == function:
                cmds: set[str] = set()
                for pattern in mapping.get("filter_patterns") or []:
                    cmds |= set(pattern["dynamodb"]["NewImage"]["cmd"]["S"])
                return frozenset(cmds)
    return None


def _callback_request(params: Mapping[str, str], request_id: str) -> Any:
    from acd_hub.items import CallbackRequest  # noqa: PLC0415

    return CallbackRequest(
        method="GET",
        path=f"/callback/{TOKEN}",
        raw_query=urlencode(list(params.items()), quote_via=quote),
        body=b"",
        content_type="",
        source_ip="203.0.113.10",
        user_agent="bench",
        request_id=request_id,
        path_token=TOKEN,
    )


def _counts(counter: DynamoCounter, events: int) -> dict[str, Any]:
    return {
        "events": events,
        "requests_per_event": counter.requests / events if events else None,
        "items_written_per_event": counter.items_written / events if events else None,
        "calls": dict(counter.calls),
    }


@dataclass
class _StreamRun:
    """What the aggregation loop measured."""

    seconds: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))
    processed: Counter[str] = field(default_factory=Counter)
    calls: dict[str, Counter[str]] = field(default_factory=dict)
    written: Counter[str] = field(default_factory=Counter)
    read: Counter[str] = field(default_factory=Counter)
    condition_checks: Counter[str] = field(default_factory=Counter)
    failed_writes: Counter[str] = field(default_factory=Counter)  # lost conditions, cancelled transactions
    covered: int = 0  # stream records the baseline went through: the prefix of the day measured
    failures: int = 0
    partial: bool = False


def _stream_tasks(
    records: list[dict[str, Any]], cmds_of: list[str], functions: Sequence[str], batch_size: int
) -> tuple[list[tuple[int, str, list[dict[str, Any]]]], dict[str, int]]:
    """Each function's batches (its filter applied, then batches of ``batch_size``) and the
    baseline's chunks, in stream order so they interleave."""
    tasks: list[tuple[int, str, list[dict[str, Any]]]] = []
    delivered: dict[str, int] = {}
    for function in functions:
        cmds = _filter_cmds(function)
        mine = [(n, r) for n, r in enumerate(records) if cmds is None or cmds_of[n] in cmds]
        delivered[function] = len(mine)
        for start in range(0, len(mine), batch_size):
            chunk = mine[start : start + batch_size]
            tasks.append((chunk[0][0], function, [r for _, r in chunk]))
    for start in range(0, len(records), batch_size):
        tasks.append((start, "GetItem", records[start : start + batch_size]))
    tasks.sort(key=lambda task: (task[0], task[1] != "GetItem"))
    return tasks, delivered


def _run_stream(
    tasks: Sequence[tuple[int, str, list[dict[str, Any]]]],
    aggregators: Mapping[str, Any],
    client: Any,
    counter: DynamoCounter,
    *,
    table: str,
    max_seconds: float,
    collect_every: int = 0,
) -> _StreamRun:
    from aws_lambda_powertools import Logger  # noqa: PLC0415

    from acd_hub.stream_batch import aggregate_batch  # noqa: PLC0415

    run = _StreamRun(calls={f: Counter() for f in aggregators})
    logger = Logger(service="acd-bench")
    context = LambdaContext(function_name="stats")
    budget_end = time.perf_counter() + max_seconds
    since_collect = collect_every
    for _, kind, batch in tasks:
        if time.perf_counter() > budget_end:
            run.partial = True
            break
        counter.reset()
        # A collection outside the timed regions, so no kind pays for another's garbage; every
        # ~collect_every records, as a full collection of moto's heap costs more than a batch of 10.
        since_collect += len(batch)
        if since_collect >= collect_every:
            gc.collect()
            since_collect = 0
        started = time.perf_counter()
        if kind == "GetItem":
            for record in batch:
                client.get_item(TableName=table, Key=record["dynamodb"]["Keys"], ConsistentRead=True)
            run.seconds[kind] += time.perf_counter() - started
            run.covered += len(batch)
            continue
        answer = aggregate_batch({"Records": batch}, context, aggregators[kind], logger)  # type: ignore[arg-type]
        run.seconds[kind] += time.perf_counter() - started
        run.failures += len(answer.get("batchItemFailures", []))
        run.processed[kind] += len(batch)
        run.calls[kind].update(counter.calls)
        run.written[kind] += counter.items_written
        run.read[kind] += counter.items_read
        run.condition_checks[kind] += counter.condition_checks
        run.failed_writes[kind] += counter.failed_writes
    return run


@dataclass
class _Hub:
    """In-process moto holding the template's tables, the real ingest in front of it."""

    client: Any
    tables: dict[str, dict[str, Any]]
    settings: Any  # HubSettings
    counter: DynamoCounter
    store: RecordingStore
    ingest: Any  # CallbackIngest


@contextlib.contextmanager
def _moto_hub() -> Iterator[_Hub]:
    import boto3  # noqa: PLC0415
    from moto import mock_aws  # noqa: PLC0415

    from acd_hub.auth import static_tokens  # noqa: PLC0415
    from acd_hub.ingest import CallbackIngest  # noqa: PLC0415
    from acd_hub.settings import HubSettings  # noqa: PLC0415
    from acd_hub.storage import DynamoEventStore  # noqa: PLC0415
    from acd_tools import moto_fixes  # noqa: PLC0415
    from acd_tools.template import dynamodb_tables, load_template  # noqa: PLC0415

    # As acd-local does: unpatched moto deep-copies every table a transaction touches and walks
    # the whole table for a base-table query, so its cost would grow with the day whatever the
    # aggregators do. The answers and the counts stay moto's own.
    moto_fixes.install()
    with patched_env(_AWS_ENV, unset=_UNSET_ENV), mock_aws():
        client = boto3.client("dynamodb", region_name=REGION)
        tables = dynamodb_tables(load_template(REPO / "template.yaml"))
        for kwargs in tables.values():
            client.create_table(**kwargs)
        settings = HubSettings(
            events_table=tables["EventsTable"]["TableName"],
            reports_table=tables["ReportsTable"]["TableName"],
            callback_tokens=[TOKEN],
        )
        store = RecordingStore(DynamoEventStore(client, settings.events_table))
        yield _Hub(
            client=client,
            tables=tables,
            settings=settings,
            counter=DynamoCounter(client),
            store=store,
            ingest=CallbackIngest(settings, store, static_tokens(settings)),
        )


def _stream_records(stored: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The INSERT records of the stored items, in the order they were stored."""
    serialize = _serializer()
    return [stream_record(item, n, serialize) for n, item in enumerate(stored, 1)]


def _aggregators(client: Any, settings: Any) -> dict[str, Any]:
    """Both aggregators as their Lambda entry points build them (``stream_handler``)."""
    from acd_hub.aggregation import AgentStatsAggregator, CallStatsAggregator  # noqa: PLC0415
    from acd_hub.reports_store import EventLog, ReportsStore  # noqa: PLC0415

    log = EventLog(client, settings.events_table)
    reports = ReportsStore(client, settings.reports_table)
    return {
        "AgentStatsFunction": AgentStatsAggregator(log, reports, settings),
        "CallStatsFunction": CallStatsAggregator(log, reports, settings),
    }


def bench_aggregation(
    day_events: Sequence[Any] | None = None,
    batch_size: int = 100,
    duplicates: float = 0.1,
    limit: int | None = None,
    max_seconds: float = 240.0,
) -> dict[str, Any]:
    """A day stored by the real ingest code into in-process moto, then its stream records through
    both aggregators (filtered, batched as the template says) vs one GetItem per event; with the
    DynamoDB requests and items written per ingested and per aggregated event."""
    day = list(day_events) if day_events is not None else simulated_day(**AGGREGATION_DAY)
    day = day[:limit] if limit else day
    with _moto_hub() as hub:
        client, settings, counter = hub.client, hub.settings, hub.counter
        store, ingest = hub.store, hub.ingest

        # -- ingest: first deliveries, then a share delivered again
        for i, sim_event in enumerate(day):
            ingest.handle(_callback_request(sim_event.params, f"first-{i}"))
        ingest_counts = _counts(counter, len(day))
        counter.reset()
        repeated = day[:: max(1, round(1 / duplicates))] if duplicates else []
        for i, sim_event in enumerate(repeated):
            if not ingest.handle(_callback_request(sim_event.params, f"again-{i}")).duplicate:
                raise RuntimeError("a repeated callback was stored twice")
        duplicate_counts = _counts(counter, len(repeated))

        # -- the stream, as each function's event source mapping delivers it
        records = _stream_records(store.stored)
        aggregators = _aggregators(client, settings)
        tasks, delivered = _stream_tasks(
            records, [i["cmd"] for i in store.stored], list(aggregators), batch_size
        )
        run = _run_stream(
            tasks, aggregators, client, counter, table=settings.events_table, max_seconds=max_seconds
        )

    events = run.covered
    aggregation_s = run.seconds["AgentStatsFunction"] + run.seconds["CallStatsFunction"]
    rate = events / aggregation_s if aggregation_s else 0.0
    baseline_rate = events / run.seconds["GetItem"] if run.seconds["GetItem"] else 0.0
    all_calls: Counter[str] = Counter()
    for calls in run.calls.values():
        all_calls.update(calls)

    def per(value: float, count: float) -> float | None:
        return value / count if count else None

    return {
        "day_config": dict(AGGREGATION_DAY) if day_events is None else None,
        "day_events": len(day),
        "cmds": dict(Counter(e.cmd for e in day)),
        "partial": run.partial,
        "max_seconds": max_seconds,
        "batch_size": batch_size,
        "stored_events": len(records),
        "measured_events": events,
        "delivered_records": delivered,
        "batch_item_failures": run.failures,
        "aggregation_seconds": dict(run.seconds),
        "events_per_s": rate,
        "getitem_events_per_s": baseline_rate,
        "ratio": _ratio(rate, baseline_rate),
        "per_function_records_per_s": {f: per(run.processed[f], run.seconds[f]) for f in aggregators},
        "target_events_per_s_min": 2000,
        "dynamodb": {
            "ingest": ingest_counts,
            "duplicate": duplicate_counts,
            "aggregation": {
                "events": events,
                "requests_per_event": per(sum(all_calls.values()), events),
                "items_written_per_event": per(sum(run.written.values()), events),
                "items_read_per_event": per(sum(run.read.values()), events),
                "calls": dict(all_calls),
                "per_function": {
                    f: {
                        "records": run.processed[f],
                        "requests_per_record": per(sum(run.calls[f].values()), run.processed[f]),
                        "items_written_per_record": per(run.written[f], run.processed[f]),
                        "items_read_per_record": per(run.read[f], run.processed[f]),
                        "calls": dict(run.calls[f]),
                    }
                    for f in aggregators
                },
            },
        },
    }


# =========================================================================== 7. aggregation scaling

# The base day of the scaling section: 4 agents, 25 inbound and 5 outbound calls (~360 events).
# Its 4× and 16× days keep the agents and the hotlines and multiply the calls, so every
# hotline's day and every agent's day grows (an agent's day grows less than 16×: four agents
# cannot answer 16× the calls, the queue rejects the overflow; the table shows the growth).
# Sized so that the 16× day with batches of 10 takes a few minutes on moto with constant-cost
# aggregators; a design whose cost grows with the day runs into the time budget instead.
SCALING_BASE = {"agents": 4, "calls": 25, "outbound": 5}
SCALING_FACTORS = (1, 4, 16)
# 10: what a shard delivers at low traffic on AWS (whatever arrives within the batching window);
# 100: the mapping's BatchSize, reached when the stream is behind.
SCALING_BATCHES = (10, 100)
SCALING_GROWTH_MAX = 1.15  # each per-event figure at the largest day ≤ 1.15× its value at 1×
SCALING_RATE_MIN = 0.5  # aggregation events/s ≥ 0.5× in-process moto's consistent-GetItem rate
PER_EVENT_FIGURES = (
    ("requests_per_event", "DynamoDB requests"),
    ("items_read_per_event", "items read"),
    ("items_written_per_event", "items written"),
)


def scaled_day_config(base: Mapping[str, int], factor: int) -> dict[str, int]:
    """``base`` with ``factor`` times the inbound and outbound calls, same agents and hotlines."""
    return {"agents": base["agents"], "calls": base["calls"] * factor, "outbound": base["outbound"] * factor}


def day_shape(day: Sequence[Any]) -> dict[str, Any]:
    """How big each report's day is: events per agent (agentstate) and calls per hotline
    (inbound CallStarts), mean and largest."""
    per_agent = Counter(e.params.get("agentid") for e in day if e.cmd == "agentstate")
    per_hotline = Counter(
        e.params.get("hotlineid")
        for e in day
        if e.cmd == "callevent" and e.params.get("eventtype") == "CallStart" and e.params.get("hotlineid")
    )

    def spread(counts: Counter[Any]) -> dict[str, float]:
        values = list(counts.values())
        return {
            "count": len(values),
            "mean": sum(values) / len(values) if values else 0.0,
            "max": max(values, default=0),
        }

    return {
        "events": len(day),
        "agent_day_events": spread(per_agent),
        "hotline_day_calls": spread(per_hotline),
    }


def _fresh_reports_table(hub: _Hub, suffix: str) -> Any:
    """Settings pointing at a new, empty reports table (the template's definition, another
    name): each batch size aggregates the same stored day from scratch."""
    from acd_hub.settings import HubSettings  # noqa: PLC0415

    kwargs = dict(hub.tables["ReportsTable"])
    kwargs["TableName"] = f"{kwargs['TableName']}-{suffix}"
    hub.client.create_table(**kwargs)
    return HubSettings(
        events_table=hub.settings.events_table, reports_table=kwargs["TableName"], callback_tokens=[TOKEN]
    )


def _attribute_size(value: Mapping[str, Any]) -> int:
    """Bytes of one attribute value as DynamoDB counts them towards the 400 KB item limit (its
    documented rules: UTF-8 strings, ~1 byte per 2 digits of a number, 3 bytes per list or map
    plus a byte per element)."""
    ((kind, raw),) = value.items()
    if kind == "S":
        return len(raw.encode())
    if kind == "N":
        return len(raw.lstrip("-").replace(".", "").lstrip("0")) // 2 + 1
    if kind == "B":
        return len(raw)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "M":
        return 3 + sum(len(name.encode()) + _attribute_size(v) + 1 for name, v in raw.items())
    if kind == "L":
        return 3 + sum(_attribute_size(v) + 1 for v in raw)
    if kind == "SS":
        return sum(len(v.encode()) for v in raw)
    if kind == "NS":
        return sum(_attribute_size({"N": v}) for v in raw)
    return sum(len(v) for v in raw)  # BS


def item_size(item: Mapping[str, Any]) -> int:
    """An item's size in bytes (wire format), as DynamoDB bills and limits it."""
    return sum(len(name.encode()) + _attribute_size(value) for name, value in item.items())


def report_item_sizes(client: Any, table: str) -> dict[str, dict[str, int]]:
    """Every item of ``table`` by kind (its ``kind`` attribute, else the first part of its key):
    how many, and the largest and median size. A design whose items grow with the day shows it
    here long before DynamoDB's 400 KB limit."""
    sizes: defaultdict[str, list[int]] = defaultdict(list)
    for page in client.get_paginator("scan").paginate(TableName=table):
        for item in page["Items"]:
            kind = item.get("kind", {}).get("S") or item["pk"]["S"].split("#", 1)[0]
            sizes[kind].append(item_size(item))
    return {
        kind: {"items": len(values), "max_bytes": max(values), "median_bytes": int(statistics.median(values))}
        for kind, values in sorted(sizes.items())
    }


def _per_event_figures(run: _StreamRun, functions: Sequence[str]) -> dict[str, Any]:
    """Both aggregators' DynamoDB work per stored event of the measured part of the day."""
    events = run.covered
    calls: Counter[str] = Counter()
    for function in functions:
        calls.update(run.calls[function])
    seconds = sum(run.seconds[f] for f in functions)

    def per(value: float) -> float | None:
        return value / events if events else None

    return {
        "events": events,
        "requests_per_event": per(sum(calls.values())),
        "items_read_per_event": per(sum(run.read[f] for f in functions)),
        "items_written_per_event": per(sum(run.written[f] for f in functions)),
        "condition_checks_per_event": per(sum(run.condition_checks[f] for f in functions)),
        "failed_writes_per_event": per(sum(run.failed_writes[f] for f in functions)),
        "calls_per_event": {op: n / events for op, n in sorted(calls.items())} if events else {},
        "events_per_s": events / seconds if seconds else 0.0,
        "getitem_per_s": events / run.seconds["GetItem"] if run.seconds["GetItem"] else 0.0,
        "per_function": {
            f: {
                "records": run.processed[f],
                "seconds": run.seconds[f],
                "requests": sum(run.calls[f].values()),
                "items_read": run.read[f],
                "items_written": run.written[f],
                "calls": dict(run.calls[f]),
            }
            for f in functions
        },
    }


def bench_aggregation_scaling(
    base: Mapping[str, int] | None = None,
    factors: Sequence[int] = SCALING_FACTORS,
    batch_sizes: Sequence[int] = SCALING_BATCHES,
    max_seconds: float = 240.0,
    seed: int = 7,
) -> dict[str, Any]:
    """DynamoDB requests, items read and written per aggregated event, and aggregation events/s,
    on days of ``factors`` × ``base``, delivered in batches of each of ``batch_sizes``.

    Per day: stored once by the real ingest into in-process moto; then per batch size its
    INSERT records (in stored order, filtered per function by the template's filter criteria)
    go through ``aggregate_batch`` with both real aggregators, writing into a fresh reports
    table, interleaved with chunks of consistent GetItems of the same events (the baseline
    rate, measured side by side). ``max_seconds`` bounds each run: a run that hits it measured
    only the first part of its day and says so.
    """
    base = dict(base or SCALING_BASE)
    runs: list[dict[str, Any]] = []
    for factor in factors:
        config = scaled_day_config(base, factor)
        day = simulated_day(seed=seed, **config)
        with _moto_hub() as hub:
            ingest_started = time.perf_counter()
            for i, sim_event in enumerate(day):
                hub.ingest.handle(_callback_request(sim_event.params, f"scale-{factor}-{i}"))
            ingest_seconds = time.perf_counter() - ingest_started
            records = _stream_records(hub.store.stored)
            cmds = [item["cmd"] for item in hub.store.stored]
            for batch_size in batch_sizes:
                settings = _fresh_reports_table(hub, f"x{factor}-b{batch_size}")
                aggregators = _aggregators(hub.client, settings)
                tasks, delivered = _stream_tasks(records, cmds, list(aggregators), batch_size)
                hub.counter.reset()
                run = _run_stream(
                    tasks,
                    aggregators,
                    hub.client,
                    hub.counter,
                    table=settings.events_table,
                    max_seconds=max_seconds,
                    collect_every=100,
                )
                figures = _per_event_figures(run, list(aggregators))
                report_items = report_item_sizes(hub.client, settings.reports_table)  # not counted
                runs.append(
                    {
                        "factor": factor,
                        "batch_size": batch_size,
                        "day_config": config,
                        "day": day_shape(day),
                        "stored_events": len(records),
                        "ingest_seconds": ingest_seconds,
                        "delivered_records": delivered,
                        "partial": run.partial,
                        "batch_item_failures": run.failures,
                        "report_items": report_items,
                        **figures,
                        "ratio": _ratio(figures["events_per_s"], figures["getitem_per_s"]),
                    }
                )
    return {
        "base": base,
        "factors": list(factors),
        "batch_sizes": list(batch_sizes),
        "max_seconds": max_seconds,
        "runs": runs,
        "growth": scaling_growth(runs),
        "target_growth_max": SCALING_GROWTH_MAX,
        "target_rate_ratio_min": SCALING_RATE_MIN,
    }


def scaling_growth(runs: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per batch size: each per-event figure on the largest day ÷ its value on the smallest."""
    growth: dict[str, dict[str, Any]] = {}
    for batch_size in sorted({r["batch_size"] for r in runs}):
        mine = sorted((r for r in runs if r["batch_size"] == batch_size), key=lambda r: r["factor"])
        if len(mine) < 2:
            continue
        small, large = mine[0], mine[-1]
        growth[str(batch_size)] = {
            "from_factor": small["factor"],
            "to_factor": large["factor"],
            "partial": bool(small["partial"] or large["partial"]),
            **{
                key: {
                    "small": small[key],
                    "large": large[key],
                    "ratio": _ratio(large[key], small[key])
                    if small[key] is not None and large[key] is not None
                    else None,
                }
                for key, _ in PER_EVENT_FIGURES
            },
        }
    return growth


# =========================================================================== 4. local end to end


def _client_http(spec: Mapping[str, Any]) -> dict[str, Any]:
    """Child process: ``concurrency`` threads, each one keep-alive connection, GET the paths."""
    import http.client  # noqa: PLC0415

    paths: list[str] = spec["paths"]
    position = itertools.count()
    lock = threading.Lock()
    statuses: Counter[int] = Counter()
    finished: list[float] = []
    deadline_box: list[float] = []
    barrier = threading.Barrier(spec["concurrency"] + 1)

    def worker() -> None:
        connection = http.client.HTTPConnection(spec["host"], spec["port"], timeout=60)
        connection.connect()
        barrier.wait()
        mine: Counter[int] = Counter()
        while True:
            with lock:
                index = next(position)
            if index >= len(paths) or time.perf_counter() > deadline_box[0]:
                break
            try:
                connection.request("GET", paths[index])
                response = connection.getresponse()
                response.read()
                mine[response.status] += 1
            except (OSError, http.client.HTTPException):
                mine[0] += 1
                connection.close()
                connection = http.client.HTTPConnection(spec["host"], spec["port"], timeout=60)
        connection.close()
        with lock:
            statuses.update(mine)
            finished.append(time.perf_counter())

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(spec["concurrency"])]
    for thread in threads:
        thread.start()
    deadline_box.append(time.perf_counter() + spec["max_seconds"] + 3600)
    barrier.wait()
    started = time.perf_counter()
    deadline_box[0] = started + spec["max_seconds"]
    for thread in threads:
        thread.join()
    elapsed = max(finished) - started
    ok = sum(n for status, n in statuses.items() if 200 <= status < 300)
    return {"ok": ok, "statuses": {str(k): v for k, v in statuses.items()}, "seconds": elapsed}


def _client_putitem(spec: Mapping[str, Any]) -> dict[str, Any]:
    """Child process: ``concurrency`` threads, each its own boto3 client, conditional PutItems of
    fresh keys."""
    import boto3  # noqa: PLC0415
    from botocore.exceptions import ClientError  # noqa: PLC0415

    position = itertools.count()
    lock = threading.Lock()
    ok_box = [0, 0]
    finished: list[float] = []
    barrier = threading.Barrier(spec["concurrency"] + 1)
    deadline_box = [time.perf_counter() + 3600.0]
    prefix = spec["prefix"]

    def worker(n: int) -> None:
        client = boto3.client("dynamodb", endpoint_url=spec["endpoint"], region_name=REGION)
        client.describe_table(TableName=spec["table"])  # models loaded, connection made
        barrier.wait()
        ok = failed = 0
        while True:
            with lock:
                index = next(position)
            if index >= spec["count"] or time.perf_counter() > deadline_box[0]:
                break
            item = {
                "pk": {"S": f"{prefix}#{n}#{index}"},
                "sk": {"S": "2026-11-20T09:15:42.000Z"},
                **{f"a{j}": {"S": f"value-{index}-{j}"} for j in range(12)},
            }
            try:
                client.put_item(
                    TableName=spec["table"], Item=item, ConditionExpression="attribute_not_exists(pk)"
                )
                ok += 1
            except ClientError:
                failed += 1
        with lock:
            ok_box[0] += ok
            ok_box[1] += failed
            finished.append(time.perf_counter())

    threads = [threading.Thread(target=worker, args=(n,), daemon=True) for n in range(spec["concurrency"])]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    deadline_box[0] = started + spec["max_seconds"]
    for thread in threads:
        thread.join()
    return {"ok": ok_box[0], "failed": ok_box[1], "seconds": max(finished) - started}


def _run_client(spec: Mapping[str, Any]) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False, encoding="utf-8") as handle:
        json.dump(spec, handle)
    try:
        env = {k: v for k, v in os.environ.items() if k not in _UNSET_ENV}
        done = subprocess.run(  # noqa: S603 - our interpreter, our module
            [sys.executable, "-m", "acd_tools.bench", "--client", handle.name],
            capture_output=True,
            text=True,
            timeout=spec["max_seconds"] + 120,
            check=False,
            env=env,
        )
    finally:
        os.unlink(handle.name)
    lines = [line for line in done.stdout.splitlines() if line.startswith(RESULT_MARK)]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"bench client failed: {done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(lines[-1][len(RESULT_MARK) :])
    return result


def _settle_default_day(stack: Any, max_settle_s: float) -> dict[str, Any]:
    """The README's default ``acd-sim`` day (its own process, as a user runs it) into the running
    stack; then how long after its last callback the stream consumers have handled everything,
    and whether every hotline's KPIs then equal the simulator's."""
    from click.testing import CliRunner  # noqa: PLC0415

    from acd_tools.report_cli import cli as report_cli  # noqa: PLC0415

    with tempfile.TemporaryDirectory() as scratch:
        expected_path = Path(scratch) / "expected.json"
        env = {k: v for k, v in os.environ.items() if k not in _UNSET_ENV}
        started = time.perf_counter()
        sent = subprocess.run(  # noqa: S603 - our interpreter, our module
            [
                sys.executable,
                "-m",
                "acd_tools.sim",
                "--url",
                f"{stack.base_url}/callback",
                "--token",
                TOKEN,
                "--quiet",
                "--expect-out",
                str(expected_path),
            ],
            capture_output=True,
            text=True,
            timeout=3600,
            check=False,
            env=env,
        )
        last_callback = time.perf_counter()
        if sent.returncode != 0:
            raise RuntimeError(f"acd-sim failed: {(sent.stdout + sent.stderr)[-2000:]}")
        expected = json.loads(expected_path.read_text(encoding="utf-8"))
    lag_at_end = {name: lag.records_behind for name, lag in stack.stream_lag().items()}
    try:
        stack.wait_for_stream_idle(timeout=max_settle_s)
        settle_s: float | None = time.perf_counter() - last_callback
    except TimeoutError:
        settle_s = None
    day = expected.get("day") or expected.get("config", {}).get("day")
    matches = None
    if settle_s is not None and day and isinstance(expected.get("kpis"), dict):
        matches = True
        for hotline, kpis in expected["kpis"].items():
            shown = CliRunner().invoke(
                report_cli,
                [
                    "--endpoint-url",
                    stack.aws_endpoint,
                    "kpis",
                    "--hotline",
                    hotline,
                    "--day",
                    day,
                    "--format",
                    "json",
                ],
            )
            if shown.exit_code != 0 or json.loads(shown.output) != kpis:
                matches = False
    # What compacting the data folder (its journal folded into a new base) costs at this size:
    # the keeper does it beside moto now and then; the crash window does not depend on it.
    snapshot = stack.snapshot() if stack.persistent else None
    return {
        "snapshot": snapshot,
        "send_seconds": last_callback - started,
        "settle_seconds": settle_s,
        "settle_limit_seconds": max_settle_s,
        "lag_at_last_callback": lag_at_end,
        "kpis_equal_expected": matches,
        "target_settle_seconds_max": 30.0,
    }


def bench_local_e2e(  # noqa: PLR0917 - parts take their knobs by keyword from QUICK
    rounds: int = 3,
    per_round: int = 300,
    concurrency: int = 4,
    max_seconds: float = 20.0,
    default_day: bool = True,
    max_settle_s: float = 900.0,
) -> dict[str, Any]:
    """acd-local as ``make run`` starts it (data folder and its journal on, stream consumers in
    their processes): (a) the README's default acd-sim day, and how long after its last
    callback the reports settle; (b) callbacks/s through the endpoint vs its moto server's raw
    conditional-PutItem rate, phases interleaved (the stream consumers drained before each raw
    phase)."""
    import boto3  # noqa: PLC0415

    from acd_tools.local import LocalStack  # noqa: PLC0415

    day = simulated_day(seed=11)
    paths = [f"/callback/{TOKEN}?" + urlencode(list(e.params.items()), quote_via=quote) for e in day]
    e2e: list[dict[str, Any]] = []
    raw: list[dict[str, Any]] = []
    drain_s: list[float] = []
    settled: dict[str, Any] | None = None
    with (
        quiet_stdout(),
        patched_env({}, unset=("ACD_CALLBACK_TOKENS",)),
        tempfile.TemporaryDirectory() as data_dir,
    ):
        stack = LocalStack(port=0, aws_port=0, tokens=[TOKEN], data_dir=data_dir)
        stack.start()
        try:
            if default_day:
                settled = _settle_default_day(stack, max_settle_s)
            client = boto3.client("dynamodb", endpoint_url=stack.aws_endpoint, region_name=REGION)
            client.create_table(
                TableName="BenchRawPut",
                KeySchema=[
                    {"AttributeName": "pk", "KeyType": "HASH"},
                    {"AttributeName": "sk", "KeyType": "RANGE"},
                ],
                AttributeDefinitions=[
                    {"AttributeName": "pk", "AttributeType": "S"},
                    {"AttributeName": "sk", "AttributeType": "S"},
                ],
                BillingMode="PAY_PER_REQUEST",
            )
            offset = 0
            for i in range(rounds):
                phases = ("e2e", "raw") if i % 2 == 0 else ("raw", "e2e")
                for phase in phases:
                    if phase == "e2e":
                        chunk = paths[offset : offset + per_round]
                        offset += len(chunk)
                        if len(chunk) < per_round:  # the day is used up: a new one
                            day = simulated_day(seed=11 + i + 1)
                            more = [
                                f"/callback/{TOKEN}?" + urlencode(list(e.params.items()), quote_via=quote)
                                for e in day
                            ]
                            paths, offset = more, 0
                            chunk = paths[:per_round]
                            offset = len(chunk)
                        spec = {"mode": "http", "host": stack.host, "port": stack.port, "paths": chunk}
                        e2e.append(
                            _run_client({**spec, "concurrency": concurrency, "max_seconds": max_seconds})
                        )
                    else:
                        started = time.perf_counter()
                        stack.wait_for_stream_idle(timeout=300)
                        drain_s.append(time.perf_counter() - started)
                        spec = {
                            "mode": "putitem",
                            "endpoint": stack.aws_endpoint,
                            "table": "BenchRawPut",
                            "prefix": f"round{i}",
                            "count": per_round,
                        }
                        raw.append(
                            _run_client({**spec, "concurrency": concurrency, "max_seconds": max_seconds})
                        )
            errors = [e.error for e in stack.errors]
        finally:
            stack.stop()
    e2e_rates = [r["ok"] / r["seconds"] for r in e2e]
    raw_rates = [r["ok"] / r["seconds"] for r in raw]
    not_ok = sum(sum(n for s, n in r["statuses"].items() if not s.startswith("2")) for r in e2e)
    e2e_rate, raw_rate = median(e2e_rates), median(raw_rates)
    return {
        "rounds": rounds,
        "requests_per_round": per_round,
        "concurrency": concurrency,
        "callbacks_per_s": e2e_rate,
        "raw_putitem_per_s": raw_rate,
        "ratio": _ratio(e2e_rate, raw_rate),
        "callbacks_per_s_samples": e2e_rates,
        "raw_putitem_per_s_samples": raw_rates,
        "non_2xx_answers": not_ok,
        "handler_errors": errors,
        "stream_drain_seconds": drain_s,
        # Issue 7: at least 3x the 8 % measured with everything in one process.
        "target_ratio_min": 0.24,
        "default_day": settled,
    }


# =========================================================================== 6. deployment size


def _newest_mtime(paths: Sequence[Path]) -> float:
    newest = 0.0
    for root in paths:
        candidates = [root] if root.is_file() else root.rglob("*")
        for path in candidates:
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                newest = max(newest, path.stat().st_mtime)
    return newest


def _dir_size(root: Path) -> tuple[int, int]:
    """(bytes unzipped, bytes as a deflated zip: what Lambda's upload limit counts)."""
    files = sorted(p for p in root.rglob("*") if p.is_file())
    unzipped = sum(p.stat().st_size for p in files)
    with tempfile.TemporaryFile() as sink:
        with zipfile.ZipFile(sink, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in files:
                archive.write(path, path.relative_to(root))
        zipped = sink.tell()
    return unzipped, zipped


def bench_deployment_size(build: bool = True, build_dir: Path | None = None) -> dict[str, Any]:
    """MB per function and layer under ``.aws-sam/build``; ``make build`` first when the build
    is missing or older than the sources (and ``build`` allows it)."""
    build_dir = build_dir or REPO / ".aws-sam" / "build"
    sources = [REPO / "template.yaml", REPO / "functions", REPO / "layers"]
    expected = [*FUNCTIONS, "SharedLayer"]

    def fresh() -> bool:
        marker = build_dir / "template.yaml"
        return (
            marker.is_file()
            and all((build_dir / name).is_dir() for name in expected)
            and marker.stat().st_mtime >= _newest_mtime(sources)
        )

    note = "reused .aws-sam/build (newer than the sources)"
    if not fresh():
        if build:
            done = subprocess.run(
                ["make", "--no-print-directory", "build"],  # noqa: S607 - make from PATH, our Makefile
                cwd=REPO,
                capture_output=True,
                text=True,
                timeout=900,
                check=False,
            )
            note = "built now with make build"
            if done.returncode != 0:
                note = f"make build failed (exit {done.returncode}): {(done.stderr or done.stdout)[-400:].strip()}"
        else:
            note = "build missing or older than the sources (not rebuilt)"
    stale = not fresh()
    artifacts: dict[str, Any] = {}
    for name in expected:
        path = build_dir / name
        if path.is_dir():
            unzipped, zipped = _dir_size(path)
            artifacts[name] = {"unzipped_mb": unzipped / 1e6, "zipped_mb": zipped / 1e6}
    return {"build_dir": str(build_dir), "stale": stale, "note": note, "artifacts": artifacts}


# =========================================================================== the table


@dataclass
class Row:
    metric: str
    measured: str
    baseline: str = "—"
    ratio: str = "—"
    target: str = "—"
    met: str = "—"

    def cells(self) -> list[str]:
        return [self.metric, self.measured, self.baseline, self.ratio, self.target, self.met]


HEADERS = ["metric", "measured", "baseline", "ratio", "target", "met?"]


def _yes(ok: bool) -> str:
    return "yes" if ok else "**NO**"


def _times(ratio: float | None) -> str:
    return "—" if ratio is None else f"{ratio:.2f}×"


def _at_most(ratio: float | None, limit: float) -> str:
    return _yes(ratio is not None and ratio <= limit)


def rows(results: Mapping[str, Any]) -> list[Row]:
    out: list[Row] = []
    errors = results.get("errors", {})
    if (r := results.get("ingest_warm")) is not None:
        out.append(
            Row(
                "1 ingest handler, warm, per event",
                f"{r['ingest_us_per_event']:.0f} µs",
                f"{r['bare_us_per_event']:.0f} µs (bare)",
                _times(r["ratio"]),
                "≤ 1.30×",
                _at_most(r["ratio"], r["target_ratio_max"]),
            )
        )
        ingest_put, bare_put = r["ingest_put_item_us_per_event"], r["bare_put_item_us_per_event"]
        out.append(
            Row(
                "1 … of which inside boto3 put_item (stubbed HTTP)",
                f"{ingest_put:.0f} µs",
                f"{bare_put:.0f} µs (bare)",
                _times(_ratio(ingest_put, bare_put)),
            )
        )
    if (r := results.get("cold_start")) is not None:
        out.append(
            Row(
                "2 cold start: import of the module",
                f"{r['ingest_import_ms']:.0f} ms",
                f"{r['bare_import_ms']:.0f} ms (bare)",
                _times(r["import_ratio"]),
                "≤ 1.30×",
                _at_most(r["import_ratio"], r["target_ratio_max"]),
            )
        )
        out.append(
            Row(
                "2 cold start: first request after import",
                f"{r['ingest_first_request_ms']:.0f} ms",
                f"{r['bare_first_request_ms']:.0f} ms (bare)",
                _times(r["first_request_ratio"]),
            )
        )
        out.append(
            Row(
                "2 cold start: import + first request",
                f"{r['ingest_cold_total_ms']:.0f} ms",
                f"{r['bare_cold_total_ms']:.0f} ms (bare)",
                _times(r["cold_total_ratio"]),
            )
        )
    if (r := results.get("aggregation")) is not None:
        day = r.get("day_config") or {}
        size = f"{day['agents']} agents, {day['calls']} calls, " if day else ""
        partial = f", first {r['measured_events']} (time budget)" if r.get("partial") else ""
        out.append(
            Row(
                f"3 aggregation, both aggregators, in-process moto (sim day: {size}{r['stored_events']} events{partial})",
                f"{r['events_per_s']:,.0f} events/s",
                f"{r['getitem_events_per_s']:,.0f} GetItem/s",
                _times(r["ratio"]),
                "≥ 2,000 events/s",
                _yes(r["events_per_s"] >= r["target_events_per_s_min"]),
            )
        )
    if (r := results.get("local_e2e")) is not None:
        ok = r["ratio"] is not None and r["ratio"] >= r["target_ratio_min"] and not r["non_2xx_answers"]
        out.append(
            Row(
                f"4 acd-local end to end ({r['concurrency']} clients, stream consumers running, data folder on)",
                f"{r['callbacks_per_s']:.0f} callbacks/s",
                f"{r['raw_putitem_per_s']:.0f} PutItem/s (moto)",
                "—" if r["ratio"] is None else f"{r['ratio'] * 100:.0f} %",
                f"≥ {r['target_ratio_min'] * 100:.0f} %",
                _yes(ok),
            )
        )
        if (d := r.get("default_day")) is not None:
            settle = d["settle_seconds"]
            shown = (
                f"> {d['settle_limit_seconds']:.0f} s (stopped waiting)"
                if settle is None
                else f"{settle:.1f} s"
            )
            kpis = {
                True: "KPIs = simulator's",
                False: "KPIs differ from the simulator's",
                None: "KPIs not compared",
            }[d["kpis_equal_expected"]]
            if (snap := d.get("snapshot")) is not None:
                out.append(
                    Row(
                        "4 acd-local: one compaction of the data folder after that day",
                        f"{snap['total_seconds']:.1f} s ({snap['items']:,} items, {snap['bytes'] / 1e6:.1f} MB)",
                    )
                )
            out.append(
                Row(
                    "4 acd-local: README's default acd-sim day, reports settled after the last callback",
                    f"{shown} ({kpis}; sent in {d['send_seconds']:.0f} s)",
                    "—",
                    "—",
                    f"≤ {d['target_settle_seconds_max']:.0f} s",
                    _yes(
                        settle is not None
                        and settle <= d["target_settle_seconds_max"]
                        and d["kpis_equal_expected"] is not False
                    ),
                )
            )
    if (r := results.get("aggregation")) is not None:
        d = r["dynamodb"]
        for label, key in (
            ("ingested event", "ingest"),
            ("duplicate callback", "duplicate"),
            ("aggregated event", "aggregation"),
        ):
            part = d[key]
            if part["requests_per_event"] is None:
                continue
            calls = ", ".join(f"{op} {n / part['events']:.2f}" for op, n in sorted(part["calls"].items()))
            out.append(Row(f"5 DynamoDB requests per {label}", f"{part['requests_per_event']:.2f} ({calls})"))
            out.append(Row(f"5 items written per {label}", f"{part['items_written_per_event']:.2f}"))
            if part.get("items_read_per_event") is not None:
                out.append(Row(f"5 items read per {label}", f"{part['items_read_per_event']:.1f}"))
    if (r := results.get("deployment_size")) is not None:
        for name, size in r["artifacts"].items():
            suffix = " (stale build)" if r["stale"] else ""
            out.append(
                Row(
                    f"6 size of {name}",
                    f"{_size(size['unzipped_mb'])} unzipped, {_size(size['zipped_mb'])} zipped{suffix}",
                )
            )
    if (r := results.get("aggregation_scaling")) is not None:
        out += scaling_rows(r)
    for part, message in errors.items():
        out.append(Row(f"{part}: not measured", f"error: {message[:120]}", met="**NO**"))
    return out


def _day_label(run: Mapping[str, Any]) -> str:
    if run["partial"]:
        return (
            f"{run['factor']}× day: first {run['events']:,} of {run['stored_events']:,} events (time budget)"
        )
    return f"{run['factor']}× day ({run['stored_events']:,} events)"


def scaling_rows(r: Mapping[str, Any]) -> list[Row]:
    """The scaling section's targets: per batch size, each per-event figure on the largest day
    against the smallest (≤ 1.15×), and each day's events/s against moto's GetItem/s (≥ 0.5×)."""
    out: list[Row] = []
    limit, floor = r["target_growth_max"], r["target_rate_ratio_min"]
    for batch_size in r["batch_sizes"]:
        growth = r["growth"].get(str(batch_size))
        if growth is not None:
            budget = " (time budget hit: part of a day)" if growth["partial"] else ""
            for key, label in PER_EVENT_FIGURES:
                figure = growth[key]
                out.append(
                    Row(
                        f"7 {label} per aggregated event, batches of {batch_size}: "
                        f"{growth['to_factor']}× day vs {growth['from_factor']}×{budget}",
                        _figure(figure["large"]),
                        f"{_figure(figure['small'])} ({growth['from_factor']}×)",
                        _times(figure["ratio"]),
                        f"≤ {limit:.2f}×",
                        _at_most(figure["ratio"], limit),
                    )
                )
        for run in sorted((x for x in r["runs"] if x["batch_size"] == batch_size), key=lambda x: x["factor"]):
            failures = f", {run['batch_item_failures']} failed records" if run["batch_item_failures"] else ""
            out.append(
                Row(
                    f"7 aggregation, batches of {batch_size}, {_day_label(run)}{failures}",
                    f"{run['events_per_s']:,.1f} events/s",
                    f"{run['getitem_per_s']:,.0f} GetItem/s",
                    _times(run["ratio"]),
                    f"≥ {floor:.2f}×",
                    _yes(
                        run["ratio"] is not None and run["ratio"] >= floor and not run["batch_item_failures"]
                    ),
                )
            )
    return out


def _largest(report_items: Mapping[str, Mapping[str, int]]) -> str:
    if not report_items:
        return "—"
    kind, sizes = max(report_items.items(), key=lambda entry: entry[1]["max_bytes"])
    return f"{sizes['max_bytes'] / 1000:.1f} kB ({kind})"


def _figure(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


SCALING_HEADERS = [
    "batch",
    "day",
    "events measured",
    "agent day (events)",
    "hotline day (calls)",
    "requests / event",
    "items read / event",
    "items written / event",
    "events/s",
    "GetItem/s",
    "ratio",
    "largest reports item",
]


def scaling_table(r: Mapping[str, Any]) -> list[list[str]]:
    """Every run of the scaling section, a line each: the day's size, the DynamoDB work per
    aggregated event (by operation) and the rates."""
    lines = []
    for run in sorted(r["runs"], key=lambda x: (x["batch_size"], x["factor"])):
        shape = run["day"]
        ops = ", ".join(f"{op} {n:.2f}" for op, n in run["calls_per_event"].items())
        lines.append(
            [
                str(run["batch_size"]),
                f"{run['factor']}× ({run['day_config']['agents']} agents, {run['day_config']['calls']} + "
                f"{run['day_config']['outbound']} calls)",
                f"{run['events']:,} of {run['stored_events']:,}" if run["partial"] else f"{run['events']:,}",
                f"{shape['agent_day_events']['mean']:.0f} (max {shape['agent_day_events']['max']})",
                f"{shape['hotline_day_calls']['mean']:.0f} (max {shape['hotline_day_calls']['max']})",
                f"{_figure(run['requests_per_event'])} ({ops})",
                _figure(run["items_read_per_event"]),
                _figure(run["items_written_per_event"]),
                f"{run['events_per_s']:,.1f}",
                f"{run['getitem_per_s']:,.0f}",
                _times(run["ratio"]),
                _largest(run.get("report_items") or {}),
            ]
        )
    return lines


def _size(megabytes: float) -> str:
    return f"{megabytes:.2f} MB" if megabytes >= 1 else f"{megabytes * 1000:.1f} kB"


def text_table(table: Sequence[Row]) -> str:
    return _text_lines(HEADERS, [row.cells() for row in table])


def _text_lines(headers: Sequence[str], body: Sequence[Sequence[str]]) -> str:
    cells = [list(headers), *body]
    widths = [max(len(line[i]) for line in cells) for i in range(len(headers))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in cells
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def markdown_table(table: Sequence[Row]) -> str:
    return _markdown_lines(HEADERS, [row.cells() for row in table])


def _markdown_lines(headers: Sequence[str], body: Sequence[Sequence[str]]) -> str:
    def escape(text: str) -> str:
        return text.replace("|", "\\|")

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(escape(c) for c in line) + " |" for line in body]
    return "\n".join(lines)


def markdown(results: Mapping[str, Any]) -> str:
    machine = results["machine"]
    parts = [
        "# Benchmarks",
        "",
        "Written by `make bench` (`python -m acd_tools.bench`); the full figures are in "
        "`bench-results.json` (not committed). Every ratio is measured side by side in one run, "
        "repetitions interleaved, medians: on a noisy machine read the ratios, not the absolute "
        "times. A target that is missed says **NO**.",
        "",
        f"Last run: {results['generated_at']} on {machine['cpus']} CPUs, Python {machine['python']} "
        f"({machine['platform']}), {results['seconds']:.0f} s.",
        "",
        markdown_table(rows(results)),
        "",
        "## How each figure is measured",
        "",
        "1. **Ingest, warm**: `functions/ingest/app.py` (the real module, Powertools resolver, "
        "logger and metrics included, output to /dev/null) vs a bare handler doing `parse_qs` of "
        "the query (or form body) and one conditional `PutItem`. Both call the *same* boto3 "
        "DynamoDB client whose HTTP layer is stubbed by a `before-send` hook, so serialization, "
        "signing and parsing run and the network does not. Events: the valid samples of "
        "`events/ingest/` and agentstate/callevent requests of an `acd-sim` day (GET, PUT with a "
        "form body, HEAD). The two handlers take turns event by event, medians over rounds; the "
        "second row is the part of each spent inside boto3's `put_item`.",
        "2. **Cold start**: a fresh interpreter per run (`LAMBDA_TASK_ROOT` set, `.pyc` present, "
        "the layer on `sys.path` as `/opt/python` would be) times `import app` of the ingest "
        "function vs a bare module that imports boto3 and creates a DynamoDB client; then the "
        "first request (`events/ingest/agentstate-get.json`, same stub) — so work moved from the "
        "import to the first request shows up in the third row.",
        f"3. **Aggregation**: an `acd-sim` day ({AGGREGATION_DAY['agents']} agents, "
        f"{AGGREGATION_DAY['calls']} inbound and {AGGREGATION_DAY['outbound']} outbound calls: a "
        "small center's whole day; section 7 grows it) stored with the real ingest "
        "code into moto's in-process DynamoDB, its INSERT records filtered per function by the template's filter "
        "criteria and handed to `aggregate_batch` in batches of 100; events/s = stored events ÷ "
        "the time of both aggregators. Baseline: one consistent `GetItem` per event on the same "
        "moto, its chunks interleaved with the batches.",
        "4. **acd-local end to end**: `LocalStack` as `make run` starts it, on free ports (its "
        "data folder and its journal on; moto and each stream consumer in a process of its own), a "
        "child process with concurrent keep-alive HTTP clients sending an `acd-sim` day as GET "
        "callbacks; vs conditional `PutItem`s of fresh keys with the same concurrency against the "
        "same moto server (stream consumers drained first), phases interleaved, medians. Target: "
        "3× the 8 % measured when everything shared one process. Before that, the README's "
        "default day (`acd-sim` with its defaults: 12 agents, 300 inbound and 40 outbound calls) "
        "is sent by `acd-sim` in its own process; the settle time runs from its last answer until "
        "every stream consumer has handled every record, after which each hotline's KPIs are "
        "compared with the simulator's.",
        "5. **DynamoDB requests and items written**: botocore hooks on "
        "the client during 3 (a tenth of the day delivered twice for the duplicate row). Per "
        "aggregated event: summed over both aggregators, per stored event, batches of 100 "
        "(section 7 has them for batches of 10 too, and for larger days).",
        "6. **Deployment size**: each directory of `.aws-sam/build` (`make build` when it is "
        "missing or older than the sources), unzipped and as a deflated zip.",
        "7. **Aggregation scaling**: " + SCALING_METHOD,
    ]
    if (scaling := results.get("aggregation_scaling")) is not None:
        parts += [
            "",
            "## Aggregation scaling (7), every run",
            "",
            f"Base day: {scaling['base']['agents']} agents, {scaling['base']['calls']} inbound and "
            f"{scaling['base']['outbound']} outbound calls; the {'×, '.join(str(f) for f in scaling['factors'])}× "
            "days multiply the calls and keep the agents and hotlines. Requests, items read and items "
            "written are per stored event (both aggregators summed; the requests by operation in "
            f"brackets); each run had at most {scaling['max_seconds']:.0f} s.",
            "",
            _markdown_lines(SCALING_HEADERS, scaling_table(scaling)),
        ]
    if (cold := results.get("cold_start")) is not None and cold.get("ingest_import_breakdown"):
        parts += [
            "",
            "## Where the ingest module's import time goes",
            "",
            "`python -X importtime` (one run; nested entries overlap): what `app` and the "
            "`acd_hub` modules import, the largest first:",
            "",
            "| module | imported by | cumulative ms |",
            "|---|---|---|",
            *[
                f"| `{e['module']}` | `{e['imported_by']}` | {e['cumulative_ms']:.1f} |"
                for e in cold["ingest_import_breakdown"]
            ],
        ]
    parts += ["", NOTES.strip(), ""]
    return "\n".join(parts)


SCALING_METHOD = (
    "days of 1×, 4× and 16× a base day (`acd-sim`, same agents and hotlines, the inbound and "
    "outbound calls multiplied, so each hotline's day and each agent's day grows), each stored "
    "by the real ingest into a fresh in-process moto. Its INSERT records, in stored order and "
    "filtered per function by the template's filter criteria, go through `aggregate_batch` with "
    "both real aggregators in batches of 10 (what a shard delivers at low traffic on AWS) and "
    "of 100 (the mapping's `BatchSize`, when the stream is behind), each batch size into its own "
    "empty reports table. botocore hooks count the requests by operation, the items read (a "
    "query's `ScannedCount`, the items a get or `BatchGetItem` returns) and written (each item "
    "of a transaction or batch on its own; a cancelled transaction writes none), per stored "
    "event. Targets: each per-event figure on the 16× day at most 1.15× its 1× value; "
    "events/s at least 0.5× the rate of consistent `GetItem`s of the same events on the same "
    "moto, in chunks interleaved with the batches. A run that exceeds its time budget measured "
    "the first part of its day only (the morning: smaller reports than the day's end) and says so."
)


NOTES = """
## Notes

* Cold start: what a first request does not need is not imported or built at import time. The
  callback models are validated per `cmd` and built when their `cmd` first arrives (one of eight
  for a first request, not all eight at import), and `phonenumbers` is imported when the first
  phone number is parsed. The rest of the import is the stack itself (see the table above): boto3
  and the DynamoDB client are in the baseline too; pydantic, `pydantic_settings` (which imports
  `asyncio`, `argparse`, dotenv and every settings source when imported), Powertools' logger,
  metrics and HTTP resolver are what the ingest adds.
* Warm: the row below the warm one shows how much of each handler's time is the one boto3
  `put_item` (the stored item — normalized event *and* raw parameters, nested maps — is larger
  than the bare handler's flat one, and botocore validates and serializes it per request); the
  rest is the handler's own work: Powertools' resolver, decoding and validating the parameters,
  phone numbers, building and serializing the item, one structured log line and the EMF
  metrics per request.
* Section 7, items read: what grows is CallStats' queries (counted in a diagnostic run of the
  1× and 4× days, batches of 10). A query of an agent's events from a call's start reads a page
  of 25, and is billed by what it scans: on the 1× day an agent has often fewer than 25 events
  left after a call's start (17 scanned on average), on the 4× day almost always (23); the page
  caps it at 25. And the scaled days are not the 1× day repeated: the same four agents get 4×
  and 16× the calls, so a day has more calls per event (0.083 → 0.102 per stored event from 1×
  to 4×) and each call is recomputed a little more often (2.2 → 2.5 times) as it waits longer
  in the queue. Per call and per agent query the work is bounded; per event of these days it
  still grows, and the target is missed as shown. Requests and items written per event do not
  grow. A run that hit its time budget measured the first part of its day only (the morning).
* In-process moto runs with `acd_tools.moto_fixes` installed, as `acd-local` does: unpatched,
  a transaction deep-copies every table it touches and a base-table query walks the whole
  table, so moto's own cost would grow with the day whatever the aggregators do.
* Rates in 3, 4 and 7 are moto's: in-process moto serializes every response item through its
  generic serializer (a few ms per event item on this machine), moto server adds HTTP. They are
  the local stack's figures, not DynamoDB's; the request counts in 5 are what carries over.
"""


# =========================================================================== main

PARTS: dict[str, Callable[..., dict[str, Any]]] = {
    "ingest_warm": bench_ingest_warm,
    "cold_start": bench_cold_start,
    "aggregation": bench_aggregation,
    "aggregation_scaling": bench_aggregation_scaling,
    "local_e2e": bench_local_e2e,
    "deployment_size": bench_deployment_size,
}
QUICK: dict[str, dict[str, Any]] = {
    "ingest_warm": {"rounds": 5, "sim_events": 40},
    "cold_start": {"repetitions": 3, "warmups": 1},
    "aggregation": {"limit": 400},
    "aggregation_scaling": {
        "base": {"agents": 2, "calls": 3, "outbound": 1},
        "factors": (1, 4),
        "batch_sizes": (10,),
        "max_seconds": 30.0,
    },
    "local_e2e": {"rounds": 2, "per_round": 100, "max_seconds": 10.0, "default_day": False},
    "deployment_size": {"build": False},
}


@dataclass
class Run:
    only: Sequence[str] = field(default_factory=lambda: list(PARTS))
    quick: bool = False
    build: bool = True


def run(options: Run, progress: Callable[[str], None] = lambda _: None) -> dict[str, Any]:
    started = time.perf_counter()
    results: dict[str, Any] = {
        "generated_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": f"{platform.system()} {platform.machine()}",
        },
        "errors": {},
    }
    for name in options.only:
        kwargs = dict(QUICK[name]) if options.quick else {}
        if name == "deployment_size" and not options.build:
            kwargs["build"] = False
        progress(f"{name} ...")
        part_started = time.perf_counter()
        try:
            results[name] = PARTS[name](**kwargs)
        except Exception as exc:  # one broken part must not cost the others' figures
            results["errors"][name] = f"{type(exc).__name__}: {exc}"
        progress(f"{name}: {time.perf_counter() - part_started:.0f} s")
    results["seconds"] = time.perf_counter() - started
    results["rows"] = [row.cells() for row in rows(results)]
    return results


def _client_main(spec_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text(encoding="utf-8"))
    result = _client_http(spec) if spec["mode"] == "http" else _client_putitem(spec)
    print(RESULT_MARK + json.dumps(result), flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="acd-bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("bench-results.json"), help="JSON results")
    parser.add_argument("--md", type=Path, default=REPO / "docs" / "bench.md", help="markdown table")
    parser.add_argument("--no-md", action="store_true", help="do not write the markdown table")
    parser.add_argument("--only", default=",".join(PARTS), help=f"comma-separated: {', '.join(PARTS)}")
    parser.add_argument("--quick", action="store_true", help="tiny repetition counts (a smoke run)")
    parser.add_argument("--no-build", action="store_true", help="never run make build for the sizes")
    parser.add_argument("--client", help=argparse.SUPPRESS)  # a load-generating child process
    args = parser.parse_args(argv)
    if args.client:
        _client_main(args.client)
        return 0
    only = [part.strip() for part in args.only.split(",") if part.strip()]
    unknown = set(only) - set(PARTS)
    if unknown:
        parser.error(f"unknown part(s): {', '.join(sorted(unknown))}")

    def progress(message: str) -> None:
        print(f"[bench] {message}", file=sys.stderr, flush=True)

    results = run(Run(only=only, quick=args.quick, build=not args.no_build), progress)
    args.out.write_text(json.dumps(results, indent=2, default=str) + "\n", encoding="utf-8")
    if not args.no_md:
        args.md.parent.mkdir(parents=True, exist_ok=True)
        args.md.write_text(markdown(results), encoding="utf-8")
    print(text_table(rows(results)))
    if (scaling := results.get("aggregation_scaling")) is not None:
        print("\n7 aggregation scaling, every run (per stored event, both aggregators):")
        print(_text_lines(SCALING_HEADERS, scaling_table(scaling)))
    print(f"\nwritten: {args.out}" + ("" if args.no_md else f", {args.md}"))
    return 1 if results["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
