"""Frame sources: folders with bad files, videos, arrays, and cameras that are not there."""

from __future__ import annotations

import time

import cv2
import numpy as np
import pytest
import skimage.data

from dlbench.errors import UserError
from dlbench.faces import (
    ArraySource,
    CameraSource,
    FolderSource,
    Skip,
    check_person,
    collect_faces,
    open_source,
)
from dlbench.faces import sources as sources_module


@pytest.fixture
def mixed_folder(tmp_path, astronaut_bgr):
    """An astronaut, a coffee cup, a text file, an empty .png, a sub-folder, a hidden file."""
    folder = tmp_path / "shots"
    folder.mkdir()
    cv2.imwrite(str(folder / "b_astronaut.png"), astronaut_bgr)
    cv2.imwrite(
        str(folder / "a_coffee.jpg"), cv2.cvtColor(skimage.data.coffee(), cv2.COLOR_RGB2BGR)
    )
    (folder / "c_notes.txt").write_text("not an image")
    (folder / "d_empty.png").write_bytes(b"")
    (folder / "sub").mkdir()
    (folder / ".DS_Store").write_bytes(b"\0\1")
    return folder


def test_folder_source_reads_images_and_flags_bad_files(mixed_folder):
    frames = list(FolderSource(mixed_folder))

    assert [f.name for f in frames] == [
        "a_coffee.jpg",
        "b_astronaut.png",
        "c_notes.txt",
        "d_empty.png",
    ]
    assert [f.image is None for f in frames] == [False, False, True, True]
    assert frames[1].image.shape == (512, 512, 3)


def test_folder_extract_counts_and_names_unreadable_files(mixed_folder, tmp_path):
    summary = collect_faces(mixed_folder, tmp_path / "out", "alice")

    assert summary.frames_read == 4
    assert summary.faces_saved == 1
    assert summary.faces[0].frame == "b_astronaut.png"
    assert summary.skipped == {Skip.NO_FACE: 1, Skip.UNREADABLE: 2}
    assert summary.unreadable == ["c_notes.txt", "d_empty.png"]


def test_single_image_file_is_a_source(mixed_folder):
    source = open_source(mixed_folder / "b_astronaut.png")

    assert [f.name for f in source] == ["b_astronaut.png"]


def test_video_source_reads_every_frame(turning_video):
    source = open_source(turning_video.path)
    frames = list(source)
    source.close()

    assert source.length == len(turning_video.angles_deg)
    assert len(frames) == len(turning_video.angles_deg)
    assert frames[0].name == "frame 1" and frames[0].image.shape == (512, 512, 3)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p / "missing", "does not exist"),
        (lambda p: (p / "empty").mkdir() or p / "empty", "has no files"),
        (lambda p: (p / "clip.avi").write_text("no video") and p / "clip.avi", "could not be read"),
    ],
    ids=["missing", "empty-folder", "not-a-video"],
)
def test_bad_paths_are_one_line_user_errors(tmp_path, make, message):
    with pytest.raises(UserError, match=message) as info:
        open_source(make(tmp_path))
    assert "\n" not in str(info.value)


def test_array_source_takes_rgb_bgr_and_stacks(astronaut_bgr):
    rgb = astronaut_bgr[..., ::-1]

    from_rgb = next(iter(ArraySource([rgb], order="rgb"))).image
    stacked = list(open_source(np.stack([astronaut_bgr, astronaut_bgr])))

    assert np.array_equal(from_rgb, astronaut_bgr)
    assert len(stacked) == 2
    with pytest.raises(UserError, match="stack"):
        open_source(astronaut_bgr)


def test_absent_camera_is_a_clear_error_naming_index_and_fix(monkeypatch):
    class Absent:
        def __init__(self, index):
            pass

        def isOpened(self):
            return False

    monkeypatch.setattr(sources_module.cv2, "VideoCapture", Absent)

    with pytest.raises(UserError) as info:
        CameraSource(3)

    message = str(info.value)
    assert message.startswith("camera 3 could not be opened")
    assert "--camera 4" in message and "dlbench faces extract --from" in message


def test_hanging_camera_times_out(monkeypatch):
    def hang(index):
        time.sleep(30)

    monkeypatch.setattr(sources_module.cv2, "VideoCapture", hang)
    start = time.monotonic()

    with pytest.raises(UserError, match="did not answer within 0.3 s"):
        CameraSource(0, timeout_s=0.3)

    assert time.monotonic() - start < 2


@pytest.mark.parametrize("name", ["alice", "Bob Smith", "x-1_2.3", "José", "a" * 64])
def test_safe_person_names_pass(name):
    assert check_person(name) == name


@pytest.mark.parametrize(
    "name", ["", ".hidden", "..", "../x", "a/b", "a\\b", "a:b", "a\x00b", "   ", "a" * 65]
)
def test_unsafe_person_names_are_rejected(name):
    with pytest.raises(UserError, match="person name") as info:
        check_person(name)
    assert "\n" not in str(info.value)
