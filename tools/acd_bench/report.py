"""The report of ``make bench``: the table of figures, baselines, ratios and targets (text for
the terminal, markdown for ``docs/bench.md``), the scaling section's every run, and how each
figure is measured."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from acd_bench.aggregation import AGGREGATION_DAY
from acd_bench.harness import ratio
from acd_bench.scaling import PER_EVENT_FIGURES


@dataclass
class Row:
    metric: str
    measured: str
    baseline: str = "—"
    ratio: str = "—"
    target: str = "—"
    met: str = "—"

    def cells(self) -> list[str]:
        return [self.metric, self.measured, self.baseline, self.ratio, self.target, self.met]


HEADERS = ["metric", "measured", "baseline", "ratio", "target", "met?"]


def _yes(ok: bool) -> str:
    return "yes" if ok else "**NO**"


def _times(ratio: float | None) -> str:
    return "—" if ratio is None else f"{ratio:.2f}×"


def _at_most(ratio: float | None, limit: float) -> str:
    return _yes(ratio is not None and ratio <= limit)


def _against_bare(
    metric: str,
    measured: float,
    bare: float,
    unit: str,
    times: float | None,
    *,
    target_max: float | None = None,
) -> Row:
    """A row of the ingest against the bare handler: both figures, their ratio, its target if any."""
    row = Row(metric, f"{measured:.0f} {unit}", f"{bare:.0f} {unit} (bare)", _times(times))
    if target_max is not None:
        row.target, row.met = f"≤ {target_max:.2f}×", _at_most(times, target_max)
    return row


def _ingest_warm_rows(r: Mapping[str, Any]) -> list[Row]:
    """1: the warm ingest per event against the same DynamoDB requests alone (the hub's own work
    is the difference) and against the bare handler, and the part of each inside boto3."""
    same, own = r["same_requests_us_per_event"], r["hub_own_us_per_event"]
    own_max = r["target_hub_own_us_max"]
    return [
        Row(
            "1 ingest handler, warm, per event vs the same requests",
            f"{r['ingest_us_per_event']:.0f} µs",
            f"{same:.0f} µs (the same {r['put_item_requests_per_event']:.2f} PutItem/event alone)",
            _times(r["ratio_same_requests"]),
            f"≤ {r['target_ratio_max']:.2f}×",
            _at_most(r["ratio_same_requests"], r["target_ratio_max"]),
        ),
        Row(
            "1 … the hub's own work per event (ingest − the same requests)",
            f"{own:.0f} µs",
            target=f"≤ {own_max:.0f} µs",
            met=_yes(own <= own_max),
        ),
        _against_bare(
            "1 ingest handler, warm, per event vs bare",
            r["ingest_us_per_event"],
            r["bare_us_per_event"],
            "µs",
            r["ratio"],
        ),
        Row(
            "1 … floor: the same requests behind Powertools' resolver, logger and metrics alone",
            f"{r['libraries_us_per_event']:.0f} µs",
            f"{same:.0f} µs (the same requests)",
            _times(r["ratio_libraries_same_requests"]),
        ),
        Row(
            "1 … of which inside boto3 put_item (stubbed HTTP)",
            f"{r['ingest_put_item_us_per_event']:.0f} µs",
            f"{r['same_requests_put_item_us_per_event']:.0f} µs (same requests), "
            f"{r['bare_put_item_us_per_event']:.0f} µs (bare)",
        ),
    ]


def _cold_start_rows(r: Mapping[str, Any]) -> list[Row]:
    """2: the import, the first request, both together."""
    return [
        _against_bare(
            "2 cold start: import of the module",
            r["ingest_import_ms"],
            r["bare_import_ms"],
            "ms",
            r["import_ratio"],
            target_max=r["target_ratio_max"],
        ),
        _against_bare(
            "2 … floor: import of boto3's client, Powertools' resolver, logger, metrics, pydantic",
            r["libraries_import_ms"],
            r["bare_import_ms"],
            "ms",
            r["libraries_import_ratio"],
        ),
        _against_bare(
            "2 cold start: first request after import",
            r["ingest_first_request_ms"],
            r["bare_first_request_ms"],
            "ms",
            r["first_request_ratio"],
        ),
        _against_bare(
            "2 cold start: import + first request",
            r["ingest_cold_total_ms"],
            r["bare_cold_total_ms"],
            "ms",
            r["cold_total_ratio"],
        ),
    ]


def _aggregation_rows(r: Mapping[str, Any]) -> list[Row]:
    """3: aggregation events/s against GetItem/s."""
    day = r.get("day_config") or {}
    size = f"{day['agents']} agents, {day['calls']} calls, " if day else ""
    partial = f", first {r['measured_events']} (time budget)" if r.get("partial") else ""
    return [
        Row(
            f"3 aggregation, both aggregators, in-process moto (sim day: {size}{r['stored_events']} events{partial})",
            f"{r['events_per_s']:,.0f} events/s",
            f"{r['getitem_events_per_s']:,.0f} GetItem/s",
            _times(r["ratio"]),
            "≥ 2,000 events/s",
            _yes(r["events_per_s"] >= r["target_events_per_s_min"]),
        )
    ]


def _local_e2e_rows(r: Mapping[str, Any]) -> list[Row]:
    """4: callbacks/s through acd-local, a snapshot, the default day's settling."""
    out: list[Row] = []
    ok = r["ratio"] is not None and r["ratio"] >= r["target_ratio_min"] and not r["non_2xx_answers"]
    out.append(
        Row(
            f"4 acd-local end to end ({r['concurrency']} clients, stream consumers running, data folder on)",
            f"{r['callbacks_per_s']:.0f} callbacks/s",
            f"{r['raw_putitem_per_s']:.0f} PutItem/s (moto)",
            "—" if r["ratio"] is None else f"{r['ratio'] * 100:.0f} %",
            f"≥ {r['target_ratio_min'] * 100:.0f} %",
            _yes(ok),
        )
    )
    if (d := r.get("default_day")) is not None:
        settle = d["settle_seconds"]
        shown = (
            f"> {d['settle_limit_seconds']:.0f} s (stopped waiting)" if settle is None else f"{settle:.1f} s"
        )
        kpis = {
            True: "KPIs = simulator's",
            False: "KPIs differ from the simulator's",
            None: "KPIs not compared",
        }[d["kpis_equal_expected"]]
        if (snap := d.get("snapshot")) is not None:
            out.append(
                Row(
                    "4 acd-local: one compaction of the data folder after that day",
                    f"{snap['total_seconds']:.1f} s ({snap['items']:,} items, {snap['bytes'] / 1e6:.1f} MB)",
                )
            )
        out.append(
            Row(
                "4 acd-local: README's default acd-sim day, reports settled after the last callback",
                f"{shown} ({kpis}; sent in {d['send_seconds']:.0f} s)",
                "—",
                "—",
                f"≤ {d['target_settle_seconds_max']:.0f} s",
                _yes(
                    settle is not None
                    and settle <= d["target_settle_seconds_max"]
                    and d["kpis_equal_expected"] is not False
                ),
            )
        )
        if (h := d.get("day_report")) is not None:
            out.append(
                Row(
                    "4 acd-report html of that day (own process) vs the report's reads alone",
                    f"{h['html_seconds']:.1f} s ({h['html_bytes'] / 1024:.0f} KB)",
                    f"{h['reads_seconds']:.1f} s (reads)",
                    _times(h["ratio"]),
                    f"≤ {h['target_seconds_max']:.0f} s",
                    _yes(h["html_seconds"] <= h["target_seconds_max"]),
                )
            )
            if (counted := h.get("reads")) is not None:
                operations = ", ".join(f"{op} {n}" for op, n in sorted(counted["by_operation"].items()))
                out.append(
                    Row(
                        "4 the report's reads of that day: DynamoDB requests and items read",
                        f"{counted['requests']} requests ({operations}), {counted['items_read']:,} items",
                        "—",
                        "—",
                        "—",
                        "—",
                    )
                )
            out.append(
                Row(
                    "4 serve /report of that day until the page is there (fresh server)",
                    f"{h['serve_report_seconds']:.1f} s",
                    f"{h['reads_seconds']:.1f} s (reads)",
                    _times(ratio(h["serve_report_seconds"], h["reads_seconds"])),
                    f"≤ {h['target_seconds_max']:.0f} s",
                    _yes(h["serve_report_seconds"] <= h["target_seconds_max"]),
                )
            )
    return out


def _dynamodb_rows(r: Mapping[str, Any]) -> list[Row]:
    """5: DynamoDB requests and items per ingested, duplicate and aggregated event."""
    out: list[Row] = []
    d = r["dynamodb"]
    for label, key in (
        ("ingested event", "ingest"),
        ("duplicate callback", "duplicate"),
        ("aggregated event", "aggregation"),
    ):
        part = d[key]
        if part["requests_per_event"] is None:
            continue
        calls = ", ".join(f"{op} {n / part['events']:.2f}" for op, n in sorted(part["calls"].items()))
        out.append(Row(f"5 DynamoDB requests per {label}", f"{part['requests_per_event']:.2f} ({calls})"))
        out.append(Row(f"5 items written per {label}", f"{part['items_written_per_event']:.2f}"))
        if part.get("items_read_per_event") is not None:
            out.append(Row(f"5 items read per {label}", f"{part['items_read_per_event']:.1f}"))
    return out


def _size_rows(r: Mapping[str, Any]) -> list[Row]:
    """6: each artifact's size."""
    suffix = " (stale build)" if r["stale"] else ""
    return [
        Row(
            f"6 size of {name}",
            f"{_size(size['unzipped_mb'])} unzipped, {_size(size['zipped_mb'])} zipped{suffix}",
        )
        for name, size in r["artifacts"].items()
    ]


def _day_label(run: Mapping[str, Any]) -> str:
    if run["partial"]:
        return (
            f"{run['factor']}× day: first {run['events']:,} of {run['stored_events']:,} events (time budget)"
        )
    return f"{run['factor']}× day ({run['stored_events']:,} events)"


def scaling_rows(r: Mapping[str, Any]) -> list[Row]:
    """The scaling section's targets: per batch size, each per-event figure on the largest day
    against the smallest (≤ 1.15×), and each day's events/s against moto's GetItem/s (≥ 0.5×)."""
    out: list[Row] = []
    limit, floor = r["target_growth_max"], r["target_rate_ratio_min"]
    for batch_size in r["batch_sizes"]:
        growth = r["growth"].get(str(batch_size))
        if growth is not None:
            budget = " (time budget hit: part of a day)" if growth["partial"] else ""
            for key, label in PER_EVENT_FIGURES:
                figure = growth[key]
                out.append(
                    Row(
                        f"7 {label} per aggregated event, batches of {batch_size}: "
                        f"{growth['to_factor']}× day vs {growth['from_factor']}×{budget}",
                        _figure(figure["large"]),
                        f"{_figure(figure['small'])} ({growth['from_factor']}×)",
                        _times(figure["ratio"]),
                        f"≤ {limit:.2f}×",
                        _at_most(figure["ratio"], limit),
                    )
                )
        for run in sorted((x for x in r["runs"] if x["batch_size"] == batch_size), key=lambda x: x["factor"]):
            failures = f", {run['batch_item_failures']} failed records" if run["batch_item_failures"] else ""
            out.append(
                Row(
                    f"7 aggregation, batches of {batch_size}, {_day_label(run)}{failures}",
                    f"{run['events_per_s']:,.1f} events/s",
                    f"{run['getitem_per_s']:,.0f} GetItem/s",
                    _times(run["ratio"]),
                    f"≥ {floor:.2f}×",
                    _yes(
                        run["ratio"] is not None and run["ratio"] >= floor and not run["batch_item_failures"]
                    ),
                )
            )
    return out


def live_cost_rows(r: Mapping[str, Any]) -> list[Row]:
    """Section 8: billed units per callback with live arrival; the target at batches of 1, and
    the largest day against the smallest at every batch size."""
    out: list[Row] = []
    target, limit = r["target_billed_writes_batch_1"], r["target_growth_max"]
    for run in sorted(r["runs"], key=lambda x: (x["factor"], x["batch"])):
        label = f"{run['factor']}× day ({run['callbacks']:,} callbacks)"
        measured = (
            f"{run['billed_write_units_per_callback']:.2f} WRU ({run['ingest_write_units_per_callback']:.2f} "
            f"ingest + {run['aggregation_write_units_per_callback']:.2f} aggregation), "
            f"{run['billed_read_units_per_callback']:.2f} RRU, {run['requests_per_callback']:.2f} requests, "
            f"{run['items_per_callback']:.2f} items"
        )
        first = run["factor"] == min(r["factors"]) and run["batch"] == 1
        out.append(
            Row(
                f"8 billed write units per callback, live arrival, batches of {run['batch']}, {label}",
                measured,
                target=f"≤ {target:.0f}" if first else "—",
                met=_yes(run["billed_write_units_per_callback"] <= target) if first else "—",
            )
        )
    for batch, growth in r["growth"].items():
        out.append(
            Row(
                f"8 billed write units per callback, batches of {batch}: "
                f"{max(r['factors'])}× day vs {min(r['factors'])}×",
                _times(growth),
                target=f"≤ {limit:.2f}×",
                met=_at_most(growth, limit),
            )
        )
    for run in r["runs"]:
        if run["batch"] == 1 and "stored_bytes_per_callback" in run:
            stored = run["stored_bytes_per_callback"]
            parts = ", ".join(f"{name} {size:,.0f}" for name, size in stored.items())
            out.append(
                Row(
                    f"8 bytes stored per callback, {run['factor']}× day (items and index entries, "
                    "100 bytes each added as storage bills)",
                    f"{sum(stored.values()):,.0f} ({parts})",
                )
            )
    return out


def dialer_settle_rows(r: Mapping[str, Any]) -> list[Row]:
    """Section 9: a dialer agent's shuffled day on acd-local, how long the reports take to settle."""
    settle = r["settle_seconds"]
    measured = (
        "did not settle"
        if settle is None
        else f"{settle:.0f} s after the last callback (sent in {r['send_seconds']:.0f} s), "
        f"reports {'exact' if r['reports_exact'] else '**not exact**'}"
    )
    if settle is not None and not r["reports_exact"] and "events_stored" in r:
        measured += (
            f" (the events table holds {r['events_stored']:,} of the {r['changes']:,} answered; "
            f"reports {'exact' if r['reports_exact_to_stored_events'] else 'not exact'} to those)"
        )
    return [
        Row(
            f"9 a dialer agent's {r['changes']:,} shuffled state changes on acd-local: settled",
            measured,
            target=f"≤ {r['target_settle_seconds_max']:.0f} s",
            met=_yes(settle is not None and settle <= r["target_settle_seconds_max"]),
        )
    ]


# Each part's rows, in the table's order (the DynamoDB figures of 5 come from part 3's run).
PART_ROWS: tuple[tuple[str, Callable[[Mapping[str, Any]], list[Row]]], ...] = (
    ("ingest_warm", _ingest_warm_rows),
    ("cold_start", _cold_start_rows),
    ("aggregation", _aggregation_rows),
    ("local_e2e", _local_e2e_rows),
    ("aggregation", _dynamodb_rows),
    ("deployment_size", _size_rows),
    ("aggregation_scaling", scaling_rows),
    ("live_cost", live_cost_rows),
    ("dialer_settle", dialer_settle_rows),
)


def rows(results: Mapping[str, Any]) -> list[Row]:
    """The table: every measured part's rows, then a row for each part that failed."""
    out: list[Row] = []
    for part, part_rows in PART_ROWS:
        if (r := results.get(part)) is not None:
            out += part_rows(r)
    for part, message in results.get("errors", {}).items():
        out.append(Row(f"{part}: not measured", f"error: {message[:120]}", met="**NO**"))
    return out


def _largest(report_items: Mapping[str, Mapping[str, int]]) -> str:
    if not report_items:
        return "—"
    kind, sizes = max(report_items.items(), key=lambda entry: entry[1]["max_bytes"])
    return f"{sizes['max_bytes'] / 1000:.1f} kB ({kind})"


def _figure(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


SCALING_HEADERS = [
    "batch",
    "day",
    "events measured",
    "agent day (events)",
    "hotline day (calls)",
    "requests / event",
    "items read / event",
    "items written / event",
    "events/s",
    "GetItem/s",
    "ratio",
    "largest reports item",
]


def scaling_table(r: Mapping[str, Any]) -> list[list[str]]:
    """Every run of the scaling section, a line each: the day's size, the DynamoDB work per
    aggregated event (by operation) and the rates."""
    lines = []
    for run in sorted(r["runs"], key=lambda x: (x["batch_size"], x["factor"])):
        shape = run["day"]
        ops = ", ".join(f"{op} {n:.2f}" for op, n in run["calls_per_event"].items())
        lines.append(
            [
                str(run["batch_size"]),
                f"{run['factor']}× ({run['day_config']['agents']} agents, {run['day_config']['calls']} + "
                f"{run['day_config']['outbound']} calls)",
                f"{run['events']:,} of {run['stored_events']:,}" if run["partial"] else f"{run['events']:,}",
                f"{shape['agent_day_events']['mean']:.0f} (max {shape['agent_day_events']['max']})",
                f"{shape['hotline_day_calls']['mean']:.0f} (max {shape['hotline_day_calls']['max']})",
                f"{_figure(run['requests_per_event'])} ({ops})",
                _figure(run["items_read_per_event"]),
                _figure(run["items_written_per_event"]),
                f"{run['events_per_s']:,.1f}",
                f"{run['getitem_per_s']:,.0f}",
                _times(run["ratio"]),
                _largest(run.get("report_items") or {}),
            ]
        )
    return lines


def _size(megabytes: float) -> str:
    return f"{megabytes:.2f} MB" if megabytes >= 1 else f"{megabytes * 1000:.1f} kB"


def text_table(table: Sequence[Row]) -> str:
    return text_lines(HEADERS, [row.cells() for row in table])


def text_lines(headers: Sequence[str], body: Sequence[Sequence[str]]) -> str:
    cells = [list(headers), *body]
    widths = [max(len(line[i]) for line in cells) for i in range(len(headers))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in cells
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def markdown_table(table: Sequence[Row]) -> str:
    return _markdown_lines(HEADERS, [row.cells() for row in table])


def _markdown_lines(headers: Sequence[str], body: Sequence[Sequence[str]]) -> str:
    def escape(text: str) -> str:
        return text.replace("|", "\\|")

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(escape(c) for c in line) + " |" for line in body]
    return "\n".join(lines)


def markdown(results: Mapping[str, Any]) -> str:
    machine = results["machine"]
    parts = [
        "# Benchmarks",
        "",
        "Written by `make bench` (`python -m acd_bench.bench`); the full figures are in "
        "`bench-results.json` (not committed). Every ratio is measured side by side in one run, "
        "repetitions interleaved, medians: on a noisy machine read the ratios, not the absolute "
        "times. A target that is missed says **NO**.",
        "",
        f"Last run: {results['generated_at']} on {machine['cpus']} CPUs, Python {machine['python']} "
        f"({machine['platform']}), {results['seconds']:.0f} s.",
        "",
        markdown_table(rows(results)),
        "",
        "## How each figure is measured",
        "",
        "1. **Ingest, warm**: `functions/ingest/app.py` (the real module, Powertools resolver, "
        "logger and metrics included, output to /dev/null) vs two baselines. The fair one makes "
        "the same DynamoDB requests with the same items as the ingest and nothing else: the "
        "ingest's `put_item` requests are recorded per event in its first pass (wire-format "
        "items, a callevent's key claim included) and sent again as recorded, so the difference "
        "is the hub's own work alone (reading and validating the parameters, building and "
        "serializing the items, the resolver, one log line, the metrics). The bare one does "
        "`parse_qs` of the query (or form body) and one conditional `PutItem` of a flat item. All "
        "call the *same* boto3 DynamoDB client whose HTTP layer is stubbed by a `before-send` "
        "hook, so serialization, signing and parsing run and the network does not. Events: the "
        "valid samples of `events/ingest/` and agentstate/callevent requests of an `acd-sim` day "
        "(GET, PUT with a form body, HEAD). The handlers take turns event by event, medians over "
        "rounds; the hub's own work is the median over rounds of ingest minus the same requests; "
        "the last row is the part of each spent inside boto3's `put_item`. The floor sends the same "
        "requests behind the libraries the ingest is built on, set up as it sets them up "
        "(Powertools' resolver on both routes, its logger with the Lambda context and one line, "
        "two ephemeral EMF metric sets flushed per invocation, a pydantic answer) and nothing of "
        "the hub's work: the least any handler on those libraries pays.",
        "2. **Cold start**: a fresh interpreter per run (`LAMBDA_TASK_ROOT` set, `.pyc` present, "
        "the layer on `sys.path` as `/opt/python` would be) times `import app` of the ingest "
        "function vs a bare module that imports boto3 and creates a DynamoDB client; then the "
        "first request (`events/ingest/agentstate-get.json`, same stub) — so work moved from the "
        "import to the first request shows up in the last row. The floor is a module that does what "
        "the bare one does behind the libraries the ingest imports (Powertools' logger, metrics "
        "and HTTP resolver, pydantic with one deferred model), taking turns with the other two.",
        f"3. **Aggregation**: an `acd-sim` day ({AGGREGATION_DAY['agents']} agents, "
        f"{AGGREGATION_DAY['calls']} inbound and {AGGREGATION_DAY['outbound']} outbound calls: a "
        "small center's whole day; section 7 grows it) stored with the real ingest "
        "code into moto's in-process DynamoDB, its INSERT records filtered by the stats function's "
        "filter criteria (template), in batches of 100, each batch split into each aggregator's "
        "share as `aggregate_together` splits it and handed to `aggregate_batch` (one after the "
        "other, so each one's requests are counted apart); events/s = stored events ÷ "
        "the time of both aggregators. Baseline: one consistent `GetItem` per event on the same "
        "moto, its chunks interleaved with the batches.",
        "4. **acd-local end to end**: `LocalHub` as `make run` starts it, on free ports (its "
        "data folder and its journal on; moto and each stream consumer in a process of its own), a "
        "child process with concurrent keep-alive HTTP clients sending an `acd-sim` day as GET "
        "callbacks; vs conditional `PutItem`s of fresh keys with the same concurrency against the "
        "same moto server (stream consumers drained first), phases interleaved, medians. Target: "
        "3× the 8 % measured when everything shared one process. Before that, the README's "
        "default day (`acd-sim` with its defaults: 12 agents, 300 inbound and 40 outbound calls) "
        "is sent by `acd-sim` in its own process; the settle time runs from its last answer until "
        "every stream consumer has handled every record, after which each hotline's KPIs are "
        "compared with the simulator's. Then that day's `acd-report html` in a process of its "
        "own (as a user runs it: imports, reads, drawing, writing) and the report's reads alone "
        "(`html_report.gather`, the same queries, nothing drawn, in a warm process), three "
        "rounds interleaved, medians: the ratio is what drawing and starting a process add to the "
        "reads (their DynamoDB requests by operation and the items they read are counted by "
        "botocore hooks, as in 5); and `serve`'s `/report` on a fresh server, asked again as its "
        "loading page says until the report is there. Target (issue 18): 10 s.",
        "5. **DynamoDB requests and items written**: botocore hooks on "
        "the client during 3 (a tenth of the day delivered twice for the duplicate row). Per "
        "aggregated event: summed over both aggregators, per stored event, batches of 100 "
        "(section 7 has them for batches of 10 too, and for larger days).",
        "6. **Deployment size**: each directory of `.aws-sam/build` (`make build` when it is "
        "missing or older than the sources), unzipped and as a deflated zip.",
        "7. **Aggregation scaling**: " + SCALING_METHOD,
        "9. **A dialer agent's day on acd-local**: `LocalHub` on loopback ports 18931/18932, one "
        "agent's 3,600 state changes (every 10 s, mode 1) sent shuffled over 4 keep-alive "
        "connections, an answer other than 2xx resent as the ACD does; the figure runs from the "
        "last answer until every stream consumer has handled every record, then the agent's day is checked (3,599 closed intervals of 10 s). "
        "AgentStats applies one agent's events in order, one transaction per agent and batch (each "
        "shuffled state lands inside the day: two reads of its neighbours each): the slowest day "
        "one agent can make. The machine's other load moves it: a figure, not a timed test.",
    ]
    if (scaling := results.get("aggregation_scaling")) is not None:
        parts += [
            "",
            "## Aggregation scaling (7), every run",
            "",
            f"Base day: {scaling['base']['agents']} agents, {scaling['base']['calls']} inbound and "
            f"{scaling['base']['outbound']} outbound calls; the {'×, '.join(str(f) for f in scaling['factors'])}× "
            "days multiply the calls and keep the agents and hotlines. Requests, items read and items "
            "written are per stored event (both aggregators summed; the requests by operation in "
            f"brackets); each run had at most {scaling['max_seconds']:.0f} s.",
            "",
            _markdown_lines(SCALING_HEADERS, scaling_table(scaling)),
        ]
    if (cold := results.get("cold_start")) is not None and cold.get("ingest_import_breakdown"):
        parts += [
            "",
            "## Where the ingest module's import time goes",
            "",
            "`python -X importtime` (one run; nested entries overlap): what `app` and the "
            "`acd_hub` modules import, the largest first:",
            "",
            "| module | imported by | cumulative ms |",
            "|---|---|---|",
            *[
                f"| `{e['module']}` | `{e['imported_by']}` | {e['cumulative_ms']:.1f} |"
                for e in cold["ingest_import_breakdown"]
            ],
        ]
    parts += ["", NOTES.strip(), ""]
    return "\n".join(parts)


SCALING_METHOD = (
    "days of 1×, 4× and 16× a base day (`acd-sim`, same agents and hotlines, the inbound and "
    "outbound calls multiplied, so each hotline's day and each agent's day grows), each stored "
    "by the real ingest into a fresh in-process moto. Its INSERT records, in stored order and "
    "filtered by the stats function's filter criteria, go through `aggregate_batch` with "
    "both real aggregators (each on its share of a batch) in batches of 10 (what a shard delivers at low traffic on AWS) and "
    "of 100 (the mapping's `BatchSize`, when the stream is behind), each batch size into its own "
    "empty reports table. botocore hooks count the requests by operation, the items read (a "
    "query's `ScannedCount`, the items a get or `BatchGetItem` returns) and written (each item "
    "of a transaction or batch on its own; a cancelled transaction writes none), per stored "
    "event. Targets: each per-event figure on the 16× day at most 1.15× its 1× value; "
    "events/s at least 0.5× the rate of consistent `GetItem`s of the same events on the same "
    "moto, in chunks interleaved with the batches. A run that exceeds its time budget measured "
    "the first part of its day only (the morning: smaller reports than the day's end) and says so."
)


NOTES = """
## Notes

* Cold start: what a first request does not need is not imported or built at import time. The
  callback models are validated per `cmd` and built when their `cmd` first arrives (one of eight
  for a first request, not all eight at import), and `phonenumbers` is imported when the first
  phone number is parsed. The rest of the import is the stack itself (see the table above): boto3
  and the DynamoDB client are in the baseline too; pydantic (its first model build), Powertools'
  logger, metrics and HTTP resolver (its package imports `asyncio` and every event class) are
  what the ingest adds. The settings are a plain pydantic model read from the environment once
  (pydantic-settings cost about 20 ms of import).
* Why the two ingest targets are missed (warm at most 1.3x the same requests, cold-start import
  at most 1.3x bare boto3): **both are at or below the floor of the libraries the standards
  ask for**, measured in the same run (the "floor" rows of sections 1 and 2).
  * Warm: the fair baseline sends the ingest's own recorded `PutItem` requests (1.5 per event
    over the bench's mix: a `callevent` claims its key first), so botocore's share is the same
    on both sides (the last row of section 1 shows it equal) and the difference is the hub's own
    work. The floor sends those same requests behind Powertools' HTTP resolver (both routes),
    its logger (the Lambda context injected, one line with the ingest's fields and serializer),
    two ephemeral EMF metric sets flushed per invocation and a pydantic answer, and does nothing
    else: no parameter read, no validation, no item built. It alone is 1.32-1.33x the same
    requests on a quiet machine (260-290 us an event above them), so 1.3x is out of reach with
    those libraries before the hub reads a parameter, and 150 us of the hub's own work would
    not cover that glue. What the hub adds above the floor (about 390 us an event, its steps
    timed one by one with the HTTP layer out of the way, best of 7 passes) is, largest first:
    building the event item and its claim (~95 us: the normalized payload, per-field digests of
    a `callevent`, what is kept as sent, the keys), reading the parameters (~75), validating the
    model (~55), redaction (~20), serializing to DynamoDB's types (~17) and the answer (~12); no
    one part is large enough to change the ratio's fate.
  * Cold start: the floor is a module that imports boto3 and builds its client (the baseline)
    and imports Powertools' logger, metrics and HTTP resolver (its package imports `asyncio` and
    every event class) and pydantic with one model, its validator deferred. It alone is
    1.54-1.59x the bare import on a quiet machine. The hub's modules add 24-48 ms above it
    (`acd_hub.models`' eight callback models and their fields, the answers, the settings, the use
    case): their validators are deferred to first use, so what is left is class creation.
    Switched off earlier: pydantic's plugin scan (`PYDANTIC_DISABLE_PLUGINS`); the statistics
    modules are not imported by the ingest. Not done: moving the settings or the resolver out of
    the import into the first request, which would only move the time (the last row of section
    2 would show it).
* Warm: the row below the warm one shows how much of each handler's time is the one boto3
  `put_item` (the stored item — normalized event *and* raw parameters, nested maps — is larger
  than the bare handler's flat one, and botocore serializes and signs it per request; its
  client-side parameter validation is off, as DynamoDB validates anyway); the
  rest is the handler's own work: Powertools' resolver, decoding and validating the parameters,
  phone numbers, building and serializing the item, one structured log line and the EMF
  metrics per request.
* Section 7, items read: what grows is CallStats' queries (counted in a diagnostic run of the
  1× and 4× days, batches of 10). A query of an agent's events from a call's start reads a page
  of 25, and is billed by what it scans: on the 1× day an agent has often fewer than 25 events
  left after a call's start (17 scanned on average), on the 4× day almost always (23); the page
  caps it at 25. And the scaled days are not the 1× day repeated: the same four agents get 4×
  and 16× the calls, so a day has more calls per event (0.083 → 0.102 per stored event from 1×
  to 4×) and each call is recomputed a little more often (2.2 → 2.5 times) as it waits longer
  in the queue. Per call and per agent query the work is bounded; per event of these days it
  still grows, and the target is missed as shown. Requests and items written per event do not
  grow. A run that hit its time budget measured the first part of its day only (the morning).
* In-process moto runs with `acd_devkit.moto_fixes` installed, as `acd-local` does: unpatched,
  a transaction deep-copies every table it touches and a base-table query walks the whole
  table, so moto's own cost would grow with the day whatever the aggregators do.
* Rates in 3, 4 and 7 are moto's: in-process moto serializes every response item through its
  generic serializer (a few ms per event item on this machine), moto server adds HTTP. They are
  the local stack's figures, not DynamoDB's; the request counts in 5 are what carries over.
"""
