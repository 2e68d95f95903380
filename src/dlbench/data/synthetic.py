"""`synthetic:CxHxW[:N[:K]]`: random labelled images for timing a model at any input shape.

N training samples (default 10000), K classes (default 10; 2 for a one-sigmoid model).

Random pixels carry no signal: accuracy on them means nothing, so the dataset says
`synthetic=True` and reports must never show its accuracy. Samples are made in blocks, each
from its own seed, so the first n samples are the same whether 100 or 100000 are asked for.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from dlbench.errors import UserError

PREFIX = "synthetic:"
PATTERN = "synthetic:CxHxW[:N[:K]]"
DEFAULT_N = 10000
NUM_CLASSES = 10
SEED = 1234
BLOCK = 256  # samples per independently seeded block
MAX_BYTES = 8 << 30  # refuse to fill more than 8 GiB of host memory with noise

_SPEC = re.compile(r"^(\d+)x(\d+)x(\d+)(?::(\d+)(?::(\d+))?)?$")


@dataclass(frozen=True)
class SyntheticSpec:
    channels: int
    height: int
    width: int
    n_train: int
    num_classes: int = NUM_CLASSES

    @property
    def n_test(self) -> int:
        return max(self.n_train // 5, 1)

    @property
    def class_names(self) -> tuple[str, ...]:
        return tuple(f"class {i}" for i in range(self.num_classes))


def parse(name: str) -> SyntheticSpec:
    m = _SPEC.match(name[len(PREFIX) :].strip().lower())
    if not m:
        raise UserError(
            f"{name!r} is not {PATTERN}; write e.g. synthetic:1x28x28 or synthetic:3x32x32:50000"
        )
    c, h, w = (int(m.group(i)) for i in (1, 2, 3))
    n = int(m.group(4)) if m.group(4) else DEFAULT_N
    k = int(m.group(5)) if m.group(5) else NUM_CLASSES
    if c not in (1, 3):
        raise UserError(
            f"{name}: {c} channels; images have 1 (gray) or 3 (RGB): use 1xHxW or 3xHxW"
        )
    if h < 1 or w < 1 or n < 1:
        raise UserError(f"{name}: height, width and N must be at least 1")
    if k < 2:
        raise UserError(f"{name}: {k} class(es); a classifier needs at least 2")
    return SyntheticSpec(c, h, w, n, k)


def _make(spec: SyntheticSpec, split: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    shape = (spec.height, spec.width, spec.channels)
    need = n * int(np.prod(shape))
    if need > MAX_BYTES:
        raise UserError(
            f"synthetic data of {need / 2**30:.1f} GiB is more than the {MAX_BYTES >> 30} GiB "
            "allowed; use a smaller N or limit_train/limit_test"
        )
    x = np.empty((n, *shape), dtype=np.uint8)
    y = np.empty(n, dtype=np.int64)
    for start in range(0, n, BLOCK):
        stop = min(start + BLOCK, n)
        rng = np.random.default_rng([SEED, split, start // BLOCK])
        x[start:stop] = rng.integers(0, 256, size=(BLOCK, *shape), dtype=np.uint8)[: stop - start]
        y[start:stop] = rng.integers(0, spec.num_classes, size=BLOCK)[: stop - start]
    return x, y


def generate(
    spec: SyntheticSpec, limit_train: int | None, limit_test: int | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    n_train = spec.n_train if limit_train is None else min(spec.n_train, limit_train)
    n_test = spec.n_test if limit_test is None else min(spec.n_test, limit_test)
    return (*_make(spec, 0, n_train), *_make(spec, 1, n_test))
