"""Shared fixtures. The shared package is imported exactly as the Lambda imports it (installed
into .venv by `make setup`), never through sys.path tricks."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from acd_hub.models import ParseContext
from acd_hub.settings import HubSettings
from tests.support import FAKE_AWS, TOKEN

HERE = Path(__file__).resolve().parent


# The tiers whose tests carry their folder's name as a marker (``pytest -m integration``).
MARKED_TIERS = ("integration", "e2e", "browser", "deploy")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Each test of a marked tier gets its tier's marker. Then cheapest first: each tier (unit,
    integration, ...) in the configured order, and within a tier the tests marked ``slow`` (whole
    days, deep properties) after the others, so a failure shows within minutes."""
    for item in items:
        if item.path.is_relative_to(HERE) and (tier := item.path.relative_to(HERE).parts[0]) in MARKED_TIERS:
            item.add_marker(getattr(pytest.mark, tier))
    tiers = [str(config.rootpath / path) for path in config.getini("testpaths")]

    def cost(item: pytest.Item) -> tuple[int, int]:
        path = str(item.path)
        tier = next((n for n, root in enumerate(tiers) if path.startswith(root)), len(tiers))
        return tier, 1 if item.get_closest_marker("slow") else 0

    items.sort(key=cost)


@pytest.fixture
def settings() -> HubSettings:
    return HubSettings(callback_tokens=[TOKEN, "second-token"], events_table="EventsTable")


@pytest.fixture
def fake_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    """boto3 configured for moto's in-process mocks: a region, fake credentials, no endpoint."""
    for name, value in FAKE_AWS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)


@pytest.fixture
def context() -> ParseContext:
    return ParseContext(ZoneInfo("Europe/Berlin"), "DE")


# --- no secret in any log line, in any suite --------------------------------------------------
# Every test's captured log, stdout and stderr (the handlers' structured logs, the local stack's
# access log, moto's) is checked for the tokens the suites use and for full phone numbers.
SECRETS = (TOKEN, "second-token", "local-dev-token", "e2e-token-Q3lz8x0aVw", "e2e-token-rotated-7Hc2")
# +49..., 0049..., 0221...: 8 or more digits in one of the vendor's three formats
FULL_PHONE = re.compile(r"(?<![\w.:#/-])(?:\+|00)?[1-9]?\d{1,3}\d{7,12}(?![\w:*-])")
PHONE_PREFIXES = ("+", "00", "0")


def leaked(text: str) -> list[str]:
    found = [secret for secret in SECRETS if secret in text]
    for match in FULL_PHONE.finditer(text):
        number = match.group(0)
        if number.startswith(PHONE_PREFIXES) and not number.startswith("0000"):
            found.append(number)
    return found


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if report.when != "call" or report.failed:
        return
    for name, content in report.sections:
        if any(kind in name for kind in ("log", "stdout", "stderr")) and (secrets := leaked(content)):
            report.outcome = "failed"
            report.longrepr = (
                f"{item.nodeid}: {name} holds a secret or a full phone number: {sorted(set(secrets))[:5]}"
            )
            return
