"""Unit tests touch no network: any socket connection is an error here. They also start from
an environment without the local stack's settings (an e2e stack in the same session sets them)."""

from __future__ import annotations

import os
import socket

import pytest


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def guarded(self: socket.socket, address: object) -> None:
        if self.family == socket.AF_UNIX:
            return real_connect(self, address)
        raise RuntimeError(f"unit tests must not open network connections (to {address!r})")

    real_connect = socket.socket.connect
    monkeypatch.setattr(socket.socket, "connect", guarded)
    for name in list(os.environ):
        if name.startswith(("ACD_", "POWERTOOLS_")) or name == "AWS_ENDPOINT_URL":
            monkeypatch.delenv(name)
