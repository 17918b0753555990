"""A validated event as it is stored: the event item and, for a ``callevent``, its key claim.

An event item carries its keys (see :mod:`acd_hub.keys`), a few flat attributes that streams
filter and readers sort on (``kind``, ``cmd``, ``event_time``, ``day``, ``agent``,
``task_id``), the normalized event under ``data`` and, under ``raw``, the parameters as sent
that ``data`` does not already show as sent (the token left out: :mod:`acd_hub.params` never
merges it); :func:`acd_hub.events.parameters_as_sent` gives them all back. A quarantined request is
:mod:`acd_hub.quarantine`'s.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from acd_hub import keys
from acd_hub.events import as_sent, shown_in
from acd_hub.models import AgentState, CallbackModel, CallEvent, ScheduleCallEvent
from acd_hub.settings import HubSettings

if TYPE_CHECKING:
    from acd_hub.unknown_parameters import UnknownParameter

SCHEMA_VERSION = 1  # a key claim's (and a quarantined request's)
# an event item's: 2 since ``raw`` holds only what ``data`` does not show as sent
EVENT_SCHEMA_VERSION = 2
# json.dumps(value, sort_keys=True), its encoder made once instead of per field
_DIGEST_JSON = json.JSONEncoder(sort_keys=True).encode


def event_key(event: CallbackModel, params: dict[str, str]) -> str:
    """Deterministic, so a redelivered event lands on the same key.

    ``callevent`` has the ACD's own unique id. Everything else: a hash of the canonical
    parameters (lower-cased names, sorted, values as sent, the token left out).
    """
    if isinstance(event, CallEvent):
        return f"ce-{event.id}"
    canonical = "\n".join(f"{name}={params[name]}" for name in sorted(params) if name != "token")
    return "h-" + hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def needs_claim(event: CallbackModel) -> bool:
    """Keys the ACD assigns (``callevent.id``) say nothing of the content, unlike hashes."""
    return isinstance(event, CallEvent)


def content_digests(data: dict[str, Any]) -> dict[str, str]:
    """A short digest per normalized field (unknown parameters one by one): equal maps mean
    the same content, and the names that differ say where a conflicting delivery differs."""
    fields = {name: value for name, value in data.items() if name != "extra"}
    fields.update({f"extra.{name}": value for name, value in (data.get("extra") or {}).items()})
    return {
        name: hashlib.sha256(_DIGEST_JSON(value).encode()).hexdigest()[:16] for name, value in fields.items()
    }


class EventItems(NamedTuple):
    event: dict[str, Any]
    claim: dict[str, Any] | None  # a callevent's key claim (see :mod:`acd_hub.keys`), written first


def event_items(
    event: CallbackModel,
    params: dict[str, str],
    settings: HubSettings,
    received_at: datetime,
    warnings: Sequence[UnknownParameter] = (),
) -> EventItems:
    """What the store writes for ``event``: its item (with ``warnings``, the parameters its cmd
    does not list, kept for ``acd-report warnings``) and its key claim if it needs one. First
    what they hold, then where they go (their keys)."""
    key = event_key(event, params)
    data = event_payload(event)
    digests = content_digests(data) if needs_claim(event) else None
    raw = sent_apart(data, {name: value for name, value in params.items() if name != "token"})

    moment = event.event_time
    ttl = keys.expiry(settings, moment)
    day = keys.day_of(moment, settings.report_zone)
    sort_key = keys.time_sk(moment, key)
    agent, task = event.agent_number, event.task_id
    item: dict[str, Any] = {
        "kind": "event",
        "cmd": event.cmd,
        "event_key": key,
        "event_time": keys.iso_utc(moment),
        "event_time_ms": int(moment.timestamp() * 1000),
        "day": day,
        "received_at": keys.iso_utc(received_at),
        "data": data,
        "raw": raw,
        "schema_version": EVENT_SCHEMA_VERSION,
        "gsi3pk": keys.cmd_day_pk(event.cmd, day, keys.shard_of(key, settings.cmd_day_shards)),
        "gsi3sk": sort_key,
    }
    if agent:
        item["agent"] = agent
    if task:
        item["task_id"] = task

    if isinstance(event, AgentState):
        assert agent is not None
        item["pk"], item["sk"] = keys.agent_day_pk(agent, day), sort_key
        if task:
            item["gsi2pk"], item["gsi2sk"] = keys.call_pk(task), sort_key
    elif task:
        item["pk"], item["sk"] = keys.call_pk(task), sort_key
    elif isinstance(event, ScheduleCallEvent):
        item["pk"], item["sk"] = keys.schedule_pk(event.scheduleid), sort_key
    else:
        item["pk"], item["sk"] = keys.event_pk(key), "EVENT"
    if agent and not isinstance(event, AgentState):
        item["gsi1pk"], item["gsi1sk"] = keys.agent_day_pk(agent, day), sort_key
    if ttl:
        item["ttl"] = ttl
    if warnings:
        item["warnings"] = [{"parameter": w.parameter, "closest": w.closest} for w in warnings]
    if digests is None:
        return EventItems(item, None)

    pk, sk = keys.claim_key(key)
    claim: dict[str, Any] = {
        "pk": pk,
        "sk": sk,
        "kind": "claim",
        "event_key": key,
        "event_pk": item["pk"],
        "event_sk": item["sk"],
        "digests": digests,
        "schema_version": SCHEMA_VERSION,
    }
    if ttl:
        claim["ttl"] = ttl
    return EventItems(item, claim)


def event_item(
    event: CallbackModel, params: dict[str, str], settings: HubSettings, received_at: datetime
) -> dict[str, Any]:
    """The event's item alone (see :func:`event_items`)."""
    return event_items(event, params, settings, received_at).event


def sent_apart(data: dict[str, Any], sent: dict[str, str]) -> dict[str, str]:
    """The parameters ``data`` does not show as sent. An item's size sets its bill: an agent
    state with a call kept every value twice, normalized and as sent, which took it (and each of
    its index copies, the item plus 100 bytes) over 1 KB, 2 write units instead of 1 each. Kept
    whole whenever the rest would not give back exactly what was sent."""
    shown = shown_in(data)
    apart = {name: value for name, value in sent.items() if shown.get(name) != value}
    return apart if as_sent(shown, apart) == sent else sent


def event_payload(event: CallbackModel) -> dict[str, Any]:
    """The normalized event as plain JSON types: ACD names, UTC ISO times, phone maps, and the
    parameters we do not know under ``extra``."""
    data = event.model_dump(mode="json", by_alias=True, exclude_none=True, exclude=set(event.extra))
    if event.extra:
        data["extra"] = event.extra
    if event.time_flags:
        data["time_flags"] = event.time_flags
    return data
