"""AgentStatsFunction: agent state intervals, milliseconds per state and pause reason, calls
handled and the live board. Each agentstate in a stream batch is inserted into its agent's chain
with one conditional transaction: constant work per event, whatever the size of the day.

A record's way: its image is decoded here with the events table's codec
(``acd_hub/adapters/events_table.py``), ``aggregate_batch`` (``acd_hub/aggregation.py``) reads,
computes (``acd_hub/agent_stats.py``) and writes its reports (``acd_hub/adapters/reports_table.py``),
and the records whose reports failed are answered for Lambda to retry."""

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from acd_hub.adapters.events_table import EventsTable
from acd_hub.adapters.reports_table import ReportsTable
from acd_hub.aggregation import AgentStatsAggregator, aggregate_batch
from acd_hub.aws import dynamodb_client
from acd_hub.settings import HubSettings

settings = HubSettings()
logger = Logger()
client = dynamodb_client(settings.aws_endpoint_url)
events = EventsTable(client, settings.events_table)
aggregator = AgentStatsAggregator(
    ReportsTable(client, settings.reports_table, settings.board_shards), settings
)


@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], _context: LambdaContext) -> dict[str, Any]:
    batch = aggregate_batch(aggregator, events.stream_records(event))
    for message, fields in batch.warnings:
        logger.warning(message, extra=fields)
    return batch.item_failures()
