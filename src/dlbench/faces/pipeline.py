"""The face-collection pipeline of report A: frames in, aligned grayscale face crops out.

frame -> grayscale -> faces (Haar, retried on rotated frames) -> eyes -> one similarity
transform putting the eyes on fixed points -> size x size crop -> DIR/PERSON/NNNN.png.
Frames that give no usable face are counted by reason; Ctrl-C ends the run with what was
saved kept and the summary marked interrupted.
"""

from __future__ import annotations

import re
import statistics
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from dlbench.errors import UserError
from dlbench.faces.align import LEFT_EYE_AT, RIGHT_EYE_AT, align_by_eyes
from dlbench.faces.detect import Face, FaceDetector, measure_eye_angle
from dlbench.faces.sources import FrameSource, open_source


class Skip:
    """Why a frame gave no saved face; the keys of `FaceSummary.skipped`."""

    NO_FACE = "no face"
    SEVERAL_FACES = "several faces"
    NO_EYES = "no eyes"
    UNREADABLE = "unreadable"


MAX_PERSON_CHARS = 64
_PERSON_PUNCTUATION = frozenset("_-. ")
# Files already in a person's folder that take part in the numbering.
_NUMBERED = re.compile(r"^(\d+)\.(png|jpe?g|bmp|tiff?|webp)$", re.IGNORECASE)


@dataclass(frozen=True)
class FaceConfig:
    """How faces are found, framed and kept. The Haar settings are report A's."""

    size: int = 128  # side of the square output crop, pixels
    scale_factor: float = 1.1  # Haar image-pyramid step
    min_neighbors: int = 3  # Haar detections that must overlap to count as a face
    min_face_px: int = 35  # smallest face side searched for, pixels
    several: Literal["skip", "largest"] = "skip"  # a frame with more than one face
    no_eyes: Literal["centre", "skip"] = "centre"  # a face whose eyes were not found
    retry_angles_deg: tuple[float, ...] = (15, -15, 30, -30, 45, -45)  # () turns retries off
    confirm: bool = True  # check upright faces with a second cascade (report A did not)
    left_eye_at: tuple[float, float] = LEFT_EYE_AT  # output fractions (x, y), image-left eye
    right_eye_at: tuple[float, float] = RIGHT_EYE_AT
    measure_angle: bool = True  # re-detect the eyes in each saved crop and record their angle

    def __post_init__(self) -> None:
        if not 16 <= self.size <= 4096:
            raise UserError(
                f"face size {self.size} is out of range; use --size between 16 and 4096"
            )
        if not self.scale_factor > 1.0:
            raise UserError(f"scale factor {self.scale_factor} must be above 1; report A used 1.1")
        if self.min_neighbors < 0:
            raise UserError(f"min neighbours {self.min_neighbors} is negative; report A used 3")
        if self.min_face_px < 8:
            raise UserError(f"minimum face size {self.min_face_px} px is below 8; report A used 35")
        if self.several not in ("skip", "largest"):
            raise UserError(f"several={self.several!r} is unknown; use 'skip' or 'largest'")
        if self.no_eyes not in ("centre", "skip"):
            raise UserError(f"no_eyes={self.no_eyes!r} is unknown; use 'centre' or 'skip'")
        if not self.left_eye_at[0] < self.right_eye_at[0]:
            raise UserError("the left eye must land left of the right eye; swap the eye positions")


@dataclass(frozen=True)
class SavedFace:
    path: Path
    frame: str  # the frame's name: a file name or "frame 12"
    method: Literal["eyes", "centre"]  # aligned by the eyes, or a centred crop of the face box
    found_at_deg: float  # rotation of the frame under which the face was found; 0 if upright
    eyes_px: tuple[tuple[float, float], tuple[float, float]] | None  # eyes found in the frame
    eye_angle_deg: float | None  # the eyes' angle re-measured in the saved crop; None if not found


@dataclass
class FaceSummary:
    """What a run did; updated after every frame, so it can drive a progress display."""

    source: str
    out_dir: Path  # DIR/PERSON
    frames_read: int = 0
    skipped: Counter = field(default_factory=Counter)  # Skip reason -> frames
    unreadable: list[str] = field(default_factory=list)  # names of frames that were not images
    faces: list[SavedFace] = field(default_factory=list)
    interrupted: bool = False  # stopped by Ctrl-C; everything in `faces` is on disk

    @property
    def faces_saved(self) -> int:
        return len(self.faces)

    @property
    def saved_paths(self) -> list[Path]:
        return [f.path for f in self.faces]

    @property
    def eye_angles_deg(self) -> list[float | None]:
        return [f.eye_angle_deg for f in self.faces]

    @property
    def frames_skipped(self) -> int:
        return sum(self.skipped.values())

    def skipped_text(self) -> str:
        """'no face 3, several faces 1', or 'none'."""
        parts = [f"{reason} {n}" for reason, n in self.skipped.items() if n]
        return ", ".join(parts) or "none"

    def angle_text(self) -> str:
        """The re-measured eye angles in a few words."""
        angles = [abs(a) for a in self.eye_angles_deg if a is not None]
        if not angles:
            return "eye angle not measured"
        return (
            f"eye angle after alignment: median {statistics.median(angles):.1f} deg, "
            f"max {max(angles):.1f} deg ({len(angles)} of {self.faces_saved} measured)"
        )


def check_person(name: str) -> str:
    """`name` if it is a safe folder name for one person, else a UserError."""
    problem = None
    if not name:
        problem = "is empty"
    elif len(name) > MAX_PERSON_CHARS:
        problem = f"is longer than {MAX_PERSON_CHARS} characters"
    elif name.startswith("."):
        problem = "starts with '.'"
    elif not name.strip():
        problem = "is only spaces"
    elif any(not (ch.isalnum() or ch in _PERSON_PUNCTUATION) for ch in name):
        bad = next(ch for ch in name if not (ch.isalnum() or ch in _PERSON_PUNCTUATION))
        problem = f"contains {bad!r}"
    if problem:
        raise UserError(
            f"person name {name!r} {problem}; use letters, digits, '_', '-', '.' and spaces "
            f"(at most {MAX_PERSON_CHARS}, not starting with '.'), e.g. --person alice"
        )
    return name


def next_number(folder: Path) -> int:
    """The number after the highest NNNN.<image> already in `folder` (1 in an empty one)."""
    numbers = [int(m.group(1)) for p in folder.iterdir() if (m := _NUMBERED.match(p.name))]
    return max(numbers, default=0) + 1


def to_gray(image: np.ndarray) -> np.ndarray:
    """uint8 grayscale from grayscale, BGR or BGRA of any common dtype."""
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[..., 0]
    if image.ndim == 3 and image.shape[2] in (3, 4):
        if image.dtype != np.uint8:
            image = _to_uint8(image)
        code = cv2.COLOR_BGR2GRAY if image.shape[2] == 3 else cv2.COLOR_BGRA2GRAY
        return cv2.cvtColor(np.ascontiguousarray(image), code)
    if image.ndim != 2:
        raise UserError(
            f"an image of shape {image.shape} is not grayscale or colour; pass (H, W) or (H, W, 3)"
        )
    return np.ascontiguousarray(_to_uint8(image) if image.dtype != np.uint8 else image)


def _to_uint8(image: np.ndarray) -> np.ndarray:
    if np.issubdtype(image.dtype, np.floating):
        peak = 1.0 if image.size and float(np.nanmax(image)) <= 1.0 else 255.0
        return np.clip(np.nan_to_num(image) * (255.0 / peak), 0, 255).astype(np.uint8)
    if image.dtype == np.uint16:
        return (image >> 8).astype(np.uint8)
    return np.clip(image, 0, 255).astype(np.uint8)


def _centred_crop(gray: np.ndarray, face: Face, config: FaceConfig) -> np.ndarray:
    """The face box framed as an aligned face would be, upright in the box's own frame."""
    left, right = face.expected_eyes()
    return align_by_eyes(gray, left, right, config.size, config.left_eye_at, config.right_eye_at)


def _save(crop: np.ndarray, folder: Path, number: int) -> tuple[Path, int]:
    """Write crop as the first free NNNN.png from `number`; never overwrites."""
    ok, png = cv2.imencode(".png", crop)
    if not ok:  # pragma: no cover - encoding a uint8 array does not fail
        raise RuntimeError("OpenCV could not encode a PNG")
    while True:
        path = folder / f"{number:04d}.png"
        try:
            with open(path, "xb") as f:
                try:
                    f.write(png.tobytes())
                except BaseException:
                    # Ctrl-C or a full disk mid-write: leave no half-written image behind.
                    f.close()
                    path.unlink(missing_ok=True)
                    raise
        except FileExistsError:
            number += 1
            continue
        except OSError as exc:
            raise UserError(
                f"could not write {path}: {exc.strerror or exc}; choose another --out"
            ) from exc
        return path, number + 1


def collect_faces(
    source: FrameSource | int | str | Path | Iterable[np.ndarray],
    out_dir: str | Path,
    person: str,
    config: FaceConfig | None = None,
    *,
    count: int | None = None,
    on_frame: Callable[[FaceSummary], None] | None = None,
) -> FaceSummary:
    """Save aligned faces from `source` into `out_dir/person/NNNN.png`, numbering on after
    the files already there; stop after `count` saved faces or at the end of the source.

    `source` is a camera index, a video, a folder or image file, arrays (BGR, as OpenCV
    reads them), or a FrameSource. `on_frame` is called with the summary after each frame.
    """
    config = config or FaceConfig()
    check_person(person)
    if count is not None and count < 1:
        raise UserError(f"count {count} is below 1; ask for at least one face with --count")
    detector = FaceDetector(
        scale_factor=config.scale_factor,
        min_neighbors=config.min_neighbors,
        min_face_px=config.min_face_px,
        retry_angles_deg=config.retry_angles_deg,
        confirm_upright=config.confirm,
    )
    frames = open_source(source)
    folder = Path(out_dir) / person
    try:
        folder.mkdir(parents=True, exist_ok=True)
        number = next_number(folder)
    except OSError as exc:
        frames.close()
        raise UserError(
            f"could not create {folder}: {exc.strerror or exc}; choose another --out"
        ) from exc
    summary = FaceSummary(source=frames.description, out_dir=folder)
    try:
        for frame in frames:
            if frame.image is None:
                crop, face, reason = None, None, Skip.UNREADABLE
            else:
                crop, face, reason = process_frame(frame.image, detector, config)
            if reason:
                summary.frames_read += 1
                summary.skipped[reason] += 1
                if reason == Skip.UNREADABLE:
                    summary.unreadable.append(frame.name)
            else:
                angle = (
                    measure_eye_angle(crop, config.left_eye_at, config.right_eye_at)
                    if config.measure_angle
                    else None
                )
                eyes = (
                    None if face.eyes is None else tuple((float(x), float(y)) for x, y in face.eyes)
                )
                method = "eyes" if eyes else "centre"
                path, number = _save(crop, folder, number)
                # Counted right after the write, so that Ctrl-C leaves the summary and the
                # folder in agreement.
                summary.frames_read += 1
                summary.faces.append(
                    SavedFace(path, frame.name, method, face.found_at_deg, eyes, angle)
                )
            if on_frame is not None:
                on_frame(summary)
            if count is not None and summary.faces_saved >= count:
                break
    except KeyboardInterrupt:
        summary.interrupted = True
    finally:
        frames.close()
    return summary


def process_frame(
    image: np.ndarray, detector: FaceDetector, config: FaceConfig
) -> tuple[np.ndarray | None, Face | None, str | None]:
    """(crop, face, None) for a frame that gives one face, or (None, face?, skip reason)."""
    gray = to_gray(image)
    faces = detector.detect(gray)
    if not faces:
        return None, None, Skip.NO_FACE
    if len(faces) > 1:
        if config.several == "skip":
            return None, None, Skip.SEVERAL_FACES
        faces = [max(faces, key=lambda f: f.side_px)]
    face = faces[0]
    if face.eyes is None:
        if config.no_eyes == "skip":
            return None, face, Skip.NO_EYES
        return _centred_crop(gray, face, config), face, None
    crop = align_by_eyes(
        gray, face.eyes[0], face.eyes[1], config.size, config.left_eye_at, config.right_eye_at
    )
    return crop, face, None


__all__ = [
    "FaceConfig",
    "FaceSummary",
    "SavedFace",
    "Skip",
    "check_person",
    "collect_faces",
    "next_number",
    "process_frame",
    "to_gray",
]
