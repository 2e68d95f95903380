"""What happens to the arrays between the disk and the model: normalisation and splits.

All of it is numpy and deterministic: the same seed gives the same split on every machine, so
two frameworks trained on "the same data" really are.
"""

from __future__ import annotations

import numpy as np

from dlbench.errors import UserError

NORMALIZE_MODES = ("scale", "l2-rows", "standardize", "none")


def normalize(
    x: np.ndarray,
    mode: str,
    reference: np.ndarray | None = None,
    stats: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """uint8 NHWC images -> float32 NHWC, as the run spec's `normalize` asks.

    - scale: x / 255.
    - l2-rows: what `keras.utils.normalize(x, axis=1)` does to the float32 array: each column of
      each image (axis 1 of NHWC, the H axis) divided by its L2 norm; all-zero columns stay zero.
      For C = 1 this equals keras.utils.normalize(x[..., 0].astype("float32"), axis=1), which
      is what report A applied to its (N, 28, 28) arrays.
    - standardize: (x / 255 - mean) / std per channel, mean and std from `reference` (the
      training images, so the test set never leaks into its own normalisation), or the stored
      `stats` = (mean, std) of a finished run, so predicting needs no training set.
    - none: a float32 copy.
    """
    if mode not in NORMALIZE_MODES:
        raise UserError(f"unknown normalize mode {mode!r}; use one of {', '.join(NORMALIZE_MODES)}")
    if x.ndim != 4:
        raise ValueError(f"normalize expects NHWC images, got shape {x.shape}")
    xf = x.astype(np.float32)
    if mode == "none":
        return xf
    if mode == "scale":
        xf /= np.float32(255.0)
        return xf
    if mode == "l2-rows":
        # The same operations as keras.utils.normalize's numpy path, so the result is bit-equal.
        norm = np.atleast_1d(np.linalg.norm(xf, 2, 1))
        norm[norm == 0] = 1
        return xf / np.expand_dims(norm, 1)
    if stats is not None:
        mean, std = (np.asarray(a, np.float32) for a in stats)
    elif reference is not None:
        mean, std = channel_stats(reference)
    else:
        raise ValueError("normalize(mode='standardize') needs reference= or stats=")
    xf /= np.float32(255.0)
    xf -= mean
    xf /= std
    return xf


def channel_stats(reference: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and std of `reference / 255` (float32, shape (C,)); a constant channel
    gets std 1 so that it maps to zero instead of NaN."""
    c = reference.shape[-1]
    flat = reference.reshape(-1, c)
    # Accumulate in float64 in slices: exact enough, and no float64 copy of a large set.
    total = np.zeros(c)
    total_sq = np.zeros(c)
    step = 1 << 22
    for i in range(0, len(flat), step):
        part = flat[i : i + step].astype(np.float64) / 255.0
        total += part.sum(axis=0)
        total_sq += np.square(part).sum(axis=0)
    n = max(len(flat), 1)
    mean = total / n
    std = np.sqrt(np.maximum(total_sq / n - mean**2, 0.0))
    std[std < 1e-12] = 1.0
    return mean.astype(np.float32), std.astype(np.float32)


def split_validation(
    x: np.ndarray, y: np.ndarray, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x_train, y_train, x_val, y_val): a `fraction` of the samples, chosen by a fixed-seed
    permutation (numpy `default_rng(seed)`), held out for validation.

    Both parts keep the original order of their samples. fraction 0 gives empty validation
    arrays of the right shapes; a fraction > 0 of at least two samples holds out at least one
    and keeps at least one for training.
    """
    if not 0.0 <= fraction < 1.0:
        raise UserError(f"validation fraction must be in [0, 1), not {fraction}")
    if len(x) != len(y):
        raise ValueError(f"x has {len(x)} samples but y has {len(y)}")
    n = len(x)
    n_val = int(n * fraction + 0.5)
    if fraction > 0 and n >= 2:
        n_val = min(max(n_val, 1), n - 1)
    perm = np.random.default_rng(seed).permutation(n)
    val = np.sort(perm[:n_val])
    train = np.sort(perm[n_val:])
    return x[train], y[train], x[val], y[val]


def holdout_indices(
    labels: np.ndarray, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """(train, test) indices: a fixed-seed `fraction` of each class held out as the test set.

    Each class of two or more samples gives at least one to each side. Both index arrays are
    shuffled (with the same seed), so that the first n samples of either mix the classes.
    """
    rng = np.random.default_rng(seed)
    train: list[np.ndarray] = []
    test: list[np.ndarray] = []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        k = int(len(idx) * fraction + 0.5)
        k = min(max(k, 1), len(idx) - 1) if len(idx) >= 2 else 0
        test.append(idx[:k])
        train.append(idx[k:])
    empty = np.empty(0, dtype=np.int64)
    train_idx = rng.permutation(np.concatenate(train)) if train else empty
    test_idx = rng.permutation(np.concatenate(test)) if test else empty
    return train_idx, test_idx
