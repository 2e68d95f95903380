"""`dlbench faces capture|extract` as a user runs them."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import cv2
import pytest
import skimage.data
from tests.conftest import sigint_as_in_a_terminal

from dlbench.cli import main

DLBENCH = [sys.executable, "-m", "dlbench"]


def run_cli(capsys, command: str, *paths) -> tuple[int, str, str]:
    """Run `dlbench COMMAND` in this process; `paths` are appended after the split words."""
    with pytest.raises(SystemExit) as info:
        main([*command.split(), *map(str, paths)])
    out, err = capsys.readouterr()
    return info.value.code, out, err


def test_capture_without_a_camera_exits_2_with_one_line_quickly(tmp_path):
    start = time.monotonic()
    done = subprocess.run(
        [
            *DLBENCH,
            *["faces", "capture", "--person", "x", "--camera", "7", "--out"],
            tmp_path / "tmp",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    elapsed = time.monotonic() - start

    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: camera 7 could not be opened")
    assert "--camera 8" in lines[0]
    assert elapsed < 5, f"took {elapsed:.1f} s"
    assert not (tmp_path / "tmp").exists()


@pytest.mark.parametrize("name", ["../evil", ".hidden", "a/b", "", "x" * 65])
def test_unsafe_person_name_exits_2(capsys, tmp_path, name):
    with pytest.raises(SystemExit) as info:
        main(["faces", "capture", "--person", name, "--camera", "7", "--out", str(tmp_path)])
    err = capsys.readouterr().err

    assert info.value.code == 2
    assert err.startswith("error: person name") and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


def test_extract_prints_a_summary_line(capsys, tmp_path, astronaut_bgr):
    shots = tmp_path / "shots"
    shots.mkdir()
    cv2.imwrite(str(shots / "1.png"), astronaut_bgr)
    (shots / "2.txt").write_text("not an image")

    code, out, _ = run_cli(
        capsys, "faces extract --person alice --size 96 --from", shots, "--out", tmp_path / "ds"
    )

    assert code == 0
    first, second = out.strip().splitlines()
    assert first.startswith("saved 1 face to ")
    assert "skipped 1: unreadable 1" in first and "eye angle after alignment" in first
    assert second == "unreadable, skipped: 2.txt"
    assert cv2.imread(str(tmp_path / "ds" / "alice" / "0001.png"), 0).shape == (96, 96)


def test_extract_with_no_face_says_so(capsys, tmp_path):
    photo = tmp_path / "coffee.png"
    cv2.imwrite(str(photo), skimage.data.coffee())

    code, out, err = run_cli(
        capsys, "faces extract --person alice --from", photo, "--out", tmp_path / "ds"
    )

    assert code == 0
    assert out.startswith("saved 0 faces") and "no face 1" in out
    assert "warning: no face saved" in err


def test_missing_source_exits_2(capsys, tmp_path):
    code, _, err = run_cli(
        capsys, "faces extract --person alice --from", tmp_path / "nothing.avi", "--out", tmp_path
    )

    assert code == 2
    assert err.startswith("error: ") and "does not exist" in err


def test_faces_cli_module_imports_no_opencv():
    code = "import sys, dlbench.cli.faces; sys.exit('cv2' in sys.modules or 'numpy' in sys.modules)"

    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_ctrl_c_keeps_the_saved_faces_and_says_so(tmp_path, astronaut_bgr):
    video = tmp_path / "long.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 5, (512, 512))
    assert writer.isOpened()
    for _ in range(40):
        writer.write(astronaut_bgr)
    writer.release()
    folder = tmp_path / "ds" / "alice"
    process = subprocess.Popen(
        [
            *DLBENCH,
            *["faces", "extract", "--person", "alice", "--from"],
            video,
            "--out",
            folder.parent,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=sigint_as_in_a_terminal,
    )
    # Wait for a first complete file, so that the interrupt comes after at least one save.
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if folder.is_dir() and any(p.stat().st_size > 0 for p in folder.iterdir()):
            break
        time.sleep(0.02)
    time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=20)

    assert process.returncode == 130, err
    saved = sorted(folder.iterdir())
    assert 1 <= len(saved) < 40
    assert out.startswith(f"interrupted: saved {len(saved)} face")
