"""One source for dependencies: ``pyproject.toml`` names them (every one pinned),
``requirements.lock`` pins the whole tree (``make lock``: ``uv pip compile``), and the Lambda
layer's ``layers/shared/requirements.txt`` is generated from the lock.

The layer gets the runtime dependencies and everything they need, as the lock pins it, less
boto3 and what only boto3 needs: the Lambda runtime provides those, and a second copy in the layer
would shadow the runtime's. The lock's ``# via`` annotations are its dependency graph, so the
layer file is derived offline, from the lock alone.

The board's layer (``cli/requirements.txt``, BoardFunction with BoardLogin=true) is derived the
same way from the renderer's own roots (:data:`BOARD_ROOTS`, dev dependencies in pyproject.toml),
less what the shared layer already ships.

``python -m acd_devkit.lock --check`` (in ``make lint``) fails when they disagree; ``--write``
regenerates both layer files.
"""

from __future__ import annotations

import re
import sys
import tomllib
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import click
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = ROOT / "pyproject.toml"
LOCK = ROOT / "requirements.lock"
LAYER_REQUIREMENTS = ROOT / "layers" / "shared" / "requirements.txt"
BOARD_REQUIREMENTS = ROOT / "cli" / "requirements.txt"
# What acd_cli's read path and renderer import (the wallboard, the day report, the CLI module
# they sit in): the board's layer ships these and their tree.
BOARD_ROOTS = ("click", "rich", "jinja2", "altair", "vl-convert-python")
# Provided by the Lambda runtime; shipping it again would shadow the runtime's copy.
RUNTIME_PROVIDED = frozenset({"boto3"})
PROJECT = "acd-callback-hub"

LAYER_HEADER = """\
# Generated from requirements.lock by `make lock` (python -m acd_devkit.lock --write): do not
# edit. What the shared Lambda layer ships: the runtime dependencies in pyproject.toml and what
# they need, less boto3 and its tree (the Lambda runtime provides them).
"""

BOARD_HEADER = """\
# Generated from requirements.lock by `make lock` (python -m acd_devkit.lock --write): do not
# edit. What the board's Lambda layer (BoardLayer) ships beside acd_cli: the renderer's
# dependencies and what they need, less what the shared layer ships and boto3's tree.
"""

_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?==(\S+)")
_VIA_ONE = re.compile(r"^\s+# via (\S+)")
_VIA_MANY = re.compile(r"^\s+#   (\S+)")


@dataclass(frozen=True)
class Lock:
    versions: dict[str, str]  # canonical name -> pinned version
    names: dict[str, str]  # canonical name -> name as the lock writes it
    needed_by: dict[str, set[str]]  # canonical name -> canonical names that need it


def read_lock(text: str) -> Lock:
    versions: dict[str, str] = {}
    names: dict[str, str] = {}
    needed_by: dict[str, set[str]] = defaultdict(set)
    current = ""
    for line in text.splitlines():
        if pin := _PIN.match(line):
            current = canonicalize_name(pin.group(1))
            versions[current] = pin.group(3)
            names[current] = pin.group(1)
        elif current and (via := _VIA_ONE.match(line) or _VIA_MANY.match(line)):
            needed_by[current].add(canonicalize_name(via.group(1)))
    return Lock(versions, names, dict(needed_by))


def project_requirements() -> tuple[list[Requirement], list[Requirement]]:
    """(runtime, dev) requirements as pyproject.toml declares them."""
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    runtime = [Requirement(r) for r in project["dependencies"]]
    dev = [Requirement(r) for r in project.get("optional-dependencies", {}).get("dev", [])]
    return runtime, dev


def layer_packages(lock: Lock, runtime: list[Requirement]) -> list[str]:
    """Canonical names the layer ships: the closure of the runtime roots over the lock's graph."""
    return _closure(lock, [canonicalize_name(r.name) for r in runtime])


def board_packages(lock: Lock, runtime: list[Requirement]) -> list[str]:
    """The board layer's: the closure of :data:`BOARD_ROOTS`, less the shared layer's and boto3's."""
    shared = set(layer_packages(lock, runtime))
    boto3_tree = set(_closure(lock, sorted(RUNTIME_PROVIDED), provided=frozenset()))
    board = _closure(lock, [canonicalize_name(name) for name in BOARD_ROOTS])
    return [name for name in board if name not in shared and name not in boto3_tree]


def board_requirements(lock: Lock, runtime: list[Requirement]) -> str:
    lines = [f"{lock.names[name]}=={lock.versions[name]}" for name in board_packages(lock, runtime)]
    return BOARD_HEADER + "\n".join(lines) + "\n"


def _closure(lock: Lock, roots: list[str], provided: frozenset[str] = RUNTIME_PROVIDED) -> list[str]:
    needs: dict[str, set[str]] = defaultdict(set)
    for child, parents in lock.needed_by.items():
        for parent in parents:
            needs[parent].add(child)
    roots = [name for name in roots if name not in provided]
    shipped: set[str] = set()
    todo: list[str] = list(roots)
    while todo:
        name = todo.pop()
        if name in shipped:
            continue
        shipped.add(name)
        todo.extend(needs.get(name, ()))
    return sorted(shipped)


def layer_requirements(lock: Lock, runtime: list[Requirement]) -> str:
    lines = [f"{lock.names[name]}=={lock.versions[name]}" for name in layer_packages(lock, runtime)]
    return LAYER_HEADER + "\n".join(lines) + "\n"


def problems(
    lock: Lock,
    runtime: list[Requirement],
    dev: list[Requirement],
    layer_text: str,
    board_text: str | None = None,
) -> list[str]:
    found: list[str] = []
    for requirement in [*runtime, *dev]:
        name: str = canonicalize_name(requirement.name)
        spec = str(requirement.specifier)
        if not spec.startswith("==") or "," in spec or "*" in spec:
            found.append(f"pyproject.toml: {requirement} is not pinned to one version (write name==X.Y.Z)")
        if name not in lock.versions:
            found.append(f"requirements.lock has no {requirement.name}: run `make lock`")
        elif not requirement.specifier.contains(lock.versions[name], prereleases=True):
            found.append(
                f"requirements.lock pins {requirement.name}=={lock.versions[name]}, "
                f"pyproject.toml asks {spec}: run `make lock`"
            )
    for name, parents in lock.needed_by.items():
        for parent in parents:
            if parent not in lock.versions and not parent.startswith(PROJECT):
                found.append(f"requirements.lock: {name} is needed by {parent}, which it does not pin")
    if layer_text != layer_requirements(lock, runtime):
        found.append(f"{LAYER_REQUIREMENTS.relative_to(ROOT)} is not what the lock gives: run `make lock`")
    if board_text is not None and board_text != board_requirements(lock, runtime):
        found.append(f"{BOARD_REQUIREMENTS.relative_to(ROOT)} is not what the lock gives: run `make lock`")
    return found


@click.command()
@click.option("--check", "mode", flag_value="check", default=True, help="Fail when the three disagree.")
@click.option("--write", "mode", flag_value="write", help="Regenerate the layer's requirements.txt.")
def main(mode: str) -> None:
    """Check or regenerate the layer's requirements from requirements.lock."""
    lock = read_lock(LOCK.read_text())
    runtime, dev = project_requirements()
    if mode == "write":
        LAYER_REQUIREMENTS.write_text(layer_requirements(lock, runtime))
        BOARD_REQUIREMENTS.write_text(board_requirements(lock, runtime))
        click.echo(f"wrote {LAYER_REQUIREMENTS.relative_to(ROOT)} and {BOARD_REQUIREMENTS.relative_to(ROOT)}")
    layer_text = LAYER_REQUIREMENTS.read_text() if LAYER_REQUIREMENTS.exists() else ""
    board_text = BOARD_REQUIREMENTS.read_text() if BOARD_REQUIREMENTS.exists() else ""
    if found := problems(lock, runtime, dev, layer_text, board_text):
        for problem in found:
            click.echo(f"error: {problem}", err=True)
        sys.exit(1)
    click.echo(
        f"dependencies agree: {len(lock.versions)} locked, {len(layer_packages(lock, runtime))} in the layer"
    )


if __name__ == "__main__":
    main()
