"""DynamoDB adapter for the events table. The low-level client is injected (created once per
container by the handler), so tests hand it a moto-backed client or a fake."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from acd_hub.errors import StoreUnavailable

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


class EventStore(Protocol):
    def put_event(self, item: dict[str, Any]) -> bool:
        """Store once. True if stored now, False if the same event was already there."""
        ...

    def put_rejected(self, item: dict[str, Any]) -> None: ...


def _serializer() -> Any:
    from boto3.dynamodb.types import TypeSerializer  # noqa: PLC0415  (boto3 import is costly)

    return TypeSerializer()


class DynamoEventStore:
    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self._table = table_name
        self._serialize = _serializer().serialize

    def _put(self, item: dict[str, Any], **condition: Any) -> bool:
        wire = {name: self._serialize(value) for name, value in item.items()}
        try:
            self._client.put_item(TableName=self._table, Item=wire, **condition)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise StoreUnavailable(exc.response.get("Error", {}).get("Code", "ClientError")) from exc
        except BotoCoreError as exc:  # connection refused, timeouts, ...
            raise StoreUnavailable(type(exc).__name__) from exc
        return True

    def put_event(self, item: dict[str, Any]) -> bool:
        # One conditional write: a duplicate costs one attempt and changes nothing.
        return self._put(item, ConditionExpression="attribute_not_exists(pk)")

    def put_rejected(self, item: dict[str, Any]) -> None:
        self._put(item)
