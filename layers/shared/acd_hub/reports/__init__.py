"""The report catalogue: one module per stored report, each with its dataclass, its key, how
its fields are stored (declared on the fields, :mod:`acd_hub.reports.stored`) and the reads
``acd-report``, the day report and the wallboard make of it.

* :mod:`~acd_hub.reports.call`: a call's summary, stored once: in its hotline's listing once listed;
* :mod:`~acd_hub.reports.hotline_day`: a hotline day's KPI counters, shard counts
  and the day's listing of hotlines;
* :mod:`~acd_hub.reports.board`: the live board;
* :mod:`~acd_hub.reports.freshness_notes`: the stream consumers' notes of their progress, and
  :mod:`~acd_hub.reports.freshness`: what they say together (complete up to, catching up);
* :mod:`~acd_hub.reports.agent_day`: an agent's day as shown (its stored items, ``AgentDay``,
  ``TimelineEntry`` and ``TalkMarker``, are declared in :mod:`acd_hub.agent_stats` beside the
  statistics that compute them, and stored through the same codec).

What computes a report is apart (:mod:`acd_hub.call_stats`, :mod:`acd_hub.agent_stats`,
the aggregators); the reports table's adapter writes and reads the items.
"""
