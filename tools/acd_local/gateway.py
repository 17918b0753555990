"""The callback endpoint: API Gateway's HTTP API (payload format 2.0) in front of the HTTP
functions, served by waitress.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote

from acd_devkit.lambda_events import new_request_id
from acd_devkit.waitress_servers import stop_waitress
from acd_local.invoke import ErrorLog, FunctionTimedOut, IntegrationTimedOut
from acd_local.lambda_runtime import (
    HttpRequest,
    HttpResponse,
    Route,
    build_http_api_event,
    http_api_error,
    http_api_response,
    http_request_from_wsgi,
    masked_path,
    match_route,
)

LOG = logging.getLogger("acd_local")
ACCESS_LOG = logging.getLogger("acd_local.access")
MAX_REQUEST_BYTES = 10 * 1024 * 1024  # API Gateway's request payload limit
# API Gateway's quota on the request line and the header values together: beyond it the gateway
# answers 414 itself (docs/openapi.yaml's UriTooLong), the function never sees the request.
MAX_REQUEST_LINE_AND_HEADERS = 10240


class Gateway:
    """Routes a request to its function the way API Gateway's HTTP API does."""

    def __init__(
        self,
        routes: Sequence[Route],
        invokers: Mapping[str, Callable[[dict[str, Any]], Any]],
        errors: ErrorLog,
        port: int,
    ) -> None:
        self._routes = list(routes)
        self._invokers = invokers
        self._errors = errors
        self._port = port
        self._known_segments = {s for r in routes for s in r.path.split("/") if s and "{" not in s}

    def log_path(self, raw_path: str) -> str:
        """``raw_path`` fit for a log line: a route's parameters (the token) as ``***``."""
        path = unquote(raw_path)
        for route in self._routes:
            if Route("ANY", route.path, route.function).match("ANY", path) is not None:
                return route.masked_path()
        return masked_path(path, self._known_segments)

    def handle(self, request: HttpRequest) -> tuple[HttpResponse, str]:
        """The response, and the path to log (tokens masked, never the query string)."""
        # Before, any request line or header up to waitress's 256 KB reached the function: a long
        # query was quarantined as a 400 where API Gateway answers 414.
        line = len(request.method) + len(request.target) + len(request.protocol) + 2
        if line + sum(len(value) for _, value in request.headers) > MAX_REQUEST_LINE_AND_HEADERS:
            return http_api_error(414, "Request-URI Too Long"), self.log_path(request.raw_path)
        found = match_route(self._routes, request.method, request.path)
        if found is None:
            return http_api_error(404, "Not Found"), self.log_path(request.raw_path)
        route, params = found
        request_id = new_request_id()
        event = build_http_api_event(request, route, params, request_id=request_id, port=self._port)
        try:
            response = http_api_response(self._invokers[route.function](event))
        except (FunctionTimedOut, IntegrationTimedOut) as exc:
            # What API Gateway answers: a Lambda timeout is a failed integration (500), no answer
            # within the integration's 30 s a 503. Recorded: tests assert the error log stays empty.
            LOG.error("%s on %s %s: %s", route.function, request.method, route.masked_path(), exc)
            self._errors.record(route.function, "http", exc)
            timed_out = isinstance(exc, FunctionTimedOut)
            status, message = (500, "Internal Server Error") if timed_out else (503, "Service Unavailable")
            response = http_api_error(status, message)
        except Exception as exc:
            # API Gateway's answer to a failed integration. This must never happen: tests assert
            # the error log stays empty.
            LOG.error(
                "%s raised on %s %s", route.function, request.method, route.masked_path(), exc_info=True
            )
            self._errors.record(route.function, "http", exc)
            response = http_api_error(500, "Internal Server Error")
        response.headers.append(("apigw-requestid", request_id))
        return response, route.masked_path()


class _MaskedPaths(logging.Filter):
    """Waitress's log lines that name a request's path ("Exception while serving ...", "Client
    disconnected while serving ..."), with the path as the access log shows it (tokens as ``***``)."""

    _SERVING = re.compile(r"( while serving )(\S+)")

    def __init__(self, mask: Callable[[str], str]) -> None:
        super().__init__()
        self._mask = mask

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = self._SERVING.sub(lambda m: m.group(1) + self._mask(m.group(2)), message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


class ApiServer:
    """The callback endpoint: waitress (a maintained, strict HTTP/1.1 server) in front of the
    :class:`Gateway`.

    Waitress does the HTTP: keep-alive, a listen backlog of ``backlog`` (the stdlib server had
    5), strict parsing (a chunk size that is not plain hex — ``-1``, ``0x5`` — is a 400), and a
    request is handed on only once its headers and body are complete, so a client that hangs up
    mid-request causes nothing. The body limit is API Gateway's (413 beyond it).
    """

    def __init__(self, address: tuple[str, int], *, threads: int = 8, backlog: int = 1024) -> None:
        from waitress.server import create_server  # noqa: PLC0415 - keep `--help` fast

        self.gateway: Gateway | None = None
        self._server = create_server(
            self._wsgi,
            host=address[0],
            port=address[1],
            threads=threads,
            backlog=backlog,
            # Every connection is accepted (the default caps them at 100; the rest would wait in
            # the backlog until one closes).
            connection_limit=4096,
            # select() stops at file descriptor 1024; poll() does not.
            asyncore_use_poll=True,
            # Waitress refuses a body of max_request_body_size bytes already (>=): one of the
            # limit itself is within API Gateway's limit. (A chunked body's count includes its
            # chunks' framing.)
            max_request_body_size=MAX_REQUEST_BYTES + 1,
            channel_timeout=120,  # an idle keep-alive connection ends eventually
            ident="acd-local",
            expose_tracebacks=False,
        )
        # Waitress answers malformed requests itself (never reaching the gateway); say so in the
        # access log, without the request line (it may hold the token).
        self._server.channel_class = _logging_channel()
        # Waitress logs a warning per queued task under load ("Task queue depth is N"): noise.
        logging.getLogger("waitress.queue").setLevel(logging.ERROR)
        # Its own lines name the request's path ("Exception while serving /callback/<token>",
        # seen when a request is cut off by a SIGTERM): the token must never reach a log line.
        waitress_log = logging.getLogger("waitress")
        if not any(isinstance(f, _MaskedPaths) for f in waitress_log.filters):
            waitress_log.addFilter(_MaskedPaths(self._log_path))
        self.server_address: tuple[str, int] = (address[0], int(self._server.effective_port))
        self._thread: threading.Thread | None = None

    def _log_path(self, path: str) -> str:
        return self.gateway.log_path(path) if self.gateway is not None else masked_path(path)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="callback-http", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        with contextlib.suppress(Exception):  # closed under it while stopping
            self._server.run()

    def stop(self, timeout: float = 3.0) -> None:
        """Stop accepting, close every connection, let running requests finish (at most
        ``timeout`` seconds)."""
        stop_waitress(self._server, self._thread, timeout)

    def _wsgi(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        started = time.perf_counter()
        request = http_request_from_wsgi(environ)
        gateway = self.gateway
        if gateway is None:
            response, log_path = http_api_error(503, "Service Unavailable"), masked_path(request.raw_path)
        else:
            try:
                response, log_path = gateway.handle(request)
            except Exception:  # a bug of this emulation, not of the function: still answer
                LOG.exception("the local gateway failed")
                response = http_api_error(500, "Internal Server Error")
                log_path = gateway.log_path(request.raw_path)
        # HEAD: the length the body would have, no body (RFC 9110 9.3.2); waitress accepts that.
        headers = list(response.headers)
        if response.status >= 200 and response.status not in (204, 304):
            headers.append(("Content-Length", str(len(response.body))))
        start_response(_status_line(response.status), headers)
        # The access log: never the query string (token, phone numbers), tokens in paths masked.
        ACCESS_LOG.info(
            "%s %s %s %d %.1fms",
            request.source_ip,
            request.method,
            log_path,
            response.status,
            (time.perf_counter() - started) * 1000,
        )
        return [b"" if request.method == "HEAD" else response.body]


def _status_line(status: int) -> str:
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return f"{status} Unknown"


def _logging_error_task() -> type[Any]:
    from waitress.task import ErrorTask  # noqa: PLC0415

    class LoggingErrorTask(ErrorTask):  # type: ignore[misc]
        def execute(self) -> None:
            error = self.request.error
            ACCESS_LOG.info("%s request rejected before routing (%s)", self.channel.addr[0], error.code)
            # API Gateway's own answers are JSON, {"message": ...} (docs/openapi.yaml's
            # GatewayMessage, the 413's schema); waitress's are a text page.
            body = json.dumps({"message": error.reason}).encode()
            self.status = f"{error.code} {error.reason}"
            self.response_headers.append(("Content-Type", "application/json"))
            self.set_close_on_finish()
            self.content_length = len(body)
            self.write(body)

    return LoggingErrorTask


@functools.cache
def _strict_parser() -> type[Any]:
    from waitress.parser import HTTPRequestParser, ParsingError  # noqa: PLC0415

    class StrictParser(HTTPRequestParser):  # type: ignore[misc]
        """RFC 9112 6.3: a request with both Content-Length and Transfer-Encoding may be an
        attempt to smuggle a second request past a front end that reads the other header. Waitress
        reads it by Transfer-Encoding and keeps the connection; we answer 400 and close it."""

        def parse_header(self, header_plus: bytes) -> None:
            super().parse_header(header_plus)
            if "CONTENT_LENGTH" in self.headers and (self.chunked or "TRANSFER_ENCODING" in self.headers):
                self.connection_close = True
                raise ParsingError("both Content-Length and Transfer-Encoding")

        def received(self, data: bytes) -> int:
            consumed: int = super().received(data)
            if self.error is not None:
                # A request refused from its headers (a body over the limit, a bad
                # Content-Length, CL+TE) that says "Expect: 100-continue": waitress would still
                # send "100 Continue" (marking it incomplete again) and wait for the body, so a
                # client that waits for the go-ahead got no answer at all, and one that sent a
                # 20 MB body sent 10 MB of it first. The refusal is the answer, at once.
                self.expect_continue = False
            return consumed

    return StrictParser


@functools.cache
def _logging_channel() -> type[Any]:
    from waitress.channel import HTTPChannel  # noqa: PLC0415

    class LoggingChannel(HTTPChannel):  # type: ignore[misc]
        error_task_class = _logging_error_task()
        parser_class = _strict_parser()

    return LoggingChannel
