"""Alignment by the eyes: one similarity transform puts both eyes on fixed points of a square.

Rotation, scale, crop and resize are one `warpAffine`, so each output pixel is interpolated
once.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

# Where the eyes land, as fractions of the output side (x, y); image-left eye first.
LEFT_EYE_AT = (0.35, 0.4)
RIGHT_EYE_AT = (0.65, 0.4)
# Below this scale, shrink with area averaging first: warpAffine alone would alias.
MIN_DIRECT_SCALE = 0.5


def eye_transform(
    left_eye: np.ndarray,
    right_eye: np.ndarray,
    size: int,
    left_at: tuple[float, float] = LEFT_EYE_AT,
    right_at: tuple[float, float] = RIGHT_EYE_AT,
) -> np.ndarray:
    """The 2x3 similarity matrix that sends the eyes to `left_at` and `right_at` of a square."""
    src = np.asarray(right_eye, np.float64) - np.asarray(left_eye, np.float64)
    dst = (np.array(right_at) - np.array(left_at)) * size
    scale = float(np.hypot(*dst) / max(np.hypot(*src), 1e-9))
    angle = math.atan2(src[1], src[0]) - math.atan2(dst[1], dst[0])
    cos, sin = scale * math.cos(angle), scale * math.sin(angle)
    linear = np.array([[cos, sin], [-sin, cos]])
    shift = np.array(left_at) * size - linear @ np.asarray(left_eye, np.float64)
    return np.hstack([linear, shift[:, None]])


def warp_square(gray: np.ndarray, matrix: np.ndarray, size: int) -> np.ndarray:
    """`gray` through `matrix` into a size x size image; edges are extended, not black."""
    scale = float(np.hypot(matrix[0, 0], matrix[0, 1]))
    if scale < MIN_DIRECT_SCALE:
        # Cut out the source region first so that shrinking a large frame stays cheap.
        inverse = cv2.invertAffineTransform(matrix)
        square = np.array([[0, 0], [size, 0], [size, size], [0, size]], dtype=np.float64)
        region = square @ inverse[:, :2].T + inverse[:, 2]
        h, w = gray.shape[:2]
        x0, y0 = (max(0, int(v) - 2) for v in region.min(axis=0))
        x1, y1 = (int(v) + 3 for v in region.max(axis=0))
        x1, y1 = min(w, x1), min(h, y1)
        if x1 > x0 and y1 > y0:
            shrink = 2 * scale
            piece = gray[y0:y1, x0:x1]
            small = cv2.resize(piece, None, fx=shrink, fy=shrink, interpolation=cv2.INTER_AREA)
            fx = small.shape[1] / piece.shape[1]
            fy = small.shape[0] / piece.shape[0]
            # small = S * (frame - offset); so matrix @ frame == matrix' @ small
            to_small = np.array([[fx, 0.0, -fx * x0], [0.0, fy, -fy * y0]])
            matrix = matrix @ np.vstack([cv2.invertAffineTransform(to_small), [0, 0, 1]])
            gray = small
    return cv2.warpAffine(
        gray, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )


def align_by_eyes(
    gray: np.ndarray,
    left_eye: np.ndarray,
    right_eye: np.ndarray,
    size: int,
    left_at: tuple[float, float] = LEFT_EYE_AT,
    right_at: tuple[float, float] = RIGHT_EYE_AT,
) -> np.ndarray:
    """A size x size crop of `gray` with the eyes on `left_at` and `right_at`."""
    return warp_square(gray, eye_transform(left_eye, right_eye, size, left_at, right_at), size)
