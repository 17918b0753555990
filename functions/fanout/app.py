"""FanoutFunction: publishes configchanged/broadcastevent from the events table's stream to
SNS. A record SNS does not take is reported as a partial-batch failure and retried. After each
batch it notes how far it has got, as the aggregators do (``acd-report freshness``)."""

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from acd_hub.adapters.events_table import EventsTable
from acd_hub.adapters.reports_table import ReportsTable
from acd_hub.aggregation import batch_progress
from acd_hub.aws import dynamodb_client, sns_client
from acd_hub.events import stream_shard
from acd_hub.fanout import SnsFanout
from acd_hub.freshness import FreshnessNotes
from acd_hub.logs import log_metrics
from acd_hub.settings import HubSettings

settings = HubSettings()
logger = Logger()
metrics = Metrics()
processor = BatchProcessor(event_type=EventType.DynamoDBStreams)
fanout = SnsFanout(sns_client(settings.aws_endpoint_url), settings)
# the events table's codec (a record's image) and the reports table's FRESHNESS item only
dynamodb = dynamodb_client(settings.aws_endpoint_url)
events = EventsTable(dynamodb, settings.events_table)
reports = ReportsTable(dynamodb, settings.reports_table, settings.cmd_day_shards)
notes = FreshnessNotes()
CONSUMER = "fanout"


def publish_record(record: DynamoDBRecord) -> None:
    item = record.dynamodb.new_image if record.dynamodb else None
    if not item:
        return
    message_id = fanout.publish(item)
    if message_id:
        metrics.add_metric(name="FanoutPublished", unit=MetricUnit.Count, value=1)
        logger.info("fanned out", extra={"cmd": item.get("cmd"), "event_key": item.get("event_key")})


# Never log_event: a stream record's image holds the caller's full phone number. False, not
# left out: left out, Powertools' POWERTOOLS_LOGGER_LOG_EVENT=true logged it whole.
@logger.inject_lambda_context(clear_state=True, log_event=False)
@log_metrics(metrics)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    if not event.get("Records"):
        # nothing to publish (a window's closing call, a hand-made event): Powertools refuses an
        # empty batch with an exception, which Lambda would count as the function failing
        return {"batchItemFailures": []}
    response = process_partial_response(
        event=event, record_handler=publish_record, processor=processor, context=context
    )
    failed = {str(f["itemIdentifier"]) for f in response.get("batchItemFailures") or []}
    note_progress(event, failed)
    return response


def note_progress(event: dict[str, Any], failed: set[str]) -> None:
    try:
        progress = batch_progress(events.stream_records(event), failed, stream_shard(event))
        if progress is not None and notes.wanted(progress):
            reports.note_batch(CONSUMER, progress)
    except Exception as exc:  # freshness is advisory: never fail a batch over it
        logger.warning("freshness not recorded", extra={"error": type(exc).__name__})
