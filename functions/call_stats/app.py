"""CallStatsFunction: one summary per call and hotline KPIs per 15 minutes and per day. Each call
a stream batch touches (including the call whose after-call work an agentstate closes) is
recomputed from its own events, and the difference of its KPI contribution added to the
counters in the transaction that stores it."""

from acd_hub.aggregation import CallStatsAggregator
from acd_hub.stream_batch import stream_handler

lambda_handler = stream_handler(CallStatsAggregator)
