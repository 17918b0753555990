"""The processes of ``acd-local`` besides its own: the moto server, and one per stream consumer.

Why processes: in one process the moto server, the callback endpoint and the aggregators share
one GIL, so a busy aggregator slows every callback down. Here the endpoint (with the ingest
function) keeps its process; moto and each stream consumer get their own — one process per
consumer function is also what Lambda gives each function (its own container: its own module
state, its own logger with its own ``function_name``).

The parent starts a worker with :class:`Worker`: ``python -m acd_local.worker <fd>``,
with a socket pair's end as ``fd`` (a :mod:`multiprocessing` connection: pickled messages). The
first message is the worker's configuration; then the parent sends commands
``(request_id, name, args)`` and gets ``("reply", request_id, ok, value)``, and the worker
pushes ``("push", kind, payload)`` on its own (readiness, progress, lag, errors). The worker's
stdout and stderr come back through a pipe, line by line, into the parent's logging
(``acd_local.fn.<Function>``). A worker whose parent is gone (the connection closes) exits.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from datetime import UTC, datetime
from multiprocessing.connection import Connection, Pipe
from typing import Any

LOG = logging.getLogger("acd_local")


class WorkerError(RuntimeError):
    """A command failed in the worker, or the worker is gone."""


class Worker:
    """A worker process seen from the parent."""

    def __init__(
        self,
        name: str,
        config: Mapping[str, Any],
        env: Mapping[str, str],
        *,
        on_push: Callable[[str, Any], None] | None = None,
        log_name: str | None = None,
    ) -> None:
        self.name = name
        self._on_push = on_push
        self._pending: dict[int, Future[Any]] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._ready: Future[Any] = Future()
        self._stop_requested = False
        self._output_log = logging.getLogger(log_name or f"acd_local.fn.{name}")
        parent, child = Pipe(duplex=True)
        try:
            self.process = subprocess.Popen(  # noqa: S603 - our interpreter, our module
                [sys.executable, "-m", "acd_local.worker", str(child.fileno())],
                pass_fds=(child.fileno(),),
                env=dict(env),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                # Not in the terminal's process group: Ctrl-C reaches acd-local alone, which then
                # stops its workers in order (endpoint first, a last snapshot, then the rest).
                start_new_session=True,
            )
        finally:
            child.close()
        self._conn: Connection = parent
        self._conn.send(dict(config))
        self._reader = threading.Thread(target=self._read, name=f"worker-{name}", daemon=True)
        self._reader.start()
        self._forwarder = threading.Thread(
            target=self._forward_output, name=f"worker-out-{name}", daemon=True
        )
        self._forwarder.start()

    # -- talking to it --

    def wait_ready(self, timeout: float) -> Any:
        """What the worker said when it was ready (raises if it died first)."""
        try:
            return self._ready.result(timeout)
        except TimeoutError:
            raise WorkerError(f"{self.name} did not start within {timeout:.0f}s") from None

    def call_async(self, command: str, *args: Any) -> Future[Any]:
        future: Future[Any] = Future()
        with self._lock:
            request_id = next(self._ids)
            self._pending[request_id] = future
            try:
                self._conn.send((request_id, command, args))
            except (OSError, ValueError) as exc:
                self._pending.pop(request_id, None)
                future.set_exception(WorkerError(f"{self.name} is gone ({exc})"))
        return future

    def call(self, command: str, *args: Any, timeout: float = 30.0) -> Any:
        try:
            return self.call_async(command, *args).result(timeout)
        except TimeoutError:
            raise WorkerError(f"{self.name}: {command} took longer than {timeout:.0f}s") from None

    def notify(self, command: str, *args: Any) -> None:
        """A command without an answer."""
        with self._lock, contextlib.suppress(OSError, ValueError):
            self._conn.send((0, command, args))

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def request_stop(self, grace: float = 3.0) -> Future[Any]:
        """Ask it to stop: it finishes what it is doing (at most ``grace`` seconds) and answers
        with its last state."""
        self._stop_requested = True
        return self.call_async("stop", grace)

    def stop(self, grace: float = 3.0) -> None:
        """Stop it (asking first unless :meth:`request_stop` did), then make sure: SIGTERM,
        SIGKILL."""
        if self.alive and not self._stop_requested and grace > 0:
            with contextlib.suppress(WorkerError, OSError, TimeoutError):
                self.request_stop(grace).result(grace + 1)
        for signal_it in (None, self.process.terminate, self.process.kill):
            if signal_it is not None:
                with contextlib.suppress(OSError):
                    signal_it()
            try:
                self.process.wait(max(grace, 0.1) if signal_it is None else 2)
                break
            except subprocess.TimeoutExpired:
                continue
        with contextlib.suppress(OSError):
            self._conn.close()
        self._forwarder.join(2)
        self._reader.join(2)

    # -- its messages and output --

    def _read(self) -> None:
        while True:
            try:
                message = self._conn.recv()
            except (EOFError, OSError):
                break
            if message[0] == "reply":
                _, request_id, ok, value = message
                with self._lock:
                    future = self._pending.pop(request_id, None)
                if future is not None:
                    if ok:
                        future.set_result(value)
                    else:
                        future.set_exception(WorkerError(f"{self.name}: {value}"))
            elif message[0] == "push":
                _, kind, payload = message
                if kind == "ready":
                    self._ready.set_result(payload)
                elif kind == "failed":
                    if not self._ready.done():
                        self._ready.set_exception(WorkerError(f"{self.name} failed to start: {payload}"))
                elif self._on_push is not None:
                    try:
                        self._on_push(kind, payload)
                    except Exception:
                        LOG.exception("handling %s from %s failed", kind, self.name)
        gone = WorkerError(f"{self.name} exited")
        with self._lock:
            pending, self._pending = self._pending, {}
        for future in pending.values():
            future.set_exception(gone)
        if not self._ready.done():
            self._ready.set_exception(gone)

    def _forward_output(self) -> None:
        stream = self.process.stdout
        assert stream is not None
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip()
            if line:
                self._output_log.info("%s", line)
        stream.close()


# --- inside the worker ----------------------------------------------------------------------------


class _Channel:
    """The worker's end: replies and pushes, from any thread."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self._lock = threading.Lock()

    def push(self, kind: str, payload: Any = None) -> None:
        with self._lock, contextlib.suppress(OSError, ValueError):
            self.conn.send(("push", kind, payload))

    def reply(self, request_id: int, ok: bool, value: Any) -> None:
        if request_id:
            with self._lock, contextlib.suppress(OSError, ValueError):
                self.conn.send(("reply", request_id, ok, value))


def _serve(channel: _Channel, commands: Mapping[str, Callable[..., Any]]) -> None:
    """Answer commands until ``stop`` or until the parent is gone."""
    while True:
        try:
            request_id, name, args = channel.conn.recv()
        except (EOFError, OSError):
            stop = commands.get("stop")
            if stop is not None:
                with contextlib.suppress(Exception):
                    stop(1.0)
            return
        try:
            value = commands[name](*args)
        except Exception as exc:
            channel.reply(request_id, False, f"{type(exc).__name__}: {exc}")
        else:
            channel.reply(request_id, True, value)
        if name == "stop":
            return


def _run_moto(channel: _Channel, config: Mapping[str, Any]) -> None:
    from moto.dynamodbstreams.models import DynamoDBStreamsBackend  # noqa: PLC0415

    from acd_devkit import moto_fixes  # noqa: PLC0415
    from acd_devkit.waitress_servers import MotoServer  # noqa: PLC0415

    moto_fixes.install()  # transactions and queries at DynamoDB's cost, thread-safe

    # moto keeps every shard iterator it ever handed out (each get_records mints a new one,
    # ~2 KB): a poller running for a day would hold hundreds of MB. Our pollers never reuse one.
    original = DynamoDBStreamsBackend.get_records

    def get_records(self: DynamoDBStreamsBackend, iterator_arn: str, limit: int) -> dict[str, Any]:
        try:
            return original(self, iterator_arn, limit)
        finally:
            self.shard_iterators.pop(iterator_arn, None)

    DynamoDBStreamsBackend.get_records = get_records  # type: ignore[method-assign]
    server = MotoServer(config["host"], config["port"])
    server.start()
    keeping = _Keeping(config)
    channel.push("ready", server.get_host_and_port()[1])

    def stop(_grace: float = 1.0) -> None:
        keeping.close()
        server.stop()

    _serve(
        channel,
        {
            "stop": stop,
            "restore": keeping.restore,
            "checkpoint": keeping.checkpoint,
            "rotate": keeping.rotate,
            "close": keeping.close,
        },
    )


class _Keeping:
    """The data folder, from inside moto's process: load it at the start, then journal every
    write (see :mod:`acd_local.state`)."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        self._account = config["account_id"]
        self._region = config["region"]
        self.journal: Any = None  # local_state.Journal
        self.recorder: Any = None  # local_state.MotoRecorder
        self._lock_file: Any = None

    def restore(self, data_dir: str, consumers: Mapping[str, str], sync_interval: float) -> dict[str, Any]:
        """Fold the folder's base and journal, load it into moto's (freshly provisioned) tables,
        write it as the new base and start journaling. ``consumers``: stream consumer -> its
        table. Returns what was loaded and, per consumer, the records it has still to handle."""
        from pathlib import Path  # noqa: PLC0415

        from moto.dynamodb.models import dynamodb_backends  # noqa: PLC0415

        from acd_devkit import moto_fixes  # noqa: PLC0415
        from acd_local import state as local_state  # noqa: PLC0415

        started = time.monotonic()
        directory = Path(data_dir)
        directory.mkdir(parents=True, exist_ok=True)
        self._lock(directory)
        local_state.remove_leftovers(directory)
        base_path = directory / local_state.SNAPSHOT_NAME
        found = [p for p in (base_path, *(p for _, p in local_state.segments(directory))) if p.is_file()]
        newest = max((p.stat().st_mtime for p in found), default=None)
        backend = dynamodb_backends[self._account][self._region]
        state, following = local_state.fold(directory, local_state.key_schema_of(backend))
        loaded = local_state.load_into(backend, state)
        pending = state.pending()
        carried = {
            name: pending[name] if state.consumers.get(name, {}).get("table") == table else []
            for name, table in consumers.items()
            if name in pending
        }
        # This run's start is the new base: what was loaded, and what each consumer has left.
        state.tables = {table: state.tables[table] for table in loaded}
        state.streams = {}
        state.consumers = {
            name: {"table": table, "checkpoints": {}, "carried": carried.get(name, [])}
            for name, table in consumers.items()
        }
        size = local_state.write_snapshot(base_path, state.as_base(journal_from=following))
        for number, path in local_state.segments(directory):
            if number < following:
                path.unlink()
        self.journal = local_state.Journal(directory, following, sync_interval=sync_interval)
        self.recorder = local_state.MotoRecorder(self.journal)
        moto_fixes.observe_writes(self.recorder)
        return {
            "found": bool(found),
            "items": loaded,
            "carried": carried,
            "journal_lines": state.lines,
            "bytes": size,
            "taken_at": (
                datetime.fromtimestamp(newest, UTC).isoformat(timespec="seconds")
                if newest is not None
                else None
            ),
            "seconds": time.monotonic() - started,
        }

    def _lock(self, directory: Any) -> None:
        """Hold the journal's lock while writing it; an earlier moto of a crashed acd-local may
        still be letting go of it (it exits once its parent is gone)."""
        import fcntl  # noqa: PLC0415

        self._lock_file = (directory / "journal.lock").open("w")
        deadline = time.monotonic() + 30
        while True:
            try:
                fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise OSError(f"{directory} is still being written by another moto") from None
                time.sleep(0.1)

    def checkpoint(self, function: str, checkpoints: Mapping[str, str], carried_left: int) -> None:
        if self.journal is not None:
            self.journal.append(
                [
                    {
                        "t": "ckpt",
                        "fn": function,
                        "checkpoints": dict(checkpoints),
                        "carried_left": carried_left,
                    }
                ]
            )

    def rotate(self) -> int | None:
        return self.journal.rotate() if self.journal is not None else None

    def close(self, _grace: float = 0.0) -> dict[str, Any] | None:
        """Sync and close the journal (nothing is written after); what the folder holds."""
        if self.journal is None:
            return None
        from moto.dynamodb.models import dynamodb_backends  # noqa: PLC0415

        self.journal.close()
        backend = dynamodb_backends[self._account][self._region]
        summary = {
            "items": sum(len(table) for table in backend.tables.values()),
            "journal_bytes": self.journal.bytes_written,
            "write_requests": self.recorder.requests,
            "journal_seconds": self.recorder.seconds,
            "journal_cpu_seconds": self.recorder.cpu_seconds,
            "journal_flush_seconds": self.recorder.flush_seconds,
            "write_seconds_max": self.journal.write_seconds_max,
            "syncs": self.journal.syncs,
            "sync_seconds_max": self.journal.sync_seconds_max,
        }
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None
        return summary


def _run_consumer(channel: _Channel, config: Mapping[str, Any]) -> None:
    from acd_devkit.moto_resources import aws_clients  # noqa: PLC0415
    from acd_local.invoke import ErrorLog, FunctionInvoker  # noqa: PLC0415
    from acd_local.lambda_runtime import load_handler  # noqa: PLC0415
    from acd_local.streams import StreamPoller  # noqa: PLC0415

    function = config["function"]
    handler = load_handler(function.code_uri, function.handler)
    invoker = FunctionInvoker(function, handler, threading.Lock(), config["region"])

    class PushedErrors(ErrorLog):
        def record(self, function: str, source: str, exc: BaseException) -> None:
            super().record(function, source, exc)
            channel.push("error", self.entries[-1])

    def progress(poller: StreamPoller) -> None:
        channel.push("progress", (poller.checkpoints, poller.carried_left))

    poller = StreamPoller(
        config["mapping"],
        invoker,
        aws_clients(config["endpoint_url"], config["region"]),
        stream_arn=config["stream_arn"],
        dlq_url=config["dlq_url"],
        region=config["region"],
        errors=PushedErrors(),
        poll_interval=config["poll_interval"],
        retry_delay=config["retry_delay"],
        max_retry_delay=config["max_retry_delay"],
        checkpoints=config.get("checkpoints"),
        carried=config.get("carried", ()),
        on_progress=progress,
    )
    poller.start()
    stopped = threading.Event()

    def report_lag() -> None:
        # What the parent shows and serves (lag per consumer), a few times a second.
        while not stopped.wait(0.5):
            channel.push("lag", (poller.lag(), poller.invocations, poller.dead_lettered))

    threading.Thread(target=report_lag, name="lag", daemon=True).start()
    channel.push("ready", os.getpid())

    def pause(timeout: float) -> tuple[bool, dict[str, str], int]:
        paused = poller.pause(timeout)
        return paused, poller.checkpoints, poller.carried_left

    def stop(grace: float = 3.0) -> tuple[dict[str, str], int]:
        stopped.set()
        poller.stop()
        poller.join(grace)
        return poller.checkpoints, poller.carried_left

    def call(function: Callable[..., Any], *args: Any) -> Any:
        # For tests: run ``function(handler, *args)`` in this container (e.g. break its SNS).
        return function(handler, *args)

    def wake() -> None:
        poller.wake()

    def idle_cycles() -> int:
        poller.wake()
        return poller.idle_cycles()

    _serve(
        channel,
        {
            "pause": pause,
            "resume": poller.resume,
            "stop": stop,
            "call": call,
            "wake": wake,
            "idle_cycles": idle_cycles,
            "lag": poller.lag,
            "checkpoints": lambda: (poller.checkpoints, poller.carried_left),
        },
    )


def _run_keeper(channel: _Channel, config: Mapping[str, Any]) -> None:
    """Folds the data folder's closed journal segments into its base for the parent, from the
    files alone (it costs what the data costs: CPU the endpoint's and moto's processes should
    not spend)."""
    from pathlib import Path  # noqa: PLC0415

    from acd_local import state as local_state  # noqa: PLC0415

    directory = Path(config["data_dir"])

    def compact(min_bytes: int = 0) -> dict[str, Any] | None:
        return local_state.compact(directory, min_bytes=min_bytes)

    channel.push("ready", os.getpid())
    _serve(channel, {"compact": compact, "stop": lambda _grace=1.0: None})


_ROLES: dict[str, Callable[[_Channel, Mapping[str, Any]], None]] = {
    "moto": _run_moto,
    "consumer": _run_consumer,
    "keeper": _run_keeper,
}


def main(argv: list[str]) -> None:
    channel = _Channel(Connection(int(argv[1])))
    config = channel.conn.recv()
    # The parent's import path (tests pass functions by reference for ``call``).
    for entry in reversed(config.get("sys_path", ())):
        if entry not in sys.path:
            sys.path.insert(0, entry)
    if config.get("nice"):
        with contextlib.suppress(OSError):
            os.nice(config["nice"])
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    local_log = logging.getLogger("acd_local")
    local_log.addHandler(handler)
    local_log.setLevel(logging.INFO)
    local_log.propagate = False
    started = time.monotonic()
    try:
        _ROLES[config["role"]](channel, config)
    except BaseException as exc:
        if time.monotonic() - started < 60:
            channel.push("failed", f"{type(exc).__name__}: {exc}")
        raise
    finally:
        sys.stdout.flush()
        sys.stderr.flush()


if __name__ == "__main__":
    main(sys.argv)
