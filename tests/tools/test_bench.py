"""Smoke tests of ``make bench``'s measurements (acd_bench.bench): each runs with tiny repetition
counts and returns the figures the table and the JSON need. Structure only: a benchmark is no
timed test, so no assertion here looks at a time or a rate's size."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from acd_bench import (
    bare,
    bench,
    cold_start,
    deployment,
    dynamo,
    harness,
    ingest_snapshot,
    ingest_warm,
    report,
)
from acd_bench.aggregation import bench_aggregation
from acd_bench.bare import same_requests_handler
from acd_bench.live_cost import bench_live_cost
from acd_bench.scaling import (
    PER_EVENT_FIGURES,
    SCALING_BASE,
    bench_aggregation_scaling,
    day_shape,
    scaled_day_config,
    scaling_growth,
)
from acd_devkit import lambda_events
from acd_devkit.lambda_events import patched_env


def _positive(value: Any) -> bool:
    return isinstance(value, float | int) and math.isfinite(value) and value > 0


@pytest.fixture(scope="module")
def warm() -> dict[str, Any]:
    return ingest_warm.bench_ingest_warm(rounds=2, sim_events=6)


@pytest.fixture(scope="module")
def aggregation() -> dict[str, Any]:
    return bench_aggregation(day_events=harness.simulated_day()[:60], batch_size=25)


def test_ingest_warm_measures_the_handlers_on_the_same_events(warm: dict[str, Any]) -> None:
    assert warm["event_origin"]["samples"] >= 8  # events/ingest, the bad-* ones left out
    assert warm["event_origin"]["simulated"] == 6
    assert warm["events"] == warm["event_origin"]["samples"] + 6
    samples = warm["samples_us"]
    assert {len(samples[h]) for h in ("ingest", "same_requests", "libraries", "bare")} == {2}
    figures = ("ingest_us_per_event", "same_requests_us_per_event", "bare_us_per_event", "ratio")
    floor = ("libraries_us_per_event", "ratio_libraries_same_requests")
    assert all(_positive(warm[key]) for key in (*figures, *floor, "ratio_same_requests"))
    for handler in ("ingest", "same_requests", "libraries", "bare"):
        assert 0 < warm[f"{handler}_put_item_us_per_event"] < warm[f"{handler}_us_per_event"]
    # a callevent claims its key first: more than one PutItem per event over the mix
    assert 1 < warm["put_item_requests_per_event"] < 2
    assert warm["target_ratio_max"] == 1.3  # issue 19: at most 1.3x the same requests alone
    assert warm["target_hub_own_us_max"] == 150


def test_the_same_requests_baseline_sends_what_the_ingest_sent() -> None:
    """It replays the recorded requests as they were, per event, and nothing else."""
    sent: list[dict[str, Any]] = []

    class Client:
        def put_item(self, **request: Any) -> dict[str, Any]:
            sent.append(request)
            return {}

    recorded = {
        "r1": [{"TableName": "T", "Item": {"pk": {"S": "a"}}}, {"TableName": "T", "Item": {"pk": {"S": "b"}}}]
    }
    handler = same_requests_handler(Client(), recorded)
    assert handler({"requestContext": {"requestId": "r1"}}, None)["statusCode"] == 200
    assert sent == recorded["r1"]


def test_the_floor_sends_the_same_requests_behind_the_libraries(capsys: pytest.CaptureFixture[str]) -> None:
    """Through Powertools' resolver on either route, one log line and one EMF line an event,
    the recorded requests sent as they were; an unknown path is the resolver's 404, sending
    nothing."""
    sent: list[dict[str, Any]] = []

    class Client:
        def put_item(self, **request: Any) -> dict[str, Any]:
            sent.append(request)
            return {}

    recorded = {"sim-0": [{"TableName": "T", "Item": {"pk": {"S": "a"}}}]}
    context = lambda_events.FakeLambdaContext("IngestFunction")

    def event(path: str) -> dict[str, Any]:
        return lambda_events.http_api_event(
            "GET", path, route_key="$default", raw_query="cmd=x", request_id="sim-0"
        )

    with lambda_events.patched_env(harness.function_env(), unset=harness.UNSET_ENV):  # as the bench runs it
        handler = bare.libraries_handler(Client(), recorded)
        answers = [handler(event(path), context) for path in ("/callback", "/callback/a-token", "/elsewhere")]
    assert [a["statusCode"] for a in answers] == [200, 200, 404]
    assert [json.loads(a["body"]).get("status") for a in answers[:2]] == ["stored", "stored"]
    assert sent == recorded["sim-0"] * 2
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line.get("message") for line in lines if "_aws" not in line] == ["callback stored"] * 2
    assert sum("_aws" in line for line in lines) == 2


def test_ingest_warm_leaves_no_stubbed_client_behind(warm: dict[str, Any]) -> None:
    from acd_hub.aws import dynamodb_client  # noqa: PLC0415

    assert warm["events"]
    assert dynamodb_client.cache_info().currsize == 0


def test_bare_handler_makes_one_conditional_put() -> None:
    calls: list[dict[str, Any]] = []

    class Client:
        def put_item(self, **kwargs: Any) -> None:
            calls.append(kwargs)

    handler = bare.bare_handler(Client())
    event = lambda_events.callback_event("PUT", [("cmd", "agentstate"), ("agentid", "100001")])
    assert handler(event, None)["statusCode"] == 200
    (call,) = calls
    assert call["ConditionExpression"] == "attribute_not_exists(pk)"
    assert call["Item"]["agentid"] == {"S": "100001"}  # from the base64 form body


def test_cold_start_reports_import_first_request_and_breakdown() -> None:
    cold = cold_start.bench_cold_start(repetitions=1, warmups=0)
    for key in (
        "ingest_import_ms",
        "bare_import_ms",
        "import_ratio",
        "ingest_first_request_ms",
        "bare_first_request_ms",
        "ingest_cold_total_ms",
        "bare_cold_total_ms",
        "cold_total_ratio",
        "libraries_import_ms",
        "libraries_import_ratio",
        "ingest_import_vs_libraries",
    ):
        assert _positive(cold[key]), key
    assert {len(cold["samples"][mode]) for mode in ("ingest", "bare", "libraries")} == {1}
    assert cold["ingest_import_breakdown"], "importtime output was parsed"
    assert {"module", "imported_by", "cumulative_ms", "self_ms"} <= set(cold["ingest_import_breakdown"][0])


def test_import_costs_reads_what_app_and_acd_hub_import() -> None:
    stderr = "\n".join(
        [
            "import time:       100 |        100 | site",
            "ACD-BENCH-IMPORT-START",
            "import time:       500 |        500 |     phonenumbers",
            "import time:       200 |        700 |   acd_hub.phone",
            "import time:      3000 |       3000 |   boto3",
            "import time:        50 |       3750 | app",
            "ACD-BENCH-IMPORT-END",
            "import time:       900 |        900 | json",
        ]
    )
    costs = cold_start.import_costs(stderr)
    assert [(c["module"], c["imported_by"]) for c in costs] == [
        ("boto3", "app"),
        ("acd_hub.phone", "app"),
        ("phonenumbers", "acd_hub.phone"),
    ]
    assert costs[0]["cumulative_ms"] == 3.0


def test_aggregation_runs_both_aggregators_and_counts_dynamodb_calls(aggregation: dict[str, Any]) -> None:
    assert aggregation["day_events"] == 60
    assert aggregation["stored_events"] == 60
    assert aggregation["batch_item_failures"] == 0
    assert set(aggregation["delivered_records"]) == {"agent-stats", "call-stats"}
    assert _positive(aggregation["events_per_s"])
    assert _positive(aggregation["getitem_events_per_s"])
    dynamo = aggregation["dynamodb"]
    # one conditional write per callback, and a callevent claims its key first (one more put);
    # a duplicate writes nothing
    claims = sum(event.params["cmd"] == "callevent" for event in harness.simulated_day()[:60])
    assert 0 < claims < 60
    assert dynamo["ingest"]["requests_per_event"] == pytest.approx((60 + claims) / 60)
    assert dynamo["ingest"]["items_written_per_event"] == pytest.approx((60 + claims) / 60)
    assert dynamo["ingest"]["calls"] == {"PutItem": 60 + claims}
    assert 1 <= dynamo["duplicate"]["requests_per_event"] <= 2
    assert dynamo["duplicate"]["items_written_per_event"] == 0
    assert _positive(dynamo["aggregation"]["requests_per_event"])
    assert set(dynamo["aggregation"]["per_aggregator"]) == {"agent-stats", "call-stats"}


@pytest.fixture(scope="module")
def scaling() -> dict[str, Any]:
    # Tiny days (~60 and ~100 events), one small batch size: the section's machinery, not its
    # figures. The time budget is far beyond what these days need, so nothing is cut short.
    return bench_aggregation_scaling(
        base={"agents": 2, "calls": 3, "outbound": 1}, factors=(1, 2), batch_sizes=(5,), max_seconds=600
    )


def test_dynamo_counter_counts_items_of_transactions_batch_gets_and_scans() -> None:
    import boto3  # noqa: PLC0415
    from botocore.exceptions import ClientError  # noqa: PLC0415
    from moto import mock_aws  # noqa: PLC0415

    def key(pk: str, sk: str) -> dict[str, Any]:
        return {"pk": {"S": pk}, "sk": {"S": sk}}

    with patched_env(harness.AWS_ENV, unset=harness.UNSET_ENV), mock_aws():
        client = boto3.client("dynamodb", region_name=lambda_events.REGION)
        dynamo.create_plain_table(client, "T")
        counter = dynamo.DynamoCounter(client)
        client.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": "T", "Item": {**key("a", "1"), "v": {"N": "1"}}}},
                {"Put": {"TableName": "T", "Item": {**key("a", "2"), "v": {"N": "2"}}}},
                {
                    "Update": {
                        "TableName": "T",
                        "Key": key("a", "3"),
                        "UpdateExpression": "ADD v :n",
                        "ExpressionAttributeValues": {":n": {"N": "3"}},
                    }
                },
                {
                    "ConditionCheck": {
                        "TableName": "T",
                        "Key": key("b", "1"),
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
            ]
        )
        assert (counter.items_written, counter.condition_checks, counter.failed_writes) == (3, 1, 0)
        with pytest.raises(ClientError):  # cancelled: writes nothing
            client.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": "T",
                            "Item": key("a", "1"),
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    }
                ]
            )
        assert (counter.items_written, counter.failed_writes) == (3, 1)
        client.batch_get_item(
            RequestItems={
                "T": {"Keys": [key("a", "1"), key("a", "2"), key("zz", "9")], "ConsistentRead": True}
            }
        )
        assert counter.items_read == 2  # the two that exist
        page = client.query(
            TableName="T",
            KeyConditionExpression="pk = :p",
            FilterExpression="v > :one",
            ExpressionAttributeValues={":p": {"S": "a"}, ":one": {"N": "1"}},
        )
        assert page["Count"] == 2
        assert counter.items_read == 2 + 3  # a query is billed by what it scanned, before the filter
        assert counter.calls == {"TransactWriteItems": 2, "BatchGetItem": 1, "Query": 1}
        assert counter.requests == 4


def test_item_size_follows_dynamodbs_rules() -> None:
    item = {
        "pk": {"S": "ab"},  # 2 + 2
        "n": {"N": "-123.0"},  # 1 + 4 digits: 3
        "m": {"M": {"x": {"BOOL": True}}},  # 1 + 3 + (1 + 1 + 1)
        "l": {"L": [{"S": "é"}]},  # 1 + 3 + (2 + 1)
    }
    assert dynamo.item_size(item) == 4 + 4 + 7 + 7


def test_scaled_days_grow_every_hotline_day_and_every_agent_day() -> None:
    base = dict(SCALING_BASE)
    shapes = {
        factor: day_shape(harness.simulated_day(**scaled_day_config(base, factor))) for factor in (1, 4, 16)
    }
    for factor in (4, 16):
        assert scaled_day_config(base, factor)["agents"] == base["agents"]
        # the hotlines' days grow with the calls, the agents' days (queue overflow rejected) less
        assert (
            shapes[factor]["hotline_day_calls"]["mean"]
            >= 0.8 * factor * shapes[1]["hotline_day_calls"]["mean"]
        )
        assert (
            shapes[factor]["agent_day_events"]["mean"] >= 0.4 * factor * shapes[1]["agent_day_events"]["mean"]
        )
        assert shapes[factor]["agent_day_events"]["count"] == base["agents"]


def test_aggregation_scaling_measures_every_day_and_batch_size(scaling: dict[str, Any]) -> None:
    assert [(r["factor"], r["batch_size"]) for r in scaling["runs"]] == [(1, 5), (2, 5)]
    small, large = scaling["runs"]
    assert large["stored_events"] > small["stored_events"] > 0
    for run in scaling["runs"]:
        assert not run["partial"]
        assert run["events"] == run["stored_events"]  # the whole day measured
        assert run["batch_item_failures"] == 0
        assert set(run["delivered_records"]) == {"agent-stats", "call-stats"}
        assert all(n > 0 for n in run["delivered_records"].values())
        for key, _ in PER_EVENT_FIGURES:
            assert _positive(run[key]), key
        # the per-event figures are the counted totals over the events measured
        requests = sum(f["requests"] for f in run["per_aggregator"].values())
        assert run["requests_per_event"] == pytest.approx(requests / run["events"])
        assert sum(run["calls_per_event"].values()) == pytest.approx(run["requests_per_event"])
        read = sum(f["items_read"] for f in run["per_aggregator"].values())
        assert run["items_read_per_event"] == pytest.approx(read / run["events"])
        assert all(_positive(run[k]) for k in ("events_per_s", "getitem_per_s", "ratio"))
        assert run["report_items"], "the reports table was filled"
        for sizes in run["report_items"].values():
            assert sizes["max_bytes"] >= sizes["median_bytes"] > 0
            assert sizes["items"] > 0
    growth = scaling["growth"]["5"]
    assert (growth["from_factor"], growth["to_factor"], growth["partial"]) == (1, 2, False)
    for key, _ in PER_EVENT_FIGURES:
        assert growth[key]["ratio"] == pytest.approx(large[key] / small[key])


def test_aggregation_scaling_rows_mark_each_target(scaling: dict[str, Any]) -> None:
    table = report.rows({"aggregation_scaling": scaling, "errors": {}})
    growth = [row for row in table if row.metric.startswith("7 ") and "day vs" in row.metric]
    rates = [row for row in table if row.metric.startswith("7 aggregation, batches of 5")]
    assert len(growth) == 3
    assert len(rates) == 2
    for row in growth:
        assert row.target == "≤ 1.15×"
        ratio = float(row.ratio.rstrip("×"))
        assert row.met == ("yes" if ratio <= 1.15 else "**NO**")
    for row in rates:
        assert row.target == "≥ 0.50×"
        assert row.met in ("yes", "**NO**")
    lines = report.scaling_table(scaling)
    assert len(lines) == 2
    assert all(len(line) == len(report.SCALING_HEADERS) for line in lines)
    # a run cut short by its time budget says so, in the table and in its target rows
    cut = {**scaling, "runs": [{**scaling["runs"][1], "partial": True, "events": 7}, scaling["runs"][0]]}
    cut["growth"] = scaling_growth(cut["runs"])
    labels = [row.metric for row in report.scaling_rows(cut)]
    assert any("first 7 of" in label for label in labels)
    assert any("time budget hit" in label for label in labels)


def test_deployment_size_of_an_existing_build(tmp_path: Path) -> None:
    for name in [*deployment.FUNCTIONS, "SharedLayer"]:
        (tmp_path / name).mkdir()
        (tmp_path / name / "app.py").write_text("x = 1\n" * 1000)
    (tmp_path / "template.yaml").write_text("{}")
    sizes = deployment.bench_deployment_size(build=False, build_dir=tmp_path)
    assert set(sizes["artifacts"]) == {*deployment.FUNCTIONS, "SharedLayer"}
    assert all(_positive(a["unzipped_mb"]) and _positive(a["zipped_mb"]) for a in sizes["artifacts"].values())
    assert isinstance(sizes["stale"], bool)


def test_table_marks_each_target_and_every_error(warm: dict[str, Any], aggregation: dict[str, Any]) -> None:
    results = {
        "ingest_warm": warm,
        "aggregation": aggregation,
        "local_e2e": {
            "concurrency": 4,
            "callbacks_per_s": 10.0,
            "raw_putitem_per_s": 40.0,
            "ratio": 0.25,
            "non_2xx_answers": 0,
            "target_ratio_min": 0.5,
        },
        "errors": {"cold_start": "RuntimeError: boom"},
    }
    table = report.rows(results)
    assert all(len(row.cells()) == len(report.HEADERS) for row in table)
    by_metric = {row.metric: row for row in table}
    e2e = next(row for metric, row in by_metric.items() if metric.startswith("4 "))
    assert (e2e.ratio, e2e.target, e2e.met) == ("25 %", "≥ 50 %", "**NO**")
    assert any(metric.startswith("5 DynamoDB requests per ingested event") for metric in by_metric)
    assert by_metric["cold_start: not measured"].met == "**NO**"
    text = report.text_table(table)
    assert text.splitlines()[0].split() == ["metric", "measured", "baseline", "ratio", "target", "met?"]
    assert report.markdown_table(table).count("\n") == len(table) + 1


def test_main_writes_json_and_markdown(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "SharedLayer").mkdir()
    (tmp_path / "SharedLayer" / "module.py").write_text("x = 1\n")
    monkeypatch.setitem(
        bench.PARTS,
        "deployment_size",
        lambda **_: deployment.bench_deployment_size(build=False, build_dir=tmp_path),
    )
    out, md = tmp_path / "results.json", tmp_path / "bench.md"
    assert bench.main(["--only", "deployment_size", "--out", str(out), "--md", str(md)]) == 0
    results = json.loads(out.read_text())
    assert results["errors"] == {}
    assert results["rows"]
    assert results["machine"]["cpus"]
    assert md.read_text().startswith("# Benchmarks")


def test_ingest_snapshot_writes_what_the_function_said_and_stored_without_what_varies() -> None:
    corpus = ingest_snapshot.requests()[:40]
    lines, statuses = ingest_snapshot.snapshot(corpus)
    answers = lines[: lines.index("ITEMS")]
    assert len(answers) == 40
    assert sum(statuses.values()) == 40
    assert {200, 400} <= set(statuses)  # the samples' valid and bad requests
    items = lines[lines.index("ITEMS") + 1 :]
    assert items
    assert items == sorted(items)
    first = json.loads(answers[0])
    assert first["request"] == "req-00000"
    assert any('"timestamp":"T"' in line for line in first["printed"])  # the log line, its time left out
    # the same requests twice give the same text: nothing that varies is left in
    assert ingest_snapshot.snapshot(corpus)[0] == lines


def test_live_cost_reports_billed_units_and_what_the_day_leaves_stored() -> None:
    result = bench_live_cost(base={"agents": 2, "calls": 3, "outbound": 1}, factors=(1,), batch_sizes=(1,))
    (run,) = result["runs"]
    assert _positive(run["billed_write_units_per_callback"])
    stored = run["stored_bytes_per_callback"]
    # every stored event takes an index entry in ByCmdDay at least, 100 bytes each besides the item
    assert stored["EventsTable ByCmdDay"] > 100
    assert stored["EventsTable"] > stored["EventsTable ByCmdDay"]
    assert _positive(stored["ReportsTable"])
    rows = [row.metric for row in report.live_cost_rows(result)]
    assert any(metric.startswith("8 bytes stored per callback, 1× day") for metric in rows)
