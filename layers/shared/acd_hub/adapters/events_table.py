"""DynamoDB adapter for the events table. The low-level client is injected (created once per
container by the handler), so tests hand it a moto-backed client or a fake.

What a failed write means decides the answer: the store unavailable (throttled, a 5xx, a
time-out, no connection) is :class:`StoreUnavailable` (503, the ACD retries); content the store
refuses (a ``ValidationException``, parameters botocore will not send) is :class:`StoreRefused`,
answered 4xx and quarantined, since a retry would be refused forever.

A ``callevent`` claims its key before it is stored (see :mod:`acd_hub.keys`): two conditional
puts. Between the two puts nothing is lost: a retry finds its own claim and goes on. If the
store refuses the event itself (:class:`StoreRefused`: a retry would be refused forever), the
claim is taken back — a conditional delete, only if it still is the one this request wrote
(each claim carries a random ``claim_id``) — so that a corrected delivery of the same key is
stored rather than found in conflict with content that was never stored. Should that delete
fail too (the store unavailable at that very moment), the claim stays, and a corrected
delivery is quarantined as a conflict. The ingest may delete claim items only (its IAM policy
limits ``DeleteItem`` to partition keys ``EVENT_KEY#...``).

Why not one ``TransactWriteItems`` of claim and event? It would be all or nothing without the
delete, but DynamoDB bills a transactional write twice (2 write units per KB of each item):
every stored ``callevent`` would pay double, for a failure that validation makes rare (values
and parameters are bounded long before DynamoDB's 400 KB). The take-back costs one delete, and
only when an event is refused.

The same table's reads (the aggregators' and the rebuild's, key design in :mod:`acd_hub.keys`)
and the records of its stream are here too: one module per table.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from botocore.exceptions import BotoCoreError, ClientError, ParamValidationError

from acd_hub import keys
from acd_hub.adapters.dynamodb import Key, Table, wire_key
from acd_hub.errors import EventConflict, StoreRefused, StoreUnavailable
from acd_hub.events import StoredEvent, StreamRecord

# Codes that judge the request, not the store's health.
REFUSED_CODES = frozenset({"ValidationException", "SerializationException"})


class EventsTable(Table):
    """Implements :class:`~acd_hub.ports.EventStore` (the ingest) and
    :class:`~acd_hub.ports.EventLog` (the aggregators and the rebuild). Values go to the wire as
    they are: a value DynamoDB has no type for (a float) is refused, never rounded."""

    # -- the ingest's writes --

    def _put(self, item: dict[str, Any], **condition: Any) -> dict[str, Any] | None:
        """None if written; the stored item (or {}) if the condition failed."""
        try:
            self.client.put_item(TableName=self.name, Item=self.encode(item), **condition)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "ClientError")
            if code == "ConditionalCheckFailedException":
                old: dict[str, Any] = dict(exc.response.get("Item") or {})  # type: ignore[call-overload]
                return self.decode(old)
            if code in REFUSED_CODES:
                raise StoreRefused(code) from exc
            raise StoreUnavailable(code) from exc
        except ParamValidationError as exc:
            raise StoreRefused("ParamValidationError") from exc
        except (TypeError, ValueError) as exc:  # TypeSerializer: a value DynamoDB has no type for
            raise StoreRefused(type(exc).__name__) from exc
        except BotoCoreError as exc:  # connection refused, timeouts, ...
            raise StoreUnavailable(type(exc).__name__) from exc
        return None

    def put_event(self, item: dict[str, Any], claim: dict[str, Any] | None = None) -> bool:
        if claim is None:
            return self._put_once(item)
        mine = {**claim, "claim_id": uuid.uuid4().hex}
        stored_claim = self._put(
            mine,
            ConditionExpression="attribute_not_exists(pk)",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
        if stored_claim is not None:  # claimed before: by a retry of this event, or another one
            EventConflict.check(item["event_key"], claim, stored_claim)
        try:
            return self._put_once(item)
        except StoreRefused:
            if stored_claim is None:  # the claim is this request's: take it back
                self._take_back(mine)
            raise

    def _put_once(self, item: dict[str, Any]) -> bool:
        # One conditional write: a duplicate costs one attempt and changes nothing.
        return self._put(item, ConditionExpression="attribute_not_exists(pk)") is None

    def _take_back(self, claim: dict[str, Any]) -> None:
        """Delete ``claim`` if it still is the one written (a failure leaves it: see above)."""
        # Not ours any more, or the store unavailable: either way the refusal is the answer.
        with contextlib.suppress(ClientError, BotoCoreError):
            self.client.delete_item(
                TableName=self.name,
                Key=wire_key((claim["pk"], claim["sk"])),
                ConditionExpression="claim_id = :mine",
                ExpressionAttributeValues=self.encode({":mine": claim["claim_id"]}),
            )

    def put_rejected(self, item: dict[str, Any]) -> None:
        self._put(item)

    def mark_replay(self, key: Key, fields: Mapping[str, Any]) -> bool:
        """Record a replay on a quarantined request's item (``acd-admin replay``): set ``fields``
        and count it. False if the item is gone (expired: it is not resurrected as a marker)."""
        names = {f"#f{i}": name for i, name in enumerate(fields)} | {"#count": "replay_count"}
        values = {f":f{i}": value for i, value in enumerate(fields.values())} | {":zero": 0, ":one": 1}
        sets = [f"#f{i} = :f{i}" for i in range(len(fields))]
        try:
            self.client.update_item(
                TableName=self.name,
                Key=wire_key(key),
                UpdateExpression="SET " + ", ".join([*sets, "#count = if_not_exists(#count, :zero) + :one"]),
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=self.encode(values),
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            return False
        return True

    # -- the aggregators' and the rebuild's reads: strongly consistent base-table queries --

    def agent_day(self, agent: str, day: str) -> list[StoredEvent]:
        return [StoredEvent.from_item(i) for i in self.query(keys.agent_day_pk(agent, day), consistent=True)]

    def agent_edge(self, agent: str, day: str, *, last: bool) -> StoredEvent | None:
        for item in self.query(keys.agent_day_pk(agent, day), consistent=True, forward=not last, limit=1):
            return StoredEvent.from_item(item)
        return None

    def agent_before(self, agent: str, day: str, sort_key: str) -> StoredEvent | None:
        for item in self.query(
            keys.agent_day_pk(agent, day), consistent=True, forward=False, limit=1, sk_before=sort_key
        ):
            return StoredEvent.from_item(item)
        return None

    def agent_after(self, agent: str, day: str, sort_key: str) -> StoredEvent | None:
        for item in self.query(keys.agent_day_pk(agent, day), consistent=True, limit=2, sk_from=sort_key):
            if str(item["sk"]) != sort_key:
                return StoredEvent.from_item(item)
        return None

    def agent_between(
        self, agent: str, day: str, first: str, last: str, limit: int
    ) -> list[tuple[StoredEvent, str]]:
        items = self.query(
            keys.agent_day_pk(agent, day), consistent=True, sk_between=(first, last), limit=limit
        )
        return [(StoredEvent.from_item(item), str(item["sk"])) for item in items]

    def agent_since(self, agent: str, since_ms: int, zone: ZoneInfo) -> Iterator[StoredEvent]:
        since = datetime.fromtimestamp(since_ms / 1000, tz=UTC)
        day = since.astimezone(zone).date()
        for partition, bound in ((day, keys.iso_utc(since)), (day + timedelta(days=1), None)):
            pk = keys.agent_day_pk(agent, partition.isoformat())
            # a call needs the few states from its start to the end of its wrap-up: small pages
            for item in self.query(pk, consistent=True, sk_from=bound, page_size=8):
                yield StoredEvent.from_item(item)

    def cmd_day(self, cmd: str, day: str, shards: int) -> Iterator[StoredEvent]:
        """Every event of one type and day, from all shards of the ByCmdDay index (the rebuild's
        listing: an index, so eventually consistent, which is fine for days already received)."""
        for shard in range(shards):
            for item in self.query(
                keys.cmd_day_pk(cmd, day, shard), index=keys.BY_CMD_DAY, attribute="gsi3pk"
            ):
                if item.get("kind") == "event":
                    yield StoredEvent.from_item(item)

    def call(self, task_id: str) -> list[StoredEvent]:
        return [StoredEvent.from_item(i) for i in self.query(keys.call_pk(task_id), consistent=True)]

    # -- the table's stream --

    def stream_records(self, event: Mapping[str, Any]) -> list[StreamRecord]:
        """The records of a stream batch (Lambda's event), each image decoded as stored."""
        records = []
        for raw in event.get("Records", []):
            change = raw.get("dynamodb") or {}
            sequence = str(change.get("SequenceNumber", ""))
            try:
                image = change.get("NewImage")
                records.append(StreamRecord(sequence, self.decode(image) if image else None))
            except Exception as exc:  # an image no ingest could have written: it fails alone
                records.append(StreamRecord(sequence, None, type(exc).__name__))
        return records
