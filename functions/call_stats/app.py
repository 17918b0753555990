"""CallStatsFunction: one summary per call and hotline KPIs per 15 minutes and per day. Each call
a stream batch touches (including the call whose after-call work an agentstate closes) is
recomputed from its own events, and the difference of its KPI contribution added to the
counters in the transaction that stores it.

A record's way: its image is decoded here with the events table's codec
(``acd_hub/adapters/events_table.py``, which also reads the call's events), ``aggregate_batch``
(``acd_hub/aggregation.py``) reads, computes (``acd_hub/call_stats.py``) and writes its reports
(``acd_hub/adapters/reports_table.py``), and the records whose reports failed are answered for
Lambda to retry."""

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from acd_hub.adapters.events_table import EventsTable
from acd_hub.adapters.reports_table import ReportsTable
from acd_hub.aggregation import CallStatsAggregator, aggregate_batch
from acd_hub.aws import dynamodb_client
from acd_hub.settings import HubSettings

settings = HubSettings()
logger = Logger()
client = dynamodb_client(settings.aws_endpoint_url)
events = EventsTable(client, settings.events_table)
aggregator = CallStatsAggregator(
    events, ReportsTable(client, settings.reports_table, settings.board_shards), settings
)


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], _context: LambdaContext) -> dict[str, Any]:
    batch = aggregate_batch(aggregator, events.stream_records(event))
    for message, fields in batch.warnings:
        logger.warning(message, extra=fields)
    return batch.item_failures()
