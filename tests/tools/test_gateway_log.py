"""acd-local's callback endpoint never writes a token into a log line, not even through
waitress's own lines: a request cut off by a SIGTERM under load made waitress log "Exception
while serving /callback/<token>" (seen once in `tests/e2e/test_local_lifecycle.py`)."""

from __future__ import annotations

import logging

import pytest

from acd_local.gateway import ApiServer

TOKEN = "chosen-secret-Zq81x0Lm"


@pytest.mark.parametrize(
    "line",
    ["Exception while serving /callback/{token}", "Client disconnected while serving /callback/{token}"],
)
def test_waitress_lines_naming_a_request_path_show_it_masked(
    caplog: pytest.LogCaptureFixture, line: str
) -> None:
    server = ApiServer(("127.0.0.1", 0))
    try:
        with caplog.at_level(logging.INFO, logger="waitress"):
            # as waitress writes them: the path formatted into the message
            logging.getLogger("waitress").error(line.format(token=TOKEN))
    finally:
        server.stop(timeout=1)
    assert TOKEN not in caplog.text
    assert line.format(token="").split(" /")[0] in caplog.text  # the line itself is kept
    assert "/***" in caplog.text
