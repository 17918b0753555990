"""Tests of the developer tools (the local stack's state, the simulator, the benchmarks, the
template reader, the lint gates), apart from the product's: they run after the product's tiers.
They keep the unit tier's rules: no network, no stray environment."""

from __future__ import annotations

from tests.unit.conftest import _no_network, dynamodb  # noqa: F401 - fixtures, re-exported
