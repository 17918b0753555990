"""Shared fixtures. The shared package is imported exactly as the Lambda imports it (installed
into .venv by `make setup`), never through sys.path tricks."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest

from acd_hub.models import ParseContext
from acd_hub.settings import HubSettings
from tests.support import TOKEN


@pytest.fixture
def settings() -> HubSettings:
    return HubSettings(callback_tokens=[TOKEN, "second-token"], events_table="EventsTable")


@pytest.fixture
def context() -> ParseContext:
    return ParseContext(ZoneInfo("Europe/Berlin"), "DE")
