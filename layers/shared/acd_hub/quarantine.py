"""Quarantine: a request that cannot become an event is kept, redacted, with its reasons, so
nothing is lost (``acd-report rejected`` lists them, ``acd-admin replay`` runs them again).

:meth:`Quarantine.keep` writes the item and hands back the exception the use case raises:
:class:`~acd_hub.errors.Invalid` or :class:`~acd_hub.errors.Conflict`. Should the store refuse
the item, a trimmed one (who sent what when, and why; without query and body) is kept instead.
What is kept, the errors included, is :func:`acd_hub.redact.kept`'s.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import TYPE_CHECKING, Any

from acd_hub import answers, keys, params, redact
from acd_hub.errors import (
    BadCallback,
    Conflict,
    EventConflict,
    Invalid,
    ParameterError,
    Quarantined,
    StoreRefused,
    StoreUnavailable,
)
from acd_hub.items import SCHEMA_VERSION, expiry
from acd_hub.models import CALLBACK_MODELS
from acd_hub.request import CallbackRequest
from acd_hub.settings import HubSettings

if TYPE_CHECKING:
    from acd_hub.ports import EventStore


class Quarantine:
    def __init__(self, store: EventStore, settings: HubSettings) -> None:
        self._store = store
        self._settings = settings

    def keep(
        self,
        request: CallbackRequest,
        problem: BadCallback | StoreRefused | EventConflict,
        *,
        cmd: str,
        received_at: datetime,
        secrets: Collection[str],
    ) -> Quarantined:
        """Keep ``request`` with what ``problem`` says of it; the outcome to raise (Invalid, or
        Conflict for an event key stored with other content; nothing in it holds a token).
        Raises StoreUnavailable if not even a trimmed item could be kept."""
        outcome: type[Quarantined] = Conflict if isinstance(problem, EventConflict) else Invalid
        kept = redact.kept(request, _errors(problem), secrets)
        item = rejected_item(
            request, kept, answers.QUARANTINED_STATUS[outcome].value, self._settings, received_at
        )
        try:
            self._store.put_rejected(item)
        except StoreRefused as refused:
            # Keep at least who sent what when and why; a 4xx that kept nothing would lose it.
            trimmed = {name: item[name] for name in _TRIMMED_KEEPS if name in item}
            trimmed["trimmed"] = f"the store refused the full item ({refused}): query and body not kept"
            trimmed |= {"schema_version": SCHEMA_VERSION, **({"ttl": item["ttl"]} if "ttl" in item else {})}
            try:
                self._store.put_rejected(trimmed)
            except StoreRefused as again:
                raise StoreUnavailable(f"quarantine refused: {again}") from again
        known_cmd = params.ascii_lower(cmd.strip())
        return outcome(
            request_id=request.request_id,
            cmd=known_cmd if known_cmd in CALLBACK_MODELS else "unknown",
            errors=kept.errors,
        )


def _errors(problem: BadCallback | StoreRefused | EventConflict) -> list[ParameterError]:
    if isinstance(problem, BadCallback):
        return problem.errors
    if isinstance(problem, EventConflict):
        message = f"event {problem.event_key} is already stored with other content"
        return [ParameterError(name, message) for name in problem.fields]
    return [ParameterError("request", f"the event store refused the event ({problem})")]


def rejected_item(
    request: CallbackRequest,
    kept: redact.Kept,
    status: int,
    settings: HubSettings,
    received_at: datetime,
) -> dict[str, Any]:
    """A quarantined request: what was sent (as ``kept``, redacted) and why it was refused."""
    day = keys.day_of(received_at, settings.report_zone)
    item: dict[str, Any] = {
        "pk": keys.rejected_pk(day, keys.shard_of(request.request_id, settings.cmd_day_shards)),
        "sk": keys.time_sk(received_at, request.request_id),
        "kind": "rejected",
        "request_id": request.request_id,
        "received_at": keys.iso_utc(received_at),
        "day": day,
        "method": request.method,
        "path": kept.path,
        "query": kept.query,
        "content_type": kept.content_type,
        "source_ip": request.source_ip,
        "user_agent": kept.user_agent,
        "status": status,
        "reason": "; ".join(f"{e.parameter}: {e.message}" for e in kept.errors)[:2048],
        "errors": [e.as_dict() for e in kept.errors],
        "schema_version": SCHEMA_VERSION,
    }
    if kept.body:
        item["body"] = kept.body
    if kept.body_base64:
        item["body_base64"] = kept.body_base64
    if kept.body_note:
        item["body_note"] = kept.body_note
    ttl = expiry(settings, received_at)
    if ttl:
        item["ttl"] = ttl
    return {k: v for k, v in item.items() if v != ""}


# What a quarantined item keeps when the store refused the whole of it.
_TRIMMED_KEEPS = (
    "pk",
    "sk",
    "kind",
    "request_id",
    "received_at",
    "day",
    "method",
    "path",
    "status",
    "reason",
)
