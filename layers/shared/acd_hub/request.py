"""One HTTP request as the ACD sent it, independent of how it reached us (API Gateway, the
local stack, a replay): the use case's input."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CallbackRequest:
    """What was sent, as sent: the body as its bytes, the query as its raw string. What of it may
    be kept is :mod:`acd_hub.redact`'s business."""

    method: str
    path: str
    raw_query: str
    body: bytes
    content_type: str
    source_ip: str
    user_agent: str
    request_id: str
    path_token: str | None = None
