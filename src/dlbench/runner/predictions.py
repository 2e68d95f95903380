"""A stored model's predictions, in a process of its own, for the report.

`python -m dlbench.runner.predictions` with a JSON job on stdin ({db, run, data_dir, n})
rebuilds the run's model (frameworks/restore.py), predicts the first `n` test images of its
dataset and writes their class probabilities on one marked line (dlbench/child.py). The report,
which imports no framework, starts it by name (report/sections/models.py); a Keras run gets a fresh
process with its own backend, whatever the parent has imported.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def predictions(job: dict[str, Any]) -> dict[str, Any]:
    from dlbench.data import load_dataset
    from dlbench.frameworks.restore import restore
    from dlbench.store.artifacts import find_run

    db = Path(job["db"])
    data_dir = Path(job["data_dir"]) if job.get("data_dir") else None
    row = find_run(db, job["run"])
    model = restore(row, db, data_dir=data_dir)
    ds = load_dataset(row["dataset"], data_dir, limit_train=0, limit_test=job["n"])
    probs = model.predict(model.prepare(ds.x_test))
    return {"probs": probs.tolist(), "class_names": list(model.class_names)}


def main() -> None:
    from dlbench.child import send
    from dlbench.errors import UserError

    job = json.loads(sys.stdin.read())
    try:
        send(predictions(job))
    except UserError as exc:
        send({"error": str(exc)})
    except Exception as exc:  # noqa: BLE001 - the report says why its grid is missing
        send({"error": f"{type(exc).__name__}: {exc}"})


if __name__ == "__main__":
    main()
