"""Fixtures for the data tests: an isolated environment and real data on disk.

Every test runs with downloads off, an empty user cache in tmp, no $DLBENCH_DATA, so that
nothing depends on (or writes to) the machine's own dataset folders unless a test asks.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dlbench.data import locations as locate_mod


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(locate_mod.NO_DOWNLOAD_ENV, "1")
    monkeypatch.setenv(locate_mod.CACHE_ENV, str(tmp_path / "cache"))
    monkeypatch.delenv(locate_mod.DATA_ENV, raising=False)


@pytest.fixture
def no_system_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Hide /usr/share/datasets: a dataset must then come from the test's own folders."""
    system = tmp_path / "system"
    monkeypatch.setattr(locate_mod, "SYSTEM_DIRS", (system,))
    return system


@pytest.fixture(scope="session")
def digits_images() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's real 8x8 digits as uint8 0..255 (N, 8, 8) and their labels."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return np.rint(bunch.images * (255 / 16)).astype(np.uint8), bunch.target
