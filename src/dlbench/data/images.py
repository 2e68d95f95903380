"""Images from outside a dataset (`dlbench predict`'s files, an evaluation's folder) made like
the images a model was trained on: decoded as the folder datasets decode them, gray or RGB to
the model's channels, resized to its height and width."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dlbench.errors import UserError


def read_images(paths: list[Path]) -> list[np.ndarray]:
    """Decode image files as the folder datasets do (gray or RGB uint8, HWC)."""
    from dlbench.data.folder import decode

    out = []
    for p in paths:
        if not Path(p).is_file():
            raise UserError(f"image {p} does not exist")
        img = decode(Path(p))
        if img is None:
            raise UserError(f"{p} is not an image OpenCV can read; give PNG or JPEG files")
        out.append(img)
    return out


def fit_images(
    images: np.ndarray | list[np.ndarray], input_shape: tuple[int, int, int]
) -> np.ndarray:
    """uint8 HWC images -> one uint8 NHWC array at (C, H, W): gray or RGB, resized with
    INTER_AREA, as folder datasets load them."""
    from dlbench.data.folder import fit_image

    c, h, w = input_shape
    color = "gray" if c == 1 else "rgb"
    if isinstance(images, np.ndarray) and images.shape[1:] == (h, w, c):
        return images
    out = np.empty((len(images), h, w, c), np.uint8)
    for i, img in enumerate(images):
        img = img if img.ndim == 3 else img[..., None]
        out[i] = fit_image(img, (h, w), color)
    return out
