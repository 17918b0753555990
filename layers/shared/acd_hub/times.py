"""Timestamps as the ACD sends them -> aware UTC datetimes.

Numeric fields are milliseconds since the epoch. Fields the vendor types as "string" may be
ms, ISO 8601, or ``YYYY-MM-DD HH:MM[:SS[.fff]]`` in the ACD's own time zone; a naive ISO value
is read in that zone too. In the autumn DST overlap the first (summer-time) reading is taken,
as a wall clock that just jumped back cannot tell.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

# Plausibility window: catches seconds sent where milliseconds belong (1970 in ms) and garbage.
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 1, 1, tzinfo=UTC)

_MILLIS = re.compile(r"^\d{1,16}$")
_LOCAL = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,6}))?)?$")
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def from_millis(text: str) -> datetime:
    if not _MILLIS.match(text):
        raise ValueError("must be milliseconds since 1970-01-01 (digits only)")
    moment = datetime.fromtimestamp(int(text) / 1000, tz=UTC)
    return _plausible(moment, hint=int(text))


def from_flexible(text: str, zone: ZoneInfo) -> datetime:
    """ms since epoch, ISO 8601 (offset or naive), or ``YYYY-MM-DD HH:MM[:SS]`` local time."""
    text = text.strip()
    if _MILLIS.match(text):
        return from_millis(text)
    match = _LOCAL.match(text)
    if match:
        year, month, day, hour, minute, second, fraction = match.groups()
        micro = int((fraction or "0").ljust(6, "0"))
        local = datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second or 0), micro, tzinfo=zone
        )
        return _plausible(local.astimezone(UTC))
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            "must be ms since epoch, ISO 8601, or 'YYYY-MM-DD HH:MM:SS' in the ACD's time zone"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=zone)
    return _plausible(parsed.astimezone(UTC))


def from_local_minutes(text: str, zone: ZoneInfo) -> datetime:
    """``YYYY-MM-DD HH:MM`` (schedule windows) in the ACD's zone."""
    try:
        naive = datetime.strptime(text.strip(), "%Y-%m-%d %H:%M")
    except ValueError:
        raise ValueError("must be 'YYYY-MM-DD HH:MM'") from None
    return _plausible(naive.replace(tzinfo=zone).astimezone(UTC))


def clock_time(text: str) -> time:
    """``HH:MM`` (00:00..23:59)."""
    match = _HHMM.match(text.strip())
    if not match:
        raise ValueError("must be 'HH:MM' (00:00 to 23:59)")
    return time(int(match.group(1)), int(match.group(2)))


def _plausible(moment: datetime, hint: int | None = None) -> datetime:
    if EARLIEST <= moment < LATEST:
        return moment
    if hint is not None and moment < EARLIEST and EARLIEST.timestamp() <= hint < LATEST.timestamp():
        raise ValueError("looks like seconds; milliseconds since 1970-01-01 are expected")
    raise ValueError("outside the plausible range 2000..2100")
