"""What crosses the low-level client's wire: attribute values as it sends them (``{"S": "..."}``:
copies, sizes as the developer guide counts them, plain forms to compare) and errors as botocore
raises them."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from botocore.exceptions import ClientError

KB = 1024
Wire = dict[str, Any]  # an attribute value as the low-level client sends it: {"S": "..."}
Item = dict[str, Wire]


def copy_value(value: Any) -> Any:
    kind = type(value)
    if kind is dict:
        return {k: copy_value(v) for k, v in value.items()}
    if kind is list:
        return [copy_value(v) for v in value]
    return value


def copy_item(item: Mapping[str, Wire]) -> Item:
    """A request's item, copied on the way in: the caller may change its own afterwards. Stored
    items are never changed in place (a write stores a new one), so answers and stream records
    share them, one level down (treat answers as read-only, as boto3's deserializer does)."""
    return {name: copy_value(value) for name, value in item.items()}


def _number_size(text: str) -> int:
    digits = text.lstrip("-").replace(".", "").lstrip("0").rstrip("0") or "0"
    return (len(digits) + 1) // 2 + 1


def value_size(value: Wire) -> int:
    """A value's size as DynamoDB counts it (the developer guide's "Item sizes and formats")."""
    for kind, inner in value.items():
        if kind == "S":
            return len(inner) if inner.isascii() else len(inner.encode("utf-8"))
        if kind == "N":
            return _number_size(inner)
        if kind == "M":
            return 3 + sum(
                (len(k) if k.isascii() else len(k.encode("utf-8"))) + value_size(v) + 1
                for k, v in inner.items()
            )
        if kind == "L":
            return 3 + sum(value_size(v) + 1 for v in inner)
        if kind == "B":
            return len(inner) if isinstance(inner, bytes | bytearray) else len(str(inner))
        if kind in ("BOOL", "NULL"):
            return 1
        if kind == "SS":
            return sum(len(s.encode("utf-8")) for s in inner)
        if kind == "NS":
            return sum(_number_size(n) for n in inner)
        if kind == "BS":
            return sum(len(b) for b in inner)
        raise ValueError(f"unknown attribute type {kind!r}")
    raise ValueError("an attribute value without a type")


def item_size(item: Mapping[str, Wire] | None) -> int:
    if not item:
        return 0
    return sum(
        (len(name) if name.isascii() else len(name.encode("utf-8"))) + value_size(value)
        for name, value in item.items()
    )


def plain_value(value: Wire) -> Any:
    """A value to compare: str, Decimal, bytes, bool, None, or a frozen form of sets/maps/lists."""
    (kind, inner), *_ = value.items()
    match kind:
        case "S":
            return inner
        case "N":
            return Decimal(inner)
        case "B":
            return bytes(inner) if isinstance(inner, bytes | bytearray) else inner
        case "BOOL":
            return bool(inner)
        case "NULL":
            return None
        case "SS" | "BS":
            return frozenset(inner)
        case "NS":
            return frozenset(Decimal(n) for n in inner)
        case "M":
            return tuple(sorted((k, plain_value(v)) for k, v in inner.items()))
        case "L":
            return tuple(plain_value(v) for v in inner)
    raise ValueError(f"unknown attribute type {kind!r}")


def wire_kind(value: Wire) -> str:
    return next(iter(value))


def number_wire(number: Decimal) -> Wire:
    text = format(number.normalize(), "f") if number == number.to_integral_value() else str(number)
    return {"N": text}


def client_error(operation: str, code: str, message: str, **extra: Any) -> ClientError:
    status = 500 if code == "InternalServerError" else 400
    response: dict[str, Any] = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": status},
        **extra,
    }
    return ClientError(response, operation)  # type: ignore[arg-type]


def validation(operation: str, message: str) -> ClientError:
    return client_error(operation, "ValidationException", message)
