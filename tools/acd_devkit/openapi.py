"""The callback contract as an OpenAPI 3.1 document, generated from :mod:`acd_hub.models`.

Each message's schema is pydantic's JSON Schema of its model (:class:`WireSchema`): the model's
docstring and examples, each field's alias, description and examples, and the wire format its
type declares (``WithJsonSchema`` in :mod:`acd_hub.fields`: pattern, enum or length, and how the
value is written). Each answer's schema is pydantic's JSON Schema of its model in
:mod:`acd_hub.answers` (:class:`AnswerSchema`), the models the function sends. This module only
assembles them into paths, query parameters (the union of what the eight messages read) and
responses. A field without a description, a wire format or
an example stops the generator: the document cannot silently fall behind the models. A test compares
the committed ``docs/openapi.yaml`` with what this module generates.

    python -m acd_devkit.openapi            # (re)write docs/openapi.yaml
    python -m acd_devkit.openapi --check    # exit 1 if docs/openapi.yaml is stale
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import yaml
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

from acd_hub import answers
from acd_hub.models import CALLBACK_MODELS, CallbackModel

DEFAULT_PATH = Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml"
CONTRACT_VERSION = "1.0.0"
HEADER = (
    "# The ACD callback contract. Generated from acd_hub.models by `python -m acd_devkit.openapi`\n"
    "# (make openapi): do not edit by hand; tests compare this file with the generated document.\n"
)

# Where WireSchema keeps a type's own description once the field's has replaced it.
_FORMAT = "x-acd-format"


# --------------------------------------------------------------------------- models -> schemas


class WireSchema(GenerateJsonSchema):
    """JSON Schema of the parameters as the ACD sends them.

    An optional parameter is left out, never ``null``; the models' defaults are ours, not the
    wire's; and a parameter's description says what it means (its field) and then how it is
    written (its type), so the type's description is kept apart instead of being replaced.
    """

    def nullable_schema(self, schema: core_schema.NullableSchema) -> JsonSchemaValue:
        return self.generate_inner(schema["schema"])

    def default_schema(self, schema: core_schema.WithDefaultSchema) -> JsonSchemaValue:
        return self.generate_inner(schema["schema"])

    def field_title_should_be_set(self, schema: Any) -> bool:  # noqa: ARG002 - pydantic's signature
        return False

    def model_field_schema(self, schema: core_schema.ModelField) -> JsonSchemaValue:
        wire = super().model_field_schema(schema)
        if "description" in wire:
            wire[_FORMAT] = wire.pop("description")
        return wire

    def sort(self, value: JsonSchemaValue, parent_key: str | None = None) -> JsonSchemaValue:  # noqa: ARG002
        return value  # the models' order reads best


class AnswerSchema(GenerateJsonSchema):
    """JSON Schema of an answer as the function sends it (``Answer.body``): a field that defaults
    to None is left out when it is, so it is optional and never ``null``; every other field is
    always there."""

    def default_schema(self, schema: core_schema.WithDefaultSchema) -> JsonSchemaValue:
        return self.generate_inner(schema["schema"])

    def nullable_schema(self, schema: core_schema.NullableSchema) -> JsonSchemaValue:
        return self.generate_inner(schema["schema"])

    def field_is_required(self, field: Any, total: bool) -> bool:  # noqa: ARG002 - pydantic's signature
        inner = field["schema"]
        return not (inner["type"] == "default" and inner.get("default", ...) is None)

    def field_title_should_be_set(self, schema: Any) -> bool:  # noqa: ARG002 - pydantic's signature
        return False

    def sort(self, value: JsonSchemaValue, parent_key: str | None = None) -> JsonSchemaValue:  # noqa: ARG002
        return value  # the models' order reads best


# The answers of the callback function, by their name in the document (acd_hub.answers).
ANSWERS: dict[str, type[answers.Answer]] = {
    "Accepted": answers.Accepted,
    "BadRequest": answers.BadRequest,
    "Unauthorized": answers.Unauthorized,
    "Conflict": answers.Conflict,
    "Forbidden": answers.Forbidden,
    "StoreUnavailable": answers.StoreUnavailable,
}
_FIRST = ("type", "const", "enum", "format", "minItems", "maxItems", "description", "required", "properties")


def answer_schema(model: type[answers.Answer]) -> dict[str, Any]:
    """The model's JSON Schema, nested models inlined, without titles, ``type`` and its
    description first (the order a reader of the document wants)."""
    schema = model.model_json_schema(schema_generator=AnswerSchema, mode="serialization")
    definitions = schema.pop("$defs", {})

    def tidy(node: Any) -> Any:
        if isinstance(node, list):
            return [tidy(item) for item in node]
        if not isinstance(node, dict):
            return node
        if "$ref" in node:
            return tidy(definitions[node["$ref"].rsplit("/", 1)[-1]])
        node = {key: value for key, value in node.items() if key != "title"}
        if isinstance(node.get("description"), str):
            node["description"] = " ".join(node["description"].split())  # a docstring's line breaks
        if isinstance(node.get("properties"), dict):
            node["properties"] = {name: tidy(prop) for name, prop in node["properties"].items()}
        for key in ("items", "anyOf"):
            if key in node:
                node[key] = tidy(node[key])
        ordered = {key: node[key] for key in _FIRST if key in node}
        return {**ordered, **{key: value for key, value in node.items() if key not in ordered}}

    tidied: dict[str, Any] = tidy(schema)
    return tidied


@dataclass(frozen=True)
class Parameter:
    """One parameter of one cmd, as the ACD sends it."""

    cmd: str
    name: str  # the ACD's spelling (the field's alias)
    required: bool
    meaning: str  # the field's description
    wire: dict[str, Any]  # the type's schema; its description (if any) under _FORMAT


def _model_schema(cmd: str, model: type[CallbackModel]) -> dict[str, Any]:
    schema = model.model_json_schema(schema_generator=WireSchema)
    for name, prop in schema["properties"].items():
        if name == "cmd":
            continue
        if prop.get("type") != "string":
            raise LookupError(
                f"{cmd}.{name}: its type has no wire schema (give it WithJsonSchema in acd_hub.fields)"
            )
        if not prop.get("description"):
            raise LookupError(f"{cmd}.{name} has no description (Field(description=...) in acd_hub.models)")
        if not prop.get("examples"):
            raise LookupError(f"{cmd}.{name} has no example (on its type or Field(examples=...))")
    return schema


def parameters_of(cmd: str, model: type[CallbackModel]) -> list[Parameter]:
    schema = _model_schema(cmd, model)
    required = set(schema.get("required", ()))
    (example,) = schema["examples"]
    found = []
    for name, prop in schema["properties"].items():
        if name == "cmd":
            continue
        wire = {key: value for key, value in prop.items() if key != "description"}
        # the documented example of a parameter is its value in the message's example, if it has one
        if name in example:
            wire["examples"] = [example[name]]
        found.append(Parameter(cmd, name, name in required, prop["description"], wire))
    return found


def all_parameters() -> dict[str, list[Parameter]]:
    """Every cmd's parameters, in the models' order."""
    return {cmd: parameters_of(cmd, model) for cmd, model in CALLBACK_MODELS.items()}


# --------------------------------------------------------------------------- document


def _model_name(cmd: str) -> str:
    return CALLBACK_MODELS[cmd].__name__


def _described(text: str, wire: dict[str, Any]) -> str:
    return f"{text} {_sentence(wire[_FORMAT])}" if _FORMAT in wire else text


def _message_schema(cmd: str, params: list[Parameter]) -> dict[str, Any]:
    schema = _model_schema(cmd, CALLBACK_MODELS[cmd])
    for param in params:
        prop = {key: value for key, value in param.wire.items() if key not in {_FORMAT, "examples"}}
        prop["description"] = _described(param.meaning, param.wire)
        prop["examples"] = param.wire["examples"]
        schema["properties"][param.name] = prop
    schema["description"] = " ".join(schema["description"].split())  # a docstring's line breaks
    first = ("title", "description", "type", "required")
    return {**{key: schema[key] for key in first if key in schema}, **schema}


def _sentence(text: str) -> str:
    text = text[0].upper() + text[1:]
    return text if text.endswith(".") else text + "."


def _query_parameter(uses: list[Parameter]) -> dict[str, Any]:
    """One query parameter: the union of what each cmd that reads it accepts."""
    by_schema: dict[str, tuple[dict[str, Any], list[Parameter]]] = {}
    for use in uses:
        shape = {key: value for key, value in use.wire.items() if key != "examples"}
        by_schema.setdefault(yaml.safe_dump(shape, sort_keys=True), (shape, []))[1].append(use)
    meanings: dict[str, list[str]] = {}
    for use in uses:
        meanings.setdefault(use.meaning, []).append(f"`{use.cmd}`")
    if len(meanings) == 1:
        (meaning,) = meanings
    else:
        meaning = " ".join(f"{', '.join(cmds)}: {_sentence(text)}" for text, cmds in meanings.items())
    used_by = ", ".join(f"`{u.cmd}`" + (" (required)" if u.required else "") for u in uses)
    if len(by_schema) == 1:
        ((shape, _),) = by_schema.values()
        schema = {key: value for key, value in shape.items() if key != _FORMAT}
        description = _described(meaning, shape)
    else:
        schema = {
            "anyOf": [
                {
                    **{key: value for key, value in shape.items() if key != _FORMAT},
                    "description": ", ".join(f"`{u.cmd}`" for u in group)
                    + (f": {shape[_FORMAT]}" if _FORMAT in shape else ""),
                }
                for shape, group in by_schema.values()
            ]
        }
        description = meaning
    return {
        "name": uses[0].name,
        "in": "query",
        "required": False,
        "description": f"{description} Read by: {used_by}.",
        "schema": schema,
        "example": uses[0].wire["examples"][0],
    }


def _cmd_parameter(required: bool) -> dict[str, Any]:
    lines = "\n".join(
        f"* `{cmd}`: {' '.join((model.__doc__ or '').split())}" for cmd, model in CALLBACK_MODELS.items()
    )
    where = (
        "Required."
        if required
        else "Required, in the query string or in the body (if both, they must agree)."
    )
    return {
        "name": "cmd",
        "in": "query",
        "required": required,
        "description": f"The type of notification. {where}\n\n{lines}",
        "schema": {"type": "string", "enum": list(CALLBACK_MODELS)},
        "example": "agentstate",
    }


def _components(every: dict[str, list[Parameter]]) -> dict[str, Any]:
    schemas: dict[str, Any] = {
        _model_name(cmd): _message_schema(cmd, params) for cmd, params in every.items()
    }
    schemas["Callback"] = {
        "description": "The parameters of one callback as a form-urlencoded or JSON body (names "
        "case-insensitive). A JSON body may also carry numbers and booleans (`true` reads as `1`); "
        "they are read as their text.",
        "oneOf": [{"$ref": f"#/components/schemas/{_model_name(cmd)}"} for cmd in every],
        "discriminator": {
            "propertyName": "cmd",
            "mapping": {cmd: f"#/components/schemas/{_model_name(cmd)}" for cmd in every},
        },
    }
    schemas.update({name: answer_schema(model) for name, model in ANSWERS.items()})
    schemas["GatewayMessage"] = {
        "type": "object",
        "description": "An answer of API Gateway itself, before the callback function.",
        "required": ["message"],
        "properties": {"message": {"type": "string"}},
    }

    query = {}
    uses: dict[str, list[Parameter]] = {}
    for params in every.values():
        for param in params:
            uses.setdefault(param.name, []).append(param)
    for name, group in uses.items():
        query[_component_name(name)] = _query_parameter(group)
    parameters: dict[str, Any] = {
        "token": {
            "name": "token",
            "in": "path",
            "required": True,
            "description": "The shared secret configured in the ACD's callback URL. Several tokens "
            "can be valid at once (rotation). This path segment is the request's authentication; "
            "it survives any way the ACD appends its own `?cmd=...`.",
            "schema": {"type": "string", "minLength": 1, "maxLength": 512},
        },
        "cmdQuery": _cmd_parameter(required=True),
        "cmdQueryOrBody": _cmd_parameter(required=False),
        **query,
    }

    json_body = {"schema": {"$ref": "#/components/schemas/Callback"}}
    responses = {}
    for head in (False, True):
        suffix = "Head" if head else ""

        def answer(description: str, schema: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
            response: dict[str, Any] = {"description": description}
            if headers:
                response["headers"] = headers
            if not head:  # noqa: B023 - used while the loop variable is current
                response["content"] = {
                    "application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}
                }
            return response

        responses[f"Accepted{suffix}"] = answer("Stored, or already stored (duplicate).", "Accepted")
        responses[f"BadRequest{suffix}"] = answer(
            "Bad input: every offending parameter named; the request is kept in quarantine.", "BadRequest"
        )
        responses[f"Conflict{suffix}"] = answer(
            "The event key is already stored with other content; the request is kept in quarantine.",
            "Conflict",
        )
        responses[f"Unauthorized{suffix}"] = answer(
            "Missing or invalid token.",
            "Unauthorized",
            {
                "WWW-Authenticate": {
                    "schema": {"type": "string"},
                    "description": '`Token realm="acd-callback"`',
                }
            },
        )
        responses[f"Forbidden{suffix}"] = answer(
            "The source address is outside the allowed networks (`AllowedSourceCidrs`).", "Forbidden"
        )
        responses[f"PayloadTooLarge{suffix}"] = answer(
            "API Gateway: the request is larger than 10 MB.", "GatewayMessage"
        )
        responses[f"UriTooLong{suffix}"] = {
            "description": "The request line is too long for the gateway (API Gateway: request line and "
            "headers at most 10 KB): send long values in a PUT body. The body is the gateway's own."
        }
        responses[f"TooManyRequests{suffix}"] = answer(
            "API Gateway throttling: retry later.", "GatewayMessage"
        )
        responses[f"StoreUnavailable{suffix}"] = answer(
            "The event store is unavailable; nothing was stored. Retry.",
            "StoreUnavailable",
            {
                "Retry-After": {
                    "required": True,
                    "description": "Seconds to wait before retrying.",
                    "schema": {"type": "integer", "minimum": 0},
                }
            },
        )
    return {
        "parameters": parameters,
        "requestBodies": {
            "Callback": {
                "required": False,
                "description": "Optional: the parameters (all of them, or those not in the query string).",
                "content": {
                    "application/x-www-form-urlencoded": dict(json_body),
                    "application/json": json_body,
                },
            }
        },
        "schemas": schemas,
        "responses": responses,
        "securitySchemes": {
            "tokenQuery": {
                "type": "apiKey",
                "in": "query",
                "name": "token",
                "description": "The shared secret as the `token` query parameter (on `/callback`). "
                "Prefer the path form `/callback/{token}`.",
            }
        },
    }


def _component_name(parameter: str) -> str:
    return "q_" + parameter.lower().replace("-", "_")


def _operations(every: dict[str, list[Parameter]], *, path_token: bool) -> dict[str, Any]:
    names = []
    for params in every.values():
        for param in params:
            if param.name not in names:
                names.append(param.name)
    refs = [{"$ref": f"#/components/parameters/{_component_name(n)}"} for n in names]
    token = [{"$ref": "#/components/parameters/token"}] if path_token else []
    security: list[dict[str, list[str]]] = [] if path_token else [{"tokenQuery": []}]
    where = "/callback/{token}" if path_token else "/callback?token=..."
    item: dict[str, Any] = {"parameters": [*token, *refs]}
    for method in ("get", "head", "put", "post"):
        head = method == "head"
        body = method in ("put", "post")
        cmd = "cmdQueryOrBody" if body else "cmdQuery"
        suffix = "Head" if head else ""
        operation: dict[str, Any] = {
            "operationId": f"{method}Callback{'WithToken' if path_token else 'WithQueryToken'}",
            "summary": f"{method.upper()} {where}",
            "description": _operation_description(method, path_token),
            "tags": ["callback"],
            "security": security,
            "parameters": [{"$ref": f"#/components/parameters/{cmd}"}],
        }
        if body:
            operation["requestBody"] = {"$ref": "#/components/requestBodies/Callback"}
        operation["responses"] = {
            "200": {"$ref": f"#/components/responses/Accepted{suffix}"},
            "400": {"$ref": f"#/components/responses/BadRequest{suffix}"},
            "401": {"$ref": f"#/components/responses/Unauthorized{suffix}"},
            "403": {"$ref": f"#/components/responses/Forbidden{suffix}"},
            "409": {"$ref": f"#/components/responses/Conflict{suffix}"},
            "413": {"$ref": f"#/components/responses/PayloadTooLarge{suffix}"},
            "414": {"$ref": f"#/components/responses/UriTooLong{suffix}"},
            "429": {"$ref": f"#/components/responses/TooManyRequests{suffix}"},
            "503": {"$ref": f"#/components/responses/StoreUnavailable{suffix}"},
        }
        item[method] = operation
    return item


def _operation_description(method: str, path_token: bool) -> str:
    auth = (
        "Authenticated by the `{token}` path segment (OpenAPI has no security scheme for a path "
        "segment, so none is declared)."
        if path_token
        else "Authenticated by the `token` query parameter."
    )
    what = {
        "get": "The ACD's usual request: the parameters in the query string.",
        "head": "Like GET, and the answer carries no body (the status code is the answer).",
        "put": "Parameters in the query string and/or a form-urlencoded or JSON body.",
        "post": "Like PUT (not sent by the ACD; handy for integrations).",
    }[method]
    return f"{what} {auth}"


DESCRIPTION = """\
The one endpoint a call-center ACD (vendor "ACD CallBack API" 4.2.4, ACD 4.9.6 and up) sends its
notifications to. Configure `https://<api>/callback/<token>` as the callback URL in the ACD.

* **Parameters** come from the query string and, for PUT/POST, from a form-urlencoded or JSON
  body; names are matched case-insensitively (ASCII rules); percent-encoded values are read as UTF-8 with a
  Windows-1252 fallback. `cmd` picks the message type; each type reads its own parameters (see
  the `Callback` schemas), the query parameters listed here are their union. Parameters the
  spec does not list are kept, not rejected, and named in the answer's `warnings`.
* **Answers**: `200` for a stored event and for a duplicate (it changes nothing: retries are
  safe), with `warnings` for parameters its `cmd` does not list; `400` naming every offending parameter (the request is kept in quarantine); `409` for
  an event key already stored with other content (kept in quarantine too);
  `401`/`403` for a bad token or source address; `503` with `Retry-After` only when the event
  store did not take the write or the valid tokens could not be read (none configured either).
  HEAD answers carry no body.
* **Times** become UTC: numeric `eventtime` is ms since the epoch; string times may also be ISO
  8601 or `YYYY-MM-DD HH:MM[:SS]` in the ACD's time zone (default Europe/Berlin).
"""


def build_document() -> dict[str, Any]:
    every = all_parameters()
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "ACD callback hub: callback endpoint",
            "version": CONTRACT_VERSION,
            "description": DESCRIPTION,
        },
        "servers": [
            {
                "url": "https://{apiId}.execute-api.{region}.amazonaws.com",
                "description": "The deployed HTTP API (stack output CallbackUrl).",
                "variables": {
                    "apiId": {"default": "abc123defg"},
                    "region": {"default": "eu-central-1"},
                },
            },
            {"url": "http://127.0.0.1:3000", "description": "`make run` (acd-local)"},
        ],
        "tags": [{"name": "callback", "description": "ACD notifications"}],
        "paths": {
            "/callback/{token}": _operations(every, path_token=True),
            "/callback": _operations(every, path_token=False),
        },
        "components": _components(every),
    }


class _Dumper(yaml.SafeDumper):
    """Plain YAML for people: no anchors/aliases, multi-line text as literal blocks."""

    def ignore_aliases(self, data: Any) -> bool:  # noqa: ARG002 - PyYAML's signature
        return True


def _text(dumper: yaml.SafeDumper, data: str) -> yaml.Node:
    # Quote what a YAML 1.2 reader could take for a number ("02212601599", "0", "+4980012345").
    style = "|" if "\n" in data else "'" if data[:1] in set("0123456789+-.") else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(str, _text)


def render() -> str:
    document = build_document()
    return HEADER + yaml.dump(document, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=100)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--out", type=click.Path(dir_okay=False, path_type=Path), default=DEFAULT_PATH, show_default=True
)
@click.option("--check", is_flag=True, help="Exit 1 if the file differs from the generated document.")
def main(out: Path, check: bool) -> None:
    """Generate the callback contract (OpenAPI 3.1) from the models."""
    text = render()
    if check:
        current = out.read_text(encoding="utf-8") if out.is_file() else ""
        if current != text:
            click.echo(f"{out} is stale: run `python -m acd_devkit.openapi`", err=True)
            sys.exit(1)
        click.echo(f"{out} is up to date")
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    click.echo(f"wrote {out}")


if __name__ == "__main__":
    main()
