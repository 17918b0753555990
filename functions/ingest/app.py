"""IngestFunction: the ACD's callback URL. Validates, normalizes and stores every notification
once; never waits on fan-out or aggregation (those follow from the table's stream)."""

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.utilities.typing import LambdaContext

from acd_hub.adapters.events_table import EventsTable
from acd_hub.auth import token_source
from acd_hub.aws import dynamodb_client
from acd_hub.http_api import build_resolver, without_body_for_head
from acd_hub.ingest import CallbackIngest
from acd_hub.settings import HubSettings

settings = HubSettings()
logger = Logger()
metrics = Metrics()
ingest = CallbackIngest(
    settings,
    EventsTable(dynamodb_client(settings.aws_endpoint_url), settings.events_table),
    token_source(settings),
)
app = build_resolver(ingest, logger, metrics)


# No log_event: the request carries the token and phone numbers.
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        return without_body_for_head(event, app.resolve(event, context))
    finally:
        if metrics.metric_set:
            metrics.flush_metrics()
        # Powertools keeps the metric set when metrics are disabled (local runs): start clean.
        metrics.clear_metrics()
