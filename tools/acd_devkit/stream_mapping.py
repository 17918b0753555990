"""What Lambda's DynamoDB stream event source mapping does around a function: its filter
criteria, the record shape it delivers, the batches it makes and how it reads a partial-batch
(``ReportBatchItemFailures``) answer. One reading of Lambda's rules, shared by ``acd-local``'s
pollers (:mod:`acd_local.streams`) and the in-memory proof (:mod:`acd_devkit.memory_stream`);
pure (no sockets, no moto), so it is tested directly.
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any


class _Missing:
    """A key absent from the event (distinct from a JSON null)."""


_MISSING = _Missing()
_NUMERIC_OPS: dict[str, Callable[[float, float], bool]] = {
    "=": lambda a, b: a == b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}
_OPERATORS = frozenset(
    {"exists", "prefix", "suffix", "equals-ignore-case", "anything-but", "numeric", "wildcard"}
)


def validate_filter_pattern(pattern: Any, where: str = "pattern") -> None:
    """Raise ``ValueError`` for a pattern this emulation cannot evaluate, so a filter is never
    silently read as something else."""
    if not isinstance(pattern, Mapping):
        raise ValueError(f"{where}: a filter pattern is a JSON object")
    for key, rule in pattern.items():
        if isinstance(rule, Mapping):
            validate_filter_pattern(rule, f"{where}.{key}")
        elif isinstance(rule, list):
            for item in rule:
                if isinstance(item, Mapping):
                    if len(item) != 1 or next(iter(item)) not in _OPERATORS:
                        raise ValueError(f"{where}.{key}: unsupported filter operator {item!r}")
                    if "numeric" in item:
                        _numeric_conditions(item["numeric"])
                elif isinstance(item, list):
                    raise ValueError(f"{where}.{key}: nested arrays are not filter values")
        else:
            raise ValueError(f"{where}.{key}: filter values must be arrays, got {rule!r}")


def parse_filter_patterns(patterns: Iterable[str | Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Filter patterns from a template (JSON strings or objects), validated."""
    parsed = [json.loads(p) if isinstance(p, str) else p for p in patterns]
    for index, pattern in enumerate(parsed):
        validate_filter_pattern(pattern, f"Filters[{index}]")
    return parsed


def passes_filters(patterns: Sequence[Mapping[str, Any]], record: Mapping[str, Any]) -> bool:
    """Lambda keeps a record if any pattern matches (no patterns: every record)."""
    return not patterns or any(matches_pattern(p, record) for p in patterns)


def matches_pattern(pattern: Mapping[str, Any], event: Any) -> bool:
    """EventBridge-style matching, the subset Lambda filter criteria use: nested objects, arrays
    of allowed values (strings, numbers compared as numbers, booleans, null), and ``prefix``,
    ``suffix``, ``equals-ignore-case``, ``wildcard``, ``exists``, ``anything-but`` and
    ``numeric``. Every key of the pattern must match."""
    for key, rule in pattern.items():
        value = event.get(key, _MISSING) if isinstance(event, Mapping) else _MISSING
        if isinstance(rule, Mapping):
            if value is _MISSING:
                value = {}  # only {"exists": false} rules below can still match
            elif not isinstance(value, Mapping):
                return False
            if not matches_pattern(rule, value):
                return False
        elif not _matches_any(rule, value):
            return False
    return True


def _matches_any(rules: Sequence[Any], value: Any) -> bool:
    if value is _MISSING:
        return any(isinstance(r, Mapping) and r.get("exists") is False for r in rules)
    # An array in the event matches if any of its elements does.
    values = value if isinstance(value, list) else [value]
    return any(_matches_rule(rule, item) for rule in rules for item in values)


def _matches_rule(rule: Any, value: Any) -> bool:
    if not isinstance(rule, Mapping):
        return _equal(rule, value)
    (operator, argument), *_ = rule.items()
    if operator == "exists":
        return argument is True
    if operator == "prefix":
        return _string_test(argument, value, str.startswith)
    if operator == "suffix":
        return _string_test(argument, value, str.endswith)
    if operator == "equals-ignore-case":
        return isinstance(value, str) and value.casefold() == str(argument).casefold()
    if operator == "wildcard":
        return isinstance(value, str) and _wildcard(str(argument)).fullmatch(value) is not None
    if operator == "anything-but":
        if isinstance(argument, Mapping):
            return not _matches_rule(argument, value)
        excluded = argument if isinstance(argument, list) else [argument]
        return not any(_equal(item, value) for item in excluded)
    if operator == "numeric":
        number = _number(value)
        return number is not None and all(
            _NUMERIC_OPS[op](number, bound) for op, bound in _numeric_conditions(argument)
        )
    raise ValueError(f"unsupported filter operator {operator!r}")


def _string_test(argument: Any, value: Any, test: Callable[[str, str], bool]) -> bool:
    if not isinstance(value, str):
        return False
    if isinstance(argument, Mapping) and "equals-ignore-case" in argument:
        return test(value.casefold(), str(argument["equals-ignore-case"]).casefold())
    return test(value, str(argument))


def _wildcard(pattern: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(part) for part in pattern.split("*")), re.DOTALL)


def _numeric_conditions(argument: Any) -> list[tuple[str, float]]:
    if not isinstance(argument, list) or len(argument) % 2 or not argument:
        raise ValueError(f"numeric filter needs [op, number, ...], got {argument!r}")
    conditions = []
    for op, bound in itertools.batched(argument, 2, strict=True):
        if op not in _NUMERIC_OPS or isinstance(bound, bool) or not isinstance(bound, int | float):
            raise ValueError(f"bad numeric filter condition {op!r} {bound!r}")
        conditions.append((op, float(bound)))
    return conditions


def _number(value: Any) -> float | None:
    # Stream images carry numbers as strings ({"N": "42"}): numeric filters on them compare
    # the number.
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _equal(expected: Any, value: Any) -> bool:
    if expected is None or isinstance(expected, bool):
        return value is expected
    if isinstance(value, bool):
        return False
    if isinstance(expected, int | float):
        return isinstance(value, int | float) and float(value) == float(expected)
    return isinstance(value, str) and value == expected


def drop_phantom_inserts(records: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Undo a moto quirk: an ``UpdateItem`` that creates an item emits two INSERTs, the first
    with the keys only. DynamoDB cannot emit two INSERTs of one key in a row (a REMOVE must come
    between), so a keys-only INSERT followed by an INSERT of the same keys is dropped. (Should
    the pair straddle two ``get_records`` calls, the phantom gets through; it carries no
    attributes, so filters on the image drop it anyway.)"""
    kept: list[Mapping[str, Any]] = []
    for index, record in enumerate(records):
        following = records[index + 1] if index + 1 < len(records) else None
        change = record.get("dynamodb", {})
        if (
            following is not None
            and record.get("eventName") == following.get("eventName") == "INSERT"
            and change.get("Keys") == following.get("dynamodb", {}).get("Keys")
            and change.get("NewImage", change.get("Keys")) == change.get("Keys")
        ):
            continue
        kept.append(record)
    return kept


def lambda_stream_record(record: Mapping[str, Any], event_source_arn: str, region: str) -> dict[str, Any]:
    """A record from ``dynamodbstreams.get_records`` (as boto3 returns it) in the shape Lambda
    delivers: JSON only (epoch seconds, base64 binaries), ``eventSourceARN`` added, and the
    real region (moto always says us-east-1)."""
    converted: dict[str, Any] = _jsonable(dict(record))
    change = converted.get("dynamodb")
    if isinstance(change, dict) and isinstance(change.get("ApproximateCreationDateTime"), float):
        # A record kept by a snapshot holds the time to the microsecond; Lambda sends seconds.
        change["ApproximateCreationDateTime"] = int(change["ApproximateCreationDateTime"])
    converted["awsRegion"] = region
    converted["eventSourceARN"] = event_source_arn
    return converted


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return int(value.timestamp())
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, Mapping):
        return {key: _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set):
        return [_jsonable(item) for item in value]
    return value


@dataclass(frozen=True)
class BatchOutcome:
    """How Lambda reads one invocation of a stream batch."""

    retry_from: int | None  # index of the checkpoint to retry from; None: the batch succeeded
    failed: frozenset[str] = frozenset()  # sequence numbers reported failed (all on an error)
    function_error: bool = False

    @property
    def ok(self) -> bool:
        return self.retry_from is None


def stream_event(
    records: list[dict[str, Any]], *, shard_id: str, stream_arn: str, window_s: int
) -> dict[str, Any]:
    """A stream batch as Lambda hands it over. With a tumbling window (``window_s`` > 0) the
    event also names the shard and carries the window and its state, as Lambda documents
    ("Implementing stateful DynamoDB stream processing"); the state is empty here, since no
    handler of the hub keeps one."""
    if window_s <= 0:
        return {"Records": records}
    now = int(time.time())
    start = now - now % window_s
    return {
        "Records": records,
        "window": {"start": _utc(start), "end": _utc(start + window_s)},
        "state": {},
        "shardId": shard_id,
        "eventSourceARN": stream_arn,
        "isFinalInvokeForWindow": False,
        "isWindowTerminatedEarly": False,
    }


def _utc(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def batch_outcome(
    records: Sequence[Mapping[str, Any]], response: Any, *, report_failures: bool, windowed: bool = False
) -> BatchOutcome:
    """Read a stream handler's answer like Lambda does.

    With ``ReportBatchItemFailures``: an empty or null answer or ``batchItemFailures`` is a
    success; otherwise Lambda retries from the lowest failed sequence number. An identifier
    that is empty, null, not in the batch, or malformed fails the whole batch. Without it, any
    answer is a success. With a tumbling window, an answer without ``state`` is a failed
    invocation (Lambda's rule).
    """
    sequence = [str(r["dynamodb"]["SequenceNumber"]) for r in records]
    everything = BatchOutcome(0, frozenset(sequence))
    if windowed and not (isinstance(response, Mapping) and "state" in response):
        return everything
    if not report_failures or response is None:
        return BatchOutcome(None)
    if not isinstance(response, Mapping):
        return everything
    failures = response.get("batchItemFailures")
    if not failures:
        return BatchOutcome(None)
    if not isinstance(failures, list):
        return everything
    indexes = []
    for failure in failures:
        identifier = failure.get("itemIdentifier") if isinstance(failure, Mapping) else None
        if not identifier or str(identifier) not in sequence:
            return everything
        indexes.append(sequence.index(str(identifier)))
    return BatchOutcome(min(indexes), frozenset(sequence[i] for i in indexes))


def batched(items: Sequence[Any], size: int) -> Iterator[list[Any]]:
    for chunk in itertools.batched(items, max(1, size), strict=False):
        yield list(chunk)
