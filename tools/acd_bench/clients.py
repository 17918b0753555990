"""The load of section 4, generated in a child process of its own (``python -m acd_bench.clients
SPEC``, the spec a JSON file) so that it does not share a CPU-bound interpreter with the stack:
``concurrency`` threads sending GET callbacks over keep-alive HTTP connections, or conditional
PutItems straight to the moto server. Prints its result after ``RESULT_MARK``."""

from __future__ import annotations

import http.client
import itertools
import json
import sys
import threading
import time
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from acd_bench.harness import RESULT_MARK
from acd_devkit.lambda_events import REGION


def http_client(spec: Mapping[str, Any]) -> dict[str, Any]:
    """Child process: ``concurrency`` threads, each one keep-alive connection, GET the paths."""
    paths: list[str] = spec["paths"]
    position = itertools.count()
    lock = threading.Lock()
    statuses: Counter[int] = Counter()
    finished: list[float] = []
    deadline_box: list[float] = []
    barrier = threading.Barrier(spec["concurrency"] + 1)

    def worker() -> None:
        connection = http.client.HTTPConnection(spec["host"], spec["port"], timeout=60)
        connection.connect()
        barrier.wait()
        mine: Counter[int] = Counter()
        while True:
            with lock:
                index = next(position)
            if index >= len(paths) or time.perf_counter() > deadline_box[0]:
                break
            try:
                connection.request("GET", paths[index])
                response = connection.getresponse()
                response.read()
                mine[response.status] += 1
            except (OSError, http.client.HTTPException):
                mine[0] += 1
                connection.close()
                connection = http.client.HTTPConnection(spec["host"], spec["port"], timeout=60)
        connection.close()
        with lock:
            statuses.update(mine)
            finished.append(time.perf_counter())

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(spec["concurrency"])]
    for thread in threads:
        thread.start()
    deadline_box.append(time.perf_counter() + spec["max_seconds"] + 3600)
    barrier.wait()
    started = time.perf_counter()
    deadline_box[0] = started + spec["max_seconds"]
    for thread in threads:
        thread.join()
    elapsed = max(finished) - started
    ok = sum(n for status, n in statuses.items() if 200 <= status < 300)
    return {"ok": ok, "statuses": {str(k): v for k, v in statuses.items()}, "seconds": elapsed}


def putitem_client(spec: Mapping[str, Any]) -> dict[str, Any]:
    """Child process: ``concurrency`` threads, each its own boto3 client, conditional PutItems of
    fresh keys."""
    # Here, not at the top: the HTTP clients' process has no use for boto3.
    import boto3  # noqa: PLC0415
    from botocore.exceptions import ClientError  # noqa: PLC0415

    position = itertools.count()
    lock = threading.Lock()
    ok_box = [0, 0]
    finished: list[float] = []
    barrier = threading.Barrier(spec["concurrency"] + 1)
    deadline_box = [time.perf_counter() + 3600.0]
    prefix = spec["prefix"]

    def worker(n: int) -> None:
        client = boto3.client("dynamodb", endpoint_url=spec["endpoint"], region_name=REGION)
        client.describe_table(TableName=spec["table"])  # models loaded, connection made
        barrier.wait()
        ok = failed = 0
        while True:
            with lock:
                index = next(position)
            if index >= spec["count"] or time.perf_counter() > deadline_box[0]:
                break
            item = {
                "pk": {"S": f"{prefix}#{n}#{index}"},
                "sk": {"S": "2026-11-20T09:15:42.000Z"},
                **{f"a{j}": {"S": f"value-{index}-{j}"} for j in range(12)},
            }
            try:
                client.put_item(
                    TableName=spec["table"], Item=item, ConditionExpression="attribute_not_exists(pk)"
                )
                ok += 1
            except ClientError:
                failed += 1
        with lock:
            ok_box[0] += ok
            ok_box[1] += failed
            finished.append(time.perf_counter())

    threads = [threading.Thread(target=worker, args=(n,), daemon=True) for n in range(spec["concurrency"])]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    deadline_box[0] = started + spec["max_seconds"]
    for thread in threads:
        thread.join()
    return {"ok": ok_box[0], "failed": ok_box[1], "seconds": max(finished) - started}


def main(spec_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text(encoding="utf-8"))
    result = http_client(spec) if spec["mode"] == "http" else putitem_client(spec)
    print(RESULT_MARK + json.dumps(result), flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
