"""Frame sources: a camera, a video file, image files or arrays, behind one iterator.

Every source yields `Frame`s and has `close()`; the pipeline never asks which kind it has.
A frame whose file could not be decoded is yielded with `image=None`, so that the pipeline
counts and names it instead of stopping.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from dlbench.errors import UserError

# Suffixes read as still images; any other file given to `open_source` is read as a video.
IMAGE_SUFFIXES = frozenset(
    {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm", ".pbm", ".jp2"}
)
# A camera that gives no frame for this long after opening is treated as absent.
CAMERA_TIMEOUT_S = 5.0
# A camera that fails this many reads in a row has gone away (unplugged, taken by another app).
CAMERA_MAX_FAILED_READS = 10


@dataclass(frozen=True)
class Frame:
    """One input image: uint8, grayscale (H, W) or BGR (H, W, 3); None when undecodable."""

    image: np.ndarray | None
    name: str  # the file name, or "frame 12" for cameras, videos and arrays


class FrameSource(Protocol):
    """What the pipeline reads from: iterate for frames, then close."""

    description: str  # for messages: "camera 0", "video clip.avi", "folder shots/"
    length: int | None  # number of frames when known in advance (for a progress bar)

    def __iter__(self) -> Iterator[Frame]: ...

    def close(self) -> None: ...


class _Closing:
    """Context-manager support shared by the sources."""

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _quiet_opencv():
    """Silence OpenCV's own log (it prints WARN lines to stderr when a device is absent)."""
    level = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    return level


def _restore_opencv_log(level) -> None:
    cv2.utils.logging.setLogLevel(level)


class CameraSource(_Closing):
    """Frames from a camera by index, until closed or the camera stops answering.

    Opening happens here, in a worker thread with a timeout: some drivers block for a long
    time on a device that is absent or busy, and a user waiting on a silent terminal is worse
    than a clear error.
    """

    length = None

    def __init__(self, index: int, *, timeout_s: float = CAMERA_TIMEOUT_S) -> None:
        self.index = index
        self.description = f"camera {index}"
        fix = (
            f"try --camera {index + 1}, or use `dlbench faces extract --from VIDEO_OR_FOLDER`"
            if index >= 0
            else "use a camera index of 0 or more"
        )
        result: dict[str, object] = {}

        def open_and_read() -> None:
            level = _quiet_opencv()
            try:
                cap = cv2.VideoCapture(index)
                result["cap"] = cap
                if cap.isOpened():
                    ok, frame = cap.read()
                    result["first"] = frame if ok else None
            except Exception as exc:  # OpenCV raises cv2.error for some backends
                result["error"] = exc
            finally:
                _restore_opencv_log(level)

        worker = threading.Thread(target=open_and_read, name=f"open-camera-{index}", daemon=True)
        worker.start()
        worker.join(timeout_s)
        if worker.is_alive():
            raise UserError(
                f"camera {index} did not answer within {timeout_s:g} s: it may be in use by "
                f"another program; close that program, or {fix}"
            )
        cap = result.get("cap")
        if cap is None or not cap.isOpened():
            raise UserError(
                f"camera {index} could not be opened: no camera at that index or no "
                f"permission; {fix}"
            )
        if result.get("first") is None:
            cap.release()
            raise UserError(
                f"camera {index} opened but gave no frame: it may be in use by another "
                f"program or need permission; {fix}"
            )
        self._cap = cap
        self._first: np.ndarray | None = result["first"]  # type: ignore[assignment]

    def __iter__(self) -> Iterator[Frame]:
        n = 0
        if self._first is not None:
            n += 1
            yield Frame(self._first, f"frame {n}")
            self._first = None
        failed = 0
        while self._cap.isOpened():
            ok, frame = self._cap.read()
            if not ok:
                failed += 1
                if failed >= CAMERA_MAX_FAILED_READS:
                    return
                continue
            failed = 0
            n += 1
            yield Frame(frame, f"frame {n}")

    def close(self) -> None:
        self._cap.release()


class VideoSource(_Closing):
    """Frames of a video file, in order."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.description = f"video {self.path}"
        if not self.path.is_file():
            raise UserError(f"video {self.path} does not exist; check the path given to --from")
        level = _quiet_opencv()
        try:
            self._cap = cv2.VideoCapture(str(self.path))
        finally:
            _restore_opencv_log(level)
        if not self._cap.isOpened():
            raise UserError(
                f"{self.path} could not be read as a video or an image; convert it "
                f"(e.g. `ffmpeg -i {self.path.name} frames/%04d.png`) and pass the folder"
            )
        frames = int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT))
        self.length = frames if frames > 0 else None

    def __iter__(self) -> Iterator[Frame]:
        n = 0
        while True:
            ok, frame = self._cap.read()
            if not ok:
                return
            n += 1
            yield Frame(frame, f"frame {n}")

    def close(self) -> None:
        self._cap.release()


def read_image(path: Path) -> np.ndarray | None:
    """Decode an image file as BGR uint8, or None when it is not an image OpenCV can read."""
    try:
        data = np.fromfile(path, dtype=np.uint8)  # imdecode, unlike imread, takes any path
    except OSError:
        return None
    if data.size == 0:
        return None
    level = _quiet_opencv()
    try:
        return cv2.imdecode(data, cv2.IMREAD_COLOR)
    except cv2.error:
        return None
    finally:
        _restore_opencv_log(level)


class ImageFilesSource(_Closing):
    """Image files in the given order; files that cannot be decoded come as `image=None`."""

    def __init__(self, paths: Iterable[str | Path], description: str = "images") -> None:
        self.paths = [Path(p) for p in paths]
        self.description = description
        self.length = len(self.paths)

    def __iter__(self) -> Iterator[Frame]:
        for path in self.paths:
            yield Frame(read_image(path), path.name)


class FolderSource(ImageFilesSource):
    """Every visible file of a folder (not its sub-folders), sorted by name."""

    def __init__(self, folder: str | Path) -> None:
        folder = Path(folder)
        if not folder.is_dir():
            raise UserError(f"{folder} is not a folder; check the path given to --from")
        files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
        if not files:
            raise UserError(f"folder {folder} has no files; put images in it or pass a video")
        super().__init__(files, description=f"folder {folder}")


class ArraySource(_Closing):
    """Frames from numpy arrays: uint8 grayscale (H, W) or colour (H, W, 3) in `order`."""

    def __init__(self, arrays: Iterable[np.ndarray], *, order: str = "bgr") -> None:
        if order not in ("bgr", "rgb"):
            raise UserError(f"colour order {order!r} is unknown; use 'bgr' or 'rgb'")
        self._arrays = arrays
        self._rgb = order == "rgb"
        self.description = "arrays"
        self.length = len(arrays) if hasattr(arrays, "__len__") else None  # type: ignore[arg-type]

    def __iter__(self) -> Iterator[Frame]:
        for n, array in enumerate(self._arrays, start=1):
            image = np.asarray(array)
            if self._rgb and image.ndim == 3 and image.shape[2] >= 3:
                image = image[..., 2::-1]
            yield Frame(image, f"frame {n}")


def open_source(
    source: FrameSource | int | str | Path | Iterable[np.ndarray],
    *,
    camera_timeout_s: float = CAMERA_TIMEOUT_S,
) -> FrameSource:
    """A frame source from a camera index, a folder, an image or video file, or arrays."""
    if isinstance(source, bool):
        raise UserError(f"{source!r} is not a frame source; pass a camera index or a path")
    if isinstance(source, int):
        return CameraSource(source, timeout_s=camera_timeout_s)
    if isinstance(source, (str, Path)):
        path = Path(source)
        if path.is_dir():
            return FolderSource(path)
        if not path.exists():
            raise UserError(f"{path} does not exist; pass an existing video file or folder")
        if path.suffix.lower() in IMAGE_SUFFIXES:
            return ImageFilesSource([path], description=f"image {path}")
        return VideoSource(path)
    if isinstance(source, np.ndarray) and source.ndim != 4:
        raise UserError(
            f"an array of shape {source.shape} is not a frame source; pass a list of images "
            "or a stack of shape (N, H, W, C)"
        )
    if hasattr(source, "close") and hasattr(source, "description"):
        return source  # type: ignore[return-value]
    return ArraySource(source)  # type: ignore[arg-type]
