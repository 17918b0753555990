"""Stored items: a validated event, and a quarantined (rejected) request.

An event item carries its keys (see :mod:`acd_hub.keys`), a few flat attributes that streams
filter and readers sort on (``kind``, ``cmd``, ``event_time``, ``day``, ``agent``,
``task_id``), the normalized event under ``data`` and the parameters as sent under ``raw``.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from acd_hub import keys
from acd_hub.errors import ParameterError
from acd_hub.models import CallbackModel, event_payload
from acd_hub.settings import HubSettings

SCHEMA_VERSION = 1
MAX_STORED_TEXT = 64 * 1024

# token=... in a query string or form body, and "token": "..." in a JSON body
_TOKEN_PAIR = re.compile(r"(?i)(^|[&?])(token)=[^&]*")
_TOKEN_JSON = re.compile(r'(?i)("token"\s*:\s*)"(?:[^"\\]|\\.)*"')


def event_key(event: CallbackModel, params: dict[str, str]) -> str:
    """Deterministic, so a redelivered event lands on the same key.

    ``callevent`` has the ACD's own unique id. Everything else: a hash of the canonical
    parameters (lower-cased names, sorted, values as sent, the token left out).
    """
    if event.cmd == "callevent":
        return f"ce-{event.id}"  # type: ignore[attr-defined]
    canonical = "\n".join(f"{name}={params[name]}" for name in sorted(params) if name != "token")
    return "h-" + hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()[:32]


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

    if event.cmd == "agentstate":
        assert agent is not None
        item["pk"], item["sk"] = keys.agent_day_pk(agent, day), sort_key
        if task:
            item["gsi2pk"], item["gsi2sk"] = keys.call_pk(task), sort_key
    elif task:
        item["pk"], item["sk"] = keys.call_pk(task), sort_key
    elif event.cmd == "schedulecallevent":
        item["pk"], item["sk"] = keys.schedule_pk(event.scheduleid), sort_key  # type: ignore[attr-defined]
    else:
        item["pk"], item["sk"] = keys.event_pk(key), "EVENT"
    if agent and event.cmd != "agentstate":
        item["gsi1pk"], item["gsi1sk"] = keys.agent_day_pk(agent, day), sort_key

    ttl = _ttl(settings, moment)
    if ttl:
        item["ttl"] = ttl
    return item


@dataclass(frozen=True)
class CallbackRequest:
    """One HTTP request as the ACD sent it, independent of how it reached us."""

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
        if self.path_token:
            return self.path.replace(self.path_token, "***")
        return self.path

    def redacted_query(self) -> str:
        return _TOKEN_PAIR.sub(r"\1\2=***", self.raw_query)

    def redacted_body(self) -> tuple[str | None, str | None]:
        """(text, None) for text bodies, (None, base64) for bytes that are not text."""
        import base64  # noqa: PLC0415  (only quarantine needs it)

        body = self.body[:MAX_STORED_TEXT]
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return None, base64.b64encode(body).decode("ascii")
        text = _TOKEN_PAIR.sub(r"\1\2=***", text)
        return _TOKEN_JSON.sub(r'\1"***"', text), None


def rejected_item(
    request: CallbackRequest,
    errors: list[ParameterError],
    status: int,
    settings: HubSettings,
    received_at: datetime,
) -> dict[str, Any]:
    day = keys.day_of(received_at, settings.report_zone)
    body_text, body_base64 = request.redacted_body()
    item: dict[str, Any] = {
        "pk": keys.rejected_pk(day, keys.shard_of(request.request_id, settings.cmd_day_shards)),
        "sk": keys.time_sk(received_at, request.request_id),
        "kind": "rejected",
        "request_id": request.request_id,
        "received_at": keys.iso_utc(received_at),
        "day": day,
        "method": request.method,
        "path": request.redacted_path(),
        "query": request.redacted_query()[:MAX_STORED_TEXT],
        "content_type": request.content_type[:256],
        "source_ip": request.source_ip,
        "user_agent": request.user_agent[:512],
        "status": status,
        "reason": "; ".join(f"{e.parameter}: {e.message}" for e in errors)[:2048],
        "errors": [e.as_dict() for e in errors],
        "schema_version": SCHEMA_VERSION,
    }
    if body_text:
        item["body"] = body_text
    if body_base64:
        item["body_base64"] = body_base64
    ttl = _ttl(settings, received_at)
    if ttl:
        item["ttl"] = ttl
    return {k: v for k, v in item.items() if v != ""}
