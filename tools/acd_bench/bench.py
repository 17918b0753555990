"""``make bench``: what the hub costs, each figure next to a bare baseline measured in the same run.

Eight measurements (see ``docs/bench.md`` for the latest table):

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
8. **billed units with live arrival** — billed write and read units, requests and items per
   callback, the day's callbacks sent in order and aggregated after every 1, 10 or 100 of them
   (DynamoDB in memory counts units as AWS bills them), on the 1× and 16× day.

Figures are medians of interleaved repetitions on a noisy machine: read the ratios, not the
absolute values. Nothing here is a timed test (``tests/tools/test_bench.py`` checks structure).

This module is the command line. Each measurement is a module of its own (``ingest_warm``,
``cold_start``, ``aggregation``, ``local_e2e``, ``deployment``, ``scaling``) over a shared
``harness``, and ``report`` writes the table and ``docs/bench.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from acd_bench.aggregation import bench_aggregation
from acd_bench.cold_start import bench_cold_start
from acd_bench.deployment import bench_deployment_size
from acd_bench.dialer_settle import bench_dialer_settle
from acd_bench.harness import REPO
from acd_bench.ingest_warm import bench_ingest_warm
from acd_bench.live_cost import bench_live_cost
from acd_bench.local_e2e import bench_local_e2e
from acd_bench.report import SCALING_HEADERS, markdown, rows, scaling_table, text_lines, text_table
from acd_bench.scaling import bench_aggregation_scaling

PARTS: dict[str, Callable[..., dict[str, Any]]] = {
    "ingest_warm": bench_ingest_warm,
    "cold_start": bench_cold_start,
    "aggregation": bench_aggregation,
    "aggregation_scaling": bench_aggregation_scaling,
    "local_e2e": bench_local_e2e,
    "deployment_size": bench_deployment_size,
    "live_cost": bench_live_cost,
    "dialer_settle": bench_dialer_settle,
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
    "live_cost": {"factors": (1, 2), "batch_sizes": (1, 10)},
    "dialer_settle": {"changes": 300},
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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="acd-bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("bench-results.json"), help="JSON results")
    parser.add_argument("--md", type=Path, default=REPO / "docs" / "bench.md", help="markdown table")
    parser.add_argument("--no-md", action="store_true", help="do not write the markdown table")
    parser.add_argument("--only", default=",".join(PARTS), help=f"comma-separated: {', '.join(PARTS)}")
    parser.add_argument("--quick", action="store_true", help="tiny repetition counts (a smoke run)")
    parser.add_argument("--no-build", action="store_true", help="never run make build for the sizes")
    args = parser.parse_args(argv)
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
        print(text_lines(SCALING_HEADERS, scaling_table(scaling)))
    print(f"\nwritten: {args.out}" + ("" if args.no_md else f", {args.md}"))
    return 1 if results["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
