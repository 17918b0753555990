"""Stored items: a validated event, and a quarantined (rejected) request.

An event item carries its keys (see :mod:`acd_hub.keys`), a few flat attributes that streams
filter and readers sort on (``kind``, ``cmd``, ``event_time``, ``day``, ``agent``,
``task_id``), the normalized event under ``data`` and the parameters as sent under ``raw``.

Nothing kept holds a token: the token parameter (found by :func:`acd_hub.params.param_name`,
as authentication finds it) is left out of events and replaced by ``***`` in quarantined
requests — query, form, JSON and raw bytes alike — and so is any valid token wherever else
it appears. Quarantined text is made storable (a lone surrogate becomes its escape).
"""

from __future__ import annotations

import codecs
import hashlib
import json
import zlib
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from acd_hub import keys, params
from acd_hub.errors import ParameterError
from acd_hub.models import AgentState, CallbackModel, CallEvent, ScheduleCallEvent, event_payload
from acd_hub.settings import HubSettings

SCHEMA_VERSION = 1
MAX_STORED_TEXT = 64 * 1024


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
        name: hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:16]
        for name, value in fields.items()
    }


def claim_item(item: dict[str, Any]) -> dict[str, Any]:
    """The key claim of an event item (see :mod:`acd_hub.keys`)."""
    pk, sk = keys.claim_key(item["event_key"])
    claim: dict[str, Any] = {
        "pk": pk,
        "sk": sk,
        "kind": "claim",
        "event_key": item["event_key"],
        "event_pk": item["pk"],
        "event_sk": item["sk"],
        "digests": content_digests(item["data"]),
        "schema_version": SCHEMA_VERSION,
    }
    if "ttl" in item:
        claim["ttl"] = item["ttl"]
    return claim


def conflicting_fields(claim: dict[str, Any], stored_claim: dict[str, Any]) -> list[str]:
    """Field names whose content differs from the claim already stored (empty: the same)."""
    mine, theirs = claim.get("digests") or {}, stored_claim.get("digests") or {}
    return sorted(name for name in mine.keys() | theirs.keys() if mine.get(name) != theirs.get(name))


def _ttl(settings: HubSettings, moment: datetime) -> int | None:
    if not settings.retention_days:
        return None
    return int((moment + timedelta(days=settings.retention_days)).timestamp())


def event_item(
    event: CallbackModel, params: dict[str, str], settings: HubSettings, received_at: datetime
) -> dict[str, Any]:
    key = event_key(event, params)
    moment = event.event_time
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
        "data": event_payload(event),
        "raw": {name: value for name, value in params.items() if name != "token"},
        "schema_version": SCHEMA_VERSION,
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

    ttl = _ttl(settings, moment)
    if ttl:
        item["ttl"] = ttl
    return item


@dataclass(frozen=True)
class CallbackRequest:
    """One HTTP request as the ACD sent it, independent of how it reached us.

    The ``redacted_*`` views are what may be kept: the token parameter's value replaced by
    ``***``, and ``secrets`` (the valid tokens) replaced wherever else they appear."""

    method: str
    path: str
    raw_query: str
    body: bytes
    content_type: str
    source_ip: str
    user_agent: str
    request_id: str
    path_token: str | None = None

    def redacted_path(self) -> str:
        """``/callback/***``: whatever follows the route's first segment may be a token, in
        whatever encoding (API Gateway decodes the path parameter, the raw path is not)."""
        first, *rest = self.path.lstrip("/").split("/", 1)
        return params.storable("/" + first + ("/***" if rest else ""))

    def redacted_query(self, secrets: Collection[str] = ()) -> str:
        raw = self.raw_query.encode("utf-8", "surrogateescape")
        redacted = params.scrub(params.redact_urlencoded(raw, secrets, params.QUERY_SEPARATORS), secrets)
        return redacted.decode("utf-8", "backslashreplace")

    def redacted_body(self, secrets: Collection[str] = ()) -> tuple[str | None, str | None, str | None]:
        """(text, None, how) for text bodies, (None, base64, how) for bytes that are not UTF-8
        text: either way redacted first, as the form or JSON it was read as (both if it was
        neither). A compressed or UTF-16/32 body is kept decoded (``how`` says so), since the
        token cannot be found in its bytes; one still binary then is not kept: (None, None, why).
        """
        import base64  # noqa: PLC0415  (only quarantine needs it)

        body, how = readable_body(self.body)
        if body is None:
            return None, None, how
        kind = params.body_kind(body, self.content_type)
        if kind != "json":
            body = params.redact_urlencoded(body, secrets, params.BODY_SEPARATORS)
        if kind != "form":
            body = params.redact_json(body, secrets)
        body = params.scrub(body, secrets)[:MAX_STORED_TEXT]
        try:
            return body.decode("utf-8"), None, how
        except UnicodeDecodeError:
            return None, base64.b64encode(body).decode("ascii"), how


# gzip, and zlib at its usual levels (what an HTTP client's Content-Encoding would send).
_GZIP = b"\x1f\x8b"
_COMPRESSED = (_GZIP, b"\x78\x01", b"\x78\x5e", b"\x78\x9c", b"\x78\xda")
_UTF32_BOMS = (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


def readable_body(body: bytes) -> tuple[bytes | None, str | None]:
    """The body in an ASCII-compatible form, where a token is the bytes it is everywhere else,
    and how it was decoded (None: kept as sent). (None, why) when that cannot be had."""
    how = []
    for _ in range(3):  # a gzip inside a gzip, at most a few
        if not body.startswith(_COMPRESSED):
            break
        inflater = zlib.decompressobj(wbits=47)  # gzip or zlib header, whichever it has
        try:
            # bounded, so a zip bomb stays small
            inflated = inflater.decompress(body, 4 * MAX_STORED_TEXT)
        except zlib.error:
            break  # text that merely begins like zlib ("x^"): judged below as it is
        if not inflated and not inflater.eof:
            break
        body = inflated
        how.append("gzip")
    if body.startswith(_UTF32_BOMS):
        body = body.decode("utf-32", "replace").encode("utf-8")
        how.append("UTF-32")
    elif body.startswith(_UTF16_BOMS) or _looks_utf16(body):
        codec = "utf-16" if body.startswith(_UTF16_BOMS) else _utf16_order(body)
        body = body.decode(codec, "replace").encode("utf-8")
        how.append("UTF-16")
    if b"\x00" in body or body.startswith(_GZIP):
        return None, f"{len(body)} bytes of binary data: not kept (a token in them could not be redacted)"
    return body, ("decoded from " + ", then ".join(how) + " before it was kept") if how else None


def _looks_utf16(body: bytes) -> bool:
    # ASCII text in UTF-16 without a byte order mark: every other byte is NUL
    return (
        len(body) >= 4
        and len(body) % 2 == 0
        and (body[1::2].count(0) == len(body) // 2 or body[0::2].count(0) == len(body) // 2)
    )


def _utf16_order(body: bytes) -> str:
    return "utf-16-le" if body[1::2].count(0) == len(body) // 2 else "utf-16-be"


def rejected_item(
    request: CallbackRequest,
    errors: list[ParameterError],
    status: int,
    settings: HubSettings,
    received_at: datetime,
    *,
    secrets: Collection[str] = (),
) -> dict[str, Any]:
    """A quarantined request: what was sent (redacted) and why it was refused."""
    day = keys.day_of(received_at, settings.report_zone)
    body_text, body_base64, body_note = request.redacted_body(secrets)
    clean = [ParameterError(params.storable(e.parameter), params.storable(e.message)) for e in errors]
    item: dict[str, Any] = {
        "pk": keys.rejected_pk(day, keys.shard_of(request.request_id, settings.cmd_day_shards)),
        "sk": keys.time_sk(received_at, request.request_id),
        "kind": "rejected",
        "request_id": request.request_id,
        "received_at": keys.iso_utc(received_at),
        "day": day,
        "method": request.method,
        "path": request.redacted_path(),
        "query": request.redacted_query(secrets)[:MAX_STORED_TEXT],
        "content_type": params.storable(params.scrub_text(request.content_type[:256], secrets)),
        "source_ip": request.source_ip,
        "user_agent": params.storable(params.scrub_text(request.user_agent[:512], secrets)),
        "status": status,
        "reason": "; ".join(f"{e.parameter}: {e.message}" for e in clean)[:2048],
        "errors": [e.as_dict() for e in clean],
        "schema_version": SCHEMA_VERSION,
    }
    if body_text:
        item["body"] = body_text
    if body_base64:
        item["body_base64"] = body_base64
    if body_note:
        item["body_note"] = body_note
    ttl = _ttl(settings, received_at)
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


def trimmed_rejected_item(item: dict[str, Any], refused: str) -> dict[str, Any]:
    """The quarantined request without what was sent: only when the store refused the whole."""
    kept = {name: item[name] for name in _TRIMMED_KEEPS if name in item}
    kept["trimmed"] = f"the store refused the full item ({refused}): query and body not kept"
    return {**kept, "schema_version": SCHEMA_VERSION, **({"ttl": item["ttl"]} if "ttl" in item else {})}
