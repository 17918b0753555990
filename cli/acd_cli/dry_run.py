"""DynamoDB clients that write nothing, for ``acd-admin``'s dry runs: one that answers a
conditional put as DynamoDB would (the replay), one that swallows every write and counts it
(the rebuild).
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


class DryRunClient:
    """A DynamoDB client that reads but does not write: ``PutItem`` is answered as DynamoDB
    would answer it, from a consistent read of the item's key (a conditional put on a key that
    holds an item fails, and hands the item back when asked to), so the store adapter decides
    exactly as it would for real, whichever conditional puts it makes."""

    def __init__(self, client: DynamoDBClient) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def put_item(self, **request: Any) -> dict[str, Any]:
        item = request["Item"]
        found = self._client.get_item(
            TableName=request["TableName"], Key={"pk": item["pk"], "sk": item["sk"]}, ConsistentRead=True
        ).get("Item")
        if found is not None and "attribute_not_exists" in request.get("ConditionExpression", ""):
            error: dict[str, Any] = {
                "Error": {"Code": "ConditionalCheckFailedException", "Message": "dry run: the item exists"}
            }
            if request.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD":
                error["Item"] = found
            raise ClientError(error, "PutItem")  # type: ignore[arg-type]
        return {}


# Every write a DynamoDB client can make, with what DynamoDB answers when it has nothing to add.
_WRITES: dict[str, dict[str, Any]] = {
    "put_item": {},
    "update_item": {},
    "delete_item": {},
    "transact_write_items": {},
    "batch_write_item": {"UnprocessedItems": {}},
}


class NoWritesClient:
    """A DynamoDB client for ``rebuild --dry-run``: reads as usual, answers every write as done
    without sending it (and counts it). The rebuild compares what is stored with the recompute
    before it writes, so what it counts is what it would write."""

    def __init__(self, client: DynamoDBClient) -> None:
        self._client = client
        self.writes: Counter[str] = Counter()

    def __getattr__(self, name: str) -> Any:
        if name in _WRITES:

            def swallowed(**_request: Any) -> dict[str, Any]:
                self.writes[name] += 1
                return dict(_WRITES[name])

            return swallowed
        return getattr(self._client, name)
