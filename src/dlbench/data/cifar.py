"""Read CIFAR-10's binary version: records of one label byte and 3072 pixel bytes.

The pixels of a record are the red plane, then green, then blue, each 32x32 row by row (CHW);
we hand them out as HWC. The pickled Python version is never read: unpickling runs code.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dlbench.errors import UserError

SIDE = 32
RECORD_BYTES = 1 + 3 * SIDE * SIDE
RECORDS_PER_FILE = 10000  # every batch file of the real dataset holds exactly this many


def read_batches(
    paths: list[Path],
    *,
    limit: int | None = None,
    records_per_file: int | None = None,
    num_classes: int = 10,
    dataset: str = "cifar10",
    repair: str = "",
) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, 32, 32, 3) uint8 and labels (N,) int64 from batch files, read in order.

    Each file must hold exactly `records_per_file` (default RECORDS_PER_FILE) records; only the
    first `limit` records in all are read.
    """
    records_per_file = records_per_file or RECORDS_PER_FILE
    want = None if limit is None else limit
    chunks: list[np.ndarray] = []
    got = 0
    for path in paths:
        if want is not None and got >= want:
            break
        expected = records_per_file * RECORD_BYTES
        size = path.stat().st_size
        if size != expected:
            state = "truncated" if size < expected else "too long"
            raise UserError(
                f"{dataset}: {path.name} is {state} (got {size} of {expected} bytes, "
                f"{records_per_file} records of {RECORD_BYTES}); {repair}"
            )
        n = records_per_file if want is None else min(records_per_file, want - got)
        with open(path, "rb") as f:
            raw = f.read(n * RECORD_BYTES)
        chunks.append(np.frombuffer(raw, dtype=np.uint8).reshape(n, RECORD_BYTES))
        got += n
    records = np.concatenate(chunks) if chunks else np.empty((0, RECORD_BYTES), np.uint8)
    labels = records[:, 0].astype(np.int64)
    if labels.size and labels.max() >= num_classes:
        raise UserError(
            f"{dataset}: label {int(labels.max())} found, expected 0..{num_classes - 1}: "
            f"is it CIFAR-100 or the wrong file?; {repair}"
        )
    images = records[:, 1:].reshape(-1, 3, SIDE, SIDE).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), labels


def read_class_names(meta: Path, default: tuple[str, ...]) -> tuple[str, ...]:
    """The names in `batches.meta.txt` (one a line), or `default` when it is absent or odd."""
    if not meta.is_file():
        return default
    names = tuple(
        line.strip() for line in meta.read_text(errors="replace").splitlines() if line.strip()
    )
    return names if len(names) == len(default) else default
