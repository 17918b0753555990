"""``make sam-local-test``: the functions under SAM's own local tooling, answers checked.

Run by ``tools/sam_local/run.sh``, which provides a Docker daemon and the Lambda base image and
passes the address at which containers reach this machine (Docker's default bridge gateway).
This driver then

1. runs ``sam build`` (no container) into ``.aws-sam/sam-local-test/``;
2. starts a moto server on that address and creates the template's tables and topics on it
   (:func:`acd_devkit.moto_resources.provision`: one SQS queue subscribed to each topic, too);
3. runs ``sam local invoke`` for every file in ``events/ingest/`` (IngestFunction) and
   ``events/fanout/`` (FanoutFunction) with an env.json from :func:`sample_events.env_vars`
   pointing the containers at the moto server, and checks each answer: good samples 200 with
   status stored/duplicate (HEAD: no body), ``bad-*`` samples 400 naming the parameter,
   stream samples ``{"batchItemFailures": []}``;
4. checks the effects on the moto server: each good sample's item under its keys, each bad one
   quarantined under its request id, each fan-out message in the queue of its topic;
5. runs ``sam local start-api --warm-containers EAGER`` and sends real GET, HEAD and PUT requests
   (and one bad GET) to ``/callback/local-dev-token``, then stops it by its PID;
6. prints a table (check, expected, got) and exits 1 on any mismatch.

Why not ``--docker-network host``: SAM CLI 1.170 accepts it but never puts a container on the
host network (it only skips connecting the container to a network named "host"), so the
containers stay on Docker's default bridge and 127.0.0.1 there is the container itself. They
reach the moto server at the bridge gateway instead, by the name host.docker.internal
(``--add-host``), as env.json spells it.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from acd_devkit import lambda_events, moto_fixes, sample_events
from acd_devkit.template import sam_build_args

if TYPE_CHECKING:
    from moto.server import ThreadedMotoServer

    from acd_devkit.moto_resources import AwsClients, ProvisionedResources

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "template.yaml"
EVENTS = REPO / "events"
BUILD_ROOT = REPO / ".aws-sam" / "sam-local-test"
REGION = sample_events.REGION
TOKEN = sample_events.TOKEN
HOST_ALIAS = "host.docker.internal"
DUMMY_CREDENTIAL = "testing"
EVENTS_TABLE = "EventsTable"
# Which topic each fanned-out cmd goes to (env_vars: ACD_CONFIG_TOPIC_ARN <- ConfigChangedTopic).
FANOUT_TOPICS = {"configchanged": "ConfigChangedTopic", "broadcastevent": "BroadcastTopic"}
BUILD_TIMEOUT = 600
INVOKE_TIMEOUT = 180
START_API_TIMEOUT = 300
# A real profile or session in the caller's shell must not reach sam (nor AWS).
_UNSET_AWS_ENV = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")
_CONTAINER_ID = re.compile(r"SAM_CONTAINER_ID: ([0-9a-f]{12,64})")


class CheckFailed(Exception):
    """A step could not run at all (its details are in the message and the logs)."""


@dataclass
class Row:
    check: str
    expected: str
    got: str
    ok: bool
    seconds: float | None = None


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    timings: list[tuple[str, float]] = field(default_factory=list)

    def add(self, check: str, expected: str, got: str, ok: bool, seconds: float | None = None) -> bool:
        self.rows.append(Row(check, expected, got, ok, seconds))
        took = f" ({seconds:.1f}s)" if seconds is not None else ""
        print(
            f"  {'ok  ' if ok else 'FAIL'} {check}{took}: {got}" + ("" if ok else f"  [expected {expected}]"),
            flush=True,
        )
        return ok

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        print(f"--- {name}", flush=True)
        start = time.monotonic()
        try:
            yield
        finally:
            self.timings.append((name, time.monotonic() - start))

    @property
    def failed(self) -> int:
        return sum(not row.ok for row in self.rows)

    def print_summary(self) -> None:
        def cut(text: str, width: int) -> str:
            text = " ".join(text.split())
            return text if len(text) <= width else text[: width - 1] + "…"

        header = ("check", "expected", "got", "s", "result")
        cells = [
            (
                cut(r.check, 52),
                cut(r.expected, 40),
                cut(r.got, 40),
                "" if r.seconds is None else f"{r.seconds:.1f}",
                "ok" if r.ok else "FAIL",
            )
            for r in self.rows
        ]
        widths = [max(len(c[i]) for c in [header, *cells]) for i in range(len(header))]
        print()
        for cell in [header, tuple("-" * w for w in widths), *cells]:
            print(
                "  ".join(
                    c.rjust(w) if i == 3 else c.ljust(w)
                    for i, (c, w) in enumerate(zip(cell, widths, strict=True))
                ).rstrip()
            )
        print()
        print("timings: " + ", ".join(f"{name} {seconds:.0f}s" for name, seconds in self.timings))
        print(f"sam_local: {len(self.rows) - self.failed} passed, {self.failed} failed", flush=True)


# --- processes -------------------------------------------------------------------------------


def free_port(address: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((address, 0))
        return int(probe.getsockname()[1])


def sam_environment(aws_endpoint: str) -> dict[str, str]:
    """The environment sam runs in: dummy credentials (sam hands them to the containers) and
    every AWS API it calls itself on the moto server. sam asks STS for the account id on each
    invoke; without an endpoint that call would try to leave the machine (and time out)."""
    env = {name: value for name, value in os.environ.items() if name not in _UNSET_AWS_ENV}
    env.update(
        {
            "AWS_ACCESS_KEY_ID": DUMMY_CREDENTIAL,
            "AWS_SECRET_ACCESS_KEY": DUMMY_CREDENTIAL,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "AWS_ENDPOINT_URL": aws_endpoint,
            "AWS_ENDPOINT_URL_STS": aws_endpoint,
            "AWS_EC2_METADATA_DISABLED": "true",
            "SAM_CLI_TELEMETRY": "0",
        }
    )
    return env


@dataclass
class Sam:
    executable: str
    env: dict[str, str]
    logs: Path
    container_ids: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def run(self, args: Sequence[str], log_name: str, timeout: float) -> subprocess.CompletedProcess[str]:
        command = [self.executable, *args]
        try:
            result = subprocess.run(  # noqa: S603 - our own sam, our own arguments
                command,
                cwd=REPO,
                env=self.env,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired as exc:
            raise CheckFailed(
                f"sam {args[0]} {args[1] if len(args) > 1 else ''} timed out after {timeout:.0f}s"
            ) from exc
        log = self.logs / log_name
        log.write_text(
            f"$ {' '.join(command)}\n(exit {result.returncode})\n--- stdout ---\n{result.stdout}\n"
            f"--- stderr ---\n{result.stderr}",
            encoding="utf-8",
        )
        with self.lock:
            self.container_ids.update(_CONTAINER_ID.findall(result.stderr))
        return result

    def remove_leftover_containers(self) -> None:
        """Containers sam started and did not remove (an interrupted run), by their ids."""
        docker = shutil.which("docker")
        if not self.container_ids or docker is None:
            return
        listed = subprocess.run(  # noqa: S603 - docker from PATH, fixed arguments
            [docker, "ps", "-aq", "--no-trunc"], capture_output=True, text=True, check=False, timeout=60
        )
        leftovers = sorted(set(listed.stdout.split()) & self.container_ids)
        if leftovers:
            # sam local start-api does not always remove every warm container when it stops
            print(f"removing container(s) sam left behind: {' '.join(c[:12] for c in leftovers)}", flush=True)
            subprocess.run([docker, "rm", "-f", *leftovers], capture_output=True, check=False, timeout=120)  # noqa: S603


def tail(text: str, lines: int = 25) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


# --- expectations ----------------------------------------------------------------------------


def expected_bad_parameters(name: str) -> set[str]:
    """Which parameters the ingest's own validation names for a bad sample."""
    from acd_hub.errors import BadCallback  # noqa: PLC0415
    from acd_hub.models import ParseContext, parse_callback  # noqa: PLC0415
    from acd_hub.params import merge_parameters  # noqa: PLC0415

    try:
        parse_callback(merge_parameters(sample_events.SAMPLES[name]), ParseContext(sample_events.ACD_ZONE))
    except BadCallback as exc:
        return {error.parameter for error in exc.errors}
    raise CheckFailed(f"sample {name} is named bad-* but validates")


def parse_invoke_output(stdout: str) -> Any:
    """The function's response, which sam prints on stdout."""
    text = stdout.strip()
    for candidate in (text, *reversed(text.splitlines())):
        with contextlib.suppress(ValueError):
            return json.loads(candidate)
    return None


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _body(response: Mapping[str, Any]) -> Any:
    body = response.get("body")
    if not body:
        return None
    try:
        return json.loads(body)
    except ValueError:
        return body


def check_ingest_answer(
    report: Report, label: str, name: str, response: Any, found: dict[str, Any], *, seconds: float
) -> None:
    method = name.rsplit("-", 1)[1]
    if not isinstance(response, dict):
        report.add(label, "an HTTP API response", f"unparseable output {response!r}", False, seconds)
        return
    status = response.get("statusCode")
    body = _body(response)
    if name.startswith("bad-"):
        expected = expected_bad_parameters(name)
        named = {str(e.get("parameter")) for e in body.get("errors", [])} if isinstance(body, dict) else set()
        got = f"{status} errors: {', '.join(sorted(named))}" if named else f"{status} {_text(body)}"
        ok = status == 400 and named == expected
        report.add(label, f"400 errors: {', '.join(sorted(expected))}", got, ok, seconds)
        if ok and isinstance(body, dict):
            found.setdefault("rejected", {})[name] = str(body.get("request_id", ""))
        return
    if method == "head":
        got = f"{status}, " + ("empty body" if not response.get("body") else f"body {response.get('body')}")
        report.add(label, "200, empty body", got, status == 200 and not response.get("body"), seconds)
        return
    outcome = body.get("status") if isinstance(body, dict) else None
    ok = status == 200 and outcome in ("stored", "duplicate")
    report.add(label, "200 stored|duplicate", f"{status} {outcome or _text(body)}", ok, seconds)
    if ok and isinstance(body, dict):
        found.setdefault("event_keys", {})[name] = str(body.get("event_key"))


def stream_image(path: Path) -> dict[str, Any]:
    from boto3.dynamodb.types import TypeDeserializer  # noqa: PLC0415

    record = json.loads(path.read_text(encoding="utf-8"))["Records"][0]
    deserializer = TypeDeserializer()
    return {key: deserializer.deserialize(value) for key, value in record["dynamodb"]["NewImage"].items()}


# --- the checks --------------------------------------------------------------------------------


def invoke_samples(
    report: Report, sam: Sam, build_template: Path, env_file: Path, gateway: str, *, jobs: int
) -> dict[str, Any]:
    """sam local invoke for every file in events/ingest and events/fanout, ``jobs`` at a time
    (each is a cold start in a new container); answers are checked in file order."""
    found: dict[str, Any] = {}
    cases = [("IngestFunction", p) for p in sorted((EVENTS / "ingest").glob("*.json"))]
    cases += [("FanoutFunction", p) for p in sorted((EVENTS / "fanout").glob("*.json"))]
    if not any(f == "IngestFunction" for f, _ in cases) or not any(f == "FanoutFunction" for f, _ in cases):
        raise CheckFailed(f"no samples in {EVENTS}/ingest or {EVENTS}/fanout")

    def invoke(case: tuple[str, Path]) -> tuple[subprocess.CompletedProcess[str], float]:
        function, path = case
        relative = path.relative_to(EVENTS).as_posix()
        started = time.monotonic()
        result = sam.run(
            [
                "local",
                "invoke",
                function,
                "--template-file",
                str(build_template),
                "--event",
                str(path),
                *local_options(env_file, gateway),
            ],
            log_name=f"invoke-{relative.replace('/', '-')}.log",
            timeout=INVOKE_TIMEOUT,
        )
        return result, time.monotonic() - started

    pool = ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="sam-invoke")
    try:
        for (function, path), (result, seconds) in zip(cases, pool.map(invoke, cases), strict=True):
            relative = path.relative_to(EVENTS).as_posix()
            label = f"invoke {relative}"
            response = parse_invoke_output(result.stdout)
            if result.returncode != 0 and response is None:
                got = f"sam exited {result.returncode}: {tail(result.stderr, 3)}"
                report.add(label, "an answer", got, ok=False, seconds=seconds)
            elif function == "FanoutFunction":
                ok = response == {"batchItemFailures": []}
                report.add(label, '{"batchItemFailures": []}', json.dumps(response), ok, seconds)
                image = stream_image(path)
                found.setdefault("fanned_out", {})[relative] = (image["cmd"], image["event_key"])
            else:
                check_ingest_answer(report, label, path.stem, response, found, seconds=seconds)
            if not report.rows[-1].ok:
                print(tail(result.stderr), file=sys.stderr)
    finally:
        # Interrupted: start no further invoke (those running end within INVOKE_TIMEOUT).
        pool.shutdown(wait=True, cancel_futures=True)
    return found


def check_table(
    report: Report, clients: AwsClients, names: Sequence[str], event_keys: Mapping[str, str]
) -> None:
    """Each good sample's item is in the events table under the keys its own code gives it."""
    for name in names:
        item = sample_events.stored_item(name)
        check_item(report, clients, f"stored ingest/{name}.json", item, event_keys.get(name))


def check_item(
    report: Report, clients: AwsClients, label: str, item: Mapping[str, Any], answered_key: str | None
) -> None:
    expected_key = str(item["event_key"])
    response = clients.dynamodb.query(
        TableName=EVENTS_TABLE,
        KeyConditionExpression="pk = :pk AND sk = :sk",
        ExpressionAttributeValues={":pk": {"S": str(item["pk"])}, ":sk": {"S": str(item["sk"])}},
    )
    stored = [i.get("event_key", {}).get("S") for i in response["Items"]]
    got = f"{len(stored)} item {item['pk']}" + (f" {stored[0]}" if stored else "")
    ok = stored == [expected_key] and answered_key in (None, expected_key)
    if answered_key not in (None, expected_key):
        got += f"; the answer said {answered_key}"
    report.add(label, f"1 item {item['pk']} {expected_key}", got, ok)


def check_rejected(report: Report, clients: AwsClients, rejected: Mapping[str, str]) -> None:
    """Each bad request is quarantined under its request id."""
    sort_keys: list[str] = []
    for page in clients.dynamodb.get_paginator("scan").paginate(
        TableName=EVENTS_TABLE,
        FilterExpression="begins_with(pk, :rejected)",
        ExpressionAttributeValues={":rejected": {"S": "REJECTED#"}},
    ):
        sort_keys += [item["sk"]["S"] for item in page["Items"]]
    for name, request_id in sorted(rejected.items()):
        hits = [sk for sk in sort_keys if request_id and sk.endswith(f"#{request_id}")]
        report.add(
            f"quarantined ingest/{name}.json",
            f"1 REJECTED# item, request {request_id}",
            f"{len(hits)} REJECTED# item, request {request_id}",
            len(hits) == 1,
        )


def check_fanout_messages(
    report: Report,
    clients: AwsClients,
    resources: ProvisionedResources,
    fanned_out: Mapping[str, tuple[str, str]],
) -> None:
    """Each fanned-out event arrived in the SQS queue subscribed to its cmd's topic."""
    received: dict[str, list[dict[str, Any]]] = {topic: [] for topic in resources.subscriber_queue_urls}
    wanted = {FANOUT_TOPICS.get(cmd, "?") for cmd, _ in fanned_out.values()}
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        for topic in wanted & set(received):
            queue = resources.subscriber_queue_urls[topic]
            messages = clients.sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=1)
            for message in messages.get("Messages", []):
                received[topic].append(json.loads(message["Body"]))
                clients.sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
        if all(_delivered(received, resources, cmd, key) for cmd, key in fanned_out.values()):
            break
    for relative, (cmd, key) in sorted(fanned_out.items()):
        topic = FANOUT_TOPICS.get(cmd, "?")
        envelopes = _matching(received, resources, cmd, key)
        got = f"{len(envelopes)} message"
        if envelopes:
            got += f" {json.loads(envelopes[0]['Message']).get('cmd')} {key}"
        report.add(
            f"{topic} -> SQS has {relative}",
            f"1 message {cmd} {key}",
            got,
            len(envelopes) == 1 and json.loads(envelopes[0]["Message"]).get("cmd") == cmd,
        )


def _matching(
    received: Mapping[str, list[dict[str, Any]]], resources: ProvisionedResources, cmd: str, key: str
) -> list[dict[str, Any]]:
    topic = FANOUT_TOPICS.get(cmd, "?")
    arn = resources.topic_arns.get(topic)
    return [
        envelope
        for envelope in received.get(topic, [])
        if envelope.get("TopicArn") == arn
        and json.loads(envelope.get("Message", "{}")).get("event_key") == key
    ]


def _delivered(
    received: Mapping[str, list[dict[str, Any]]], resources: ProvisionedResources, cmd: str, key: str
) -> bool:
    return bool(_matching(received, resources, cmd, key))


# --- sam local start-api --------------------------------------------------------------------------


def fresh(name: str, offset_ms: int) -> list[tuple[str, str]]:
    """Sample ``name``'s parameters with a new numeric eventtime: an event not stored yet."""
    now_ms = int(time.time() * 1000) - offset_ms
    pairs = [(k, str(now_ms) if k == "eventtime" else v) for k, v in sample_events.SAMPLES[name]]
    if dict(pairs).get("eventtime") != str(now_ms):
        raise CheckFailed(f"sample {name} has no numeric eventtime to refresh")
    return pairs


def local_options(env_file: Path, gateway: str) -> list[str]:
    """What ``sam local invoke`` and ``start-api`` are both given: the functions' environment,
    the images as they are, the host's address inside the containers, the region."""
    return [
        "--env-vars",
        str(env_file),
        "--skip-pull-image",
        "--add-host",
        f"{HOST_ALIAS}:{gateway}",
        "--region",
        REGION,
    ]


@contextlib.contextmanager
def start_api(sam: Sam, build_template: Path, env_file: Path, gateway: str, port: int) -> Iterator[int]:
    """sam local start-api on 127.0.0.1:port, stopped by its PID when the block ends."""
    log_path = sam.logs / "start-api.log"
    command = [
        sam.executable,
        "local",
        "start-api",
        "--template-file",
        str(build_template),
        *local_options(env_file, gateway),
        "--warm-containers",
        "EAGER",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    with log_path.open("w", encoding="utf-8") as log:
        log.write(f"$ {' '.join(command)}\n")
        log.flush()
        # Its own session: a Ctrl-C on the terminal reaches this driver, which stops it in order.
        process = subprocess.Popen(  # noqa: S603 - our own sam, our own arguments
            command,
            cwd=REPO,
            env=sam.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        print(f"sam local start-api PID {process.pid} on 127.0.0.1:{port} (log {log_path})", flush=True)
        try:
            _wait_for_port(process, port, log_path)
            yield process.pid
        finally:
            _stop(process)
            sam.container_ids.update(_CONTAINER_ID.findall(log_path.read_text(encoding="utf-8")))


def _wait_for_port(process: subprocess.Popen[bytes], port: int, log_path: Path) -> None:
    deadline = time.monotonic() + START_API_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise CheckFailed(
                f"sam local start-api exited {process.returncode}:\n{tail(log_path.read_text(encoding='utf-8'))}"
            )
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        time.sleep(0.5)
    raise CheckFailed(f"sam local start-api not listening after {START_API_TIMEOUT}s (log {log_path})")


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGINT (sam then removes its warm containers), SIGTERM, SIGKILL: each to this PID only."""
    for sig, grace in ((signal.SIGINT, 30.0), (signal.SIGTERM, 10.0), (signal.SIGKILL, 10.0)):
        if process.poll() is not None:
            break
        process.send_signal(sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=grace)
    print(f"sam local start-api (PID {process.pid}) stopped, exit {process.returncode}", flush=True)


def http_request(
    port: int, method: str, path: str, body: bytes | None = None, headers: Mapping[str, str] | None = None
) -> tuple[int, dict[str, str], bytes, float]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    started = time.monotonic()
    try:
        connection.request(method, path, body=body, headers=dict(headers or {}))
        response = connection.getresponse()
        data = response.read()
        return (
            response.status,
            {k.lower(): v for k, v in response.getheaders()},
            data,
            time.monotonic() - started,
        )
    finally:
        connection.close()


def check_start_api(report: Report, clients: AwsClients, port: int) -> None:
    path = f"/callback/{TOKEN}"
    received = datetime.now(UTC)
    requests: list[tuple[str, str, list[tuple[str, str]]]] = [
        ("GET", "agentstate-get", fresh("agentstate-get", 3_000)),
        ("HEAD", "enqueuecall-head", fresh("enqueuecall-head", 2_000)),
        ("PUT", "broadcastevent-put", fresh("broadcastevent-put", 1_000)),
    ]
    for method, name, pairs in requests:
        encoded = lambda_events.urlencoded(pairs)
        if method == "PUT":
            status, headers, data, seconds = http_request(
                port, method, path, encoded.encode(), {"content-type": "application/x-www-form-urlencoded"}
            )
        else:
            status, headers, data, seconds = http_request(port, method, f"{path}?{encoded}")
        label = f"start-api {method} {path} ({name})"
        if method == "HEAD":
            length = headers.get("content-length", "absent")
            got = f"{status}, {len(data)} body bytes, content-length {length}"
            ok = status == 200 and not data and length in ("0", "absent")
            report.add(label, "200, no body", got, ok, seconds)
            answered = None
        else:
            answer = _json_object(data)
            answered = answer.get("event_key")
            got = f"{status} {answer.get('status', data[:80])}"
            report.add(label, "200 stored", got, status == 200 and answer.get("status") == "stored", seconds)
        item = sample_events.item_for(pairs, received)
        check_item(report, clients, f"stored the start-api {method}", item, answered)
    bad = lambda_events.urlencoded(sample_events.SAMPLES["bad-agentid-get"])
    status, _, data, seconds = http_request(port, "GET", f"{path}?{bad}")
    named = {str(e.get("parameter")) for e in _json_object(data).get("errors", [])}
    expected = expected_bad_parameters("bad-agentid-get")
    report.add(
        f"start-api GET {path} (bad-agentid-get)",
        f"400 errors: {', '.join(sorted(expected))}",
        f"{status} errors: {', '.join(sorted(named))}",
        status == 400 and named == expected,
        seconds,
    )


def _json_object(data: bytes) -> dict[str, Any]:
    try:
        value = json.loads(data)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


# --- main --------------------------------------------------------------------------------------------


def _terminate(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def sam_build(sam: Sam) -> Path:
    """``sam build`` (no container) into .aws-sam/sam-local-test/; returns the built template."""
    result = sam.run(sam_build_args(TEMPLATE, BUILD_ROOT), "build.log", BUILD_TIMEOUT)
    if result.returncode != 0:
        raise CheckFailed(f"sam build exited {result.returncode}:\n{tail(result.stdout + result.stderr)}")
    return BUILD_ROOT / "build" / "template.yaml"


def run_steps(
    report: Report,
    sam: Sam,
    moto: ThreadedMotoServer,
    *,
    gateway: str,
    moto_port: int,
    work_dir: Path,
    jobs: int,
) -> None:
    from acd_devkit.moto_resources import aws_clients, provision  # noqa: PLC0415

    endpoint = f"http://{gateway}:{moto_port}"
    with report.phase("sam build"):
        build_template = sam_build(sam)

    with report.phase("moto server"):
        moto.start()
        resources = provision(endpoint)
        clients = aws_clients(endpoint, REGION)
        container_endpoint = f"http://{HOST_ALIAS}:{moto_port}"
        env_file = work_dir / "env.json"
        env_file.write_text(
            sample_events.env_json(sample_events.env_vars(container_endpoint, resources.topic_arns)),
            encoding="utf-8",
        )
        print(f"moto server {endpoint} (containers: {container_endpoint}); env {env_file}", flush=True)

    with report.phase("sam local invoke"):
        found = invoke_samples(report, sam, build_template, env_file, gateway, jobs=jobs)

    with report.phase("effects on moto"):
        good = [p.stem for p in sorted((EVENTS / "ingest").glob("*.json")) if not p.stem.startswith("bad-")]
        check_table(report, clients, good, found.get("event_keys", {}))
        check_rejected(report, clients, found.get("rejected", {}))
        check_fanout_messages(report, clients, resources, found.get("fanned_out", {}))

    with report.phase("sam local start-api"):
        api_port = free_port("127.0.0.1")
        with start_api(sam, build_template, env_file, gateway, api_port) as pid:
            print(f"sam local start-api PID {pid} is listening", flush=True)
            check_start_api(report, clients, api_port)


def run(sam_executable: str, gateway: str, work_dir: Path, jobs: int) -> int:
    from moto.server import ThreadedMotoServer  # noqa: PLC0415 - heavy import

    report = Report()
    logs = work_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    moto_port = free_port(gateway)
    sam = Sam(sam_executable, sam_environment(f"http://{gateway}:{moto_port}"), logs)
    moto_fixes.install()  # thread-safe transactions: samples are invoked side by side
    moto = ThreadedMotoServer(ip_address=gateway, port=moto_port, verbose=False)
    try:
        run_steps(report, sam, moto, gateway=gateway, moto_port=moto_port, work_dir=work_dir, jobs=jobs)
    except CheckFailed as exc:
        report.add("run", "every step runs", str(exc).splitlines()[0], ok=False)
        print(str(exc), file=sys.stderr)
    except Exception as exc:  # anything else: a failure too, with its traceback
        report.add("run", "every step runs", f"{type(exc).__name__}: {exc}", ok=False)
        traceback.print_exc()
    finally:
        with contextlib.suppress(Exception):
            moto.stop()
        sam.remove_leftover_containers()
    report.print_summary()
    print(f"logs: {logs}")
    return 1 if report.failed or not report.rows else 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    parser.add_argument("--sam", default=str(REPO / ".venv-sam" / "bin" / "sam"), help="sam executable")
    parser.add_argument(
        "--gateway", required=True, help="this machine's address on Docker's default bridge (from run.sh)"
    )
    parser.add_argument(
        "--work-dir", type=Path, default=REPO / ".cache" / "sam-local" / "run", help="logs, env.json"
    )
    parser.add_argument(
        "--jobs", type=int, default=2, help="sam local invoke processes at a time (default 2: one per core)"
    )
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    # Started in the background by run.sh, this process may ignore SIGINT, and so would every
    # sam it starts: a handler here is reset to the default in them.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    return run(args.sam, args.gateway, args.work_dir, max(1, args.jobs))


if __name__ == "__main__":
    sys.exit(main())
