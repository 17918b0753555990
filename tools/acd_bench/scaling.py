"""7. Aggregation scaling: DynamoDB requests, items read and items written per aggregated event
and events/s on days of 1×, 4× and 16× a base day (more calls, same agents and hotlines), in
batches of 10 and of 100: a constant-cost design keeps the per-event figures flat as the day
grows."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from acd_bench.dynamo import report_item_sizes
from acd_bench.harness import ratio, simulated_day
from acd_bench.replay import (
    StreamRun,
    build_aggregators,
    callback_request,
    fresh_reports_table,
    moto_hub,
    run_stream,
    stream_records,
    stream_tasks,
)
from acd_sim.model import SimEvent

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


def day_shape(day: Sequence[SimEvent]) -> dict[str, Any]:
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


def _per_event_figures(run: StreamRun, functions: Sequence[str]) -> dict[str, Any]:
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
        "per_aggregator": {
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
        with moto_hub() as hub:
            ingest_started = time.perf_counter()
            for i, sim_event in enumerate(day):
                hub.ingest.handle(callback_request(sim_event.params, f"scale-{factor}-{i}"))
            ingest_seconds = time.perf_counter() - ingest_started
            records = stream_records(hub.store.stored)
            cmds = [item["cmd"] for item in hub.store.stored]
            for batch_size in batch_sizes:
                settings = fresh_reports_table(hub, f"x{factor}-b{batch_size}")
                aggregators = build_aggregators(hub.client, settings)
                tasks, delivered = stream_tasks(records, cmds, aggregators, batch_size)
                hub.counter.reset()
                run = run_stream(
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
                        "ratio": ratio(figures["events_per_s"], figures["getitem_per_s"]),
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
                    "ratio": ratio(large[key], small[key])
                    if small[key] is not None and large[key] is not None
                    else None,
                }
                for key, _ in PER_EVENT_FIGURES
            },
        }
    return growth
