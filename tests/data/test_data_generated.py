"""The datasets that need no files: scikit-learn's digits and synthetic:CxHxW[:N[:K]]."""

from __future__ import annotations

import numpy as np
import pytest

from dlbench.data import dataset_info, load_dataset, locate
from dlbench.errors import UserError


def test_digits(digits_images) -> None:
    d = load_dataset("digits")
    assert d.x_train.shape == (1438, 8, 8, 1) and d.x_test.shape == (359, 8, 8, 1)
    assert d.x_train.dtype == np.uint8 and d.y_train.dtype == np.int64
    assert d.class_names == tuple("0123456789") and d.input_shape == (1, 8, 8)
    assert d.x_train.max() == 255 and d.x_train.min() == 0
    # A stratified 80/20 split of all 1797 samples: class counts add up to scikit-learn's.
    _, labels = digits_images
    assert (np.bincount(d.y_train) + np.bincount(d.y_test)).tolist() == np.bincount(labels).tolist()
    assert np.bincount(d.y_test).min() >= 34
    again = load_dataset("digits", limit_train=np.int64(100), limit_test=10)
    np.testing.assert_array_equal(again.x_train, d.x_train[:100])
    np.testing.assert_array_equal(again.y_test, d.y_test[:10])
    info = dataset_info("digits")
    assert (info.input_shape, info.num_classes) == ((1, 8, 8), 10)
    path, why = locate("digits")
    assert path is not None and path.name == "digits.csv.gz" and "scikit-learn" in why


def test_digits_are_scikit_learns_without_importing_it() -> None:
    """digits is read from scikit-learn's bundled file, not through `sklearn.datasets` (1.4 s
    of every run's start): every image and label as `load_digits` gives them."""
    from sklearn.datasets import load_digits

    from dlbench.data.builtin import _digits_arrays
    from tests.conftest import run_script

    images, labels, source = _digits_arrays()
    bunch = load_digits()
    np.testing.assert_array_equal(images, bunch.images)
    np.testing.assert_array_equal(labels, bunch.target)
    assert source.endswith("digits.csv.gz") and labels.dtype == np.int64
    proc = run_script(
        "import sys; from dlbench.data import load_dataset; load_dataset('digits'); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'sklearn'))"
    )
    assert proc.returncode == 0 and proc.stdout.strip() == "[]", proc.stdout + proc.stderr


def test_synthetic_shapes_and_flags() -> None:
    d = load_dataset("synthetic:3x16x12:500")
    assert d.x_train.shape == (500, 16, 12, 3) and d.x_test.shape == (100, 16, 12, 3)
    assert d.x_train.dtype == np.uint8 and d.y_train.dtype == np.int64
    assert d.synthetic is True and d.source == "generated"
    assert d.class_names == tuple(f"class {i}" for i in range(10))
    assert set(np.unique(d.y_train)) <= set(range(10))
    assert d.input_shape == (3, 16, 12)
    info = dataset_info("synthetic:3x16x12:500")
    assert info.synthetic is True and info.input_shape == (3, 16, 12)


def test_synthetic_default_size_and_fixed_seed() -> None:
    d = load_dataset("synthetic:1x4x4")
    assert (len(d.y_train), len(d.y_test)) == (10000, 2000)
    # Limits give the same first samples as the full set (generation is blockwise seeded).
    small = load_dataset("synthetic:1x4x4", limit_train=300, limit_test=7)
    np.testing.assert_array_equal(small.x_train, d.x_train[:300])
    np.testing.assert_array_equal(small.y_train, d.y_train[:300])
    np.testing.assert_array_equal(small.x_test, d.x_test[:7])
    assert not np.array_equal(d.x_train[:7], d.x_test[:7])


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("synthetic:3x32", "is not synthetic:CxHxW"),
        ("synthetic:3x32x32:lots", "is not synthetic:CxHxW"),
        ("synthetic:2x32x32", "2 channels; images have 1 .gray. or 3 .RGB."),
        ("synthetic:1x0x4", "height, width and N must be at least 1"),
    ],
)
def test_synthetic_bad_specs(name: str, message: str) -> None:
    with pytest.raises(UserError, match=message):
        load_dataset(name)
