"""3. Aggregation: a simulated day stored with the real ingest code in moto's in-process DynamoDB,
its stream records through both aggregators vs a loop doing one ``GetItem`` per event; and
5. the DynamoDB requests and items written per ingested (and duplicate) and per aggregated
event, counted with botocore event hooks on the client."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from acd_bench.dynamo import DynamoCounter
from acd_bench.harness import ratio, simulated_day
from acd_bench.replay import (
    build_aggregators,
    callback_request,
    moto_hub,
    run_stream,
    stream_records,
    stream_tasks,
)
from acd_sim.model import SimEvent

# The aggregation day: a small call center's whole day (~1,100 events), kept as the earlier runs
# measured it so this row stays comparable; how the cost behaves as a day grows is section 7's.
AGGREGATION_DAY = {"agents": 4, "calls": 100, "outbound": 12}


def _counts(counter: DynamoCounter, events: int) -> dict[str, Any]:
    """What ``counter`` counted over ``events`` events, per event."""
    return {
        "events": events,
        "requests_per_event": counter.requests / events if events else None,
        "items_written_per_event": counter.items_written / events if events else None,
        "calls": dict(counter.calls),
    }


def bench_aggregation(
    day_events: Sequence[SimEvent] | None = None,
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
    with moto_hub() as hub:
        client, settings, counter = hub.client, hub.settings, hub.counter
        store, ingest = hub.store, hub.ingest

        # -- ingest: first deliveries, then a share delivered again
        for i, sim_event in enumerate(day):
            ingest.handle(callback_request(sim_event.params, f"first-{i}"))
        ingest_counts = _counts(counter, len(day))
        counter.reset()
        repeated = day[:: max(1, round(1 / duplicates))] if duplicates else []
        for i, sim_event in enumerate(repeated):
            if not ingest.handle(callback_request(sim_event.params, f"again-{i}")).duplicate:
                raise RuntimeError("a repeated callback was stored twice")
        duplicate_counts = _counts(counter, len(repeated))

        # -- the stream, as the stats function's event source mapping delivers it
        records = stream_records(store.stored)
        aggregators = build_aggregators(client, settings)
        tasks, delivered = stream_tasks(records, [i["cmd"] for i in store.stored], aggregators, batch_size)
        run = run_stream(
            tasks, aggregators, client, counter, table=settings.events_table, max_seconds=max_seconds
        )

    events = run.covered
    # the work of both (the stats function runs them side by side: its batches take less)
    aggregation_s = sum(run.seconds[name] for name in aggregators)
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
        "ratio": ratio(rate, baseline_rate),
        "per_aggregator_records_per_s": {f: per(run.processed[f], run.seconds[f]) for f in aggregators},
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
                "per_aggregator": {
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
