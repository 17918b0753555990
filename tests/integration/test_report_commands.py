"""The reports table's read side against a moto server over real HTTP: ``ReportQueries`` and the
``acd-report`` subcommands kpis, agent-day, agent-timeline, call, calls and board.

The reports are real: events are stored by the ingest's own item builder and store, then
delivered to both aggregators as stream batches (``tests.support.Harness``), exactly as the
stack computes them. Every DynamoDB call of the read side is recorded: only ``Query`` and
``GetItem``, never ``Scan``, and every query is paged with a tiny ``Limit``.

moto keeps one state per process, shared by every moto server a test session starts, so this
module works on tables of its own names (``--events-table``/``--reports-table`` and a stack
whose outputs name them) and drops them when it is done.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from acd_cli import html_report, report_cli, report_context
from acd_cli.reporting import EventQueries, ReportQueries
from acd_devkit.template import dynamodb_tables, load_template
from acd_hub import kpis
from acd_hub.adapters.dynamodb import wire_key
from acd_hub.adapters.reports_table import day_hotline_key
from acd_hub.ports import BatchProgress
from acd_hub.settings import HubSettings
from tests.integration.conftest import CallLog, create_table_stack, moto_client, ok, one_line_error
from tests.support import RECEIVED, Harness, agent_state, call_event, ms

pytestmark = pytest.mark.integration

DAY = "2026-11-20"
SHARDS = 8
PAGE = 2  # every Query is paged this small
EVENTS_TABLE = "report-commands-EventsTable"
REPORTS_TABLE = "report-commands-ReportsTable"
STACK = "report-commands-stack"
SETTINGS = HubSettings(
    events_table=EVENTS_TABLE,
    reports_table=REPORTS_TABLE,
    acd_timezone="Europe/Berlin",
    report_timezone="Europe/Berlin",
    cmd_day_shards=SHARDS,
    service_level_seconds=20,
    retention_days=0,
)
NOW = datetime(2026, 11, 20, 10, 36, 0, tzinfo=UTC)  # "now" for the board's time in state

HOTLINE = "501"
ANSWERED, ABANDONED, LATE, TALKING = "a11ce0", "b0b0b0", "c0c0a0", "d0d0d0"
ANNA, BERND, CARLA = "200001", "200002", "200003"


def _at(clock: str) -> str:
    return f"{DAY} {clock}"


def scenario() -> list[dict[str, str]]:
    """Hotline 501 on 2026-11-20 (times in UTC; Berlin is UTC+1):

    * ``a11ce0`` 09:00:00, answered by Anna after 15 s, 30 s on hold, ended 09:04:15, 45 s
      after-call work, recorded and classified;
    * ``b0b0b0`` 09:20:00, abandoned after 40 s;
    * ``c0c0a0`` 10:02:00, answered by Bernd after 30 s (outside the 20 s service level),
      ended 10:05:30, 30 s after-call work;
    * ``d0d0d0`` 10:30:00, answered by Carla after 20 s, still talking.
    """
    service = {"hotlineid": HOTLINE, "hotline": "Service-Hotline"}
    return [
        # Anna
        agent_state(_at("08:59:00"), "online", agentid=ANNA),
        agent_state(_at("09:00:10"), "alerting", agentid=ANNA, taskid=ANSWERED, **service),
        agent_state(_at("09:00:15"), "connected", agentid=ANNA, taskid=ANSWERED, **service),
        agent_state(_at("09:04:15"), "working", agentid=ANNA, taskid=ANSWERED),
        agent_state(_at("09:05:00"), "paused", agentid=ANNA, **{"pause-reason": "Kaffee"}),
        agent_state(_at("09:10:00"), "online", agentid=ANNA),
        call_event(_at("09:00:00"), "CallStart", taskid=ANSWERED, mode="0", hotlineid=HOTLINE),
        call_event(_at("09:00:15"), "Connected", taskid=ANSWERED, agentid=ANNA, groupid="7"),
        call_event(_at("09:01:00"), "Holdstart", taskid=ANSWERED),
        call_event(_at("09:01:30"), "Holdstop", taskid=ANSWERED),
        call_event(_at("09:04:15"), "CallEnd", taskid=ANSWERED),
        {"cmd": "recordedcall", "taskid": ANSWERED, "agentid": ANNA, "eventtime": ms(_at("09:00:16"))},
        {
            "cmd": "classificationevent",
            "callid": ANSWERED,
            "classificationreason": "Vertragsfrage",
            "agent": ANNA,
            "eventtime": ms(_at("09:04:30")),
        },
        # nobody takes b0b0b0
        call_event(_at("09:20:00"), "CallStart", taskid=ABANDONED, mode="0", hotlineid=HOTLINE),
        call_event(_at("09:20:40"), "CallEnd", taskid=ABANDONED),
        # Bernd
        agent_state(_at("09:30:00"), "online", agentid=BERND),
        agent_state(_at("10:02:30"), "connected", agentid=BERND, taskid=LATE, **service),
        agent_state(_at("10:05:30"), "working", agentid=BERND, taskid=LATE),
        agent_state(_at("10:06:00"), "paused", agentid=BERND, **{"pause-reason": "Mittagspause"}),
        call_event(_at("10:02:00"), "CallStart", taskid=LATE, mode="0", hotlineid=HOTLINE),
        call_event(_at("10:02:30"), "Connected", taskid=LATE, agentid=BERND, groupid="7"),
        call_event(_at("10:05:30"), "CallEnd", taskid=LATE),
        # Carla
        agent_state(_at("10:00:00"), "online", agentid=CARLA),
        agent_state(_at("10:30:20"), "connected", agentid=CARLA, taskid=TALKING, **service),
        call_event(_at("10:30:00"), "CallStart", taskid=TALKING, mode="0", hotlineid=HOTLINE),
        call_event(_at("10:30:20"), "Connected", taskid=TALKING, agentid=CARLA, groupid="7"),
    ]


def _kpis(**figures: Any) -> dict[str, Any]:
    """A hotline's KPIs as the JSON gives them: the figures named, every other count 0 and
    every other ratio or time None (over nothing), for each KPI the definition table has."""
    return {kpi.name: 0 if kpi.unit == "count" else None for kpi in kpis.KPIS} | figures


EXPECTED_KPIS = {
    "hotline": HOTLINE,
    "day": _kpis(
        offered=4,
        answered=3,
        abandoned=1,
        answered_within_sl=2,
        service_level_pct=50.0,
        abandon_rate_pct=25.0,
        asa_s=21.67,
        max_wait_s=30,
        aht_s=247.5,
        avg_talk_s=195.0,
        avg_hold_s=15.0,
    ),
    "intervals": [
        {
            "start": "2026-11-20T10:00:00+01:00",
            **_kpis(
                offered=1,
                answered=1,
                answered_within_sl=1,
                service_level_pct=100.0,
                abandon_rate_pct=0.0,
                asa_s=15,
                max_wait_s=15,
                aht_s=285,
                avg_talk_s=210,
                avg_hold_s=30,
            ),
        },
        {
            "start": "2026-11-20T10:15:00+01:00",
            **_kpis(offered=1, abandoned=1, service_level_pct=0.0, abandon_rate_pct=100.0),
        },
        {
            "start": "2026-11-20T11:00:00+01:00",
            **_kpis(
                offered=1,
                answered=1,
                service_level_pct=0.0,
                abandon_rate_pct=0.0,
                asa_s=30,
                max_wait_s=30,
                aht_s=210,
                avg_talk_s=180,
                avg_hold_s=0,
            ),
        },
        {
            "start": "2026-11-20T11:30:00+01:00",
            **_kpis(
                offered=1,
                answered=1,
                answered_within_sl=1,
                service_level_pct=100.0,
                abandon_rate_pct=0.0,
                asa_s=20,
                max_wait_s=20,
            ),
        },
    ],
}


# --- the moto server and the reports on it -------------------------------------------------------


@pytest.fixture(scope="module")
def reports(moto_url: str) -> Iterator[Harness]:
    """The template's tables under this module's names, filled with the scenario's events and
    the reports both aggregators compute from them."""
    client = moto_client(moto_url)
    definitions = dynamodb_tables(load_template())
    for logical_id, name in (("EventsTable", EVENTS_TABLE), ("ReportsTable", REPORTS_TABLE)):
        client.create_table(**{**definitions[logical_id], "TableName": name})
    harness = Harness(client, SETTINGS)
    items = [harness.store_event(params) for params in scenario()]
    # two batches, the second one a retry holding the first again (nothing applied twice)
    for batch in (items[:10], items):
        assert harness.run(harness.agents(), batch) == {"batchItemFailures": []}
        assert harness.run(harness.calls(), batch) == {"batchItemFailures": []}

    create_table_stack(moto_url, STACK, EVENTS_TABLE, REPORTS_TABLE)
    try:
        yield harness
    finally:
        for name in (EVENTS_TABLE, REPORTS_TABLE):
            client.delete_table(TableName=name)
        moto_client(moto_url, "cloudformation").delete_stack(StackName=STACK)


@pytest.fixture
def queries(moto_url: str, reports: Harness, log: CallLog) -> ReportQueries:
    return ReportQueries(log.attach(moto_client(moto_url)), REPORTS_TABLE, SHARDS)


@pytest.fixture
def cli_log(monkeypatch: pytest.MonkeyPatch, cli_log: CallLog) -> CallLog:
    """The conftest's cli_log, with the CLI's clock fixed (the board's time in state)."""
    monkeypatch.setattr(report_context.ReportContext, "now", lambda _self: NOW)
    return cli_log


READS = {"Query", "GetItem"}
# What only the aggregators' conditional writes and the key design need: never shown.
BOOKKEEPING = frozenset({"pk", "sk", "version", "next_version", "kind", "kpi", "updated_at"})


# --- the query API ----------------------------------------------------------------------------------


def test_kpis_are_the_aggregators_figures_in_kpi_order(queries: ReportQueries, log: CallLog) -> None:
    found = queries.kpis(HOTLINE, DAY)
    assert found is not None
    document = found.as_dict()
    assert document == EXPECTED_KPIS
    assert (found.date, found.sl_seconds) == (DAY, 20)
    assert list(document["day"]) == list(EXPECTED_KPIS["day"])  # keys in KpiFigures order
    assert [list(i) for i in document["intervals"]] == [list(i) for i in EXPECTED_KPIS["intervals"]]
    assert queries.kpis(int(HOTLINE), datetime(2026, 11, 20).date()) == found
    assert queries.kpis(HOTLINE, "2026-11-19") is None
    assert queries.kpis("999", DAY) is None
    # the counter shards, then the longest waits: queries only
    assert log.reads() == {"Query"}


def test_agent_day_and_timeline(queries: ReportQueries, log: CallLog) -> None:
    day = queries.agent_day(ANNA, DAY)
    assert day is not None
    assert not BOOKKEEPING & day.as_dict().keys()
    assert day.state_seconds == {
        "alerting": 5,
        "connected": 240,
        "online": 70,
        "paused": 300,
        "working": 45,
    }
    assert list(day.state_seconds) == sorted(day.state_seconds)
    assert day.pause_seconds == {"Kaffee": 300}
    assert day.calls_handled == 1
    timeline = queries.agent_timeline(ANNA, DAY)
    assert timeline == day.timeline
    assert [(i.state, i.as_dict()["seconds"]) for i in timeline] == [
        ("online", 70),
        ("alerting", 5),
        ("connected", 240),
        ("working", 45),
        ("paused", 300),
        ("online", None),  # open: the next event is not known yet
    ]
    assert timeline[2].task_id == ANSWERED
    assert timeline[2].hotline == int(HOTLINE)
    assert timeline[4].pause_reason == "Kaffee"
    assert timeline[-1].end_ms is None
    assert queries.agent_day(ANNA, "2026-11-19") is None
    assert queries.agent_timeline(ANNA, "2026-11-19") == []
    assert log.reads() == {"GetItem", "Query"}


def test_call_summary(queries: ReportQueries, log: CallLog) -> None:
    summary = queries.call(ANSWERED.upper())
    assert summary is not None
    assert not BOOKKEEPING & summary.as_dict().keys()
    assert summary.task_id == ANSWERED
    assert (summary.outcome, summary.wait_s, summary.talk_s, summary.hold_s, summary.acw_s) == (
        "answered",
        15,
        210,
        30,
        45,
    )
    assert summary.agents == [ANNA]
    assert summary.recorded is True
    assert summary.classification == "Vertragsfrage"
    assert summary.interval == "2026-11-20T10:00:00+01:00"
    assert queries.call("ffff") is None
    assert log.reads() == {"GetItem"}


def test_calls_of_a_hotline_day_by_start(queries: ReportQueries, log: CallLog) -> None:
    listed = queries.calls(HOTLINE, DAY)
    assert [c.task_id for c in listed] == [ANSWERED, ABANDONED, LATE, TALKING]
    assert [c.outcome for c in listed] == ["answered", "abandoned", "answered", "answered"]
    # the listing is the summary but the count of the call's events (written when a listed field changes)
    summary = queries.call(ANSWERED)
    assert summary is not None
    assert listed[0].event_count is None
    assert listed[0] == dataclasses.replace(summary, event_count=None)
    assert queries.calls(HOTLINE, "2026-11-19") == []
    assert queries.calls("502", DAY) == []
    assert log.operations.count("Query") > len(listed) // PAGE  # paged
    assert log.reads() == READS


def test_board_reads_every_partition(queries: ReportQueries, log: CallLog) -> None:
    board = queries.board()
    assert [(e.agent, e.state) for e in board] == [
        (ANNA, "online"),
        (BERND, "paused"),
        (CARLA, "connected"),
    ]
    assert board[1].pause_reason == "Mittagspause"
    assert board[2].since == "2026-11-20T10:30:20.000Z"
    assert (board[2].task_id, board[2].hotline, board[2].hotline_name) == (
        TALKING,
        int(HOTLINE),
        "Service-Hotline",
    )
    assert log.operations.count("Query") >= SHARDS
    assert log.reads() == {"Query"}


def test_report_queries_reject_zero_shards(moto_url: str) -> None:
    with pytest.raises(ValueError, match="shards"):
        ReportQueries(moto_client(moto_url), REPORTS_TABLE, 0)


# --- the CLI ------------------------------------------------------------------------------------------


def run(url: str, *args: str) -> Result:
    return CliRunner().invoke(
        report_cli.cli,
        ["--endpoint-url", url, "--events-table", EVENTS_TABLE, "--reports-table", REPORTS_TABLE, *args],
        catch_exceptions=True,
    )


def lines_starting(text: str, *prefixes: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip().startswith(prefixes)]


def rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_cli_kpis_json_is_exactly_hotline_day_intervals(
    moto_url: str, reports: Harness, cli_log: CallLog
) -> None:
    text = ok(run(moto_url, "kpis", "--hotline", HOTLINE, "--day", DAY, "-f", "json"))
    document = json.loads(text)
    # the harness's events were all received on 2025-11-20: the reports are complete to then
    # only, a year before the day asked for, so a script must not take these figures as final
    freshness = document.pop("freshness")
    assert (freshness["complete_to"], freshness["final"]) == ("2025-11-20T12:00:00.000Z", False)
    # the harness's batches waited a year: catching up while their notes are recent
    assert freshness["state"] in {"catching up", "up to date"}
    assert document == EXPECTED_KPIS
    assert list(document) == ["hotline", "day", "intervals"]
    assert list(document["day"]) == list(EXPECTED_KPIS["day"])
    assert list(document["intervals"][0])[:2] == ["start", "offered"]
    # the group's --format works too; a hotline id with a leading zero is the same hotline
    again = json.loads(ok(run(moto_url, "-f", "json", "kpis", "--hotline", "0501", "--day", DAY)))
    assert again.pop("freshness")["final"] is False
    assert again == document
    assert cli_log.reads() == {"Query"}


def test_cli_kpis_table(moto_url: str, reports: Harness, cli_log: CallLog) -> None:
    text = ok(run(moto_url, "kpis", "--hotline", HOTLINE, "--day", DAY))
    assert "KPIs of hotline 501 on 2026-11-20" in text
    assert "(15-minute intervals from start, Europe/Berlin): calls" in text
    # two tables of at most 120 columns (the counts, then the times and ratios), joined here by row
    assert max(len(line) for line in text.splitlines()) <= 120
    found = lines_starting(text, "10:00", "10:15", "11:00", "11:30")
    assert len(found) == 8
    intervals = [" ".join([a, *b.split()[1:]]) for a, b in zip(found[:4], found[4:], strict=True)]
    assert [line.split()[0] for line in intervals] == ["10:00", "10:15", "11:00", "11:30"]
    first = intervals[0].split()
    # start, offered ... answered within SL, SL, abandon rate, ASA, max wait, AHT, avg talk, avg hold
    counts = ["10:00", "1", "1", "0", "0", "0", "0", "0", "1"]
    assert first == [*counts, "100.0", "%", "0.0", "%", "0:15", "0:15", "4:45", "3:30", "0:30"]
    abandoned = intervals[1].split()
    assert abandoned[-5:] == ["–"] * 5  # nothing answered: no averages
    assert abandoned[9:13] == ["0.0", "%", "100.0", "%"]
    assert intervals[3].split()[-3:] == ["–"] * 3  # answered, still talking: no handle time yet
    counts_day, times_day = lines_starting(text, "Day")
    counts = ["Day", "4", "3", "1", "0", "0", "0", "0", "2"]
    day = [*counts_day.split(), *times_day.split()[1:]]
    assert day == [*counts, "50.0", "%", "25.0", "%", "0:22", "0:30", "4:08", "3:15", "0:15"]
    assert "4 rows" in text
    assert "Service level: answered within 20 s." in text
    assert cli_log.reads() == {"Query"}


def test_cli_kpis_csv(moto_url: str, reports: Harness, cli_log: CallLog) -> None:
    text = ok(run(moto_url, "kpis", "--hotline", HOTLINE, "--day", DAY, "--format", "csv"))
    header = text.splitlines()[0].split(",")
    # the day's freshness last, on every row: a script cannot take a partial day for a final one
    assert header == [
        "start",
        *EXPECTED_KPIS["day"],
        "freshness.complete_to",
        "freshness.state",
        "freshness.final",
    ]
    listed = rows(text)
    fresh = json.loads(ok(run(moto_url, "kpis", "--hotline", HOTLINE, "--day", DAY, "-f", "json")))[
        "freshness"
    ]
    assert fresh["final"] is False
    assert {(r["freshness.complete_to"], r["freshness.state"], r["freshness.final"]) for r in listed} == {
        (fresh["complete_to"] or "", fresh["state"], "false")
    }
    assert [r["start"] for r in listed] == [
        "2026-11-20T10:00:00+01:00",
        "2026-11-20T10:15:00+01:00",
        "2026-11-20T11:00:00+01:00",
        "2026-11-20T11:30:00+01:00",
        "day",
    ]
    assert listed[-1]["offered"] == "4"
    assert listed[-1]["asa_s"] == "21.67"
    assert listed[1]["asa_s"] == ""  # null
    assert listed[1]["service_level_pct"] == "0"  # DynamoDB numbers: 0.0 comes back as 0
    assert cli_log.reads() == {"Query"}


def test_cli_range_csv_is_the_json_as_rows(moto_url: str, reports: Harness) -> None:
    """``range --format csv``: a row per hotline and period with every KPI of the JSON (it used to
    print the table); a period without counters has its KPIs empty, as JSON's null."""
    args = ("range", "--from", DAY, "--to", DAY, "--hotline", HOTLINE)
    document = json.loads(ok(run(moto_url, *args, "-f", "json")))
    text = ok(run(moto_url, *args, "-f", "csv"))
    assert text.splitlines()[0].split(",") == ["hotline", "period", "from", "to", *kpis.NAMES]
    listed = rows(text)
    assert [(r["hotline"], r["period"], r["from"], r["to"]) for r in listed] == [
        (HOTLINE, "range", DAY, DAY),
        (HOTLINE, "previous", "2026-11-19", "2026-11-19"),
    ]
    figures = document[0]["figures"]
    assert figures == EXPECTED_KPIS["day"]
    assert listed[0] == {
        "hotline": HOTLINE,
        "period": "range",
        "from": DAY,
        "to": DAY,
        **{name: "" if value is None else str(value) for name, value in figures.items()},
    }
    assert document[0]["previous"]["figures"] is None
    assert {listed[1][name] for name in kpis.NAMES} == {""}


def test_cli_agent_day_all_formats(moto_url: str, reports: Harness, cli_log: CallLog) -> None:
    document = json.loads(ok(run(moto_url, "agent-day", "--agent", ANNA, "--day", DAY, "-f", "json")))
    assert document.pop("freshness")["final"] is False
    assert document == {
        "agent": ANNA,
        "day": DAY,
        "state_seconds": {"alerting": 5, "connected": 240, "online": 70, "paused": 300, "working": 45},
        "pause_seconds": {"Kaffee": 300},
        "calls_handled": 1,
    }
    table = ok(run(moto_url, "agent-day", "--agent", ANNA, "--day", DAY))
    assert f"Agent {ANNA} on {DAY}: time per state" in table
    # the table speaks plain words (acd_cli.labels); JSON and CSV keep the vendor's names
    assert [line.split() for line in lines_starting(table, "on a call", "available", "paused", "total")] == [
        ["on", "a", "call", "4:00"],
        ["available", "1:10"],
        ["paused", "5:00"],
        ["total", "11:00"],
    ]
    assert lines_starting(table, "after-call work")[0].split() == ["after-call", "work", "0:45"]
    assert lines_starting(table, "Kaffee")[0].split() == ["Kaffee", "5:00"]
    assert "Calls handled: 1" in table
    text = ok(run(moto_url, "agent-day", "--agent", ANNA, "--day", DAY, "-f", "csv"))
    assert text.splitlines()[0].split(",")[-3:] == [
        "freshness.complete_to",
        "freshness.state",
        "freshness.final",
    ]
    (row,) = rows(text)
    assert row["freshness.final"] == "false"
    assert row["agent"] == ANNA
    assert row["state_seconds.connected"] == "240"
    assert row["pause_seconds.Kaffee"] == "300"
    assert row["calls_handled"] == "1"
    assert cli_log.reads() == {"GetItem", "Query"}


def test_cli_agent_timeline_all_formats(moto_url: str, reports: Harness, cli_log: CallLog) -> None:
    listed = json.loads(ok(run(moto_url, "agent-timeline", "--agent", ANNA, "--day", DAY, "-f", "json")))
    assert [i["state"] for i in listed] == ["online", "alerting", "connected", "working", "paused", "online"]
    assert listed[-1]["end"] is None
    assert listed[0]["start"] == "2026-11-20T08:59:00.000Z"
    table = ok(run(moto_url, "agent-timeline", "--agent", ANNA, "--day", DAY))
    assert f"Timeline of agent {ANNA} on {DAY}" in table
    intervals = lines_starting(table, "09:", "10:")
    assert len(intervals) == 6
    assert intervals[0].split() == ["09:59:00", "10:00:10", "available", "1:10", "-", "-", "-"]
    assert intervals[2].split() == ["10:00:15", "10:04:15", "on", "a", "call", "4:00", "-", ANSWERED, HOTLINE]
    assert intervals[3].split()[:4] == ["10:04:15", "10:05:00", "after-call", "work"]
    assert intervals[4].split()[:5] == ["10:05:00", "10:10:00", "paused", "5:00", "Kaffee"]
    assert intervals[5].split() == ["10:10:00", "open", "available", "open", "-", "-", "-"]
    assert "6 rows" in table
    text = ok(run(moto_url, "agent-timeline", "--agent", ANNA, "--day", DAY, "-f", "csv"))
    assert text.splitlines()[0].startswith("start,end,state,seconds,pause_reason,task_id,hotline")
    listed_csv = rows(text)
    assert len(listed_csv) == 6
    assert (listed_csv[-1]["end"], listed_csv[-1]["seconds"]) == ("", "")
    assert cli_log.reads() == {"GetItem", "Query"}


def test_cli_call_all_formats(moto_url: str, reports: Harness, cli_log: CallLog) -> None:
    document = json.loads(ok(run(moto_url, "call", "--call", ANSWERED.upper(), "-f", "json")))
    assert list(document) == ["summary", "events"]
    assert document["summary"]["task_id"] == ANSWERED
    assert document["summary"]["talk_s"] == 210
    assert not BOOKKEEPING & document["summary"].keys()
    events = document["events"]
    assert [e["cmd"] for e in events].count("agentstate") == 3  # through the ByCall index
    assert len(events) == 10
    assert [e["event_time"] for e in events] == sorted(e["event_time"] for e in events)
    # the call's own events, counted as read (not stored with the summary): not its agents' states
    assert document["summary"]["event_count"] == 7
    assert list(document["summary"]).index("event_count") == list(document["summary"]).index("started_ms") + 1

    table = ok(run(moto_url, "call", "--call", ANSWERED))
    assert f"Call {ANSWERED}" in table
    summary = {line.split()[0]: line.split()[1:] for line in table.splitlines() if line.strip()}
    assert summary["outcome"] == ["answered"]
    assert summary["wait"] == ["0:15"]
    assert summary["talk"] == ["3:30"]
    assert summary["hold"] == ["0:30"]
    assert summary["after-call"] == ["work", "0:45"]
    assert summary["agents"] == [ANNA]
    assert summary["recorded"] == ["yes"]
    assert summary["classification"] == ["Vertragsfrage"]
    assert summary["started"] == ["(Europe/Berlin)", "2026-11-20", "10:00:00"]
    assert summary["call"] == ["events", "7"]
    assert f"Events of call {ANSWERED}" in table
    assert len(lines_starting(table, "2026-11-20 ")) == 10
    assert "10 rows" in table

    (row,) = rows(ok(run(moto_url, "call", "--call", ANSWERED, "-f", "csv")))
    assert (row["task_id"], row["outcome"], row["talk_s"], row["recorded"]) == (
        ANSWERED,
        "answered",
        "210",
        "true",
    )
    assert row["agents"] == json.dumps([ANNA])
    assert row["event_count"] == "7"
    assert cli_log.reads() == READS


def test_cli_calls_all_formats(moto_url: str, reports: Harness, cli_log: CallLog) -> None:
    listed = json.loads(ok(run(moto_url, "calls", "--hotline", HOTLINE, "--day", DAY, "-f", "json")))
    assert [c["task_id"] for c in listed] == [ANSWERED, ABANDONED, LATE, TALKING]
    assert all(not BOOKKEEPING & c.keys() for c in listed)
    table = ok(run(moto_url, "calls", "--hotline", HOTLINE, "--day", DAY))
    assert f"Calls of hotline {HOTLINE} on {DAY}" in table
    lines = lines_starting(table, "10:", "11:")
    assert [line.split() for line in lines] == [
        ["10:00:00", ANSWERED, "answered", "0:15", "3:30", "0:30", "0:45", ANNA, "yes", "Vertragsfrage"],
        ["10:20:00", ABANDONED, "abandoned", "-", "-", "-", "-", "-", "no", "-"],
        ["11:02:00", LATE, "answered", "0:30", "3:00", "0:00", "0:30", BERND, "no", "-"],
        ["11:30:00", TALKING, "answered", "0:20", "-", "-", "-", CARLA, "no", "-"],
    ]
    assert "4 rows" in table
    text = ok(run(moto_url, "calls", "--hotline", HOTLINE, "--day", DAY, "-f", "csv"))
    assert text.splitlines()[0].startswith("task_id,direction,hotline,group,agents,started,")
    assert [r["task_id"] for r in rows(text)] == [ANSWERED, ABANDONED, LATE, TALKING]
    assert rows(text)[1]["wait_s"] == ""
    assert cli_log.reads() == {"Query"}


def test_cli_board_all_formats(moto_url: str, reports: Harness, cli_log: CallLog) -> None:
    listed = json.loads(ok(run(moto_url, "board", "-f", "json")))
    assert [e["agent"] for e in listed] == [ANNA, BERND, CARLA]
    assert all(not BOOKKEEPING & e.keys() for e in listed)
    table = ok(run(moto_url, "board"))
    assert "Live board" in table
    assert [line.split() for line in lines_starting(table, ANNA, BERND, CARLA)] == [
        [ANNA, "available", "2026-11-20", "10:10:00", "1:26:00", "-", "-"],
        [BERND, "paused:", "Mittagspause", "2026-11-20", "11:06:00", "30:00", "-", "-"],
        [CARLA, "on", "a", "call", "2026-11-20", "11:30:20", "5:40", "Service-Hotline", TALKING],
    ]
    assert "3 rows" in table
    text = ok(run(moto_url, "board", "-f", "csv"))
    assert text.splitlines()[0].startswith("agent,state,since,pause_reason,hotline,hotline_name,task_id")
    assert [(r["agent"], r["state"], r["pause_reason"]) for r in rows(text)] == [
        (ANNA, "online", ""),
        (BERND, "paused", "Mittagspause"),
        (CARLA, "connected", ""),
    ]
    assert cli_log.reads() == {"Query"}


def test_cli_reads_the_reports_table_from_the_stack(moto_url: str, reports: Harness) -> None:
    args = ["--endpoint-url", moto_url, "--stack-name", STACK, "kpis", "--hotline", HOTLINE, "--day", DAY]
    result = CliRunner().invoke(report_cli.cli, [*args, "-f", "json"])
    document = json.loads(ok(result))
    assert document.pop("freshness")["complete_to"] == "2025-11-20T12:00:00.000Z"
    assert document == EXPECTED_KPIS


EMPTY: list[tuple[list[str], str, object]] = [
    (["call", "--call", "ffff"], "Nothing stored for call ffff yet.", None),
]


@pytest.mark.parametrize(("args", "message", "json_value"), EMPTY)
def test_cli_nothing_there_is_a_message_and_exit_0(
    moto_url: str, reports: Harness, cli_log: CallLog, args: list[str], message: str, json_value: object
) -> None:
    assert ok(run(moto_url, *args)).strip() == message
    as_json = run(moto_url, *args, "-f", "json")
    assert json.loads(ok(as_json)) == json_value  # stdout stays parseable
    assert as_json.stderr.strip() == message
    as_csv = run(moto_url, *args, "-f", "csv")
    assert ok(as_csv) == ""
    assert as_csv.stderr.strip() == message
    assert cli_log.reads() <= READS


def test_cli_empty_board(moto_url: str, reports: Harness) -> None:
    client = moto_client(moto_url)
    client.create_table(
        **{**dynamodb_tables(load_template())["ReportsTable"], "TableName": "report-commands-empty"}
    )
    try:
        result = CliRunner().invoke(
            report_cli.cli, ["--endpoint-url", moto_url, "--reports-table", "report-commands-empty", "board"]
        )
        assert ok(result).strip() == "The board is empty: no agent has reported a state yet."
    finally:
        client.delete_table(TableName="report-commands-empty")


def test_cli_call_without_summary_yet_lists_its_events(
    moto_url: str, reports: Harness, cli_log: CallLog
) -> None:
    """Stored, not yet aggregated: the events are there, the summary is not."""
    reports.store_event(
        call_event(_at("12:00:00"), "CallStart", taskid="e0e0e0", mode="0", hotlineid=HOTLINE)
    )
    table = ok(run(moto_url, "call", "--call", "e0e0e0"))
    assert "No summary for call e0e0e0 yet" in table
    assert len(lines_starting(table, "2026-11-20 13:00:00")) == 1
    document = json.loads(ok(run(moto_url, "call", "--call", "e0e0e0", "-f", "json")))
    assert document["summary"] is None
    assert len(document["events"]) == 1
    as_csv = run(moto_url, "call", "--call", "e0e0e0", "-f", "csv")
    assert ok(as_csv) == ""
    assert "No summary for call e0e0e0 yet" in as_csv.stderr
    assert cli_log.reads() == READS


@pytest.mark.parametrize(
    "args",
    [
        ["kpis", "--hotline", HOTLINE, "--day", "20.11.2026"],
        ["agent-day", "--agent", ANNA, "--day", "2026-11-31"],
        ["agent-timeline", "--agent", ANNA, "--day", "yesterday"],
        ["calls", "--hotline", HOTLINE, "--day", "2026-1-20"],
    ],
)
def test_cli_bad_day_is_a_one_line_error(moto_url: str, args: list[str]) -> None:
    assert one_line_error(run(moto_url, *args)).startswith(f"Error: --day: {args[-1]!r} is not a day")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["call", "--call", "not-a-task"], "Error: --call: 'not-a-task' is not a task id"),
        (["kpis", "--hotline", " ", "--day", DAY], "Error: --hotline: must not be blank"),
        (["agent-day", "--agent", "", "--day", DAY], "Error: --agent: must not be blank"),
    ],
)
def test_cli_bad_values_are_one_line_errors(moto_url: str, args: list[str], message: str) -> None:
    assert one_line_error(run(moto_url, *args)).startswith(message)


@pytest.mark.parametrize("args", [["kpis", "--day", DAY], ["agent-day"], ["call"], ["calls", "--day", DAY]])
def test_cli_required_options(moto_url: str, args: list[str]) -> None:
    result = run(moto_url, *args)
    assert result.exit_code == 2
    assert "Missing option" in result.stderr


def test_cli_missing_reports_table_is_a_one_line_error(moto_url: str, reports: Harness) -> None:
    result = CliRunner().invoke(
        report_cli.cli, ["--endpoint-url", moto_url, "--reports-table", "NoSuchReports", "board"]
    )
    line = one_line_error(result)
    assert "table not found" in line
    assert "'NoSuchReports'" in line


def test_cli_freshness_says_how_far_the_reports_go(moto_url: str, reports: Harness) -> None:
    fresh = json.loads(ok(run(moto_url, "freshness", "-f", "json")))
    assert [c["consumer"] for c in fresh["consumers"]] == ["agent-stats", "call-stats"]
    # every event the harness stored was received at RECEIVED: the reports hold all of them
    assert fresh["complete_to"] == "2025-11-20T12:00:00.000Z"
    # a shard of call-stats now notes a batch whose records waited an hour: it is catching up,
    # and the table output of every report says so
    now_ms = int(time.time() * 1000)
    received_ms = int(RECEIVED.timestamp() * 1000)
    for consumer in ("agent-stats", "call-stats"):  # the harness's own batches, noted quiet just now
        reports.reports.note_batch(consumer, BatchProgress(now_ms, received_ms, received_ms, 500, None, 1))
    reports.reports.note_batch(
        "call-stats",
        BatchProgress(
            now_ms, now_ms - 3_600_000, now_ms - 3_500_000, 3_600_000, None, 100, shard="shardId-2"
        ),
    )
    fresh = json.loads(ok(run(moto_url, "freshness", "-f", "json")))
    assert fresh["behind_s"] == 3600.0
    assert fresh["catching_up"] is True
    call_stats = next(c for c in fresh["consumers"] if c["consumer"] == "call-stats")
    assert (call_stats["state"], call_stats["shards"], call_stats["catching_up_shards"]) == (
        "catching up",
        2,
        1,
    )
    table = ok(run(moto_url, "kpis", "--hotline", HOTLINE, "--day", DAY))
    assert "Catching up (3600 s behind): complete up to 2025-11-20 13:00:00 only." in table
    listing = ok(run(moto_url, "freshness"))
    assert "agent-stats" in listing
    assert "call-stats" in listing


@pytest.mark.parametrize(
    "args",
    [
        ["kpis", "--hotline", HOTLINE, "--day", DAY],
        ["calls", "--hotline", HOTLINE, "--day", DAY],
        ["agent-day", "--agent", ANNA, "--day", DAY],
        ["agent-timeline", "--agent", ANNA, "--day", DAY],
        ["board"],
        ["freshness"],
        ["hotlines", "--day", DAY],
        ["agents", "--day", DAY],
    ],
)
def test_cli_tables_fit_120_columns(moto_url: str, reports: Harness, args: list[str]) -> None:
    """Rendered unwrapped (not a terminal): a 120-column terminal shows them without squeezing."""
    text = ok(run(moto_url, *args))
    assert len(text.splitlines()) > 2
    widest = max(text.splitlines(), key=len)
    assert len(widest) <= 120, widest


# Last in the module: the freshness test above reads a note written when the module's reports
# were made, and says "catching up" only while that note is recent.
UNKNOWN: list[tuple[list[str], str]] = [
    (
        ["kpis", "--hotline", HOTLINE, "--day", "2026-11-19"],
        "hotline 501 has no calls on 2026-11-19; nothing",
    ),
    (["kpis", "--hotline", "999", "--day", DAY], f"hotline 999 has no calls on {DAY}; that day's: 501"),
    (["calls", "--hotline", "998", "--day", DAY], f"hotline 998 has no calls on {DAY}; that day's: 501"),
    (["agent-day", "--agent", ANNA, "--day", "2026-11-19"], f"agent {ANNA} has no events on 2026-11-19"),
    (
        ["agent-timeline", "--agent", "299999", "--day", DAY],
        f"agent 299999 has no events on {DAY}; that day's: ",
    ),
    (["events", "--agent", "299999", "--day", DAY], f"agent 299999 has no events on {DAY}; that day's: "),
]


@pytest.mark.parametrize(("args", "message"), UNKNOWN)
def test_cli_an_unknown_hotline_or_agent_is_an_error(
    moto_url: str, reports: Harness, args: list[str], message: str
) -> None:
    """Not "no KPIs yet" with exit 0: a typo or the wrong day must not read as "no data yet"."""
    for fmt in ("table", "json", "csv"):
        result = run(moto_url, *args, "-f", fmt)
        assert result.exit_code == 2, result.output
        assert result.stdout == ""
        assert message in result.stderr
        assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["kpis", "--hotline", "abc"], "--hotline: 'abc' is not a hotline id"),
        (["calls", "--hotline", "5O1"], "--hotline: '5O1' is not a hotline id"),
        (["agent-day", "--agent", "anna"], "--agent: 'anna' is not an agent number"),
        (["events", "--agent", "10000l"], "--agent: '10000l' is not an agent number"),
        # options the command gets under another name: the error names the one typed
        (["html", "--hotline", "abc"], "--hotline: 'abc' is not a hotline id"),
        (["html", "--agent", "anna"], "--agent: 'anna' is not an agent number"),
        (["range", "--from", "2026-13-01", "--to", "2026-12-02"], "--from: '2026-13-01' is not a day"),
        (["range", "--from", "2026-12-01", "--to", "2026-12-32"], "--to: '2026-12-32' is not a day"),
        # a range asked two ways: which one would be shown?
        (
            ["range", "--day", "2026-12-01", "--from", "2026-12-01", "--to", "2026-12-02"],
            "--day and --period do not apply to --from/--to",
        ),
        (
            ["range", "--period", "month", "--from", "2026-12-01", "--to", "2026-12-02"],
            "--day and --period do not apply to --from/--to",
        ),
    ],
)
def test_cli_an_id_or_day_that_is_none_is_an_error(moto_url: str, args: list[str], message: str) -> None:
    result = run(moto_url, *args)
    assert result.exit_code == 2
    assert message in result.stderr


def test_cli_a_known_agent_without_statistics_yet_is_no_error(moto_url: str, reports: Harness) -> None:
    """Stored but not aggregated yet (the stream is behind): "not yet", exit 0."""
    reports.store_event(
        {
            "cmd": "agentstate",
            "agentid": "288888",
            "mode": "0",
            "state": "online",
            "eventtime": "1795161600000",
        }
    )
    assert ok(run(moto_url, "agent-day", "--agent", "288888", "--day", DAY)).strip() == (
        f"No statistics for agent 288888 on {DAY} yet."
    )


def test_cli_hotlines_and_agents_of_a_day(moto_url: str, reports: Harness) -> None:
    hotlines = json.loads(ok(run(moto_url, "hotlines", "--day", DAY, "-f", "json")))
    assert [h["hotline"] for h in hotlines] == ["501"]
    assert hotlines[0]["inbound_calls"] >= 1
    agents = json.loads(ok(run(moto_url, "agents", "--day", DAY, "-f", "json")))
    assert ANNA in [a["agent"] for a in agents]
    assert all(a["state_events"] >= 1 for a in agents)
    assert [a["agent"] for a in agents] == sorted(a["agent"] for a in agents)
    table = ok(run(moto_url, "agents", "--day", DAY))
    assert ANNA in table
    assert max(len(line) for line in table.splitlines()) <= 120
    assert (
        ok(run(moto_url, "hotlines", "--day", "2026-11-19")).strip()
        == "No call events on 2026-11-19: no hotlines."
    )


def test_cli_listings_and_titles_show_the_operators_names(
    moto_url: str, reports: Harness, tmp_path: Path
) -> None:
    """What to pass to --hotline/--agent, with the names of acd-names.toml beside the numbers
    (README "Names": every view); JSON keeps the numbers."""
    named = tmp_path / "acd-names.toml"
    named.write_text(f'[hotlines]\n501 = "Vertrieb"\n\n[agents]\n{ANNA} = "Anna Becker"\n')
    assert "501 Vertrieb" in ok(run(moto_url, "--names", str(named), "hotlines", "--day", DAY))
    assert f"{ANNA} Anna Becker" in ok(run(moto_url, "--names", str(named), "agents", "--day", DAY))
    shown = json.loads(ok(run(moto_url, "--names", str(named), "hotlines", "--day", DAY, "-f", "json")))
    assert [h["hotline"] for h in shown] == ["501"]
    for command, title in (
        ("agent-day", f"Agent {ANNA} Anna Becker on {DAY}"),
        ("agent-timeline", f"Timeline of agent {ANNA} Anna Becker on {DAY}"),
        ("events", f"Events of agent {ANNA} Anna Becker on {DAY}"),
    ):
        assert title in ok(run(moto_url, "--names", str(named), command, "--agent", ANNA, "--day", DAY))
    call = ok(run(moto_url, "--names", str(named), "call", "--call", ANSWERED))
    assert f"{HOTLINE} Vertrieb" in call
    assert f"{ANNA} Anna Becker" in call
    assert f"{ANNA} Anna Becker" in ok(
        run(moto_url, "--names", str(named), "calls", "--hotline", HOTLINE, "--day", DAY)
    )


def test_cli_calls_of_no_hotline_are_the_outbound_ones(moto_url: str, reports: Harness) -> None:
    """``--hotline none``: the listing of calls that name no hotline (the dialer's, outbound),
    not a typo; the day report's dialer section reads it."""
    listed = json.loads(ok(run(moto_url, "calls", "--hotline", "none", "--day", DAY, "-f", "json")))
    assert isinstance(listed, list)
    assert all(call["hotline"] is None for call in listed)
    assert one_line_error(run(moto_url, "calls", "--hotline", "nine", "--day", DAY)).startswith(
        "Error: --hotline"
    )


def test_the_day_report_reads_its_hotlines_from_the_reports_table(moto_url: str, reports: Harness) -> None:
    """The aggregator lists each hotline day it counts under its day (``HOTLINES#<day>``): the
    day report's hotlines are one query of the reports table, not a read of the day's events;
    a day from before that listing (none listed) still finds them in its call events."""
    events_log, reports_log = CallLog(), CallLog()
    events = EventQueries(events_log.attach(moto_client(moto_url)), EVENTS_TABLE, SHARDS)
    queries = ReportQueries(reports_log.attach(moto_client(moto_url)), REPORTS_TABLE, SHARDS)
    assert queries.day_hotlines(DAY) == [HOTLINE]
    assert queries.day_hotlines("2026-11-19") == []
    found = html_report.gather(queries, events, DAY, report_context.ReportContext().zone, now=NOW)
    assert list(found.hotlines) == [HOTLINE]
    assert events_log.operations == []  # not one read of the events table
    assert events.inbound_hotlines(DAY) == [HOTLINE]  # what the day's call events say

    client = moto_client(moto_url)
    listed = client.get_item(TableName=REPORTS_TABLE, Key=wire_key(day_hotline_key(HOTLINE, DAY)))["Item"]
    client.delete_item(TableName=REPORTS_TABLE, Key=wire_key(day_hotline_key(HOTLINE, DAY)))
    try:
        events_log.operations.clear()
        found = html_report.gather(queries, events, DAY, report_context.ReportContext().zone, now=NOW)
        assert list(found.hotlines) == [HOTLINE]
        assert "Query" in events_log.operations  # the day's call events, as before the listing
    finally:
        client.put_item(TableName=REPORTS_TABLE, Item=listed)
