"""Settings come from ACD_<NAME> (any case), once, and what a caller passes wins."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from acd_devkit.template import SERVERLESS_FUNCTION, function_environment, load_template, resources_of_type
from acd_hub.settings import HubSettings


def test_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACD_EVENTS_TABLE", "acd-events-prod")
    monkeypatch.setenv("acd_kpi_shards", "9")  # any case, as pydantic-settings read it
    monkeypatch.setenv("ACD_CALLBACK_TOKENS", " first , second,,")
    monkeypatch.setenv("ACD_ALLOWED_SOURCE_CIDRS", "203.0.113.0/24,198.51.100.7")
    monkeypatch.setenv("ACD_ACD_TIMEZONE", "Europe/Vienna")
    monkeypatch.setenv("ACD_NOT_A_SETTING", "ignored")
    settings = HubSettings()
    assert settings.events_table == "acd-events-prod"
    assert settings.kpi_shards == 9
    assert [token.get_secret_value() for token in settings.callback_tokens] == ["first", "second"]
    assert [str(network) for network in settings.source_networks] == ["203.0.113.0/24", "198.51.100.7/32"]
    assert settings.acd_zone.key == "Europe/Vienna"
    assert settings.reports_table == "ReportsTable"  # not set: the default


def test_what_a_caller_passes_wins_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACD_EVENTS_TABLE", "from-env")
    monkeypatch.setenv("ACD_RETENTION_DAYS", "30")
    settings = HubSettings(events_table="given")
    assert (settings.events_table, settings.retention_days) == ("given", 30)


@pytest.mark.parametrize(
    ("name", "value"),
    [("ACD_RETENTION_DAYS", "-1"), ("ACD_CMD_DAY_SHARDS", "0"), ("ACD_ALLOWED_SOURCE_CIDRS", "nonsense")],
)
def test_a_bad_value_stops_the_cold_start(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError):
        HubSettings()


def test_every_acd_variable_of_the_template_is_a_setting() -> None:
    template = load_template()
    names = {
        name
        for function in resources_of_type(template, SERVERLESS_FUNCTION)
        for name in function_environment(template, function)
        if name.startswith("ACD_")
    }
    assert names
    assert {name.removeprefix("ACD_").lower() for name in names} <= set(HubSettings.model_fields)
