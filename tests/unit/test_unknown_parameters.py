"""Issue 18, item 5: a parameter the cmd does not list is stored (200) but named back in the
answer with the known name it is closest to, counted as a metric, kept with the event for
``acd-report warnings``, and never written to the log by name."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from acd_hub.ingest import CallbackIngest
from acd_hub.settings import HubSettings
from acd_hub.unknown_parameters import MAX_WARNINGS, UnknownParameter, known_parameters
from tests.support import (
    TOKEN,
    MemoryStore,
    callback_ingest,
    function_log,
    ingest_answer,
)
from tests.support import callback_request as request

PAUSED = "cmd=agentstate&agentid=100001&mode=0&state=paused&eventtime=1763629200000"


def test_a_misspelled_parameter_is_stored_and_named_with_the_closest_known_one(
    ingest: CallbackIngest, store: MemoryStore
) -> None:
    stored = ingest.handle(request(f"{PAUSED}&pausereason=Kaffee"))
    assert stored.outcome == "stored"
    assert stored.warnings == (UnknownParameter("pausereason", "pause-reason"),)
    (item,) = store.events.values()
    assert item["data"]["extra"] == {"pausereason": "Kaffee"}  # kept, as before
    assert item["warnings"] == [{"parameter": "pausereason", "closest": "pause-reason"}]
    # a second delivery is a duplicate, and says the same
    assert ingest.handle(request(f"{PAUSED}&pausereason=Kaffee")).warnings == stored.warnings


def test_each_unknown_parameter_is_named_and_one_like_nothing_has_no_closest(ingest: CallbackIngest) -> None:
    stored = ingest.handle(request(f"{PAUSED}&hotlinid=501&zzqx=1&Pause-Reasn=Mittag"))
    assert stored.warnings == (
        UnknownParameter("hotlinid", "hotlineid"),
        UnknownParameter("pause-reasn", "pause-reason"),
        UnknownParameter("zzqx", None),
    )


def test_known_parameters_and_the_token_are_no_warning(ingest: CallbackIngest, store: MemoryStore) -> None:
    stored = ingest.handle(request(f"{PAUSED}&pause-reason=Kaffee&token={TOKEN}", path_token=None))
    assert stored.warnings == ()
    (item,) = store.events.values()
    assert "warnings" not in item


def test_every_cmd_knows_its_own_parameters() -> None:
    assert "pause-reason" in known_parameters("agentstate")
    assert {"customernumber", "cmd", "token"} <= set(known_parameters("callevent"))
    assert "pause-reason" not in known_parameters("callevent")


def test_the_warnings_are_bounded(ingest: CallbackIngest) -> None:
    many = "&".join(f"extra{n:03d}=1" for n in range(MAX_WARNINGS + 15))
    assert len(ingest.handle(request(f"{PAUSED}&{many}")).warnings) == MAX_WARNINGS


def resolve(settings: HubSettings, target: str) -> dict[str, Any]:
    return ingest_answer(callback_ingest(settings, MemoryStore()), target, "203.0.113.9")


def test_the_answer_is_200_with_warnings_and_a_metric_counts_them(
    capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    from tests.support import ingest_module  # noqa: PLC0415

    settings = HubSettings(callback_tokens=[TOKEN])
    caplog.set_level(logging.DEBUG)
    with function_log(ingest_module()) as log:
        answer = resolve(
            settings, f"/callback/{TOKEN}?{PAUSED}&pausereason=Kaffee&callingnumbr=%2B4922112345678"
        )
    assert answer["statusCode"] == 200
    body = json.loads(answer["body"])
    assert body["status"] == "stored"
    assert [(w["parameter"], w["closest"]) for w in body["warnings"]] == [
        ("callingnumbr", "callingnumber"),
        ("pausereason", "pause-reason"),
    ]
    assert "did you mean pause-reason?" in body["warnings"][1]["message"]
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert [line["UnknownParameters"] for line in emf if "UnknownParameters" in line] == [[2.0]]
    logged = log.getvalue() + caplog.text
    assert '"unknown_parameters": 2' in logged or '"unknown_parameters":2' in logged
    # names and values are any text the ACD sent (here a phone number): not in the log
    for sent in ("pausereason", "callingnumbr", "Kaffee", "4922112345678"):
        assert sent not in logged

    clean = resolve(settings, f"/callback/{TOKEN}?{PAUSED}&pause-reason=Kaffee")
    assert clean["statusCode"] == 200
    assert "warnings" not in json.loads(clean["body"])
    assert not [line for line in capsys.readouterr().out.splitlines() if "UnknownParameters" in line]
