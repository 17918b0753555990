"""The callback use case over an in-memory store: auth, quarantine, idempotency, keys."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from acd_hub import keys
from acd_hub.errors import Forbidden, Invalid, StoreUnavailable, Unauthorized
from acd_hub.ingest import CallbackIngest
from acd_hub.items import event_key
from acd_hub.settings import HubSettings
from tests.support import TOKEN, MemoryStore, callback_ingest
from tests.support import callback_request as request

AGENTSTATE = "cmd=agentstate&agentid=100001&mode=0&state=connected&eventtime=1763629200000&taskid=AB12"


def test_stores_agentstate_under_agent_day_and_call_index(ingest: CallbackIngest, store: MemoryStore) -> None:
    stored = ingest.handle(request(AGENTSTATE))
    assert (stored.cmd, stored.duplicate) == ("agentstate", False)
    (item,) = store.events.values()
    assert item["pk"] == "AGENT#100001#2025-11-20"
    assert item["sk"] == f"2025-11-20T09:00:00.000Z#{stored.event_key}"
    assert item["gsi2pk"] == "CALL#ab12"
    assert "gsi1pk" not in item
    assert item["gsi3pk"].startswith("CMD#agentstate#2025-11-20#")
    assert item["raw"]["taskid"] == "AB12"
    assert item["data"]["taskid"] == "ab12"
    assert item["received_at"] == "2025-11-20T09:00:05.000Z"


def test_same_event_three_times_is_stored_once(ingest: CallbackIngest, store: MemoryStore) -> None:
    outcomes = [ingest.handle(request(AGENTSTATE)).outcome for _ in range(3)]
    # parameter order and name case do not make a different event
    reordered = "STATE=connected&eventtime=1763629200000&taskid=AB12&mode=0&agentid=100001&cmd=agentstate"
    outcomes.append(ingest.handle(request(reordered)).outcome)
    assert outcomes == ["stored", "duplicate", "duplicate", "duplicate"]
    assert len(store.events) == 1


def test_token_by_path_query_or_body(ingest: CallbackIngest) -> None:
    assert ingest.handle(request(AGENTSTATE)).outcome == "stored"
    assert ingest.handle(request(f"{AGENTSTATE}&token={TOKEN}", path_token=None)).outcome == "duplicate"
    body = f"{AGENTSTATE}&token=second-token".encode()
    assert (
        ingest.handle(
            request(
                body=body, content_type="application/x-www-form-urlencoded", method="PUT", path_token=None
            )
        ).outcome
        == "duplicate"
    )


@pytest.mark.parametrize(
    ("token", "query"), [(None, AGENTSTATE), ("wrong", AGENTSTATE), (None, "token=&cmd=x")]
)
def test_bad_tokens_are_unauthorized_and_not_kept(
    ingest: CallbackIngest, store: MemoryStore, token: str | None, query: str
) -> None:
    with pytest.raises(Unauthorized):
        ingest.handle(request(query, path_token=token))
    assert not store.events
    assert not store.rejected


def test_source_allow_list(store: MemoryStore) -> None:
    settings = HubSettings(callback_tokens=[TOKEN], allowed_source_cidrs="198.51.100.0/24, 2001:db8::/32")
    ingest = callback_ingest(settings, store)
    assert ingest.handle(request(AGENTSTATE, source_ip="198.51.100.20")).outcome == "stored"
    for outsider in ("203.0.113.7", "not-an-ip"):
        with pytest.raises(Forbidden):
            ingest.handle(request(AGENTSTATE, source_ip=outsider))


def test_an_ipv4_address_written_as_ipv6_is_that_address_for_the_allow_list(store: MemoryStore) -> None:
    settings = HubSettings(callback_tokens=[TOKEN], allowed_source_cidrs="198.51.100.0/24")
    ingest = callback_ingest(settings, store)
    assert ingest.handle(request(AGENTSTATE, source_ip="::ffff:198.51.100.20")).outcome == "stored"
    with pytest.raises(Forbidden):
        ingest.handle(request(AGENTSTATE, source_ip="::ffff:203.0.113.7"))


def test_bad_input_is_quarantined_with_reason_and_token_redacted(
    ingest: CallbackIngest, store: MemoryStore
) -> None:
    query = f"cmd=agentstate&agentid=12345&mode=0&state=online&eventtime=1763629200000&token={TOKEN}"
    with pytest.raises(Invalid) as caught:
        ingest.handle(request(query))
    assert [e.parameter for e in caught.value.errors] == ["agentid"]
    (kept,) = store.rejected
    assert kept["kind"] == "rejected"
    assert kept["reason"] == "agentid: must be a 6-digit agent number"
    assert kept["pk"].startswith("REJECTED#2025-11-20#")
    assert kept["path"] == "/callback/***"
    assert TOKEN not in str(kept)
    assert "token=***" in kept["query"]
    assert kept["received_at"] == "2025-11-20T09:00:05.000Z"
    assert not store.events


def test_bad_body_is_quarantined_too(ingest: CallbackIngest, store: MemoryStore) -> None:
    with pytest.raises(Invalid) as caught:
        ingest.handle(request(body=b"{broken", content_type="application/json", method="PUT"))
    assert caught.value.errors[0].parameter == "body"
    assert store.rejected[0]["body"] == "{broken"


def test_store_down_is_store_unavailable_and_nothing_partial(
    ingest: CallbackIngest, store: MemoryStore
) -> None:
    store.down = True
    with pytest.raises(StoreUnavailable):
        ingest.handle(request(AGENTSTATE))
    store.down = False
    assert ingest.handle(request(AGENTSTATE)).outcome == "stored"


def test_callevent_key_is_its_id_and_lands_in_the_call(ingest: CallbackIngest, store: MemoryStore) -> None:
    stored = ingest.handle(
        request(
            "cmd=callevent&id=42&taskid=ff01&eventtype=Connected&eventtime=2025-11-20+10:00:00&agentid=100002"
        )
    )
    assert stored.event_key == "ce-42"
    (item,) = store.events.values()
    assert item["pk"] == "CALL#ff01"
    assert item["gsi1pk"] == keys.agent_day_pk("100002", "2025-11-20")


def test_config_and_schedule_partitions(ingest: CallbackIngest, store: MemoryStore) -> None:
    config = ingest.handle(request("cmd=configchanged&action=update&type=agent&eventtime=1763629200000"))
    ingest.handle(request("cmd=schedulecallevent&scheduleid=9&eventtime=1763629200000&agentid=7"))
    pks = {item["pk"] for item in store.events.values()}
    assert pks == {f"EVENT#{config.event_key}", "SCHEDULE#9"}


def test_event_key_ignores_token_and_is_stable() -> None:
    from acd_hub.models import ParseContext, parse_callback  # noqa: PLC0415

    params = {"cmd": "enqueuecall", "taskid": "ab", "eventtime": "1763629200000"}
    event = parse_callback(params, ParseContext(HubSettings().acd_zone))
    assert event_key(event, params) == event_key(event, {**params, "token": "x"})
    assert event_key(event, params) != event_key(event, {**params, "agent": "100001"})


def test_day_is_the_reporting_zone_day(store: MemoryStore) -> None:
    settings = HubSettings(callback_tokens=[TOKEN])
    ingest = callback_ingest(settings, store)
    # 23:30 UTC on the 19th is already the 20th in Berlin
    ingest.handle(request("cmd=agentstate&agentid=100001&mode=0&state=online&eventtime=1763595000000"))
    (item,) = store.events.values()
    assert item["day"] == "2025-11-20"


def test_retention_writes_ttl(store: MemoryStore) -> None:
    settings = HubSettings(callback_tokens=[TOKEN], retention_days=30)
    ingest = callback_ingest(settings, store)
    ingest.handle(request(AGENTSTATE))
    (item,) = store.events.values()
    assert item["ttl"] == int(datetime(2025, 12, 20, 9, 0, tzinfo=UTC).timestamp())


def test_an_event_keeps_every_parameter_as_sent_each_once() -> None:
    """``raw`` keeps what ``data`` does not show as sent (a time, an upper-case task id, a name
    in another case); together they give back every parameter of a simulated day's callbacks."""
    from acd_hub.events import parameters_as_sent  # noqa: PLC0415
    from acd_hub.fields import ParseContext  # noqa: PLC0415
    from acd_hub.items import event_items  # noqa: PLC0415
    from acd_hub.models import parse_callback  # noqa: PLC0415
    from acd_sim.day import generate_day  # noqa: PLC0415
    from acd_sim.model import SimConfig  # noqa: PLC0415

    settings = HubSettings()
    context = ParseContext(settings.acd_zone)
    for sim_event in generate_day(SimConfig(date(2025, 11, 20), seed=7, agents=4, calls=25, outbound=5)):
        params = sim_event.params
        item = event_items(parse_callback(params, context), params, settings, datetime.now(UTC)).event
        assert parameters_as_sent(item) == params
        assert len(item["raw"]) < len(params), "a value data shows as sent is not stored twice"


def test_an_event_stored_whole_before_reads_as_it_was() -> None:
    from acd_hub.events import parameters_as_sent  # noqa: PLC0415

    old = {"schema_version": 1, "data": {"state": "online"}, "raw": {"state": "online", "cmd": "agentstate"}}
    assert parameters_as_sent(old) == {"state": "online", "cmd": "agentstate"}
