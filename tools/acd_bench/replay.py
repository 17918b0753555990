"""A simulated day stored by the real ingest code into moto's in-process DynamoDB (the template's
tables), and its stream replayed through both aggregators as the stats function's event source
mapping delivers it (filtered per the template's filter criteria, in batches, each aggregator on
its share of a batch), interleaved with
chunks of consistent GetItems of the same events: the baseline of sections 3 and 7."""

from __future__ import annotations

import contextlib
import gc
import time
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import boto3
from moto import mock_aws

from acd_bench.dynamo import DynamoCounter
from acd_bench.harness import AWS_ENV, REPO, UNSET_ENV
from acd_devkit import moto_fixes
from acd_devkit.lambda_events import REGION, SOURCE_IP, TOKEN, patched_env, stream_record, urlencoded
from acd_devkit.template import dynamodb_tables, load_template, stream_mappings
from acd_hub.adapters.events_table import EventsTable
from acd_hub.adapters.reports_table import ReportsTable
from acd_hub.agent_aggregator import AgentStatsAggregator
from acd_hub.aggregation import aggregate_batch
from acd_hub.auth import static_tokens
from acd_hub.call_aggregator import CallStatsAggregator
from acd_hub.ingest import CallbackIngest
from acd_hub.request import CallbackRequest
from acd_hub.settings import HubSettings


class RecordingStore:
    """The ingest's EventStore port around the real DynamoDB store, keeping what it stored."""

    def __init__(self, store: Any) -> None:
        self._store = store
        self.stored: list[dict[str, Any]] = []
        self.duplicates = 0

    def put_event(self, item: dict[str, Any], claim: dict[str, Any] | None = None) -> bool:
        stored: bool = self._store.put_event(item, claim)
        if stored:
            self.stored.append(item)
        else:
            self.duplicates += 1
        return stored

    def put_rejected(self, item: dict[str, Any]) -> None:
        self._store.put_rejected(item)


STATS_FUNCTION = "StatsFunction"  # the one function that reads the stream for both aggregators


def filter_cmds(function: str) -> frozenset[str] | None:
    """The cmds the template's stream filter lets through to ``function`` (None: all)."""
    with contextlib.suppress(Exception):
        for mapping in stream_mappings(load_template(REPO / "template.yaml")):
            if mapping["function"] == function:
                cmds: set[str] = set()
                for pattern in mapping.get("filter_patterns") or []:
                    cmds |= set(pattern["dynamodb"]["NewImage"]["cmd"]["S"])
                return frozenset(cmds)
    return None


def callback_request(params: Mapping[str, str], request_id: str) -> CallbackRequest:
    """The ACD's GET callback with ``params`` as the ingest's entry point hands it on."""
    return CallbackRequest(
        method="GET",
        path=f"/callback/{TOKEN}",
        raw_query=urlencoded(list(params.items())),
        body=b"",
        content_type="",
        source_ip=SOURCE_IP,
        user_agent="bench",
        request_id=request_id,
        path_token=TOKEN,
    )


@dataclass
class StreamRun:
    """What the aggregation loop measured."""

    seconds: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))
    processed: Counter[str] = field(default_factory=Counter)
    calls: dict[str, Counter[str]] = field(default_factory=dict)
    written: Counter[str] = field(default_factory=Counter)
    read: Counter[str] = field(default_factory=Counter)
    condition_checks: Counter[str] = field(default_factory=Counter)
    failed_writes: Counter[str] = field(default_factory=Counter)  # lost conditions, cancelled transactions
    covered: int = 0  # stream records the baseline went through: the prefix of the day measured
    failures: int = 0
    partial: bool = False


def stream_tasks(
    records: list[dict[str, Any]], cmds_of: list[str], aggregators: Mapping[str, Any], batch_size: int
) -> tuple[list[tuple[int, str, list[dict[str, Any]]]], dict[str, int]]:
    """The stats function's batches (its mapping's filter applied, then batches of
    ``batch_size``), each split into every aggregator's share as ``aggregate_together`` splits
    it (the records of its ``cmds``), and the baseline's chunks, in stream order so they
    interleave. The shares are measured one after the other (the function runs them side by
    side): each aggregator's requests are counted apart."""
    tasks: list[tuple[int, str, list[dict[str, Any]]]] = []
    delivered = dict.fromkeys(aggregators, 0)
    cmds = filter_cmds(STATS_FUNCTION)
    mine = [(n, r) for n, r in enumerate(records) if cmds is None or cmds_of[n] in cmds]
    for start in range(0, len(mine), batch_size):
        chunk = mine[start : start + batch_size]
        for name, aggregator in aggregators.items():
            share = [(n, r) for n, r in chunk if cmds_of[n] in aggregator.cmds]
            if share:
                delivered[name] += len(share)
                tasks.append((share[0][0], name, [r for _, r in share]))
    for start in range(0, len(records), batch_size):
        tasks.append((start, "GetItem", records[start : start + batch_size]))
    tasks.sort(key=lambda task: (task[0], task[1] != "GetItem"))
    return tasks, delivered


def run_stream(
    tasks: Sequence[tuple[int, str, list[dict[str, Any]]]],
    aggregators: Mapping[str, Any],
    client: Any,
    counter: DynamoCounter,
    *,
    table: str,
    max_seconds: float,
    collect_every: int = 0,
) -> StreamRun:
    """Each task in order, timed: an aggregator's share of a batch through ``aggregate_batch``,
    or the baseline's chunk of consistent GetItems; until ``max_seconds``."""
    run = StreamRun(calls={f: Counter() for f in aggregators})
    events = EventsTable(client, table)
    budget_end = time.perf_counter() + max_seconds
    since_collect = collect_every
    for _, kind, batch in tasks:
        if time.perf_counter() > budget_end:
            run.partial = True
            break
        counter.reset()
        # A collection outside the timed regions, so no kind pays for another's garbage; every
        # ~collect_every records, as a full collection of moto's heap costs more than a batch of 10.
        since_collect += len(batch)
        if since_collect >= collect_every:
            gc.collect()
            since_collect = 0
        started = time.perf_counter()
        if kind == "GetItem":
            for record in batch:
                client.get_item(TableName=table, Key=record["dynamodb"]["Keys"], ConsistentRead=True)
            run.seconds[kind] += time.perf_counter() - started
            run.covered += len(batch)
            continue
        answer = aggregate_batch(aggregators[kind], events.stream_records({"Records": batch})).item_failures()
        run.seconds[kind] += time.perf_counter() - started
        run.failures += len(answer.get("batchItemFailures", []))
        run.processed[kind] += len(batch)
        run.calls[kind].update(counter.calls)
        run.written[kind] += counter.items_written
        run.read[kind] += counter.items_read
        run.condition_checks[kind] += counter.condition_checks
        run.failed_writes[kind] += counter.failed_writes
    return run


@dataclass
class Hub:
    """In-process moto holding the template's tables, the real ingest in front of it."""

    client: Any
    tables: dict[str, dict[str, Any]]
    settings: HubSettings
    counter: DynamoCounter
    store: RecordingStore
    ingest: CallbackIngest


@contextlib.contextmanager
def moto_hub() -> Iterator[Hub]:
    # As acd-local does: unpatched moto deep-copies every table a transaction touches and walks
    # the whole table for a base-table query, so its cost would grow with the day whatever the
    # aggregators do. The answers and the counts stay moto's own.
    moto_fixes.install()
    with patched_env(AWS_ENV, unset=UNSET_ENV), mock_aws():
        client = boto3.client("dynamodb", region_name=REGION)
        tables = dynamodb_tables(load_template(REPO / "template.yaml"))
        for kwargs in tables.values():
            client.create_table(**kwargs)
        settings = HubSettings(
            events_table=tables["EventsTable"]["TableName"],
            reports_table=tables["ReportsTable"]["TableName"],
            callback_tokens=[TOKEN],
        )
        store = RecordingStore(EventsTable(client, settings.events_table))
        yield Hub(
            client=client,
            tables=tables,
            settings=settings,
            counter=DynamoCounter(client),
            store=store,
            ingest=CallbackIngest(settings, store, static_tokens(settings)),
        )


def stream_records(stored: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The INSERT records of the stored items, in the order they were stored."""
    return [stream_record(item, n) for n, item in enumerate(stored, 1)]


def build_aggregators(client: Any, settings: HubSettings) -> dict[str, Any]:
    """Both aggregators as the stats function builds them (``functions/stats/app.py``), by
    their consumer names."""
    log = EventsTable(client, settings.events_table)
    reports = ReportsTable(client, settings.reports_table, settings.board_shards)
    built = (AgentStatsAggregator(reports, settings), CallStatsAggregator(log, reports, settings))
    return {aggregator.name: aggregator for aggregator in built}


def fresh_reports_table(hub: Hub, suffix: str) -> HubSettings:
    """Settings pointing at a new, empty reports table (the template's definition, another
    name): each batch size aggregates the same stored day from scratch."""
    kwargs = dict(hub.tables["ReportsTable"])
    kwargs["TableName"] = f"{kwargs['TableName']}-{suffix}"
    hub.client.create_table(**kwargs)
    return HubSettings(
        events_table=hub.settings.events_table, reports_table=kwargs["TableName"], callback_tokens=[TOKEN]
    )
