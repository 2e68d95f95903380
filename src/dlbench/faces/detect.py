"""Face and eye detection with OpenCV's Haar cascades, retried on rotated frames.

Haar cascades only see upright faces (about +-15 degrees). When no face with two eyes is
found in the frame as it is, the frame is rotated by a few angles and searched again; what
is found is mapped back into the frame's own coordinates, so that the eyes, not the angle
that happened to work, drive the alignment.

Report A's minNeighbors of 3 lets the cascade take hair, coins or gravel for a face, and
turning the frame six more ways gives it six more chances. So a face must pass a second
test: aligned by its eyes (or framed from its box), it must look like an upright face to a
second, differently trained cascade. Faces found in turned frames always take this test;
upright ones unless `confirm_upright` is off.

`measure_eye_angle` checks an aligned crop the honest way: it looks for the eyes again
without being told where the alignment put them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path

import cv2
import numpy as np

from dlbench.errors import UserError
from dlbench.faces.align import LEFT_EYE_AT, RIGHT_EYE_AT, align_by_eyes

FACE_CASCADE = "haarcascade_frontalface_default.xml"
# The plain eye cascade first; the eyeglasses one finds eyes behind glasses the first misses.
EYE_CASCADES = ("haarcascade_eye.xml", "haarcascade_eye_tree_eyeglasses.xml")

# Where the eyes sit in a box from FACE_CASCADE, as fractions of its side (measured on
# frontal faces); used to place a face without detected eyes like an aligned one.
EYE_ROW_IN_BOX = 0.38
EYE_HALF_SPAN_IN_BOX = 0.235

# Eyes are searched in the top part of the face box only: below it, nostrils and mouth
# corners look like eyes to the cascade.
EYE_SEARCH_ROWS = 0.62
# Eye search runs on the face upscaled to at least this width: the eye cascade's 20-pixel
# window is too coarse on small faces, and the eye centres set the alignment angle.
EYE_SEARCH_WIDTH_PX = 160
# Two eye candidates make a pair only if the line through them is at most this steep.
MAX_EYE_TILT_DEG = 30.0
# A face is confirmed on a crop aligned by its eyes, of this size, by this cascade, with at
# least this many votes. Measured on skimage's astronaut at 0.5x and 1x, turned up to 45
# deg: the true face gathers 28-48 votes; the false faces that report A's settings find in
# skimage's coins, gravel, grass, clock, cat and cell photographs gather 0-7.
VERIFY_SIZE_PX = 128
VERIFY_CASCADE = "haarcascade_frontalface_alt2.xml"
VERIFY_MIN_VOTES = 10
# Eyes in an aligned crop are searched at this size at least (see EYE_SEARCH_WIDTH_PX).
MEASURE_SIZE_PX = 256


@dataclass(frozen=True)
class Face:
    """A face in frame coordinates; eyes are (image-left, image-right) of the upright face."""

    corners: np.ndarray  # (4, 2) float: top-left, top-right, bottom-right, bottom-left of the box
    side_px: float  # side of the (square) box
    eyes: tuple[np.ndarray, np.ndarray] | None  # eye centres, None when not both were found
    found_at_deg: float  # rotation applied to the frame when it was found; 0 if upright
    votes: int = 0  # overlapping raw detections merged into this one: the cascade's confidence

    def expected_eyes(self) -> tuple[np.ndarray, np.ndarray]:
        """Where the eyes of a typical frontal face in this box would be."""
        tl, tr, _, bl = self.corners
        across, down = tr - tl, bl - tl
        middle = tl + 0.5 * across + EYE_ROW_IN_BOX * down
        half = EYE_HALF_SPAN_IN_BOX * across
        return middle - half, middle + half


@cache
def load_cascade(name: str) -> cv2.CascadeClassifier:
    """One of the Haar cascades that OpenCV 4.x wheels ship under `cv2.data.haarcascades`."""
    folder = Path(getattr(getattr(cv2, "data", None), "haarcascades", "") or ".")
    path = folder / name
    cascade = cv2.CascadeClassifier(str(path)) if path.is_file() else None
    if cascade is None or cascade.empty():
        raise UserError(
            f"OpenCV's Haar cascade {name} was not found in {folder}; "
            "install opencv-python-headless>=4.10,<5 (5.0 dropped the cascades)"
        )
    return cascade


def rotate_frame(gray: np.ndarray, angle_deg: float) -> tuple[np.ndarray, np.ndarray]:
    """The frame rotated counter-clockwise on a canvas large enough to keep all of it,
    and the 2x3 matrix that maps frame points to rotated points."""
    h, w = gray.shape[:2]
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), angle_deg, 1.0)
    cos, sin = abs(matrix[0, 0]), abs(matrix[0, 1])
    new_w, new_h = int(math.ceil(h * sin + w * cos)), int(math.ceil(h * cos + w * sin))
    matrix[0, 2] += new_w / 2 - w / 2
    matrix[1, 2] += new_h / 2 - h / 2
    rotated = cv2.warpAffine(
        gray, matrix, (new_w, new_h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    return rotated, matrix


def _apply(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    return points @ matrix[:, :2].T + matrix[:, 2]


def detect_eye_candidates(gray: np.ndarray, min_px: float, max_px: float) -> np.ndarray:
    """Eye boxes (x, y, w, h) from every eye cascade, in `gray`'s coordinates."""
    found = []
    for name in EYE_CASCADES:
        boxes = load_cascade(name).detectMultiScale(
            gray,
            scaleFactor=1.05,
            minNeighbors=3,
            minSize=(int(min_px), int(min_px)),
            maxSize=(int(max_px), int(max_px)),
        )
        found.extend(np.asarray(boxes, dtype=np.float64).reshape(-1, 4))
    return np.array(found).reshape(-1, 4)


def pick_eye_pair(
    boxes: np.ndarray, width: float, expected: tuple[np.ndarray, np.ndarray] | None = None
) -> tuple[np.ndarray, np.ndarray] | None:
    """The two eye boxes that look most like a pair of eyes in a face `width` wide.

    With `expected` eye positions, the pair closest to them wins; otherwise the pair most
    symmetric about the face's middle, of like size and most nearly level.
    """
    if len(boxes) < 2:
        return None
    centres = boxes[:, :2] + boxes[:, 2:] / 2
    sizes = boxes[:, 2]
    max_slope = math.tan(math.radians(MAX_EYE_TILT_DEG))
    best, best_score = None, math.inf
    for i in range(len(boxes)):
        for j in range(len(boxes)):
            left, right = centres[i], centres[j]
            dx, dy = right[0] - left[0], right[1] - left[1]
            if not (0.2 * width <= dx <= 0.75 * width) or abs(dy) > max_slope * dx:
                continue
            if max(sizes[i], sizes[j]) > 2 * min(sizes[i], sizes[j]):
                continue
            if expected is not None:
                score = float(
                    np.linalg.norm(left - expected[0]) + np.linalg.norm(right - expected[1])
                )
            else:
                if not (left[0] < width / 2 < right[0]):
                    continue
                score = (
                    abs((left[0] + right[0]) / 2 - width / 2) / width
                    + abs(dy) / dx
                    + abs(math.log(sizes[i] / sizes[j]))
                )
            if score < best_score:
                best, best_score = (left, right), score
    return best


def find_eyes(
    gray: np.ndarray, box: tuple[int, int, int, int]
) -> tuple[np.ndarray, np.ndarray] | None:
    """The two eye centres inside an upright face box of `gray`, or None."""
    x, y, w, h = box
    top = gray[y : y + int(round(EYE_SEARCH_ROWS * h)), x : x + w]
    zoom = max(1.0, EYE_SEARCH_WIDTH_PX / w)
    if zoom > 1.0:
        top = cv2.resize(top, None, fx=zoom, fy=zoom, interpolation=cv2.INTER_CUBIC)
    width = w * zoom
    pair = pick_eye_pair(detect_eye_candidates(top, width / 10, width / 2.5), width)
    if pair is None:
        return None
    offset = np.array([x, y], dtype=np.float64)
    return pair[0] / zoom + offset, pair[1] / zoom + offset


class FaceDetector:
    """Faces with their eyes in a grayscale frame; Haar settings default to report A's."""

    def __init__(
        self,
        *,
        scale_factor: float = 1.1,
        min_neighbors: int = 3,
        min_face_px: int = 35,
        retry_angles_deg: tuple[float, ...] = (15, -15, 30, -30, 45, -45),
        confirm_upright: bool = True,
    ) -> None:
        self.scale_factor = scale_factor
        self.min_neighbors = min_neighbors
        self.min_face_px = min_face_px
        self.retry_angles_deg = tuple(retry_angles_deg)
        self.confirm_upright = confirm_upright
        self._faces = load_cascade(FACE_CASCADE)
        self._verify = load_cascade(VERIFY_CASCADE)
        for name in EYE_CASCADES:
            load_cascade(name)

    def _boxes_at(self, gray: np.ndarray, angle_deg: float):
        """(view, view-to-frame matrix, [(box, votes)]) for the frame rotated by angle_deg."""
        if angle_deg:
            view, to_view = rotate_frame(gray, angle_deg)
            to_frame = cv2.invertAffineTransform(to_view)
        else:
            view, to_frame = gray, np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
        boxes, votes = self._faces.detectMultiScale2(
            view,
            scaleFactor=self.scale_factor,
            minNeighbors=self.min_neighbors,
            minSize=(self.min_face_px, self.min_face_px),
        )
        return view, to_frame, _drop_nested(np.asarray(boxes).reshape(-1, 4), np.ravel(votes))

    @staticmethod
    def _face(view, to_frame, angle_deg: float, box: np.ndarray, votes: int) -> Face:
        x, y, w, h = (int(v) for v in box)
        corners = np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]], dtype=np.float64)
        eyes = find_eyes(view, (x, y, w, h))
        if eyes is not None:
            eyes = tuple(_apply(to_frame, np.array(eyes)))
        return Face(_apply(to_frame, corners), float(w), eyes, float(angle_deg), votes)

    def _looks_upright(self, gray: np.ndarray, left: np.ndarray, right: np.ndarray) -> bool:
        crop = align_by_eyes(gray, left, right, VERIFY_SIZE_PX)
        side = VERIFY_SIZE_PX // 2
        boxes, votes = self._verify.detectMultiScale2(
            crop, scaleFactor=1.1, minNeighbors=1, minSize=(side, side)
        )
        return len(boxes) > 0 and int(np.max(votes)) >= VERIFY_MIN_VOTES

    def confirm(self, gray: np.ndarray, face: Face) -> Face | None:
        """`face` if, aligned by its eyes, it is an upright face to VERIFY_CASCADE; the face
        with eyes None if only its box, framed as usual, passes (eyes that were a nostril
        and an eye); None if neither passes (no face at all)."""
        if face.eyes is not None and self._looks_upright(gray, *face.eyes):
            return face
        if self._looks_upright(gray, *face.expected_eyes()):
            return replace(face, eyes=None)
        return None

    def detect(self, gray: np.ndarray) -> list[Face]:
        """The faces of the frame: those with both eyes where any has them; [] if none.

        Upright first: faces with eyes there end the search, and faces without eyes beside
        them are dropped. Then the retry angles in order, nearest first: the first angle
        with a confirmed face with eyes ends the search (the eyes, not the angle, set the
        alignment, so a face seen 15 deg off is as good as one seen level). Upright faces
        without eyes are returned only when no angle gives a face with eyes. With
        `confirm_upright` off, upright faces are taken as the first cascade gives them, as
        report A did.
        """
        view, to_frame, boxes = self._boxes_at(gray, 0.0)
        upright = [self._face(view, to_frame, 0.0, box, n) for box, n in boxes]
        if self.confirm_upright:
            upright = [c for f in upright if (c := self.confirm(gray, f)) is not None]
        with_eyes = [f for f in upright if f.eyes is not None]
        if with_eyes:
            return with_eyes
        for angle in self.retry_angles_deg:
            view, to_frame, boxes = self._boxes_at(gray, angle)
            turned = [self._turned(gray, view, to_frame, angle, b) for b in boxes]
            turned = [f for f in turned if f is not None]
            if turned:
                return turned
        return upright

    def _turned(self, gray, view, to_frame, angle_deg, box_votes) -> Face | None:
        face = self._face(view, to_frame, angle_deg, *box_votes)
        if face.eyes is None:
            return None
        face = self.confirm(gray, face)
        return face if face is not None and face.eyes is not None else None


def _drop_nested(boxes: np.ndarray, votes: np.ndarray) -> list[tuple[np.ndarray, int]]:
    """Boxes, largest first, without those whose centre lies inside a larger kept box:
    two faces cannot sit one inside the other, so the smaller is a part taken for a face."""
    kept: list[tuple[np.ndarray, int]] = []
    for i in np.argsort(-boxes[:, 2], kind="stable") if len(boxes) else []:
        x, y, w, h = boxes[i]
        cx, cy = x + w / 2, y + h / 2
        if not any(kx <= cx <= kx + kw and ky <= cy <= ky + kh for (kx, ky, kw, kh), _ in kept):
            kept.append((boxes[i], int(votes[i])))
    return kept


def measure_eye_angle(
    crop: np.ndarray,
    left_at: tuple[float, float] = LEFT_EYE_AT,
    right_at: tuple[float, float] = RIGHT_EYE_AT,
) -> float | None:
    """The angle in degrees of the line between the eyes found anew in an aligned crop
    (positive: the right eye lower), or None when the two eyes are not found near where
    alignment should have put them."""
    size = crop.shape[1]
    zoom = max(1.0, MEASURE_SIZE_PX / size)
    width = size * zoom
    span = (right_at[0] - left_at[0]) * width
    # Search only the band of rows around the eyes: faster, and no nostrils or mouth.
    eye_row = (left_at[1] + right_at[1]) / 2 * width
    top = max(0, int(eye_row - 0.6 * span))
    bottom = int(eye_row + 0.6 * span)
    view = (
        crop
        if zoom == 1.0
        else cv2.resize(crop, None, fx=zoom, fy=zoom, interpolation=cv2.INTER_CUBIC)
    )
    view = view[top:bottom]
    expected = (
        np.array([left_at[0] * width, left_at[1] * width - top]),
        np.array([right_at[0] * width, right_at[1] * width - top]),
    )
    boxes = detect_eye_candidates(view, span / 4, span)
    # Keep candidates whose centre is within a third of the eye span of an expected eye.
    centres = boxes[:, :2] + boxes[:, 2:] / 2
    near = [
        min(np.linalg.norm(c - expected[0]), np.linalg.norm(c - expected[1])) < span / 3
        for c in centres
    ]
    pair = pick_eye_pair(boxes[np.array(near, dtype=bool)], width, expected)
    if pair is None:
        return None
    dx, dy = pair[1] - pair[0]
    return math.degrees(math.atan2(dy, dx))
