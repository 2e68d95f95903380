"""Databases for the report tests: a synthetic one written row by row (no training, fixed
values, for golden files and HTML checks) and a real one trained once per test session (the
fixtures are in tests/conftest.py: synthetic_db, synthetic_rows, trained_db)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

XSS = "<script>alert(1)</script>"
XSS_IMG = "<img src=x onerror=alert(2)>"
FINISHED_AT = "2024-01-02T03:04:05+00:00"
FINGERPRINT = {
    "cpu": "Test CPU 3000",
    "cpu_count": 8,
    "machine": "x86_64",
    "os": "Linux-test",
    "python": "3.11.0",
    "hostname": "testhost",
    "dlbench": "0.1.0",
    "git_commit": "abc1234",
    "libraries": {"numpy": "2.0.0", "torch": "2.13.0"},
}


def _spec(**fields):
    from dlbench.spec.run import make_run

    return make_run(fields)


def _epochs(n: int, scale: float, epoch_s: float, val: bool) -> list[dict]:
    out = []
    for e in range(1, n + 1):
        loss = round(scale / e, 4)
        acc = round(1 - loss / 4, 4)
        rec = {
            "epoch": e,
            "train_loss": loss,
            "train_acc": acc,
            "epoch_s": epoch_s * (1.6 if e == 1 else 1.0),
        }
        if val:
            rec.update(val_loss=round(loss * 1.1, 4), val_acc=round(acc - 0.02, 4), val_s=0.01)
        out.append(rec)
    return out


def _row(run, *, status="finished", acc=0.85, epoch_s=1.0, classes=None, message=None, **extra):
    from dlbench.data import dataset_info
    from dlbench.spec.layers import summarize

    if classes is None:
        classes = list(dataset_info(run.dataset).class_names)
    summary = summarize(run.model_spec(), (1, 28, 28))
    n = len(classes)
    epochs = _epochs(run.epochs, 1.0 + 0.1 * run.repeat, epoch_s, val=run.val_fraction > 0)
    cm = None
    if status == "finished":
        cm = (np.eye(n, dtype=int) * 80 + np.roll(np.eye(n, dtype=int), 1, axis=1) * 7).tolist()
    row = {
        "run_id": run.run_id,
        "suite": "golden",
        "model": run.model_name,
        "dataset": run.dataset,
        "framework": run.framework,
        "device": run.device,
        "tuning": run.tuning,
        "status": status,
        "message": message,
        "started_at": "2024-01-02T03:00:00+00:00",
        "finished_at": FINISHED_AT,
        "params": summary.params,
        "params_excl_bn": summary.params_excl_bn,
        "macs": summary.macs,
        "epochs": run.epochs,
        "epochs_done": len(epochs) if status == "finished" else 1,
        "batch_size": run.batch_size,
        "optimizer": run.optimizer,
        "lr": run.lr,
        "seed": run.effective_seed,
        "repeat": run.repeat,
        "train_samples": 54000,
        "val_samples": 6000 if run.val_fraction else 0,
        "test_samples": 10000,
        "synthetic": 0,
        "load_s": 0.5,
        "build_s": 0.1,
        "compile_s": 0.0,
        "first_epoch_s": epochs[0]["epoch_s"],
        "steady_epoch_s": epoch_s if status == "finished" else None,
        "train_s": sum(e["epoch_s"] for e in epochs),
        "test_s": 0.25,
        "wall_s": 9.5,
        "samples_per_s": 54000 / epoch_s,
        "test_loss": 0.4 if status == "finished" else None,
        "test_acc": acc if status == "finished" else None,
        "peak_rss_bytes": 1 << 30,
        "spec": run.resolved(),
        "options": {"threads": 8, "tuning": run.tuning},
        "fingerprint": {**FINGERPRINT, "framework_versions": {"torch": "2.13.0"}},
        "confusion": cm,
        "class_names": classes,
        **extra,
    }
    return row, epochs if status == "finished" else epochs[:1]


def make_db(path: Path) -> Path:
    """Eight runs with fixed values: CPU and GPU repeats of one MLP (a speedup), a second
    framework (a comparison), a CNN (a budget), a hostile folder dataset, a failed run."""
    from dlbench.store.db import Store

    base = {"model": "a-mlp", "dataset": "fashion-mnist", "epochs": 3, "val_fraction": 0.1}
    rows = [
        _row(_spec(**base, device="cpu", repeat=0), acc=0.861, epoch_s=4.0),
        _row(_spec(**base, device="cpu", repeat=1), acc=0.858, epoch_s=4.4),
        _row(_spec(**base, device="cuda:0", repeat=0), acc=0.860, epoch_s=1.0),
        _row(_spec(**base, device="cuda:0", repeat=1), acc=0.863, epoch_s=1.2),
        _row(_spec(**base, device="cpu", framework="keras-tf"), acc=0.852, epoch_s=5.0),
        _row(
            _spec(model="b-cnn-20k", dataset="fashion-mnist", epochs=2, device="cpu"),
            acc=0.9,
            epoch_s=20.0,
            target_acc=0.85,
            target_on="test",
            tta_epoch=2,
            tta_s=32.0,
        ),
        _row(
            _spec(model="a-mlp", dataset=f"folder:/data/{XSS}", epochs=2, device="cpu"),
            acc=0.5,
            epoch_s=0.5,
            classes=[XSS, XSS_IMG, "$x^2$ & co"],
        ),
        _row(
            _spec(model="a-deep-mlp", dataset="fashion-mnist", epochs=2, device="cpu"),
            status="failed",
            message=f"RuntimeError: {XSS}",
        ),
    ]
    with Store(path) as store:
        for values, epochs in rows:
            store.add_run(values, epochs)
    return path


# -- a real database, trained once per test session (tests/conftest.py: trained_db) ------
def pattern_image(cls: int, size: int = 16, rng=None, rgb: bool = False) -> np.ndarray:
    """Class 0: bright top half; 1: bright bottom half; 2: bright left half; with noise."""
    rng = rng or np.random.default_rng(cls)
    img = rng.integers(0, 60, (size, size)).astype(np.uint8)
    half = size // 2
    if cls == 0:
        img[:half] += 180
    elif cls == 1:
        img[half:] += 180
    else:
        img[:, :half] += 180
    return np.repeat(img[..., None], 3, axis=2) if rgb else img


# A three-class MLP, named in HTML that would run if unescaped.
FOLDER_MODEL = {
    "builder": "mlp",
    "widths": [64],
    "classes": 3,
    "name": "mlp3-<b onmouseover=alert(4)>",
}
FOLDER_CLASSES = (f"{XSS_IMG}", "plain", "<script>alert(3)")  # sorted: '<i', '<s', 'p'


def make_folder_dataset(root: Path, per_class: int = 40) -> Path:
    """A three-class image folder under a path holding <script>alert(1)</script>, whose class
    folders are named after HTML that would run if unescaped."""
    import cv2

    folder = root / "<script>alert(1)</script>"
    for c, name in enumerate(sorted(FOLDER_CLASSES)):
        d = folder / name
        d.mkdir(parents=True)
        rng = np.random.default_rng(100 + c)
        for i in range(per_class):
            cv2.imwrite(str(d / f"{i:03d}.png"), pattern_image(c, rng=rng))
    return folder


def train_db(root: Path, fashion: bool) -> tuple[Path, Path]:
    """digits (a-mlp), the hostile folder (a-mlp) and, with `fashion`, a-mlp on 3,000
    Fashion-MNIST images and b-cnn-20k on 1,000: one `dlbench run` of a small suite, in `root`.
    Returns the database and the folder dataset."""
    import yaml

    folder = make_folder_dataset(root)
    runs = [
        {"model": "a-mlp", "dataset": "digits", "epochs": 2},
        {
            "model": FOLDER_MODEL,
            "dataset": f"folder:{folder}",
            "epochs": 8,
            "batch_size": 16,
            "lr": 0.003,
        },  # fmt: skip
    ]
    if fashion:
        runs += [
            {
                "model": "a-mlp",
                "dataset": "fashion-mnist",
                "epochs": 5,
                "limit_train": 3000,
                "limit_test": 500,
            },  # fmt: skip
            {
                "model": "b-cnn-20k",
                "dataset": "fashion-mnist",
                "epochs": 1,
                "batch_size": 100,
                "limit_train": 500,
                "limit_test": 100,
            },  # fmt: skip
        ]
    suite = {
        "name": "report-tests",
        "defaults": {"framework": "torch", "device": "cpu", "threads": 1},
        "runs": runs,
    }
    (root / "suite.yaml").write_text(yaml.safe_dump(suite))
    db = root / "r.sqlite"
    out = subprocess.run(
        [sys.executable, "-m", "dlbench", "run", str(root / "suite.yaml"), "--db", str(db)],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "COLUMNS": "250"},
        check=False,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return db, folder


def run_ids(db: Path) -> dict[str, int]:
    """Row id by dataset kind (digits, folder, fashion-mnist) and model."""
    from dlbench.store.db import Store

    with Store(db, readonly=True) as store:
        rows = store.runs()
    out = {}
    for r in rows:
        kind = "folder" if r["dataset"].startswith("folder:") else r["dataset"]
        out[f"{r['model']}@{kind}"] = r.id
    return out


def invoke(*args) -> tuple[int, str, str]:
    """The CLI in this process, so torch is imported once: (exit code, stdout, stderr)."""
    import contextlib
    import io

    from dlbench.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main([str(a) for a in args])
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return code, out.getvalue(), err.getvalue()


def load_json(path: Path) -> dict:
    return json.loads(Path(path).read_text())
