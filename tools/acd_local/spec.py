"""What the template declares for ``acd-local``: its functions, their stream event source
mappings, its tables and topics (read through :mod:`acd_devkit.template`, so they cannot drift).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from acd_devkit.stream_mapping import parse_filter_patterns
from acd_local.lambda_runtime import Route

LOG = logging.getLogger("acd_local")


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    code_uri: Path
    handler: str
    memory_mb: int = 128
    timeout_seconds: float = 3.0


@dataclass(frozen=True)
class StreamMapping:
    """One DynamoDB stream event source mapping (the subset a local poller honours)."""

    function: str
    table: str
    batch_size: int = 100
    filter_patterns: tuple[Mapping[str, Any], ...] = ()
    bisect: bool = False
    max_retries: int = -1  # -1: until the record expires, as on AWS
    max_record_age: int = -1  # seconds (MaximumRecordAgeInSeconds); -1: until it expires
    report_batch_item_failures: bool = False
    batching_window: float = 0.0  # seconds to gather records before invoking (MaximumBatchingWindowInSeconds)
    tumbling_window: int = 0  # TumblingWindowInSeconds: the event names its shard


@dataclass(frozen=True)
class StackSpec:
    """Everything the local stack takes from ``template.yaml``.

    Tests may build one by hand (stand-in tables and functions); :meth:`load` reads the real
    template.
    """

    tables: Mapping[str, Mapping[str, Any]]  # logical id -> create_table kwargs
    ttl_attributes: Mapping[str, str] = field(default_factory=dict)
    topics: Sequence[str] = ()
    functions: Mapping[str, FunctionSpec] = field(default_factory=dict)
    environments: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # raw, per function
    stream_mappings: Sequence[StreamMapping] = ()
    routes: Sequence[Route] = ()
    parameters: Mapping[str, Any] = field(default_factory=dict)  # defaults
    # Top-level packages shipped as layers: their per-container caches are reset per stack.
    layer_packages: Sequence[str] = ()

    @property
    def consumers(self) -> tuple[str, ...]:
        """The stream consumers' functions (a DLQ each: :func:`acd_devkit.moto_resources.provision`)."""
        return tuple(mapping.function for mapping in self.stream_mappings)

    @classmethod
    def load(cls, path: str | os.PathLike[str] | None = None) -> StackSpec:
        from acd_devkit import template as tpl  # noqa: PLC0415 - keep `--help` fast

        source = tpl.find_template(path)
        return cls.from_template(tpl.load_template(source), source.resolve().parent)

    @classmethod
    def from_template(cls, template: Mapping[str, Any], base_dir: Path) -> StackSpec:
        from acd_devkit import template as tpl  # noqa: PLC0415

        globals_ = dict((template.get("Globals") or {}).get("Function") or {})
        functions: dict[str, FunctionSpec] = {}
        for logical_id, resource in tpl.resources_of_type(template, tpl.SERVERLESS_FUNCTION).items():
            if not tpl.deployed(template, logical_id):
                continue  # not in a stack with the default parameters: the board (BoardLogin=false)
            properties = {**globals_, **(resource.get("Properties") or {})}
            code_uri, handler = properties.get("CodeUri"), properties.get("Handler")
            if not isinstance(code_uri, str) or not isinstance(handler, str):
                LOG.warning("%s: CodeUri/Handler are not plain strings; not runnable locally", logical_id)
                continue
            functions[logical_id] = FunctionSpec(
                logical_id=logical_id,
                code_uri=(base_dir / code_uri).resolve(),
                handler=handler,
                memory_mb=_int_or(properties.get("MemorySize"), 128),
                timeout_seconds=float(_int_or(properties.get("Timeout"), 3)),
            )
        routes = []
        for route in tpl.http_routes(template):
            if route["payload_format"] != "2.0":
                raise tpl.TemplateError(
                    f"{route['function']}.{route['event']}: only payload format 2.0 runs locally"
                )
            routes.append(Route(method=route["method"], path=route["path"], function=route["function"]))
        mappings = [
            StreamMapping(
                function=m["function"],
                table=m["table"],
                batch_size=m["batch_size"],
                filter_patterns=tuple(parse_filter_patterns(m["filter_patterns"])),
                bisect=m["bisect"],
                max_retries=m["max_retries"],
                max_record_age=m["max_record_age"],
                report_batch_item_failures=m.get("report_batch_item_failures", True),
                batching_window=float(m.get("batching_window", 0)),
                tumbling_window=int(m.get("tumbling_window", 0)),
            )
            for m in tpl.stream_mappings(template)
        ]
        return cls(
            tables=tpl.dynamodb_tables(template),
            ttl_attributes=tpl.ttl_attributes(template),
            topics=tuple(tpl.sns_topics(template)),
            functions=functions,
            environments={fid: tpl.function_environment(template, fid) for fid in functions},
            stream_mappings=tuple(mappings),
            routes=tuple(routes),
            parameters=tpl.parameter_defaults(template),
            layer_packages=tuple(_layer_packages(template, base_dir)),
        )


def _int_or(value: Any, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _layer_packages(template: Mapping[str, Any], base_dir: Path) -> Iterator[str]:
    from acd_devkit import template as tpl  # noqa: PLC0415

    for logical_id, resource in (template.get("Resources") or {}).items():
        if not isinstance(resource, dict) or resource.get("Type") != "AWS::Serverless::LayerVersion":
            continue
        if not tpl.deployed(template, logical_id):
            continue
        content = (resource.get("Properties") or {}).get("ContentUri")
        if not isinstance(content, str):
            continue
        root = base_dir / content
        for directory in (root, root / "python"):
            if directory.is_dir():
                for child in sorted(directory.iterdir()):
                    if (child / "__init__.py").is_file():
                        yield child.name
