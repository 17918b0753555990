"""The replay use case: quarantined requests run through the ingest code again, each marked on
its quarantine item (stored, already stored, or still rejected with its new reason). The
ingest's conditional write keeps a replay from ever storing an event twice.
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlencode

from acd_cli.dry_run import DryRunClient
from acd_hub.adapters.events_table import EventsTable
from acd_hub.answers import QUARANTINED_STATUS
from acd_hub.errors import Conflict, Invalid, ParameterError, Quarantined
from acd_hub.ingest import CallbackIngest
from acd_hub.request import CallbackRequest

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

    from acd_hub.settings import HubSettings


MAX_REASON = 2048  # as the ingest keeps it (acd_hub.items)

# Outcomes that put the request's event in the log: such an item is done.
REPLAYED_INTO_LOG = frozenset({"stored", "duplicate"})
STILL_REJECTED = frozenset({"rejected", "conflict"})
TRIMMED_NOTE = "kept trimmed (no query, no body): nothing to replay"


class ReplayContext(Protocol):
    """What a replay works through (``acd-admin``'s context is one): the events table, its
    adapter, and the hub's settings as deployed."""

    @property
    def dynamodb(self) -> DynamoDBClient: ...

    @property
    def events_table(self) -> str: ...

    @property
    def events(self) -> EventsTable: ...

    @property
    def settings(self) -> HubSettings: ...


class ReplayStore(EventsTable):
    """The real events-table adapter, except for quarantine: a replay's own rejection is not
    kept as a second item (the replayed item is updated instead). In a dry run it writes
    nothing (see :class:`DryRunClient`)."""

    def __init__(self, client: DynamoDBClient, table_name: str, *, dry_run: bool) -> None:
        super().__init__(DryRunClient(client) if dry_run else client, table_name)  # type: ignore[arg-type]

    def put_rejected(self, item: dict[str, Any]) -> None:
        pass  # the replay marks the original quarantine item with the new reason


def kept_request(item: Mapping[str, Any], operator_token: str) -> CallbackRequest:
    """The request as quarantined: method, query, body (text, form, JSON or raw bytes kept as
    base64), content type, source. The token was redacted before it was kept; the replay
    presents ``operator_token`` instead, as the path segment."""
    body: bytes
    if item.get("body_base64"):
        body = base64.b64decode(str(item["body_base64"]))
    elif isinstance(item.get("body"), str):
        body = str(item["body"]).encode("utf-8", "surrogateescape")
    elif item.get("form") is not None:
        form = item["form"]
        body = (form if isinstance(form, str) else urlencode(form, doseq=True)).encode("utf-8")
    elif item.get("json") is not None:
        document = item["json"]
        body = (document if isinstance(document, str) else json.dumps(document)).encode("utf-8")
    else:
        body = b""
    return CallbackRequest(
        method=str(item.get("method") or "GET"),
        path=str(item.get("path") or "/callback"),
        raw_query=str(item.get("query") or ""),
        body=body,
        content_type=str(item.get("content_type") or ""),
        source_ip=str(item.get("source_ip") or ""),
        user_agent=str(item.get("user_agent") or ""),
        request_id=str(item["request_id"]),
        path_token=operator_token,
    )


@dataclass
class ReplayResult:
    item: Mapping[str, Any]
    outcome: str  # stored | duplicate | rejected | conflict | skipped
    status: int | None = None  # the ingest's answer when still rejected (400, 409)
    event_key: str | None = None
    cmd: str | None = None
    errors: list[ParameterError] = field(default_factory=list)
    note: str | None = None

    @property
    def reason(self) -> str:
        return "; ".join(f"{e.parameter}: {e.message}" for e in self.errors)[:MAX_REASON]

    def row(self) -> dict[str, Any]:
        detail = self.note or (self.event_key if self.outcome in REPLAYED_INTO_LOG else self.reason)
        return {
            "request_id": self.item.get("request_id"),
            "received_at": self.item.get("received_at"),
            "outcome": self.outcome,
            "cmd": self.cmd,
            "detail": detail,
        }


def _now() -> datetime:
    return datetime.now(UTC)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _received_at(item: Mapping[str, Any]) -> datetime:
    try:
        return datetime.fromisoformat(str(item["received_at"]))
    except (KeyError, ValueError):
        return _now()


class Replayer:
    """Runs kept requests through :class:`CallbackIngest` (validation, normalization, keys and
    the conditional write exactly as the endpoint does) and marks each quarantine item."""

    def __init__(self, admin: ReplayContext, *, dry_run: bool) -> None:
        self._admin = admin
        self._dry_run = dry_run
        # A fresh secret per run: the ingest's token check passes for this process only.
        self._token = secrets.token_urlsafe(24)
        self._store = ReplayStore(admin.dynamodb, admin.events_table, dry_run=dry_run)

    def replay(self, item: Mapping[str, Any]) -> ReplayResult:
        if item.get("trimmed"):
            # The store refused the full item, so the ingest kept it without query and body: an
            # empty request would be "still rejected" for a reason it never had, replacing the
            # real one. Left as it is.
            return ReplayResult(item, "skipped", note=TRIMMED_NOTE)
        received_at = _received_at(item)
        ingest = CallbackIngest(
            self._admin.settings,
            self._store,
            lambda: (self._token,),
            # The event keeps the time it first reached the hub, not the time of the replay.
            clock=lambda: received_at,
        )
        try:
            stored = ingest.handle(kept_request(item, self._token))
        except Quarantined as rejected:
            # Conflict: the event key is stored with other content
            status = QUARANTINED_STATUS[type(rejected)].value
            outcome = "conflict" if isinstance(rejected, Conflict) else "rejected"
            result = ReplayResult(
                item, outcome, status=status, cmd=rejected.cmd, errors=list(rejected.errors)
            )
        else:
            result = ReplayResult(item, stored.outcome, event_key=stored.event_key, cmd=stored.cmd)
        if not self._dry_run:
            self._mark(item, result)
        return result

    def _mark(self, item: Mapping[str, Any], result: ReplayResult) -> None:
        """Record the replay on the quarantine item itself (never a second item)."""
        fields: dict[str, Any] = {"replay_outcome": result.outcome, "replayed_at": _iso(_now())}
        if result.event_key:
            fields["replay_event_key"] = result.event_key
        if result.outcome in STILL_REJECTED:
            # The current reason is what `acd-report rejected` shows; the first one stays.
            fields |= {
                "reason": result.reason,
                "errors": [e.as_dict() for e in result.errors],
                "status": result.status or QUARANTINED_STATUS[Invalid].value,
            }
            if "first_reason" not in item:
                fields |= {"first_reason": item.get("reason", ""), "first_errors": item.get("errors") or []}
        if not self._admin.events.mark_replay((str(item["pk"]), str(item["sk"])), fields):
            result.note = "quarantine item gone (expired?); not marked"
