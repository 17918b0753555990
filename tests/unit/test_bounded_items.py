"""Every reports item stays bounded whatever the ACD sends (issue 15 row 10): free text (pause
reasons, names) and lists that grow with what an agent or a call goes through, on DynamoDB in
memory, which refuses items over 400 KB as DynamoDB does. Totals stay exact, and the live path
folds what it cannot keep the way the rebuild does, whatever order the events come in."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import date, datetime, time, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from acd_cli.reporting import ReportQueries
from acd_devkit.dynamodb_wire import item_size
from acd_hub import agent_stats
from acd_hub.agent_stats import OTHER_PAUSE_REASONS, PAUSE_REASON_CHARS, PAUSE_REASONS_KEPT
from acd_hub.call_stats import MAX_CALL_AGENTS
from acd_hub.rebuild import Rebuilder
from acd_hub.vocabulary import PAUSE_STATES
from tests.support import (
    DAYS,
    REPORT_ZONE,
    Harness,
    assert_same_reports,
    deliver,
    every_report,
    fresh_harness,
    local_text,
    rebuilt_reports,
)

DAY = date(2026, 11, 20)


def largest_reports_item(harness: Harness) -> int:
    table = harness.log.client.tables[harness.settings.reports_table]
    return max(item_size(item) for item in table.items.values())


def reason(number: int) -> str:
    """A different 1,000-character reason each time (the ACD accepts up to 1,024)."""
    return f"{number:04d} " + "x" * 995


def pauses_of_one_agent(count: int) -> list[dict[str, str]]:
    begin = datetime.combine(DAY, time(8), tzinfo=REPORT_ZONE)
    sent = []
    for number in range(count):
        at = begin + timedelta(seconds=60 * number)
        sent.append(
            {
                "cmd": "agentstate",
                "agentid": "100001",
                "mode": "0",
                "state": "paused",
                "eventtime": str(int(at.timestamp() * 1000)),
                "pause-reason": reason(number),
            }
        )
    end = begin + timedelta(seconds=60 * count)
    sent.append(
        {
            "cmd": "agentstate",
            "agentid": "100001",
            "mode": "0",
            "state": "offline",
            "eventtime": str(int(end.timestamp() * 1000)),
        }
    )
    return sent


def test_460_pauses_with_different_long_reasons_keep_the_agent_day_small_and_exact(
    memory_dynamodb: Any,
) -> None:
    """The issue's case: 460 pauses, each with another 1,000-character reason, passed 400 KB;
    AgentStats failed with a ValidationException and the paused time was short by a minute a
    pause. Now: no failure, a day item of a few KB, every paused minute counted."""
    harness = fresh_harness(memory_dynamodb, "Pauses")
    items = [harness.store_event(p) for p in pauses_of_one_agent(460)]
    random.Random(1).shuffle(items)
    for start in range(0, len(items), 10):
        assert harness.run(harness.agents(), items[start : start + 10]) == {"batchItemFailures": []}

    assert largest_reports_item(harness) < 8 * 1024
    queries = ReportQueries(memory_dynamodb, harness.settings.reports_table, harness.settings.cmd_day_shards)
    report = queries.agent_day("100001", DAY.isoformat(), with_timeline=False)
    assert report is not None
    assert report.state_seconds["paused"] == 460 * 60
    assert sum(report.pause_seconds.values()) == 460 * 60
    kept = sorted(reason(n)[:PAUSE_REASON_CHARS] for n in range(460))[:PAUSE_REASONS_KEPT]
    assert report.pause_seconds == {
        **dict.fromkeys(kept, 60),
        OTHER_PAUSE_REASONS: (460 - PAUSE_REASONS_KEPT) * 60,
    }

    # the rebuild of that day folds the same way, and fits as well
    rebuilt = fresh_harness(memory_dynamodb, "PausesRebuilt")
    for params in pauses_of_one_agent(460):
        rebuilt.store_event(params)
    Rebuilder(rebuilt.log, rebuilt.reports, rebuilt.settings).days([DAY.isoformat()], agents={"100001"})
    again = ReportQueries(memory_dynamodb, rebuilt.settings.reports_table, rebuilt.settings.cmd_day_shards)
    rebuilt_report = again.agent_day("100001", DAY.isoformat(), with_timeline=False)
    assert rebuilt_report is not None
    assert replace(rebuilt_report, updated_at=None) == replace(report, updated_at=None)


def test_a_call_that_reaches_thousands_of_agents_keeps_its_summary_small(memory_dynamodb: Any) -> None:
    harness = fresh_harness(memory_dynamodb, "Agents")
    begin = datetime.combine(DAY, time(9), tzinfo=REPORT_ZONE)
    common = {"cmd": "callevent", "taskid": "ca11", "mode": "0", "hotlineid": "501"}
    sent = [{**common, "id": "1", "eventtype": "CallStart", "eventtime": local_text(begin)}]
    for number in range(3000):
        at = local_text(begin + timedelta(seconds=1 + number))
        sent.append(
            {
                **common,
                "id": str(10 + number),
                "eventtype": "Alerting",
                "eventtime": at,
                "agentid": f"{200000 + number}",
            }
        )
    sent.append(
        {**common, "id": "9", "eventtype": "CallEnd", "eventtime": local_text(begin + timedelta(hours=1))}
    )
    items = [harness.store_event(p) for p in sent]
    assert harness.run(harness.calls(), items) == {"batchItemFailures": []}

    assert largest_reports_item(harness) < 4 * 1024
    call = ReportQueries(memory_dynamodb, harness.settings.reports_table, 8).call("ca11")
    assert call is not None
    assert call.agents == [f"{200000 + n}" for n in range(MAX_CALL_AGENTS)]
    assert call.more_agents == 3000 - MAX_CALL_AGENTS
    assert call.event_count is None  # not stored: a reader counts the call's events
    assert len(harness.log.call("ca11")) == 3002


REASONS = tuple(f"reason {n:02d} " + "y" * 150 for n in range(9))
AGENTS = ("100001", "100002")


def day_of_many_reasons(rng: random.Random, day: date) -> list[dict[str, str]]:
    """Agents pausing for more reasons than a day keeps (folding at work), across midnights
    (pauses carried into the next day), in and out of other states."""
    begin = datetime.combine(day - timedelta(days=1), time(21), tzinfo=REPORT_ZONE)
    span = 30 * 3600
    sent = []
    for agent in AGENTS:
        for _ in range(rng.randint(3, 25)):
            at = begin + timedelta(seconds=rng.randint(0, span))
            state = rng.choice(("paused", "paused", "paused", "online", "offline"))
            params = {
                "cmd": "agentstate",
                "agentid": agent,
                "mode": "0",
                "state": state,
                "eventtime": str(int(at.timestamp() * 1000)),
            }
            if state == "paused" and rng.random() < 0.9:
                params["pause-reason"] = rng.choice(REASONS)
            sent.append(params)
    return sent


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1), day=st.sampled_from(DAYS))
def test_folded_pause_reasons_are_the_same_live_and_rebuilt_in_any_order(
    memory_dynamodb: Any, monkeypatch: pytest.MonkeyPatch, seed: int, day: date
) -> None:
    monkeypatch.setattr(agent_stats, "PAUSE_REASONS_KEPT", 3)  # fold with a handful of events
    rng = random.Random(seed)
    sent = day_of_many_reasons(rng, day)

    live = fresh_harness(memory_dynamodb, "FoldLive")
    deliver(live, [live.store_event(p) for p in sent], rng)

    shown = every_report(live, sent, day)
    assert_same_reports(shown, rebuilt_reports(memory_dynamodb, "FoldRebuilt", sent, day))
    for name, report in shown.items():
        if name.startswith("agent ") and report is not None:
            assert len(report.pause_seconds) <= 3 + 2  # kept, one carried in, the rest
            paused = sum(v for k, v in report.state_seconds.items() if k in PAUSE_STATES)
            assert round(sum(report.pause_seconds.values()), 3) == round(paused, 3), name
