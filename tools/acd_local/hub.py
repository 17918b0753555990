"""The whole stack on one machine (:class:`LocalHub`), with no AWS account and no Docker:

* a moto server holds the tables, streams and topics of ``template.yaml`` — read from it
  (:mod:`acd_devkit.template`), so they cannot drift;
* the callback endpoint on ``http://127.0.0.1:3000`` (waitress), which hands each request to the
  ingest handler exactly as API Gateway's HTTP API (payload format 2.0) would;
* one poller per stream event source mapping, feeding the stream consumers like Lambda does
  (filter criteria, batches, partial-batch failures, bisect, bounded retries, a DLQ);
* a local subscriber printing what the SNS topics fan out;
* a data folder (default ``.acd-local/``) where tables and stream positions are kept across a
  restart (:mod:`acd_local.state`: a journal of every write, written by moto's process),
  unless ephemeral.

Processes (:mod:`acd_local.worker`): the endpoint and the HTTP functions run in the
caller's process; moto, each stream consumer and the keeper (which compacts the data folder) run
in their own, so a busy aggregator does not slow the callbacks down through a shared GIL.
:class:`LocalHub` is what ``acd-local`` starts and what the end-to-end tests start on free
ports.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import secrets
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from acd_devkit.moto_resources import (
    ACCOUNT_ID,
    REGION,
    UNSET_AWS_ENV,
    AwsClients,
    ProvisionedResources,
    aws_clients,
    moto_env,
    provision,
)
from acd_hub.settings import LOCAL_MAX_FUTURE_SECONDS
from acd_local import state as local_state
from acd_local.environment import function_environments, merged_environment
from acd_local.gateway import ApiServer, Gateway
from acd_local.invoke import ErrorLog, FunctionInvoker, InvocationError, InvokerPool
from acd_local.lambda_runtime import Handler, clear_function_caches, load_handler
from acd_local.spec import StackSpec, StreamMapping
from acd_local.streams import STREAM_LOG, StreamLag
from acd_local.subscriber import FanoutMessage, LocalSubscriber

LOG = logging.getLogger("acd_local")
HOST = "127.0.0.1"  # never anything else: the stack has no authentication of its own
TOKENS_ENV = "ACD_CALLBACK_TOKENS"

# What a local container gets on top of the template's environment: tokens come from here, not
# SSM, and X-Ray / EMF output would only be noise on a terminal. acd-sim sends today's whole
# day at once, its afternoon hours ahead of their time: a day ahead is let in here (an event
# years ahead is still refused).
_LOCAL_FUNCTION_ENV = {
    "ACD_MAX_FUTURE_SECONDS": str(LOCAL_MAX_FUTURE_SECONDS),
    "ACD_TOKEN_PARAMETER": "",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_DISABLED": "true",
}


def default_tokens() -> tuple[tuple[str, ...], bool]:
    """Tokens from ``$ACD_CALLBACK_TOKENS`` (comma-separated), else one generated token.
    The flag says whether it was generated."""
    configured = [part.strip() for part in os.environ.get(TOKENS_ENV, "").split(",") if part.strip()]
    if configured:
        return tuple(configured), False
    return ("local-" + secrets.token_urlsafe(12),), True


def _ensure_port_free(port: int) -> None:
    # Say which port is taken before starting anything (moto's server would fail in its process).
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((HOST, port))
        except OSError as exc:
            raise OSError(exc.errno, f"{HOST}:{port} is in use ({exc.strerror})") from None


SYNC_INTERVAL = local_state.SYNC_INTERVAL  # seconds between fsyncs of the data folder's journal
COMPACT_CHECK_INTERVAL = 10.0  # seconds between looks at whether the journal wants compacting
STOP_GRACE = 2.0  # seconds a stream consumer may take to finish its batch when stopping
STATUS_INTERVAL = 5.0  # seconds between stream lag lines while a consumer is behind

# A stream consumer that dies is started again from its last checkpoint, at most this many times
# in RESTART_WINDOW seconds; beyond that (it dies at once, again and again) the stack stops.
MAX_RESTARTS = 3
RESTART_WINDOW = 60.0

# Stream consumers yield the CPU to the endpoint and moto (a Lambda's aggregation is background
# work; the ACD waits on the ingest only).
CONSUMER_NICE = 5

# Containers per HTTP function: callbacks answered side by side (tests that read one container's
# module state ask for 1).
HTTP_CONCURRENCY = 4


def _in_parallel(calls: Iterable[Callable[[], Any]]) -> None:
    threads = [threading.Thread(target=call) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


@dataclass
class _Consumer:
    """A stream consumer's process, and what the parent last heard from it."""

    mapping: StreamMapping
    worker: Any  # local_worker.Worker
    checkpoints: dict[str, str]
    carried_left: int  # records carried from an earlier run still to handle
    lag: StreamLag = field(default_factory=lambda: StreamLag(0, None))
    invocations: int = 0
    dead_lettered: int = 0
    # What it was started with, to start it again should its process die.
    config: dict[str, Any] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    restarts: list[float] = field(default_factory=list)  # time.monotonic() of each
    problem: str | None = None  # why it is not running, while it is not

    def describe(self) -> str:
        return f"{self.mapping.function} {self.problem or self.lag.describe()}"


class LocalHub:
    """The whole stack on this machine. ``port``/``aws_port`` 0 pick free ports (see
    :attr:`port` and :attr:`aws_port` after :meth:`start`).

    Processes: this one serves the callback endpoint and runs the HTTP functions (the ingest) —
    their module state stays reachable through :attr:`handlers`; moto runs in a process of its
    own, and so does each stream consumer (one per event source mapping, like a Lambda
    container: see :mod:`acd_local.worker`), so a busy aggregator cannot slow the endpoint
    down through the GIL.

    ``tokens`` None: from ``$ACD_CALLBACK_TOKENS`` or generated. ``spec`` replaces the template
    (tests use stand-ins). ``local_subscriber`` False leaves the subscriber queues to the caller.
    ``data_dir``: keep the tables and stream positions there across a stop and start (see
    :mod:`acd_local.state`; the journal is synced to disk every ``sync_interval`` seconds);
    None: ephemeral, everything is gone at stop.
    """

    def __init__(
        self,
        port: int = 3000,
        aws_port: int = 5000,
        tokens: Sequence[str] | None = None,
        template_path: str | os.PathLike[str] | None = None,
        *,
        spec: StackSpec | None = None,
        local_subscriber: bool = True,
        poll_interval: float = 0.25,
        retry_delay: float = 0.2,
        max_retry_delay: float = 2.0,
        data_dir: str | os.PathLike[str] | None = None,
        sync_interval: float = SYNC_INTERVAL,
        status_interval: float | None = None,
        stop_grace: float = STOP_GRACE,
        consumer_nice: int = CONSUMER_NICE,
        http_concurrency: int = HTTP_CONCURRENCY,
    ) -> None:
        # Where the tokens came from, for the banner: "argument", "environment" or "generated".
        self.tokens_source = "argument"
        if tokens is None:
            tokens, generated = default_tokens()
            self.tokens_source = "generated" if generated else "environment"
        self.tokens = tuple(tokens)
        if not self.tokens or any(not t or "," in t or "/" in t or t != t.strip() for t in self.tokens):
            raise ValueError("tokens must be non-empty, without commas, slashes or surrounding blanks")
        self.host = HOST
        self.region = REGION
        self.port = port
        self.aws_port = aws_port
        self._template_path = template_path
        self.spec = spec
        self._local_subscriber = local_subscriber
        self._poll_interval = poll_interval
        self._retry_delay = retry_delay
        self._max_retry_delay = max_retry_delay
        self.data_dir = Path(data_dir).resolve() if data_dir is not None else None
        self.sync_interval = sync_interval
        self._status_interval = status_interval
        self._stop_grace = stop_grace
        self._consumer_nice = consumer_nice
        self._http_concurrency = max(1, http_concurrency)

        self.resources: ProvisionedResources | None = None
        self.environment: dict[str, str] = {}
        self.handlers: dict[str, Handler] = {}
        self.invokers: dict[str, InvokerPool] = {}
        self.fanout_messages: deque[FanoutMessage] = deque(maxlen=1000)
        # What the start restored from the data folder (counts), None if nothing.
        self.restored: dict[str, Any] | None = None
        # What the data folder held when the stack stopped (items, journal bytes), None if none.
        self.last_saved: dict[str, Any] | None = None
        self._errors = ErrorLog()
        self._moto: Any = None  # local_worker.Worker
        self._keeper: Any = None
        self._keeper_restarts: list[float] = []  # time.monotonic() of each
        self._consumers: dict[str, _Consumer] = {}
        self._httpd: ApiServer | None = None
        self._subscriber: LocalSubscriber | None = None
        self._housekeeping: threading.Thread | None = None
        self._stopping = threading.Event()
        # Set when a child died beyond repair (see _supervise): why, for the owner to stop on.
        self.failure: str | None = None
        self.failed = threading.Event()
        self._compaction: Any = None  # the keeper's compaction under way (a Future)
        self._lock_file: Any = None
        self._original_env: dict[str, str] = {}
        self._saved_env: dict[str, str | None] = {}
        self._state = "new"

    # -- what callers read --

    @property
    def persistent(self) -> bool:
        return self.data_dir is not None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def callback_url(self) -> str:
        return f"{self.base_url}/callback/{self.tokens[0]}"

    @property
    def aws_endpoint(self) -> str:
        return f"http://{self.host}:{self.aws_port}"

    @property
    def table_names(self) -> dict[str, str]:
        return dict(self.resources.table_names) if self.resources else {}

    @property
    def topic_arns(self) -> dict[str, str]:
        return dict(self.resources.topic_arns) if self.resources else {}

    @property
    def subscriber_queue_urls(self) -> dict[str, str]:
        return dict(self.resources.subscriber_queue_urls) if self.resources else {}

    @property
    def dlq_urls(self) -> dict[str, str]:
        return dict(self.resources.dlq_urls) if self.resources else {}

    @property
    def stream_arns(self) -> dict[str, str]:
        return dict(self.resources.stream_arns) if self.resources else {}

    @property
    def errors(self) -> list[InvocationError]:
        """Exceptions raised by handlers (HTTP: answered 500; stream: retried), of every
        process."""
        return list(self._errors.entries)

    def clients(self) -> AwsClients:
        return aws_clients(self.aws_endpoint, self.region)

    def stream_lag(self) -> dict[str, StreamLag]:
        """Per stream consumer: records not handled yet and the age of the oldest (as its
        process last said, at most half a second ago)."""
        return {name: consumer.lag for name, consumer in self._consumers.items()}

    def stream_status(self) -> str:
        return " | ".join(consumer.describe() for consumer in self._consumers.values()) or "-"

    # -- lifecycle --

    def __enter__(self) -> LocalHub:
        self.start()
        return self

    def __exit__(self, *_exc_info: object) -> None:
        self.stop()

    def start(self) -> LocalHub:
        if self._state != "new":
            raise RuntimeError("a LocalHub starts once")
        self._state = "starting"
        try:
            spec = self.spec = self.spec or StackSpec.load(self._template_path)
            if self.data_dir is not None:
                self._lock_data_dir(self.data_dir)
            # Bind first: a busy port fails before anything else has started.
            self._httpd = ApiServer((self.host, self.port))
            self.port = self._httpd.server_address[1]
            self._original_env = dict(os.environ)
            self._start_moto()
            self._set_env(
                {"AWS_ENDPOINT_URL": self.aws_endpoint, **moto_env(self.region)}, unset=UNSET_AWS_ENV
            )
            clients = self.clients()
            self.resources = provision(self.aws_endpoint, spec, region=self.region, clients=clients)
            positions = self._restore(spec) if self.data_dir is not None else {}
            environments = self._load_functions(spec, self.resources)
            self._start_consumers(spec, environments, positions)
            if self.data_dir is not None:
                self._start_keeper()
            if self._local_subscriber and self.resources.subscriber_queue_urls:
                self._subscriber = LocalSubscriber(
                    clients.sqs, self.resources.subscriber_queue_urls, self.fanout_messages
                )
                self._subscriber.start()
            self._httpd.gateway = Gateway(spec.routes, self.invokers, self._errors, self.port)
            self._httpd.start()
            self._housekeeping = threading.Thread(target=self._housekeep, name="housekeeping", daemon=True)
            self._housekeeping.start()
        except BaseException:
            self.stop()
            raise
        self._state = "running"
        return self

    def _lock_data_dir(self, data_dir: Path) -> None:
        import fcntl  # noqa: PLC0415 - POSIX only, like the rest of acd-local

        data_dir.mkdir(parents=True, exist_ok=True)
        self._lock_file = (data_dir / "lock").open("w")
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock_file.close()
            self._lock_file = None
            raise OSError(f"{data_dir} is in use by another acd-local") from None

    def _worker_env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """A worker's environment: the user's (without AWS profiles), the local AWS settings and
        ``extra`` (a function's own environment)."""
        env = {k: v for k, v in self._original_env.items() if k not in UNSET_AWS_ENV}
        env.update(moto_env(self.region))
        env["PYTHONUNBUFFERED"] = "1"  # its log lines reach us as they are written
        if self.aws_port:
            env["AWS_ENDPOINT_URL"] = self.aws_endpoint
        env.update(extra or {})
        return env

    def _worker_config(self, role: str, **config: Any) -> dict[str, Any]:
        return {"role": role, "sys_path": [p for p in sys.path if p], "region": self.region, **config}

    def _start_moto(self) -> None:
        from acd_local.worker import Worker  # noqa: PLC0415

        if self.aws_port:
            _ensure_port_free(self.aws_port)
        self._moto = Worker(
            "moto",
            self._worker_config("moto", host=self.host, port=self.aws_port, account_id=ACCOUNT_ID),
            self._worker_env(),
            log_name="acd_local.moto",
        )
        self.aws_port = int(self._moto.wait_ready(60))

    def _start_keeper(self) -> None:
        from acd_local.worker import Worker  # noqa: PLC0415

        assert self.data_dir is not None
        self._keeper = Worker(
            "keeper",
            self._worker_config("keeper", data_dir=str(self.data_dir)),
            self._worker_env(),
            log_name="acd_local.keeper",
        )
        self._keeper.wait_ready(60)

    def _restore(self, spec: StackSpec) -> dict[str, tuple[dict[str, str], list[dict[str, Any]]]]:
        """Load the data folder into the fresh tables (in moto's process, which journals every
        write from then on). Returns, per stream consumer, where it starts (the new stream's
        beginning) and the records it has still to handle."""
        assert self.data_dir is not None
        consumers = {m.function: m.table for m in spec.stream_mappings}
        loaded = self._moto.call("restore", str(self.data_dir), consumers, self.sync_interval, timeout=600)
        carried: dict[str, list[dict[str, Any]]] = loaded["carried"]
        if loaded["found"]:
            self.restored = {
                "items": loaded["items"],
                "carried": {name: len(records) for name, records in carried.items()},
                "taken_at": loaded["taken_at"],
                "seconds": loaded["seconds"],
                "bytes": loaded["bytes"],
            }
        return {name: ({}, carried.get(name, [])) for name in consumers}

    def _load_functions(self, spec: StackSpec, resources: ProvisionedResources) -> dict[str, dict[str, str]]:
        """Import the HTTP functions here (the stream consumers import theirs in their own
        process); returns every function's environment."""
        local = {**_LOCAL_FUNCTION_ENV, TOKENS_ENV: ",".join(self.tokens)}
        environments = {fid: {**env, **local} for fid, env in function_environments(spec, resources).items()}
        # A new stack is a new container for every function: no client cached by an earlier one.
        clear_function_caches(spec.layer_packages)
        for function in dict.fromkeys(
            [r.function for r in spec.routes] + [m.function for m in spec.stream_mappings]
        ):
            if function not in spec.functions:
                raise ValueError(f"{function} has an HTTP or stream event but is not a runnable function")
        imported_under: set[str] = set()
        for function in dict.fromkeys(r.function for r in spec.routes):
            fn = spec.functions[function]
            # Settings are read at import (cold start): import under this function's own
            # environment, without what the previous function had on top.
            environment = environments.get(function, local)
            self._set_env(environment, unset=sorted(imported_under - set(environment)))
            imported_under = set(environment)
            containers = [
                FunctionInvoker(fn, load_handler(fn.code_uri, fn.handler), threading.Lock(), self.region)
                for _ in range(self._http_concurrency)
            ]
            self.handlers[function] = containers[0].handler
            self.invokers[function] = InvokerPool(containers)
        self.environment = merged_environment(environments) if environments else dict(local)
        self._set_env(self.environment)
        return {fid: environments.get(fid, local) for fid in spec.functions}

    def _start_consumers(
        self,
        spec: StackSpec,
        environments: Mapping[str, Mapping[str, str]],
        positions: Mapping[str, tuple[dict[str, str], list[dict[str, Any]]]],
    ) -> None:
        from acd_local.worker import Worker  # noqa: PLC0415

        assert self.resources is not None
        for mapping in spec.stream_mappings:
            checkpoints, carried = positions.get(mapping.function, ({}, []))
            name = mapping.function
            config = self._worker_config(
                "consumer",
                function=spec.functions[name],
                mapping=mapping,
                endpoint_url=self.aws_endpoint,
                stream_arn=self.resources.stream_arns.get(mapping.table),
                dlq_url=self.resources.dlq_urls.get(name),
                poll_interval=self._poll_interval,
                retry_delay=self._retry_delay,
                max_retry_delay=self._max_retry_delay,
                checkpoints=checkpoints,
                carried=carried,
                nice=self._consumer_nice,
            )
            env = self._worker_env(environments.get(name, {}))
            worker = Worker(name, config, env, on_push=functools.partial(self._on_consumer_push, name))
            self._consumers[name] = _Consumer(
                mapping, worker, dict(checkpoints), len(carried), config=config, env=env
            )
        for consumer in self._consumers.values():
            consumer.worker.wait_ready(120)

    def _restart_consumer(self, consumer: _Consumer) -> None:
        """Start a consumer whose process died again, from its last checkpoint (what it had not
        checkpointed is handled twice: the consumers are idempotent)."""
        from acd_local.worker import Worker, WorkerError  # noqa: PLC0415

        name = consumer.mapping.function
        carried = list(consumer.config.get("carried") or [])
        config = {
            **consumer.config,
            "checkpoints": dict(consumer.checkpoints),
            "carried": carried[len(carried) - consumer.carried_left :] if consumer.carried_left else [],
        }
        worker = Worker(name, config, consumer.env, on_push=functools.partial(self._on_consumer_push, name))
        try:
            worker.wait_ready(120)
        except WorkerError:
            worker.stop(0)
            raise
        consumer.worker, consumer.config = worker, config

    def _supervise(self) -> None:
        """A child that died (killed, out of memory) must not go unnoticed: a consumer is started
        again; moto cannot be (its tables live in its memory), so the stack fails loudly."""
        if self._stopping.is_set() or self.failure is not None:
            return
        if self._moto is not None and not self._moto.alive:
            self._fail(
                f"moto (the AWS endpoint {self.aws_endpoint}) died (exit code {self._moto.process.returncode}): "
                "no callback can be stored; acd-local stops. "
                + (f"Every write so far is kept in {self.data_dir}: start it again." if self.data_dir else "")
            )
            return
        self._supervise_keeper()
        for consumer in self._consumers.values():
            if consumer.worker.alive or self._stopping.is_set():
                continue
            now = time.monotonic()
            consumer.restarts = [t for t in consumer.restarts if now - t < RESTART_WINDOW]
            code = consumer.worker.process.returncode
            if len(consumer.restarts) >= MAX_RESTARTS:
                self._fail(
                    f"stream consumer {consumer.mapping.function} died {len(consumer.restarts) + 1} times "
                    f"within {RESTART_WINDOW:.0f} s (last exit code {code}); acd-local stops"
                )
                return
            consumer.problem = f"DIED (exit code {code}): restarting"
            STREAM_LOG.error(
                "stream consumer %s died (exit code %s): starting it again", consumer.mapping.function, code
            )
            consumer.restarts.append(now)
            try:
                self._restart_consumer(consumer)
            except Exception as exc:
                self._fail(
                    f"stream consumer {consumer.mapping.function} died and could not be started again: {exc}"
                )
                return
            consumer.problem = None
            STREAM_LOG.info(
                "stream consumer %s running again (restart %d)",
                consumer.mapping.function,
                len(consumer.restarts),
            )

    def _supervise_keeper(self) -> None:
        """The keeper holds nothing (it compacts the data folder from the files): one that died
        is started again. Before, it stayed dead: no compaction for the rest of the run (the
        journal growing, the next start folding all of it) and the same warning every 10 s.
        One that keeps dying is given up, once, with the journal kept whole."""
        keeper = self._keeper
        if keeper is None or keeper.alive or self._stopping.is_set():
            return
        now = time.monotonic()
        self._keeper_restarts = [t for t in self._keeper_restarts if now - t < RESTART_WINDOW]
        code = keeper.process.returncode
        keeper.stop(0)
        self._keeper = None
        if len(self._keeper_restarts) >= MAX_RESTARTS:
            LOG.warning(
                "the keeper died %d times within %.0f s (last exit code %s): the data folder is no "
                "longer compacted while this run lasts (its journal is kept whole)",
                len(self._keeper_restarts) + 1,
                RESTART_WINDOW,
                code,
            )
            return
        LOG.warning("the keeper (it compacts the data folder) died (exit code %s): starting it again", code)
        self._keeper_restarts.append(now)
        try:
            self._start_keeper()
        except Exception as exc:
            if self._keeper is not None:
                self._keeper.stop(0)
                self._keeper = None
            LOG.warning("the keeper could not be started again (%s): the journal is kept whole", exc)

    def _fail(self, reason: str) -> None:
        LOG.error("%s", reason)
        self.failure = reason
        if self._httpd is not None:
            self._httpd.gateway = None  # every callback a 503 until the owner stops the stack
        self.failed.set()

    def _on_consumer_push(self, name: str, kind: str, payload: Any) -> None:
        consumer = self._consumers.get(name)
        if consumer is None:
            return
        if kind == "progress":
            checkpoints, carried_left = payload
            consumer.checkpoints, consumer.carried_left = dict(checkpoints), carried_left
            if self.data_dir is not None and self._moto is not None:
                # Into moto's journal, after the lines of the writes this batch made.
                self._moto.notify("checkpoint", name, consumer.checkpoints, carried_left)
        elif kind == "lag":
            consumer.lag, consumer.invocations, consumer.dead_lettered = payload
        elif kind == "error":
            with self._errors._lock:
                self._errors.entries.append(payload)

    def _housekeep(self) -> None:
        """The data folder's journal compacted by the keeper now and then (when it has grown);
        a stream lag line every ``status_interval`` seconds while a consumer is behind."""
        next_compaction = time.monotonic() + COMPACT_CHECK_INTERVAL
        next_status = time.monotonic() + (self._status_interval or 0)
        was_behind = False
        while not self._stopping.wait(0.25):
            self._supervise()
            now = time.monotonic()
            if self._keeper is not None and now >= next_compaction:
                if self._compaction is None or self._compaction.done():
                    self._compaction = self._keeper.call_async("compact", local_state.COMPACT_MIN_BYTES)
                    self._compaction.add_done_callback(self._compacted)
                next_compaction = now + COMPACT_CHECK_INTERVAL
            if self._status_interval and now >= next_status:
                behind = any(c.lag.records_behind or c.problem for c in self._consumers.values())
                if behind or was_behind:
                    STREAM_LOG.info("stream lag: %s", self.stream_status())
                was_behind = behind
                next_status = now + self._status_interval

    def _compacted(self, done: Any) -> None:
        try:
            summary = done.result()
        except Exception as exc:
            if not self._stopping.is_set():
                LOG.warning("compacting the data folder failed (its journal is kept whole): %s", exc)
            return
        if summary:
            LOG.info(
                "data folder compacted: %s items, %.1f MB of journal folded in %.1f s",
                f"{summary['items']:,}",
                summary["journal_bytes"] / 1e6,
                summary["seconds"],
            )

    def snapshot(self) -> dict[str, Any] | None:
        """Compact the data folder now: the journal so far folded into a new base (the keeper
        does it now and then anyway). Returns what the base holds and how long it took; None if
        the stack keeps nothing."""
        if self._keeper is None or self._moto is None:
            return None
        started = time.monotonic()
        self._moto.call("rotate")
        summary: dict[str, Any] | None = self._keeper.call("compact", 0, timeout=600)
        if summary is not None:
            summary["total_seconds"] = time.monotonic() - started
        return summary

    def stop(self) -> None:
        """Stop everything that started, in order: the endpoint (no new callbacks), the stream
        consumers (each finishes its batch if it can within ``stop_grace``), their last positions
        into the journal and the journal synced, then the rest. Safe to call more than once."""
        if self._state in ("new", "stopped"):
            self._state = "stopped"
            return
        self._state = "stopping"
        self._stopping.set()
        if self._httpd is not None:
            # Requests in flight get a moment; their answers no longer matter to anyone.
            self._httpd.stop(timeout=min(1.0, self._stop_grace))
        if self._housekeeping is not None:
            self._housekeeping.join(timeout=10)
        answers = [
            (c, c.worker.request_stop(self._stop_grace)) for c in self._consumers.values() if c.worker.alive
        ]
        keeping = self.data_dir is not None and self._moto is not None and self._moto.alive
        for consumer, answer in answers:
            with contextlib.suppress(Exception):
                checkpoints, carried_left = answer.result(self._stop_grace + 2)
                consumer.checkpoints, consumer.carried_left = dict(checkpoints), carried_left
                if keeping:
                    self._moto.notify(
                        "checkpoint", consumer.mapping.function, consumer.checkpoints, carried_left
                    )
        _in_parallel(functools.partial(c.worker.stop, 0.5) for c in self._consumers.values())
        if keeping:
            try:
                self.last_saved = self._moto.call("close", timeout=30)
            except Exception:
                LOG.exception("closing the data folder's journal failed (what it holds so far is kept)")
        if self._subscriber is not None:
            self._subscriber.stop()
            self._subscriber.join(timeout=5)
        # Neither holds anything worth a goodbye any more: SIGTERM, at once.
        _in_parallel(functools.partial(w.stop, 0.0) for w in (self._keeper, self._moto) if w is not None)
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None
        if self.spec is not None:
            clear_function_caches(self.spec.layer_packages)
        self._restore_env()
        self._state = "stopped"

    def _set_env(self, values: Mapping[str, str], unset: Sequence[str] = ()) -> None:
        for name in [*values, *unset]:
            self._saved_env.setdefault(name, os.environ.get(name))
        for name in unset:
            os.environ.pop(name, None)
        os.environ.update(values)

    def _restore_env(self) -> None:
        for name, value in self._saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_env.clear()

    # -- helpers for tests and tools --

    def wait_for_stream_idle(self, timeout: float = 10.0) -> None:
        """Return once every stream consumer has handled every record written so far
        (raises ``TimeoutError`` otherwise)."""
        deadline = time.monotonic() + timeout
        targets = {}
        for name, consumer in self._consumers.items():
            targets[name] = (
                consumer.worker.call("idle_cycles", timeout=max(1.0, deadline - time.monotonic())) + 2
            )
        for name, target in targets.items():
            worker = self._consumers[name].worker
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not worker.alive:
                    raise TimeoutError(f"{name} still busy after {timeout}s")
                if worker.call("idle_cycles", timeout=max(1.0, remaining)) >= target:
                    break
                time.sleep(min(0.05, remaining))

    def invoke(self, function: str, event: dict[str, Any]) -> Any:
        """Invoke an HTTP function directly (``sam local invoke``, in this process)."""
        return self.invokers[function](event)

    def in_consumer(self, function: str, call: Callable[..., Any], *args: Any, timeout: float = 30.0) -> Any:
        """Run ``call(handler, *args)`` inside a stream consumer's process (its container), e.g.
        to point its SNS client elsewhere. ``call`` must be importable by name (a module-level
        function) and its result picklable."""
        return self._consumers[function].worker.call("call", call, *args, timeout=timeout)

    def pause_consumers(self, timeout: float = 10.0) -> None:
        """Hold every stream consumer between batches (for tests: records then wait)."""
        for consumer in self._consumers.values():
            ok, _, _ = consumer.worker.call("pause", timeout, timeout=timeout + 5)
            if not ok:
                raise TimeoutError(f"{consumer.mapping.function} did not pause within {timeout}s")

    def resume_consumers(self) -> None:
        for consumer in self._consumers.values():
            consumer.worker.notify("resume")
