"""``python -m acd_bench.ingest_snapshot OUT``: everything the ingest function says and stores for a
fixed set of requests, as text, so that a change meant to be invisible (issue 19, item 6: the
ingest made cheaper) can be checked to be: write one before and one after, and ``cmp`` them.

The requests: the samples of ``events/ingest`` and the first 1,800 callbacks of an ``acd-sim`` day,
sent by GET, PUT and HEAD, and beside them (by the event's position) a duplicate, unknown and
upper-cased names, a wrong token, bad values, a secret in a free-text field, the token in the query,
a JSON body, binary and Windows-1252 bodies, empty and control characters, a conflicting
``callevent``, an unknown ``cmd``, a time far ahead, broken JSON, too many parameters, an
unsupported content type, paths without a token. They go through ``functions/ingest/app.py`` as
Lambda runs it, on DynamoDB in memory, its clock stopped. Written per request: the answer, the log
and EMF lines; then every stored item. Left out as they differ from run to run: log and EMF
timestamps, the Lambda request id, claim ids; and the source line a log line names (its function
stays), which any edit of the function's file moves.
"""

from __future__ import annotations

import io
import json
import re
import sys
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import redirect_stdout
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from acd_bench.harness import REPO, UNSET_ENV, function_env, simulated_day
from acd_devkit.lambda_events import TOKEN, FakeLambdaContext, callback_event, http_api_event, patched_env
from acd_devkit.memory_dynamodb import MemoryDynamoDB
from acd_devkit.template import dynamodb_tables, load_template
from acd_local.lambda_runtime import load_handler

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
SIMULATED = 1800
Pairs = list[tuple[str, str]]
_VARYING = (
    (re.compile(r'"timestamp":"[^"]*"'), '"timestamp":"T"'),
    (re.compile(r'"Timestamp":\d+'), '"Timestamp":0'),
    (re.compile(r'"function_request_id":"[^"]*"'), '"function_request_id":"R"'),
    # where in the source a log line was written: an edit of the function's file moves it
    (re.compile(r'"location":"([^":]*):\d+"'), r'"location":"\1"'),
    (re.compile(r'"claim_id": \{"S": "[0-9a-f]{32}"\}'), '"claim_id": "C"'),
)


def _event(method: str, params: Pairs, token: str = TOKEN) -> dict[str, Any]:
    return callback_event(method, params, token=token, trace_id="Root=1-0-0", now=NOW)


def _raw(
    method: str, path: str, query: str = "", body: bytes = b"", content_type: str = ""
) -> dict[str, Any]:
    """A request as API Gateway routes it: ``/callback/{token}``, ``/callback`` or ``$default``."""
    headers = [("host", "x"), ("user-agent", "Java/11")] + (
        [("content-type", content_type)] if content_type else []
    )
    token = path.removeprefix("/callback/") if path.startswith("/callback/") and path.count("/") == 2 else ""
    route = (
        f"{method} /callback/{{token}}"
        if token
        else f"{method} /callback"
        if path == "/callback"
        else "$default"
    )
    return http_api_event(
        method,
        path,
        route_key=route,
        raw_query=query,
        headers=headers,
        body=body,
        path_parameters={"token": token} if token else None,
        trace_id="Root=1-0-0",
        now=NOW,
    )


def _beside(k: int, cmd: str, params: Pairs) -> Iterator[dict[str, Any]]:
    """The ``k``-th kind of variation of one simulated callback."""
    query = "&".join(f"{name}={value}" for name, value in params)
    changed = {"eventtime", "agentid", "id"}
    variations: dict[int, Any] = {
        0: lambda: [_event("GET", params)],
        1: lambda: [_event("GET", [*params, ("pausereason", "x"), ("Agent", "1")])],
        2: lambda: [_event("GET", [(name.upper(), value) for name, value in params])],
        3: lambda: [_event("GET", params, token="wrong")],  # noqa: S106 - a wrong one, on purpose
        4: lambda: [_event("GET", [(n, v + "x" if n in changed else v) for n, v in params])],
        5: lambda: [_event("GET", [*params, ("message", "token " + TOKEN)])],
        6: lambda: [_raw("GET", "/callback", f"token={TOKEN}&{query}")],
        7: lambda: [
            _raw(
                "POST",
                f"/callback/{TOKEN}",
                body=json.dumps(dict(params)).encode(),
                content_type="application/json",
            )
        ],
        8: lambda: [
            _raw(
                "PUT", f"/callback/{TOKEN}", body=b"\x00\x01garbage", content_type="application/octet-stream"
            )
        ],
        9: lambda: [_event("GET", [(n, v if n in (*changed, "cmd", "taskid") else "") for n, v in params])],
        10: lambda: [_event("GET", [*params, ("x\x1b", "y"), ("hotline", "a\x07")])],
        11: lambda: [_raw("GET", "/callback"), _raw("GET", "/elsewhere")],
        12: lambda: (
            [_event("GET", [(n, "2" if n == "hotlineid" else v) for n, v in params])]
            if cmd == "callevent"
            else []
        ),
        13: lambda: [_event("GET", [*params, ("eventtime", "other")])],
        14: lambda: [_event("GET", [(n, v) for n, v in params if n != "cmd"] + [("cmd", "NoSuch")])],
        15: lambda: [
            _raw(
                "PUT",
                f"/callback/{TOKEN}",
                body=query.encode("cp1252", "replace") + b"&note=K%E4se%20%C3%BC",
                content_type="application/x-www-form-urlencoded",
            )
        ],
        16: lambda: [_event("GET", [*params, ("t%C3%B6ken", TOKEN), ("tOKEN", TOKEN)])],
        17: lambda: [
            _event(
                "GET", [(n, "20991231235959" if n in ("eventtime", "timestamp") else v) for n, v in params]
            )
        ],
        18: lambda: [
            _raw("POST", f"/callback/{TOKEN}", body=b'{"cmd": [1]}', content_type="application/json"),
            _raw("POST", f"/callback/{TOKEN}", body=b'{"cmd": ', content_type="application/json"),
        ],
        19: lambda: [_event("GET", [*params, *((f"p{j}", "v" * 50) for j in range(210))])],
        20: lambda: [
            _raw("PUT", f"/callback/{TOKEN}", body=json.dumps(dict(params)).encode(), content_type="text/xml")
        ],
        21: lambda: [_raw("GET", "/callback/", "cmd=agentstate")],
        22: lambda: [_event("GET", [*params, ("token", TOKEN)])],
    }
    yield from variations[k]()


def requests() -> list[dict[str, Any]]:
    """The fixed requests (see the module's doc), each with a request id of its position."""
    corpus = [
        json.loads(p.read_text(encoding="utf-8")) for p in sorted((REPO / "events" / "ingest").glob("*.json"))
    ]
    for i, sim in enumerate(simulated_day()[:SIMULATED]):
        params = list(sim.params.items())
        corpus.append(_event(("GET", "PUT", "HEAD", "GET")[i % 4], params))
        corpus.extend(_beside(i % 23, sim.cmd, params))
    for n, event in enumerate(corpus):
        event["requestContext"]["requestId"] = f"req-{n:05d}"
        event["requestContext"]["timeEpoch"] = 0
    return corpus


def _steady(text: str) -> str:
    for pattern, replacement in _VARYING:
        text = pattern.sub(replacement, text)
    return text


def snapshot(corpus: Sequence[dict[str, Any]]) -> tuple[list[str], Counter[int]]:
    """One line per request (its answer and what it printed), then one per stored item, sorted."""
    import acd_hub.aws  # noqa: PLC0415 - the client factory the function module calls at import

    db = MemoryDynamoDB(dynamodb_tables(load_template()))
    saved = acd_hub.aws.dynamodb_client
    acd_hub.aws.dynamodb_client = lambda *_args, **_kwargs: db  # type: ignore[assignment]
    printed = io.StringIO()
    lines, statuses = [], Counter[int]()
    try:
        # The logger takes sys.stdout when the module creates it: redirected first.
        with (
            redirect_stdout(printed),
            patched_env({**function_env(), "POWERTOOLS_LOG_LEVEL": "INFO"}, unset=UNSET_ENV),
        ):
            handler = load_handler(
                REPO / "functions" / "ingest", "app.lambda_handler", module_name="acd_snapshot_app"
            )
            function: Any = sys.modules["acd_snapshot_app"]
            function.ingest._clock = lambda: NOW  # the clock stopped
            # a logger of that name made earlier in this process keeps the stream it was given then
            log = function.logger.registered_handler
            log_stream = log.setStream(printed)
            context = FakeLambdaContext("IngestFunction", memory_limit_in_mb=512, timeout_seconds=10)
            for event in corpus:
                start = printed.tell()
                answer = handler(event, context)
                statuses[answer["statusCode"]] += 1
                said = [_steady(line) for line in printed.getvalue()[start:].splitlines()]
                request_id = event["requestContext"]["requestId"]
                lines.append(json.dumps({"request": request_id, "answer": answer, "printed": said}))
            log.setStream(log_stream)
    finally:
        acd_hub.aws.dynamodb_client = saved
        sys.modules.pop("acd_snapshot_app", None)
    items = [
        item for page in db.get_paginator("scan").paginate(TableName="EventsTable") for item in page["Items"]
    ]
    return [*lines, "ITEMS", *sorted(_steady(json.dumps(item)) for item in items)], statuses


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        print("usage: python -m acd_bench.ingest_snapshot OUT", file=sys.stderr)
        return 2
    corpus = requests()
    lines, statuses = snapshot(corpus)
    Path(args[0]).write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(
        f"{len(corpus)} requests ({dict(sorted(statuses.items()))}), {lines.index('ITEMS')} answers, "
        f"{len(lines) - lines.index('ITEMS') - 1} items: {args[0]}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
