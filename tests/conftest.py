"""Shared fixtures: real data slices, and a CLI runner that runs `python -m dlbench`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

FASHION = Path("/usr/share/datasets/fashion-mnist")

# Tests never download: a dataset that is not on disk must fail with its message, at once.
os.environ["DLBENCH_NO_DOWNLOAD"] = "1"


def has_module(name: str) -> bool:
    from importlib.util import find_spec

    return find_spec(name) is not None


needs_fashion = pytest.mark.skipif(
    not FASHION.exists(), reason="Debian's dataset-fashion-mnist is not installed"
)
needs_torch = pytest.mark.skipif(not has_module("torch"), reason="torch is not installed")


@pytest.fixture
def cli(tmp_path):
    """Run the CLI in a subprocess, in tmp_path; returns CompletedProcess with text output."""

    def run(*args: str, timeout: float = 600, env: dict | None = None):
        full_env = {**os.environ, "COLUMNS": "250", **(env or {})}
        return subprocess.run(
            [sys.executable, "-m", "dlbench", *args],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=full_env,
            check=False,
        )

    return run


@pytest.fixture(scope="session")
def digits_data():
    """scikit-learn's digits as PreparedData: 100 validation images held out of the training set."""
    from dlbench.data import load_dataset, normalize
    from dlbench.frameworks.base import PreparedData

    ds = load_dataset("digits")
    x = normalize(ds.x_train, "scale")
    xt = normalize(ds.x_test, "scale")
    return PreparedData(
        x[100:],
        ds.y_train[100:],
        x[:100],
        ds.y_train[:100],
        xt,
        ds.y_test,
        ds.num_classes,
        ds.class_names,
    )


@pytest.fixture(scope="session")
def fashion_slice():
    """The first 3,000 Fashion-MNIST training and 1,000 test images, scaled."""
    if not FASHION.exists():
        pytest.skip("Debian's dataset-fashion-mnist is not installed")
    from dlbench.data import load_dataset, normalize
    from dlbench.frameworks.base import PreparedData

    ds = load_dataset("fashion-mnist", limit_train=3000, limit_test=1000)
    x = normalize(ds.x_train, "scale")
    empty = np.zeros((0, *x.shape[1:]), np.float32)
    return PreparedData(
        x,
        ds.y_train,
        empty,
        np.zeros(0, np.int64),
        normalize(ds.x_test, "scale"),
        ds.y_test,
        ds.num_classes,
        ds.class_names,
    )
