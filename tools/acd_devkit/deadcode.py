"""The dead-code gate in ``make lint``: vulture over the product, the tools and the tests, at its
60 % confidence (unused functions, classes, methods, attributes and variables).

What vulture cannot see is named here, and only that:
- what a framework reads through a base class: pydantic models' fields, cfn-lint's rule classes,
  a JSON-schema generator's overrides (found from the classes themselves, not listed);
- hooks that a framework calls by name (``IGNORE_NAMES``) or by decorator (``IGNORE_DECORATORS``).

Tests count as users: a helper only the tests call is alive, as it is meant to be.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from pathlib import Path

import click
from vulture import Vulture
from vulture.core import Item

ROOT = Path(__file__).resolve().parents[2]
PATHS = ["functions", "layers/shared/acd_hub", "cli", "tools", "tests"]

# Called by name by a framework, never by our code.
IGNORE_NAMES = [
    "lambda_handler",  # the Lambda runtime's entry point (template.yaml's Handler)
    "pytest_*",  # pytest's hooks and marks
    "pytestmark",
    "do_*",  # http.server's handler methods and settings
    "wbufsize",
    "disable_nagle_algorithm",
    "log_message",
    "daemon_threads",
    "protocol_version",
    "close_connection",
    "request_queue_size",  # socketserver's listen backlog
    "readable",  # io.RawIOBase's methods, called by io.BufferedReader
    "readinto",
    "model_config",  # pydantic's model settings
    "channel_class",  # waitress's server settings
    "error_task_class",
    "parser_class",
    "connection_close",  # waitress's parser: close after answering
    "expect_continue",  # waitress's parser: send "100 Continue" (acd_local.gateway)
    "execute",  # waitress's task: write the answer, and its length
    "content_length",
    "aws_env",  # pytest fixtures requested for their side effect (the environment they set)
    "fake_aws",
    "longrepr",  # pytest's report object
    "return_value",  # unittest.mock's configuration
    "ignore_aliases",  # PyYAML's dumper hook
    "format_message",  # click.ClickException's, called by its show() (ReportError escapes its text)
    "tags",  # a cfn-lint rule's attribute (set on the rules' shared mixin)
    "memory_limit_in_mb",  # the Lambda context's documented attributes
    "client_context",
    "log_stream_name",
    "tenant_id",
    "__class__",  # a class given another metaclass (acd_local.lambda_runtime.isolate_router_state)
    "__cause__",  # an exception's cause, set where it is handed on rather than raised (acd_local.invoke)
]
# Registered with a framework by their decorator.
IGNORE_DECORATORS = [
    "@*.command",
    "@*.group",
    "@*.fixture",
    "@pytest.*",
    "@*.route",
    "@*.get",
    "@*.post",
    "@*.put",
    "@*.head",
    "@*.exception_handler",
    "@*.not_found",
    "@*_validator",
    "@*_serializer",
    "@computed_field",
]


# Classes a framework reads by their base class. A rule class cfn-lint discovers is used as a
# whole; a JSON-schema generator's methods are overrides pydantic calls; a model's annotated
# names are fields pydantic (or dataclasses) read; its methods and properties are still checked.
DISCOVERED_BASES = frozenset({"CloudFormationLintRule"})
OVERRIDING_BASES = frozenset({"GenerateJsonSchema"})
MODEL_BASES = frozenset({"BaseModel", "RootModel", "dataclass"})


@dataclass(frozen=True)
class FrameworkClass:
    first: int
    last: int
    kind: str  # "discovered", "overriding" or "model"
    fields: frozenset[str]


def _classes(paths: list[Path]) -> dict[Path, list[tuple[ast.ClassDef, list[str]]]]:
    """Each class with the names of its bases; a dataclass counts as deriving from ``dataclass``
    (its fields are read by ``asdict``, ``replace`` and the generated methods)."""
    found: dict[Path, list[tuple[ast.ClassDef, list[str]]]] = {}
    for path in paths:
        tree = ast.parse(path.read_text(), str(path))
        found[path] = [
            (
                node,
                [ast.unparse(base).rsplit(".", 1)[-1] for base in node.bases]
                + ["dataclass" for d in node.decorator_list if "dataclass" in ast.unparse(d)],
            )
            for node in ast.walk(tree)
            if isinstance(node, ast.ClassDef)
        ]
    return found


def framework_classes(paths: list[Path]) -> dict[Path, list[FrameworkClass]]:
    """Per file, the classes that derive (through any of the scanned files) from a framework's."""
    classes = _classes(paths)
    bases_of: dict[str, set[str]] = {}
    for entries in classes.values():
        for node, bases in entries:
            bases_of.setdefault(node.name, set()).update(bases)

    def derives(name: str, roots: frozenset[str], seen: frozenset[str] = frozenset()) -> bool:
        direct = bases_of.get(name, set())
        return bool(direct & roots) or any(derives(b, roots, seen | {name}) for b in direct - seen)

    result: dict[Path, list[FrameworkClass]] = {}
    for path, entries in classes.items():
        for node, _bases in entries:
            for kind, roots in (
                ("discovered", DISCOVERED_BASES),
                ("overriding", OVERRIDING_BASES),
                ("model", MODEL_BASES),
            ):
                if derives(node.name, roots):
                    fields = frozenset(
                        s.target.id
                        for s in node.body
                        if isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name)
                    )
                    result.setdefault(path, []).append(
                        FrameworkClass(node.lineno, node.end_lineno or node.lineno, kind, fields)
                    )
                    break
    return result


def _used_by_framework(item: Item, classes: list[FrameworkClass]) -> bool:
    for cls in classes:
        if not cls.first <= item.first_lineno <= cls.last:
            continue
        if cls.kind in {"discovered", "overriding"}:
            return True
        if item.typ == "variable" and item.name in cls.fields:
            return True
    return False


def unused(root: Path = ROOT) -> list[str]:
    vulture = Vulture(ignore_names=IGNORE_NAMES, ignore_decorators=IGNORE_DECORATORS)
    roots = [root / p for p in PATHS if (root / p).exists()]
    vulture.scavenge([str(r) for r in roots], exclude=["*/.venv*", "*/__pycache__/*"])
    files = sorted({f for r in roots for f in r.rglob("*.py") if "__pycache__" not in f.parts})
    classes = framework_classes(files)
    return [
        f"{Path(item.filename).relative_to(root)}:{item.first_lineno}: {item.message} ({item.confidence}% confidence)"
        for item in vulture.get_unused_code(min_confidence=60)
        if not _used_by_framework(item, classes.get(Path(item.filename), []))
    ]


@click.command()
def main() -> None:
    """Fail when code nothing uses is left in the tree."""
    if found := unused():
        click.echo("\n".join(found))
        click.echo(
            f"{len(found)} unused; remove it, or name the framework hook in acd_devkit/deadcode.py", err=True
        )
        sys.exit(1)
    click.echo("no dead code")


if __name__ == "__main__":
    main()
