"""The ingest's one straight line: the parser hands the request over split, redaction works on
those parts in one step, and the quarantine keeps what redaction made."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from acd_hub import params, redact
from acd_hub.errors import BadCallback, Invalid, ParameterError
from acd_hub.ingest import CallbackIngest
from tests.support import TOKEN, MemoryStore
from tests.support import callback_request as request

AGENTSTATE = "cmd=agentstate&agentid=100001&mode=0&state=connected&eventtime=1763629200000"


@given(st.binary(max_size=60).map(lambda b: b.replace(b"\x00", b"")))
def test_the_parts_are_the_bytes_as_sent_and_the_pairs_read(data: bytes) -> None:
    for separators in (params.QUERY_SEPARATORS, params.BODY_SEPARATORS):
        split = params.parts(data, separators)
        assert b"".join(p.name + p.equals + p.value + p.separator for p in split) == data
        assert [(p.decoded_name, p.decoded_value) for p in split if p.name or p.value] == (
            params.split_urlencoded(data, separators)
        )
        assert [p.token for p in split] == [params.is_token_name(p.decoded_name) for p in split]


def test_what_names_the_token_for_the_parser_is_what_redaction_replaces() -> None:
    # "TOKEN" and " token" by ASCII rules; the Kelvin sign's "to\u212aen" is no token name
    sent = request(
        "cmd=agentstate&%20token=first&TOKEN=second&to%E2%84%AAen=third",
        body=b'{"\\u0074oken": "fourth", "note": "x"}',
        content_type="application/json",
        method="GET",
    )
    read = params.read(sent)
    assert [p.decoded_name for p in read.sent.query_parts if p.token] == [" token", "TOKEN"]
    assert [m.name for m in read.sent.body_members if m.token] == ["token"]
    kept = redact.redacted(sent, read, {TOKEN}).kept
    assert kept.query == "cmd=agentstate&%20token=***&TOKEN=***&to%E2%84%AAen=third"
    assert json.loads(kept.body or "") == {"token": "***", "note": "x"}


def test_an_unsupported_body_that_redaction_changes_as_a_form_is_not_kept(
    ingest: CallbackIngest, store: MemoryStore
) -> None:
    # neither a form nor JSON: read both ways, and the form's redaction changed it
    body = b'{"note": "a=1&token=guessed"}'
    with pytest.raises(Invalid):
        ingest.handle(request(body=body, content_type="text/xml"))
    (item,) = store.rejected
    assert "body" not in item
    assert "guessed" not in json.dumps(item)
    assert item["body_note"] == f"{len(body)} bytes of an unsupported type holding a token: not kept"


def test_an_unsupported_body_redaction_leaves_alone_is_kept_as_it_was(
    ingest: CallbackIngest, store: MemoryStore
) -> None:
    body = b'{"cmd": "agentstate", "token": "guessed"}'
    with pytest.raises(Invalid):
        ingest.handle(request(body=body, content_type="text/xml"))
    (item,) = store.rejected
    assert json.loads(item["body"]) == {"cmd": "agentstate", "token": "***"}


def test_errors_after_redaction_are_made_of_redacted_parameters(
    ingest: CallbackIngest, store: MemoryStore
) -> None:
    """The quarantine does not redact again: the models' errors echo redacted values."""
    with pytest.raises(Invalid) as refused:
        ingest.handle(request(f"cmd=agentstate&agentid=x{TOKEN}&mode=0&state=connected&eventtime=1"))
    (item,) = store.rejected
    assert TOKEN not in json.dumps(item)
    assert TOKEN not in json.dumps([e.as_dict() for e in refused.value.errors])
    assert {e.parameter for e in refused.value.errors} >= {"agentid"}


def test_a_stored_event_holds_no_pasted_token(ingest: CallbackIngest, store: MemoryStore) -> None:
    ingest.handle(request(f"{AGENTSTATE}&note=see%20{TOKEN}"))
    (item,) = store.events.values()
    assert TOKEN not in json.dumps(item)
    assert "see ***" in json.dumps(item)


@given(st.text(alphabet=" \t\r\n\f\v\x1ctTOoKkEeNn\u212a\u00a0x", max_size=9))
def test_the_token_name_in_one_match_is_the_parameter_name_token(name: str) -> None:
    assert params.is_token_name(name) == (params.param_name(name) == params.TOKEN_NAME)


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["cmd", "Token", "a b", "x%41", "é", ""]),
            st.sampled_from(["1", "", "%C3%A4", "+"]),
        ),
        max_size=5,
    ),
    st.sampled_from([b"", b" ", b"\xef\xbb\xbf"]),
)
def test_a_form_body_read_from_its_parts_is_read_as_split_again(
    pairs: list[tuple[str, str]], around: bytes
) -> None:
    body = around + "&".join(f"{n}={v}" for n, v in pairs).encode() + around.strip(b"\xef\xbb\xbf")
    read = params.read(request(body=body, content_type="application/x-www-form-urlencoded", method="PUT"))
    errors: list[ParameterError] = []
    expected: dict[str, str] = {}
    try:
        expected = params.merge_parameters(params.body_pairs(body, "application/x-www-form-urlencoded"))
    except BadCallback as bad:
        errors = bad.errors
    assert (read.merged, read.errors) == (expected, errors)
