"""A cold start imports and builds what a first request needs, not more (issue 19, item 6: the
import at most 1.3x bare boto3): checked in a fresh interpreter, as Lambda imports the function."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.support import FUNCTION_ENVIRONMENT, INGEST_CODE

LAYER = INGEST_CODE.parents[1] / "layers" / "shared"
SCRIPT = """
import importlib, json, sys
import pydantic
importlib.import_module("app")
built = sorted(
    name
    for module_name, module in list(sys.modules.items())
    if module_name.startswith("acd_hub")
    for name, value in vars(module).items()
    if isinstance(value, type) and issubclass(value, pydantic.BaseModel)
    and value.__module__ == module_name and value.__pydantic_complete__
)
print(json.dumps({"built": built, "modules": sorted(n for n in sys.modules if n.startswith(("acd_hub", "difflib")))}))
"""


def cold_import() -> dict[str, list[str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ACD_", "POWERTOOLS_"))}
    env |= {
        **FUNCTION_ENVIRONMENT,
        "ACD_CALLBACK_TOKENS": "t",
        "PYTHONPATH": f"{INGEST_CODE}{os.pathsep}{LAYER}",
    }
    done = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, check=True)
    return dict(json.loads(done.stdout.splitlines()[-1]))


def test_only_the_settings_are_validated_at_import() -> None:
    # The callback models, the answers and the phone number are built when first used.
    assert cold_import()["built"] == ["HubSettings"]


def test_the_ingest_does_not_import_what_only_the_aggregators_use() -> None:
    modules = cold_import()["modules"]
    assert "acd_hub.ingest" in modules  # the check sees the ingest's own modules
    only_aggregators = {"acd_hub.ports", "acd_hub.agent_stats", "acd_hub.call_stats", "acd_hub.aggregation"}
    only_aggregators |= {"acd_hub.agent_aggregator", "acd_hub.call_aggregator"}
    assert not only_aggregators & set(modules)


def test_the_close_names_of_unknown_parameters_are_looked_for_only_when_there_are_some() -> None:
    # difflib: only a callback with a parameter its cmd does not list needs it
    assert "difflib" not in cold_import()["modules"]
