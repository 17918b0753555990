"""DynamoDB adapter for the events table. The low-level client is injected (created once per
container by the handler), so tests hand it a moto-backed client or a fake.

What a failed write means decides the answer: the store unavailable (throttled, a 5xx, a
time-out, no connection) is :class:`StoreUnavailable` (503, the ACD retries); content the store
refuses (a ``ValidationException``, parameters botocore will not send) is :class:`StoreRefused`,
answered 4xx and quarantined, since a retry would be refused forever.

A ``callevent`` claims its key before it is stored (see :mod:`acd_hub.keys`): two conditional
puts, not one ``TransactWriteItems``. Both are one round trip each; the transaction would bill
twice the write units of the two puts, and moto deep-copies the whole table on every
transaction (measured: 0.4 s per write at 1,000 items, 1.5 s at 4,000), which the local stack
could not carry. Between the two puts nothing is lost: a retry finds its own claim and goes on.
"""

from __future__ import annotations

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
        if claim is not None:
            stored_claim = self._put(
                claim,
                ConditionExpression="attribute_not_exists(pk)",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
            if stored_claim is not None and (fields := conflicting_fields(claim, stored_claim)):
                raise EventConflict(item["event_key"], fields)
        # One conditional write: a duplicate costs one attempt and changes nothing.
        return self._put(item, ConditionExpression="attribute_not_exists(pk)") is None

    def put_rejected(self, item: dict[str, Any]) -> None:
        self._put(item)
