"""8. What a callback costs on AWS's bill, with live arrival: billed write and read units.

Section 7 stores the whole day, then aggregates it: every call is summarised once. Live, the
stream hands the aggregators a call's events as they arrive, minutes apart, so a call is
recomputed (and its transaction paid) once per batch that touches it. Here the real ingest
(``CallbackIngest``) and both real aggregators run on DynamoDB in memory
(:mod:`acd_devkit.memory_dynamodb`), whose meter counts units as AWS bills them: a write 1 unit
per KB (of the larger of the item before and after), a transactional write or condition check
2 per KB, a strongly consistent read 1 unit per 4 KB (a query rounds its items' total, a batch
read each item), an eventually consistent one half. The day's callbacks are sent in their
simulated order; after every ``batch`` of them the stream records they made are delivered
(filtered per function by the template's filter criteria) and aggregated: batches of 1 are a
big center's case, where a call's events arrive minutes apart.

Not counted: the fan-out (SNS, no DynamoDB), the stream reads (DynamoDB Streams' GetRecords are
free for Lambda triggers), the rebuild.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from acd_bench.harness import ratio, simulated_day
from acd_bench.replay import STATS_FUNCTION, TOKEN, build_aggregators, callback_request
from acd_devkit.dynamodb_table import Meter
from acd_devkit.memory_dynamodb import MemoryDynamoDB
from acd_devkit.memory_stream import mappings
from acd_devkit.stream_mapping import lambda_stream_record, passes_filters
from acd_devkit.template import dynamodb_tables, load_template
from acd_hub.adapters.events_table import EventsTable
from acd_hub.aggregation import aggregate_together
from acd_hub.auth import static_tokens
from acd_hub.ingest import CallbackIngest
from acd_hub.settings import HubSettings

LIVE_BASE = {"agents": 4, "calls": 25, "outbound": 5}
LIVE_FACTORS = (1, 16)
LIVE_BATCHES = (1, 10, 100)
BILLED_WRITES_TARGET = 8.0  # billed write units per callback, live arrival, batches of 1
GROWTH_MAX = 1.15


def _snapshot(meter: Meter) -> tuple[float, float, int, int]:
    return (
        meter.total_write_units(),
        meter.total_read_units(),
        sum(meter.requests.values()),
        sum(meter.items_read.values()) + sum(meter.items_written.values()),
    )


def live_day(config: Mapping[str, int], batch: int, seed: int) -> dict[str, Any]:
    """One simulated day sent and aggregated live, ``batch`` callbacks between deliveries."""
    day = simulated_day(seed=seed, **config)
    tables = dynamodb_tables(load_template())
    db: Any = MemoryDynamoDB(tables)  # the low-level client's interface, in memory
    settings = HubSettings(
        events_table=tables["EventsTable"]["TableName"],
        reports_table=tables["ReportsTable"]["TableName"],
        callback_tokens=[TOKEN],
    )
    ingest = CallbackIngest(settings, EventsTable(db, settings.events_table), static_tokens(settings))
    events = EventsTable(db, settings.events_table)
    aggregators = build_aggregators(db, settings)
    stats_filter = mappings()[STATS_FUNCTION].filter_patterns
    stream = db.stream(settings.events_table)  # type: ignore[union-attr]
    handled = 0
    ingest_units = [0.0, 0.0, 0, 0]
    aggregation_units = [0.0, 0.0, 0, 0]
    started = time.perf_counter()
    for start in range(0, len(day), batch):
        before = _snapshot(db.meter)
        for i, sim_event in enumerate(day[start : start + batch]):
            ingest.handle(callback_request(sim_event.params, f"live-{start + i}"))
        after = _snapshot(db.meter)
        ingest_units = [a + (b - c) for a, b, c in zip(ingest_units, after, before, strict=True)]
        new = [lambda_stream_record(raw, stream.arn, "eu-central-1") for raw in stream.shards[0][handled:]]
        handled = len(stream.shards[0])
        kept = [record for record in new if passes_filters(stats_filter, record)]
        if kept:  # as the stats function: both aggregators side by side on the batch
            outcome = aggregate_together(
                tuple(aggregators.values()), events.stream_records({"Records": kept})
            )
            assert not outcome.failed, f"failed records: {outcome.warnings}"
        done = _snapshot(db.meter)
        aggregation_units = [a + (b - c) for a, b, c in zip(aggregation_units, done, after, strict=True)]
    callbacks = len(day)

    def per(value: float) -> float:
        return value / callbacks

    return {
        "callbacks": callbacks,
        "batch": batch,
        "seconds": time.perf_counter() - started,
        "billed_write_units_per_callback": per(ingest_units[0] + aggregation_units[0]),
        "billed_read_units_per_callback": per(ingest_units[1] + aggregation_units[1]),
        "requests_per_callback": per(ingest_units[2] + aggregation_units[2]),
        "items_per_callback": per(ingest_units[3] + aggregation_units[3]),
        "ingest_write_units_per_callback": per(ingest_units[0]),
        "aggregation_write_units_per_callback": per(aggregation_units[0]),
        "aggregation_read_units_per_callback": per(aggregation_units[1]),
        "write_units_by_request": dict(sorted(db.meter.requests.items())),
        # what the day leaves stored (storage bills it): the events table with its index
        # entries and claims, and the reports table
        "stored_bytes_per_callback": {
            (name if part == "table" else f"{name} {part}"): per(size)
            for name, table in sorted(db.tables.items())
            for part, size in table.stored_bytes().items()
        },
    }


def bench_live_cost(
    base: Mapping[str, int] | None = None,
    factors: Sequence[int] = LIVE_FACTORS,
    batch_sizes: Sequence[int] = LIVE_BATCHES,
    seed: int = 7,
) -> dict[str, Any]:
    base = dict(base or LIVE_BASE)
    runs = []
    for factor in factors:
        config = {
            "agents": base["agents"],
            "calls": base["calls"] * factor,
            "outbound": base["outbound"] * factor,
        }
        for batch in batch_sizes:
            runs.append({"factor": factor, **live_day(config, batch, seed)})
    growth = {}
    for batch in batch_sizes:
        mine = sorted((r for r in runs if r["batch"] == batch), key=lambda r: r["factor"])
        if len(mine) >= 2:
            growth[str(batch)] = ratio(
                mine[-1]["billed_write_units_per_callback"], mine[0]["billed_write_units_per_callback"]
            )
    return {
        "base": base,
        "factors": list(factors),
        "batch_sizes": list(batch_sizes),
        "runs": runs,
        "growth": growth,
        "target_billed_writes_batch_1": BILLED_WRITES_TARGET,
        "target_growth_max": GROWTH_MAX,
    }
