"""Sample Lambda events in ``events/`` for ``sam local invoke <Function> -e events/<file>``.

Run ``python -m acd_devkit.sample_events`` to (re)write them; a unit test checks the committed
files equal :func:`build_events`, so they cannot drift from this script.

* ``events/ingest/<cmd>-{get,head,put}.json``: API Gateway HTTP API (payload 2.0) requests to
  ``/callback/{token}`` for each of the eight messages. The shape is the one
  ``sam local generate-event apigateway http-api-proxy`` produces, filled in the way API Gateway
  really delivers it: lower-case header names, no ``queryStringParameters`` without a query
  string, no ``body`` on GET/HEAD, and a form-urlencoded PUT body base64-encoded (HTTP APIs
  base64-encode every body whose content type is not text or JSON). Built by
  :func:`acd_devkit.lambda_events.callback_event`, as the emulator's and the benchmarks' are.
* ``events/ingest/bad-*.json``: requests the ingest function must answer with a 4xx and
  quarantine.
* ``events/fanout/*-insert.json``: DynamoDB stream records (shape of
  ``sam local generate-event dynamodb update``) carrying a stored ``configchanged`` /
  ``broadcastevent`` item as the fan-out function receives it. The items are built by the
  ingest's own code (:func:`acd_hub.items.event_item`) and the stream view type is read from
  ``template.yaml``, so these samples change (and the test asks for a regeneration) when
  either does. Built by :func:`acd_devkit.lambda_events.stream_record`.

``env.json`` (``--env-vars``) is written here too, see :func:`env_vars`.

All values keep to the vendor's constraints (6-digit agents, task ids of at most 24 hex digits,
``eventtime`` in ms since the epoch where it is numeric) and use all three phone formats.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from acd_devkit.lambda_events import (
    ACCOUNT,
    EVENTS_TABLE,
    REGION,
    TOKEN,
    callback_event,
    stream_record,
)
from acd_devkit.template import dynamodb_tables, load_template
from acd_hub.items import event_item
from acd_hub.models import ParseContext, parse_callback
from acd_hub.params import merge_parameters
from acd_hub.settings import HubSettings

ACD_ZONE = ZoneInfo("Europe/Berlin")
CMD_DAY_SHARDS = 8  # the template's default ACD_CMD_DAY_SHARDS

METHODS = ("get", "head", "put")

CUSTOMER = "10042"
# Two agents (ACD agent number, resource id, phone), three calls.
ANNA = ("100123", "5123")
BERND = ("100245", "5245")
CALL_IN = "5f3a9c01b2d4e6f708192a3b"  # inbound, answered by Anna
CALL_HIDDEN = "7c2e4b19a0d3f5e6c8b1a2d4"  # inbound, caller suppressed his number
CALL_OUT = "9e0d44c1a7b3"  # outbound dialer call by Bernd

Params = Sequence[tuple[str, str]]


def local(text: str) -> datetime:
    """``2026-11-20 10:15:30`` in the ACD's zone as an aware datetime."""
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=ACD_ZONE)


def millis(text: str) -> str:
    """``eventtime`` as the ACD sends numeric ones: ms since the epoch."""
    return str(int(local(text).timestamp() * 1000))


# -- the parameters of each sample, in the order and spelling the ACD uses ------------------

SAMPLES: dict[str, Params] = {
    "agentstate-get": [
        ("cmd", "agentstate"),
        ("agentid", ANNA[0]),
        ("mode", "0"),
        ("state", "connected"),
        ("hotline", "Service-Hotline"),
        ("hotlineid", "12"),
        ("group", "1st Level Support"),
        ("groupid", "3"),
        ("callingnumber", "02212601599"),
        ("callednumber", "08001234567"),
        ("eventtime", millis("2026-11-20 10:15:42")),
        ("agentphonenumber", "022112345123"),
        ("taskid", CALL_IN),
        ("customerNumber", CUSTOMER),
        ("agent_id", ANNA[1]),
    ],
    "agentstate-head": [
        ("cmd", "agentstate"),
        ("agentid", BERND[0]),
        ("mode", "1"),
        ("state", "outalerting"),
        ("mandator", "Vertrieb Nord"),
        ("mandatorid", "7"),
        ("callingnumber", "+4922112345245"),
        ("callednumber", "+4940123456789"),
        ("dialer", "1"),
        ("requesttext", "Kampagne Winter 2026"),
        ("eventtime", millis("2026-11-20 10:20:05")),
        ("agentphonenumber", "+4922112345245"),
        ("taskid", CALL_OUT),
        ("customerNumber", CUSTOMER),
        ("agent_id", BERND[1]),
    ],
    "agentstate-put": [
        ("cmd", "agentstate"),
        ("agentid", ANNA[0]),
        ("mode", "0"),
        ("state", "paused"),
        ("pause-reason", "Frühstückspause"),
        ("eventtime", millis("2026-11-20 10:30:00")),
        ("agentphonenumber", "004922112345123"),
        ("customerNumber", CUSTOMER),
        ("agent_id", ANNA[1]),
    ],
    "callevent-get": [
        ("cmd", "callevent"),
        ("id", "880001"),
        ("taskid", CALL_IN),
        ("eventtype", "CallStart"),
        ("eventtime", "2026-11-20 10:15:30"),
        ("hotlineid", "12"),
        ("mode", "0"),
        ("mandatorid", "7"),
        ("callingnumber", "00492212601599"),
        ("callednumber", "00498001234567"),
        ("customerNumber", CUSTOMER),
    ],
    "callevent-head": [
        ("cmd", "callevent"),
        ("id", "880009"),
        ("taskid", CALL_HIDDEN),
        ("eventtype", "Connected"),
        ("eventtime", "2026-11-20 10:16:05"),
        ("hotlineid", "12"),
        ("groupid", "3"),
        ("agentid", BERND[0]),
        ("mode", "0"),
        ("callingnumber", "02212601xxx"),
        ("callednumber", "08001234567"),
        ("agent_id", BERND[1]),
        ("customerNumber", CUSTOMER),
    ],
    "callevent-put": [
        ("cmd", "callevent"),
        ("id", "880017"),
        ("taskid", CALL_IN),
        ("eventtype", "CallEnd"),
        ("eventtime", "2026-11-20 10:19:05"),
        ("hotlineid", "12"),
        ("groupid", "3"),
        ("agentid", ANNA[0]),
        ("mode", "0"),
        ("callingnumber", "+492212601599"),
        ("callednumber", "+498001234567"),
        ("tried", "1"),
        ("connected", "1"),
        ("agent_id", ANNA[1]),
        ("customerNumber", CUSTOMER),
    ],
    "recordedcall-get": [
        ("cmd", "recordedcall"),
        ("taskid", CALL_IN),
        ("agentid", ANNA[0]),
        ("mode", "0"),
        ("eventtime", "2026-11-20 10:15:43"),
        ("agent_id", ANNA[1]),
        ("customerNumber", CUSTOMER),
    ],
    "recordedcall-head": [
        ("cmd", "recordedcall"),
        ("taskid", CALL_HIDDEN),
        ("agentid", BERND[0]),
        ("mode", "0"),
        ("eventtime", "2026-11-20 10:16:06"),
        ("agent_id", BERND[1]),
        ("customerNumber", CUSTOMER),
    ],
    "recordedcall-put": [
        ("cmd", "recordedcall"),
        ("taskid", CALL_OUT),
        ("agentid", BERND[0]),
        ("mode", "1"),
        # the vendor types this "string"; this ACD happens to send ms
        ("eventtime", millis("2026-11-20 10:20:31")),
        ("agent_id", BERND[1]),
        ("customerNumber", CUSTOMER),
    ],
    "classificationevent-get": [
        ("cmd", "classificationevent"),
        ("callid", CALL_IN),
        ("timestamp", "2026-11-20 10:19:40"),
        ("agent", ANNA[0]),
        ("classificationreason", "Vertragsfrage"),
        ("hotlineid", "12"),
        ("classificationcategoryid", "4"),
        ("mode", "0"),
        ("agent_id", ANNA[1]),
        ("customerNumber", CUSTOMER),
        ("eventtime", millis("2026-11-20 10:19:40")),
    ],
    "classificationevent-head": [
        ("cmd", "classificationevent"),
        ("callid", CALL_OUT),
        ("timestamp", "2026-11-20 10:24:12"),
        ("agent", BERND[0]),
        ("classificationreason", "Termin vereinbart"),
        ("mandatorid", "7"),
        ("classificationcategoryid", "9"),
        ("mode", "1"),
        ("agent_id", BERND[1]),
        ("customerNumber", CUSTOMER),
        ("eventtime", millis("2026-11-20 10:24:12")),
    ],
    "classificationevent-put": [
        ("cmd", "classificationevent"),
        ("callid", CALL_HIDDEN),
        ("timestamp", "2026-11-20 10:18:55"),
        ("agent", BERND[0]),
        ("classificationreason", "Rückruf gewünscht"),
        ("hotlineid", "12"),
        ("classificationcategoryid", "5"),
        ("mode", "0"),
        ("agent_id", BERND[1]),
        ("customerNumber", CUSTOMER),
        ("eventtime", millis("2026-11-20 10:18:55")),
    ],
    "enqueuecall-get": [
        ("cmd", "enqueuecall"),
        ("taskid", CALL_IN),
        ("agent", ANNA[0]),
        ("mandatorid", "7"),
        ("agent_id", ANNA[1]),
        ("customerNumber", CUSTOMER),
        ("eventtime", millis("2026-11-20 10:15:31")),
    ],
    "enqueuecall-head": [
        ("cmd", "enqueuecall"),
        ("taskid", CALL_HIDDEN),
        ("agent", BERND[0]),
        ("mandatorid", "7"),
        ("agent_id", BERND[1]),
        ("customerNumber", CUSTOMER),
        ("eventtime", millis("2026-11-20 10:15:58")),
    ],
    "enqueuecall-put": [
        ("cmd", "enqueuecall"),
        ("taskid", "0c41d2a9be"),  # an older ACD's 10-digit task id
        ("agent", ANNA[0]),
        ("mandatorid", "7"),
        ("agent_id", ANNA[1]),
        ("customerNumber", CUSTOMER),
        ("eventtime", millis("2026-11-20 11:02:17")),
    ],
    "schedulecallevent-get": [
        ("cmd", "schedulecallevent"),
        ("scheduleid", "40021"),
        ("agentid", BERND[0]),
        ("callednumber", "0401234567"),
        ("timefrom", "17:20"),
        ("timeto", "18:00"),
        ("weekdays", "1"),
        ("saturday", "0"),
        ("sunday", "0"),
        ("nextretrystartdate", "2026-11-23 17:20"),
        ("nextretryenddate", "2026-11-23 18:00"),
        ("agenttype", "ONLY_AGENT"),
        ("requesttext", "Angebot Festnetz"),
        ("schedulestartdates", "2026-11-23;2026-11-24"),
        ("agent_id", BERND[1]),
        ("customerNumber", CUSTOMER),
        ("eventtime", millis("2026-11-20 10:24:30")),
    ],
    "schedulecallevent-head": [
        ("cmd", "schedulecallevent"),
        ("scheduleid", "40022"),
        ("agentid", ANNA[0]),
        ("callednumber", "+494012345678"),
        ("timefrom", "09:00"),
        ("timeto", "12:30"),
        ("weekdays", "1"),
        ("saturday", "1"),
        ("sunday", "0"),
        ("nextretrystartdate", "2026-11-21 09:00"),
        ("nextretryenddate", "2026-11-21 12:30"),
        ("agenttype", "EVERYONE"),
        ("requesttext", "Kunde bittet um Rueckruf"),
        ("schedulestartdates", "2026-11-21"),
        ("agent_id", ANNA[1]),
        ("customerNumber", CUSTOMER),
        ("eventtime", millis("2026-11-20 10:40:02")),
    ],
    "schedulecallevent-put": [
        ("cmd", "schedulecallevent"),
        ("scheduleid", "40023"),
        ("agentid", BERND[0]),
        ("callednumber", "00494012345678"),
        ("timefrom", "14:00"),
        ("timeto", "16:00"),
        ("weekdays", "1"),
        ("saturday", "0"),
        ("sunday", "0"),
        ("nextretrystartdate", "2026-11-24 14:00"),
        ("nextretryenddate", "2026-11-24 16:00"),
        ("agenttype", "ONLY_AGENT"),
        ("requesttext", "Rückruf zur Kündigung"),
        ("schedulestartdates", "2026-11-24;2026-11-25;2026-11-26"),
        ("agent_id", BERND[1]),
        ("customerNumber", CUSTOMER),
        ("eventtime", millis("2026-11-20 11:05:44")),
    ],
    "configchanged-get": [
        ("cmd", "configchanged"),
        ("action", "edit"),
        ("type", "agent"),
        ("customerNumber", CUSTOMER),
        ("eventtime", millis("2026-11-20 08:02:11")),
    ],
    "configchanged-head": [
        ("cmd", "configchanged"),
        ("action", "assign"),
        ("type", "agent"),
        ("secondtype", "group"),
        ("customerNumber", CUSTOMER),
        ("eventtime", millis("2026-11-20 08:05:47")),
    ],
    "configchanged-put": [
        ("cmd", "configchanged"),
        ("action", "create"),
        ("type", "pause reason"),
        ("customerNumber", CUSTOMER),
        ("eventtime", millis("2026-11-20 08:07:03")),
    ],
    "broadcastevent-get": [
        ("cmd", "broadcastevent"),
        ("admin", "supervisor.koeln"),
        ("groupid", "3"),
        ("message", "Team meeting at 14:00 in room 2"),
        ("customerNumber", CUSTOMER),
        ("eventtime", millis("2026-11-20 09:00:00")),
    ],
    "broadcastevent-head": [
        ("cmd", "broadcastevent"),
        ("admin", "supervisor.koeln"),
        ("groupid", "4"),
        ("message", "Please coordinate breaks today"),
        ("customerNumber", CUSTOMER),
        ("eventtime", millis("2026-11-20 09:01:30")),
    ],
    "broadcastevent-put": [
        ("cmd", "broadcastevent"),
        ("admin", "Jörg Müller"),
        ("groupid", "3"),
        ("message", "Störung im Netz Süd: Rückrufe bitte erst ab 15 Uhr – Grüße"),
        ("customerNumber", CUSTOMER),
        ("eventtime", millis("2026-11-20 13:45:00")),
    ],
    # -- bad input: a 4xx naming the parameter, and the request is quarantined --------------
    "bad-agentid-get": [
        ("cmd", "agentstate"),
        ("agentid", "12345"),
        ("mode", "0"),
        ("state", "online"),
        ("eventtime", millis("2026-11-20 10:00:00")),
        ("customerNumber", CUSTOMER),
    ],
    "bad-missing-cmd-get": [
        ("agentid", ANNA[0]),
        ("mode", "0"),
        ("state", "online"),
        ("eventtime", millis("2026-11-20 10:00:00")),
        ("customerNumber", CUSTOMER),
    ],
    "bad-unknown-cmd-get": [
        ("cmd", "hangupevent"),
        ("taskid", CALL_IN),
        ("eventtime", millis("2026-11-20 10:19:06")),
        ("customerNumber", CUSTOMER),
    ],
}


def _received(params: Params) -> datetime:
    """When API Gateway got the request: 150 ms after the event (callevent: its local time)."""
    values = dict(params)
    text = values.get("eventtime", "")
    moment = (
        datetime.fromtimestamp(int(text) / 1000, tz=UTC) if text.isdigit() else local(text).astimezone(UTC)
    )
    return moment.astimezone(UTC).replace(microsecond=150_000)


def _request_id(name: str) -> str:
    """API Gateway style request id, stable per sample."""
    return base64.b64encode(hashlib.sha256(name.encode()).digest()[:10]).decode()[:14] + "="


def _trace_id(name: str, moment: datetime) -> str:
    return f"Root=1-{int(moment.timestamp()):08x}-{hashlib.sha256(name.encode()).hexdigest()[:24]}"


def http_event(name: str, method: str, params: Params) -> dict[str, Any]:
    """Sample ``name``: the callback with ``params`` by ``method``, ids stable per sample."""
    moment = _received(params)
    return callback_event(
        method, params, request_id=_request_id(name), trace_id=_trace_id(name, moment), now=moment
    )


# -- stream records for the fan-out function -------------------------------------------------


def stored_item(name: str) -> dict[str, Any]:
    """The events-table item the ingest writes for sample ``name`` (its own code, so the stream
    samples match what the fan-out really receives)."""
    return item_for(SAMPLES[name], _received(SAMPLES[name]))


def item_for(pairs: Params, received_at: datetime) -> dict[str, Any]:
    """The events-table item the ingest writes for a valid request with these parameters, under
    the template's default settings (its keys say where to find it)."""
    settings = HubSettings(
        acd_timezone=ACD_ZONE.key,
        report_timezone=ACD_ZONE.key,
        cmd_day_shards=CMD_DAY_SHARDS,
        retention_days=0,
    )
    params = merge_parameters(pairs)
    event = parse_callback(params, ParseContext(settings.acd_zone, settings.default_phone_region))
    return event_item(event, params, settings, received_at)


def stream_view_type() -> str:
    """The events table's ``StreamViewType`` as ``template.yaml`` declares it."""
    table = dynamodb_tables(load_template())[EVENTS_TABLE]
    return str(table["StreamSpecification"]["StreamViewType"])


def stream_event(name: str, item: Mapping[str, Any], view_type: str) -> dict[str, Any]:
    """``{"Records": [one INSERT]}`` as the events table's stream delivers it to Lambda."""
    created = datetime.fromisoformat(str(item["received_at"]))
    record = stream_record(
        item,
        # a shard's sequence numbers as DynamoDB writes them: 28 digits, growing with time
        4421584500000000017450439091 + int(created.timestamp()),
        event_id=hashlib.md5(name.encode(), usedforsecurity=False).hexdigest(),
        view_type=view_type,
    )
    return {"Records": [record]}


def _fanout_events() -> dict[str, dict[str, Any]]:
    view = stream_view_type()
    return {
        "fanout/configchanged-insert.json": stream_event(
            "configchanged-insert", stored_item("configchanged-head"), view
        ),
        "fanout/broadcastevent-insert.json": stream_event(
            "broadcastevent-insert", stored_item("broadcastevent-put"), view
        ),
    }


def build_events() -> dict[str, dict[str, Any]]:
    """Every sample, by its path under ``events/``."""
    events: dict[str, dict[str, Any]] = {}
    for name, params in SAMPLES.items():
        method = name.rsplit("-", 1)[1]
        events[f"ingest/{name}.json"] = http_event(name, method, params)
    events.update(_fanout_events())
    return events


def dumps(event: Mapping[str, Any]) -> str:
    """The committed file text: sorted keys, 2-space indent, UTF-8, trailing newline."""
    return json.dumps(event, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


# -- env.json: the --env-vars of sam local invoke / start-api --------------------------------

# acd-local's moto server (port 5000) as a Lambda container reaches the host. SAM ignores
# `--docker-network host` (SAM CLI 1.170: the container stays on Docker's default bridge, where
# 127.0.0.1 is the container itself), so the endpoint is the host's name as seen from a
# container: Docker Desktop resolves host.docker.internal to the host by itself; a Linux engine
# needs `--add-host host.docker.internal:host-gateway` and a server listening on the bridge
# address (make sam-local-test does exactly that, with a moto server on a free port).
LOCAL_AWS_ENDPOINT = "http://host.docker.internal:5000"


def topic_arn(topic: str) -> str:
    """A topic's ARN on the moto server (topics are named by their logical id there)."""
    return f"arn:aws:sns:{REGION}:{ACCOUNT}:{topic}"


def env_vars(
    aws_endpoint_url: str = LOCAL_AWS_ENDPOINT, topic_arns: Mapping[str, str] | None = None
) -> dict[str, dict[str, str]]:
    """``env.json`` for ``sam local invoke/start-api --env-vars``: per function, values for
    variables the template declares (SAM silently drops any other name, AWS_* included: the
    region comes from ``--region``, the credentials from the shell running sam).

    Tokens come from here instead of SSM, the clients go to ``aws_endpoint_url`` (a moto server)
    and EMF metric lines are switched off.
    """
    topics = {
        "ConfigChangedTopic": topic_arn("ConfigChangedTopic"),
        "BroadcastTopic": topic_arn("BroadcastTopic"),
    }
    topics.update(topic_arns or {})
    common = {
        "ACD_AWS_ENDPOINT_URL": aws_endpoint_url,
        "ACD_EVENTS_TABLE": EVENTS_TABLE,
        "POWERTOOLS_METRICS_DISABLED": "true",
    }
    return {
        "IngestFunction": {**common, "ACD_CALLBACK_TOKENS": TOKEN, "ACD_TOKEN_PARAMETER": ""},
        "FanoutFunction": {
            **common,
            "ACD_CONFIG_TOPIC_ARN": topics["ConfigChangedTopic"],
            "ACD_BROADCAST_TOPIC_ARN": topics["BroadcastTopic"],
        },
    }


def env_json(env: Mapping[str, Mapping[str, str]]) -> str:
    """The committed ``env.json`` text: 2-space indent, functions and names in a fixed order."""
    return json.dumps(env, indent=2, ensure_ascii=False) + "\n"


def write_events(root: Path) -> list[Path]:
    written = []
    for relative, event in sorted(build_events().items()):
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(dumps(event), encoding="utf-8")
        written.append(path)
    return written


def default_root() -> Path:
    """``events/`` of the repository this file lives in (tools/acd_devkit/ -> repo root)."""
    return Path(__file__).resolve().parents[2] / "events"


def default_env_path() -> Path:
    """``env.json`` at the repository root."""
    return default_root().parent / "env.json"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    parser.add_argument(
        "--out", type=Path, default=default_root(), help="target directory (default: events/)"
    )
    parser.add_argument(
        "--env-out", type=Path, default=default_env_path(), help="env.json to write (default: ./env.json)"
    )
    args = parser.parse_args(argv)
    for path in write_events(args.out):
        print(path)
    args.env_out.write_text(env_json(env_vars()), encoding="utf-8")
    print(args.env_out)


if __name__ == "__main__":
    main()
