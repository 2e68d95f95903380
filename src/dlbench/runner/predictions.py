"""Stored models' predictions, in a process of their own, for the report.

`python -m dlbench.runner.predictions` with a JSON job on stdin ({db, runs, data_dir, n})
rebuilds each run's model (frameworks/restore.py), predicts the first `n` test images of its
dataset and writes, on one marked line (dlbench/child.py), each run's class probabilities or
why it has none. The report, which imports no framework, starts it by name
(report/sections/models.py), one process for the runs of one framework: a framework is
imported once for all of them, and a Keras run gets a process with its own backend, whatever
the parent has imported.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from dlbench.child import exit_now


def predictions(db: Path, run: int, data_dir: Path | None, n: int) -> dict[str, Any]:
    from dlbench.data import load_dataset
    from dlbench.frameworks.restore import restore
    from dlbench.store.artifacts import find_run

    row = find_run(db, run)
    model = restore(row, db, data_dir=data_dir)
    ds = load_dataset(row["dataset"], data_dir, limit_train=0, limit_test=n)
    probs = model.predict(model.prepare(ds.x_test))
    return {"probs": probs.tolist(), "class_names": list(model.class_names)}


def predict_each(job: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Run id (as a string, JSON's keys) -> its predictions, or {"error": why}: one run that
    cannot be rebuilt never stops the others."""
    from dlbench.errors import UserError, exception_line

    db = Path(job["db"])
    data_dir = Path(job["data_dir"]) if job.get("data_dir") else None
    out: dict[str, dict[str, Any]] = {}
    for run in job["runs"]:
        try:
            out[str(run)] = predictions(db, int(run), data_dir, job["n"])
        except UserError as exc:
            out[str(run)] = {"error": str(exc)}
        except Exception as exc:  # noqa: BLE001 - the report says why its grid is missing
            out[str(run)] = {"error": exception_line(exc)}
    return out


def main() -> None:
    from dlbench.child import send

    send({"runs": predict_each(json.loads(sys.stdin.read()))})


if __name__ == "__main__":
    main()
    exit_now()
