"""AgentStatsFunction: agent state intervals, seconds per state and pause reason, calls handled
and the live board, recomputed from the events table for every agentstate in a stream batch."""

from acd_hub.aggregation import AgentStatsAggregator
from acd_hub.stream_batch import stream_handler

lambda_handler = stream_handler(AgentStatsAggregator)
