"""The layers' one direction (docs/architecture.md), as import-linter's contracts in
pyproject.toml: `lint-imports` must keep every one; and no module of logic over MAX_LINES."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_lint_imports_keeps_every_contract():
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which(
        "lint-imports"
    )
    assert exe, "lint-imports is missing: pip install -e '.[test]' (import-linter)"
    proc = subprocess.run(
        [exe, "--no-cache", "--config", str(ROOT / "pyproject.toml")],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "0 broken" in proc.stdout


def test_framework_names_are_one_list():
    """spec/ cannot import the registry (it is below frameworks/): the two must agree."""
    from dlbench.frameworks import REGISTRY
    from dlbench.spec.run import FRAMEWORKS

    assert tuple(REGISTRY) == FRAMEWORKS


MAX_LINES = 500  # issue 12: a module a newcomer reads whole
DATA_TABLE = "A data table"  # what a longer module says at its top (its figures, not logic)


def test_no_module_of_logic_is_over_max_lines():
    long = []
    for path in sorted((ROOT / "src").rglob("*.py")):
        text = path.read_text()
        if text.count("\n") > MAX_LINES and DATA_TABLE not in text[:2000]:
            long.append(f"{path.relative_to(ROOT)}: {text.count(chr(10))} lines")
    assert long == [], f"split these (or say '{DATA_TABLE}' at the top of a table): {long}"
