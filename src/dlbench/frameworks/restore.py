"""Rebuild a stored run's trained model, and use it: predict, evaluate, feature maps.

A finished run keeps its weights in its artifacts folder (`<db stem>-artifacts/<run_id>-<hex>/`)
beside `spec.json`, the resolved run spec. Restoring builds the run's framework adapter's
Trainer from that spec with the dataset's shape and class names (no training data: empty
arrays of the right shape) and loads the weights into it.

Images reach the model exactly as in training: decoded as the folder datasets decode them,
made gray or RGB to the dataset's channels, resized to its height and width with
cv2.INTER_AREA, then normalised with the run's mode. For `standardize` the mean and standard
deviation are recomputed from the run's own training images (the dataset, with the run's
`limit_train`), as the run computed them.

Keras reads its backend once, at import: a Keras run is restored only in a process that has
not imported Keras, or imported it with the run's backend.

This module imports no framework itself; `adapter()` imports the run's, when it is restored.
"""

from __future__ import annotations

import json
import os
import re
import sys
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from dlbench.errors import UserError, exception_line

EVALUATIONS_DIR = "evaluations"  # inside a run's artifacts folder, one JSON per dataset
FEATUREMAPS_DIR = "featuremaps"
EVALUATION_KIND = "dlbench-evaluation"


# -- finding a run and its files --------------------------------------------------------------
def find_run(db: Path, run: int):
    """The stored run with row id `run` (as the results table prints it)."""
    from dlbench.store.db import Store

    with Store(db, readonly=True) as store:
        rows = store.runs("id = ?", (int(run),))
    if not rows:
        raise UserError(f"{db} has no run {run}; `dlbench results --db {db}` lists the run ids")
    return rows[0]


def artifacts_dir(row, db: Path | None) -> Path | None:
    """The run's artifacts folder: where its weights are, or the same folder name beside the
    database when the database and its artifacts were moved together; None without weights."""
    stored = row["weights_path"]
    if not stored:
        return None
    folder = Path(stored).parent
    if folder.is_dir():
        return folder
    if db is not None:
        moved = Path(db).resolve().parent / f"{Path(db).stem}-artifacts" / folder.name
        if moved.is_dir():
            return moved
    return folder


def weights_file(row, db: Path | None) -> Path:
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


def run_spec_of(spec: dict[str, Any], where: str):
    """A RunSpec from a stored, resolved spec (the model expanded to its layers)."""
    from pydantic import ValidationError

    from dlbench.spec.run import RunSpec, validation_message

    data = {k: v for k, v in spec.items() if k != "model_name"}
    try:
        return RunSpec.model_validate(data)
    except ValidationError as exc:
        raise UserError(
            validation_message(exc, where)
            + " (stored by another dlbench version? install the version that trained it)"
        ) from None


def _stored_spec(row, folder: Path | None) -> dict[str, Any]:
    if row.spec:
        return row.spec
    if folder is not None and (folder / "spec.json").exists():
        return json.loads((folder / "spec.json").read_text())
    raise UserError(f"run {row.id} stored no spec, so its model cannot be rebuilt")


# -- the framework ----------------------------------------------------------------------------
def import_adapter(framework: str):
    """The run's adapter, with Keras' backend set first; a UserError if this process already
    imported Keras with another backend."""
    from dlbench.frameworks import adapter, entry

    want = entry(framework).env.get("KERAS_BACKEND")
    if want:
        keras = sys.modules.get("keras")
        if keras is not None:
            have = _keras_backend(keras)
            if have != want:
                raise UserError(
                    f"this {framework} run needs Keras with the {want} backend, but this process "
                    f"already imported Keras with the {have} backend; run the command again on "
                    "its own (one Keras backend per process)"
                )
        else:
            os.environ["KERAS_BACKEND"] = want
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # as in a run: no start-up chatter
    return adapter(framework)


def _keras_backend(keras) -> str:
    try:
        return keras.config.backend()
    except AttributeError:
        return keras.backend.backend()


# -- the restored model -----------------------------------------------------------------------
@dataclass
class RestoredModel:
    """A stored run's trained model and how its inputs were prepared."""

    row_id: int | None
    run: Any  # RunSpec
    trainer: Any
    class_names: tuple[str, ...]
    input_shape: tuple[int, int, int]  # (C, H, W) of the training images
    artifacts: Path | None
    data_dir: Path | None = None
    norm_stats: dict | None = None  # stored (mean, std) of a standardize run
    _reference: np.ndarray | None = field(default=None, repr=False)

    @property
    def normalize_mode(self) -> str:
        return self.run.normalize

    def reference(self) -> np.ndarray | None:
        """The run's training images, for `standardize` (mean and std per channel)."""
        if self.normalize_mode != "standardize":
            return None
        if self._reference is None:
            from dlbench.data import load_dataset

            ds = load_dataset(self.run.dataset, self.data_dir, limit_train=self.run.limit_train)
            self._reference = ds.x_train
        return self._reference

    def prepare(self, images: np.ndarray | list[np.ndarray]) -> np.ndarray:
        """uint8 images, any size, gray or RGB -> the float32 NHWC batch the model was trained on."""
        from dlbench.data import normalize

        x = fit_images(images, self.input_shape)
        if self.norm_stats and self.normalize_mode == "standardize":
            stats = (self.norm_stats["mean"], self.norm_stats["std"])
            return normalize(x, self.normalize_mode, stats=stats)
        return normalize(x, self.normalize_mode, reference=self.reference())

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Class probabilities (N, classes) for a prepared batch."""
        return np.asarray(self.trainer.predict(x))

    def activations(self, x: np.ndarray, names: list[str]) -> dict[str, np.ndarray]:
        """Feature maps per layer, always (N, C, H, W) whatever layout the framework returns."""
        from dlbench.spec.layers import layer_names, summarize

        spec = self.run.model_spec()
        shapes = {
            n: info.output_shape
            for n, info in zip(
                layer_names(spec), summarize(spec, self.input_shape).layers, strict=True
            )
        }
        out = {}
        for name, arr in self.trainer.activations(x, names).items():
            arr = np.asarray(arr)
            shape = tuple(shapes[name])
            if len(shape) == 3 and arr.ndim == 4:
                c, h, w = shape
                if arr.shape[1:] != (c, h, w) and arr.shape[1:] == (h, w, c):
                    arr = arr.transpose(0, 3, 1, 2)  # channels-last frameworks (Keras)
            out[name] = arr  # dense layers: (N, units)
        return out


def restore(
    row, db: Path | None, *, data_dir: Path | None = None, device: str = "cpu"
) -> RestoredModel:
    """Rebuild a finished run's model on `device` and load its trained weights."""
    from dlbench.frameworks.base import PreparedData

    weights = weights_file(row, db)
    folder = weights.parent
    run = run_spec_of(_stored_spec(row, folder), f"run {row.id}'s stored spec")
    shape, class_names = _shape_and_classes(row, run, data_dir)
    backend = import_adapter(run.framework)
    c, h, w = shape
    empty = np.zeros((0, h, w, c), np.float32)
    no_labels = np.zeros(0, np.int64)
    data = PreparedData(
        empty, no_labels, empty, no_labels, empty, no_labels, len(class_names), class_names
    )
    trainer = backend.Trainer(run, data, device)
    try:
        trainer.load(weights)
    except Exception as exc:  # noqa: BLE001 - a mismatch or a damaged file, said in one line
        raise UserError(
            f"run {row.id}: the weights in {weights} do not fit the model rebuilt for input "
            f"{c}x{h}x{w} ({exception_line(exc, 300)})"
        ) from None
    norm_stats = (row["extra"] or {}).get("norm_stats")
    return RestoredModel(row.id, run, trainer, class_names, shape, folder, data_dir, norm_stats)


def _shape_and_classes(row, run, data_dir: Path | None) -> tuple[tuple[int, int, int], tuple]:
    """The training images' (C, H, W) and the class names: stored with the run when it has
    them, else from the dataset's description."""
    extra = row["extra"] or {}
    shape = extra.get("input_shape")
    names = row["class_names"]
    if shape is None or not names:
        from dlbench.data import dataset_info

        try:
            info = dataset_info(run.dataset, data_dir)
        except UserError as exc:
            raise UserError(
                f"run {row.id}: its input shape is not stored and its dataset cannot be read "
                f"({exc})"
            ) from None
        shape = shape or info.input_shape
        names = names or info.class_names
    return tuple(int(s) for s in shape), tuple(str(n) for n in names)


# -- images -----------------------------------------------------------------------------------
def read_images(paths: list[Path]) -> list[np.ndarray]:
    """Decode image files as the folder datasets do (gray or RGB uint8, HWC)."""
    from dlbench.data.folder import decode

    out = []
    for p in paths:
        if not Path(p).is_file():
            raise UserError(f"image {p} does not exist")
        img = decode(Path(p))
        if img is None:
            raise UserError(f"{p} is not an image OpenCV can read; give PNG or JPEG files")
        out.append(img)
    return out


def fit_images(
    images: np.ndarray | list[np.ndarray], input_shape: tuple[int, int, int]
) -> np.ndarray:
    """uint8 HWC images -> one uint8 NHWC array at (C, H, W): gray or RGB, resized with
    INTER_AREA, as folder datasets load them."""
    from dlbench.data.folder import fit_image

    c, h, w = input_shape
    color = "gray" if c == 1 else "rgb"
    if isinstance(images, np.ndarray) and images.shape[1:] == (h, w, c):
        return images
    out = np.empty((len(images), h, w, c), np.uint8)
    for i, img in enumerate(images):
        img = img if img.ndim == 3 else img[..., None]
        out[i] = fit_image(img, (h, w), color)
    return out


# -- evaluation on another dataset ------------------------------------------------------------
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


def evaluate_dataset(
    model: RestoredModel, dataset: str, split: str = "auto", data_dir: Path | None = None
) -> dict[str, Any]:
    """Evaluate a restored model on `dataset` (`split`: test, train, all; auto: all of a
    folder dataset, the test set of any other)."""
    from dlbench.data import load_dataset

    ds = load_dataset(dataset, data_dir)
    if split == "auto":
        split = "all" if dataset.strip().lower().startswith("folder:") else "test"
    if split == "test":
        x, y = ds.x_test, ds.y_test
    elif split == "train":
        x, y = ds.x_train, ds.y_train
    elif split == "all":
        x, y = np.concatenate([ds.x_train, ds.x_test]), np.concatenate([ds.y_train, ds.y_test])
    else:
        raise UserError(f"unknown split {split!r}; use auto, test, train or all")
    if len(x) == 0:
        raise UserError(f"{dataset}: the {split} split holds no images")
    probs = model.predict(model.prepare(x))
    record = evaluation_record(y, probs.argmax(axis=1), ds.class_names, model.class_names)
    return {
        "kind": EVALUATION_KIND,
        "run": model.row_id,
        "run_id": model.run.run_id,
        "model": model.run.model_name,
        "framework": model.run.framework,
        "trained_on": model.run.dataset,
        "dataset": dataset,
        "source": ds.source,
        "split": split,
        "input_shape": list(ds.input_shape),
        "model_input_shape": list(model.input_shape),
        "evaluated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        **record,
    }


def dataset_slug(dataset: str) -> str:
    """A file name for a dataset string: readable, and unique by a short hash of the whole."""
    import hashlib

    readable = re.sub(r"[^a-z0-9]+", "-", dataset.lower()).strip("-")[:60] or "dataset"
    return f"{readable}-{hashlib.sha256(dataset.encode()).hexdigest()[:8]}"


def save_evaluation(model: RestoredModel, record: dict[str, Any]) -> Path:
    assert model.artifacts is not None
    folder = model.artifacts / EVALUATIONS_DIR
    folder.mkdir(exist_ok=True)
    path = folder / f"{dataset_slug(record['dataset'])}.json"
    path.write_text(json.dumps(record, indent=2) + "\n")
    return path


def load_evaluations(row, db: Path | None) -> list[dict[str, Any]]:
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
