"""Alignment geometry on synthetic eyes, and the eye-angle instrument the video test trusts."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from dlbench.faces import FaceConfig, align_by_eyes, measure_eye_angle, process_frame
from dlbench.faces.detect import FaceDetector


def _dark_centroid(image: np.ndarray) -> np.ndarray:
    ys, xs = np.nonzero(image < 128)
    weights = 255.0 - image[ys, xs]
    return np.array([np.average(xs, weights=weights), np.average(ys, weights=weights)])


@pytest.mark.parametrize(
    ("eyes", "radius"),
    [(((300, 420), (340, 400)), 3), (((200, 300), (1300, 700)), 60)],
    ids=["direct-warp", "shrink-first"],  # scale above and below MIN_DIRECT_SCALE
)
def test_eyes_land_on_their_points(eyes, radius):
    frame = np.full((1200, 1600), 255, np.uint8)
    for x, y in eyes:
        cv2.circle(frame, (x, y), radius, 0, -1, lineType=cv2.LINE_AA)

    crop = align_by_eyes(frame, np.array(eyes[0]), np.array(eyes[1]), 128)

    half = crop.shape[1] // 2
    left, right = _dark_centroid(crop[:, :half]), _dark_centroid(crop[:, half:]) + (half, 0)
    assert np.allclose(left, (0.35 * 128, 0.4 * 128), atol=1.0)
    assert np.allclose(right, (0.65 * 128, 0.4 * 128), atol=1.0)


@pytest.fixture(scope="module")
def aligned_astronaut(astronaut_bgr) -> np.ndarray:
    crop, _, _ = process_frame(astronaut_bgr, FaceDetector(), FaceConfig())
    return crop


@pytest.mark.parametrize("turn_deg", [-8, -4, 4, 8])
def test_eye_angle_measurement_sees_a_known_tilt(aligned_astronaut, turn_deg):
    """Re-detection is not blind: tilt an aligned crop and it reports the tilt."""
    crop = aligned_astronaut
    matrix = cv2.getRotationMatrix2D((64, 0.4 * 128), turn_deg, 1.0)
    tilted = cv2.warpAffine(crop, matrix, (128, 128), borderMode=cv2.BORDER_REPLICATE)

    measured = measure_eye_angle(tilted)

    # Turning the picture counter-clockwise lifts the right eye: a negative angle.
    assert measured is not None
    assert abs(measured + turn_deg) <= 1.5


@pytest.mark.parametrize("size", [32, 64, 256])
def test_any_output_size_is_level(astronaut_bgr, size):
    crop, _, _ = process_frame(astronaut_bgr, FaceDetector(), FaceConfig(size=size))

    assert crop.shape == (size, size)
    assert abs(measure_eye_angle(crop)) <= 3.0
