"""Helpers shared by the data tests (a plain module: conftest.py is not importable by name)."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import cv2
import numpy as np

from tests.conftest import FASHION, FASHION_FILES


def link_fashion(dest: Path, *, skip: tuple[str, ...] = ()) -> Path:
    """A folder of symlinks to the real Fashion-MNIST files, but for `skip`."""
    dest.mkdir(parents=True, exist_ok=True)
    for f in FASHION_FILES:
        if f not in skip:
            (dest / f).symlink_to(FASHION / f)
    return dest


def gunzip_to(src: Path, dest: Path) -> Path:
    with gzip.open(src, "rb") as i, open(dest, "wb") as o:
        shutil.copyfileobj(i, o)
    return dest


def write_image(path: Path, img: np.ndarray) -> Path:
    """Write an RGB (H, W, 3) or gray (H, W) / (H, W, 1) uint8 image with OpenCV."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if img.ndim == 3 and img.shape[2] == 3:
        img = cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
    assert cv2.imwrite(str(path), img), path
    return path
