"""Shared inputs for the faces tests: skimage photographs and a video of a turning face."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np
import pytest
import skimage.data
from face_dataset import TwoPersonDataset, build_two_person_dataset

# The turns of the astronaut photograph in the test video, degrees counter-clockwise.
VIDEO_ANGLES_DEG = tuple(range(-30, 31, 5))


@pytest.fixture(scope="session")
def astronaut_bgr() -> np.ndarray:
    """skimage's astronaut, as OpenCV would read it from a file (BGR)."""
    return cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2BGR)


def turn(image: np.ndarray, angle_deg: float) -> np.ndarray:
    """`image` turned counter-clockwise about its centre, same size, edges mirrored."""
    h, w = image.shape[:2]
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), angle_deg, 1.0)
    return cv2.warpAffine(image, matrix, (w, h), borderMode=cv2.BORDER_REFLECT)


class TurningVideo(NamedTuple):
    path: Path
    angles_deg: tuple[int, ...]  # the turn of each frame, in order


@pytest.fixture(scope="session")
def turning_video(tmp_path_factory, astronaut_bgr) -> TurningVideo:
    """An MJPG .avi of the astronaut, one frame per angle of VIDEO_ANGLES_DEG."""
    path = tmp_path_factory.mktemp("video") / "turning.avi"
    h, w = astronaut_bgr.shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 5, (w, h))
    assert writer.isOpened(), "OpenCV could not open an MJPG writer"
    for angle in VIDEO_ANGLES_DEG:
        writer.write(turn(astronaut_bgr, angle))
    writer.release()
    return TurningVideo(path, VIDEO_ANGLES_DEG)


@pytest.fixture
def two_person_dataset(tmp_path) -> TwoPersonDataset:
    """A small two-person train/test folder dataset (see face_dataset.py)."""
    return build_two_person_dataset(tmp_path / "people", n_per_person=40, seed=0)
