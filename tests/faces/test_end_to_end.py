"""Report A's face recogniser end to end: a two-person folder dataset, the face CNN, predict.

The dataset is built from photographs scikit-image ships (see face_dataset.py); the model is
the a-face-cnn preset (one sigmoid output, binary cross-entropy), trained briefly with the
CLI, then `dlbench predict` names the person in each held-out image.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys

import pytest
from face_dataset import build_two_person_dataset

pytest.importorskip("torch")


@pytest.mark.slow
def test_train_face_cnn_and_predict_people(tmp_path):
    ds = build_two_person_dataset(
        tmp_path / "faces", n_per_person=40, seed=3, n_test_per_person=10, size=64
    )
    db = tmp_path / "faces.sqlite"
    dataset = f"folder:{ds.root}?size=64&color=gray"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "dlbench",
            "run",
            "--model",
            "a-face-cnn",
            "--dataset",
            dataset,
            "--framework",
            "torch",
            "--device",
            "cpu",
            "--epochs",
            "3",
            "--batch-size",
            "8",
            "--threads",
            "1",
            "--db",
            str(db),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    conn = sqlite3.connect(db)
    run_id, test_acc, head = conn.execute(
        "SELECT id, test_acc, json_extract(options_json, '$.head') FROM runs"
    ).fetchone()
    conn.close()
    assert head == "binary-logits"  # one sigmoid unit trained with binary cross-entropy
    assert test_acc >= 0.9, test_acc

    images = sorted(ds.test.glob("*/*.png"))
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "dlbench",
            "predict",
            str(run_id),
            *map(str, images),
            "--db",
            str(db),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    predicted = {}
    for line in out.stdout.splitlines():
        path, sep, rest = line.rpartition(": ")
        if sep and path.endswith(".png"):
            predicted[path] = rest.split(" (")[0]
    assert len(predicted) == len(images)
    right = sum(predicted[str(p)] == p.parent.name for p in images)
    print(f"face CNN: test accuracy {test_acc:.1%}; predict named {right}/{len(images)} right")
    assert right / len(images) >= 0.9
