"""The callback use case, one straight line: the request's parameters (:mod:`acd_hub.params`),
one authentication step (:mod:`acd_hub.auth`), redaction (:mod:`acd_hub.redact`), the event's
model (:mod:`acd_hub.models`), its items (:mod:`acd_hub.items`), the store; each called once,
none calling back.

Pure domain flow over two injected ports (the event store and the token source); no HTTP or
AWS types. It returns :class:`Stored` or raises the errors of :mod:`acd_hub.errors`. Bad input
is quarantined (:mod:`acd_hub.quarantine`, at the place :func:`acd_hub.keys.rejected` gives it)
before it is reported, so nothing is lost: input the models refuse and input the store refuses
(:class:`~acd_hub.errors.Invalid`), and a second delivery of an event key with other content
(:class:`~acd_hub.errors.Conflict`). Unauthenticated requests are not kept
(:class:`~acd_hub.errors.Refused`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from acd_hub import auth, keys, params, redact
from acd_hub.errors import BadCallback, EventConflict, StoreRefused
from acd_hub.items import event_items
from acd_hub.models import ParseContext, parse_callback
from acd_hub.quarantine import Quarantine
from acd_hub.request import CallbackRequest
from acd_hub.settings import HubSettings
from acd_hub.times import Clock, utc_now
from acd_hub.unknown_parameters import UnknownParameter, unknown_parameters

if TYPE_CHECKING:
    from acd_hub.ports import EventStore


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


class CallbackIngest:
    def __init__(
        self,
        settings: HubSettings,
        store: EventStore,
        tokens: auth.TokenSource,
        clock: Clock = utc_now,
    ) -> None:
        self._settings = settings
        self._store = store
        self._tokens = tokens
        self._clock = clock
        self._context = ParseContext(
            settings.acd_zone, settings.default_phone_region, settings.max_future_seconds
        )
        self._quarantine = Quarantine(store)

    def handle(self, request: CallbackRequest) -> Stored:
        """Raises Refused (Forbidden/Unauthorized: nothing kept, unauthenticated input is not
        ours to store), Invalid or Conflict (kept in quarantine), StoreUnavailable or
        TokensUnavailable (the ACD should retry)."""
        received_at = self._clock()
        sent = params.read(request)
        secrets = auth.authenticate(request.source_ip, sent.token, self._settings, self._tokens)
        redacted = redact.redacted(request, sent, secrets)
        try:
            if redacted.errors:
                raise BadCallback(redacted.errors)
            event = parse_callback(redacted.parameters, self._context, received_at)
            warnings = unknown_parameters(event)
            item, claim = event_items(event, redacted.parameters, self._settings, received_at, warnings)
            stored = self._store.put_event(item, claim)
        except (BadCallback, StoreRefused, EventConflict) as problem:
            receipt = keys.rejected(request.request_id, received_at, self._settings)
            raise self._quarantine.keep(request, redacted, problem, receipt) from None
        return Stored(
            cmd=event.cmd,
            event_key=item["event_key"],
            event_time=item["event_time"],
            day=item["day"],
            duplicate=not stored,
            warnings=tuple(warnings),
        )
