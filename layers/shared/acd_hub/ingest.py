"""The callback use case: authenticate, decode, validate, normalize, store once.

Pure domain flow over two injected ports (the event store and the token source); no HTTP or
AWS types. Bad input is quarantined here, before it is reported, so nothing is lost.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from acd_hub import auth, params
from acd_hub.errors import BadCallback, ParameterError
from acd_hub.items import CallbackRequest, event_item, rejected_item
from acd_hub.models import ParseContext, parse_callback, utc_now
from acd_hub.settings import HubSettings
from acd_hub.storage import EventStore

BAD_REQUEST = 400
MAX_BODY_BYTES = 256 * 1024


@dataclass(frozen=True)
class Stored:
    cmd: str
    event_key: str
    event_time: str
    day: str
    duplicate: bool

    @property
    def outcome(self) -> Literal["stored", "duplicate"]:
        return "duplicate" if self.duplicate else "stored"


@dataclass
class Rejected(Exception):
    """Bad input, already quarantined under ``request_id``."""

    request_id: str
    cmd: str
    errors: list[ParameterError] = field(default_factory=list)


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
        # An ACD that appends "?cmd=..." to a URL that already has a query sends "a=1?cmd=...":
        # an unencoded "?" in the query string separates parameters like "&".
        query_pairs = params.split_urlencoded(request.raw_query.replace("?", "&"))
        try:
            body_pairs = self._body_pairs(request)
        except BadCallback as bad:
            # Still authenticate first: a stranger's garbage is not quarantined.
            auth.check_token(request.path_token or _token_in(query_pairs), self._tokens())
            raise self._quarantine(request, bad.errors, "", received_at) from None
        auth.check_token(
            request.path_token or _token_in(query_pairs) or _token_in(body_pairs), self._tokens()
        )

        merged: dict[str, str] = {}
        try:
            merged = params.merge_parameters([*query_pairs, *body_pairs])
            merged.pop("token", None)
            event = parse_callback(merged, self._context)
        except BadCallback as bad:
            raise self._quarantine(request, bad.errors, merged.get("cmd", ""), received_at) from None

        item = event_item(event, merged, self._settings, received_at)
        stored = self._store.put_event(item)
        return Stored(
            cmd=event.cmd,
            event_key=item["event_key"],
            event_time=item["event_time"],
            day=item["day"],
            duplicate=not stored,
        )

    def _body_pairs(self, request: CallbackRequest) -> list[tuple[str, str]]:
        if len(request.body) > MAX_BODY_BYTES:
            raise BadCallback([ParameterError("body", f"larger than {MAX_BODY_BYTES} bytes")])
        return params.body_pairs(request.body, request.content_type)

    def _quarantine(
        self, request: CallbackRequest, errors: list[ParameterError], cmd: str, received_at: datetime
    ) -> Rejected:
        self._store.put_rejected(rejected_item(request, errors, BAD_REQUEST, self._settings, received_at))
        known_cmd = cmd.strip().lower()[:40]
        return Rejected(request_id=request.request_id, cmd=known_cmd or "unknown", errors=errors)


def _token_in(pairs: list[tuple[str, str]]) -> str | None:
    for name, value in pairs:
        if name.strip().lower() == "token":
            return value
    return None
