"""Run an aggregator over one DynamoDB stream batch with partial-batch failure reporting.

Reports are recomputed once per batch, not once per record (a batch of a hundred events of one
hotline refreshes its KPIs once). Powertools' BatchProcessor then reports exactly the records
whose reports failed, so Lambda retries from the first of them (and bisects, per the mapping).
"""

from __future__ import annotations

import time
from collections.abc import Hashable
from datetime import datetime
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from acd_hub.aggregation import Aggregator
from acd_hub.events import plain


class RecordFailed(Exception):
    """A record whose reports could not be refreshed (retried by the event source mapping)."""


def _image(raw: dict[str, Any]) -> dict[str, Any] | None:
    record = DynamoDBRecord(raw)
    image = record.dynamodb.new_image if record.dynamodb else None
    return plain(image) if image else None


def _ms(iso: Any) -> int | None:
    if not iso:
        return None
    return int(datetime.fromisoformat(str(iso).replace("Z", "+00:00")).timestamp() * 1000)


def _note_freshness(event: dict[str, Any], aggregator: Aggregator, logger: Logger, *, failed: bool) -> None:
    """Record how far this consumer has got: the reports include every event received up to
    ``complete_to_ms`` (when the batch succeeded), and the batch's oldest record had waited
    ``behind_ms`` in the stream (Lambda's IteratorAge, as a reader can see it)."""
    received: list[int] = []
    latest_event = None
    for raw in event.get("Records", []):
        image = raw.get("dynamodb", {}).get("NewImage") or {}
        moment = _ms((image.get("received_at") or {}).get("S"))
        if moment is not None:
            received.append(moment)
        event_ms = (image.get("event_time_ms") or {}).get("N")
        if event_ms is not None:
            latest_event = max(latest_event or 0, int(event_ms))
    if not received:
        return
    now_ms = int(time.time() * 1000)
    figures = {
        "processed_at_ms": now_ms,
        "oldest_received_ms": min(received),
        "complete_to_ms": None if failed else max(received),
        "behind_ms": max(0, now_ms - min(received)),
        "latest_event_ms": latest_event,
        "records": len(event.get("Records", [])),
    }
    try:
        aggregator.note_batch(figures)
    except Exception as exc:  # freshness is advisory: never fail a batch over it
        logger.warning("freshness not recorded", extra={"error": type(exc).__name__})


def aggregate_batch(
    event: dict[str, Any], context: LambdaContext, aggregator: Aggregator, logger: Logger
) -> dict[str, Any]:
    touched: dict[str, set[Hashable]] = {}
    unplannable: dict[str, str] = {}
    events: dict[str, dict[str, Any]] = {}
    for raw in event.get("Records", []):
        sequence = raw.get("dynamodb", {}).get("SequenceNumber", "")
        try:
            image = _image(raw)
        except Exception as exc:
            unplannable[sequence] = type(exc).__name__
            continue
        if image and image.get("kind") == "event":
            events[sequence] = image
        else:
            touched[sequence] = set()
    try:
        aggregator.prepare(list(events.values()))
    except Exception as exc:  # a read ahead only saves reads: each record then reads its own
        logger.warning("batch read-ahead failed", extra={"error": type(exc).__name__})
    for sequence, image in events.items():
        try:
            touched[sequence] = aggregator.touched(image)
        except Exception as exc:
            unplannable[sequence] = type(exc).__name__
    failed = aggregator.refresh(set().union(*touched.values()) if touched else set())
    _note_freshness(event, aggregator, logger, failed=bool(failed or unplannable))
    if failed or unplannable:
        logger.warning(
            "reports not refreshed",
            extra={
                "failed_reports": len(failed),
                "errors": sorted({f"{type(e).__name__}: {str(e)[:200]}" for e in failed.values()}),
                "unplannable_records": sorted(unplannable.values()),
            },
        )

    def record_handler(record: DynamoDBRecord) -> None:
        sequence = record.dynamodb.sequence_number if record.dynamodb else ""
        if sequence in unplannable:
            raise RecordFailed(f"record {sequence}: {unplannable[sequence]}")
        if touched.get(sequence or "", set()) & failed.keys():
            raise RecordFailed(f"record {sequence}: its reports were not refreshed")

    processor = BatchProcessor(event_type=EventType.DynamoDBStreams, raise_on_entire_batch_failure=False)
    response = process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
    return dict(response)


def stream_handler(aggregator_type: type[Any]) -> Any:
    """The Lambda entry point of an aggregator: settings, clients and the aggregator are built
    once per container (at import of the function's module)."""
    from acd_hub.aws import dynamodb_client  # noqa: PLC0415
    from acd_hub.reports_store import EventLog, ReportsStore  # noqa: PLC0415
    from acd_hub.settings import HubSettings  # noqa: PLC0415

    settings = HubSettings()
    logger = Logger()
    aggregator = aggregator_type(
        EventLog(dynamodb_client(settings.aws_endpoint_url), settings.events_table),
        ReportsStore(dynamodb_client(settings.aws_endpoint_url), settings.reports_table),
        settings,
    )

    @logger.inject_lambda_context(clear_state=True)
    def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        return aggregate_batch(event, context, aggregator, logger)

    return lambda_handler
