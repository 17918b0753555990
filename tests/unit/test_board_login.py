"""The board on AWS (BoardLogin=true): the real ``functions/board/app.py`` behind API Gateway's JWT
authorizer as the template configures it (its identity source, issuer and audience, resolved for
a user pool and client of our own), emulated by :mod:`acd_devkit.jwt_authorizer` with a JWKS of a
key made here. A request without a valid token never reaches the function (401); with one it gets
the wallboard and the day report of ``acd-report serve``, read from a day the real aggregators
wrote, and the function uses no DynamoDB action the template does not grant it: ``Query`` and
``GetItem`` on the reports table.

The deployed counterpart, with MiniStack's Cognito and JWT authorizer, is tests/deploy/test_board_login.py.
"""

from __future__ import annotations

import json
import logging
import random
import re
import sys
import time
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from acd_devkit.jwt_authorizer import JwtAuthorizer
from acd_devkit.memory_dynamodb import Faults, MemoryDynamoDB
from acd_devkit.memory_stream import StreamRun, mappings
from acd_devkit.template import dynamodb_tables, load_template, resolve
from acd_local.lambda_runtime import HttpRequest, Route, build_http_api_event, load_handler, match_route
from tests.support import (
    FUNCTION_ENVIRONMENT,
    Harness,
    lambda_context,
    patched_env,
    random_day,
    stream_functions,
)
from tests.unit.test_grants_in_use import RecordingClient, granted

TEMPLATE = load_template()
BOARD_CODE = Path(__file__).resolve().parents[2] / "functions" / "board"
REGION = "eu-central-1"
POOL = "eu-central-1_Board0001"
CLIENT = "boardclient0000000000000001"
ISSUER = f"https://cognito-idp.{REGION}.amazonaws.com/{POOL}"
DAY = date(2026, 11, 20)
HOTLINES = ("501", "502")


def board_authorizer(keys: KeySet) -> JwtAuthorizer:
    """The template's BoardLogin authorizer, its intrinsics resolved for our pool and client."""
    api = TEMPLATE["Resources"]["BoardApi"]["Properties"]
    spec = api["Auth"]["Authorizers"][api["Auth"]["DefaultAuthorizer"]]
    refs = {"AWS::Region": REGION, "BoardUserPool": POOL, "BoardUserPoolClient": CLIENT}
    return JwtAuthorizer(
        identity_source=spec["IdentitySource"],
        issuer=resolve(spec["JwtConfiguration"]["issuer"], refs),
        audience=[resolve(a, refs) for a in spec["JwtConfiguration"]["audience"]],
        keys=keys,
    )


def routes() -> list[Route]:
    events = TEMPLATE["Resources"]["BoardFunction"]["Properties"]["Events"]
    return [
        Route(e["Properties"]["Method"], e["Properties"]["Path"], "BoardFunction") for e in events.values()
    ]


@pytest.fixture(scope="module")
def signing_key() -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": "board-key-1", "alg": "RS256", "use": "sig"})


@pytest.fixture(scope="module")
def jwks(signing_key: RSAKey) -> KeySet:
    """What the pool's jwks_uri would answer: the public half only."""
    return KeySet([RSAKey.import_key(signing_key.as_dict(private=False))])


def access_token(key: RSAKey, **changes: Any) -> str:
    """A token shaped as Cognito's access token: client_id, no aud."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": "0f5c-supervisor",
        "iss": ISSUER,
        "client_id": CLIENT,
        "token_use": "access",
        "scope": "aws.cognito.signin.user.admin",
        "auth_time": now,
        "iat": now,
        "exp": now + 3600,
        "username": "supervisor@example.com",
    }
    claims.update(changes)
    claims = {name: value for name, value in claims.items() if value is not None}
    header = {"alg": "RS256", "kid": key.kid}
    return jwt.encode(header, claims, key)


@pytest.fixture(scope="module")
def board() -> Iterator[tuple[ModuleType, RecordingClient]]:
    """The board function over a day the real aggregators wrote, its client recording."""
    db = MemoryDynamoDB(dynamodb_tables(TEMPLATE), shards=2)
    harness = Harness(db)
    sent = random_day(random.Random(18), DAY)
    with stream_functions(db) as functions:
        run = StreamRun(
            db,
            harness.settings.events_table,
            {name: (mappings()[name], handler) for name, handler in functions.items()},
        )
        run.drain(producer=lambda: [harness.store_event(params) for params in sent])
        assert run.drained()
    recording = RecordingClient(db)
    import acd_hub.aws  # noqa: PLC0415

    saved = acd_hub.aws.dynamodb_client
    acd_hub.aws.dynamodb_client = lambda *_, **__: recording  # type: ignore[assignment]
    environment = {**FUNCTION_ENVIRONMENT, "ACD_BOARD_HOTLINES": ",".join(HOTLINES)}
    try:
        with patched_env(environment):
            handler = load_handler(BOARD_CODE, "app.lambda_handler")
        yield sys.modules[handler.__module__], recording
    finally:
        acd_hub.aws.dynamodb_client = saved


def call(module: ModuleType, authorizer: JwtAuthorizer, target: str, **headers: str) -> dict[str, Any]:
    http = HttpRequest("GET", target, [("Host", "board.example"), *headers.items()], b"", "203.0.113.7")
    found = match_route(routes(), "GET", http.path)
    assert found, target
    route, params = found
    event = build_http_api_event(http, route, params)
    answer: dict[str, Any] = authorizer(module.lambda_handler)(event, lambda_context())
    return answer


Ask = Callable[..., dict[str, Any]]


@pytest.fixture
def ask(board: tuple[ModuleType, RecordingClient], jwks: KeySet) -> Ask:
    """``ask(target, **headers)``: a GET to the board function behind its login (the JWT
    authorizer over the pool's keys), answered as API Gateway answers it."""
    module, _ = board
    authorizer = board_authorizer(jwks)
    return lambda target, **headers: call(module, authorizer, target, **headers)


def test_the_board_routes_are_those_of_serve_and_all_behind_the_login() -> None:
    api = TEMPLATE["Resources"]["BoardApi"]["Properties"]
    assert {(r.method, r.path) for r in routes()} == {
        ("GET", "/"),
        ("GET", "/api/wallboard"),
        ("GET", "/report"),
    }
    assert api["Auth"]["DefaultAuthorizer"] == "BoardLogin"
    for event in TEMPLATE["Resources"]["BoardFunction"]["Properties"]["Events"].values():
        assert event["Properties"]["ApiId"] == {"Ref": "BoardApi"}  # not the callback API
        assert "Auth" not in event["Properties"]  # no route opts out of the default authorizer


@pytest.mark.parametrize("target", ["/", "/api/wallboard", "/report?day=2026-11-20"])
def test_without_a_token_401_and_the_function_never_runs(
    board: tuple[ModuleType, RecordingClient], ask: Ask, target: str
) -> None:
    _, recording = board
    before = set(recording.used)
    recording.used.clear()
    answer = ask(target)
    assert answer["statusCode"] == 401
    assert json.loads(answer["body"]) == {"message": "Unauthorized"}
    assert recording.used == set()
    recording.used |= before


def refused_tokens(key: RSAKey) -> dict[str, str]:
    other = RSAKey.generate_key(
        2048, parameters={"kid": key.kid, "alg": "RS256"}
    )  # same kid, not the pool's key
    now = int(time.time())
    return {
        "expired": access_token(key, iat=now - 7200, exp=now - 60),
        "another issuer": access_token(
            key, iss=f"https://cognito-idp.{REGION}.amazonaws.com/eu-central-1_Other"
        ),
        "another client": access_token(key, client_id="someoneelse"),
        "aud of another client wins over client_id": access_token(key, aud="someoneelse"),
        "not yet valid": access_token(key, nbf=now + 600),
        "signed by another key": access_token(other),
        "no expiry": access_token(key, exp=None),
        "garbage": "not-a-jwt",
    }


def test_an_invalid_token_is_refused(ask: Ask, signing_key: RSAKey) -> None:
    for why, token in refused_tokens(signing_key).items():
        answer = ask(f"/api/wallboard?access_token={token}")
        assert answer["statusCode"] == 401, why


def test_a_header_is_not_where_the_board_looks(ask: Ask, signing_key: RSAKey) -> None:
    """One identity source: the query parameter (a wall screen's browser sets no header)."""
    answer = ask("/api/wallboard", Authorization=f"Bearer {access_token(signing_key)}")
    assert answer["statusCode"] == 401


def test_with_a_valid_token_the_wallboard(ask: Ask, signing_key: RSAKey) -> None:
    token = access_token(signing_key)
    page = ask(f"/?access_token={token}")
    assert page["statusCode"] == 200
    assert page["headers"]["Content-Type"].startswith("text/html")
    assert "<h1>Wallboard" in page["body"]
    # the page carries its query (the token) on to its reads
    assert 'fetch("/api/wallboard" + PAGE_QUERY' in page["body"]
    figures = ask(f"/api/wallboard?access_token=Bearer%20{token}")
    assert figures["statusCode"] == 200
    shown = json.loads(figures["body"])
    assert [h["hotline"] for h in shown["hotlines"]] == list(HOTLINES)
    assert shown["agents"], "the day's agents are on the board"


def test_an_id_token_of_the_client_is_taken_too(ask: Ask, signing_key: RSAKey) -> None:
    token = access_token(signing_key, client_id=None, aud=CLIENT, token_use="id")
    assert ask(f"/api/wallboard?access_token={token}")["statusCode"] == 200


def test_with_a_valid_token_the_day_report(ask: Ask, signing_key: RSAKey) -> None:
    token = access_token(signing_key)
    answer = ask(f"/report?day={DAY}&access_token={token}")
    assert answer["statusCode"] == 200, answer["body"][:300]
    for hotline in HOTLINES:
        assert f'data-hotline="{hotline}"' in answer["body"]
    bad = ask(f"/report?day=2026-13-01&access_token={token}")
    assert bad["statusCode"] == 400
    assert json.loads(bad["body"])["error"].startswith("day: ")  # the parameter, not acd-report's --day


def test_the_board_links_to_no_page_it_does_not_serve(ask: Ask, signing_key: RSAKey) -> None:
    """serve's hotlines link to their calls (/calls); the board has no such route, so its links
    were dead ends (API Gateway's 404)."""
    token = access_token(signing_key)
    shown = json.loads(ask(f"/api/wallboard?access_token={token}")["body"])
    assert [h["calls_href"] for h in shown["hotlines"]] == [None] * len(HOTLINES)
    report = ask(f"/report?day={DAY}&access_token={token}")["body"]
    served = {route.path for route in routes()}
    for page in (ask(f"/?access_token={token}")["body"], report):
        links = re.findall(r'href="(/[^"?]*)', page)
        assert set(links) <= served, links
    assert "data-calls-link" not in report


def test_too_many_day_reports_being_built_is_a_503_saying_so(
    board: tuple[ModuleType, RecordingClient], ask: Ask, signing_key: RSAKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    module, _ = board

    def busy(*_: Any) -> None:
        raise module.ReportsBusy("4 day reports are being built; try again when they are done")

    monkeypatch.setattr(module.wallboard, "day_report", busy)
    answer = ask(f"/report?day={DAY}&access_token={access_token(signing_key)}")
    assert answer["statusCode"] == 503
    assert "try again" in json.loads(answer["body"])["error"]


def test_without_board_hotlines_a_day_without_calls_is_served_too(
    board: tuple[ModuleType, RecordingClient], ask: Ask, signing_key: RSAKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    """BoardHotlines empty (agents only): a day the reports list no hotline for was looked up in
    the events table, which the board has no listing of: an AttributeError, a 500 for the day
    report and for every refresh of the wallboard until the day's first call."""
    module, _ = board
    monkeypatch.setattr(module, "settings", module.settings.model_copy(update={"board_hotlines": []}))
    monkeypatch.setattr(module, "wallboard", module.Wallboard(module.report, drilldown=False))
    token = access_token(signing_key)
    quiet = ask(f"/report?day=2026-01-01&access_token={token}")
    assert quiet["statusCode"] == 200, quiet["body"][:300]
    assert "data-hotline=" not in quiet["body"]
    figures = ask(f"/api/wallboard?access_token={token}")  # today: no call in the fixture's tables
    assert figures["statusCode"] == 200, figures["body"][:300]
    assert json.loads(figures["body"])["hotlines"] == []
    busy = ask(f"/report?day={DAY}&access_token={token}")  # the reports list that day's hotlines
    assert all(f'data-hotline="{hotline}"' in busy["body"] for hotline in HOTLINES)


def test_the_board_reads_with_its_grants_only(
    board: tuple[ModuleType, RecordingClient], ask: Ask, signing_key: RSAKey
) -> None:
    _, recording = board
    token = access_token(signing_key)
    for target in ("/", "/api/wallboard", f"/report?day={DAY}", f"/report?day={DAY}&agent=100001"):
        assert ask(f"{target}{'&' if '?' in target else '?'}access_token={token}")["statusCode"] == 200
    used = {
        ("ReportsTable" if table == "ReportsTable" else table, action) for table, action in recording.used
    }
    assert used, "the board read nothing"
    assert (
        used
        <= granted("BoardFunction")
        == {
            ("ReportsTable", "dynamodb:Query"),
            ("ReportsTable", "dynamodb:GetItem"),
            ("ReportsTable", "dynamodb:BatchGetItem"),
        }
    )


def test_without_board_hotlines_the_board_finds_the_days_hotlines_in_the_reports_table(
    board: tuple[ModuleType, RecordingClient],
) -> None:
    """BoardHotlines empty (the default): not agents only, but the day's hotlines with KPIs, from
    the reports table's listing of the day (``HOTLINES#<day>``), within the board's grants."""
    from acd_cli.wallboard import Wallboard  # noqa: PLC0415

    module, recording = board
    before = set(recording.used)
    recording.used.clear()
    found = Wallboard(module.report, hotlines=())._day_hotlines(str(DAY))
    assert set(HOTLINES) <= set(found)
    assert recording.used == {("ReportsTable", "dynamodb:Query")}
    recording.used |= before


def test_without_board_hotlines_a_day_with_no_calls_yet_is_agents_only(
    board: tuple[ModuleType, RecordingClient],
) -> None:
    """BoardHotlines empty and a day the reports table lists no hotline for (every morning before
    the first call, a day aggregated before that listing): the board has no events table to fall
    back on, so no hotlines, and the wallboard is still served."""
    from acd_cli.wallboard import Wallboard  # noqa: PLC0415

    module, _ = board
    wallboard = Wallboard(module.report, hotlines=())
    assert wallboard._day_hotlines("2026-11-21") == []
    assert wallboard.snapshot()["hotlines"] == []


@pytest.mark.parametrize("faults", [{"throttle": 1.0}, {"unprocessed": 1.0}])
def test_a_throttled_store_is_a_503_saying_so(
    board: tuple[ModuleType, RecordingClient],
    ask: Ask,
    signing_key: RSAKey,
    monkeypatch: pytest.MonkeyPatch,
    faults: dict[str, float],
) -> None:
    """DynamoDB throttling past botocore's retries (or keys left unprocessed past every round)
    reaches the board as the adapters' Throttled, not a ClientError: it was no 503 but an
    unhandled error (API Gateway's 500)."""
    from acd_hub import backoff  # noqa: PLC0415

    module, recording = board
    monkeypatch.setattr(backoff, "sleep", lambda _s: None)
    monkeypatch.setattr(module.wallboard, "_snapshot", None)  # read now, not a second ago
    monkeypatch.setattr(recording._db, "faults", Faults(**faults))
    answer = ask(f"/api/wallboard?access_token={access_token(signing_key)}")
    assert answer["statusCode"] == 503, answer
    error = json.loads(answer["body"])["error"]
    assert re.match(
        r"(ProvisionedThroughputExceeded|Throttling)Exception: |DynamoDB throttled the reads", error
    )


def test_powertools_log_event_setting_does_not_log_the_access_token(caplog: pytest.LogCaptureFixture) -> None:
    # POWERTOOLS_LOGGER_LOG_EVENT=true (a Powertools switch to debug with) logged the whole event,
    # the supervisor's access token in its query string, unless the function says log_event=False.
    caplog.set_level(logging.DEBUG)
    environment = {**FUNCTION_ENVIRONMENT, "POWERTOOLS_LOGGER_LOG_EVENT": "true"}
    with patched_env(environment):
        handler = load_handler(BOARD_CODE, "app.lambda_handler")
    secret = "eyJhbGciOiJSUzI1NiJ9.secret-access-token.signature"
    http = HttpRequest(
        "GET", f"/nowhere?access_token={secret}", [("Host", "board.example")], b"", "203.0.113.7"
    )
    event = build_http_api_event(http, Route(method="ANY", path="$default", function="BoardFunction"), {})
    handler(event, lambda_context())
    assert "nowhere" not in caplog.text
    assert secret not in caplog.text
