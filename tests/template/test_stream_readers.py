"""At most two readers per DynamoDB stream shard.

DynamoDB Streams answers ``LimitExceededException`` when more than 2 processes read the same
stream shard at the same time ("Exceeding this limit may result in request throttling", the
DynamoDB Streams API reference), and Lambda's DynamoDB guide advises no more than two functions
per shard: each event source mapping polls every shard of its stream, so a third mapping means
throttled ``GetRecords`` and lag for all of them (README "Readers per stream shard").

Counted here: every event source mapping on a table's stream, whether a SAM ``DynamoDB`` event
of a function or a plain ``AWS::Lambda::EventSourceMapping``.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from acd_devkit.template import SERVERLESS_FUNCTION, load_template, referenced_resource, resources_of_type

pytestmark = pytest.mark.template

MAX_READERS_PER_SHARD = 2


def stream_readers(template: dict[str, Any]) -> Counter[str]:
    """``{table logical id: event source mappings reading its stream}``."""
    readers: Counter[str] = Counter()
    for properties in (
        (function.get("Properties") or {})
        for function in resources_of_type(template, SERVERLESS_FUNCTION).values()
    ):
        for event in (properties.get("Events") or {}).values():
            if event.get("Type") == "DynamoDB":
                readers[_stream_table((event.get("Properties") or {}).get("Stream"))] += 1
    for mapping in resources_of_type(template, "AWS::Lambda::EventSourceMapping").values():
        source = (mapping.get("Properties") or {}).get("EventSourceArn")
        if _is_stream(source):
            readers[_stream_table(source)] += 1
    return readers


def _is_stream(value: Any) -> bool:
    return isinstance(value, dict) and "StreamArn" in str(value.get("Fn::GetAtt", ""))


def _stream_table(value: Any) -> str:
    table = referenced_resource(value)
    assert table is not None, f"a stream mapping whose stream is not !GetAtt <table>.StreamArn: {value!r}"
    return table


def test_at_most_two_mappings_read_each_stream() -> None:
    readers = stream_readers(load_template())
    assert readers, "the template reads no stream: this test counts nothing"
    crowded = {table: count for table, count in readers.items() if count > MAX_READERS_PER_SHARD}
    assert not crowded, (
        f"more than {MAX_READERS_PER_SHARD} event source mappings read the stream of {crowded}: "
        "every mapping polls every shard, and DynamoDB Streams throttles a shard read by more than "
        "two processes at a time (LimitExceededException)"
    )


def test_the_count_sees_both_kinds_of_mapping() -> None:
    """Three readers of one stream, written both ways, are three."""
    stream = {"Fn::GetAtt": ["EventsTable", "StreamArn"]}
    template = {
        "Resources": {
            "EventsTable": {"Type": "AWS::DynamoDB::Table", "Properties": {}},
            "A": {
                "Type": SERVERLESS_FUNCTION,
                "Properties": {"Events": {"S": {"Type": "DynamoDB", "Properties": {"Stream": stream}}}},
            },
            "B": {
                "Type": SERVERLESS_FUNCTION,
                "Properties": {
                    "Events": {
                        "S": {"Type": "DynamoDB", "Properties": {"Stream": stream}},
                        "Q": {"Type": "SQS", "Properties": {"Queue": "arn"}},
                    }
                },
            },
            "C": {
                "Type": "AWS::Lambda::EventSourceMapping",
                "Properties": {"EventSourceArn": stream, "FunctionName": "c"},
            },
        }
    }
    assert stream_readers(template) == {"EventsTable": 3}
