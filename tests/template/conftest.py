"""The template tier's fixtures: template.yaml as the tests read it."""

from __future__ import annotations

from typing import Any

import pytest

from acd_devkit.template import load_template
from tests.template.test_template import TEMPLATE


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    """template.yaml, loaded once per test file."""
    return load_template(TEMPLATE)
