"""What AWS does around a Lambda function, emulated in-process for the local stack.

* the runtime: load a handler from ``functions/<name>/app.py`` (the context it is handed is
  :class:`acd_devkit.lambda_events.FakeLambdaContext`);
* API Gateway (HTTP API, payload format 2.0): route a request, hand the function the event
  :func:`acd_devkit.lambda_events.http_api_event` builds for it, and turn its answer back into
  an HTTP response.

The DynamoDB stream event source mapping's rules are :mod:`acd_devkit.stream_mapping`, shared
with the in-memory proof.

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
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
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


class _PerThread:
    """A class attribute whose value is per thread (:func:`isolate_router_state`)."""

    def __init__(self, name: str, values: threading.local) -> None:
        self._name = name
        self._values = values

    def __get__(self, _instance: Any, _owner: Any = None) -> Any:
        try:
            return getattr(self._values, self._name)
        except AttributeError:
            raise AttributeError(self._name) from None

    def __set__(self, _instance: Any, value: Any) -> None:
        setattr(self._values, self._name, value)


_ROUTER_STATE = ("current_event", "lambda_context")
_router_isolated = threading.Lock()


def isolate_router_state() -> None:
    """Give each thread its own request in Powertools' event handler (idempotent).

    Powertools keeps the request being resolved on a class, ``BaseRouter.current_event`` (and
    ``lambda_context``), shared by every resolver of the process. On Lambda a container is a
    process and serves one request at a time, so that is safe. Here several containers of one
    function are threads of one process (:class:`acd_local.invoke.InvokerPool`): a route read
    ``app.current_event`` while another container's request had replaced it, and stored that
    other request's event in its place: its own event was lost, answered 200 with the other's
    key. Per thread, each invocation sees its own request again, as on Lambda.

    The class gets a metaclass whose descriptors hold the two attributes per thread (Powertools
    assigns them on the class, which only a metaclass can intercept), and the class itself the
    same descriptors for reads and writes through an instance."""
    from aws_lambda_powertools.event_handler.api_gateway import BaseRouter  # noqa: PLC0415

    with _router_isolated:
        if getattr(type(BaseRouter), "_acd_local_per_thread", False):
            return
        values = threading.local()
        for name in _ROUTER_STATE:
            setattr(BaseRouter, name, _PerThread(name, values))  # before the metaclass: plain
        per_thread = {name: _PerThread(name, values) for name in _ROUTER_STATE}
        meta = type("PerThreadRouterMeta", (type(BaseRouter),), {**per_thread, "_acd_local_per_thread": True})
        BaseRouter.__class__ = meta  # type: ignore[method-assign]


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
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # RFC 9110's token
_HEADER_VALUE = re.compile(r"[^\r\n\x00]*")


def _checked_header(name: str, value: str) -> tuple[str, str]:
    """A header HTTP can carry, or ValueError (a malformed answer: API Gateway's 500). Before,
    waitress met such a header while answering: a traceback, a 500 of its own, or (a blank in a
    name) no answer at all."""
    if not _HEADER_NAME.fullmatch(name) or not _HEADER_VALUE.fullmatch(value):
        raise ValueError(f"the function answered a header HTTP cannot carry: {name!r}")
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        raise ValueError(f"the function answered a header HTTP cannot carry: {name!r}") from None
    return name, value


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
            headers.append(_checked_header(str(name), str(value)))
    for name, values in (result.get("multiValueHeaders") or {}).items():
        if name.lower() not in _FRAMING_HEADERS:
            headers.extend(_checked_header(str(name), str(value)) for value in values)
    headers.extend(_checked_header("Set-Cookie", str(cookie)) for cookie in result.get("cookies") or [])
    raw_body = result.get("body")
    if raw_body is None:
        body = b""
    elif result.get("isBase64Encoded"):
        body = base64.b64decode(raw_body)
    else:
        body = str(raw_body).encode("utf-8")
    status = int(result["statusCode"])
    if not 200 <= status <= 599:  # a final status (1xx is not one)
        raise ValueError(f"the function answered status {status}, not a final HTTP status")
    return HttpResponse(status, headers, body)


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


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
