"""What may be kept of a callback request: every token removed, whatever its encoding; done in one
step once the request is authenticated (:func:`redacted`), before anything is stored or refused.

The token parameter's value (what :mod:`acd_hub.params` marks as naming the token, as it finds
the token presented) is replaced by ``***`` in the query, a form or JSON body and the raw bytes
alike, and so is any valid token (``secrets``) wherever else it appears, as sent or
percent-encoded. A compressed or UTF-16/32 body is read decoded (:func:`acd_hub.params.readable_body`),
since the token cannot be found in its bytes. Redaction works on the parts :func:`acd_hub.params.read`
handed over; it splits nothing again.
"""

from __future__ import annotations

import contextlib
import functools
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from urllib.parse import quote, quote_plus

from acd_hub import params
from acd_hub.errors import ParameterError
from acd_hub.request import CallbackRequest

REDACTED = "***"
MAX_STORED_TEXT = 64 * 1024


@dataclass(frozen=True)
class Kept:
    """What a quarantine would keep of the request: no token in any of it, every text storable.
    The body is text, or base64 for bytes that are not UTF-8, or neither with ``body_note``
    saying why (``body_note`` also says how a decoded body was decoded)."""

    path: str
    query: str
    content_type: str
    user_agent: str
    body: str | None
    body_base64: str | None
    body_note: str | None


@dataclass(frozen=True)
class Redacted:
    """The request after redaction: its parameters for the event, what a quarantine would keep
    of it, and why its parameters could not be read (if so). What follows is made of these, so
    nothing after this step holds a token."""

    parameters: dict[str, str]
    kept: Kept
    errors: list[ParameterError]


def redacted(request: CallbackRequest, sent: params.Parameters, secrets: Collection[str]) -> Redacted:
    """All of ``request`` that may go further, redacted in one place: the parameters, what a
    quarantine keeps, and the parse errors (an error may echo a name or a value, so the answer,
    the log line and the item get the same clean text)."""
    body_text, body_base64, body_note = body(sent.sent, secrets)
    content_type, user_agent = request.content_type, request.user_agent
    if _holds_secret(f"{content_type}\n{user_agent}", secrets):
        # replaced before they are cut: cut first, a token across the cut was kept in part
        headers = clean(content_type, secrets)[:256], clean(user_agent, secrets)[:512]
    else:  # no secret in either (one search): storable is all that is left to make them
        headers = storable(content_type[:256]), storable(user_agent[:512])
    return Redacted(
        parameters=without_secrets(sent.merged, secrets),
        kept=Kept(
            path=path(request),
            query=query(sent.sent, secrets)[:MAX_STORED_TEXT],
            content_type=headers[0],
            user_agent=headers[1],
            body=body_text,
            body_base64=body_base64,
            body_note=body_note,
        ),
        errors=[
            ParameterError(clean_name(e.parameter, secrets), clean(e.message, secrets)) for e in sent.errors
        ],
    )


def storable(text: str) -> str:
    """``text`` as valid UTF-8 text: a lone surrogate (JSON allows ``"\\ud800"``) becomes its
    escape, since neither DynamoDB nor a log line takes it."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def path(request: CallbackRequest) -> str:
    """``/callback/***``: whatever follows the route's first segment may be a token, in
    whatever encoding (API Gateway decodes the path parameter, the raw path is not)."""
    first, *rest = request.path.lstrip("/").split("/", 1)
    return storable("/" + first + ("/***" if rest else ""))


def query(sent: params.Sent, secrets: Collection[str] = ()) -> str:
    redacted = scrub(redact_urlencoded(sent.query, sent.query_parts, secrets), secrets)
    return redacted.decode("utf-8", "backslashreplace")


def body(sent: params.Sent, secrets: Collection[str] = ()) -> tuple[str | None, str | None, str | None]:
    """(text, None, how) for text bodies, (None, base64, how) for bytes that are not UTF-8
    text: either way redacted first, as the form or JSON it was read as (both if it was
    neither). A compressed or UTF-16/32 body is kept decoded (``how`` says so), since the
    token cannot be found in its bytes; one still binary then is not kept: (None, None, why).
    """
    data = sent.body
    if data is None:
        return None, None, sent.body_note
    if not data:
        return "", None, sent.body_note
    if sent.body_kind != "json":
        form = redact_urlencoded(data, sent.body_parts, secrets)
        if sent.body_kind != "form" and form != data:
            # Neither a form nor JSON, and redacted as a form it changed: where its JSON members
            # stand is no longer known, so it is not kept.
            return None, None, f"{len(data)} bytes of an unsupported type holding a token: not kept"
        data = form
    if sent.body_kind != "form":
        data = redact_json(data, sent.body_members, secrets)
    data = scrub(data, secrets)[:MAX_STORED_TEXT]
    try:
        return data.decode("utf-8"), None, sent.body_note
    except UnicodeDecodeError:
        import base64  # noqa: PLC0415  (only quarantine needs it)

        return None, base64.b64encode(data).decode("ascii"), sent.body_note


def clean(value: str, secrets: Collection[str]) -> str:
    """``value`` storable, with every secret in it replaced."""
    return storable(scrub_text(value, secrets))


# The shortest start of a secret that a cut name may not end in.
MIN_SECRET_START = 4


def clean_name(name: str, secrets: Collection[str]) -> str:
    """A parameter's name as an error names it, cleaned. A name too long is named cut, ending in
    "..." (:func:`acd_hub.params.merge_parameters`, before any secret is known): a secret across
    the cut is not found whole there, so a cut that ends in a secret's start loses it too."""
    name = clean(name, secrets)
    if not name.endswith("..."):
        return name
    head = name.removesuffix("...")
    for secret in secrets:
        for length in range(min(len(secret), len(head)), MIN_SECRET_START - 1, -1):
            if head.endswith(secret[:length]):
                return head[:-length] + REDACTED + "..."
    return name


def _holds_secret(text: str, secrets: Collection[str]) -> bool:
    for secret in secrets:  # noqa: SIM110  (a loop, not any(): it runs several times per request)
        if secret in text:
            return True
    return False


def redact_urlencoded(data: bytes, split: Sequence[params.Part], secrets: Collection[str]) -> bytes:
    """``data`` as sent, but the value of every part (``split``: ``data``'s parts) naming the token
    (by :func:`acd_hub.params.param_name`, however its name is encoded) and every name or value
    holding a secret replaced by ``***``."""
    if not _holds_secret(
        "\n".join([f"{part.decoded_name}\n{part.decoded_value}" for part in split]), secrets
    ):
        # only token parameters to replace (one search of all names and values: a secret found
        # across two of them, a false alarm, only takes the way below, which replaces no more)
        if not any(part.token and part.equals for part in split):
            return data
        token = REDACTED.encode()
        return b"".join(
            part.name + part.equals + (token if part.token and part.equals else part.value) + part.separator
            for part in split
        )
    out = []
    for part in split:
        name, value = part.name, part.value
        if part.equals:
            if _holds_secret(part.decoded_name, secrets):
                name = _encode_part(scrub_text(part.decoded_name, secrets))
            if part.token:
                value = REDACTED.encode()
            elif _holds_secret(part.decoded_value, secrets):
                value = _encode_part(scrub_text(part.decoded_value, secrets))
        out.append(name + part.equals + value + part.separator)
    return b"".join(out)


def _encode_part(text: str) -> bytes:
    return quote(text, safe="*").encode("ascii")


_JSON_STRING = re.compile(rb'"((?:[^"\\]|\\.)*)"')


def _string_holds_secret(raw: bytes, secrets: Collection[str]) -> bool:
    """Whether a JSON string (its inside as sent) says a secret once its escapes are decoded."""
    text = params.json_string(raw)
    return text is not None and _holds_secret(text, secrets)


def redact_json(data: bytes, found: Sequence[params.Member], secrets: Collection[str]) -> bytes:
    """JSON text (valid or not) with the value of every member named ``token`` (escapes such as
    ``"\\u0074oken"`` decoded first) and every string holding a secret replaced by ``"***"``."""
    out = []
    position = 0
    for member in found:
        key, value = member.key, member.value
        if _holds_secret(member.name, secrets):
            key = REDACTED.encode()
        if value is not None and (member.token or _holds_secret(member.value_text, secrets)):
            value = b'"' + REDACTED.encode() + b'"'
        out.append(data[position : member.start] + b'"' + key + b'"' + member.colon + (value or b""))
        position = member.end
    out.append(data[position:])

    def plain(match: re.Match[bytes]) -> bytes:
        return b'"***"' if _string_holds_secret(match.group(1), secrets) else match.group(0)

    return _JSON_STRING.sub(plain, b"".join(out))


@functools.lru_cache(maxsize=4)  # the valid tokens change only with a rotation
def secret_forms(secrets: frozenset[str]) -> tuple[bytes, ...]:
    """Each secret as it may appear in raw bytes: in UTF-8 and in Windows-1252, each as is and
    percent-encoded, longest first. Windows-1252 too since :func:`acd_hub.params.decode_text`
    reads text that is not UTF-8 so: a non-ASCII token sent that way authenticates, and a body
    kept as base64 (a JSON body in Windows-1252) held it in clear. An ASCII token's forms are
    the same in both."""
    encoded = set()
    for secret in secrets:
        if not secret:
            continue
        encoded.add(secret.encode("utf-8", "surrogateescape"))
        with contextlib.suppress(UnicodeEncodeError):  # else no Windows-1252 text says it
            encoded.add(secret.encode("cp1252"))
    forms = {
        form for raw in encoded for form in (raw, quote(raw, safe="").encode(), quote_plus(raw).encode())
    }
    return tuple(sorted(forms, key=len, reverse=True))


def scrub(data: bytes, secrets: Collection[str]) -> bytes:
    for form in secret_forms(frozenset(secrets)):
        if form in data:
            data = data.replace(form, REDACTED.encode())
    return data


def scrub_text(text: str, secrets: Collection[str]) -> str:
    if not _holds_secret(text, secrets):
        return text
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
