"""From the bytes of a callback request to one flat ``name -> value`` mapping.

The vendor leaves open how PUT carries parameters and in which charset values are
percent-encoded, so everything plausible is accepted: query string, form-urlencoded body, JSON
object body, or several at once; UTF-8, falling back to Windows-1252 per value.

Names are matched case-insensitively by ASCII rules only (:func:`param_name`): Unicode case
folding would make ``tas\\u212aid`` (a Kelvin sign) the ``taskid``. The token presented is found
here, and so is every token parameter of what a quarantine would keep: :func:`read` hands the
query and the body over split (:class:`Sent`), each part saying what it names, and redaction
(:mod:`acd_hub.redact`) replaces what these parts name as the token without splitting again. So
whatever authenticates is also what is redacted from everything kept.

Parsing only: :func:`read` raises nothing. What it could not read is handed on as
:attr:`Parameters.errors`, to be quarantined once the request is authenticated (a stranger's
garbage is not kept).
"""

from __future__ import annotations

import codecs
import functools
import json
import re
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import NamedTuple
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
    # str.lower() is ASCII lowering on ASCII text, and much faster than translate
    return text.lower() if text.isascii() else text.translate(_ASCII_LOWER)


def param_name(raw: str) -> str:
    """The one normalization of a parameter name: ASCII whitespace trimmed, ASCII letters
    lower-cased, nothing else touched."""
    return ascii_lower(raw.strip(_ASCII_SPACE))


# param_name(raw) == TOKEN_NAME in one match: ASCII whitespace around "token" in any ASCII case
_TOKEN_NAME = re.compile(r"[ \t\r\n\f\v]*[Tt][Oo][Kk][Ee][Nn][ \t\r\n\f\v]*")


def is_token_name(raw: str) -> bool:
    return _TOKEN_NAME.fullmatch(raw) is not None


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
    if b"%" not in part and b"+" not in part:  # most names and values: nothing to unquote
        return decode_text(part)
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
    pairs = []
    # the pieces between separators, as chunks() yields them (split: without a Python step each)
    for chunk in separators.split(_as_bytes(data)):
        name, _, value = chunk.partition(b"=")
        if not (name or value):
            continue
        if chunk.isascii() and b"%" not in chunk and b"+" not in chunk:
            pairs.append((name.decode("ascii"), value.decode("ascii")))  # what decode_part gives
        else:
            pairs.append((decode_part(name), decode_part(value)))
    return pairs


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
    """JSON allows a lone surrogate (``"\\ud800"``), which is no text: neither DynamoDB nor a log
    line takes it. The name is reported with such escapes written out."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        shown = name.encode("utf-8", "backslashreplace").decode("utf-8")
        raise BadCallback(
            [ParameterError(shown, "not valid Unicode text (a lone surrogate escape)")]
        ) from None
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


def merge_parameters(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Names by :func:`param_name`; a name repeated with the same value is fine, with another is
    not (whether from a form, a query or a JSON object). The token is left out. Every name and
    value here is text (a JSON name or value that is not was refused before)."""
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
                    key[:MAX_NAME_LENGTH] + "...", f"name longer than {MAX_NAME_LENGTH} characters"
                )
            )
            continue
        if len(value) > MAX_VALUE_LENGTH:
            errors.append(ParameterError(key, f"longer than {MAX_VALUE_LENGTH} characters"))
            continue
        if key in merged and merged[key] != value:
            errors.append(ParameterError(key, "given more than once with different values"))
            continue
        if control := _CONTROL.search(key + value):
            errors.append(ParameterError(key, _control_message(control.group(0))))
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


class Part(NamedTuple):
    """One chunk of url-encoded text as sent (raw name, "=" or nothing, raw value, the separator
    that followed), what its name and value say, and whether it names the token."""

    name: bytes
    equals: bytes
    value: bytes
    separator: bytes
    decoded_name: str
    decoded_value: str
    token: bool


def parts(data: bytes, separators: re.Pattern[bytes]) -> list[Part]:
    """Every chunk of ``data`` (empty ones too, so the parts joined give ``data`` back), as
    :func:`chunks` gives them."""
    pieces = _capturing(separators).split(data)  # chunk, separator, chunk, ..., chunk
    pieces.append(b"")  # the last chunk's separator
    split = []
    for chunk, separator in zip(pieces[::2], pieces[1::2], strict=True):
        name, equals, value = chunk.partition(b"=")
        if not (name or value):
            decoded_name = decoded_value = ""
        elif chunk.isascii() and b"%" not in chunk and b"+" not in chunk:
            decoded_name, decoded_value = name.decode("ascii"), value.decode("ascii")  # as decode_part
        else:
            decoded_name, decoded_value = decode_part(name), decode_part(value)
        token = is_token_name(decoded_name)
        split.append(Part(name, equals, value, separator, decoded_name, decoded_value, token))
    return split


@functools.cache
def _capturing(separators: re.Pattern[bytes]) -> re.Pattern[bytes]:
    """``separators`` in a group: its ``split`` keeps them."""
    return re.compile(b"(" + separators.pattern + b")", separators.flags)


class Member(NamedTuple):
    """A JSON string that a colon follows (a member's name, in JSON valid or not), where it
    stands in the body, and what it says: its raw value (None: none follows) and that value's
    text, and whether the name is the token's."""

    start: int
    end: int
    key: bytes
    colon: bytes
    value: bytes | None
    name: str
    value_text: str
    token: bool


# a JSON string, then optionally ":" (it was a key) and the value that follows it
_JSON_MEMBER = re.compile(rb'"((?:[^"\\]|\\.)*)"(\s*:\s*)("(?:[^"\\]|\\.)*"|[^,}\]\s]*)?', re.DOTALL)


def json_string(raw: bytes) -> str | None:
    """The text of a JSON string's inside as sent (escapes decoded), None if it is none."""
    try:
        decoded = json.loads(b'"' + raw + b'"')
    except ValueError:
        return None
    return decoded if isinstance(decoded, str) else None


def members(data: bytes) -> list[Member]:
    """Every member of JSON text, valid or not (what :func:`json_pairs` would refuse too)."""
    if b'"' not in data:
        return []
    found = []
    for match in _JSON_MEMBER.finditer(data):
        key, colon, value = match.group(1), match.group(2), match.group(3)
        name = json_string(key) or ""
        if value is None:
            text = ""
        elif value[:1] == b'"':
            text = json_string(value[1:-1]) or ""
        else:
            text = decode_text(value)
        found.append(Member(match.start(), match.end(), key, colon, value, name, text, is_token_name(name)))
    return found


# gzip, and zlib at its usual levels (what an HTTP client's Content-Encoding would send).
_GZIP = b"\x1f\x8b"
_COMPRESSED = (_GZIP, b"\x78\x01", b"\x78\x5e", b"\x78\x9c", b"\x78\xda")
_UTF32_BOMS = (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
# a compressed body is inflated this far at most, so a zip bomb stays small
MAX_INFLATED = 256 * 1024


def readable_body(body: bytes) -> tuple[bytes | None, str | None]:
    """The body in an ASCII-compatible form, where a token is the bytes it is everywhere else,
    and how it was decoded (None: kept as sent). (None, why) when that cannot be had."""
    how = []
    for _ in range(3):  # a gzip inside a gzip, at most a few
        if not body.startswith(_COMPRESSED):
            break
        inflater = zlib.decompressobj(wbits=47)  # gzip or zlib header, whichever it has
        try:
            inflated = inflater.decompress(body, MAX_INFLATED)
        except zlib.error:
            break  # text that merely begins like zlib ("x^"): judged below as it is
        if not inflated and not inflater.eof:
            break
        body = inflated
        how.append("gzip")
    if body.startswith(_UTF32_BOMS):
        body = body.decode("utf-32", "replace").encode("utf-8")
        how.append("UTF-32")
    elif body.startswith(_UTF16_BOMS) or _looks_utf16(body):
        codec = "utf-16" if body.startswith(_UTF16_BOMS) else _utf16_order(body)
        body = body.decode(codec, "replace").encode("utf-8")
        how.append("UTF-16")
    if b"\x00" in body or body.startswith(_GZIP):
        return None, f"{len(body)} bytes of binary data: not kept (a token in them could not be redacted)"
    return body, ("decoded from " + ", then ".join(how) + " before it was kept") if how else None


def _looks_utf16(body: bytes) -> bool:
    # ASCII text in UTF-16 without a byte order mark: every other byte is NUL
    return (
        len(body) >= 4
        and len(body) % 2 == 0
        and (body[1::2].count(0) == len(body) // 2 or body[0::2].count(0) == len(body) // 2)
    )


def _utf16_order(body: bytes) -> str:
    return "utf-16-le" if body[1::2].count(0) == len(body) // 2 else "utf-16-be"


@dataclass(frozen=True)
class Sent:
    """The query and the body as sent, split for what a quarantine keeps of them: the body in a
    readable form (:func:`readable_body`; None: binary, ``body_note`` says why), split as a form
    unless it is JSON and as JSON unless it is a form (both when it is neither)."""

    query: bytes
    query_parts: list[Part]
    body: bytes | None = b""
    body_note: str | None = None
    body_kind: str = "form"
    body_parts: list[Part] = field(default_factory=list)
    body_members: list[Member] = field(default_factory=list)


def sent(request: CallbackRequest, query: bytes, query_split: list[Part]) -> Sent:
    if not request.body:
        return Sent(query, query_split)
    data, note = readable_body(request.body)
    if data is None:
        return Sent(query, query_split, None, note)
    kind = body_kind(data, request.content_type)
    return Sent(
        query,
        query_split,
        data,
        note,
        kind,
        parts(data, BODY_SEPARATORS) if kind != "json" else [],
        members(data) if kind != "form" else [],
    )


@dataclass(frozen=True)
class Parameters:
    """What a request says: the token it presents (path, query or body), its parameters by
    :func:`param_name` (the token left out), or why they could not be read; and its query and
    body split for redaction (:class:`Sent`)."""

    token: str | None
    sent: Sent
    merged: dict[str, str] = field(default_factory=dict)
    errors: list[ParameterError] = field(default_factory=list)


def read(request: CallbackRequest) -> Parameters:
    """The request's parameters: query string and, for PUT/POST, the body. A body that cannot
    be read leaves only the query to present a token."""
    raw_query = _as_bytes(request.raw_query)
    query_split = parts(raw_query, QUERY_SEPARATORS)
    query = [(p.decoded_name, p.decoded_value) for p in query_split if p.name or p.value]
    split = sent(request, raw_query, query_split)
    try:
        body = _request_body_pairs(request, split)
    except BadCallback as bad:
        return Parameters(request.path_token or token_in(query), split, errors=bad.errors)
    token = request.path_token or token_in(query) or token_in(body)
    try:
        return Parameters(token, split, merge_parameters([*query, *body]))
    except BadCallback as bad:
        return Parameters(token, split, errors=bad.errors)


def _request_body_pairs(request: CallbackRequest, split: Sent) -> list[tuple[str, str]]:
    if request.method not in BODY_METHODS:
        return []  # as documented: a GET's (or HEAD's) body is not read
    body = request.body
    if len(body) > MAX_BODY_BYTES:
        raise BadCallback([ParameterError("body", f"larger than {MAX_BODY_BYTES} bytes")])
    # split as sent already (nothing decoded, a form, no space around, no byte order mark): its
    # parts are what body_pairs would split it into again
    as_split = split.body is body and split.body_kind == "form" and split.body_parts
    if as_split and body.strip() == body and not body.startswith(UTF8_BOM):
        return [(p.decoded_name, p.decoded_value) for p in split.body_parts if p.name or p.value]
    return body_pairs(body, request.content_type)
