"""What a Lambda function of the hub receives, built one way for the emulator, the samples, the
benchmarks and the tests.

* :func:`http_api_event`: an API Gateway HTTP API request (payload format 2.0) as API Gateway
  hands it to a function: lower-case headers (repeats comma-joined, cookies in a list of their
  own), the path decoded, the query string as received plus its decoded
  ``queryStringParameters``, a body as text for textual types and base64 for every other.
* :func:`callback_event`: the ACD's callback to ``/callback/{token}`` as such an event: GET and
  HEAD carry the parameters in the query string, PUT in a form-urlencoded body.
* :class:`FakeLambdaContext`: the context object, with the attributes of Powertools'
  ``LambdaContext`` (``aws_lambda_powertools.utilities.typing``).
* :func:`stream_record`: the INSERT record of a new events-table item as the DynamoDB stream's
  event source mapping delivers it (the image typed by boto3's ``TypeSerializer``).

Only the standard library is imported at module level: ``make bench``'s cold-start driver takes
its context from here between its two timed regions, and must not import on the function's
behalf what the function's first request imports itself.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import json
import os
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, unquote_plus, urlencode

TOKEN = "local-dev-token"  # noqa: S105 - the documented local token of events/, env.json, acd-local
REGION = "eu-central-1"
ACCOUNT = "123456789012"  # moto's default account
API_ID = "r4nd0m1d2x"
DOMAIN = f"{API_ID}.execute-api.{REGION}.amazonaws.com"
SOURCE_IP = "203.0.113.10"  # the ACD's external address (documentation range)
USER_AGENT = "Java/11.0.22"
# What the ACD's HTTP client (Java's HttpURLConnection) sends with every request.
ACD_ACCEPT = "text/html, image/gif, image/jpeg, */*; q=0.2"
EVENTS_TABLE = "EventsTable"
STREAM_ARN = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{EVENTS_TABLE}/stream/2026-11-01T00:00:00.000"

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
# HTTP APIs hand the body over as text only for these types; everything else, including
# form-urlencoded and a missing Content-Type, arrives base64-encoded (observed on AWS, see
# ministackorg/ministack#766). Handlers must therefore decode base64 form bodies.
_TEXT_TYPES = frozenset({"application/json", "application/xml", "application/javascript"})


# --- API Gateway HTTP API (payload format 2.0) -------------------------------------------------


def http_api_event(
    method: str,
    path: str,
    *,
    route_key: str,
    raw_query: str = "",
    headers: Iterable[tuple[str, str]] = (),
    body: bytes = b"",
    path_parameters: Mapping[str, str] | None = None,
    source_ip: str = SOURCE_IP,
    protocol: str = "HTTP/1.1",
    scheme: str = "https",
    port: int | None = 443,
    request_id: str | None = None,
    trace_id: str | None = None,
    now: datetime | None = None,
    api_id: str = API_ID,
    account_id: str = ACCOUNT,
) -> dict[str, Any]:
    """The event API Gateway hands a function for one request. ``path`` is decoded (HTTP APIs
    route on, and hand on, the decoded path); ``raw_query`` is the query string as received."""
    now = now or datetime.now(UTC)
    folded: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in headers:
        lower = name.lower()
        if lower == "cookie":
            # Format 2.0 moves cookies out of the headers into their own list.
            cookies.extend(part.strip() for part in value.split(";") if part.strip())
            continue
        folded[lower] = f"{folded[lower]},{value}" if lower in folded else value
    host = folded.get("host", "127.0.0.1").rsplit(":", 1)[0]
    # API Gateway adds these; handlers see the client through them and requestContext.
    folded.setdefault("x-forwarded-for", source_ip)
    folded.setdefault("x-forwarded-proto", scheme)
    if port is not None:
        folded.setdefault("x-forwarded-port", str(port))
    folded.setdefault(
        "x-amzn-trace-id", trace_id or f"Root=1-{int(now.timestamp()):08x}-{uuid.uuid4().hex[:24]}"
    )

    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": raw_query,
    }
    if cookies:
        event["cookies"] = cookies
    event["headers"] = folded
    query = query_parameters(raw_query)
    if query:
        event["queryStringParameters"] = query
    if path_parameters:
        event["pathParameters"] = dict(path_parameters)
    event["requestContext"] = {
        "accountId": account_id,
        "apiId": api_id,
        "domainName": host,
        "domainPrefix": host.split(".", 1)[0],
        "http": {
            "method": method.upper(),
            "path": path,
            "protocol": protocol,
            "sourceIp": source_ip,
            "userAgent": folded.get("user-agent", ""),
        },
        "requestId": request_id or new_request_id(),
        "routeKey": route_key,
        "stage": "$default",
        "time": _clf_time(now),
        "timeEpoch": int(now.timestamp() * 1000),
    }
    is_base64 = False
    if body:
        text: str | None = None
        if _is_text(folded.get("content-type", "")):
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError:
                text = None
        if text is None:
            text = base64.b64encode(body).decode("ascii")
            is_base64 = True
        event["body"] = text
    event["isBase64Encoded"] = is_base64
    return event


def callback_event(
    method: str,
    params: Sequence[tuple[str, str]],
    *,
    token: str = TOKEN,
    request_id: str | None = None,
    trace_id: str | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The ACD's callback ``METHOD /callback/{token}`` with ``params`` (in the ACD's order and
    spelling) as the ingest function receives it from API Gateway."""
    method = method.upper()
    encoded = urlencoded(params)
    headers = [("accept", ACD_ACCEPT), ("host", DOMAIN), ("user-agent", USER_AGENT)]
    raw_query, body = encoded, b""
    if method == "PUT":
        raw_query, body = "", encoded.encode()
        headers += [
            ("content-type", "application/x-www-form-urlencoded"),
            ("content-length", str(len(body))),
        ]
    return http_api_event(
        method,
        f"/callback/{token}",
        route_key=f"{method} /callback/{{token}}",
        raw_query=raw_query,
        headers=headers,
        body=body,
        path_parameters={"token": token},
        request_id=request_id,
        trace_id=trace_id,
        now=now,
    )


def urlencoded(params: Sequence[tuple[str, str]]) -> str:
    """``a=1&b=R%C3%BCckruf`` (UTF-8, spaces as ``%20``): how the ACD encodes a query or body."""
    return urlencode(list(params), quote_via=quote)


def query_parameters(raw_query: str) -> dict[str, str]:
    """``queryStringParameters``: decoded, repeated names joined with commas."""
    result: dict[str, str] = {}
    for pair in raw_query.split("&"):
        if not pair:
            continue
        name, _, value = pair.partition("=")
        name, value = unquote_plus(name), unquote_plus(value)
        if not name:
            continue
        result[name] = f"{result[name]},{value}" if name in result else value
    return result


def new_request_id() -> str:
    """An id shaped like API Gateway's (``JKJaXmPLvHcESHA=``)."""
    return base64.b64encode(uuid.uuid4().bytes[:10]).decode("ascii")


def _is_text(content_type: str) -> bool:
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type.startswith("text/") or media_type in _TEXT_TYPES


def _clf_time(moment: datetime) -> str:
    """``20/Nov/2026:09:15:30 +0000`` whatever the locale."""
    moment = moment.astimezone(UTC)
    return f"{moment:%d}/{_MONTHS[moment.month - 1]}/{moment:%Y:%H:%M:%S} +0000"


# --- the Lambda context ------------------------------------------------------------------------


@dataclass
class FakeLambdaContext:
    """The context object Lambda passes a handler, with the attributes of Powertools'
    ``LambdaContext``; ``get_remaining_time_in_millis`` counts down from ``timeout_seconds``."""

    function_name: str = "IngestFunction"
    memory_limit_in_mb: int = 128
    timeout_seconds: float = 3.0
    function_version: str = "$LATEST"
    region: str = REGION
    account_id: str = ACCOUNT
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    identity: Any = None
    client_context: Any = None
    tenant_id: str | None = None
    _deadline: float = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout_seconds

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{self.region}:{self.account_id}:function:{self.function_name}"

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    @property
    def log_stream_name(self) -> str:
        return f"{datetime.now(UTC):%Y/%m/%d}/[{self.function_version}]local"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


# --- DynamoDB stream records -------------------------------------------------------------------


@functools.cache
def _serialize() -> Callable[[Any], Any]:
    # Imported on first use, not with this module (see the module's docstring).
    from boto3.dynamodb.types import TypeSerializer  # noqa: PLC0415

    return TypeSerializer().serialize


def stream_record(
    item: Mapping[str, Any],
    sequence: int,
    *,
    event_id: str | None = None,
    view_type: str = "NEW_IMAGE",
    created: datetime | None = None,
    stream_arn: str = STREAM_ARN,
) -> dict[str, Any]:
    """The INSERT record Lambda hands a stream consumer for the new events-table ``item`` (plain
    Python values, as the ingest writes them). ``sequence`` orders the records of a shard;
    ``created`` defaults to the item's ``received_at``."""
    serialize = _serialize()
    image = {name: serialize(value) for name, value in item.items()}
    if created is None:
        received = item.get("received_at")
        created = datetime.fromisoformat(str(received)) if received else datetime.now(UTC)
    change: dict[str, Any] = {
        "ApproximateCreationDateTime": int(created.timestamp()),
        "Keys": {name: image[name] for name in ("pk", "sk")},
        "SequenceNumber": f"{sequence:021d}",
        "SizeBytes": len(json.dumps(image, ensure_ascii=False).encode()),
        "StreamViewType": view_type,
    }
    if view_type in ("NEW_IMAGE", "NEW_AND_OLD_IMAGES"):
        change["NewImage"] = image
    return {
        "eventID": event_id or str(sequence),
        "eventName": "INSERT",
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": REGION,
        "dynamodb": change,
        "eventSourceARN": stream_arn,
    }


@contextlib.contextmanager
def patched_env(values: Mapping[str, str], unset: Sequence[str] = ()) -> Iterator[None]:
    """The process environment with ``values`` set and ``unset`` removed while the block runs,
    as a function's cold start reads it (handlers read their settings at import)."""
    saved = {name: os.environ.get(name) for name in [*values, *unset]}
    for name in unset:
        os.environ.pop(name, None)
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
