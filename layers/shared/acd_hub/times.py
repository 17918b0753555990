"""Timestamps as the ACD sends them -> aware UTC datetimes.

Numeric fields are milliseconds since the epoch. Fields the vendor types as "string" may be
ms, ISO 8601, or ``YYYY-MM-DD HH:MM[:SS[.fff]]`` in the ACD's own time zone; a naive ISO value
is read in that zone too. Digits are ASCII only.

A local wall-clock time the zone's DST change makes doubtful is accepted, and flagged
(:data:`DST_AMBIGUOUS`, :data:`DST_GAP`), since the ACD cannot be asked what it meant:

* in the autumn overlap (a wall clock that just jumped back) the first, summer-time reading is
  taken;
* in the spring gap (a wall clock time that never happened) the time is read with the offset
  in force before the change, i.e. as if the clock had not been set forward yet.

Anything outside 2000..2100 is refused, before it can overflow ``datetime``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, time, tzinfo
from typing import Any, Literal
from zoneinfo import ZoneInfo

from acd_hub.keys import iso_utc

# Plausibility window: catches seconds sent where milliseconds belong (1970 in ms) and garbage.
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)
# Longer than any ISO 8601 timestamp with microseconds and an offset.
MAX_TIME_LENGTH = 40

# What tells a writer the time (the ingest its arrivals, an aggregator or a rebuild when its
# reports were written): injected, so that tests and replays run on a clock of their own.
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def iso_of_ms(value: Any) -> str | None:
    """A stored epoch-milliseconds figure (an int, or the Decimal DynamoDB reads) as the reports
    show a moment: :func:`acd_hub.keys.iso_utc`'s text. None where there is none."""
    if value is None:
        return None
    return iso_utc(datetime.fromtimestamp(int(value) / 1000, tz=UTC))


TimeFlag = Literal["dst_gap", "dst_ambiguous"]
DST_GAP: TimeFlag = "dst_gap"
DST_AMBIGUOUS: TimeFlag = "dst_ambiguous"

_MILLIS = re.compile(r"^[0-9]{1,16}$")
_LOCAL = re.compile(
    r"^([0-9]{4})-([0-9]{2})-([0-9]{2})[ T]([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:[.,]([0-9]{1,6}))?)?$"
)
_LOCAL_MINUTES = re.compile(r"^([0-9]{4})-([0-9]{2})-([0-9]{2}) ([0-9]{2}):([0-9]{2})$")
_HHMM = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$")
# An ACD that does not percent-encode "+" (see acd_hub.phone) sends the ISO 8601 offset of
# "2025-11-20T10:00:00+01:00" as "2025-11-20T10:00:00 01:00" (a query or form decodes "+" as a
# space): a date, a time, then one space and an offset is read with "+". A "-" offset arrives as
# sent, and "2025-11-20 10:00" (one space, no time before it) is untouched.
_UNENCODED_PLUS_OFFSET = re.compile(
    r"^([0-9]{4}-?[0-9]{2}-?[0-9]{2}[T ][0-9]{2}:?[0-9]{2}(?::?[0-9]{2}(?:[.,][0-9]{1,9})?)?)"
    r" ([0-9]{2}(?::?[0-9]{2})?)$"
)
_RANGE = "outside the plausible range 2000..2100"


def from_millis(text: str) -> datetime:
    if not _MILLIS.match(text):
        raise ValueError("must be milliseconds since 1970-01-01 (ASCII digits only, at most 16)")
    millis = int(text)
    if not EARLIEST.timestamp() * 1000 <= millis < LATEST.timestamp() * 1000:
        if EARLIEST.timestamp() <= millis < LATEST.timestamp():
            raise ValueError("looks like seconds; milliseconds since 1970-01-01 are expected")
        raise ValueError(_RANGE)
    return datetime.fromtimestamp(millis / 1000, tz=UTC)


def from_flexible(text: str, zone: ZoneInfo, flags: list[TimeFlag] | None = None) -> datetime:
    """ms since epoch, ISO 8601 (offset or naive), or ``YYYY-MM-DD HH:MM[:SS]`` local time.
    A doubtful local time appends its flag to ``flags``."""
    text = text.strip()
    if len(text) > MAX_TIME_LENGTH or not text.isascii():
        raise ValueError(
            f"must be ms since epoch or a date and time (ASCII, at most {MAX_TIME_LENGTH} characters)"
        )
    if _MILLIS.match(text):
        return from_millis(text)
    match = _LOCAL.match(text)
    if match:
        year, month, day, hour, minute, second, fraction = match.groups()
        micro = int((fraction or "0").ljust(6, "0"))
        try:
            naive = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second or 0), micro)
        except ValueError:
            raise ValueError("not a valid date and time") from None
        return _in_zone(naive, zone, flags)
    text = _UNENCODED_PLUS_OFFSET.sub(r"\1+\2", text)
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            "must be ms since epoch, ISO 8601, or 'YYYY-MM-DD HH:MM:SS' in the ACD's time zone"
        ) from None
    if parsed.tzinfo is None:
        return _in_zone(parsed, zone, flags)
    return _to_utc(parsed)


def from_local_minutes(text: str, zone: ZoneInfo, flags: list[TimeFlag] | None = None) -> datetime:
    """``YYYY-MM-DD HH:MM`` (schedule windows) in the ACD's zone."""
    match = _LOCAL_MINUTES.match(text.strip())
    if not match:
        raise ValueError("must be 'YYYY-MM-DD HH:MM'")
    try:
        year, month, day, hour, minute = (int(part) for part in match.groups())
        naive = datetime(year, month, day, hour, minute)
    except ValueError:
        raise ValueError("not a valid date and time") from None
    return _in_zone(naive, zone, flags)


def clock_time(text: str) -> time:
    """``HH:MM`` (00:00..23:59)."""
    match = _HHMM.match(text.strip())
    if not match:
        raise ValueError("must be 'HH:MM' (00:00 to 23:59)")
    return time(int(match.group(1)), int(match.group(2)))


def wall_clock_flag(naive: datetime, zone: tzinfo) -> TimeFlag | None:
    """Whether a local wall-clock time falls in the zone's DST overlap or gap."""
    first, second = naive.replace(tzinfo=zone, fold=0), naive.replace(tzinfo=zone, fold=1)
    if first.utcoffset() == second.utcoffset():
        return None
    # fold only matters in an overlap or a gap; a gap's time does not survive the round trip
    back = first.astimezone(UTC).astimezone(zone).replace(tzinfo=None)
    return DST_AMBIGUOUS if back == naive else DST_GAP


def _in_zone(naive: datetime, zone: ZoneInfo, flags: list[TimeFlag] | None) -> datetime:
    # Checked on the wall clock first: year 1 or 9999 must not reach an offset conversion.
    if not EARLIEST.year <= naive.year < LATEST.year:
        raise ValueError(_RANGE)
    moment = _to_utc(naive.replace(tzinfo=zone, fold=0))
    flag = wall_clock_flag(naive, zone)
    if flag and flags is not None:
        flags.append(flag)
    return moment


def _to_utc(moment: datetime) -> datetime:
    try:
        utc = moment.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00+14:00, 9999-12-31T23:59-05:00
        raise ValueError(_RANGE) from None
    if EARLIEST <= utc < LATEST:
        return utc
    raise ValueError(_RANGE)
