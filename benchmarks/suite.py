"""The default suite's wall time: `dlbench run --no-save --db <tmp>` (no arguments: the default
suite), imports and data loading included; target under 3 minutes on this 2-core machine.
Runs the suite `--runs` times (two by default) one after the other and reports each.

    .venv/bin/python benchmarks/suite.py                    # two runs, compared with the baseline
    .venv/bin/python benchmarks/suite.py --save-baseline    # the same, kept as the baseline

`--save-baseline` keeps the figures (and the commit they were measured on) in
benchmarks/results/suite-baseline.json; a later run sets its wall times beside them, so a
change to the harness shows what it saved on the same machine.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import subprocess
import tempfile
from pathlib import Path

from common import RESULTS, ROOT, Timer, load, load_note, table, write

TARGET_S = 180.0
BASELINE = RESULTS / "suite-baseline.json"


def commit() -> str:
    done = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    )
    return done.stdout.strip() or "unknown"


def one_run(loads: list[float]) -> tuple[float, int, list]:
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
    print(f"  suite run: {t.s:.1f} s, exit {done.returncode}, {len(rows)} runs", flush=True)
    return t.s, done.returncode, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--save-baseline", action="store_true")
    parser.add_argument(
        "--render", action="store_true", help="rewrite the section from the stored figures"
    )
    args = parser.parse_args()
    if args.render:
        figures = json.loads((RESULTS / "suite.json").read_text())
        render(figures, figures["loads"], figures.get("other_load_pct"))
        return
    loads = [load()]
    walls, codes, all_rows = [], [], []
    for _ in range(args.runs):
        wall, code, rows = one_run(loads)
        walls.append(wall)
        codes.append(code)
        all_rows.append(rows)
    figures = {"commit": commit(), "wall_s": walls, "returncode": codes, "runs": all_rows}
    if args.save_baseline:
        RESULTS.mkdir(parents=True, exist_ok=True)
        BASELINE.write_text(json.dumps(figures, indent=2, default=str) + "\n")
    render({**figures, "loads": loads}, loads)


def render(figures: dict, loads: list[float], other: float | None = None) -> None:
    walls, codes, all_rows = figures["wall_s"], figures["returncode"], figures["runs"]
    here = figures["commit"]
    median = statistics.median(walls)
    ok = all(c == 0 for c in codes)
    verdict = "met" if median < TARGET_S and ok else "not met"
    base = json.loads(BASELINE.read_text()) if BASELINE.exists() else None
    walls_text = ", ".join(f"{w:.0f}" for w in walls)
    lines = [
        "## The default suite",
        "Command: `.venv/bin/python benchmarks/suite.py` (times "
        f"`dlbench run --no-save --db <tmp>`, {len(walls)} runs one after the other, commit "
        f"{here}). Wall time {walls_text} s (median {median:.0f} s) for {len(all_rows[-1])} "
        f"runs each (exit codes {', '.join(map(str, codes))}); target < {TARGET_S:.0f} s: "
        f"**{verdict}**.",
    ]
    if base and base["commit"] != here:
        before = statistics.median(base["wall_s"])
        lines.append(
            f"Against the baseline (commit {base['commit']}, measured before the change: "
            f"{', '.join(f'{w:.0f}' for w in base['wall_s'])} s, median {before:.0f} s"
            + (
                f", other processes at {base['other_load_pct']:.0f}% of one core"
                if base.get("other_load_pct") is not None
                else ""
            )
            + "): "
            f"median {median - before:+.0f} s ({(median - before) / before:+.0%})."
        )
        figures["baseline"] = base
    lines.append("The last run, per run (*before*: the baseline's last run):")
    header = ["model", "framework", "tuning", "status", "run wall s", "train s"]
    rows = [list(r) for r in all_rows[-1]]
    if base and base["commit"] != here:
        then = {tuple(r[:3]): r for r in base["runs"][-1]}
        header += ["run wall s before", "train s before"]
        rows = [r + list(then.get(tuple(r[:3]), [None] * 6)[4:6]) for r in rows]
    lines.append(table(header, rows))
    lines.append(load_note(loads, other))
    write("suite", figures, "\n\n".join(lines))


if __name__ == "__main__":
    main()
