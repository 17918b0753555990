"""What can go wrong with a callback, in the use case's words; the ingest function's exception
handlers (``functions/ingest/app.py``) are the one place where these become HTTP answers.

The use case raises :class:`Invalid` or :class:`Conflict` (the request is quarantined),
:class:`Refused` (:class:`Unauthorized`, :class:`Forbidden`: nothing kept), or
:class:`StoreUnavailable` / :class:`TokensUnavailable` (the ACD should retry).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ParameterError:
    """One offending parameter and why, as the ACD integrator reads it."""

    parameter: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"parameter": self.parameter, "message": self.message}


@dataclass
class BadCallback(Exception):
    """The request cannot become an event (raised while it is read and validated)."""

    errors: list[ParameterError] = field(default_factory=list)

    def __str__(self) -> str:
        return "; ".join(f"{e.parameter}: {e.message}" for e in self.errors)


@dataclass
class Quarantined(Exception):
    """Not stored as an event, and already kept in quarantine under ``request_id``; ``cmd`` is a
    known cmd or ``unknown``, and nothing in it holds a token."""

    request_id: str
    cmd: str
    errors: list[ParameterError] = field(default_factory=list)


class Invalid(Quarantined):
    """Bad input: the models, the parameters' reader or the store refused it."""


class Conflict(Quarantined):
    """The event key is already stored with other content."""


class Refused(Exception):
    """Not authenticated: nothing is kept (a stranger's input is not ours to store)."""


class Unauthorized(Refused):
    """No valid token."""


class Forbidden(Refused):
    """Source address outside the allow-list."""


class StoreUnavailable(Exception):
    """DynamoDB did not take the write (throttled, down). The ACD should retry."""


class TokensUnavailable(Exception):
    """The valid tokens could not be read (SSM throttled, slow or down). The ACD should retry."""


class StoreRefused(Exception):
    """The store will never take this item (its content, not its health)."""


class EventConflict(Exception):
    """The event key is already stored with other content: ``fields`` name where it differs."""

    def __init__(self, event_key: str, fields: list[str]) -> None:
        super().__init__(event_key)
        self.event_key = event_key
        self.fields = fields

    @classmethod
    def check(cls, event_key: str, mine: Mapping[str, Any], theirs: Mapping[str, Any]) -> None:
        """Raise if two claims of ``event_key`` differ in content (``digests``: one per field)."""
        ours: Mapping[str, str] = mine.get("digests") or {}
        stored: Mapping[str, str] = theirs.get("digests") or {}
        fields = sorted(name for name in ours.keys() | stored.keys() if ours.get(name) != stored.get(name))
        if fields:
            raise cls(event_key, fields)
