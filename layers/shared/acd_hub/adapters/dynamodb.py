"""What the two table adapters share: boto3's paginated ``Query`` and batch requests over the
low-level client (created once per container, see :mod:`acd_hub.aws`), items in and out as
plain Python. Each table module says how its values go to and from the wire (its codec)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from acd_hub import backoff
from acd_hub.events import plain

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import PaginatorConfigTypeDef

Key = tuple[str, str]
BATCH_WRITE = 25  # items per BatchWriteItem
BATCH_GET = 100  # keys per BatchGetItem
# What botocore still raises after its own retries when DynamoDB throttles a request.
THROTTLED_CODES = frozenset(
    {"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded"}
)
REFUSED_CODES = frozenset({"ValidationException", "SerializationException"})
# Unprocessed keys and items: AWS asks for exponential backoff between the rounds.
LEFTOVER_ROUNDS = 8
LEFTOVER_BASE_S = 0.05
LEFTOVER_CAP_S = 1.0


@contextlib.contextmanager
def translated() -> Iterator[None]:
    """DynamoDB's answers that mean something to the domain, as the ports' errors: throttling
    (:class:`Throttled`) and a refused write (:class:`Refused`)."""
    try:
        yield
    except ClientError as exc:
        from acd_hub.ports import Refused, Throttled  # noqa: PLC0415  (not at the ingest's import)

        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in THROTTLED_CODES:
            raise Throttled(code) from exc
        if code in REFUSED_CODES:
            raise Refused(code) from exc
        raise


# An int DynamoDB's number context (38 digits) takes exactly, so its text is str(int).
_EXACT_INT = 10**38


def serializer() -> Callable[[Any], Any]:
    """boto3's ``TypeSerializer`` with the types items are made of done directly: the same wire
    values, without its dozen type checks per attribute (the ingest's largest own cost per
    event, profiled). Anything else (Decimal, sets, bytes, a float's refusal, a huge int) is
    TypeSerializer's."""
    from boto3.dynamodb.types import TypeSerializer  # noqa: PLC0415  (boto3 import is costly)

    general = TypeSerializer().serialize

    def to_wire(value: Any) -> Any:
        kind = type(value)
        if kind is str:
            return {"S": value}
        if kind is dict:
            return {"M": {name: to_wire(member) for name, member in value.items()}}
        if kind is int and -_EXACT_INT < value < _EXACT_INT:
            return {"N": str(value)}
        if kind is bool:
            return {"BOOL": value}
        if value is None:
            return {"NULL": True}
        if kind is list:
            return {"L": [to_wire(member) for member in value]}
        return general(value)

    return to_wire


def deserializer() -> Callable[[Any], Any]:
    from boto3.dynamodb.types import TypeDeserializer  # noqa: PLC0415

    return TypeDeserializer().deserialize


def wire_key(key: Key) -> dict[str, Any]:
    return {"pk": {"S": key[0]}, "sk": {"S": key[1]}}


class Table:
    """One table through the low-level client."""

    def __init__(self, client: DynamoDBClient, name: str) -> None:
        self.client = client
        self.name = name
        self._to_wire = serializer()
        self._from_wire = deserializer()

    def encode(self, item: dict[str, Any]) -> dict[str, Any]:
        return {name: self._to_wire(value) for name, value in item.items()}

    def decode(self, item: dict[str, Any]) -> dict[str, Any]:
        """Plain Python: ``Decimal`` -> ``int``/``float``, sets -> sorted lists, binary -> bytes."""
        return {name: plain(self._from_wire(value)) for name, value in item.items()}

    def query(
        self,
        pk: str,
        *,
        index: str | None = None,
        attribute: str = "pk",
        consistent: bool = False,
        forward: bool = True,
        limit: int | None = None,
        sk_between: tuple[str, str] | None = None,
        sk_before: str | None = None,
        sk_from: str | None = None,
        page_size: int | None = None,
        fields: Sequence[str] = (),
    ) -> Iterator[dict[str, Any]]:
        """The items of one partition (or the first ``limit``), a page at a time: a caller that
        stops early reads no further page. ``fields`` (top-level names or ``a.b`` paths) narrows
        what comes back: a listing that needs two attributes of big items does not carry the rest
        over the wire (nor decode it)."""
        names = {"#pk": attribute}
        values: dict[str, Any] = {":pk": {"S": pk}}
        condition = "#pk = :pk"
        if sk_between:
            condition += " AND #sk BETWEEN :lo AND :hi"
            names["#sk"] = "sk"
            values.update({":lo": {"S": sk_between[0]}, ":hi": {"S": sk_between[1]}})
        for operator, bound in (("<", sk_before), (">=", sk_from)):
            if bound is not None:
                condition += f" AND #sk {operator} :bound"
                names["#sk"] = "sk"
                values[":bound"] = {"S": bound}
        request: dict[str, Any] = {
            "TableName": self.name,
            "KeyConditionExpression": condition,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
            "ScanIndexForward": forward,
        }
        if fields:
            paths = []
            for number, path in enumerate(fields):
                parts = []
                for depth, name in enumerate(path.split(".")):
                    placeholder = f"#f{number}_{depth}"
                    names[placeholder] = name
                    parts.append(placeholder)
                paths.append(".".join(parts))
            request["ProjectionExpression"] = ", ".join(paths)
        if index:
            request["IndexName"] = index
        elif consistent:
            request["ConsistentRead"] = True
        paging: PaginatorConfigTypeDef = {}
        if limit:
            paging["MaxItems"] = limit
        if size := limit or page_size:
            paging["PageSize"] = size
        pages = iter(self.client.get_paginator("query").paginate(**request, PaginationConfig=paging))
        while True:
            with translated():
                page = next(pages, None)
            if page is None:
                return
            for raw in page.get("Items", []):
                yield self.decode(raw)

    def get(self, key: Key, *, consistent: bool = True) -> dict[str, Any] | None:
        with translated():
            response = self.client.get_item(TableName=self.name, Key=wire_key(key), ConsistentRead=consistent)
        return self.decode(response["Item"]) if "Item" in response else None

    def get_many(self, wanted: Sequence[Key], *, consistent: bool = True) -> dict[Key, dict[str, Any]]:
        """Reads of up to 100 items in one request (and its leftovers), strongly consistent
        unless told otherwise."""
        found: dict[Key, dict[str, Any]] = {}
        unique = list(dict.fromkeys(wanted))
        for start in range(0, len(unique), BATCH_GET):
            keys = [wire_key(key) for key in unique[start : start + BATCH_GET]]
            request: dict[str, Any] = {self.name: {"Keys": keys, "ConsistentRead": consistent}}
            for round_ in range(LEFTOVER_ROUNDS + 1):
                with translated():
                    page = self.client.batch_get_item(RequestItems=request)
                for raw in page.get("Responses", {}).get(self.name, []):
                    item = self.decode(raw)
                    found[(item["pk"], item["sk"])] = item
                request = dict(page.get("UnprocessedKeys") or {})
                if not request:
                    break
                if round_ == LEFTOVER_ROUNDS:
                    from acd_hub.ports import Throttled  # noqa: PLC0415

                    raise Throttled(f"{len(request[self.name]['Keys'])} keys still unprocessed")
                backoff.sleep(backoff.delay(round_, LEFTOVER_BASE_S, LEFTOVER_CAP_S))
        return found

    def write_batch(self, puts: Sequence[dict[str, Any]], deletes: Sequence[Key]) -> None:
        """Unconditional puts and deletes, 25 to a request (and their leftovers)."""
        requests = [{"PutRequest": {"Item": self.encode(item)}} for item in puts] + [
            {"DeleteRequest": {"Key": wire_key(key)}} for key in deletes
        ]
        for start in range(0, len(requests), BATCH_WRITE):
            pending: dict[str, Any] = {self.name: requests[start : start + BATCH_WRITE]}
            for round_ in range(LEFTOVER_ROUNDS + 1):
                with translated():
                    answer = self.client.batch_write_item(RequestItems=pending)
                pending = dict(answer.get("UnprocessedItems") or {})
                if not pending:
                    break
                if round_ == LEFTOVER_ROUNDS:
                    from acd_hub.ports import Throttled  # noqa: PLC0415

                    raise Throttled(f"{len(pending[self.name])} writes still unprocessed")
                backoff.sleep(backoff.delay(round_, LEFTOVER_BASE_S, LEFTOVER_CAP_S))
