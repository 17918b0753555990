"""CallStatsFunction: one summary per call and hotline KPIs per 15 minutes and per day,
recomputed from the events table for the calls a stream batch touches (including the call whose
after-call work an agentstate event closes)."""

from acd_hub.aggregation import CallStatsAggregator
from acd_hub.stream_batch import stream_handler

lambda_handler = stream_handler(CallStatsAggregator)
