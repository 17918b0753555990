"""The repository stands on its own: nothing in it points a reader at files it does not hold."""

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Files of the workplace this project was started in; a clone does not have them.
OUTSIDE = ("DESIGN.md", "TOOLING.md", "STYLE.md", "../shared/")


def test_no_reference_to_files_outside_the_repository():
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    found = []
    for name in tracked:
        path = ROOT / name
        if (
            path.suffix not in {".py", ".md", ".yaml", ".toml", ".sh", ".j2", ".txt", ".cfg"}
            and path.name != "Makefile"
        ):
            continue
        if not path.is_file():
            continue
        text = path.read_text(errors="replace")
        found += [
            f"{name}: {word}" for word in OUTSIDE if word in text and name != "tests/unit/test_repository.py"
        ]
    assert found == []
