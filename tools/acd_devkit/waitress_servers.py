"""Servers on waitress (a maintained, strict HTTP/1.1 server): moto's application, and the
stopping both it and ``acd-local``'s callback endpoint need.

Why moto's application behind waitress instead of werkzeug's development server:

moto's ``ThreadedMotoServer`` serves its WSGI application with werkzeug's development server,
which answers every request on a connection of its own (``Connection: close``: a new TCP
connection and a new thread per request) and then lingers 10 ms reading what the client might
still send. On this 2-core machine, 3,000 ``GetItem``/``Query`` requests of one boto3 client took
50-117 s there against 27-32 s behind waitress (keep-alive connections, a fixed pool of threads),
with a quarter less CPU. The application, and so every answer, is moto's own.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from typing import Any

# Enough for the stack's callers at once (4 ingest containers, 2 stream pollers, the consumers'
# requests, a report being read): a slow request (a big query) holds one thread.
THREADS = 16


class MotoServer:
    """moto's server on ``host:port`` (0: a free port), in a thread of this process: what
    ``moto.server.ThreadedMotoServer`` offers (``start``, ``stop``, ``get_host_and_port``)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, threads: int = THREADS) -> None:
        from moto.moto_server.werkzeug_app import (  # noqa: PLC0415 - moto's import is heavy
            DomainDispatcherApplication,
            create_backend_app,
        )
        from waitress.server import create_server  # noqa: PLC0415

        # Waitress warns at every queued request under load ("Task queue depth is N"): noise.
        logging.getLogger("waitress.queue").setLevel(logging.ERROR)
        self._server: Any = create_server(
            DomainDispatcherApplication(create_backend_app),
            host=host,
            port=port,
            threads=threads,
            connection_limit=4096,
            asyncore_use_poll=True,  # select() stops at file descriptor 1024
            ident="moto",
            expose_tracebacks=False,
        )
        self._host = host
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="moto-server", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        with contextlib.suppress(Exception):  # closed under it while stopping
            self._server.run()

    def get_host_and_port(self) -> tuple[str, int]:
        return self._host, int(self._server.effective_port)

    def stop(self, timeout: float = 3.0) -> None:
        stop_waitress(self._server, self._thread, timeout)


def stop_waitress(server: Any, thread: threading.Thread | None, timeout: float = 3.0) -> None:
    """Stop a waitress server run in ``thread``: stop accepting, close every connection, let
    running requests finish (at most ``timeout`` seconds)."""

    def close_all() -> None:
        # Runs in the server's own loop thread (via its trigger): no race with the loop.
        for channel in list(server._map.values()):
            if channel is not server.trigger:
                channel.close()  # connections, and the listening socket(s)
        server.trigger.close()

    if thread is not None and thread.is_alive():
        with contextlib.suppress(Exception):
            server.trigger.pull_trigger(close_all)
        thread.join(timeout)
    else:
        with contextlib.suppress(Exception):
            server.close()
    server.task_dispatcher.shutdown(cancel_pending=True, timeout=timeout)
