"""6. Deployment size of each function and the layer as ``sam build`` lays them out, unzipped
and as a deflated zip (what Lambda's upload limit counts)."""

from __future__ import annotations

import subprocess
import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from acd_bench.harness import REPO

FUNCTIONS = {
    "IngestFunction": "functions/ingest",
    "FanoutFunction": "functions/fanout",
    "StatsFunction": "functions/stats",
}


def _newest_mtime(paths: Sequence[Path]) -> float:
    newest = 0.0
    for root in paths:
        candidates = [root] if root.is_file() else root.rglob("*")
        for path in candidates:
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                newest = max(newest, path.stat().st_mtime)
    return newest


def _dir_size(root: Path) -> tuple[int, int]:
    """(bytes unzipped, bytes as a deflated zip: what Lambda's upload limit counts)."""
    files = sorted(p for p in root.rglob("*") if p.is_file())
    unzipped = sum(p.stat().st_size for p in files)
    with tempfile.TemporaryFile() as sink:
        with zipfile.ZipFile(sink, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in files:
                archive.write(path, path.relative_to(root))
        zipped = sink.tell()
    return unzipped, zipped


def bench_deployment_size(build: bool = True, build_dir: Path | None = None) -> dict[str, Any]:
    """MB per function and layer under ``.aws-sam/build``; ``make build`` first when the build
    is missing or older than the sources (and ``build`` allows it)."""
    build_dir = build_dir or REPO / ".aws-sam" / "build"
    sources = [REPO / "template.yaml", REPO / "functions", REPO / "layers"]
    expected = [*FUNCTIONS, "SharedLayer"]

    def fresh() -> bool:
        marker = build_dir / "template.yaml"
        return (
            marker.is_file()
            and all((build_dir / name).is_dir() for name in expected)
            and marker.stat().st_mtime >= _newest_mtime(sources)
        )

    note = "reused .aws-sam/build (newer than the sources)"
    if not fresh():
        if build:
            done = subprocess.run(
                ["make", "--no-print-directory", "build"],  # noqa: S607 - make from PATH, our Makefile
                cwd=REPO,
                capture_output=True,
                text=True,
                timeout=900,
                check=False,
            )
            note = "built now with make build"
            if done.returncode != 0:
                note = f"make build failed (exit {done.returncode}): {(done.stderr or done.stdout)[-400:].strip()}"
        else:
            note = "build missing or older than the sources (not rebuilt)"
    stale = not fresh()
    artifacts: dict[str, Any] = {}
    for name in expected:
        path = build_dir / name
        if path.is_dir():
            unzipped, zipped = _dir_size(path)
            artifacts[name] = {"unzipped_mb": unzipped / 1e6, "zipped_mb": zipped / 1e6}
    return {"build_dir": str(build_dir), "stale": stale, "note": note, "artifacts": artifacts}
