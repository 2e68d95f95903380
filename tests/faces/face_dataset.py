"""A two-person folder dataset from photographs that scikit-image ships, for offline tests.

skimage.data holds one frontal human face (`astronaut()`, Eileen Collins). The second
"person" is the cameraman of `camera()`: a real head, but in profile behind his camera, so
the Haar cascades do not find it and it is cut out by hand, around the head. The two classes
are therefore two different people, not one face altered, but they also differ in pose and
background; a model that separates them has learnt "which photograph", which is all that a
pipeline test needs.

Each image is a jittered grayscale crop (turn, zoom, shift, mirror, brightness, contrast,
noise), so no two files are equal; train and test draw from separate random streams.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import skimage.data

# (centre x, centre y, side) of the square cut around each head, in the source photograph.
ASTRONAUT_HEAD = (224, 118, 150)  # the face box Haar finds is (177, 66, 95, 95)
CAMERAMAN_HEAD = (215, 135, 150)


@dataclass(frozen=True)
class TwoPersonDataset:
    root: Path
    train: Path  # root/train/<person>/NNNN.png
    test: Path  # root/test/<person>/NNNN.png
    people: tuple[str, str]
    n_train_per_person: int
    n_test_per_person: int


def _sources() -> dict[str, tuple[np.ndarray, tuple[int, int, int]]]:
    astronaut = cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2GRAY)
    cameraman = skimage.data.camera()
    return {"astronaut": (astronaut, ASTRONAUT_HEAD), "cameraman": (cameraman, CAMERAMAN_HEAD)}


def jittered_crop(
    gray: np.ndarray, head: tuple[int, int, int], size: int, rng: np.random.Generator
) -> np.ndarray:
    """One size x size crop around `head` with random turn, zoom, shift and photometry."""
    cx, cy, side = head
    angle = rng.uniform(-10, 10)
    zoom = rng.uniform(0.9, 1.1)
    cx += rng.uniform(-0.06, 0.06) * side
    cy += rng.uniform(-0.06, 0.06) * side
    matrix = cv2.getRotationMatrix2D((cx, cy), angle, size / side * zoom)
    matrix[:, 2] += (size / 2 - cx, size / 2 - cy)
    crop = cv2.warpAffine(
        gray, matrix, (size, size), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REFLECT
    ).astype(np.float32)
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    crop = crop * rng.uniform(0.8, 1.2) + rng.uniform(-20, 20) + rng.normal(0, 4, crop.shape)
    return np.clip(crop, 0, 255).astype(np.uint8)


def build_two_person_dataset(
    out_dir: str | Path,
    n_per_person: int,
    seed: int,
    *,
    n_test_per_person: int | None = None,
    size: int = 64,
) -> TwoPersonDataset:
    """Write out_dir/{train,test}/{astronaut,cameraman}/NNNN.png (grayscale, size x size).

    `n_per_person` training images per person; `n_test_per_person` test images (default a
    quarter of that, at least 4: report A kept about 16 per person beside 200 for training).
    """
    if n_per_person < 1:
        raise ValueError("n_per_person must be at least 1")
    n_test = max(4, n_per_person // 4) if n_test_per_person is None else n_test_per_person
    root = Path(out_dir)
    sources = _sources()
    for split, n, stream in (("train", n_per_person, 0), ("test", n_test, 1)):
        for k, (person, (gray, head)) in enumerate(sources.items()):
            rng = np.random.default_rng([seed, stream, k])
            folder = root / split / person
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(1, n + 1):
                cv2.imwrite(str(folder / f"{i:04d}.png"), jittered_crop(gray, head, size, rng))
    return TwoPersonDataset(
        root, root / "train", root / "test", tuple(sources), n_per_person, n_test
    )
