"""End-to-end fixtures: the whole local stack (``acd-local``) in this process, on free ports.

Requests go over real HTTP to the callback endpoint; the real ingest handler stores them in the
moto server, the real stream consumers are fed from the table's stream.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from acd_local.hub import LocalHub

E2E_TOKEN = "e2e-token-Q3lz8x0aVw"
# A second valid token, as while rotating: both must be accepted.
E2E_ROTATED_TOKEN = "e2e-token-rotated-7Hc2"

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def local_stack() -> Iterator[LocalHub]:
    """The running stack: ``callback_url`` (with ``E2E_TOKEN``), ``base_url``, ``aws_endpoint``,
    ``table_names``, ``topic_arns``, ``subscriber_queue_urls`` (left for the tests to read: the
    printing subscriber is off), ``dlq_urls``, ``errors`` (handler exceptions; should stay empty),
    ``wait_for_stream_idle(timeout)`` and ``clients()``.

    moto's state is process-wide: tests that need an empty table must not assume one; the stack
    resets moto when it starts and stops. Stream retries are quick here (50 ms backoff).
    """
    if not (REPO / "template.yaml").is_file() or not (REPO / "functions" / "ingest" / "app.py").is_file():
        pytest.fail("template.yaml or functions/ingest/app.py is missing")
    with LocalHub(
        port=0,
        aws_port=0,
        tokens=[E2E_TOKEN, E2E_ROTATED_TOKEN],
        local_subscriber=False,
        retry_delay=0.05,
        max_retry_delay=0.5,
    ) as stack:
        yield stack
