"""Datasets as numpy arrays: uint8 images (N, H, W, C) and int64 labels, plus normalisation.

Names a run spec may use:

    fashion-mnist, mnist     IDX files, gzipped or plain
    cifar10                  the binary version (never the pickled one)
    digits                   scikit-learn's 8x8 digits, offline
    folder:PATH[?size=..&color=..&test=..]   one sub-folder per class (see folder.py)
    synthetic:CxHxW[:N[:K]]      random labelled data, for timing only

Built-in files are looked for in an explicit `data_dir`, `$DLBENCH_DATA`, the user cache, the
system's dataset folders, and finally downloaded into the user cache, checked against pinned
SHA-256 hashes (`DLBENCH_NO_DOWNLOAD=1` turns downloads off). See locations.py.

This package imports no deep-learning framework: every framework adapter consumes its arrays.
"""

from __future__ import annotations

import difflib
from pathlib import Path

from dlbench.data import folder, synthetic
from dlbench.data.catalog import ALIASES, BUILTINS
from dlbench.data.dataset import Dataset, DatasetInfo, check_limit
from dlbench.data.locations import not_found_message, search
from dlbench.data.prepared import PreparedData, prepare
from dlbench.data.transforms import NORMALIZE_MODES, normalize, split_validation
from dlbench.errors import UserError

__all__ = [
    "NORMALIZE_MODES",
    "PreparedData",
    "prepare",
    "Dataset",
    "DatasetInfo",
    "dataset_info",
    "list_datasets",
    "load_dataset",
    "locate",
    "normalize",
    "split_validation",
]


def list_datasets() -> list[str]:
    """The built-in names, then the two patterns that name your own or generated data."""
    return [*BUILTINS, "folder:PATH", synthetic.PATTERN]


def _builtin_name(name: str) -> str:
    """The canonical built-in name for `name`, or a UserError that suggests one."""
    key = name.strip().lower().replace("_", "-")
    key = ALIASES.get(key, ALIASES.get(key.replace("-", "_"), key))
    if key in BUILTINS:
        return key
    close = difflib.get_close_matches(key, [*BUILTINS, *ALIASES], n=1)
    hint = f"did you mean {ALIASES.get(close[0], close[0])}? " if close else ""
    raise UserError(f"unknown dataset {name!r}; {hint}use one of {', '.join(list_datasets())}")


def _kind(name: str) -> str:
    lowered = name.strip().lower()
    if lowered.startswith(folder.PREFIX):
        return "folder"
    if lowered.startswith(synthetic.PREFIX):
        return "synthetic"
    return "builtin"


def dataset_info(name: str, data_dir: Path | None = None) -> DatasetInfo:
    """Shape and classes without loading: built-ins know theirs; a folder is scanned and its
    first image read; a synthetic spec is parsed. `data_dir` is accepted for symmetry."""
    kind = _kind(name)
    if kind == "folder":
        return folder.info(name.strip())
    if kind == "synthetic":
        spec = synthetic.parse(name.strip())
        shape = (spec.channels, spec.height, spec.width)
        return DatasetInfo(name.strip(), shape, len(spec.class_names), spec.class_names, True)
    b = BUILTINS[_builtin_name(name)]
    return DatasetInfo(b.name, b.input_shape, len(b.class_names), b.class_names, False)


def load_dataset(
    name: str,
    data_dir: Path | None = None,
    *,
    limit_train: int | None = None,
    limit_test: int | None = None,
) -> Dataset:
    """Load a dataset into memory. `limit_train`/`limit_test` keep the first n samples of each
    set (deterministic: the same n gives the same samples on every run)."""
    limit_train = check_limit("limit_train", limit_train)
    limit_test = check_limit("limit_test", limit_test)
    kind = _kind(name)
    if kind == "folder":
        return folder.load(name.strip(), limit_train, limit_test)
    if kind == "synthetic":
        spec = synthetic.parse(name.strip())
        x_train, y_train, x_test, y_test = synthetic.generate(spec, limit_train, limit_test)
        return Dataset(
            name.strip(), x_train, y_train, x_test, y_test, spec.class_names, "generated", True
        )
    from dlbench.data import builtin  # the readers and the downloader, only when needed

    return builtin.load(_builtin_name(name), data_dir, limit_train, limit_test)


def locate(name: str, data_dir: Path | None = None) -> tuple[Path | None, str]:
    """Where a dataset is (or None) and one line saying where, or what to put where."""
    kind = _kind(name)
    if kind == "synthetic":
        synthetic.parse(name.strip())
        return None, "generated in memory: random pixels for timing, never for accuracy"
    if kind == "folder":
        spec = folder.parse(name.strip())
        if not spec.path.is_dir():
            return None, (
                f"folder {spec.path} does not exist; create it with one sub-folder of images per "
                f"class ({spec.path}/<class>/*.png)"
            )
        classes = [d.name for d in spec.path.iterdir() if d.is_dir() and not d.name.startswith(".")]
        layout = (
            "train/ and test/"
            if {"train", "test"} <= set(classes)
            else f"{len(classes)} class sub-folders"
        )
        return spec.path, f"folder {spec.path} ({layout})"
    b = BUILTINS[_builtin_name(name)]
    if b.name == "digits":
        from dlbench.data.builtin import digits_path

        path = digits_path()
        if path is None:
            return None, "needs scikit-learn: pip install scikit-learn"
        return path, f"bundled with scikit-learn ({path})"
    found = search(b, data_dir)
    if found.folder is not None:
        return found.folder, f"found in {found.folder} ({found.origin})"
    return None, not_found_message(b, found)
