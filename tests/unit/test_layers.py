"""The domain knows no DynamoDB: only the adapters (``acd_hub.adapters``) and the client factory
(``acd_hub.aws``) import boto3 or botocore, and no domain module loads them, even through
another module."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import acd_hub

PACKAGE = Path(acd_hub.__file__).parent
AWS_LIBRARIES = ("boto3", "botocore")
MAY_IMPORT_AWS = ("acd_hub.adapters", "acd_hub.aws")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path, *, at_import: bool = False) -> set[str]:
    """The modules a file imports, wherever the import stands (a function's lazy import too), or
    only ``at_import``: those its module-level statements import."""
    tree = ast.parse(path.read_text(), str(path))
    nodes = tree.body if at_import else ast.walk(tree)
    names: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def top(name: str) -> str:
    return name.split(".", maxsplit=1)[0]


MODULES = {module_name(path): imported(path) for path in sorted(PACKAGE.rglob("*.py"))}
DOMAIN = sorted(name for name in MODULES if not name.startswith(MAY_IMPORT_AWS))
# Lambda glue over Powertools, whose package registers its user agent with botocore on import:
# botocore is loaded there, but not by our code, and never boto3.
POWERTOOLS_GLUE = sorted(
    path_name
    for path in sorted(PACKAGE.rglob("*.py"))
    if (path_name := module_name(path)) in DOMAIN
    and any(top(i) == "aws_lambda_powertools" for i in imported(path, at_import=True))
)


def loaded_after_import(modules: list[str]) -> dict[str, list[str]]:
    """For each module, imported in turn by one fresh interpreter: the AWS libraries loaded by
    then (the first module that loads one is the one to blame)."""
    script = (
        "import importlib, json, sys\n"
        "seen = {}\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        f"    seen[name] = sorted(n for n in {AWS_LIBRARIES!r} if n in sys.modules)\n"
        "print(json.dumps(seen))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    return dict(json.loads(done.stdout))


def test_the_package_has_a_domain_and_adapters() -> None:
    assert {"acd_hub.aggregation", "acd_hub.agent_aggregator", "acd_hub.call_aggregator"} <= set(DOMAIN)
    assert {"acd_hub.ports", "acd_hub.ingest"} <= set(DOMAIN)
    assert {"acd_hub.adapters.events_table", "acd_hub.adapters.reports_table"} <= set(MODULES)


def test_only_the_adapters_and_the_client_factory_import_boto3_or_botocore() -> None:
    offenders = {
        name: sorted(i for i in names if top(i) in AWS_LIBRARIES)
        for name, names in MODULES.items()
        if name in DOMAIN and any(top(i) in AWS_LIBRARIES for i in names)
    }
    assert offenders == {}
    assert any(
        top(i) in AWS_LIBRARIES for i in MODULES["acd_hub.adapters.dynamodb"]
    )  # the check sees imports


def test_no_domain_module_loads_boto3_or_botocore_through_another() -> None:
    pure = [name for name in DOMAIN if name not in POWERTOOLS_GLUE]
    loaded = loaded_after_import(pure)
    assert {name: libraries for name, libraries in loaded.items() if libraries} == {}
    assert {"acd_hub.agent_aggregator", "acd_hub.call_aggregator"} <= set(loaded)


def test_lambda_glue_loads_no_boto3() -> None:
    loaded = loaded_after_import(POWERTOOLS_GLUE)
    assert {name: libraries for name, libraries in loaded.items() if "boto3" in libraries} == {}


def test_the_check_sees_an_adapter_load_botocore() -> None:
    """The subprocess check can fail: an adapter does load the library."""
    loaded = loaded_after_import(["acd_hub.adapters.events_table"])
    assert loaded["acd_hub.adapters.events_table"] == ["botocore"]
