"""AgentStatsFunction: agent state intervals, milliseconds per state and pause reason, calls
handled and the live board. Each agentstate in a stream batch is inserted into its agent's chain
with one conditional transaction: constant work per event, whatever the size of the day."""

from acd_hub.aggregation import AgentStatsAggregator
from acd_hub.stream_batch import stream_handler

lambda_handler = stream_handler(AgentStatsAggregator)
