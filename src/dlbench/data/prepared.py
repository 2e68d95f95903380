"""A dataset made ready for a framework: normalised float32 arrays, split for validation.

`prepare` is the one way a run's data is made (the worker trains on it, the parity check steps
on it); `PreparedData.empty` is the data of a model rebuilt only to load its weights. Every
framework adapter consumes these arrays; this module imports no framework.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dlbench.data.dataset import Dataset
from dlbench.data.transforms import normalize, split_validation


@dataclass(frozen=True)
class PreparedData:
    """Normalised float32 arrays, channels last (N, H, W, C), and int64 labels."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int
    class_names: tuple[str, ...]

    @property
    def input_shape(self) -> tuple[int, int, int]:
        _, h, w, c = self.x_train.shape
        return (c, h, w)

    @classmethod
    def empty(cls, input_shape: tuple[int, int, int], class_names: tuple[str, ...]) -> PreparedData:
        """No samples, the right shapes: enough to build a model and load its weights."""
        c, h, w = input_shape
        x = np.zeros((0, h, w, c), np.float32)
        y = np.zeros(0, np.int64)
        return cls(x, y, x, y, x, y, len(class_names), tuple(class_names))


def prepare(
    ds: Dataset, mode: str = "scale", val_fraction: float = 0.0, seed: int = 0
) -> PreparedData:
    """Normalise `ds` with `mode` (statistics from its training images) and hold out
    `val_fraction` of the training set, chosen with `seed` (data/transforms.py)."""
    x_train = normalize(ds.x_train, mode, reference=ds.x_train)
    x_test = normalize(ds.x_test, mode, reference=ds.x_train)
    x_tr, y_tr, x_val, y_val = split_validation(x_train, ds.y_train, val_fraction, seed)
    return PreparedData(x_tr, y_tr, x_val, y_val, x_test, ds.y_test, ds.num_classes, ds.class_names)
