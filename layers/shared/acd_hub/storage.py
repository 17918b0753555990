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

Why not one ``TransactWriteItems`` of claim and event, now that moto's transactions cost what
DynamoDB's do (:mod:`acd_tools.moto_fixes`)? It would be all or nothing without the delete, but
DynamoDB bills a transactional write twice (2 write units per KB of each item): every stored
``callevent`` would pay double, for a failure that validation makes rare (values and
parameters are bounded long before DynamoDB's 400 KB). The take-back costs one delete, and only
when an event is refused.
"""

from __future__ import annotations

import contextlib
import uuid
from typing import TYPE_CHECKING, Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError, ParamValidationError

from acd_hub.errors import StoreUnavailable
from acd_hub.items import conflicting_fields

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

# Codes that judge the request, not the store's health.
REFUSED_CODES = frozenset({"ValidationException", "SerializationException"})


class StoreRefused(Exception):
    """The store will never take this item (its content, not its health)."""


class EventConflict(Exception):
    """The event key is already stored with other content."""

    def __init__(self, event_key: str, fields: list[str]) -> None:
        super().__init__(event_key)
        self.event_key = event_key
        self.fields = fields


class EventStore(Protocol):
    def put_event(self, item: dict[str, Any], claim: dict[str, Any] | None = None) -> bool:
        """Store once. True if stored now, False if the same event was already there. With a
        ``claim`` the key is claimed first; raises EventConflict if it holds other content."""
        ...

    def put_rejected(self, item: dict[str, Any]) -> None: ...


def _serializer() -> Any:
    from boto3.dynamodb.types import TypeSerializer  # noqa: PLC0415  (boto3 import is costly)

    return TypeSerializer()


def _deserializer() -> Any:
    from boto3.dynamodb.types import TypeDeserializer  # noqa: PLC0415

    return TypeDeserializer()


class DynamoEventStore:
    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self._table = table_name
        self._serialize = _serializer().serialize

    def _put(self, item: dict[str, Any], **condition: Any) -> dict[str, Any] | None:
        """None if written; the stored item (or {}) if the condition failed."""
        try:
            wire = {name: self._serialize(value) for name, value in item.items()}
            self._client.put_item(TableName=self._table, Item=wire, **condition)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "ClientError")
            if code == "ConditionalCheckFailedException":
                old: dict[str, Any] = dict(exc.response.get("Item") or {})  # type: ignore[call-overload]
                return {name: _deserializer().deserialize(value) for name, value in old.items()}
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
        if stored_claim is not None and (fields := conflicting_fields(claim, stored_claim)):
            raise EventConflict(item["event_key"], fields)
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
            self._client.delete_item(
                TableName=self._table,
                Key={"pk": self._serialize(claim["pk"]), "sk": self._serialize(claim["sk"])},
                ConditionExpression="claim_id = :mine",
                ExpressionAttributeValues={":mine": self._serialize(claim["claim_id"])},
            )

    def put_rejected(self, item: dict[str, Any]) -> None:
        self._put(item)
