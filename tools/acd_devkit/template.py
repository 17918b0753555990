"""Read ``template.yaml``: the one source of the tables, streams, topics and routes.

The local stack and the tests build their DynamoDB tables, stream consumers and SNS topics from
what this module reads out of the SAM template, so they cannot drift from what is deployed.

The template is loaded by cfn-lint's decoder, as ``cfn-lint template.yaml`` loads it: short tags
(``!Ref``, ``!Sub``, ``!GetAtt``, ...) become their long forms (``{"Ref": ...}``,
``{"Fn::Sub": ...}``, ``{"Fn::GetAtt": [resource, attribute]}``) and a duplicate key is an
error. The queries below return values raw; :func:`resolve` evaluates the few intrinsics a local
stack meets, given the values that ``Ref``/``GetAtt`` stand for.
"""

from __future__ import annotations

import copy
import json
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

TEMPLATE_ENV = "ACD_TEMPLATE"
TEMPLATE_NAME = "template.yaml"

SERVERLESS_FUNCTION = "AWS::Serverless::Function"
DYNAMODB_TABLE = "AWS::DynamoDB::Table"
SNS_TOPIC = "AWS::SNS::Topic"

# Defaults of AWS::Lambda::EventSourceMapping for stream sources.
_DEFAULT_STREAM_BATCH_SIZE = 100
_UNBOUNDED = -1


class TemplateError(ValueError):
    """The template does not have the shape this reader (or a local stack) can use."""


# --- loading -------------------------------------------------------------------------------------


def find_template(path: str | os.PathLike[str] | None = None) -> Path:
    """The template to read: ``path``, else ``$ACD_TEMPLATE``, else ``./template.yaml``, else the
    first ``template.yaml`` in this file's directory or one of its parents (the repository root)."""
    if path is not None:
        return Path(path)
    if env := os.environ.get(TEMPLATE_ENV):
        return Path(env)
    candidate = Path.cwd() / TEMPLATE_NAME
    if candidate.is_file():
        return candidate
    for directory in Path(__file__).resolve().parents:
        candidate = directory / TEMPLATE_NAME
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"{TEMPLATE_NAME} not found: set {TEMPLATE_ENV} or run from the repository root")


def sam_build_args(template: Path, into: Path) -> list[str]:
    """The project's own ``sam build`` (no container) of ``template``: built into ``into/build``
    with its dependency cache in ``into/cache``, so the tools that build (the deploy check, the
    ``sam local`` check) each keep their build apart."""
    return [
        "build",
        "--template-file",
        str(template),
        "--build-dir",
        str(into / "build"),
        "--cache-dir",
        str(into / "cache"),
    ]


def parse_template(text: str) -> dict[str, Any]:
    """Parse template text (YAML or JSON) as cfn-lint does, into plain JSON types."""
    # cfn-lint imports its whole rule machinery (about a second): only where a template is read,
    # not where resolve() runs (the local stack's worker processes).
    from cfnlint.decode import decode_str  # noqa: PLC0415

    document, problems = decode_str(text)
    if problems:
        raise TemplateError(f"template could not be parsed: {problems[0].message}")
    if not isinstance(document, dict) or not isinstance(document.get("Resources"), dict):
        raise TemplateError("not a CloudFormation template: no Resources mapping")
    # cfn-lint's nodes carry their line numbers; plain types pickle and compare as themselves.
    # An unquoted date (2010-09-09) is text to CloudFormation.
    plain: dict[str, Any] = json.loads(json.dumps(document, default=str))
    return plain


def load_template(path: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """Read and parse the template (see :func:`find_template` for which one)."""
    return parse_template(find_template(path).read_text(encoding="utf-8"))


# --- helpers -------------------------------------------------------------------------------------


def resources_of_type(template: Mapping[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    """``{logical id: resource}`` of every resource of ``resource_type``, in template order."""
    return {
        logical_id: resource
        for logical_id, resource in template["Resources"].items()
        if isinstance(resource, dict) and resource.get("Type") == resource_type
    }


def _is_intrinsic(value: Any) -> bool:
    if not isinstance(value, dict) or len(value) != 1:
        return False
    name = next(iter(value))
    return name in {"Ref", "Condition"} or (isinstance(name, str) and name.startswith("Fn::"))


def _require_literal(value: Any, where: str) -> Any:
    """``value`` itself, if nothing in it is an intrinsic function (a local stack cannot evaluate
    a condition or a parameter inside a key schema)."""
    if _is_intrinsic(value):
        raise TemplateError(f"{where}: expected a literal value, found {value!r}")
    if isinstance(value, dict):
        for key, item in value.items():
            _require_literal(item, f"{where}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _require_literal(item, f"{where}[{index}]")
    return value


def referenced_resource(value: Any) -> str | None:
    """The logical id a ``Ref`` or ``Fn::GetAtt`` points at, else None."""
    if isinstance(value, dict) and len(value) == 1:
        if "Ref" in value and isinstance(value["Ref"], str):
            return value["Ref"]
        if "Fn::GetAtt" in value:
            target = value["Fn::GetAtt"]
            if isinstance(target, str):
                target = target.split(".", 1)
            if isinstance(target, list) and target and isinstance(target[0], str):
                return target[0]
    return None


def _function_properties(template: Mapping[str, Any], logical_id: str) -> dict[str, Any]:
    resource = template["Resources"].get(logical_id)
    if not isinstance(resource, dict) or resource.get("Type") != SERVERLESS_FUNCTION:
        raise KeyError(f"{logical_id} is not an {SERVERLESS_FUNCTION} in the template")
    properties = resource.get("Properties") or {}
    return dict(properties)


def _global_function_properties(template: Mapping[str, Any]) -> dict[str, Any]:
    return dict((template.get("Globals") or {}).get("Function") or {})


def _function_property(template: Mapping[str, Any], logical_id: str, name: str) -> Any:
    """A function property, falling back to ``Globals.Function`` as SAM does for scalars."""
    properties = _function_properties(template, logical_id)
    if name in properties:
        return properties[name]
    return _global_function_properties(template).get(name)


# --- DynamoDB ------------------------------------------------------------------------------------

_INDEX_KEYS = ("IndexName", "KeySchema", "Projection")


def _index(index: Mapping[str, Any], provisioned: bool) -> dict[str, Any]:
    result = {key: copy.deepcopy(index[key]) for key in _INDEX_KEYS if key in index}
    if provisioned and "ProvisionedThroughput" in index:
        result["ProvisionedThroughput"] = copy.deepcopy(index["ProvisionedThroughput"])
    return result


def dynamodb_tables(template: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """``{logical id: kwargs}`` for boto3 ``create_table``, one per ``AWS::DynamoDB::Table``.

    ``TableName`` is the logical id (the default table names of the settings). CloudFormation-
    only settings (PITR, SSE, TTL, tags) are left out; TTL is in :func:`ttl_attributes`.
    """
    tables: dict[str, dict[str, Any]] = {}
    for logical_id, resource in resources_of_type(template, DYNAMODB_TABLE).items():
        properties = resource.get("Properties") or {}
        billing_mode = properties.get("BillingMode", "PROVISIONED")
        provisioned = billing_mode == "PROVISIONED"
        kwargs: dict[str, Any] = {
            "TableName": logical_id,
            "KeySchema": copy.deepcopy(properties["KeySchema"]),
            "AttributeDefinitions": copy.deepcopy(properties["AttributeDefinitions"]),
            "BillingMode": billing_mode,
        }
        if provisioned:
            kwargs["ProvisionedThroughput"] = copy.deepcopy(
                properties.get("ProvisionedThroughput", {"ReadCapacityUnits": 5, "WriteCapacityUnits": 5})
            )
        for key in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
            if properties.get(key):
                global_index = key.startswith("Global")
                kwargs[key] = [_index(index, provisioned and global_index) for index in properties[key]]
        stream = properties.get("StreamSpecification")
        if stream:
            kwargs["StreamSpecification"] = {
                "StreamEnabled": True,
                "StreamViewType": stream["StreamViewType"],
            }
        tables[logical_id] = _require_literal(kwargs, logical_id)
    return tables


def ttl_attributes(template: Mapping[str, Any]) -> dict[str, str]:
    """``{table logical id: TTL attribute name}`` for tables with TTL enabled."""
    result: dict[str, str] = {}
    for logical_id, resource in resources_of_type(template, DYNAMODB_TABLE).items():
        spec = (resource.get("Properties") or {}).get("TimeToLiveSpecification") or {}
        if spec.get("Enabled") is True and isinstance(spec.get("AttributeName"), str):
            result[logical_id] = spec["AttributeName"]
    return result


# --- SNS -----------------------------------------------------------------------------------------


def sns_topics(template: Mapping[str, Any]) -> list[str]:
    """Logical ids of the ``AWS::SNS::Topic`` resources, in template order."""
    return list(resources_of_type(template, SNS_TOPIC))


# --- functions -----------------------------------------------------------------------------------


def function_environment(template: Mapping[str, Any], logical_id: str) -> dict[str, Any]:
    """Environment variables of a function: ``Globals`` merged with its own (its own win).

    Values are raw: strings, numbers or intrinsic dicts (``{"Ref": "EventsTable"}``).
    """

    def variables(properties: Mapping[str, Any]) -> dict[str, Any]:
        return dict(((properties.get("Environment") or {}).get("Variables")) or {})

    merged = variables(_global_function_properties(template))
    merged.update(variables(_function_properties(template, logical_id)))
    return copy.deepcopy(merged)


def stream_mappings(template: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every DynamoDB stream event of every ``AWS::Serverless::Function``.

    Each entry: ``function``, ``event``, ``code_uri``, ``handler``, ``table`` (logical id),
    ``batch_size``, ``filter_patterns`` (parsed JSON), ``bisect``, ``max_retries`` (-1:
    unbounded), ``max_record_age`` (-1: unbounded), ``batching_window``, ``tumbling_window``,
    ``report_batch_item_failures``, ``starting_position`` and ``on_failure`` (logical id or None).
    """
    mappings: list[dict[str, Any]] = []
    for logical_id in resources_of_type(template, SERVERLESS_FUNCTION):
        events = _function_properties(template, logical_id).get("Events") or {}
        for event_name, event in events.items():
            if event.get("Type") != "DynamoDB":
                continue
            where = f"{logical_id}.Events.{event_name}"
            properties = event.get("Properties") or {}
            table = referenced_resource(properties.get("Stream"))
            if table is None:
                raise TemplateError(f"{where}: Stream must be !GetAtt <table>.StreamArn")
            filters = (properties.get("FilterCriteria") or {}).get("Filters") or []
            on_failure = ((properties.get("DestinationConfig") or {}).get("OnFailure") or {}).get(
                "Destination"
            )
            mappings.append(
                {
                    "function": logical_id,
                    "event": event_name,
                    "code_uri": _function_property(template, logical_id, "CodeUri"),
                    "handler": _function_property(template, logical_id, "Handler"),
                    "table": table,
                    "batch_size": int(properties.get("BatchSize", _DEFAULT_STREAM_BATCH_SIZE)),
                    "filter_patterns": [json.loads(item["Pattern"]) for item in filters],
                    "bisect": bool(properties.get("BisectBatchOnFunctionError", False)),
                    "max_retries": int(properties.get("MaximumRetryAttempts", _UNBOUNDED)),
                    "max_record_age": int(properties.get("MaximumRecordAgeInSeconds", _UNBOUNDED)),
                    "batching_window": int(properties.get("MaximumBatchingWindowInSeconds", 0)),
                    "tumbling_window": int(properties.get("TumblingWindowInSeconds", 0)),
                    "report_batch_item_failures": "ReportBatchItemFailures"
                    in (properties.get("FunctionResponseTypes") or []),
                    "starting_position": properties.get("StartingPosition"),
                    "on_failure": referenced_resource(on_failure),
                }
            )
    return mappings


def http_routes(template: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every ``HttpApi`` event of a function a stack with the default parameters has (not the
    board's, BoardLogin=false): ``function``, ``event``, ``method``, ``path``, ``code_uri``,
    ``handler`` and ``payload_format`` (``"2.0"`` unless the event says otherwise)."""
    routes: list[dict[str, Any]] = []
    for logical_id in resources_of_type(template, SERVERLESS_FUNCTION):
        if not deployed(template, logical_id):
            continue
        events = _function_properties(template, logical_id).get("Events") or {}
        for event_name, event in events.items():
            if event.get("Type") != "HttpApi":
                continue
            properties = event.get("Properties") or {}
            routes.append(
                {
                    "function": logical_id,
                    "event": event_name,
                    "method": str(properties.get("Method", "ANY")).upper(),
                    "path": properties.get("Path", "$default"),
                    "code_uri": _function_property(template, logical_id, "CodeUri"),
                    "handler": _function_property(template, logical_id, "Handler"),
                    "payload_format": str(properties.get("PayloadFormatVersion", "2.0")),
                }
            )
    return routes


# --- intrinsics ----------------------------------------------------------------------------------


def deployed(
    template: Mapping[str, Any], logical_id: str, parameters: Mapping[str, Any] | None = None
) -> bool:
    """Whether a stack with ``parameters`` (else the defaults) has the resource: its ``Condition``
    holds (``Fn::Equals``, ``Fn::Not``, ``Fn::And``, ``Fn::Or``, ``Condition``), or it has none."""
    name = template["Resources"][logical_id].get("Condition")
    return name is None or condition_holds(template, name, parameters)


def condition_holds(
    template: Mapping[str, Any], name: str, parameters: Mapping[str, Any] | None = None
) -> bool:
    refs = {**parameter_defaults(template), **(parameters or {})}

    def holds(value: Any) -> bool:
        if not isinstance(value, dict) or len(value) != 1:
            raise TemplateError(f"condition {name}: cannot evaluate {value!r}")
        ((function, argument),) = value.items()
        if function == "Condition":
            return holds(template["Conditions"][argument])
        if function == "Fn::Equals":
            left, right = (str(resolve(item, refs)) for item in argument)
            return left == right
        if function == "Fn::Not":
            return not holds(argument[0])
        if function == "Fn::And":
            return all(holds(item) for item in argument)
        if function == "Fn::Or":
            return any(holds(item) for item in argument)
        raise TemplateError(f"condition {name}: cannot evaluate {function}")

    return holds(template["Conditions"][name])


def parameter_defaults(template: Mapping[str, Any]) -> dict[str, Any]:
    """``{parameter: default}`` for the parameters that have a default."""
    return {
        name: spec["Default"]
        for name, spec in (template.get("Parameters") or {}).items()
        if isinstance(spec, dict) and "Default" in spec
    }


_SUB_VARIABLE = re.compile(r"\$\{(!?)([^}]*)\}")


def resolve(value: Any, refs: Mapping[str, Any]) -> Any:
    """Evaluate ``Ref``, ``Fn::GetAtt``, ``Fn::Sub``, ``Fn::Join``, ``Fn::Select`` and
    ``Fn::Split`` in ``value``.

    ``refs`` maps what a ``Ref`` stands for (``"EventsTable"``, ``"LogLevel"``,
    ``"AWS::Region"``) and ``"<id>.<attribute>"`` for ``GetAtt``. A missing name raises
    :class:`KeyError`; other intrinsics (``Fn::If``, ...) raise :class:`TemplateError`.
    """
    if isinstance(value, list):
        return [resolve(item, refs) for item in value]
    if not isinstance(value, dict):
        return value
    if not _is_intrinsic(value):
        return {key: resolve(item, refs) for key, item in value.items()}
    (name, argument), *_ = value.items()
    if name == "Ref":
        return refs[argument]
    if name == "Fn::GetAtt":
        target = argument.split(".", 1) if isinstance(argument, str) else argument
        return refs[f"{target[0]}.{target[1]}"]
    if name == "Fn::Sub":
        text, variables = (argument, {}) if isinstance(argument, str) else argument
        scope = {**refs, **{key: resolve(item, refs) for key, item in variables.items()}}

        def substitute(match: re.Match[str]) -> str:
            if match.group(1):  # ${!Literal} is the escape for a literal ${Literal}
                return "${" + match.group(2) + "}"
            return str(scope[match.group(2)])

        return _SUB_VARIABLE.sub(substitute, text)
    if name == "Fn::Join":
        delimiter, items = argument
        return str(delimiter).join(str(item) for item in resolve(items, refs))
    if name == "Fn::Select":
        index, items = argument
        return resolve(items, refs)[int(resolve(index, refs))]
    if name == "Fn::Split":
        delimiter, text = argument
        return str(resolve(text, refs)).split(delimiter)
    raise TemplateError(f"cannot evaluate {name} locally")


NO_VALUE = object()  # what ``Ref AWS::NoValue`` may stand for in ``refs``: the variable is dropped


def resolved_environment(
    template: Mapping[str, Any], logical_id: str, refs: Mapping[str, Any]
) -> dict[str, str]:
    """A function's environment as Lambda would see it (all values strings), with parameters at
    their defaults unless ``refs`` says otherwise."""
    scope = {**parameter_defaults(template), **refs}
    return resolve_environment(function_environment(template, logical_id), scope)


def resolve_environment(
    variables: Mapping[str, Any],
    refs: Mapping[str, Any],
    unresolved: Callable[[str, KeyError | TemplateError], None] | None = None,
) -> dict[str, str]:
    """Environment variables (as :func:`function_environment` reads them) with their intrinsics
    resolved against ``refs``, every value a string as Lambda sets it; a value that resolves to
    :data:`NO_VALUE` is dropped. One that cannot be resolved raises, or is left out and handed
    to ``unresolved`` (its name and why) when one is given."""
    resolved: dict[str, str] = {}
    for name, value in variables.items():
        try:
            result = resolve(value, refs)
        except (KeyError, TemplateError) as exc:
            if unresolved is None:
                raise
            unresolved(name, exc)
            continue
        if result is not NO_VALUE:
            resolved[name] = env_string(result)
    return resolved


def env_string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
