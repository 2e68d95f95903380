"""The face pipeline on skimage photographs: alignment, skips, numbering, Ctrl-C."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
import skimage.data

from dlbench.errors import UserError
from dlbench.faces import (
    ArraySource,
    Face,
    FaceConfig,
    Skip,
    collect_faces,
    measure_eye_angle,
    process_frame,
    to_gray,
)
from dlbench.faces.detect import FaceDetector


def _eye_line_deg(eyes) -> float:
    (x1, y1), (x2, y2) = eyes
    return math.degrees(math.atan2(y2 - y1, x2 - x1))


def test_turning_video_gives_one_level_face_per_frame(turning_video, tmp_path, record_property):
    """Every frame of the astronaut turned -30..+30 deg gives exactly one face aligned by
    its eyes, and the eyes are level in the saved crop within 3 deg.

    The angle is measured by re-detection: each saved PNG is read back and its eyes are
    found again with the Haar eye cascades (`measure_eye_angle`, which is not told where
    the alignment put them). As a second, independent check against the known turn of each
    frame, the eye line found in the frame plus the frame's turn must be the same angle in
    every frame (the astronaut's own head tilt), within 3 deg.
    """
    summary = collect_faces(turning_video.path, tmp_path, "astronaut")

    assert summary.frames_read == len(turning_video.angles_deg)
    assert summary.faces_saved == len(turning_video.angles_deg)
    assert summary.frames_skipped == 0
    rows = []
    for turn_deg, face in zip(turning_video.angles_deg, summary.faces, strict=True):
        assert face.method == "eyes"
        crop = cv2.imread(str(face.path), cv2.IMREAD_GRAYSCALE)
        assert crop.shape == (128, 128)
        after = measure_eye_angle(crop)
        assert after == face.eye_angle_deg  # the summary measured the same crop
        head_tilt = _eye_line_deg(face.eyes_px) + turn_deg
        rows.append((turn_deg, face.found_at_deg, after, head_tilt))
    print("\nturn  found-at  eye angle after alignment  eye line + turn")
    for turn_deg, found_at, after, head_tilt in rows:
        shown = "not found" if after is None else f"{after:+.2f}"
        print(f"{turn_deg:+4d}  {found_at:+8.0f}  {shown:>25}  {head_tilt:+14.2f}")
    record_property(
        "eye_angle_after_alignment_deg",
        {t: None if a is None else round(a, 2) for t, _, a, _ in rows},
    )

    assert all(after is not None and abs(after) <= 3.0 for _, _, after, _ in rows)
    tilts = np.array([tilt for *_, tilt in rows])
    assert np.all(np.abs(tilts - np.median(tilts)) <= 3.0)


@pytest.mark.parametrize("name", ["coffee", "chelsea"])
def test_photograph_without_a_face_gives_none(name, tmp_path):
    summary = collect_faces(
        ArraySource([getattr(skimage.data, name)()], order="rgb"), tmp_path, "nobody"
    )

    assert summary.frames_read == 1
    assert summary.faces_saved == 0
    assert summary.skipped == {Skip.NO_FACE: 1}
    assert summary.skipped_text() == "no face 1"
    assert list((tmp_path / "nobody").iterdir()) == []


def _two_faces(astronaut_bgr: np.ndarray) -> np.ndarray:
    """The astronaut twice side by side: at 0.6 scale on the left, 0.45 on the right."""
    left = cv2.resize(astronaut_bgr, None, fx=0.6, fy=0.6, interpolation=cv2.INTER_AREA)
    small = cv2.resize(astronaut_bgr, None, fx=0.45, fy=0.45, interpolation=cv2.INTER_AREA)
    right = np.full_like(left, 128)
    right[: small.shape[0], : small.shape[1]] = small
    return np.hstack([left, right])


def test_several_faces_skipped_or_largest_kept(astronaut_bgr, tmp_path):
    frame = _two_faces(astronaut_bgr)

    skipped = collect_faces([frame], tmp_path, "a", FaceConfig(several="skip"))
    kept = collect_faces([frame], tmp_path, "b", FaceConfig(several="largest"))

    assert skipped.faces_saved == 0
    assert skipped.skipped == {Skip.SEVERAL_FACES: 1}
    assert kept.faces_saved == 1
    assert kept.faces[0].eyes_px[0][0] < frame.shape[1] / 2  # the larger, left face


class _EyelessDetector:
    """A detector that finds the astronaut's face box but never its eyes."""

    def __init__(self) -> None:
        self.real = FaceDetector(retry_angles_deg=())

    def detect(self, gray):
        faces = self.real.detect(gray)
        return [Face(f.corners, f.side_px, None, f.found_at_deg, f.votes) for f in faces]


def test_face_without_eyes_is_centred_or_skipped(astronaut_bgr):
    detector = _EyelessDetector()

    crop, face, reason = process_frame(astronaut_bgr, detector, FaceConfig(no_eyes="centre"))
    aligned, _, _ = process_frame(astronaut_bgr, detector.real, FaceConfig())
    none, _, skip_reason = process_frame(astronaut_bgr, detector, FaceConfig(no_eyes="skip"))

    assert reason is None and face.eyes is None
    assert crop.shape == (128, 128)
    # A centred crop is framed like an aligned one, only not turned by the eyes.
    assert np.corrcoef(crop.ravel(), aligned.ravel())[0, 1] > 0.8
    assert none is None and skip_reason == Skip.NO_EYES


def test_numbering_continues_after_existing_files(astronaut_bgr, tmp_path):
    folder = tmp_path / "alice"
    folder.mkdir()
    (folder / "0007.png").write_bytes(b"")
    (folder / "12.jpg").write_bytes(b"")
    (folder / "notes.txt").write_text("not numbered")

    summary = collect_faces([astronaut_bgr, astronaut_bgr], tmp_path, "alice", FaceConfig(size=64))

    assert [p.name for p in summary.saved_paths] == ["0013.png", "0014.png"]
    assert cv2.imread(str(summary.saved_paths[0]), cv2.IMREAD_UNCHANGED).shape == (64, 64)


def test_count_stops_early(astronaut_bgr, tmp_path):
    summary = collect_faces([astronaut_bgr] * 3, tmp_path, "alice", count=2)

    assert summary.frames_read == 2
    assert summary.faces_saved == 2


def test_ctrl_c_stops_and_keeps_what_was_saved(astronaut_bgr, tmp_path):
    def frames():
        yield astronaut_bgr
        yield astronaut_bgr
        raise KeyboardInterrupt

    summary = collect_faces(frames(), tmp_path, "alice")

    assert summary.interrupted
    assert summary.faces_saved == 2
    assert sorted(p.name for p in (tmp_path / "alice").iterdir()) == ["0001.png", "0002.png"]


def test_progress_callback_sees_every_frame(astronaut_bgr, tmp_path):
    seen = []
    collect_faces(
        [astronaut_bgr, np.zeros((100, 100), np.uint8)],
        tmp_path,
        "alice",
        on_frame=lambda s: seen.append((s.frames_read, s.faces_saved, s.frames_skipped)),
    )

    assert seen == [(1, 1, 0), (2, 1, 1)]


def test_bad_settings_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="--size"):
        FaceConfig(size=3)
    with pytest.raises(UserError, match="'skip' or 'largest'"):
        FaceConfig(several="all")
    with pytest.raises(UserError, match="--count"):
        collect_faces([], tmp_path, "alice", count=0)


def test_to_gray_takes_common_layouts():
    gray = np.arange(12, dtype=np.uint8).reshape(3, 4)

    assert to_gray(gray).dtype == np.uint8
    assert np.array_equal(to_gray(gray[..., None]), gray)
    assert np.array_equal(to_gray(np.dstack([gray] * 3)), gray)
    assert np.array_equal(to_gray(np.dstack([gray] * 4)), gray)
    assert to_gray(gray / 255.0).max() == 11
    with pytest.raises(UserError, match="shape"):
        to_gray(np.zeros((2, 2, 2, 2)))
