"""The artifacts folder: what a run keeps beside the database, and where.

```
<db stem>-artifacts/
  <run_id>-<8 hex>/          one per stored run that kept its model (not --no-save)
    spec.json                the resolved run spec, which rebuilds the model
    weights.pt | .weights.h5 the trained weights (the framework's own format)
    evaluations/<slug>.json  `dlbench evaluate`: the model on another dataset
    featuremaps/             `dlbench featuremaps`: figures and their index.json
```

This module is the one that knows this layout: the runner makes a run's folder, the CLI's
model commands write into it, the report reads it. It imports no framework.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

from dlbench.errors import UserError
from dlbench.store.db import RunRow, Store

SPEC_FILE = "spec.json"
WEIGHTS_STEM = "weights"  # + the adapter's WEIGHTS_SUFFIX
EVALUATIONS_DIR = "evaluations"  # one JSON per dataset
FEATUREMAPS_DIR = "featuremaps"


def artifacts_root(db: Path) -> Path:
    return Path(db).resolve().parent / f"{Path(db).stem}-artifacts"


def new_run_folder(db: Path, run_id: str, spec: dict[str, Any]) -> Path:
    """A new folder for one run's weights and figures, with the spec that rebuilds its model."""
    folder = artifacts_root(db) / f"{run_id}-{uuid.uuid4().hex[:8]}"
    folder.mkdir(parents=True)
    (folder / SPEC_FILE).write_text(json.dumps(spec, indent=2) + "\n")
    return folder


def weights_path(folder: Path, suffix: str) -> Path:
    return Path(folder) / f"{WEIGHTS_STEM}{suffix}"


def find_run(db: Path, run: int) -> RunRow:
    """The stored run with row id `run` (as the results table prints it)."""
    with Store(db, readonly=True) as store:
        rows = store.runs("id = ?", (int(run),))
    if not rows:
        raise UserError(f"{db} has no run {run}; `dlbench results --db {db}` lists the run ids")
    return rows[0]


def artifacts_dir(row: RunRow, db: Path | None) -> Path | None:
    """The run's artifacts folder: where its weights are, or the same folder name beside the
    database when the database and its artifacts were moved together; None without weights."""
    stored = row["weights_path"]
    if not stored:
        return None
    folder = Path(stored).parent
    if folder.is_dir():
        return folder
    if db is not None:
        moved = artifacts_root(db) / folder.name
        if moved.is_dir():
            return moved
    return folder


def weights_file(row: RunRow, db: Path | None) -> Path:
    """The run's weights file, or a UserError that says why there is none."""
    if row["status"] != "finished":
        raise UserError(f"run {row.id} is {row['status']}: only finished runs keep a model")
    folder = artifacts_dir(row, db)
    if folder is None:
        raise UserError(
            f"run {row.id} kept no weights (it ran with --no-save, or before dlbench saved "
            "models); run it again without --no-save"
        )
    path = folder / Path(row["weights_path"]).name
    if not path.exists():
        raise UserError(
            f"run {row.id}: its weights {row['weights_path']} are gone; keep the "
            "<db>-artifacts folder beside the database"
        )
    return path


def stored_spec(row: RunRow, folder: Path | None) -> dict[str, Any]:
    """The run's resolved spec: from the database, else from its folder's spec.json."""
    if row.spec:
        return row.spec
    if folder is not None and (folder / SPEC_FILE).exists():
        return json.loads((folder / SPEC_FILE).read_text())
    raise UserError(f"run {row.id} stored no spec, so its model cannot be rebuilt")


def featuremaps_dir(row: RunRow, db: Path | None) -> Path | None:
    folder = artifacts_dir(row, db)
    return None if folder is None else folder / FEATUREMAPS_DIR
