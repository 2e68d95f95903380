"""Load the built-in datasets: find the files (or download them), read them, check them.

A full read of a dataset's files is kept decoded in the cache of decoded.py; a later load of
the same files (same SHA-256) maps that instead of decoding again.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dlbench.data import cifar, decoded, idx
from dlbench.data.catalog import BUILTINS, BuiltIn
from dlbench.data.dataset import Dataset
from dlbench.data.download import download_builtin
from dlbench.data.locations import (
    downloads_enabled,
    file_in,
    not_found_message,
    repair_hint,
    search,
)
from dlbench.data.transforms import holdout_indices
from dlbench.errors import UserError

DIGITS_SPLIT_SEED = 0
DIGITS_TEST_FRACTION = 0.2


def resolve(b: BuiltIn, data_dir: Path | None) -> Path:
    """The folder holding every file of `b`: found, or downloaded into the user cache."""
    found = search(b, data_dir)
    if found.folder is not None:
        return found.folder
    if not downloads_enabled() or not b.remotes:
        raise UserError(f"{b.name}: {not_found_message(b, found)}")
    return download_builtin(b)


def _idx_pair(
    b: BuiltIn, folder: Path, prefix: str, n: int, limit: int | None
) -> tuple[np.ndarray, np.ndarray]:
    images_path = file_in(folder, f"{prefix}-images-idx3-ubyte")
    labels_path = file_in(folder, f"{prefix}-labels-idx1-ubyte")
    assert images_path is not None and labels_path is not None  # resolve() found them
    x = idx.read_idx(
        images_path, ndim=3, limit=limit, dataset=b.name, repair=repair_hint(b, images_path)
    )
    y = idx.read_idx(
        labels_path, ndim=1, limit=limit, dataset=b.name, repair=repair_hint(b, labels_path)
    )
    c, h, w = b.input_shape
    expected = (min(n, limit) if limit is not None else n, h, w)
    if x.shape != expected:
        raise UserError(
            f"{b.name}: {images_path.name} holds images of shape {x.shape}, expected {expected}: "
            f"is it the right file?; {repair_hint(b, images_path)}"
        )
    if y.shape != expected[:1]:
        raise UserError(
            f"{b.name}: {labels_path.name} holds {len(y)} labels, expected {expected[0]}: "
            f"is it the right file?; {repair_hint(b, labels_path)}"
        )
    if y.size and int(y.max()) >= len(b.class_names):
        raise UserError(
            f"{b.name}: {labels_path.name} has label {int(y.max())}, expected 0..{len(b.class_names) - 1}; "
            f"{repair_hint(b, labels_path)}"
        )
    _check_identity(b, labels_path, 0 if prefix == "train" else 1, y)
    return x.reshape(*x.shape, c), y


def _check_identity(b: BuiltIn, labels_path: Path, split: int, y: np.ndarray) -> None:
    """Refuse MNIST's files read as Fashion-MNIST (or the reverse): same names, same shapes."""
    if b.first_labels is None or len(y) < 10:
        return
    got = tuple(int(v) for v in y[:10])
    if got == b.first_labels[split]:
        return
    other = next(
        (o.name for o in BUILTINS.values() if o.first_labels and o.first_labels[split] == got), None
    )
    what = f"{other}'s labels" if other else "the labels of another dataset"
    raise UserError(
        f"{b.name}: {labels_path} holds {what}, not {b.name}'s; keep each dataset in its own "
        f"sub-folder ({b.name}/, {other or 'other'}/) of the data folder"
    )


def load_idx(
    b: BuiltIn, data_dir: Path | None, limit_train: int | None, limit_test: int | None
) -> Dataset:
    folder = resolve(b, data_dir)
    sources = [file_in(folder, f) for f in b.files]

    def decode(limit_train: int | None, limit_test: int | None) -> decoded.Arrays:
        return (
            *_idx_pair(b, folder, "train", b.n_train, limit_train),
            *_idx_pair(b, folder, "t10k", b.n_test, limit_test),
        )

    x_train, y_train, x_test, y_test = decoded.load(
        b.name, [p for p in sources if p is not None], decode, limit_train, limit_test
    )
    return Dataset(b.name, x_train, y_train, x_test, y_test, b.class_names, str(folder), False)


def load_cifar10(
    b: BuiltIn, data_dir: Path | None, limit_train: int | None, limit_test: int | None
) -> Dataset:
    folder = resolve(b, data_dir)
    train_paths = [folder / f for f in b.files if f.startswith("data_batch_")]
    test_path = folder / "test_batch.bin"

    def decode(limit_train: int | None, limit_test: int | None) -> decoded.Arrays:
        return (
            *cifar.read_batches(
                train_paths,
                limit=limit_train,
                dataset=b.name,
                repair=repair_hint(b, train_paths[0]),
            ),
            *cifar.read_batches(
                [test_path], limit=limit_test, dataset=b.name, repair=repair_hint(b, test_path)
            ),
        )

    x_train, y_train, x_test, y_test = decoded.load(
        b.name, [*train_paths, test_path], decode, limit_train, limit_test
    )
    names = cifar.read_class_names(folder / "batches.meta.txt", b.class_names)
    return Dataset(b.name, x_train, y_train, x_test, y_test, names, str(folder), False)


def digits_path() -> Path | None:
    """scikit-learn's bundled digits file, found without importing scikit-learn (slow)."""
    import importlib.util

    spec = importlib.util.find_spec("sklearn")
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / "datasets" / "data" / "digits.csv.gz"
    return path if path.is_file() else None


def _digits_arrays() -> tuple[np.ndarray, np.ndarray, str]:
    """The 1,797 digits (0..16 gray levels, 8x8), their labels and where they were read: from
    scikit-learn's bundled CSV as `sklearn.datasets.load_digits` reads it (the same values;
    tests/data checks), without importing scikit-learn, which costs a run about 1.4 s of its
    start."""
    import gzip

    path = digits_path()
    if path is not None:
        with gzip.open(path, "rt") as f:
            data = np.loadtxt(f, delimiter=",")
        return data[:, :-1].reshape(-1, 8, 8), data[:, -1].astype(np.int64), str(path)
    try:
        from sklearn.datasets import load_digits as sk_load_digits
    except ImportError as exc:
        raise UserError(
            "digits: needs scikit-learn; install it with `pip install scikit-learn`"
        ) from exc
    bunch = sk_load_digits()
    return bunch.images, bunch.target.astype(np.int64), "scikit-learn"


def load_digits(b: BuiltIn, limit_train: int | None, limit_test: int | None) -> Dataset:
    images, y, source = _digits_arrays()
    # 0..16 gray levels -> 0..255, so that every dataset is uint8 on one scale.
    x = np.rint(images * (255.0 / 16.0)).astype(np.uint8)[..., None]
    train_idx, test_idx = holdout_indices(y, DIGITS_TEST_FRACTION, DIGITS_SPLIT_SEED)
    train_idx = train_idx[:limit_train] if limit_train is not None else train_idx
    test_idx = test_idx[:limit_test] if limit_test is not None else test_idx
    return Dataset(
        b.name, x[train_idx], y[train_idx], x[test_idx], y[test_idx], b.class_names, source, False
    )


def load(
    name: str, data_dir: Path | None, limit_train: int | None, limit_test: int | None
) -> Dataset:
    b = BUILTINS[name]
    if name == "digits":
        return load_digits(b, limit_train, limit_test)
    if name == "cifar10":
        return load_cifar10(b, data_dir, limit_train, limit_test)
    return load_idx(b, data_dir, limit_train, limit_test)
