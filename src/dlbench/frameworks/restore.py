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

import os
import sys
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from dlbench.data.images import fit_images, read_images
from dlbench.errors import UserError, exception_line
from dlbench.store.artifacts import (
    FEATUREMAPS_DIR,
    artifacts_dir,
    find_run,
    stored_spec,
    weights_file,
)
from dlbench.store.evaluations import (
    EVALUATION_KIND,
    dataset_slug,
    evaluation_record,
    map_classes,
)
from dlbench.store.evaluations import save_evaluation as _save

# Re-exported: the artifacts layout and the evaluation records are the store's
# (store/artifacts.py, store/evaluations.py); the CLI's model commands reach them from here.
__all__ = [
    "FEATUREMAPS_DIR",
    "RestoredModel",
    "artifacts_dir",
    "dataset_slug",
    "evaluate_dataset",
    "evaluation_record",
    "find_run",
    "fit_images",
    "import_adapter",
    "map_classes",
    "read_images",
    "restore",
    "save_evaluation",
    "weights_file",
]


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
    from dlbench.data import PreparedData

    weights = weights_file(row, db)
    folder = weights.parent
    run = run_spec_of(stored_spec(row, folder), f"run {row.id}'s stored spec")
    shape, class_names = _shape_and_classes(row, run, data_dir)
    backend = import_adapter(run.framework)
    c, h, w = shape
    trainer = backend.Trainer(run, PreparedData.empty(shape, class_names), device)
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


# -- evaluation on another dataset ------------------------------------------------------------
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


def save_evaluation(model: RestoredModel, record: dict[str, Any]) -> Path:
    """Keep `record` in the model's run's artifacts folder."""
    assert model.artifacts is not None
    return _save(model.artifacts, record)
