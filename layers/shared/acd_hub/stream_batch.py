"""Run an aggregator over one DynamoDB stream batch with partial-batch failure reporting.

Reports are recomputed once per batch, not once per record (a batch of a hundred events of one
hotline refreshes its KPIs once). Powertools' BatchProcessor then reports exactly the records
whose reports failed, so Lambda retries from the first of them (and bisects, per the mapping).
"""

from __future__ import annotations

from collections.abc import Hashable
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


def aggregate_batch(
    event: dict[str, Any], context: LambdaContext, aggregator: Aggregator, logger: Logger
) -> dict[str, Any]:
    touched: dict[str, set[Hashable]] = {}
    unplannable: dict[str, str] = {}
    for raw in event.get("Records", []):
        sequence = raw.get("dynamodb", {}).get("SequenceNumber", "")
        try:
            image = _image(raw)
            touched[sequence] = aggregator.touched(image) if image and image.get("kind") == "event" else set()
        except Exception as exc:
            unplannable[sequence] = type(exc).__name__
    failed = aggregator.refresh(set().union(*touched.values()) if touched else set())
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
