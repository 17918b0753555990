"""StatsFunction: the agent and the call statistics, one reader of the events table's stream.

DynamoDB Streams throttles a shard read by more than two processes at a time (README "Readers
per stream shard"): the fan-out is one, this function the other. It runs both aggregators on
each batch, side by side in two threads (``acd_hub.aggregation.aggregate_together``):

* **agent-stats** on the batch's agent states: agent state intervals, milliseconds per state
  and pause reason, calls handled and the live board. An agent's states of the batch are
  inserted into its chain one after another and written with one conditional transaction
  (split past DynamoDB's 100 items): constant work per event, whatever the size of the day.
* **call-stats** on every record (the call cmds, and agent states, which end a call's after-call
  work): one summary per call and hotline KPIs per 15 minutes and per day. Each call a batch
  touches is recomputed from its own events, and the difference of its KPI contribution added
  to the counters in the transaction that stores it.

The answer is the union of both failure lists. Lambda retries from the lowest failed sequence
number, so the other aggregator's records after it come again: both are idempotent (a state
already in its chain changes nothing, a call is recomputed under a version condition), so
applying them again is safe. Each notes its freshness under its own consumer name.

A record's way: its image is decoded here with the events table's codec
(``acd_hub/adapters/events_table.py``, which also reads a call's events), ``aggregate_together``
(``acd_hub/aggregation.py``, then ``agent_aggregator.py`` and ``call_aggregator.py``) reads,
computes (``acd_hub/agent_stats.py``,
``acd_hub/call_stats.py``) and writes the reports (``acd_hub/adapters/reports_table.py``), and
the records whose reports failed are answered for Lambda to retry."""

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from acd_hub.adapters.events_table import EventsTable
from acd_hub.adapters.reports_table import ReportsTable
from acd_hub.agent_aggregator import AgentStatsAggregator
from acd_hub.aggregation import aggregate_together
from acd_hub.aws import dynamodb_client
from acd_hub.call_aggregator import CallStatsAggregator
from acd_hub.events import stream_shard
from acd_hub.settings import HubSettings

settings = HubSettings()
logger = Logger()
client = dynamodb_client(settings.aws_endpoint_url)  # boto3 clients are thread-safe
events = EventsTable(client, settings.events_table)
reports = ReportsTable(client, settings.reports_table, settings.board_shards)
aggregators = (AgentStatsAggregator(reports, settings), CallStatsAggregator(events, reports, settings))


# Never log_event: a stream record's image holds the caller's full phone number. False, not
# left out: left out, Powertools' POWERTOOLS_LOGGER_LOG_EVENT=true logged it whole.
@logger.inject_lambda_context(clear_state=True, log_event=False)
def lambda_handler(event: dict[str, Any], _context: LambdaContext) -> dict[str, Any]:
    batch = aggregate_together(aggregators, events.stream_records(event), stream_shard(event))
    for message, fields in batch.warnings:
        logger.warning(message, extra=fields)
    return batch.answer()
