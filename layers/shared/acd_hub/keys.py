"""The key design of the events table — one place, used by the writer, the readers and the tests.

Every item has ``pk``/``sk``. Partition keys gather one call, one agent-day or one shard of a
type-day listing, never a whole day's firehose (a partition takes ~1,000 writes/s).

=====================  ===============================  =====================================
item                   pk                               sk
=====================  ===============================  =====================================
agentstate             ``AGENT#<agentid>#<day>``         ``<event time>#<event key>``
callevent, recorded-   ``CALL#<taskid>``                 ``<event time>#<event key>``
call, enqueuecall,
classificationevent
(``callid``)
schedulecallevent      ``SCHEDULE#<scheduleid>``         ``<event time>#<event key>``
configchanged,         ``EVENT#<event key>``             ``EVENT``
broadcastevent
key claim (callevent)  ``EVENT_KEY#<event key>``         ``CLAIM``
rejected request       ``REJECTED#<day>#<shard>``        ``<received time>#<request id>``
=====================  ===============================  =====================================

One event key, one stored event. Most keys are a hash of the parameters, so the same key means
the same content and the same primary key: the event's own conditional put decides. A
``callevent`` is keyed by the ACD's ``id``, whose time and task id (both in the primary key)
may differ on a second delivery, so it first claims its key: a ``kind = "claim"`` item at
``EVENT_KEY#<key>`` holding a digest of each normalized field. A second delivery of the same
content finds its own claim and then the event (a duplicate); one with other content finds
another's claim (a conflict) and is never stored. Claims carry no ``cmd`` and no index
attributes, and stream consumers only take ``kind = "event"``.

Secondary indexes (sparse: an item carries an index's attributes only if it belongs there):

* ``ByAgentDay`` (``gsi1pk``/``gsi1sk``): events other than agentstate that name an agent,
  ``gsi1pk = AGENT#<agent>#<day>`` — the same string as the agentstate partition, so
  "events of an agent's day" is one base-table query plus one index query.
* ``ByCall`` (``gsi2pk``/``gsi2sk``): agentstate events carrying a taskid,
  ``gsi2pk = CALL#<taskid>`` — again the base partition's string.
* ``ByCmdDay`` (``gsi3pk``/``gsi3sk``): every event, ``gsi3pk = CMD#<cmd>#<day>#<shard>``,
  shard = a stable hash of the event key; readers query all shards in parallel.

``<day>`` is ``YYYY-MM-DD`` in the reporting time zone; ``<event time>`` is UTC ISO 8601 with
milliseconds (``2026-11-20T09:00:00.000Z``), so keys sort by time. Because the primary key is a
pure function of the event, a conditional put (``attribute_not_exists(pk)``) stores each
event once.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, NamedTuple
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from acd_hub.settings import HubSettings

BY_AGENT_DAY = "ByAgentDay"
BY_CALL = "ByCall"
BY_CMD_DAY = "ByCmdDay"


def iso_utc(moment: datetime) -> str:
    """``2026-11-20T09:00:00.000Z``: fixed width, so it sorts as text."""
    moment = moment.astimezone(UTC)
    if moment.year >= 1000:  # isoformat pads years to 4 digits, strftime does not: same text here
        return moment.isoformat(timespec="milliseconds")[:-6] + "Z"  # without "+00:00"
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def day_of(moment: datetime, zone: ZoneInfo) -> str:
    return moment.astimezone(zone).date().isoformat()


def shard_of(key: str, shards: int) -> int:
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=4).digest(), "big") % shards


def agent_day_pk(agent: str, day: str | date) -> str:
    return f"AGENT#{agent}#{day}"


def call_pk(task_id: str) -> str:
    return f"CALL#{task_id.lower()}"


def schedule_pk(schedule_id: str) -> str:
    return f"SCHEDULE#{schedule_id}"


def event_pk(event_key: str) -> str:
    return f"EVENT#{event_key}"


def cmd_day_pk(cmd: str, day: str | date, shard: int) -> str:
    return f"CMD#{cmd}#{day}#{shard}"


def claim_key(event_key: str) -> tuple[str, str]:
    return f"EVENT_KEY#{event_key}", "CLAIM"


def rejected_pk(day: str | date, shard: int) -> str:
    return f"REJECTED#{day}#{shard}"


def time_sk(moment: datetime, key: str) -> str:
    return f"{iso_utc(moment)}#{key}"


def expiry(settings: HubSettings, moment: datetime) -> int | None:
    """An item's ``ttl`` (epoch seconds: the table's time-to-live attribute), or None when items
    are kept forever."""
    if not settings.retention_days:
        return None
    return int((moment + timedelta(days=settings.retention_days)).timestamp())


class Receipt(NamedTuple):
    """Where a refused request is kept (its ``pk``/``sk``), when it came (UTC ISO text), its day
    and when it expires."""

    pk: str
    sk: str
    received_at: str
    day: str
    ttl: int | None


def rejected(request_id: str, received_at: datetime, settings: HubSettings) -> Receipt:
    day = day_of(received_at, settings.report_zone)
    return Receipt(
        rejected_pk(day, shard_of(request_id, settings.cmd_day_shards)),
        time_sk(received_at, request_id),
        iso_utc(received_at),
        day,
        expiry(settings, received_at),
    )
