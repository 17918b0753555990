"""Unit tests touch no network: any socket connection is an error here."""

from __future__ import annotations

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
