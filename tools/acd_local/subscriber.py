"""The local subscriber: prints what the SNS topics fan out, read from their SQS queues."""

from __future__ import annotations

import json
import logging
import threading
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient


SUBSCRIBER_LOG = logging.getLogger("acd_local.subscriber")


@dataclass(frozen=True)
class FanoutMessage:
    topic: str
    attributes: dict[str, str]
    body: Any


class LocalSubscriber(threading.Thread):
    """Shows what SNS fans out: reads each topic's subscriber queue and logs every message."""

    def __init__(
        self, sqs: SQSClient, queue_urls: Mapping[str, str], sink: deque[FanoutMessage], interval: float = 0.3
    ) -> None:
        super().__init__(name="local-subscriber", daemon=True)
        self._sqs = sqs
        self._queues = dict(queue_urls)
        self._sink = sink
        self._interval = interval
        self._stop_event = threading.Event()

    def stop(self) -> None:
        self._stop_event.set()

    def run(self) -> None:
        while not self._stop_event.is_set():
            for topic, url in self._queues.items():
                try:
                    self._drain(topic, url)
                except Exception as exc:  # a reset moto, a stopping server: keep going
                    SUBSCRIBER_LOG.debug("reading %s failed: %r", topic, exc)
            self._stop_event.wait(self._interval)

    def _drain(self, topic: str, url: str) -> None:
        messages = self._sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get(
            "Messages", []
        )
        for message in messages:
            note = describe_fanout(topic, message["Body"])
            self._sink.append(note)
            SUBSCRIBER_LOG.info("%s", format_fanout(note))
        if messages:
            self._sqs.delete_message_batch(
                QueueUrl=url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)],
            )


def describe_fanout(topic: str, sqs_body: str) -> FanoutMessage:
    """An SQS message from an SNS subscription (the SNS envelope) -> topic, attributes, body."""
    try:
        envelope = json.loads(sqs_body)
    except ValueError:
        return FanoutMessage(topic, {}, sqs_body)
    attributes = {
        name: str(value.get("Value")) for name, value in (envelope.get("MessageAttributes") or {}).items()
    }
    message = envelope.get("Message")
    try:
        body = json.loads(message) if isinstance(message, str) else message
    except ValueError:
        body = message
    return FanoutMessage(topic, attributes, body)


def format_fanout(note: FanoutMessage) -> str:
    attributes = dict(note.attributes)
    parts = [f"fan-out {note.topic}: cmd={attributes.pop('cmd', '?')}"]
    parts += [f"{name}={value}" for name, value in sorted(attributes.items())]
    if isinstance(note.body, Mapping):
        parts.append(f"| body cmd={note.body.get('cmd')} event_key={note.body.get('event_key')}")
    return " ".join(parts)
