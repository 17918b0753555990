"""Phone numbers in the ACD's three formats -> E.164, with the raw value always kept.

* ACD format: national with leading ``0`` (``02212601599``), international with ``00``.
* FQTN ``00``: everything international with ``00`` (``00492212601599``).
* FQTN ``+``: everything international with ``+`` (``+492212601599``).

A suppressed number (last three digits ``xxx``) is kept as sent and flagged, never completed.
Anything that is not a recognisable number (an extension, ``anonymous``) is kept raw with
``e164`` empty rather than rejected: the event itself is still worth storing. Only a value
longer than :data:`MAX_PHONE_LENGTH` is refused.

An ACD that does not percent-encode ``+`` in a query or form sends ``+492212601599`` as
`` 492212601599`` (a form decodes ``+`` as a space): a value that starts with one space and a
digit 1-9 is read with ``+`` (``raw`` keeps the ``+``); a space before ``0`` is only a space.
Digits are ASCII only.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    from types import ModuleType

PhoneFormat = Literal["national", "international_00", "international_plus", "unrecognized"]

# E.164 has at most 15 digits; room for a "00" prefix and separators, no more.
MAX_PHONE_LENGTH = 32

_SEPARATORS = re.compile(r"[\s()/.\-]")
_SUPPRESSED = re.compile(r"^\+?[0-9]*[xX]{3}$")
_DIGITS = re.compile(r"^\+?[0-9]+$")
_UNENCODED_PLUS = re.compile(r"^ [1-9]")


class PhoneNumber(BaseModel):
    # built when a number is first parsed (or a model holding one is), not at a cold start's import
    model_config = ConfigDict(frozen=True, defer_build=True)

    raw: str
    e164: str | None = None
    format: PhoneFormat = "unrecognized"
    suppressed: bool = False

    def masked(self) -> str:
        """For log lines: never the full number."""
        shown = self.e164 or self.raw
        return shown[:-4] + "****" if len(shown) > 6 else "****"


@lru_cache(maxsize=1)
def _phonenumbers() -> ModuleType:
    """``phonenumbers`` (~15 ms to import), loaded when the first number is parsed, not at a cold
    start whose first request may carry none."""
    import phonenumbers  # noqa: PLC0415

    return phonenumbers


def _format_of(compact: str) -> PhoneFormat:
    if compact.startswith("+"):
        return "international_plus"
    if compact.startswith("00"):
        return "international_00"
    if compact.startswith("0"):
        return "national"
    return "unrecognized"


@lru_cache(maxsize=4096)
def normalize_phone(raw: str, region: str = "DE") -> PhoneNumber:
    """Raises ValueError only for a value too long to be a phone number."""
    if len(raw) > MAX_PHONE_LENGTH:
        raise ValueError(f"longer than {MAX_PHONE_LENGTH} characters: not a phone number")
    if _UNENCODED_PLUS.match(raw):
        raw = "+" + raw[1:]
    compact = _SEPARATORS.sub("", raw)
    if _SUPPRESSED.match(compact):
        return PhoneNumber(raw=raw, format=_format_of(compact), suppressed=True)
    if not _DIGITS.match(compact):
        return PhoneNumber(raw=raw)
    number_format = _format_of(compact)
    if number_format == "unrecognized":
        # no prefix at all: an extension or a short code; no E.164 can be claimed
        return PhoneNumber(raw=raw)
    text = "+" + compact[2:] if number_format == "international_00" else compact
    phonenumbers = _phonenumbers()
    try:
        parsed = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return PhoneNumber(raw=raw, format=number_format)
    if not phonenumbers.is_possible_number(parsed):
        return PhoneNumber(raw=raw, format=number_format)
    return PhoneNumber(
        raw=raw,
        e164=phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164),
        format=number_format,
    )
