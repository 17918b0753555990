"""What may be kept of a callback request: every token removed, whatever its encoding.

The token parameter's value (found by :func:`acd_hub.params.param_name`, as the token presented
is found) is replaced by ``***`` in the query, a form or JSON body and the raw bytes alike, and so
is any valid token (``secrets``) wherever else it appears, as sent or percent-encoded. A
compressed or UTF-16/32 body is decoded first, since the token cannot be found in its bytes.
"""

from __future__ import annotations

import codecs
import json
import re
import zlib
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import quote, quote_plus

from acd_hub import params
from acd_hub.errors import ParameterError
from acd_hub.request import CallbackRequest

REDACTED = "***"
MAX_STORED_TEXT = 64 * 1024


@dataclass(frozen=True)
class Kept:
    """What may be kept of a refused request, and of why it was refused: no token in any of it,
    every text storable. The body is text, or base64 for bytes that are not UTF-8, or neither
    with ``body_note`` saying why (``body_note`` also says how a decoded body was decoded)."""

    path: str
    query: str
    content_type: str
    user_agent: str
    errors: list[ParameterError]
    body: str | None
    body_base64: str | None
    body_note: str | None


def kept(request: CallbackRequest, errors: Sequence[ParameterError], secrets: Collection[str] = ()) -> Kept:
    """All that the quarantine keeps of ``request``, redacted in one place: an error may echo a
    name or a value, so the answer, the log line and the item get the same clean text."""
    body_text, body_base64, body_note = body(request, secrets)
    return Kept(
        path=path(request),
        query=query(request, secrets)[:MAX_STORED_TEXT],
        content_type=clean(request.content_type[:256], secrets),
        user_agent=clean(request.user_agent[:512], secrets),
        errors=[ParameterError(clean(e.parameter, secrets), clean(e.message, secrets)) for e in errors],
        body=body_text,
        body_base64=body_base64,
        body_note=body_note,
    )


def path(request: CallbackRequest) -> str:
    """``/callback/***``: whatever follows the route's first segment may be a token, in
    whatever encoding (API Gateway decodes the path parameter, the raw path is not)."""
    first, *rest = request.path.lstrip("/").split("/", 1)
    return params.storable("/" + first + ("/***" if rest else ""))


def query(request: CallbackRequest, secrets: Collection[str] = ()) -> str:
    raw = request.raw_query.encode("utf-8", "surrogateescape")
    redacted = scrub(redact_urlencoded(raw, secrets, params.QUERY_SEPARATORS), secrets)
    return redacted.decode("utf-8", "backslashreplace")


def body(
    request: CallbackRequest, secrets: Collection[str] = ()
) -> tuple[str | None, str | None, str | None]:
    """(text, None, how) for text bodies, (None, base64, how) for bytes that are not UTF-8
    text: either way redacted first, as the form or JSON it was read as (both if it was
    neither). A compressed or UTF-16/32 body is kept decoded (``how`` says so), since the
    token cannot be found in its bytes; one still binary then is not kept: (None, None, why).
    """
    import base64  # noqa: PLC0415  (only quarantine needs it)

    data, how = readable_body(request.body)
    if data is None:
        return None, None, how
    kind = params.body_kind(data, request.content_type)
    if kind != "json":
        data = redact_urlencoded(data, secrets, params.BODY_SEPARATORS)
    if kind != "form":
        data = redact_json(data, secrets)
    data = scrub(data, secrets)[:MAX_STORED_TEXT]
    try:
        return data.decode("utf-8"), None, how
    except UnicodeDecodeError:
        return None, base64.b64encode(data).decode("ascii"), how


def clean(value: str, secrets: Collection[str]) -> str:
    """``value`` storable, with every secret in it replaced."""
    return params.storable(scrub_text(value, secrets))


def _holds_secret(text: str, secrets: Collection[str]) -> bool:
    return any(secret in text for secret in secrets)


def redact_urlencoded(data: bytes, secrets: Collection[str], separators: re.Pattern[bytes]) -> bytes:
    """The bytes as sent, but the value of every token parameter (by :func:`param_name`, however
    its name is encoded) and every name or value holding a secret replaced by ``***``."""
    out = []
    for raw_name, equals, raw_value, separator in params.chunks(data, separators):
        name, value = raw_name, raw_value
        if equals:
            decoded_name, decoded_value = params.decode_part(raw_name), params.decode_part(raw_value)
            if _holds_secret(decoded_name, secrets):
                name = _encode_part(scrub_text(decoded_name, secrets))
            if params.is_token_name(decoded_name):
                value = REDACTED.encode()
            elif _holds_secret(decoded_value, secrets):
                value = _encode_part(scrub_text(decoded_value, secrets))
        out.append(name + equals + value + separator)
    return b"".join(out)


def _encode_part(text: str) -> bytes:
    return quote(text, safe="*").encode("ascii")


# a JSON string, then optionally ":" (it was a key) and the value that follows it
_JSON_MEMBER = re.compile(rb'"((?:[^"\\]|\\.)*)"(\s*:\s*)("(?:[^"\\]|\\.)*"|[^,}\]\s]*)?', re.DOTALL)


def _json_string(raw: bytes) -> str | None:
    try:
        decoded = json.loads(b'"' + raw + b'"')
    except ValueError:
        return None
    return decoded if isinstance(decoded, str) else None


def _json_value(raw: bytes) -> str:
    if raw[:1] == b'"':
        return _json_string(raw[1:-1]) or ""
    return params.decode_text(raw)


def redact_json(data: bytes, secrets: Collection[str]) -> bytes:
    """JSON text (valid or not) with the value of every member named ``token`` (escapes such as
    ``"\\u0074oken"`` decoded first) and every string holding a secret replaced by ``"***"``."""

    def member(match: re.Match[bytes]) -> bytes:
        key, colon, value = match.group(1), match.group(2), match.group(3)
        name = _json_string(key) or ""
        if _holds_secret(name, secrets):
            key = REDACTED.encode()
        if value is not None and (params.is_token_name(name) or _holds_secret(_json_value(value), secrets)):
            value = b'"' + REDACTED.encode() + b'"'
        return b'"' + key + b'"' + colon + (value or b"")

    def plain(match: re.Match[bytes]) -> bytes:
        text = _json_string(match.group(1)) or ""
        return b'"***"' if _holds_secret(text, secrets) else match.group(0)

    if b'"' not in data:
        return data
    redacted = _JSON_MEMBER.sub(member, data)
    return re.sub(rb'"((?:[^"\\]|\\.)*)"', plain, redacted)


def secret_forms(secrets: Iterable[str]) -> list[bytes]:
    """Each secret as it may appear in raw bytes: as is and percent-encoded."""
    forms = {
        form for secret in secrets if secret for form in (secret, quote(secret, safe=""), quote_plus(secret))
    }
    return sorted((f.encode("utf-8", "surrogateescape") for f in forms), key=len, reverse=True)


def scrub(data: bytes, secrets: Collection[str]) -> bytes:
    for form in secret_forms(secrets):
        data = data.replace(form, REDACTED.encode())
    return data


def scrub_text(text: str, secrets: Collection[str]) -> str:
    for secret in sorted(secrets, key=len, reverse=True):
        if secret and secret in text:
            text = text.replace(secret, REDACTED)
    return text


def without_secrets(merged: dict[str, str], secrets: Collection[str]) -> dict[str, str]:
    """A parameter holding a secret under another name (``to\\u212aen=``, or a token pasted into
    a free-text field) is kept with the secret replaced, never in clear."""
    # One search of all names and values at once: a secret found across two of them (a false
    # alarm) only takes the path below, which replaces nothing then.
    if not _holds_secret("\n".join([*merged, *merged.values()]), secrets):
        return merged
    return {scrub_text(name, secrets): scrub_text(value, secrets) for name, value in merged.items()}


# gzip, and zlib at its usual levels (what an HTTP client's Content-Encoding would send).
_GZIP = b"\x1f\x8b"
_COMPRESSED = (_GZIP, b"\x78\x01", b"\x78\x5e", b"\x78\x9c", b"\x78\xda")
_UTF32_BOMS = (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


def readable_body(body: bytes) -> tuple[bytes | None, str | None]:
    """The body in an ASCII-compatible form, where a token is the bytes it is everywhere else,
    and how it was decoded (None: kept as sent). (None, why) when that cannot be had."""
    how = []
    for _ in range(3):  # a gzip inside a gzip, at most a few
        if not body.startswith(_COMPRESSED):
            break
        inflater = zlib.decompressobj(wbits=47)  # gzip or zlib header, whichever it has
        try:
            # bounded, so a zip bomb stays small
            inflated = inflater.decompress(body, 4 * MAX_STORED_TEXT)
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
