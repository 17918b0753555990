"""The dead-code gate in ``make lint``: vulture over the product, the tools and the tests, at its
60 % confidence (unused functions, classes, methods, attributes and variables).

What vulture cannot see is named here, and only that:
- fields of pydantic models, which pydantic reads: taken from the models themselves, not listed;
- hooks that a framework calls by name (``IGNORE_NAMES``) or by decorator (``IGNORE_DECORATORS``).

Tests count as users: a helper only the tests call is alive, as it is meant to be.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import click
from vulture import Vulture

ROOT = Path(__file__).resolve().parents[2]
PATHS = ["functions", "layers/shared/acd_hub", "cli", "tools", "tests"]

# Called by name by a framework, never by our code.
IGNORE_NAMES = [
    "pytest_*",  # pytest's hooks and marks
    "pytestmark",
    "do_*",  # http.server's handler methods and settings
    "wbufsize",
    "disable_nagle_algorithm",
    "log_message",
    "daemon_threads",
    "protocol_version",
    "close_connection",
    "model_config",  # pydantic's model settings
    "channel_class",  # waitress's server settings
    "error_task_class",
    "aws_env",  # a pytest fixture requested for its side effect (the environment it sets)
    "longrepr",  # pytest's report object
    "return_value",  # unittest.mock's configuration
    "ignore_aliases",  # PyYAML's dumper hook
    "memory_limit_in_mb",  # the Lambda context's documented attributes
    "client_context",
    "log_stream_name",
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


def pydantic_fields(path: Path) -> set[str]:
    """Names declared in the body of a class whose bases name a pydantic model: its fields."""
    names: set[str] = set()
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if not isinstance(node, ast.ClassDef):
            continue
        bases = {ast.unparse(base) for base in node.bases}
        if not any("BaseModel" in base or "Model" in base.rsplit(".", 1)[-1] for base in bases):
            continue
        for statement in node.body:
            if isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name):
                names.add(statement.target.id)
    return names


def unused(root: Path = ROOT) -> list[str]:
    vulture = Vulture(ignore_names=IGNORE_NAMES, ignore_decorators=IGNORE_DECORATORS)
    vulture.scavenge([str(root / p) for p in PATHS], exclude=["*/.venv*", "*/__pycache__/*"])
    fields: dict[Path, set[str]] = {}
    found = []
    for item in vulture.get_unused_code(min_confidence=60):
        path = Path(item.filename)
        if item.typ == "variable":
            if path not in fields:
                fields[path] = pydantic_fields(path)
            if item.name in fields[path]:
                continue
        found.append(
            f"{path.relative_to(root)}:{item.first_lineno}: {item.message} ({item.confidence}% confidence)"
        )
    return found


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
