"""Domain errors. One exception handler each maps them to their HTTP answer (``functions/ingest/app.py``)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ParameterError:
    """One offending parameter and why, as the ACD integrator reads it."""

    parameter: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"parameter": self.parameter, "message": self.message}


@dataclass
class BadCallback(Exception):
    """The request cannot become an event. It is quarantined with these reasons."""

    errors: list[ParameterError] = field(default_factory=list)

    def __str__(self) -> str:
        return "; ".join(f"{e.parameter}: {e.message}" for e in self.errors)


class Unauthorized(Exception):
    """No valid token (401)."""


class Forbidden(Exception):
    """Source address outside the allow-list (403)."""


class StoreUnavailable(Exception):
    """DynamoDB did not take the write (throttled, down). The ACD should retry (503)."""


class TokensUnavailable(Exception):
    """The valid tokens could not be read (SSM throttled, slow or down). The ACD should retry (503)."""


class StoreRefused(Exception):
    """The store will never take this item (its content, not its health)."""


class EventConflict(Exception):
    """The event key is already stored with other content."""

    def __init__(self, event_key: str, fields: list[str]) -> None:
        super().__init__(event_key)
        self.event_key = event_key
        self.fields = fields
