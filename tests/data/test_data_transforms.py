"""normalize() and split_validation(): exact equality with keras where keras is the reference."""

from __future__ import annotations

import numpy as np
import pytest

from dlbench.data import NORMALIZE_MODES, load_dataset, normalize, split_validation
from dlbench.errors import UserError


@pytest.fixture(scope="module")
def gray_images() -> np.ndarray:
    """Real gray images: Fashion-MNIST when installed, else scikit-learn's digits."""
    try:
        return load_dataset("fashion-mnist", limit_train=500, limit_test=0).x_train
    except UserError:
        return load_dataset("digits").x_train


@pytest.fixture(scope="module")
def rgb_images() -> np.ndarray:
    import cv2
    import skimage.data

    photos = [skimage.data.astronaut(), skimage.data.coffee(), skimage.data.chelsea()]
    return np.stack([cv2.resize(p, (20, 16), interpolation=cv2.INTER_AREA) for p in photos])


def test_modes() -> None:
    assert NORMALIZE_MODES == ("scale", "l2-rows", "standardize", "none")
    with pytest.raises(UserError, match="unknown normalize mode 'max'; use one of scale, l2-rows"):
        normalize(np.zeros((1, 2, 2, 1), np.uint8), "max")


def test_scale_and_none(gray_images: np.ndarray) -> None:
    scaled = normalize(gray_images, "scale")
    assert scaled.dtype == np.float32 and scaled.shape == gray_images.shape
    np.testing.assert_array_equal(scaled, gray_images.astype(np.float32) / np.float32(255))
    assert scaled.max() <= 1.0
    raw = normalize(gray_images, "none")
    assert raw.dtype == np.float32 and not np.shares_memory(raw, gray_images)
    np.testing.assert_array_equal(raw, gray_images)


@pytest.mark.slow  # imports Keras and its backend in this process: 5-10 s
def test_l2_rows_equals_keras_normalize(gray_images: np.ndarray, rgb_images: np.ndarray) -> None:
    keras = pytest.importorskip("keras", reason="keras is the reference for l2-rows")
    ours = normalize(gray_images, "l2-rows")
    assert ours.dtype == np.float32 and ours.shape == gray_images.shape
    # What report A did: keras.utils.normalize on (N, 28, 28) arrays, axis 1.
    theirs = keras.utils.normalize(gray_images[..., 0].astype(np.float32), axis=1)
    np.testing.assert_array_equal(ours[..., 0], theirs)
    np.testing.assert_array_equal(
        normalize(rgb_images, "l2-rows"),
        keras.utils.normalize(rgb_images.astype(np.float32), axis=1),
    )


def test_l2_rows_keeps_zero_columns_zero(gray_images: np.ndarray) -> None:
    x = gray_images[:4].copy()
    x[0] = 0
    out = normalize(x, "l2-rows")
    assert np.isfinite(out).all() and (out[0] == 0).all()
    # Every nonzero column has unit L2 norm down the H axis.
    norms = np.linalg.norm(out[1:], axis=1)
    nonzero = np.linalg.norm(x[1:].astype(np.float32), axis=1) > 0
    np.testing.assert_allclose(norms[nonzero], 1.0, rtol=1e-5)


def test_standardize_uses_the_reference(rgb_images: np.ndarray) -> None:
    out = normalize(rgb_images, "standardize", reference=rgb_images)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.mean(axis=(0, 1, 2)), 0.0, atol=1e-5)
    np.testing.assert_allclose(out.std(axis=(0, 1, 2)), 1.0, rtol=1e-4)
    # The test set is scaled with the training set's statistics, not its own.
    x = rgb_images[:1]
    ref = rgb_images.reshape(-1, 3).astype(np.float64) / 255
    expected = (x / 255.0 - ref.mean(axis=0)) / ref.std(axis=0)
    np.testing.assert_allclose(
        normalize(x, "standardize", reference=rgb_images), expected, rtol=1e-4, atol=1e-5
    )
    with pytest.raises(ValueError, match="needs reference="):
        normalize(x, "standardize")


def test_standardize_constant_channel_is_zero_not_nan() -> None:
    x = np.full((3, 4, 4, 1), 7, np.uint8)
    out = normalize(x, "standardize", reference=x)
    assert np.isfinite(out).all() and (out == 0).all()


def test_split_validation_is_a_fixed_permutation() -> None:
    x = np.arange(100, dtype=np.uint8).reshape(100, 1, 1, 1).repeat(2, axis=1)
    y = np.arange(100, dtype=np.int64)
    xt, yt, xv, yv = split_validation(x, y, 0.2, seed=3)
    assert (len(yt), len(yv)) == (80, 20)
    assert xt.shape == (80, 2, 1, 1) and xv.shape == (20, 2, 1, 1)
    assert sorted([*yt, *yv]) == list(range(100))
    np.testing.assert_array_equal(xv[:, 0, 0, 0], yv)
    assert (np.diff(yt) > 0).all()  # original order kept within each part
    again = split_validation(x, y, 0.2, seed=3)
    np.testing.assert_array_equal(again[3], yv)
    assert not np.array_equal(split_validation(x, y, 0.2, seed=4)[3], yv)
    expected_val = np.sort(np.random.default_rng(3).permutation(100)[:20])
    np.testing.assert_array_equal(yv, expected_val)


def test_split_validation_edges() -> None:
    x = np.zeros((10, 5, 6, 3), np.uint8)
    y = np.zeros(10, np.int64)
    xt, yt, xv, yv = split_validation(x, y, 0.0, seed=0)
    assert xt.shape == (10, 5, 6, 3) and xv.shape == (0, 5, 6, 3) and yv.shape == (0,)
    assert len(split_validation(x, y, 0.01, seed=0)[3]) == 1
    for bad in (-0.1, 1.0):
        with pytest.raises(UserError, match=r"validation fraction must be in \[0, 1\)"):
            split_validation(x, y, bad, seed=0)
