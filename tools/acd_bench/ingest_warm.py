"""1. The ingest handler warm: time per event of ``functions/ingest/app.py`` (the real module) vs
two baselines and a floor, all calling the *same* boto3 DynamoDB client whose HTTP layer is stubbed: the
handler that makes the same DynamoDB requests with the same items as the ingest (recorded from
the ingest's first pass, a ``callevent``'s key claim included) and nothing else, and the bare
handler (``parse_qs`` and one ``PutItem``); the floor sends the same requests behind the libraries
the ingest is built on (Powertools' resolver, logger, metrics; a pydantic answer). API Gateway events from ``events/ingest`` plus
agentstate/callevent requests of a simulated day. The handlers take turns event by event;
medians over rounds."""

from __future__ import annotations

import copy
import gc
import json
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from acd_bench.bare import bare_handler, libraries_handler, same_requests_handler
from acd_bench.dynamo import stub_http
from acd_bench.harness import (
    REPO,
    UNSET_ENV,
    function_env,
    median,
    quiet_stdout,
    ratio,
    simulated_day,
)
from acd_devkit.lambda_events import FakeLambdaContext, callback_event, patched_env
from acd_local.lambda_runtime import load_handler

MODULE = "acd_bench_ingest_app"


def _context() -> FakeLambdaContext:
    """The ingest function's context, as the template sizes it."""
    return FakeLambdaContext("IngestFunction", memory_limit_in_mb=512, timeout_seconds=10)


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
            events.append(callback_event(method, list(sim_event.params.items()), request_id=f"sim-{i}"))
            origin["simulated"] += 1
    return events, origin


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


class _Recorded:
    """While the block runs, every ``put_item`` request of a client, as sent (deep copies)."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.requests: list[dict[str, Any]] = []

    def __enter__(self) -> _Recorded:
        original = self.client.put_item

        def put_item(**kwargs: Any) -> Any:
            self.requests.append(copy.deepcopy(kwargs))
            return original(**kwargs)

        self.client.put_item = put_item
        return self

    def __exit__(self, *_: object) -> None:
        del self.client.put_item  # the instance attribute: the wrapped method shows again


def _first_pass(
    handler: Callable[[dict[str, Any], Any], Any], client: Any, events: Sequence[dict[str, Any]]
) -> tuple[Counter[int], dict[str, list[dict[str, Any]]]]:
    """The ingest's answers to every event, and the ``put_item`` requests it sent per event (by
    request id)."""
    statuses: Counter[int] = Counter()
    sent: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        with _Recorded(client) as recorded:
            statuses[handler(event, _context())["statusCode"]] += 1
        sent[event["requestContext"]["requestId"]] = recorded.requests
    return statuses, sent


def _interleaved_pass(
    handlers: Sequence[Callable[[dict[str, Any], Any], Any]],
    events: Sequence[dict[str, Any]],
    flip: bool,
    inner: _TimedCalls | None = None,
) -> tuple[list[float], list[float]]:
    """Seconds per handler for one pass over ``events``, the handlers taking turns event by event
    (the order alternating too), so a noisy neighbour slows both alike; and of those, the seconds
    inside ``inner``'s calls."""
    context = _context()
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
    """µs per warm event: the ingest module's handler vs the same requests alone and vs the bare
    handler, one stubbed client."""
    events, origin = ingest_events(sim_events)
    with patched_env(function_env(), unset=UNSET_ENV):
        from acd_hub.aws import dynamodb_client  # noqa: PLC0415

        dynamodb_client.cache_clear()
        client = dynamodb_client("", interactive=True)  # the one the ingest module picks up (cached)
        stub_http(client)
        try:
            with quiet_stdout():
                ingest = load_handler(REPO / "functions" / "ingest", "app.lambda_handler", module_name=MODULE)
                statuses, sent = _first_pass(ingest, client, events)
                if set(statuses) != {200}:
                    raise RuntimeError(
                        f"the ingest handler did not store every bench event: {dict(statuses)}"
                    )
                boto3_calls = _TimedCalls(client)
                handlers = {
                    "ingest": ingest,
                    "same_requests": same_requests_handler(client, sent),
                    "libraries": libraries_handler(client, sent),
                    "bare": bare_handler(client),
                }
                _interleaved_pass(list(handlers.values()), events, flip=False)  # warm: every path once
                per_event: dict[str, list[float]] = {name: [] for name in handlers}
                in_put_item: dict[str, list[float]] = {name: [] for name in handlers}
                for i in range(rounds):
                    gc.collect()
                    totals, inside = _interleaved_pass(
                        list(handlers.values()), events, i % 2 == 1, boto3_calls
                    )
                    for name, total, put in zip(handlers, totals, inside, strict=True):
                        per_event[name].append(total / len(events) * 1e6)
                        in_put_item[name].append(put / len(events) * 1e6)
        finally:
            dynamodb_client.cache_clear()
            sys.modules.pop(MODULE, None)
    ingest_us, bare_us = median(per_event["ingest"]), median(per_event["bare"])
    same_us, libraries_us = median(per_event["same_requests"]), median(per_event["libraries"])
    return {
        "events": len(events),
        "event_origin": origin,
        "rounds": rounds,
        "put_item_requests_per_event": sum(len(r) for r in sent.values()) / len(events),
        "ingest_us_per_event": ingest_us,
        "same_requests_us_per_event": same_us,
        "bare_us_per_event": bare_us,
        # the floor: the same requests behind Powertools' resolver, logger and metrics alone
        "libraries_us_per_event": libraries_us,
        "ratio_libraries_same_requests": ratio(libraries_us, same_us),
        "ratio_same_requests": ratio(ingest_us, same_us),
        "ratio": ratio(ingest_us, bare_us),
        # what the hub adds to the DynamoDB requests it has to make, per round then the median
        "hub_own_us_per_event": median(
            [a - b for a, b in zip(per_event["ingest"], per_event["same_requests"], strict=True)]
        ),
        # of those, inside boto3's put_item calls (the stored items' size shows here)
        "ingest_put_item_us_per_event": median(in_put_item["ingest"]),
        "same_requests_put_item_us_per_event": median(in_put_item["same_requests"]),
        "libraries_put_item_us_per_event": median(in_put_item["libraries"]),
        "bare_put_item_us_per_event": median(in_put_item["bare"]),
        "ratio_per_round_median": median(
            [a / b for a, b in zip(per_event["ingest"], per_event["same_requests"], strict=True)]
        ),
        "samples_us": per_event,
        "target_ratio_max": 1.3,  # issue 19: against the same requests
        "target_hub_own_us_max": 150.0,
    }
