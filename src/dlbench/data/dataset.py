"""The two records the data layer hands out: a loaded `Dataset` and a cheap `DatasetInfo`."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dlbench.errors import UserError


# eq=False: comparing numpy arrays field by field has no single truth value.
@dataclass(frozen=True, eq=False)
class Dataset:
    """A dataset in memory: uint8 images channels-last, int64 labels, and where it came from."""

    name: str  # the spec string, e.g. "fashion-mnist", "folder:/x/faces", "synthetic:3x32x32"
    x_train: np.ndarray  # uint8 (N, H, W, C), C = 1 or 3, RGB order when C = 3
    y_train: np.ndarray  # int64 (N,), values in 0..num_classes-1
    x_test: np.ndarray  # uint8 (M, H, W, C)
    y_test: np.ndarray  # int64 (M,)
    class_names: tuple[str, ...]  # label i is class_names[i]
    source: str  # the path it was read from, or "generated"
    synthetic: bool  # True only for synthetic:..., which is for timing, never for accuracy
    skipped: tuple[str, ...] = ()  # folder: files that were not images or would not decode

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of one sample, the way model specs state it."""
        _, h, w, c = self.x_train.shape
        return (int(c), int(h), int(w))

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def __repr__(self) -> str:
        return (
            f"Dataset({self.name!r}, train={len(self.y_train)}, test={len(self.y_test)}, "
            f"input_shape={self.input_shape}, classes={self.num_classes}, source={self.source!r})"
        )


@dataclass(frozen=True)
class DatasetInfo:
    """What a run needs to know before loading: the shape of a sample and the classes."""

    name: str
    input_shape: tuple[int, int, int]  # (C, H, W)
    num_classes: int
    class_names: tuple[str, ...]
    synthetic: bool


def check_limit(name: str, limit: int | None) -> int | None:
    """`limit` as an int (numpy integers included), or a UserError if it is not a count."""
    if limit is None:
        return None
    if not isinstance(limit, (int, np.integer)) or isinstance(limit, bool) or limit < 0:
        raise UserError(f"{name} must be a whole number >= 0 or unset, not {limit!r}")
    return int(limit)
