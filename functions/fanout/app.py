"""FanoutFunction: publishes configchanged/broadcastevent from the events table's stream to
SNS. A record SNS does not take is reported as a partial-batch failure and retried."""

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from acd_hub.aws import sns_client
from acd_hub.fanout import SnsFanout
from acd_hub.logs import log_metrics
from acd_hub.settings import HubSettings

settings = HubSettings()
logger = Logger()
metrics = Metrics()
processor = BatchProcessor(event_type=EventType.DynamoDBStreams)
fanout = SnsFanout(sns_client(settings.aws_endpoint_url), settings)


def publish_record(record: DynamoDBRecord) -> None:
    item = record.dynamodb.new_image if record.dynamodb else None
    if not item:
        return
    message_id = fanout.publish(item)
    if message_id:
        metrics.add_metric(name="FanoutPublished", unit=MetricUnit.Count, value=1)
        logger.info("fanned out", extra={"cmd": item.get("cmd"), "event_key": item.get("event_key")})


@logger.inject_lambda_context(clear_state=True)
@log_metrics(metrics)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(
        event=event, record_handler=publish_record, processor=processor, context=context
    )
