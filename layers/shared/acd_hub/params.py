"""From the bytes of a callback request to one flat ``name -> value`` mapping.

The vendor leaves open how PUT carries parameters and in which charset values are
percent-encoded, so everything plausible is accepted: query string, form-urlencoded body, JSON
object body, or several at once; UTF-8, falling back to Windows-1252 per value.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from urllib.parse import unquote_to_bytes

from acd_hub.errors import BadCallback, ParameterError

MAX_PARAMETERS = 200
MAX_VALUE_LENGTH = 4096
MAX_NAME_LENGTH = 64
# Keeps the stored item (raw + normalized copy) well under DynamoDB's 400 KB item limit.
MAX_TOTAL_LENGTH = 32 * 1024


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


def split_urlencoded(data: str | bytes) -> list[tuple[str, str]]:
    """``a=1&b=%C3%A4`` -> pairs, each name and value decoded on its own (charset per value)."""
    if isinstance(data, str):
        # A str here came through a text layer; re-encode so percent escapes decode as bytes.
        data = data.encode("utf-8", errors="surrogateescape")
    pairs = []
    # Only "&" separates: schedulestartdates holds ";"-separated dates.
    for chunk in data.split(b"&"):
        if not chunk:
            continue
        name, _, value = chunk.partition(b"=")
        pairs.append(
            (
                decode_text(unquote_to_bytes(name.replace(b"+", b" "))),
                decode_text(unquote_to_bytes(value.replace(b"+", b" "))),
            )
        )
    return pairs


def json_pairs(body: bytes) -> list[tuple[str, str]]:
    try:
        document = json.loads(decode_text(body))
    except json.JSONDecodeError as exc:
        raise BadCallback([ParameterError("body", f"not valid JSON: {exc.msg}")]) from None
    except (ValueError, RecursionError):  # absurd numbers or nesting depth
        raise BadCallback([ParameterError("body", "not a usable JSON document")]) from None
    if not isinstance(document, dict):
        raise BadCallback([ParameterError("body", "a JSON body must be an object of parameters")])
    pairs = []
    for name, value in document.items():
        if isinstance(value, bool):
            pairs.append((name, "1" if value else "0"))
        elif value is None:
            pairs.append((name, ""))
        elif isinstance(value, (str, int, float)):
            pairs.append((name, str(value)))
        else:
            raise BadCallback([ParameterError(name, "must be a string or a number, not a JSON object/array")])
    return pairs


def body_pairs(body: bytes, content_type: str) -> list[tuple[str, str]]:
    """Pairs from a request body; the content type decides, sniffing only when it is missing."""
    if not body.strip():
        return []
    media = content_type.split(";", 1)[0].strip().lower()
    if media == "application/json" or media.endswith("+json"):
        return json_pairs(body)
    if media in ("application/x-www-form-urlencoded", "text/plain", ""):
        if not media and body.lstrip()[:1] == b"{":
            return json_pairs(body)
        return split_urlencoded(body.strip())
    raise BadCallback(
        [
            ParameterError(
                "content-type",
                f"unsupported body type {media!r}; send application/x-www-form-urlencoded or application/json",
            )
        ]
    )


def merge_parameters(pairs: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Names case-insensitively; a name repeated with the same value is fine, with another is not."""
    merged: dict[str, str] = {}
    errors: list[ParameterError] = []
    count = total = 0
    for name, value in pairs:
        count += 1
        total += len(name) + len(value)
        key = name.strip().lower()
        if not key:
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
