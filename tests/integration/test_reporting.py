"""Reporting against a moto server over real HTTP: the query API and the ``acd-report`` CLI.

The events table is created from ``template.yaml`` and filled by the ingest's own item builder
and store (so writer and reader agree on keys), using the parameters of the ``events/``
samples. Every DynamoDB call is recorded: the read side must only ever ``Query``, and every
query is paged with a tiny ``Limit`` so ``LastEvaluatedKey`` handling is exercised.
"""

from __future__ import annotations

import csv
import io
import json
import threading
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from boto3.dynamodb.types import Binary
from click.testing import CliRunner, Result

from acd_cli import report_cli, report_context
from acd_cli.reporting import EventQueries
from acd_devkit.sample_events import ANNA, BERND, CALL_HIDDEN, CALL_IN, SAMPLES
from acd_devkit.template import dynamodb_tables, load_template
from acd_hub import keys, params, redact
from acd_hub.adapters.dynamodb import Table
from acd_hub.adapters.events_table import EventsTable
from acd_hub.errors import ParameterError
from acd_hub.events import plain
from acd_hub.items import event_item
from acd_hub.models import ParseContext, parse_callback
from acd_hub.params import merge_parameters
from acd_hub.quarantine import rejected_item
from acd_hub.settings import HubSettings
from acd_hub.vocabulary import CMDS
from tests.integration.conftest import CallLog, create_table_stack, moto_client, ok, one_line_error
from tests.support import callback_request, free_port

pytestmark = pytest.mark.integration


REGION = "eu-central-1"
DAY = "2026-11-20"
ZONE = ZoneInfo("Europe/Berlin")
SHARDS = 8
PAGE = 2  # every Query is paged this small
PAGED_AGENT = "100999"
PAGED_EVENTS = 13
STACK = "acd-report-test"
STACK_TABLE = "acd-report-test-EventsTable-1ABC"
SETTINGS = HubSettings(
    acd_timezone="Europe/Berlin", report_timezone="Europe/Berlin", cmd_day_shards=SHARDS, retention_days=0
)
GOOD = {name: params for name, params in SAMPLES.items() if not name.startswith("bad-")}


def _event(name: str, params: list[tuple[str, str]] | None = None) -> dict[str, Any]:
    merged = merge_parameters(params if params is not None else SAMPLES[name])
    model = parse_callback(merged, ParseContext(ZONE))
    return event_item(model, merged, SETTINGS, model.event_time + timedelta(milliseconds=150))


def _agent_state(agent: str, moment: datetime, state: str) -> dict[str, Any]:
    params = [
        ("cmd", "agentstate"),
        ("agentid", agent),
        ("mode", "0"),
        ("state", state),
        ("eventtime", str(int(moment.timestamp() * 1000))),
    ]
    return _event(f"paged-{moment.isoformat()}", params)


def _rejected(
    request_id: str, received: datetime, query: str, errors: list[ParameterError]
) -> dict[str, Any]:
    request = callback_request(
        query,
        path_token="local-dev-token",
        source_ip="203.0.113.10",
        user_agent="Java/11.0.22",
        request_id=request_id,
    )
    kept = redact.redacted(request, params.read(request), ()).kept
    return rejected_item(request, kept, errors, keys.rejected(request_id, received, SETTINGS), 400)


REJECTED = [
    (
        "req-c",
        datetime(2026, 11, 20, 15, 0, tzinfo=UTC),
        "cmd=hangupevent",
        [ParameterError("cmd", "unknown")],
    ),
    (
        "req-a",
        datetime(2026, 11, 20, 7, 30, tzinfo=UTC),
        "cmd=agentstate&agentid=12345&token=secret",
        [ParameterError("agentid", "must be a 6-digit agent number")],
    ),
    ("req-b", datetime(2026, 11, 20, 9, 0, tzinfo=UTC), "agentid=100123", [ParameterError("cmd", "missing")]),
    # received 00:30 Berlin on the 21st (23:30 UTC on the 20th): a day later in the reporting zone
    ("req-d", datetime(2026, 11, 20, 23, 30, tzinfo=UTC), "cmd=x", [ParameterError("cmd", "unknown")]),
]


@pytest.fixture(scope="module")
def tables(moto_url: str) -> dict[str, Any]:
    """Events table from the template, filled through the ingest's own store."""
    client = moto_client(moto_url)
    definitions = dynamodb_tables(load_template())
    for kwargs in definitions.values():
        client.create_table(**kwargs)
    events_definition = definitions["EventsTable"]
    client.create_table(**{**events_definition, "TableName": STACK_TABLE})

    store = EventsTable(client, "EventsTable")
    items = [_event(name) for name in GOOD]
    start = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)
    items += [
        _agent_state(PAGED_AGENT, start + timedelta(minutes=7 * i), "online") for i in range(PAGED_EVENTS)
    ]
    for item in items:
        assert store.put_event(item)
    assert not store.put_event(items[0])  # a duplicate changes nothing
    for request_id, received, query, errors in REJECTED:
        store.put_rejected(_rejected(request_id, received, query, errors))
    EventsTable(client, STACK_TABLE).put_event(_event("callevent-get"))

    create_table_stack(moto_url, STACK, STACK_TABLE, "ReportsTable")
    return {"items": items}


@pytest.fixture
def queries(moto_url: str, tables: dict[str, Any], log: CallLog) -> EventQueries:
    return EventQueries(log.attach(moto_client(moto_url)), "EventsTable", SHARDS)


def _expected(names: list[str]) -> list[str]:
    """The event keys of these samples, in event-time order."""
    items = sorted((_event(name) for name in names), key=lambda item: item["event_time"])
    return [item["event_key"] for item in items]


# --- the query API ------------------------------------------------------------------------------


def test_events_by_call_merges_the_call_partition_and_agentstates(
    queries: EventQueries, log: CallLog
) -> None:
    items = queries.events_by_call(CALL_IN)
    names = [n for n, p in GOOD.items() if CALL_IN in dict(p).values()]
    assert [i["event_key"] for i in items] == _expected(names)
    assert [i["cmd"] for i in items] == [
        "callevent",
        "enqueuecall",
        "agentstate",
        "recordedcall",
        "callevent",
        "classificationevent",
    ]
    agentstate = next(i for i in items if i["cmd"] == "agentstate")
    assert agentstate["pk"] == keys.agent_day_pk(ANNA[0], DAY)  # came through the ByCall index
    assert queries.events_by_call(CALL_IN.upper()) == items
    assert log.reads() == {"Query"}


def test_events_by_agent_day_merges_agentstates_and_events_naming_the_agent(
    queries: EventQueries, log: CallLog
) -> None:
    items = queries.events_by_agent_day(ANNA[0], DAY)
    names = [n for n, p in GOOD.items() if ANNA[0] in (dict(p).get("agentid"), dict(p).get("agent"))]
    assert len(names) == 8
    assert [i["event_key"] for i in items] == _expected(names)
    assert {i["cmd"] for i in items} >= {"agentstate", "callevent", "enqueuecall", "schedulecallevent"}
    assert queries.events_by_agent_day(ANNA[0], date(2026, 11, 20)) == items
    assert queries.events_by_agent_day(ANNA[0], "2026-11-21") == []
    assert log.reads() == {"Query"}


def test_events_by_agent_day_follows_pages(queries: EventQueries, log: CallLog) -> None:
    items = queries.events_by_agent_day(PAGED_AGENT, DAY)
    assert len(items) == PAGED_EVENTS
    assert [i["event_time"] for i in items] == sorted(i["event_time"] for i in items)
    # PAGE items per page: the base partition alone needs more than PAGED_EVENTS / PAGE calls
    assert log.operations.count("Query") > PAGED_EVENTS // PAGE
    assert log.reads() == {"Query"}


@pytest.mark.parametrize("cmd", CMDS)
def test_events_by_cmd_day_reads_every_shard(queries: EventQueries, log: CallLog, cmd: str) -> None:
    items = queries.events_by_cmd_day(cmd, DAY)
    names = [n for n in GOOD if n.startswith(f"{cmd}-")]
    extra = PAGED_EVENTS if cmd == "agentstate" else 0
    assert len(items) == len(names) + extra
    assert {i["cmd"] for i in items} == {cmd}
    assert [i["event_time"] for i in items] == sorted(i["event_time"] for i in items)
    assert log.operations.count("Query") >= SHARDS
    assert log.reads() == {"Query"}


def test_events_by_cmd_day_is_case_insensitive_and_day_exact(queries: EventQueries) -> None:
    assert len(queries.events_by_cmd_day("CallEvent", DAY)) == 3
    assert queries.events_by_cmd_day("callevent", "2026-11-19") == []


def test_fewer_shards_than_written_miss_events(moto_url: str, tables: dict[str, Any]) -> None:
    """Why --shards must match the stack: shard 0 alone holds only part of a day."""
    one = EventQueries(moto_client(moto_url), "EventsTable", 1)
    assert len(one.events_by_cmd_day("agentstate", DAY)) < 3 + PAGED_EVENTS


def test_rejected_lists_every_shard_of_the_day_by_receipt(queries: EventQueries, log: CallLog) -> None:
    items = queries.rejected(DAY)
    assert [i["request_id"] for i in items] == ["req-a", "req-b", "req-c"]
    first = items[0]
    assert first["kind"] == "rejected"
    assert first["status"] == 400
    assert isinstance(first["status"], int)
    assert first["errors"] == [{"parameter": "agentid", "message": "must be a 6-digit agent number"}]
    assert "secret" not in first["query"]
    assert [i["request_id"] for i in queries.rejected("2026-11-21")] == ["req-d"]
    assert queries.rejected("2026-11-19") == []
    assert log.reads() == {"Query"}


def test_items_are_plain_python(queries: EventQueries) -> None:
    items = queries.events_by_call(CALL_HIDDEN)
    assert items
    json.dumps(items)  # no Decimal, no set, no Binary
    callevent = next(i for i in items if i["cmd"] == "callevent")
    assert isinstance(callevent["event_time_ms"], int)
    assert callevent["schema_version"] == 2  # raw: only what data does not show as sent
    assert callevent["data"]["callingnumber"]["suppressed"] is True
    assert callevent["raw"]["callingnumber"] == "02212601xxx"


def test_plain_converts_dynamodb_values(moto_url: str) -> None:
    assert plain(Decimal("3")) == 3
    assert isinstance(plain(Decimal("3")), int)
    assert plain(Decimal("2.5")) == 2.5
    assert plain({"a": [Decimal("1"), {"b": Decimal("0.25")}]}) == {"a": [1, {"b": 0.25}]}
    assert plain({"z", "a"}) == ["a", "z"]
    assert plain(Binary(b"\x00\x01")) == b"\x00\x01"
    decode = Table(moto_client(moto_url), "EventsTable").decode  # the codec: no request made
    assert decode({"n": {"N": "10"}, "ns": {"NS": ["2", "1"]}, "x": {"NULL": True}}) == {
        "n": 10,
        "ns": [1, 2],
        "x": None,
    }


def test_the_query_api_rejects_zero_shards(moto_url: str) -> None:
    with pytest.raises(ValueError, match="shards"):
        EventQueries(moto_client(moto_url), "EventsTable", 0)


# --- the CLI --------------------------------------------------------------------------------------


def run(url: str, *args: str) -> Result:
    return CliRunner().invoke(report_cli.cli, ["--endpoint-url", url, *args], catch_exceptions=True)


def test_cli_events_by_call_json_equals_the_api(
    moto_url: str, queries: EventQueries, cli_log: CallLog
) -> None:
    listed = json.loads(ok(run(moto_url, "events", "--call", CALL_IN, "--format", "json")))
    assert listed == queries.events_by_call(CALL_IN)
    assert cli_log.reads() == {"Query"}


def test_cli_format_before_the_subcommand(moto_url: str, tables: dict[str, Any]) -> None:
    after = ok(run(moto_url, "events", "--call", CALL_IN, "-f", "json"))
    before = ok(run(moto_url, "--format", "json", "events", "--call", CALL_IN))
    assert before == after
    # the subcommand's --format wins over the group's
    assert ok(run(moto_url, "--format", "json", "events", "--call", CALL_IN, "-f", "csv")).startswith(
        "event_time,"
    )


def test_cli_events_by_call_table(moto_url: str, tables: dict[str, Any], cli_log: CallLog) -> None:
    text = ok(run(moto_url, "events", "--call", CALL_IN))
    assert "Events of call 5f3a9c01b2d4e6f708192a3b" in text
    assert "time (Europe/Berlin)" in text
    lines = [line for line in text.splitlines() if line.startswith("2026-11-20 ")]
    assert len(lines) == 6
    assert lines[0].startswith("2026-11-20 10:15:30")
    assert "CallStart" in lines[0]
    assert "eventtype=CallEnd" in lines[4]
    assert "callingnumber=+492212601599" in lines[4]
    assert "state=connected mode=in" in lines[2]
    assert "classificationreason=Vertragsfrage" in lines[5]
    assert text.rstrip().endswith("6 rows")
    assert cli_log.reads() == {"Query"}


def test_cli_events_by_agent_csv(moto_url: str, tables: dict[str, Any], cli_log: CallLog) -> None:
    text = ok(run(moto_url, "events", "--agent", ANNA[0], "--day", DAY, "--format", "csv"))
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 8
    header = text.splitlines()[0].split(",")
    assert header[:6] == ["event_time", "day", "cmd", "event_key", "agent", "task_id"]
    assert "data.state" in header
    assert "raw.pause-reason" in header
    paused = next(r for r in rows if r["data.state"] == "paused")
    assert paused["raw.pause-reason"] == "Frühstückspause"
    assert paused["data.agentphonenumber.e164"] == "+4922112345123"
    assert {r["agent"] for r in rows} == {ANNA[0]}
    assert cli_log.reads() == {"Query"}


def test_cli_events_by_cmd_all_formats(moto_url: str, tables: dict[str, Any], cli_log: CallLog) -> None:
    table = ok(run(moto_url, "events", "--cmd", "broadcastevent", "--day", DAY))
    assert "message=Störung im Netz Süd" in table
    assert "admin=Jörg Müller" in table
    listed = json.loads(ok(run(moto_url, "events", "--cmd", "BroadcastEvent", "--day", DAY, "-f", "json")))
    assert [i["raw"]["groupid"] for i in listed] == ["3", "4", "3"]
    csv_text = ok(run(moto_url, "events", "--cmd", "broadcastevent", "--day", DAY, "-f", "csv"))
    assert len(csv_text.strip().splitlines()) == 1 + 3
    assert "Grüße" in csv_text
    assert cli_log.reads() == {"Query"}


def test_cli_empty_results(moto_url: str, tables: dict[str, Any]) -> None:
    assert ok(run(moto_url, "events", "--call", "ffff")).strip() == "No events found for call ffff."
    # an agent with no event that day is unknown there: an error, not an empty listing
    unknown = run(moto_url, "events", "--agent", ANNA[0], "--day", "2026-11-19")
    assert unknown.exit_code == 2
    assert f"agent {ANNA[0]} has no events on 2026-11-19; nothing on 2026-11-19 at all" in unknown.stderr
    assert (
        ok(run(moto_url, "events", "--cmd", "callevent", "--day", "2026-11-19")).strip()
        == "No events found for cmd callevent on 2026-11-19."
    )
    assert json.loads(ok(run(moto_url, "events", "--call", "ffff", "-f", "json"))) == []
    assert ok(run(moto_url, "events", "--call", "ffff", "-f", "csv")) == ""
    assert (
        ok(run(moto_url, "rejected", "--day", "2026-11-19")).strip()
        == "No rejected requests found for 2026-11-19."
    )


def test_cli_defaults_to_today_in_the_reporting_zone(moto_url: str, tables: dict[str, Any]) -> None:
    today = datetime.now(ZoneInfo("Pacific/Auckland")).date().isoformat()
    text = ok(run(moto_url, "--timezone", "Pacific/Auckland", "rejected"))
    assert text.strip() == f"No rejected requests found for {today}."
    text = ok(run(moto_url, "--timezone", "Pacific/Auckland", "events", "--cmd", "callevent"))
    assert text.strip() == f"No events found for cmd callevent on {today}."


def test_cli_rejected_all_formats(moto_url: str, tables: dict[str, Any], cli_log: CallLog) -> None:
    table = ok(run(moto_url, "rejected", "--day", DAY))
    lines = [line for line in table.splitlines() if line.startswith("2026-11-20 ")]
    assert len(lines) == 3
    assert lines[0].startswith("2026-11-20 08:30:00")  # 07:30 UTC in Berlin
    assert "agentid: must be a 6-digit agent number" in lines[0]
    assert "req-a" in lines[0]
    listed = json.loads(ok(run(moto_url, "rejected", "--day", DAY, "-f", "json")))
    assert [i["request_id"] for i in listed] == ["req-a", "req-b", "req-c"]
    csv_text = ok(run(moto_url, "rejected", "--day", DAY, "-f", "csv"))
    header = csv_text.splitlines()[0].split(",")
    assert header[:4] == ["received_at", "day", "status", "reason"]
    assert "errors" in header
    assert len(csv_text.strip().splitlines()) == 4
    assert cli_log.reads() == {"Query"}


def test_cli_reads_table_names_from_the_stack(moto_url: str, tables: dict[str, Any]) -> None:
    listed = json.loads(ok(run(moto_url, "--stack-name", STACK, "events", "--call", CALL_IN, "-f", "json")))
    assert [i["cmd"] for i in listed] == ["callevent"]  # only what the stack's table holds
    # an explicit table name beats the stack output
    listed = json.loads(
        ok(
            run(
                moto_url,
                "--stack-name",
                STACK,
                "--events-table",
                "EventsTable",
                "events",
                "--call",
                CALL_IN,
                "-f",
                "json",
            )
        )
    )
    assert len(listed) == 6


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["events"], "exactly one of --call"),
        (["events", "--call", CALL_IN, "--agent", ANNA[0]], "got --call and --agent"),
        (["events", "--call", CALL_IN, "--day", DAY], "--day does not apply to --call"),
        (["events", "--cmd", "hangupevent", "--day", DAY], "Invalid value for '--cmd'"),
        (["--format", "xml", "events", "--call", CALL_IN], "Invalid value for '--format'"),
        (["--shards", "0", "events", "--call", CALL_IN], "Invalid value for '--shards'"),
        (
            ["html", "--out", "/nonexistent-folder/day.html", "--sl-target", "nan"],
            "Invalid value for '--sl-target': 'nan' is not a finite number.",
        ),
    ],
)
def test_cli_usage_errors(moto_url: str, args: list[str], message: str) -> None:
    result = run(moto_url, *args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["events", "--agent", ANNA[0], "--day", "20.11.2026"], "Error: --day: '20.11.2026' is not a day"),
        (["rejected", "--day", "2026-02-30"], "Error: --day: '2026-02-30' is not a day"),
        (["events", "--call", "not-a-task"], "Error: --call: 'not-a-task' is not a task id"),
        (["--timezone", "Mars/Olympus", "rejected"], "Error: --timezone: unknown time zone"),
        (["--events-table", "", "events", "--call", CALL_IN], "Error: --events-table: must not be blank"),
        (["--stack-name", " ", "rejected"], "Error: --stack-name: must not be blank"),
        (["--timezone", "x" * 5000, "rejected"], "Error: --timezone: unknown time zone 'xxx"),
    ],
)
def test_cli_bad_values_are_one_line_errors(moto_url: str, args: list[str], message: str) -> None:
    assert one_line_error(run(moto_url, *args)).startswith(message)


@pytest.mark.parametrize("option", ["--profile", "--region"])
def test_cli_error_quoting_aws_shows_an_escape_sequence_inert(moto_url: str, option: str) -> None:
    """botocore's message quotes the value as typed; a terminal must not act on it (``color``:
    click keeps escape sequences as on a terminal)."""
    args = ["--endpoint-url", moto_url, option, "\x1b]0;PWNED\x07\x1b[31m", "rejected", "--day", DAY]
    line = one_line_error(CliRunner().invoke(report_cli.cli, args, color=True))
    assert "\x1b" not in line
    assert "\\x1b]0;PWNED\\x07\\x1b[31m" in line


@pytest.mark.parametrize("url", ["notaurl", "http://127.0.0.1:99999", "http://[::1", "ftp://127.0.0.1:5000"])
def test_cli_malformed_endpoint_url_is_a_one_line_error(url: str) -> None:
    result = CliRunner().invoke(report_cli.cli, ["--endpoint-url", url, "rejected", "--day", DAY])
    assert one_line_error(result).startswith(f"Error: --endpoint-url: {url!r} is not an http(s) URL")


class _NotAws(BaseHTTPRequestHandler):
    """What the callback port answers to an AWS call: JSON, not an AWS response."""

    def do_POST(self) -> None:
        body = b'{"error":"not_found"}'
        self.send_response(404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: Any) -> None:
        pass


def test_cli_an_endpoint_that_is_not_aws_is_a_one_line_error() -> None:
    """--endpoint-url at the callback port instead of moto's: no traceback from botocore's parser."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _NotAws)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}"
    try:
        args = ["--endpoint-url", url, "--stack-name", "hub", "rejected", "--day", DAY]
        line = one_line_error(CliRunner().invoke(report_cli.cli, args))
    finally:
        server.shutdown()
        server.server_close()
    assert line.startswith(f"Error: {url} did not answer as AWS does (Unable to parse response")


def test_cli_missing_table_is_a_one_line_error(moto_url: str, tables: dict[str, Any]) -> None:
    line = one_line_error(run(moto_url, "--events-table", "NoSuchTable", "events", "--call", CALL_IN))
    assert "table not found" in line
    assert "'NoSuchTable'" in line


def test_cli_missing_stack_is_a_one_line_error(moto_url: str, tables: dict[str, Any]) -> None:
    line = one_line_error(run(moto_url, "--stack-name", "no-such-stack", "rejected", "--day", DAY))
    assert "no-such-stack" in line


def test_cli_unknown_profile_is_a_one_line_error(moto_url: str) -> None:
    line = one_line_error(run(moto_url, "--profile", "no-such-profile", "rejected", "--day", DAY))
    assert "no-such-profile" in line


def test_cli_unreachable_endpoint_is_a_one_line_error(aws_env: None) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    line = one_line_error(run(url, "events", "--call", CALL_IN))
    assert line.startswith(f"Error: cannot reach {url}")


def test_cli_without_table_or_stack_on_aws_says_what_to_pass(aws_env: None) -> None:
    result = CliRunner().invoke(report_cli.cli, ["--region", REGION, "events", "--call", CALL_IN])
    assert "--stack-name" in one_line_error(result)


def test_cli_local_stack_works_without_any_credentials(
    moto_url: str, tables: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    listed = json.loads(ok(run(moto_url, "events", "--call", CALL_IN, "-f", "json")))
    assert len(listed) == 6


def test_report_context_is_lazy() -> None:
    """--help and usage errors never touch AWS."""
    context = report_context.ReportContext(endpoint_url="http://127.0.0.1:1")
    assert "session" not in context.__dict__
    assert replace(context, shards=3).shards == 3


def test_cli_main_entry_point(
    moto_url: str, tables: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        report_cli.main(
            ["--endpoint-url", moto_url, "events", "--cmd", "configchanged", "--day", DAY, "-f", "json"]
        )
    assert exited.value.code == 0
    assert len(json.loads(capsys.readouterr().out)) == 3


def test_bernd_is_listed_for_the_call_he_answered(queries: EventQueries) -> None:
    items = queries.events_by_agent_day(BERND[0], DAY)
    assert CALL_HIDDEN in {i.get("task_id") for i in items}


def test_latest_arrival_is_the_newest_receipt_of_those_cmds(queries: EventQueries, log: CallLog) -> None:
    """What `acd-report freshness` compares the consumers' notes with (a stalled stream)."""
    cmds = ["agentstate", "callevent"]
    stored = [item for cmd in cmds for item in queries.events_by_cmd_day(cmd, DAY)]
    assert queries.latest_arrival(DAY, cmds) == max(str(i["received_at"]) for i in stored)
    only_calls = max(str(i["received_at"]) for i in queries.events_by_cmd_day("callevent", DAY))
    assert queries.latest_arrival(DAY, ["callevent"]) == only_calls
    assert queries.latest_arrival("2026-11-19", cmds) is None
    assert log.reads() == {"Query"}
