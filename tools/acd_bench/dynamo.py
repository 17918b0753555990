"""DynamoDB as the benchmarks see it: a client whose HTTP layer answers by itself, a counter of
the requests and items a client's calls cost, item sizes as DynamoDB counts them, and the plain
table a baseline writes to.

Only the standard library is imported at module level: the cold-start driver stubs its client
with :func:`stub_http` between its two timed regions.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping
from typing import Any


class _Raw:
    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._data


def stub_http(client: Any, body: bytes = b"{}") -> None:
    """Answer every call of ``client`` with 200 and ``body`` instead of sending it: the whole
    botocore path (serialization, signing, parsing) runs, the network does not."""
    from botocore.awsrequest import AWSResponse  # noqa: PLC0415

    headers = {"Content-Type": "application/x-amz-json-1.0", "x-amzn-RequestId": "bench"}

    def respond(request: Any, **_: Any) -> Any:
        return AWSResponse(request.url, 200, headers, _Raw(body))  # type: ignore[arg-type]

    client.meta.events.register("before-send.dynamodb", respond, unique_id="acd-bench-stub")


class DynamoCounter:
    """Counts a client's DynamoDB calls by operation, and the items they read and wrote as
    DynamoDB bills them: a query's scanned items (``ScannedCount``, before any filter), the items
    a get returns, each item of a batch or a transaction on its own."""

    WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem"})
    # the parts of a TransactWriteItems that write an item (a ConditionCheck only reads one)
    TRANSACT_WRITES = ("Put", "Update", "Delete")

    def __init__(self, client: Any) -> None:
        self.calls: Counter[str] = Counter()
        self.items_written = 0
        self.items_read = 0
        self.condition_checks = 0
        self.failed_writes = 0
        events = client.meta.events
        # before-parameter-build sees the API parameters (before-call only the serialized body)
        events.register("before-parameter-build.dynamodb", self._params, unique_id="acd-bench-count-params")
        events.register("before-call.dynamodb", self._before, unique_id="acd-bench-count-before")
        events.register("after-call.dynamodb", self._after, unique_id="acd-bench-count-after")

    def reset(self) -> None:
        self.calls.clear()
        self.items_written = self.items_read = self.condition_checks = self.failed_writes = 0

    def _before(self, model: Any, **_: Any) -> None:
        self.calls[model.name] += 1

    def _params(self, model: Any, params: Mapping[str, Any], context: dict[str, Any], **_: Any) -> None:
        if model.name == "BatchWriteItem":
            context["acd_bench_items"] = sum(len(v) for v in params.get("RequestItems", {}).values())
        elif model.name == "TransactWriteItems":
            parts = [next(iter(part)) for part in params.get("TransactItems", [])]
            context["acd_bench_items"] = sum(1 for kind in parts if kind in self.TRANSACT_WRITES)
            context["acd_bench_checks"] = parts.count("ConditionCheck")

    def _after(
        self, model: Any, http_response: Any, parsed: Mapping[str, Any], context: Any, **_: Any
    ) -> None:
        ok = http_response is not None and http_response.status_code == 200
        name = model.name
        if name in self.WRITES or name == "TransactWriteItems":
            if not ok:  # a failed condition or a cancelled transaction writes nothing
                self.failed_writes += 1
            elif name == "TransactWriteItems":
                self.items_written += int(context.get("acd_bench_items", 0))
                self.condition_checks += int(context.get("acd_bench_checks", 0))
            else:
                self.items_written += 1
        elif not ok:
            return
        elif name in ("Query", "Scan"):
            # billed by what was scanned, not by what a filter let through
            scanned = parsed.get("ScannedCount", parsed.get("Count"))
            self.items_read += int(scanned) if scanned is not None else len(parsed.get("Items") or [])
        elif name == "GetItem":
            self.items_read += 1 if parsed.get("Item") else 0
        elif name == "BatchGetItem":
            self.items_read += sum(len(items) for items in (parsed.get("Responses") or {}).values())
        elif name == "TransactGetItems":
            self.items_read += sum(1 for r in parsed.get("Responses") or [] if r.get("Item"))
        elif name == "BatchWriteItem":
            unprocessed = sum(len(v) for v in (parsed.get("UnprocessedItems") or {}).values())
            self.items_written += int(context.get("acd_bench_items", 0)) - unprocessed

    @property
    def requests(self) -> int:
        return sum(self.calls.values())


def create_plain_table(client: Any, name: str) -> None:
    """An on-demand table keyed by ``pk`` and ``sk`` (strings), no stream, no index."""
    client.create_table(
        TableName=name,
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )


def _attribute_size(value: Mapping[str, Any]) -> int:
    """Bytes of one attribute value as DynamoDB counts them towards the 400 KB item limit (its
    documented rules: UTF-8 strings, ~1 byte per 2 digits of a number, 3 bytes per list or map
    plus a byte per element)."""
    ((kind, raw),) = value.items()
    if kind == "S":
        return len(raw.encode())
    if kind == "N":
        return len(raw.lstrip("-").replace(".", "").lstrip("0")) // 2 + 1
    if kind == "B":
        return len(raw)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "M":
        return 3 + sum(len(name.encode()) + _attribute_size(v) + 1 for name, v in raw.items())
    if kind == "L":
        return 3 + sum(_attribute_size(v) + 1 for v in raw)
    if kind == "SS":
        return sum(len(v.encode()) for v in raw)
    if kind == "NS":
        return sum(_attribute_size({"N": v}) for v in raw)
    return sum(len(v) for v in raw)  # BS


def item_size(item: Mapping[str, Any]) -> int:
    """An item's size in bytes (wire format), as DynamoDB bills and limits it."""
    return sum(len(name.encode()) + _attribute_size(value) for name, value in item.items())


def report_item_sizes(client: Any, table: str) -> dict[str, dict[str, int]]:
    """Every item of ``table`` by kind (its ``kind`` attribute, else the first part of its key):
    how many, and the largest and median size. A design whose items grow with the day shows it
    here long before DynamoDB's 400 KB limit."""
    sizes: defaultdict[str, list[int]] = defaultdict(list)
    for page in client.get_paginator("scan").paginate(TableName=table):
        for item in page["Items"]:
            kind = item.get("kind", {}).get("S") or item["pk"]["S"].split("#", 1)[0]
            sizes[kind].append(item_size(item))
    return {
        kind: {"items": len(values), "max_bytes": max(values), "median_bytes": int(statistics.median(values))}
        for kind, values in sorted(sizes.items())
    }
