"""Invoking a function's handler as Lambda would: one container at a time, a fresh context
per call, its errors kept for the stack to show.
"""

from __future__ import annotations

import queue
import threading
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from acd_devkit.lambda_events import FakeLambdaContext
from acd_devkit.moto_resources import ACCOUNT_ID, REGION
from acd_local.lambda_runtime import Handler
from acd_local.spec import FunctionSpec


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
        self.invokers = list(invokers)
        self.spec = self.invokers[0].spec
        self._free: queue.SimpleQueue[FunctionInvoker] = queue.SimpleQueue()
        for invoker in self.invokers:
            self._free.put(invoker)

    @property
    def arn(self) -> str:
        return self.invokers[0].arn

    def __call__(self, event: dict[str, Any]) -> Any:
        invoker = self._free.get()
        try:
            return invoker(event)
        finally:
            self._free.put(invoker)


class ErrorLog:
    """Handler exceptions, kept so tests can assert there were none."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.entries: list[InvocationError] = []

    def record(self, function: str, source: str, exc: BaseException) -> None:
        entry = InvocationError(function, source, repr(exc), "".join(traceback.format_exception(exc)))
        with self._lock:
            self.entries.append(entry)
