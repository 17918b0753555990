"""The KPI table (``acd_hub.kpis``): each counter's share of a call and each formula, against
figures worked out by hand; and every view derived from the table, so that a new KPI is a row
there and a test here, and nothing else has to learn it."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest

from acd_cli import labels, report_figures
from acd_cli.report_models import KPI_NAMES, KpiFigures
from acd_hub import kpis
from acd_hub.kpis import OfferedCall


def call(
    outcome: str,
    wait: int | None = None,
    talk: int | None = None,
    hold: int | None = None,
    acw: int | None = None,
) -> OfferedCall:
    return OfferedCall(outcome, wait, talk, hold, acw)


def test_an_answered_call_adds_its_waits_and_handling_in_milliseconds() -> None:
    shares = kpis.call_counters(call("answered", wait=20_000, talk=100_000, hold=10_000, acw=30_000), 20)
    assert shares == {
        "offered": 1,
        "answered": 1,
        "answered_within_sl": 1,  # exactly at the threshold is within
        "wait_ms": 20_000,
        "talked": 1,
        "talk_ms": 100_000,
        "hold_ms": 10_000,
        "handle_ms": 140_000,
    }


def test_one_millisecond_over_the_service_level_is_not_within() -> None:
    assert "answered_within_sl" not in kpis.call_counters(call("answered", wait=20_001, talk=1), 20)


def test_an_answered_call_with_an_unknown_wait_is_untimed_and_outside_the_asa() -> None:
    shares = kpis.call_counters(call("answered", wait=None, talk=5_000), 20)
    assert shares["answered_untimed"] == 1
    assert "wait_ms" not in shares
    assert "answered_within_sl" not in shares
    figures = kpis.figures(shares, None)
    assert figures["asa_s"] is None  # no timed answer: nothing to average
    assert figures["aht_s"] == 5


def test_an_answered_call_whose_talk_is_unknown_is_not_in_the_handling_figures() -> None:
    shares = kpis.call_counters(call("answered", wait=3_000, talk=None, hold=2_000, acw=9_000), 20)
    assert not {"talked", "talk_ms", "hold_ms", "handle_ms"} & shares.keys()


@pytest.mark.parametrize("outcome", ["abandoned", "rejected", "badcall", "mailbox", "forwarded"])
def test_an_unanswered_call_counts_its_outcome_and_nothing_else(outcome: str) -> None:
    assert kpis.call_counters(call(outcome, wait=9_000, talk=1_000), 20) == {"offered": 1, outcome: 1}


def test_formulas_over_summed_counters() -> None:
    totals: dict[str, int] = {}
    for each in (
        call("answered", wait=20_000, talk=100_000, hold=10_000, acw=30_000),
        call("answered", wait=21_000, talk=200_000, hold=0, acw=0),
        call("abandoned"),
        call("mailbox"),
    ):
        for name, value in kpis.call_counters(each, 20).items():
            totals[name] = totals.get(name, 0) + value
    figures = kpis.figures(totals, 21_000)
    assert figures == {
        "offered": 4,
        "answered": 2,
        "abandoned": 1,
        "rejected": 0,
        "badcall": 0,
        "mailbox": 1,
        "forwarded": 0,
        "answered_within_sl": 1,
        "service_level_pct": 33.33,  # 1 of 3 answered or abandoned
        "abandon_rate_pct": 33.33,
        "asa_s": 20.5,
        "max_wait_s": 21,
        "aht_s": 170,
        "avg_talk_s": 150,
        "avg_hold_s": 5,
    }


def test_ratios_and_means_over_nothing_are_none_never_zero() -> None:
    figures = kpis.figures({}, None)
    assert {kpi.name for kpi in kpis.KPIS if kpi.unit != "count"} == {
        name for name, value in figures.items() if value is None
    }
    assert all(figures[kpi.name] == 0 for kpi in kpis.KPIS if kpi.unit == "count")


def test_every_view_of_the_kpis_is_derived_from_the_table() -> None:
    names = [kpi.name for kpi in kpis.KPIS]
    assert len(set(names)) == len(names)
    assert list(KPI_NAMES) == names  # acd-report's models, and so the JSON keys
    assert list(KpiFigures.of_counters({}, None).as_dict()) == names
    assert [(k.name, k.label, k.header, k.unit) for k in labels.KPIS] == [
        (k.name, k.label, k.header, k.unit) for k in kpis.KPIS
    ]
    assert [column.header for column in report_figures.KPI_CSV_COLUMNS] == ["start", *names]
    table = [column.header for column in report_figures.kpi_columns(ZoneInfo("Europe/Berlin"))]
    assert table == ["start", *(kpi.header for kpi in kpis.KPIS)]


def test_the_counters_are_the_reports_counters_in_one_order() -> None:
    # the adapter stores and the rebuild corrects exactly these, by name
    assert len(set(kpis.COUNTER_NAMES)) == len(kpis.COUNTER_NAMES)
    shares = kpis.call_counters(call("answered", wait=1, talk=1, hold=1, acw=1), 20)
    assert set(shares) <= set(kpis.COUNTER_NAMES)


def test_figures_refuse_a_name_the_table_does_not_define() -> None:
    with pytest.raises(TypeError, match="typo_pct"):
        KpiFigures(**dict.fromkeys(KPI_NAMES, 0), typo_pct=1.0)
    with pytest.raises(TypeError, match="offered"):
        KpiFigures(**{name: 0 for name in KPI_NAMES if name != "offered"})
