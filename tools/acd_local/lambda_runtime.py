"""What AWS does around a Lambda function, emulated in-process for the local stack.

* the runtime: load a handler from ``functions/<name>/app.py`` (the context it is handed is
  :class:`acd_devkit.lambda_events.FakeLambdaContext`);
* API Gateway (HTTP API, payload format 2.0): route a request, hand the function the event
  :func:`acd_devkit.lambda_events.http_api_event` builds for it, and turn its answer back into
  an HTTP response;
* the DynamoDB stream event source mapping: filter criteria, the record shape Lambda delivers
  and how it reads a partial-batch (``ReportBatchItemFailures``) answer.

Everything here is pure (no sockets, no moto), so it is tested directly; ``acd_local.hub``
wires it to a moto server and an HTTP listener.
"""

from __future__ import annotations

import base64
import importlib.util
import itertools
import json
import re
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from acd_devkit.lambda_events import ACCOUNT, REGION, http_api_event

LOCAL_ACCOUNT_ID = ACCOUNT
LOCAL_REGION = REGION

Handler = Callable[[dict[str, Any], Any], Any]

# --- the runtime ---------------------------------------------------------------------------------

_module_counter = itertools.count(1)


def load_handler(code_uri: str | Path, handler: str, *, module_name: str | None = None) -> Handler:
    """Import ``<code_uri>/<module>.py`` and return its handler function, as the runtime does for
    ``Handler: app.lambda_handler``.

    Every function has an ``app.py``, so each is imported under a unique module name; a plain
    ``import app`` would hand the second function the first one's module. The code directory is
    on ``sys.path`` while the module imports (Lambda's task root is), so a function may import
    its sibling modules.

    The environment must be set before calling this: handlers read their settings at import,
    which is their cold start.
    """
    module_path, _, function_name = handler.rpartition(".")
    if not module_path or not function_name:
        raise ValueError(f"handler {handler!r} is not '<module>.<function>'")
    code_dir = Path(code_uri).resolve()
    source = code_dir.joinpath(*module_path.split(".")).with_suffix(".py")
    if not source.is_file():
        raise FileNotFoundError(f"handler module {source} not found")
    name = module_name or f"_acd_local_{_identifier(code_dir.name)}_{next(_module_counter)}"
    spec = importlib.util.spec_from_file_location(name, source)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {source}")
    module = importlib.util.module_from_spec(spec)
    # Registered before executing: pydantic and dataclasses look their module up by name.
    sys.modules[name] = module
    sys.path.insert(0, str(code_dir))
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    finally:
        sys.path.remove(str(code_dir))
    function = getattr(module, function_name, None)
    if not callable(function):
        raise AttributeError(f"{source} has no function {function_name!r}")
    return function  # type: ignore[no-any-return]


def _identifier(text: str) -> str:
    return re.sub(r"\W", "_", text) or "fn"


def clear_function_caches(packages: Iterable[str]) -> int:
    """Forget what ``functools.cache``/``lru_cache`` functions of ``packages`` have cached.

    Shared code caches per-container objects (boto3 clients created once, pointing at the
    endpoint of the moment). A second local stack in the same process is a new container and
    must not inherit the first one's clients, whose endpoint may be gone. Returns how many caches
    were cleared.
    """
    prefixes = tuple(packages)
    cleared = 0
    for name, module in list(sys.modules.items()):
        if module is None or not any(name == p or name.startswith(p + ".") for p in prefixes):
            continue
        for value in list(vars(module).values()):
            clear = getattr(value, "cache_clear", None)
            if callable(clear) and getattr(value, "__module__", None) == name:
                clear()
                cleared += 1
    return cleared


# --- API Gateway HTTP API (payload format 2.0) ---------------------------------------------------


@dataclass(frozen=True)
class Route:
    """One route of an HTTP API: ``GET /callback/{token}`` -> function."""

    method: str  # upper case, or "ANY"
    path: str  # "/callback/{token}", "/files/{proxy+}" or "$default"
    function: str

    @property
    def route_key(self) -> str:
        return "$default" if self.path == "$default" else f"{self.method} {self.path}"

    @property
    def is_default(self) -> bool:
        return self.path == "$default"

    def match(self, method: str, path: str) -> dict[str, str] | None:
        """Path parameters if this route takes the request, else None. ``path`` is the decoded
        path (API Gateway routes on it: an encoded ``%2F`` is a segment boundary by then)."""
        if self.method not in ("ANY", method.upper()):
            return None
        if self.is_default:
            return {}
        found = _path_regex(self.path).fullmatch(path)
        return dict(found.groupdict()) if found is not None else None

    def masked_path(self) -> str:
        """The route's path with every parameter shown as ``***`` (it may be a token)."""
        return re.sub(r"\{[^}]+\}", "***", self.path) if not self.is_default else "/***"


def _path_regex(template: str) -> re.Pattern[str]:
    parts = []
    for piece in re.split(r"(\{[^}]+\})", template):
        if piece.startswith("{") and piece.endswith("}"):
            name = piece[1:-1]
            greedy = name.endswith("+")
            parts.append(f"(?P<{_identifier(name.rstrip('+'))}>{'.+' if greedy else '[^/]+'})")
        else:
            parts.append(re.escape(piece))
    return re.compile("".join(parts))


def match_route(routes: Sequence[Route], method: str, path: str) -> tuple[Route, dict[str, str]] | None:
    """The route API Gateway would pick for the decoded ``path``: the most specific path (fewest
    parameters, no greedy one), a named method before ANY, and ``$default`` last."""

    def specificity(route: Route) -> tuple[int, int, int, int]:
        return (
            route.is_default,
            "+}" in route.path,
            route.path.count("{"),
            route.method == "ANY",
        )

    for route in sorted(routes, key=specificity):
        params = route.match(method, path)
        if params is not None:
            return route, params
    return None


def masked_path(raw_path: str, known_segments: Iterable[str] = ()) -> str:
    """A path for a log line when no route matched: every segment that is not a literal segment
    of a known route becomes ``***`` — an unknown segment may well be a mistyped token."""
    known = set(known_segments)
    return "/".join(segment if segment in known or not segment else "***" for segment in raw_path.split("/"))


@dataclass(frozen=True)
class HttpRequest:
    method: str
    target: str  # the request target as received: path and query string, not re-encoded
    headers: Sequence[tuple[str, str]]
    body: bytes
    source_ip: str
    protocol: str = "HTTP/1.1"

    @property
    def raw_path(self) -> str:
        """The path as received, still percent-encoded."""
        return self.target.split("?", 1)[0]

    @property
    def path(self) -> str:
        """The path as HTTP APIs hand it on (``rawPath``, ``requestContext.http.path``) and route
        on: percent-decoded, unlike REST APIs and function URLs (live captures in
        hotsock/voker#8; Powertools issue #1098). ``+`` stays ``+`` in a path."""
        return unquote(self.raw_path)

    @property
    def raw_query(self) -> str:
        # Everything after the first "?": an ACD that appends its own "?..." to a URL that
        # already has a query produces "a=1?b=2", and API Gateway passes that on as is.
        return self.target.split("?", 1)[1] if "?" in self.target else ""


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


def http_api_error(status: int, message: str) -> HttpResponse:
    """API Gateway's own answers (no route, integration failure): a small JSON message."""
    body = json.dumps({"message": message}).encode()
    return HttpResponse(status, [("Content-Type", "application/json")], body)


def build_http_api_event(
    request: HttpRequest,
    route: Route,
    path_parameters: Mapping[str, str],
    *,
    request_id: str | None = None,
    now: datetime | None = None,
    api_id: str = "local",
    account_id: str = LOCAL_ACCOUNT_ID,
    port: int | None = None,
) -> dict[str, Any]:
    """The event API Gateway (HTTP API, payload format 2.0) hands the function for ``request``
    that ``route`` took, on this plain-HTTP local endpoint."""
    return http_api_event(
        request.method,
        request.path,
        route_key=route.route_key,
        raw_query=request.raw_query,
        headers=request.headers,
        body=request.body,
        path_parameters=path_parameters,
        source_ip=request.source_ip,
        protocol=request.protocol,
        scheme="http",
        port=port,
        request_id=request_id,
        now=now,
        api_id=api_id,
        account_id=account_id,
    )


# Hop-by-hop or framing headers: the server sets them from the body it actually sends.
_FRAMING_HEADERS = frozenset({"content-length", "transfer-encoding", "connection"})


def http_api_response(result: Any) -> HttpResponse:
    """Turn a function's answer into the HTTP response API Gateway (format 2.0) would send.

    Without a ``statusCode`` API Gateway assumes 200 and sends the answer itself as JSON.
    """
    if not isinstance(result, Mapping) or "statusCode" not in result:
        body = json.dumps(result, default=_json_default).encode()
        return HttpResponse(200, [("Content-Type", "application/json")], body)
    headers: list[tuple[str, str]] = []
    for name, value in (result.get("headers") or {}).items():
        if name.lower() not in _FRAMING_HEADERS:
            headers.append((str(name), str(value)))
    for name, values in (result.get("multiValueHeaders") or {}).items():
        if name.lower() not in _FRAMING_HEADERS:
            headers.extend((str(name), str(value)) for value in values)
    headers.extend(("Set-Cookie", str(cookie)) for cookie in result.get("cookies") or [])
    raw_body = result.get("body")
    if raw_body is None:
        body = b""
    elif result.get("isBase64Encoded"):
        body = base64.b64decode(raw_body)
    else:
        body = str(raw_body).encode("utf-8")
    return HttpResponse(int(result["statusCode"]), headers, body)


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


# --- DynamoDB stream event source mapping -----------------------------------------------------


class _Missing:
    """A key absent from the event (distinct from a JSON null)."""


_MISSING = _Missing()
_NUMERIC_OPS: dict[str, Callable[[float, float], bool]] = {
    "=": lambda a, b: a == b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}
_OPERATORS = frozenset(
    {"exists", "prefix", "suffix", "equals-ignore-case", "anything-but", "numeric", "wildcard"}
)


def validate_filter_pattern(pattern: Any, where: str = "pattern") -> None:
    """Raise ``ValueError`` for a pattern this emulation cannot evaluate, so a filter is never
    silently read as something else."""
    if not isinstance(pattern, Mapping):
        raise ValueError(f"{where}: a filter pattern is a JSON object")
    for key, rule in pattern.items():
        if isinstance(rule, Mapping):
            validate_filter_pattern(rule, f"{where}.{key}")
        elif isinstance(rule, list):
            for item in rule:
                if isinstance(item, Mapping):
                    if len(item) != 1 or next(iter(item)) not in _OPERATORS:
                        raise ValueError(f"{where}.{key}: unsupported filter operator {item!r}")
                    if "numeric" in item:
                        _numeric_conditions(item["numeric"])
                elif isinstance(item, list):
                    raise ValueError(f"{where}.{key}: nested arrays are not filter values")
        else:
            raise ValueError(f"{where}.{key}: filter values must be arrays, got {rule!r}")


def parse_filter_patterns(patterns: Iterable[str | Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Filter patterns from a template (JSON strings or objects), validated."""
    parsed = [json.loads(p) if isinstance(p, str) else p for p in patterns]
    for index, pattern in enumerate(parsed):
        validate_filter_pattern(pattern, f"Filters[{index}]")
    return parsed


def passes_filters(patterns: Sequence[Mapping[str, Any]], record: Mapping[str, Any]) -> bool:
    """Lambda keeps a record if any pattern matches (no patterns: every record)."""
    return not patterns or any(matches_pattern(p, record) for p in patterns)


def matches_pattern(pattern: Mapping[str, Any], event: Any) -> bool:
    """EventBridge-style matching, the subset Lambda filter criteria use: nested objects, arrays
    of allowed values (strings, numbers compared as numbers, booleans, null), and ``prefix``,
    ``suffix``, ``equals-ignore-case``, ``wildcard``, ``exists``, ``anything-but`` and
    ``numeric``. Every key of the pattern must match."""
    for key, rule in pattern.items():
        value = event.get(key, _MISSING) if isinstance(event, Mapping) else _MISSING
        if isinstance(rule, Mapping):
            if value is _MISSING:
                value = {}  # only {"exists": false} rules below can still match
            elif not isinstance(value, Mapping):
                return False
            if not matches_pattern(rule, value):
                return False
        elif not _matches_any(rule, value):
            return False
    return True


def _matches_any(rules: Sequence[Any], value: Any) -> bool:
    if value is _MISSING:
        return any(isinstance(r, Mapping) and r.get("exists") is False for r in rules)
    # An array in the event matches if any of its elements does.
    values = value if isinstance(value, list) else [value]
    return any(_matches_rule(rule, item) for rule in rules for item in values)


def _matches_rule(rule: Any, value: Any) -> bool:
    if not isinstance(rule, Mapping):
        return _equal(rule, value)
    (operator, argument), *_ = rule.items()
    if operator == "exists":
        return argument is True
    if operator == "prefix":
        return _string_test(argument, value, str.startswith)
    if operator == "suffix":
        return _string_test(argument, value, str.endswith)
    if operator == "equals-ignore-case":
        return isinstance(value, str) and value.casefold() == str(argument).casefold()
    if operator == "wildcard":
        return isinstance(value, str) and _wildcard(str(argument)).fullmatch(value) is not None
    if operator == "anything-but":
        if isinstance(argument, Mapping):
            return not _matches_rule(argument, value)
        excluded = argument if isinstance(argument, list) else [argument]
        return not any(_equal(item, value) for item in excluded)
    if operator == "numeric":
        number = _number(value)
        return number is not None and all(
            _NUMERIC_OPS[op](number, bound) for op, bound in _numeric_conditions(argument)
        )
    raise ValueError(f"unsupported filter operator {operator!r}")


def _string_test(argument: Any, value: Any, test: Callable[[str, str], bool]) -> bool:
    if not isinstance(value, str):
        return False
    if isinstance(argument, Mapping) and "equals-ignore-case" in argument:
        return test(value.casefold(), str(argument["equals-ignore-case"]).casefold())
    return test(value, str(argument))


def _wildcard(pattern: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(part) for part in pattern.split("*")), re.DOTALL)


def _numeric_conditions(argument: Any) -> list[tuple[str, float]]:
    if not isinstance(argument, list) or len(argument) % 2 or not argument:
        raise ValueError(f"numeric filter needs [op, number, ...], got {argument!r}")
    conditions = []
    for op, bound in itertools.batched(argument, 2, strict=True):
        if op not in _NUMERIC_OPS or isinstance(bound, bool) or not isinstance(bound, int | float):
            raise ValueError(f"bad numeric filter condition {op!r} {bound!r}")
        conditions.append((op, float(bound)))
    return conditions


def _number(value: Any) -> float | None:
    # Stream images carry numbers as strings ({"N": "42"}): numeric filters on them compare
    # the number.
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _equal(expected: Any, value: Any) -> bool:
    if expected is None or isinstance(expected, bool):
        return value is expected
    if isinstance(value, bool):
        return False
    if isinstance(expected, int | float):
        return isinstance(value, int | float) and float(value) == float(expected)
    return isinstance(value, str) and value == expected


def drop_phantom_inserts(records: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Undo a moto quirk: an ``UpdateItem`` that creates an item emits two INSERTs, the first
    with the keys only. DynamoDB cannot emit two INSERTs of one key in a row (a REMOVE must come
    between), so a keys-only INSERT followed by an INSERT of the same keys is dropped. (Should
    the pair straddle two ``get_records`` calls, the phantom gets through; it carries no
    attributes, so filters on the image drop it anyway.)"""
    kept: list[Mapping[str, Any]] = []
    for index, record in enumerate(records):
        following = records[index + 1] if index + 1 < len(records) else None
        change = record.get("dynamodb", {})
        if (
            following is not None
            and record.get("eventName") == following.get("eventName") == "INSERT"
            and change.get("Keys") == following.get("dynamodb", {}).get("Keys")
            and change.get("NewImage", change.get("Keys")) == change.get("Keys")
        ):
            continue
        kept.append(record)
    return kept


def lambda_stream_record(record: Mapping[str, Any], event_source_arn: str, region: str) -> dict[str, Any]:
    """A record from ``dynamodbstreams.get_records`` (as boto3 returns it) in the shape Lambda
    delivers: JSON only (epoch seconds, base64 binaries), ``eventSourceARN`` added, and the
    real region (moto always says us-east-1)."""
    converted: dict[str, Any] = _jsonable(dict(record))
    change = converted.get("dynamodb")
    if isinstance(change, dict) and isinstance(change.get("ApproximateCreationDateTime"), float):
        # A record kept by a snapshot holds the time to the microsecond; Lambda sends seconds.
        change["ApproximateCreationDateTime"] = int(change["ApproximateCreationDateTime"])
    converted["awsRegion"] = region
    converted["eventSourceARN"] = event_source_arn
    return converted


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return int(value.timestamp())
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, Mapping):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set):
        return [_jsonable(item) for item in value]
    return value


@dataclass(frozen=True)
class BatchOutcome:
    """How Lambda reads one invocation of a stream batch."""

    retry_from: int | None  # index of the checkpoint to retry from; None: the batch succeeded
    failed: frozenset[str] = frozenset()  # sequence numbers reported failed (all on an error)
    function_error: bool = False

    @property
    def ok(self) -> bool:
        return self.retry_from is None


def stream_event(
    records: list[dict[str, Any]], *, shard_id: str, stream_arn: str, window_s: int
) -> dict[str, Any]:
    """A stream batch as Lambda hands it over. With a tumbling window (``window_s`` > 0) the
    event also names the shard and carries the window and its state, as Lambda documents
    ("Implementing stateful DynamoDB stream processing"); the state is empty here, since no
    handler of the hub keeps one."""
    if window_s <= 0:
        return {"Records": records}
    now = int(time.time())
    start = now - now % window_s
    return {
        "Records": records,
        "window": {"start": _utc(start), "end": _utc(start + window_s)},
        "state": {},
        "shardId": shard_id,
        "eventSourceARN": stream_arn,
        "isFinalInvokeForWindow": False,
        "isWindowTerminatedEarly": False,
    }


def _utc(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def batch_outcome(
    records: Sequence[Mapping[str, Any]], response: Any, *, report_failures: bool, windowed: bool = False
) -> BatchOutcome:
    """Read a stream handler's answer like Lambda does.

    With ``ReportBatchItemFailures``: an empty or null answer or ``batchItemFailures`` is a
    success; otherwise Lambda retries from the lowest failed sequence number. An identifier
    that is empty, null, not in the batch, or malformed fails the whole batch. Without it, any
    answer is a success. With a tumbling window, an answer without ``state`` is a failed
    invocation (Lambda's rule).
    """
    sequence = [str(r["dynamodb"]["SequenceNumber"]) for r in records]
    everything = BatchOutcome(0, frozenset(sequence))
    if windowed and not (isinstance(response, Mapping) and "state" in response):
        return everything
    if not report_failures or response is None:
        return BatchOutcome(None)
    if not isinstance(response, Mapping):
        return everything
    failures = response.get("batchItemFailures")
    if not failures:
        return BatchOutcome(None)
    if not isinstance(failures, list):
        return everything
    indexes = []
    for failure in failures:
        identifier = failure.get("itemIdentifier") if isinstance(failure, Mapping) else None
        if not identifier or str(identifier) not in sequence:
            return everything
        indexes.append(sequence.index(str(identifier)))
    return BatchOutcome(min(indexes), frozenset(sequence[i] for i in indexes))


def batched(items: Sequence[Any], size: int) -> Iterator[list[Any]]:
    for chunk in itertools.batched(items, max(1, size), strict=False):
        yield list(chunk)


# --- a WSGI request as the gateway sees it ----------------------------------------------------

_WSGI_UNPREFIXED = {"CONTENT_TYPE": "Content-Type", "CONTENT_LENGTH": "Content-Length"}


def http_request_from_wsgi(environ: Mapping[str, Any]) -> HttpRequest:
    """The request a WSGI server hands over, as :class:`HttpRequest`: the target as received
    (``REQUEST_URI``: still percent-encoded, the query string untouched), the headers, the whole
    body (the server has bounded and de-chunked it)."""
    target = environ.get("REQUEST_URI") or ""
    if not target.startswith("/"):
        # No raw target (another server), or an absolute-form one: rebuild path and query.
        query = environ.get("QUERY_STRING", "")
        target = quote(environ.get("PATH_INFO", "") or "/", safe="/%:@!$&'()*+,;=") + (
            f"?{query}" if query else ""
        )
    headers: list[tuple[str, str]] = []
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            headers.append((key[5:].replace("_", "-").title(), str(value)))
        elif key in _WSGI_UNPREFIXED and value:
            headers.append((_WSGI_UNPREFIXED[key], str(value)))
    stream = environ.get("wsgi.input")
    body = stream.read() if stream is not None else b""
    return HttpRequest(
        method=str(environ.get("REQUEST_METHOD", "GET")),
        target=target,
        headers=headers,
        body=body,
        source_ip=str(environ.get("REMOTE_ADDR", "")),
        protocol=str(environ.get("SERVER_PROTOCOL", "HTTP/1.1")),
    )
