"""Test doubles and constants shared by the suites (tests is a package: `from tests.support import ...`)."""

from __future__ import annotations

from typing import Any

from acd_hub.errors import StoreUnavailable

TOKEN = "test-token-0123456789"


class MemoryStore:
    """The EventStore port with DynamoDB's conditional-put semantics."""

    def __init__(self) -> None:
        self.events: dict[tuple[str, str], dict[str, Any]] = {}
        self.rejected: list[dict[str, Any]] = []
        self.down = False

    def put_event(self, item: dict[str, Any]) -> bool:
        if self.down:
            raise StoreUnavailable("down")
        key = (item["pk"], item["sk"])
        if key in self.events:
            return False
        self.events[key] = item
        return True

    def put_rejected(self, item: dict[str, Any]) -> None:
        if self.down:
            raise StoreUnavailable("down")
        self.rejected.append(item)
