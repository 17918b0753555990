"""Quarantine: a request that cannot become an event is kept, redacted, with its reasons, so
nothing is lost (``acd-report rejected`` lists them, ``acd-admin replay`` runs them again).

:meth:`Quarantine.keep` writes the item and hands back the exception the use case raises:
:class:`~acd_hub.errors.Invalid` or :class:`~acd_hub.errors.Conflict`. Should the store refuse
the item, a trimmed one (who sent what when, and why; without query and body) is kept instead.

It works on what was made before: what redaction keeps of the request
(:class:`acd_hub.redact.Redacted`) and where the request is kept (:class:`acd_hub.keys.Receipt`).
The reasons are redacted too: the parse errors by redaction, and later ones (the models', a
conflict's, the store's) are made of redacted parameters.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from acd_hub import answers
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
from acd_hub.items import SCHEMA_VERSION
from acd_hub.models import CALLBACK_MODELS
from acd_hub.request import CallbackRequest

if TYPE_CHECKING:
    from acd_hub.keys import Receipt
    from acd_hub.ports import EventStore
    from acd_hub.redact import Kept, Redacted


class Quarantine:
    def __init__(self, store: EventStore) -> None:
        self._store = store

    def keep(
        self,
        request: CallbackRequest,
        redacted: Redacted,
        problem: BadCallback | StoreRefused | EventConflict,
        receipt: Receipt,
    ) -> Quarantined:
        """Keep ``request`` as ``redacted`` keeps it, at ``receipt``, with what ``problem`` says
        of it; the outcome to raise (Invalid, or Conflict for an event key stored with other
        content; nothing in it holds a token). Raises StoreUnavailable if not even a trimmed
        item could be kept."""
        outcome: type[Quarantined] = Conflict if isinstance(problem, EventConflict) else Invalid
        errors = _errors(problem)
        item = rejected_item(
            request, redacted.kept, errors, receipt, answers.QUARANTINED_STATUS[outcome].value
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
        # a known cmd is ASCII, whatever case it was sent in
        cmd = redacted.parameters.get("cmd", "").strip()
        known = cmd.isascii() and cmd.lower() in CALLBACK_MODELS
        return outcome(request_id=request.request_id, cmd=cmd.lower() if known else "unknown", errors=errors)


def _errors(problem: BadCallback | StoreRefused | EventConflict) -> list[ParameterError]:
    if isinstance(problem, BadCallback):
        return problem.errors
    if isinstance(problem, EventConflict):
        message = f"event {problem.event_key} is already stored with other content"
        return [ParameterError(name, message) for name in problem.fields]
    return [ParameterError("request", f"the event store refused the event ({problem})")]


def rejected_item(
    request: CallbackRequest, kept: Kept, errors: list[ParameterError], receipt: Receipt, status: int
) -> dict[str, Any]:
    """A quarantined request: what was sent (as ``kept``, redacted) and why it was refused."""
    item: dict[str, Any] = {
        "pk": receipt.pk,
        "sk": receipt.sk,
        "kind": "rejected",
        "request_id": request.request_id,
        "received_at": receipt.received_at,
        "day": receipt.day,
        "method": request.method,
        "path": kept.path,
        "query": kept.query,
        "content_type": kept.content_type,
        "source_ip": request.source_ip,
        "user_agent": kept.user_agent,
        "status": status,
        "reason": "; ".join(f"{e.parameter}: {e.message}" for e in errors)[:2048],
        "errors": [e.as_dict() for e in errors],
        "schema_version": SCHEMA_VERSION,
    }
    if kept.body:
        item["body"] = kept.body
    if kept.body_base64:
        item["body_base64"] = kept.body_base64
    if kept.body_note:
        item["body_note"] = kept.body_note
    if receipt.ttl:
        item["ttl"] = receipt.ttl
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
