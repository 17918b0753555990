"""The suite-wide log guard (tests/conftest.py) catches what it must, and only that."""

from __future__ import annotations

import pytest

from tests.conftest import leaked
from tests.support import TOKEN


@pytest.mark.parametrize(
    "line", [f"GET /callback/{TOKEN}", "caller +492212601599", "to 00492212601599", "ext 02212601599"]
)
def test_secrets_and_full_numbers_are_caught(line: str) -> None:
    assert leaked(line)


@pytest.mark.parametrize(
    "line",
    [
        "GET /callback/*** 200 3.1ms",
        "eventtime 1763629200000",
        "event_key h-3ca8dcd03ce2175b3a40e24541858062",
        "masked +49221260****",
        "suppressed 02212601xxx",
        "at 2025-11-20T09:00:00.000Z",
        "sequence 000000000000000000017",
    ],
)
def test_ordinary_log_content_passes(line: str) -> None:
    assert not leaked(line)
