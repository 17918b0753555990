"""Property-based: no request — any method, path, query, body, content type or encoding —
yields a 5xx or an exception from the callback endpoint, and every 4xx is a JSON error.

The endpoint is the real resolver over an in-memory store, fed the events API Gateway would
build (the local stack's own builder). `FUZZ_DEPTH=deep` runs 10,000 examples per property
(CI does, with `make fuzz-deep`); the default is quick.
"""

from __future__ import annotations

import base64
import json
import os
from typing import Any
from urllib.parse import quote

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from acd_hub.auth import static_tokens
from acd_hub.ingest import CallbackIngest
from acd_hub.models import CALLBACK_MODELS
from acd_hub.settings import HubSettings
from acd_local.lambda_runtime import HttpRequest, Route, build_http_api_event, match_route
from tests.support import TOKEN, MemoryStore, function_log, ingest_function, kept_text, lambda_context
from tests.unit.test_models import VALID

# FUZZ_DEPTH=deep (make fuzz-deep, run by CI) gives every property 10,000 examples.
FUZZ = settings(
    max_examples=10_000 if os.environ.get("FUZZ_DEPTH") == "deep" else 300,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)

ROUTES = [
    Route(method=m, path=p, function="IngestFunction")
    for m in ("GET", "HEAD", "PUT", "POST")
    for p in ("/callback", "/callback/{token}")
]
STORE = MemoryStore()
HUB = HubSettings(callback_tokens=[TOKEN])
INGEST = CallbackIngest(HUB, STORE, static_tokens(HUB))


def invoke(event: dict[str, Any], ingest: CallbackIngest = INGEST) -> dict[str, Any]:
    with ingest_function(ingest) as function:
        answer: dict[str, Any] = function.lambda_handler(event, lambda_context())
        return answer


NAMES = [
    "cmd",
    "agentid",
    "mode",
    "state",
    "eventtime",
    "taskid",
    "id",
    "eventtype",
    "callingnumber",
    "callednumber",
    "hotlineid",
    "token",
    "message",
    "groupid",
    "type",
    "action",
    "timefrom",
    "nextretrystartdate",
    "weekdays",
    "pause-reason",
    "CustomerNumber",
    "callid",
    "scheduleid",
]
VALUES = st.one_of(
    st.sampled_from(
        [
            *CALLBACK_MODELS,
            TOKEN,
            "100001",
            "0",
            "1",
            "2",
            "online",
            "CallStart",
            "1763629200000",
            "2025-11-20 10:00:00",
            "02212601xxx",
            "+492212601599",
            "ab12",
            "17:20",
            "2025-11-20 10:00",
            "",
            "true",
            "-1",
            "1e999",
            "NaN",
        ]
    ),
    st.text(max_size=40),
    st.binary(max_size=20).map(lambda b: b.decode("latin-1")),
)


@st.composite
def near_valid(draw: st.DrawFn) -> list[tuple[str, str]]:
    """A valid message of some cmd, then a few parameters changed, dropped, re-cased or added."""
    params = dict(VALID[draw(st.sampled_from(sorted(VALID)))])
    for name in draw(st.lists(st.sampled_from(sorted(params)), max_size=3)):
        action = draw(st.sampled_from(["change", "drop", "upper"]))
        if action == "change":
            params[name] = draw(VALUES)
        elif action == "drop":
            params.pop(name, None)
        elif name in params:
            params[name.upper()] = params.pop(name)
    extra = draw(st.lists(st.tuples(st.sampled_from(NAMES) | st.text(max_size=10), VALUES), max_size=3))
    return list(params.items()) + extra


@st.composite
def queries(draw: st.DrawFn) -> str:
    pairs = draw(
        near_valid() | st.lists(st.tuples(st.sampled_from(NAMES) | st.text(max_size=10), VALUES), max_size=12)
    )
    encoded = "&".join(
        f"{quote(n.encode('utf-8', 'surrogatepass'))}={quote(v.encode('latin-1', 'replace'))}"
        for n, v in pairs
    )
    raw = draw(st.text(max_size=30))  # and unencoded junk
    return draw(st.sampled_from([encoded, raw, f"{encoded}&{raw}", f"token={TOKEN}?{encoded}"]))


@st.composite
def requests(draw: st.DrawFn) -> HttpRequest:
    method = draw(st.sampled_from(["GET", "HEAD", "PUT", "POST", "get", "PATCH"]))
    path = draw(
        st.sampled_from([f"/callback/{TOKEN}", "/callback", "/callback/wrong", f"/callback/{TOKEN}/x", "/"])
    )
    content_type = draw(
        st.sampled_from(
            [
                "",
                "application/x-www-form-urlencoded",
                "application/json",
                "text/plain",
                "application/octet-stream",
                "multipart/form-data; boundary=x",
                "application/json; charset=latin-1",
            ]
        )
    )
    body = draw(
        st.one_of(
            st.just(b""),
            queries().map(lambda q: q.encode("utf-8", "surrogatepass")),
            st.binary(max_size=200),
            st.dictionaries(
                st.sampled_from(NAMES),
                st.one_of(
                    VALUES, st.integers(), st.none(), st.booleans(), st.lists(st.integers(), max_size=2)
                ),
                max_size=8,
            ).map(lambda d: json.dumps(d).encode()),
        )
    )
    headers = (
        [("Host", "127.0.0.1:3000"), ("Content-Type", content_type)] if content_type else [("Host", "x")]
    )
    target = f"{path}?{draw(queries())}" if draw(st.booleans()) else path
    return HttpRequest(method=method, target=target, headers=headers, body=body, source_ip="203.0.113.9")


def call(request: HttpRequest) -> dict[str, Any]:
    matched = match_route(ROUTES, request.method.upper(), request.raw_path)
    route, params = matched if matched else (Route(method="ANY", path="/{proxy+}", function="x"), {})
    return invoke(build_http_api_event(request, route, params))


@FUZZ
@given(requests())
def test_no_request_yields_a_5xx_and_every_4xx_is_a_json_error(request: HttpRequest) -> None:
    response = call(request)
    status = response["statusCode"]
    assert 200 <= status < 500, response
    if request.method.upper() == "HEAD":
        assert response["body"] == ""
    elif status >= 400:
        body = json.loads(response["body"])
        assert body.get("message") or body.get("error"), body
    else:
        assert json.loads(response["body"])["status"] in ("stored", "duplicate")


@FUZZ
@given(st.binary(max_size=300), st.booleans())
def test_any_bytes_as_body_or_base64(payload: bytes, as_base64: bool) -> None:
    event = build_http_api_event(
        HttpRequest(
            "PUT",
            f"/callback/{TOKEN}",
            [("Content-Type", "application/x-www-form-urlencoded")],
            payload,
            "1.2.3.4",
        ),
        ROUTES[5],
        {"token": TOKEN},
    )
    if as_base64:
        event["body"], event["isBase64Encoded"] = base64.b64encode(payload).decode(), True
    assert invoke(event)["statusCode"] in (200, 400)


# --- no token kept, no token logged -------------------------------------------------------------

OTHER_SECRET = "an-old-rotated-secret-9Qx"  # sent under the token's name: a secret too
TOKEN_NAMES = ["token", "TOKEN", "Token", "%74oken", "%54OKEN", "+token", "token%20", "%20token", "tok%65n"]
JSON_TOKEN_NAMES = ["token", "TOKEN", "\\u0074oken", "\\u0054OKEN", "tok\\u0065n"]


def _percent_all(text: str) -> str:
    return "".join(f"%{byte:02X}" for byte in text.encode())


@st.composite
def token_requests(draw: st.DrawFn) -> tuple[HttpRequest, dict[str, str]]:
    """A request that authenticates with TOKEN (or fails to) in one of the ways a token can be
    sent, with the token (or another secret) also pasted elsewhere, valid or not."""
    params = dict(VALID[draw(st.sampled_from(sorted(VALID)))])
    if draw(st.booleans()):
        params[draw(st.sampled_from(sorted(params)))] = draw(st.sampled_from(["1", "x", ""]))
    where = draw(st.sampled_from(["path", "query", "form", "json"]))
    value = draw(st.sampled_from([TOKEN, quote(TOKEN), _percent_all(TOKEN)]))
    pairs = [(quote(k), quote(v)) for k, v in params.items()]
    extras = draw(
        st.lists(
            st.sampled_from(
                [
                    ("hotline", value),  # the token pasted into a value
                    ("note", f"x{TOKEN}y"),
                    ("to%E2%84%AAen", value),  # a Kelvin sign: not the token by ASCII rules
                    (draw(st.sampled_from(TOKEN_NAMES)), OTHER_SECRET),
                ]
            ),
            max_size=3,
        )
    )
    query = [*extras] if where != "query" else [*extras, (draw(st.sampled_from(TOKEN_NAMES)), value)]
    path = f"/callback/{TOKEN}" if where == "path" else "/callback"
    method, body, content_type = "GET", b"", ""
    if where in ("query", "path"):
        query = pairs + query
    elif where == "form":
        method, content_type = "PUT", "application/x-www-form-urlencoded"
        form = [*pairs, (draw(st.sampled_from(TOKEN_NAMES)), value)]
        body = "&".join(f"{n}={v}" for n, v in draw(st.permutations(form))).encode()
        if draw(st.booleans()):
            body += b"&hotline=M\xfcller"  # Windows-1252: kept as base64
    else:
        method, content_type = "PUT", "application/json"
        name = draw(st.sampled_from(JSON_TOKEN_NAMES))
        members = [f'"{k}": {json.dumps(v)}' for k, v in params.items()] + [f'"{name}": "{TOKEN}"']
        body = (
            "{" + ", ".join(draw(st.permutations(members))) + draw(st.sampled_from(["}", ", broken"]))
        ).encode()
    target = path + ("?" + "&".join(f"{n}={v}" for n, v in query) if query else "")
    headers = [("Host", "x")] + ([("Content-Type", content_type)] if content_type else [])
    return HttpRequest(method, target, headers, body, "203.0.113.9"), {"where": where}


@FUZZ
@given(token_requests())
def test_no_token_is_kept_or_logged(shape: tuple[HttpRequest, dict[str, str]]) -> None:
    request, shown = shape
    store = MemoryStore()
    matched = match_route(ROUTES, request.method, request.raw_path)
    assert matched is not None
    with (
        ingest_function(CallbackIngest(HUB, store, static_tokens(HUB))) as function,
        function_log(function) as out,
    ):
        response = function.lambda_handler(build_http_api_event(request, *matched), lambda_context())
    assert response["statusCode"] in (200, 400, 401, 409), response
    event(f"{shown['where']}: {response['statusCode']}")
    for item in [*store.events.values(), *store.rejected]:
        kept = kept_text(item)
        assert TOKEN not in kept, item
        assert OTHER_SECRET not in kept, item
    assert '"level"' in out.getvalue(), "every answer is logged: the log was not captured"
    for text in (out.getvalue(), response["body"]):
        assert TOKEN not in text
        assert OTHER_SECRET not in text
