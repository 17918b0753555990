"""From the bytes of a callback request to one flat ``name -> value`` mapping.

The vendor leaves open how PUT carries parameters and in which charset values are
percent-encoded, so everything plausible is accepted: query string, form-urlencoded body, JSON
object body, or several at once; UTF-8, falling back to Windows-1252 per value.

Names are matched case-insensitively by ASCII rules only (:func:`param_name`): Unicode case
folding would make ``tas\\u212aid`` (a Kelvin sign) the ``taskid``. The token presented is found
here and redaction (:mod:`acd_hub.redact`) removes it by that same function, so whatever
authenticates is also what is redacted from everything kept.

Parsing only: :func:`read` raises nothing. What it could not read is handed on as
:attr:`Parameters.errors`, to be quarantined once the request is authenticated (a stranger's
garbage is not kept).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from urllib.parse import unquote_to_bytes

from acd_hub.errors import BadCallback, ParameterError
from acd_hub.request import CallbackRequest

MAX_PARAMETERS = 200
MAX_VALUE_LENGTH = 4096
MAX_NAME_LENGTH = 64
# Keeps the stored item (raw + normalized copy) well under DynamoDB's 400 KB item limit.
MAX_TOTAL_LENGTH = 32 * 1024
MAX_BODY_BYTES = 256 * 1024
BODY_METHODS = frozenset({"PUT", "POST"})

TOKEN_NAME = "token"  # noqa: S105 - the parameter's name, not a secret
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_ASCII_SPACE = " \t\r\n\f\v"
# Control characters (C0 but tab and line breaks, DEL, C1): no ACD text needs them, and ESC or
# CSI in a stored value is a terminal escape sequence waiting for an operator's screen.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
UTF8_BOM = b"\xef\xbb\xbf"
# An ACD appending "?cmd=..." to a URL that already has a query sends "a=1?cmd=...": in the
# query string an unencoded "?" separates parameters like "&". Only "&" in a body.
QUERY_SEPARATORS = re.compile(rb"[&?]")
BODY_SEPARATORS = re.compile(rb"&")


def ascii_lower(text: str) -> str:
    return text.translate(_ASCII_LOWER)


def param_name(raw: str) -> str:
    """The one normalization of a parameter name: ASCII whitespace trimmed, ASCII letters
    lower-cased, nothing else touched."""
    return ascii_lower(raw.strip(_ASCII_SPACE))


def is_token_name(raw: str) -> bool:
    return param_name(raw) == TOKEN_NAME


def storable(text: str) -> str:
    """``text`` as valid UTF-8 text: a lone surrogate (JSON allows ``"\\ud800"``) becomes its
    escape, since neither DynamoDB nor a log line takes it."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def decode_text(raw: bytes) -> str:
    """UTF-8 if it is valid UTF-8, else Windows-1252 (what a German ACD on Windows would send).

    Latin-1 catches the five bytes Windows-1252 leaves undefined, so decoding never fails.
    """
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        try:
            return raw.decode("cp1252")
        except UnicodeDecodeError:
            return raw.decode("latin-1")


def _as_bytes(data: str | bytes) -> bytes:
    # A str here came through a text layer; re-encode so percent escapes decode as bytes.
    return data.encode("utf-8", errors="surrogateescape") if isinstance(data, str) else data


def decode_part(part: bytes) -> str:
    return decode_text(unquote_to_bytes(part.replace(b"+", b" ")))


def chunks(data: bytes, separators: re.Pattern[bytes]) -> Iterator[tuple[bytes, bytes, bytes, bytes]]:
    """(raw name, "=" or nothing, raw value, the separator that followed) for every chunk."""
    position = 0
    for match in [*separators.finditer(data), None]:
        chunk = data[position : match.start() if match else len(data)]
        name, equals, value = chunk.partition(b"=")
        yield name, equals, value, match.group(0) if match else b""
        if match:
            position = match.end()


def split_urlencoded(
    data: str | bytes, separators: re.Pattern[bytes] = BODY_SEPARATORS
) -> list[tuple[str, str]]:
    """``a=1&b=%C3%A4`` -> pairs, each name and value decoded on its own (charset per value).

    Only "&" separates by default: schedulestartdates holds ";"-separated dates.
    """
    return [
        (decode_part(name), decode_part(value))
        for name, _, value, _ in chunks(_as_bytes(data), separators)
        if name or value
    ]


def query_pairs(raw_query: str) -> list[tuple[str, str]]:
    return split_urlencoded(raw_query, QUERY_SEPARATORS)


def token_in(pairs: Iterable[tuple[str, str]]) -> str | None:
    for name, value in pairs:
        if is_token_name(name):
            return value
    return None


class _Members(list[tuple[str, object]]):
    """A JSON object's members in order, duplicates kept (``json``'s dict keeps only the last)."""


def _reject_surrogates(text: str, name: str) -> str:
    if storable(text) is not text:
        raise BadCallback(
            [ParameterError(storable(name), "not valid Unicode text (a lone surrogate escape)")]
        )
    return text


def json_pairs(body: bytes) -> list[tuple[str, str]]:
    try:
        document = json.loads(decode_text(body), object_pairs_hook=_Members)
    except json.JSONDecodeError as exc:
        raise BadCallback([ParameterError("body", f"not valid JSON: {exc.msg}")]) from None
    except (ValueError, RecursionError):  # absurd numbers or nesting depth
        raise BadCallback([ParameterError("body", "not a usable JSON document")]) from None
    if not isinstance(document, _Members):
        raise BadCallback([ParameterError("body", "a JSON body must be an object of parameters")])
    pairs = []
    for name, value in document:
        _reject_surrogates(name, name)
        if isinstance(value, bool):
            pairs.append((name, "1" if value else "0"))
        elif value is None:
            pairs.append((name, ""))
        elif isinstance(value, str):
            pairs.append((name, _reject_surrogates(value, name)))
        elif isinstance(value, (int, float)):
            pairs.append((name, str(value)))
        else:
            raise BadCallback([ParameterError(name, "must be a string or a number, not a JSON object/array")])
    return pairs


def body_kind(body: bytes, content_type: str) -> str:
    """ "json", "form" or the unsupported media type: the content type decides, sniffing only
    when it is missing."""
    media = content_type.split(";", 1)[0].strip().lower()
    if media == "application/json" or media.endswith("+json"):
        return "json"
    if media in ("application/x-www-form-urlencoded", "text/plain", ""):
        return "json" if not media and body.lstrip()[:1] == b"{" else "form"
    return media


def body_pairs(body: bytes, content_type: str) -> list[tuple[str, str]]:
    """Pairs from a request body. A UTF-8 byte order mark (Windows tools write one) is not part
    of the first name nor of the JSON."""
    body = body.removeprefix(UTF8_BOM)
    if not body.strip():
        return []
    kind = body_kind(body, content_type)
    if kind == "json":
        return json_pairs(body)
    if kind == "form":
        return split_urlencoded(body.strip())
    raise BadCallback(
        [
            ParameterError(
                "content-type",
                f"unsupported body type {kind!r}; send application/x-www-form-urlencoded or application/json",
            )
        ]
    )


def merge_parameters(
    pairs: Iterable[tuple[str, str]], clean: Callable[[str], str] = storable
) -> dict[str, str]:
    """Names by :func:`param_name`; a name repeated with the same value is fine, with another is
    not (whether from a form, a query or a JSON object). The token is left out."""
    merged: dict[str, str] = {}
    errors: list[ParameterError] = []
    count = total = 0
    for name, value in pairs:
        count += 1
        total += len(name) + len(value)
        key = param_name(name)
        if not key or key == TOKEN_NAME:
            continue
        if len(key) > MAX_NAME_LENGTH:
            errors.append(
                ParameterError(
                    clean(key[:MAX_NAME_LENGTH]) + "...", f"name longer than {MAX_NAME_LENGTH} characters"
                )
            )
            continue
        if len(value) > MAX_VALUE_LENGTH:
            errors.append(ParameterError(clean(key), f"longer than {MAX_VALUE_LENGTH} characters"))
            continue
        if key in merged and merged[key] != value:
            errors.append(ParameterError(clean(key), "given more than once with different values"))
            continue
        if control := _CONTROL.search(key + value):
            errors.append(ParameterError(clean(key), _control_message(control.group(0))))
            continue
        merged[key] = value
    if total > MAX_TOTAL_LENGTH:
        errors.append(
            ParameterError("request", f"parameters larger than {MAX_TOTAL_LENGTH} characters in all")
        )
    if count > MAX_PARAMETERS:
        errors.append(ParameterError("request", f"more than {MAX_PARAMETERS} parameters"))
    # report each name once, in the order seen
    unique = list({(e.parameter, e.message): e for e in errors}.values())
    if unique:
        raise BadCallback(unique)
    return merged


def _control_message(char: str) -> str:
    return (
        f"holds the control character U+{ord(char):04X}; text must be printable (tab and line breaks allowed)"
    )


@dataclass(frozen=True)
class Parameters:
    """What a request says: the token it presents (path, query or body), its parameters by
    :func:`param_name` (the token left out), or why they could not be read."""

    token: str | None
    merged: dict[str, str] = field(default_factory=dict)
    errors: list[ParameterError] = field(default_factory=list)


def read(request: CallbackRequest) -> Parameters:
    """The request's parameters: query string and, for PUT/POST, the body. A body that cannot
    be read leaves only the query to present a token."""
    query = query_pairs(request.raw_query)
    try:
        body = _request_body_pairs(request)
    except BadCallback as bad:
        return Parameters(request.path_token or token_in(query), errors=bad.errors)
    token = request.path_token or token_in(query) or token_in(body)
    try:
        return Parameters(token, merge_parameters([*query, *body]))
    except BadCallback as bad:
        return Parameters(token, errors=bad.errors)


def _request_body_pairs(request: CallbackRequest) -> list[tuple[str, str]]:
    if request.method not in BODY_METHODS:
        return []  # as documented: a GET's (or HEAD's) body is not read
    if len(request.body) > MAX_BODY_BYTES:
        raise BadCallback([ParameterError("body", f"larger than {MAX_BODY_BYTES} bytes")])
    return body_pairs(request.body, request.content_type)
