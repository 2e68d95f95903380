"""Evaluations of a stored model on another dataset (`dlbench evaluate`), kept as JSON in the
run's artifacts folder: how one is computed from predictions, written, and read back.

The numbers come from predicted classes alone, so this module imports no framework: the model
runs elsewhere (frameworks/restore.py), the report only reads what was written.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import numpy as np

from dlbench.store.artifacts import EVALUATIONS_DIR, artifacts_dir
from dlbench.store.db import RunRow

EVALUATION_KIND = "dlbench-evaluation"


def map_classes(
    dataset_names: tuple[str, ...], model_names: tuple[str, ...]
) -> tuple[list[int | None], str]:
    """For each dataset class, the model class it is (None: unknown to the model).

    By name (ignoring case and surrounding spaces) when any name matches; otherwise by
    position, dataset class i being model class i. Returns (mapping, "name" or "index")."""

    def key(s: str) -> str:
        return s.strip().casefold()

    model_index = {key(n): i for i, n in enumerate(model_names)}
    if any(key(n) in model_index for n in dataset_names):
        return [model_index.get(key(n)) for n in dataset_names], "name"
    return [i if i < len(model_names) else None for i in range(len(dataset_names))], "index"


def evaluation_record(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    dataset_names: tuple[str, ...],
    model_names: tuple[str, ...],
) -> dict[str, Any]:
    """Confusion (rows: the dataset's classes, columns: the model's classes) and accuracies.

    A sample of a class the model does not know is always wrong: the model cannot answer it.
    `accuracy` counts every sample; `accuracy_known` only those of classes the model knows."""
    mapping, mode = map_classes(dataset_names, model_names)
    cm = np.zeros((len(dataset_names), len(model_names)), np.int64)
    np.add.at(cm, (y_true.astype(np.int64), y_pred.astype(np.int64)), 1)
    correct = sum(int(cm[i, m]) for i, m in enumerate(mapping) if m is not None)
    known = sum(int(cm[i].sum()) for i, m in enumerate(mapping) if m is not None)
    total = int(cm.sum())
    return {
        "class_names": list(dataset_names),
        "model_class_names": list(model_names),
        "mapping": mapping,
        "mapping_mode": mode,
        "unknown_classes": [n for n, m in zip(dataset_names, mapping, strict=True) if m is None],
        "confusion": cm.tolist(),
        "samples": total,
        "known_samples": known,
        "accuracy": correct / total if total else None,
        "accuracy_known": correct / known if known else None,
    }


def dataset_slug(dataset: str) -> str:
    """A file name for a dataset string: readable, and unique by a short hash of the whole."""
    readable = re.sub(r"[^a-z0-9]+", "-", dataset.lower()).strip("-")[:60] or "dataset"
    return f"{readable}-{hashlib.sha256(dataset.encode()).hexdigest()[:8]}"


def save_evaluation(folder: Path, record: dict[str, Any]) -> Path:
    """Write `record` into the artifacts `folder` of its run; returns the file."""
    out = Path(folder) / EVALUATIONS_DIR
    out.mkdir(exist_ok=True)
    path = out / f"{dataset_slug(record['dataset'])}.json"
    path.write_text(json.dumps(record, indent=2) + "\n")
    return path


def load_evaluations(row: RunRow, db: Path | None) -> list[dict[str, Any]]:
    """The evaluations stored in a run's artifacts folder (none when it has no folder)."""
    folder = artifacts_dir(row, db)
    if folder is None or not (folder / EVALUATIONS_DIR).is_dir():
        return []
    out = []
    for path in sorted((folder / EVALUATIONS_DIR).glob("*.json")):
        try:
            record = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if isinstance(record, dict) and record.get("kind") == EVALUATION_KIND:
            out.append(record)
    return out
