"""Invoking a function's handler as Lambda would: one container at a time, a fresh context
per call, its errors kept for the stack to show.
"""

from __future__ import annotations

import queue
import threading
import time
import traceback
from collections.abc import Sequence
from concurrent.futures import Future
from concurrent.futures import wait as wait_for
from dataclasses import dataclass
from typing import Any

from acd_devkit.lambda_events import FakeLambdaContext
from acd_devkit.moto_resources import ACCOUNT_ID, REGION
from acd_local.lambda_runtime import Handler, isolate_router_state
from acd_local.spec import FunctionSpec

# API Gateway's limit on an integration's answer (HTTP API: 30 s); a request without one by then
# gets the gateway's 503.
INTEGRATION_TIMEOUT = 30.0


class FunctionTimedOut(Exception):
    """The handler ran past its function's ``Timeout``: Lambda ends the invocation ("Task timed
    out after N seconds") and API Gateway answers 500."""


class RuntimeExited(Exception):
    """The handler ended its runtime (``sys.exit()``, another BaseException): Lambda's
    ``Runtime.ExitError``, API Gateway's 500."""


class IntegrationTimedOut(Exception):
    """No answer within API Gateway's integration timeout (every container busy): a 503."""


@dataclass(frozen=True)
class InvocationError:
    function: str
    source: str  # "http" or "stream"
    error: str
    traceback: str


class FunctionInvoker:
    """Calls one function's handler the way one Lambda container would."""

    def __init__(
        self, spec: FunctionSpec, handler: Handler, lock: threading.Lock, region: str = REGION
    ) -> None:
        self.spec = spec
        self.handler = handler
        self._lock = lock
        self._region = region

    @property
    def arn(self) -> str:
        return f"arn:aws:lambda:{self._region}:{ACCOUNT_ID}:function:{self.spec.logical_id}"

    def __call__(self, event: dict[str, Any]) -> Any:
        context = FakeLambdaContext(
            function_name=self.spec.logical_id,
            memory_limit_in_mb=self.spec.memory_mb,
            timeout_seconds=self.spec.timeout_seconds,
            region=self._region,
        )
        # One invocation of a container at a time: a function's module state (the resolver's
        # current_event) is not made for concurrent requests. Concurrency comes from more
        # containers (see InvokerPool), as on Lambda.
        with self._lock:
            return self.handler(event, context)


class InvokerPool:
    """Several containers of one function (each its own import of the module, so its own module
    state), as Lambda runs concurrent invocations: a request takes a free one. Without this the
    endpoint answered one callback at a time, each waiting for moto's answer to its write.

    The containers share the layer's module-level objects (one boto3 client, thread-safe) and
    Powertools' per-service logger, so under concurrency a log line may carry another
    invocation's request id (never another function's name)."""

    def __init__(self, invokers: Sequence[FunctionInvoker]) -> None:
        if len(invokers) > 1:
            isolate_router_state()  # the containers are threads: each needs its own request
        self.invokers = list(invokers)
        self.spec = self.invokers[0].spec
        self._free: queue.SimpleQueue[FunctionInvoker] = queue.SimpleQueue()
        for invoker in self.invokers:
            self._free.put(invoker)

    @property
    def arn(self) -> str:
        return self.invokers[0].arn

    def __call__(self, event: dict[str, Any], *, timeout: float = INTEGRATION_TIMEOUT) -> Any:
        """The answer of a free container, as Lambda's timeout and API Gateway's bound it: a
        handler past its function's ``Timeout`` is :class:`FunctionTimedOut`, no answer within
        ``timeout`` seconds (waiting for a container included) :class:`IntegrationTimedOut`.
        Before, a handler that never returned held its request (and, once every container hung,
        every request) forever. A thread cannot be killed as Lambda kills a container: one that
        timed out goes back into the pool once its handler does return."""
        started = time.monotonic()
        try:
            invoker = self._free.get(timeout=timeout)
        except queue.Empty:
            raise IntegrationTimedOut(
                f"no container of {self.spec.logical_id} free within {timeout:g} s"
            ) from None
        answer: Future[Any] = Future()

        def run() -> None:
            try:
                answer.set_result(invoker(event))
            except Exception as exc:
                answer.set_exception(exc)
            except BaseException as exc:
                # Re-raised in the gateway's thread it ended that thread: no answer at all, a
                # waitress traceback, nothing in the error log.
                failure = RuntimeExited(f"Runtime exited: {exc!r}")
                failure.__cause__ = exc
                answer.set_exception(failure)
            finally:
                self._free.put(invoker)

        threading.Thread(target=run, name=f"{self.spec.logical_id}-invocation", daemon=True).start()
        left = max(0.0, timeout - (time.monotonic() - started))
        limit = self.spec.timeout_seconds
        wait_for([answer], min(limit, left))
        if answer.done():
            return answer.result()
        if limit <= left:
            raise FunctionTimedOut(f"Task timed out after {limit:.2f} seconds")
        raise IntegrationTimedOut(f"{self.spec.logical_id} gave no answer within {timeout:g} s")


class ErrorLog:
    """Handler exceptions, kept so tests can assert there were none."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.entries: list[InvocationError] = []

    def record(self, function: str, source: str, exc: BaseException) -> None:
        entry = InvocationError(function, source, repr(exc), "".join(traceback.format_exception(exc)))
        with self._lock:
            self.entries.append(entry)
