"""2. The ingest's cold start: importing the ingest module vs a bare boto3 handler module, each in
a fresh interpreter with ``LAMBDA_TASK_ROOT`` set and ``.pyc`` files present; then the first
request after the import (same stubbed HTTP layer), so the whole cold start is shown, not only
the part that was moved around. Plus the floor (a module importing the libraries the ingest is
built on and nothing of the hub) and where the ingest module's import time goes."""

from __future__ import annotations

import compileall
import re
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from acd_bench.bare import BARE_MODULE, LIBRARIES_MODULE
from acd_bench.harness import REPO, child_env, child_result, function_env, median, ratio

# Runs in a fresh interpreter: argv = function directory, mode (ingest|bare), event file.
# Everything outside the two timed regions (sys.path, the stub, the context) is the runtime's
# business; what it imports for that is imported by neither the function nor its first request.
COLD_DRIVER = r"""
import sys, time
sys.path[:0] = [sys.argv[1]] + sys.argv[4:]
sys.stderr.write("ACD-BENCH-IMPORT-START\n"); sys.stderr.flush()
t0 = time.perf_counter()
import importlib
module = importlib.import_module("app")
t1 = time.perf_counter()
sys.stderr.write("ACD-BENCH-IMPORT-END\n"); sys.stderr.flush()
import json
from acd_bench.dynamo import stub_http
from acd_devkit.lambda_events import FakeLambdaContext
if sys.argv[2] == "ingest":
    from acd_hub.aws import dynamodb_client
    client = dynamodb_client("", interactive=True)
else:
    client = module.client
stub_http(client)
context = FakeLambdaContext("IngestFunction", memory_limit_in_mb=512, timeout_seconds=10)
with open(sys.argv[3], encoding="utf-8") as f:
    event = json.load(f)
t2 = time.perf_counter()
status = module.lambda_handler(event, context)["statusCode"]
t3 = time.perf_counter()
print("ACD-BENCH-RESULT " + json.dumps({"import_ms": (t1 - t0) * 1e3, "first_ms": (t3 - t2) * 1e3, "status": status}))
"""


def _run_cold(
    function_dir: Path, mode: str, event_file: Path, env: Mapping[str, str], *, importtime: bool = False
) -> dict[str, Any]:
    extra = [str(REPO / "layers" / "shared")]  # the layer, where Lambda mounts it: on sys.path
    command = [sys.executable, *(["-X", "importtime"] if importtime else []), "-c", COLD_DRIVER]
    done = subprocess.run(  # noqa: S603 - our interpreter, our driver
        [*command, str(function_dir), mode, str(event_file), *extra],
        env={**env, "LAMBDA_TASK_ROOT": str(function_dir)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    result = child_result(done, f"cold-start driver ({mode})")
    if result["status"] != 200:
        raise RuntimeError(f"cold-start driver ({mode}): first request answered {result['status']}")
    if importtime:
        result["importtime"] = done.stderr
    return result


_IMPORTTIME = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \|( +)(\S+)$")


def import_costs(stderr: str, top: int = 12) -> list[dict[str, Any]]:
    """From ``-X importtime`` output between the driver's marks (the import of ``app`` only):
    what ``app`` and the ``acd_hub`` modules import, with cumulative ms — where a lazy import
    could save something. Nested entries overlap (a parent's time includes its children's)."""
    section = stderr.partition("ACD-BENCH-IMPORT-START")[2].partition("ACD-BENCH-IMPORT-END")[0]
    entries = []
    for line in section.splitlines():
        match = _IMPORTTIME.match(line)
        if match:
            depth = (len(match.group(3)) - 1) // 2
            entries.append((depth, match.group(4), int(match.group(1)), int(match.group(2))))
    picked: list[dict[str, Any]] = []
    for index, (depth, name, own, cumulative) in enumerate(entries):
        # importtime lists a module after its children: the parent is the next shallower entry
        parent = next((e[1] for e in entries[index + 1 :] if e[0] < depth), "app")
        if name != "app" and (parent == "app" or parent.startswith("acd_hub.")):
            picked.append(
                {
                    "module": name,
                    "imported_by": parent,
                    "cumulative_ms": cumulative / 1000,
                    "self_ms": own / 1000,
                }
            )
    return sorted(picked, key=lambda e: -e["cumulative_ms"])[:top]


def bench_cold_start(repetitions: int = 15, warmups: int = 2) -> dict[str, Any]:
    """ms to import the ingest module vs a bare boto3 handler module, fresh interpreters,
    interleaved; plus each one's first request."""
    env = {k: v for k, v in child_env().items() if not k.startswith(("ACD_", "POWERTOOLS_"))}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.update(function_env())
    event_file = REPO / "events" / "ingest" / "agentstate-get.json"
    with tempfile.TemporaryDirectory(prefix="acd-bench-") as tmp:
        dirs = {"ingest": REPO / "functions" / "ingest"}
        for mode, module in (("bare", BARE_MODULE), ("libraries", LIBRARIES_MODULE)):
            dirs[mode] = Path(tmp) / mode
            dirs[mode].mkdir()
            (dirs[mode] / "app.py").write_text(module, encoding="utf-8")
        for directory in (*dirs.values(), REPO / "layers" / "shared" / "acd_hub"):
            compileall.compile_dir(directory, quiet=1)
        runs: dict[str, list[dict[str, Any]]] = {mode: [] for mode in dirs}
        for _ in range(warmups):  # .pyc written, OS page cache warm
            for mode, directory in dirs.items():
                _run_cold(directory, mode, event_file, env)
        for i in range(repetitions):
            for mode in list(dirs) if i % 2 == 0 else reversed(list(dirs)):
                runs[mode].append(_run_cold(dirs[mode], mode, event_file, env))
        breakdown = import_costs(
            _run_cold(dirs["ingest"], "ingest", event_file, env, importtime=True)["importtime"]
        )

    def stat(mode: str, key: str) -> float:
        return median([r[key] for r in runs[mode]])

    def total(mode: str) -> float:
        return median([r["import_ms"] + r["first_ms"] for r in runs[mode]])

    return {
        "repetitions": repetitions,
        "first_request_event": str(event_file.relative_to(REPO)),
        "ingest_import_ms": stat("ingest", "import_ms"),
        "bare_import_ms": stat("bare", "import_ms"),
        "import_ratio": ratio(stat("ingest", "import_ms"), stat("bare", "import_ms")),
        # the floor: boto3's client behind Powertools' resolver, logger, metrics and pydantic
        "libraries_import_ms": stat("libraries", "import_ms"),
        "libraries_import_ratio": ratio(stat("libraries", "import_ms"), stat("bare", "import_ms")),
        "ingest_import_vs_libraries": ratio(stat("ingest", "import_ms"), stat("libraries", "import_ms")),
        "ingest_first_request_ms": stat("ingest", "first_ms"),
        "bare_first_request_ms": stat("bare", "first_ms"),
        "first_request_ratio": ratio(stat("ingest", "first_ms"), stat("bare", "first_ms")),
        "ingest_cold_total_ms": total("ingest"),
        "bare_cold_total_ms": total("bare"),
        "cold_total_ratio": ratio(total("ingest"), total("bare")),
        "samples": runs,
        "ingest_import_breakdown": breakdown,
        "target_ratio_max": 1.3,
    }
