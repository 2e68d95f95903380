"""The default suite's wall time: `dlbench run --no-save --db <tmp>` (no arguments: the default
suite), imports and data loading included; target under 3 minutes on this 2-core machine.

    .venv/bin/python benchmarks/suite.py
"""

from __future__ import annotations

import sqlite3
import subprocess
import tempfile
from pathlib import Path

from common import ROOT, Timer, load, load_note, table, write

TARGET_S = 180.0


def main() -> None:
    loads = [load()]
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "suite.sqlite"
        with Timer() as t:
            done = subprocess.run(
                [str(ROOT / ".venv/bin/dlbench"), "run", "--no-save", "--db", str(db)],
                cwd=tmp,
                capture_output=True,
                text=True,
                check=False,
            )
        loads.append(load())
        con = sqlite3.connect(db)
        rows = con.execute(
            "select model, framework, tuning, status, wall_s, train_s from runs"
        ).fetchall()
        con.close()
    verdict = "met" if t.s < TARGET_S and done.returncode == 0 else "not met"
    section = "\n\n".join(
        [
            "## The default suite",
            "Command: `.venv/bin/python benchmarks/suite.py` (times "
            "`dlbench run --no-save --db <tmp>`). "
            f"Wall time {t.s:.0f} s for {len(rows)} runs (exit code {done.returncode}); "
            f"target < {TARGET_S:.0f} s: **{verdict}**.",
            table(["model", "framework", "tuning", "status", "run wall s", "train s"], rows),
            load_note(loads),
        ]
    )
    write("suite", {"wall_s": t.s, "returncode": done.returncode, "runs": rows}, section)


if __name__ == "__main__":
    main()
