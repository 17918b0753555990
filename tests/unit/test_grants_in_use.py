"""The aggregators' DynamoDB grants in the template cover what their code performs: each real
handler runs a random day from the stream over DynamoDB in memory, and every request it makes is
recorded as the IAM action it needs (a transaction's items one by one, as IAM authorizes them).
Which grants go unused is read from the code (test_template pins them); a day shows the rest."""

from __future__ import annotations

import random
import re
import threading
from datetime import date
from typing import Any

import pytest

from acd_devkit.memory_dynamodb import MemoryDynamoDB
from acd_devkit.memory_stream import StreamRun, mappings
from acd_devkit.template import dynamodb_tables, load_template, referenced_resource
from tests.support import STREAM_FUNCTIONS, Harness, random_day, stream_functions

TEMPLATE = load_template()
TRANSACT_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
}
OPERATIONS = {
    "get_item": "GetItem",
    "put_item": "PutItem",
    "update_item": "UpdateItem",
    "delete_item": "DeleteItem",
    "query": "Query",
    "scan": "Scan",
}


class RecordingClient:
    """DynamoDB in memory, noting (table, IAM action) of every request."""

    def __init__(self, db: MemoryDynamoDB) -> None:
        self._db = db
        self.used: set[tuple[str, str]] = set()
        self.by_thread: set[tuple[str, str, str]] = set()  # (thread name, table, action)

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._db, name)
        if not callable(target) or name.startswith("_"):
            return target

        if name == "get_paginator":
            return lambda operation: RecordingPaginator(self, operation, target(operation))

        def call(**request: Any) -> Any:
            self._note(name, request)
            return target(**request)

        return call

    def _note(self, name: str, request: dict[str, Any]) -> None:
        actions = self._actions(name, request)
        self.used |= actions
        thread = threading.current_thread().name
        self.by_thread.update((thread, table, action) for table, action in actions)

    @staticmethod
    def _actions(name: str, request: dict[str, Any]) -> set[tuple[str, str]]:
        if name in OPERATIONS:
            return {(request["TableName"], f"dynamodb:{OPERATIONS[name]}")}
        if name == "batch_get_item":
            return {(table, "dynamodb:BatchGetItem") for table in request["RequestItems"]}
        if name == "batch_write_item":
            return {(table, "dynamodb:BatchWriteItem") for table in request["RequestItems"]}
        if name == "transact_write_items":
            actions = set()
            for item in request["TransactItems"]:
                ((kind, body),) = item.items()
                actions.add((body["TableName"], f"dynamodb:{TRANSACT_ACTIONS[kind]}"))
            return actions
        if name == "transact_get_items":
            return {(i["Get"]["TableName"], "dynamodb:GetItem") for i in request["TransactItems"]}
        return set()


class RecordingPaginator:
    def __init__(self, client: RecordingClient, operation: str, paginator: Any) -> None:
        self._client, self._operation, self._paginator = client, operation, paginator

    def paginate(self, **request: Any) -> Any:
        self._client._note(self._operation, request)
        return self._paginator.paginate(**request)


def granted(function: str) -> set[tuple[str, str]]:
    grants = set()
    for policy in TEMPLATE["Resources"][function]["Properties"]["Policies"]:
        for statement in policy.get("Statement", []) if isinstance(policy, dict) else []:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            resources = (
                statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            )
            for resource in resources:
                grants.update(
                    (str(referenced_resource(resource)), a) for a in actions if str(a).startswith("dynamodb:")
                )
    return grants


def test_the_agent_statistics_never_touch_the_events_table() -> None:
    """Its aggregator gets no event log (agent states arrive whole in the stream records): in
    the stats function it runs in the first of the two threads (``functions/stats/app.py``
    lists it first), and that thread asks only the reports table."""
    db = MemoryDynamoDB(dynamodb_tables(TEMPLATE), shards=2)
    harness = Harness(db)
    recording = RecordingClient(db)
    sent = random_day(random.Random(16), date(2026, 11, 21))
    with stream_functions(recording) as functions:
        (name,) = functions
        run = StreamRun(db, harness.settings.events_table, {name: (mappings()[name], functions[name])})
        run.drain(producer=lambda: [harness.store_event(params) for params in sent])
    # side_by_side names a thread after its parent: "<reader>.0" and "<reader>.1", and the
    # call thread's own readers of neighbours "<reader>.1.<n>"
    by_aggregator: dict[str, set[str]] = {}
    for thread, table, _ in recording.by_thread:
        if match := re.search(r"\.([01])(?:\.\d+)?$", thread):
            by_aggregator.setdefault(match.group(1), set()).add(table)
    assert by_aggregator["0"] == {harness.settings.reports_table}
    assert by_aggregator["1"] == {harness.settings.events_table, harness.settings.reports_table}


@pytest.mark.parametrize("function", sorted(STREAM_FUNCTIONS))
def test_an_aggregators_grants_are_what_it_uses(function: str) -> None:
    db = MemoryDynamoDB(dynamodb_tables(TEMPLATE), shards=2)
    harness = Harness(db)
    recording = RecordingClient(db)
    sent = random_day(random.Random(15), date(2026, 11, 20))
    with stream_functions(recording, (function,)) as functions:
        run = StreamRun(
            db, harness.settings.events_table, {function: (mappings()[function], functions[function])}
        )
        run.drain(producer=lambda: [harness.store_event(params) for params in sent])
        assert run.drained()
    assert run.consumers[function].dead_letters == []
    tables = {harness.settings.events_table: "EventsTable", harness.settings.reports_table: "ReportsTable"}
    used = {(tables[table], action) for table, action in recording.used}
    assert used <= granted(function)
    assert used, "the day made no request at all"
