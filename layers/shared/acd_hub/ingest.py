"""The callback use case: authenticate, decode, validate, normalize, store once.

Pure domain flow over two injected ports (the event store and the token source); no HTTP or
AWS types. Bad input is quarantined here, before it is reported, so nothing is lost: input the
models refuse (400), input the store refuses (400), and a second delivery of an event key with
other content (409). Unauthenticated requests are not kept.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Literal

from acd_hub import auth, params
from acd_hub.errors import BadCallback, EventConflict, ParameterError, StoreRefused, StoreUnavailable
from acd_hub.items import (
    CallbackRequest,
    claim_item,
    event_item,
    needs_claim,
    rejected_item,
    trimmed_rejected_item,
)
from acd_hub.keys import iso_utc
from acd_hub.models import CALLBACK_MODELS, CallbackModel, ParseContext, parse_callback, utc_now
from acd_hub.settings import HubSettings
from acd_hub.unknown_parameters import UnknownParameter, unknown_parameters

if TYPE_CHECKING:
    from acd_hub.ports import EventStore

BAD_REQUEST = 400
CONFLICT = 409
MAX_BODY_BYTES = 256 * 1024
BODY_METHODS = frozenset({"PUT", "POST"})


@dataclass(frozen=True)
class Stored:
    cmd: str
    event_key: str
    event_time: str
    day: str
    duplicate: bool
    # parameters the cmd does not list: stored (under data.extra) and named back
    warnings: tuple[UnknownParameter, ...] = ()

    @property
    def outcome(self) -> Literal["stored", "duplicate"]:
        return "duplicate" if self.duplicate else "stored"


@dataclass
class Rejected(Exception):
    """Bad input, already quarantined under ``request_id``; ``cmd`` is a known cmd or
    ``unknown``, and nothing in it holds a token."""

    request_id: str
    cmd: str
    errors: list[ParameterError] = field(default_factory=list)
    status: int = BAD_REQUEST


class CallbackIngest:
    def __init__(
        self,
        settings: HubSettings,
        store: EventStore,
        tokens: auth.TokenSource,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._settings = settings
        self._store = store
        self._tokens = tokens
        self._clock = clock
        self._context = ParseContext(settings.acd_zone, settings.default_phone_region)

    def handle(self, request: CallbackRequest) -> Stored:
        """Raises Forbidden/Unauthorized (nothing kept: unauthenticated input is not ours to
        store), Rejected (kept in quarantine) or StoreUnavailable (the ACD should retry)."""
        received_at = self._clock()
        auth.check_source(request.source_ip, self._settings)
        query_pairs = params.query_pairs(request.raw_query)
        try:
            body_pairs = self._body_pairs(request)
        except BadCallback as bad:
            # Still authenticate first: a stranger's garbage is not quarantined.
            presented = request.path_token or params.token_in(query_pairs)
            valid = self._tokens()
            auth.check_token(presented, valid)
            secrets = _secrets(valid)
            raise self._quarantine(request, bad.errors, "", received_at, secrets) from None
        presented = request.path_token or params.token_in(query_pairs) or params.token_in(body_pairs)
        valid = self._tokens()
        auth.check_token(presented, valid)
        secrets = _secrets(valid)

        merged: dict[str, str] = {}
        try:
            merged = params.without_secrets(params.merge_parameters([*query_pairs, *body_pairs]), secrets)
            event = parse_callback(merged, self._context)
            self._check_not_ahead(event, received_at)
        except BadCallback as bad:
            raise self._quarantine(request, bad.errors, merged.get("cmd", ""), received_at, secrets) from None

        item = event_item(event, merged, self._settings, received_at)
        warnings = unknown_parameters(event)
        if warnings:  # kept with the event, for `acd-report warnings`
            item["warnings"] = [{"parameter": w.parameter, "closest": w.closest} for w in warnings]
        try:
            stored = self._store.put_event(item, claim_item(item) if needs_claim(event) else None)
        except StoreRefused as refused:
            errors = [ParameterError("request", f"the event store refused the event ({refused})")]
            raise self._quarantine(request, errors, event.cmd, received_at, secrets) from None
        except EventConflict as conflict:
            errors = [
                ParameterError(name, f"event {conflict.event_key} is already stored with other content")
                for name in conflict.fields
            ]
            raise self._quarantine(
                request, errors, event.cmd, received_at, secrets, status=CONFLICT
            ) from None
        return Stored(
            cmd=event.cmd,
            event_key=item["event_key"],
            event_time=item["event_time"],
            day=item["day"],
            duplicate=not stored,
            warnings=tuple(warnings),
        )

    def _check_not_ahead(self, event: CallbackModel, received_at: datetime) -> None:
        """An event time far ahead of its arrival is a wrong clock or zone at the ACD; kept, it
        would be the agent's latest state until that time comes (a frozen board)."""
        bound = self._settings.max_future_seconds
        ahead = (event.event_time - received_at).total_seconds()
        if ahead > bound:
            name = "timestamp" if getattr(event, "eventtime", None) is None else "eventtime"
            raise BadCallback(
                [
                    ParameterError(
                        name,
                        f"{iso_utc(event.event_time)} is {ahead:.0f} s ahead of its arrival "
                        f"({iso_utc(received_at)}); at most {bound} s are accepted "
                        "(ACD_MAX_FUTURE_SECONDS): check the ACD's clock and time zone",
                    )
                ]
            )

    def _body_pairs(self, request: CallbackRequest) -> list[tuple[str, str]]:
        if request.method not in BODY_METHODS:
            return []  # as documented: a GET's (or HEAD's) body is not read
        if len(request.body) > MAX_BODY_BYTES:
            raise BadCallback([ParameterError("body", f"larger than {MAX_BODY_BYTES} bytes")])
        return params.body_pairs(request.body, request.content_type)

    def _quarantine(
        self,
        request: CallbackRequest,
        errors: list[ParameterError],
        cmd: str,
        received_at: datetime,
        secrets: Collection[str],
        *,
        status: int = BAD_REQUEST,
    ) -> Rejected:
        # An error may echo a name or a value: the answer, the log and the item get them clean.
        errors = [
            ParameterError(
                params.storable(params.scrub_text(e.parameter, secrets)),
                params.storable(params.scrub_text(e.message, secrets)),
            )
            for e in errors
        ]
        item = rejected_item(request, errors, status, self._settings, received_at, secrets=secrets)
        try:
            self._store.put_rejected(item)
        except StoreRefused as refused:
            # Keep at least who sent what when and why; a 4xx that kept nothing would lose it.
            try:
                self._store.put_rejected(trimmed_rejected_item(item, str(refused)))
            except StoreRefused as again:
                raise StoreUnavailable(f"quarantine refused: {again}") from again
        known_cmd = params.ascii_lower(cmd.strip())
        return Rejected(
            request_id=request.request_id,
            cmd=known_cmd if known_cmd in CALLBACK_MODELS else "unknown",
            errors=errors,
            status=status,
        )


def _secrets(valid: Collection[str]) -> frozenset[str]:
    """Values replaced wherever they appear: the valid tokens (the one presented is one of them).
    Any other value sent as a token is replaced by its name, not searched for everywhere: a
    "token=1" must not blank every "1" of the request."""
    return frozenset(token for token in valid if token)
