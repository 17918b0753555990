"""Fan-out of ``configchanged`` and ``broadcastevent`` to SNS, driven by the events table's
stream, so the ACD never waits on SNS and an SNS outage only delays delivery: the stream
record is retried until SNS takes it.

The message body is the normalized event as versioned JSON; message attributes let
subscribers filter (``cmd``, ``type``, ``groupid``, ``customerNumber``) and deduplicate
(``event_key``: SNS and stream retries are at-least-once).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from acd_hub.events import plain
from acd_hub.settings import HubSettings

if TYPE_CHECKING:
    from mypy_boto3_sns import SNSClient

MESSAGE_SCHEMA = "acd-callback-hub/event"
MESSAGE_VERSION = 1
FANOUT_CMDS = ("configchanged", "broadcastevent")


def fanout_message(item: dict[str, Any]) -> tuple[str, dict[str, dict[str, str]]]:
    """A stored event item -> (SNS message body, message attributes)."""
    item = plain(item)
    data = item.get("data", {})
    body = {
        "schema": MESSAGE_SCHEMA,
        "version": MESSAGE_VERSION,
        "cmd": item["cmd"],
        "event_key": item["event_key"],
        "event_time": item["event_time"],
        "received_at": item.get("received_at"),
        "event": data,
    }
    attributes = {
        "cmd": {"DataType": "String", "StringValue": item["cmd"]},
        "event_key": {"DataType": "String", "StringValue": item["event_key"]},
    }
    for name, source in (("type", "type"), ("groupid", "groupid"), ("action", "action")):
        value = data.get(source)
        if value not in (None, ""):
            attributes[name] = {"DataType": "String", "StringValue": str(value)[:256]}
    if data.get("customernumber") is not None:
        attributes["customerNumber"] = {"DataType": "Number", "StringValue": str(data["customernumber"])}
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")), attributes


class SnsFanout:
    def __init__(self, client: SNSClient, settings: HubSettings) -> None:
        self._client = client
        self._topics = {
            "configchanged": settings.config_topic_arn,
            "broadcastevent": settings.broadcast_topic_arn,
        }

    def publish(self, item: dict[str, Any]) -> str | None:
        """Publish one stored event; returns the SNS message id, or None if it is not fanned out.
        Raises on SNS errors so the stream record is retried."""
        if item.get("kind") != "event" or item.get("cmd") not in FANOUT_CMDS:
            return None
        topic = self._topics[item["cmd"]]
        if not topic:
            raise RuntimeError(f"no topic configured for {item['cmd']}")
        body, attributes = fanout_message(item)
        response = self._client.publish(TopicArn=topic, Message=body, MessageAttributes=attributes)  # type: ignore[arg-type]
        return response["MessageId"]
