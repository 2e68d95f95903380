"""`dlbench predict`, `featuremaps`, `evaluate`, `report` and `export` on a real database.

The database (tests/conftest.py: trained_db) is trained once per session by `dlbench run`:
a-mlp on digits, a three-class MLP on a folder dataset with hostile names, and, with
Fashion-MNIST installed, a-mlp on 3,000 images and b-cnn-20k on 500. The commands run in this
process, so torch is imported once.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import needs_fashion, needs_torch, writable_copy
from tests.report.helpers import FOLDER_CLASSES, invoke, make_db, pattern_image

pytestmark = [needs_torch, pytest.mark.slow]  # the database is trained in a child process


@pytest.fixture(scope="module")
def db(trained_db, tmp_path_factory):
    """A copy: these tests write evaluations and feature maps beside it."""
    return writable_copy(trained_db, tmp_path_factory.mktemp("report-db"))


@pytest.fixture(scope="module")
def ids(trained_db):
    return trained_db.ids


def _predictions(out: str) -> dict[str, str]:
    """image path -> predicted class, from predict's output (header line skipped)."""
    lines = out.strip().splitlines()[1:]
    return {ln.split(": ", 1)[0]: ln.split(": ", 1)[1].rsplit(" (", 1)[0] for ln in lines}


@needs_fashion
def test_predict_fashion_mnist_pngs(db, ids, tmp_path):
    import cv2

    from dlbench.data import load_dataset

    ds = load_dataset("fashion-mnist", limit_train=0, limit_test=10)
    paths = []
    for i, img in enumerate(ds.x_test):
        path = tmp_path / f"test-{i}.png"
        cv2.imwrite(str(path), img[..., 0])
        paths.append(path)
    code, out, err = invoke("predict", ids["a-mlp@fashion-mnist"], *paths, "--db", db)
    assert code == 0, err
    assert "images made gray 28x28, normalize scale" in out
    got = _predictions(out)
    right = sum(got[str(p)] == ds.class_names[y] for p, y in zip(paths, ds.y_test, strict=True))
    assert right >= 7, out
    code, out, _ = invoke("predict", ids["a-mlp@fashion-mnist"], paths[0], "--top", "3", "--db", db)
    assert code == 0 and out.strip().splitlines()[1].count("%)") == 3


def test_predict_folder_dataset_resizes_and_grays(db, ids, tmp_path):
    import cv2

    names = sorted(FOLDER_CLASSES)
    expected = {}
    for c in range(3):
        for k in range(2):
            img = pattern_image(c, size=40, rng=np.random.default_rng(900 + 3 * k + c), rgb=True)
            path = tmp_path / f"new-{c}-{k}.png"
            cv2.imwrite(str(path), img)
            expected[str(path)] = names[c]
    code, out, err = invoke(
        "predict", ids["mlp3-<b onmouseover=alert(4)>@folder"], *expected, "--db", db
    )
    assert code == 0, err
    assert "images made gray 16x16" in out
    got = _predictions(out)
    assert sum(got[p] == name for p, name in expected.items()) >= 5, out


@pytest.fixture(scope="module")
def featuremaps_out(db, ids):
    if "b-cnn-20k@fashion-mnist" not in ids:
        pytest.skip("Debian's dataset-fashion-mnist is not installed")
    return invoke("featuremaps", ids["b-cnn-20k@fashion-mnist"], "--samples", "1,4,7", "--db", db)


def test_featuremaps_report_b_cnn(featuremaps_out):
    code, out, err = featuremaps_out
    assert code == 0, err
    assert "1: Ankle boot, 4: Trouser, 7: Coat" in out
    assert "conv1: 20 channels of 28x28" in out and "conv2: 30 channels of 14x14" in out
    files = [ln.strip() for ln in out.splitlines() if ln.startswith("  ")]
    assert len(files) == 4 and all(f.endswith((".png", ".svg")) for f in files)
    folder = Path(files[0]).parent
    index = json.loads((folder / "index.json").read_text())
    shapes = {e["layer"]: e["shape"] for e in index["figures"]}
    assert shapes == {"conv1": [3, 20, 28, 28], "conv2": [3, 30, 14, 14]}


def test_featuremaps_refuses_an_mlp_and_bad_samples(db, ids, tmp_path):
    code, _, err = invoke("featuremaps", ids["a-mlp@digits"], "--db", db, "--out", tmp_path)
    assert code == 2 and "no convolution layer" in err
    code, _, err = invoke("featuremaps", ids["a-mlp@digits"], "--samples", "0,2", "--db", db)
    assert code == 2 and "numbered from 1" in err


def test_restored_model_gives_dense_activations(db, ids):
    """Activations of dense layers come back as (samples, units), conv layers' as NCHW."""
    from dlbench.data import load_dataset
    from dlbench.frameworks.restore import find_run, restore

    model = restore(find_run(db, ids["a-mlp@digits"]), db)
    x = model.prepare(list(load_dataset("digits", limit_train=0, limit_test=4).x_test))
    maps = model.activations(x, ["dense1", "dense2"])
    assert maps["dense1"].shape == (4, 128) and (maps["dense1"] >= 0).all()  # after its ReLU
    assert maps["dense2"].shape == (4, 128) and maps["dense1"].std() > 0


@pytest.fixture(scope="module")
def homemade(tmp_path_factory):
    """Report C's own data: digits in folders 0..9 (32x32 RGB, upscaled from the digits test
    set) and an extra folder x of things that are not digits."""
    import cv2

    from dlbench.data import load_dataset

    ds = load_dataset("digits", limit_train=0, limit_test=60)
    root = tmp_path_factory.mktemp("homemade") / "homemade"
    for i, (img, y) in enumerate(zip(ds.x_test, ds.y_test, strict=True)):
        d = root / str(int(y))
        d.mkdir(parents=True, exist_ok=True)
        big = cv2.resize(img[..., 0], (32, 32), interpolation=cv2.INTER_NEAREST)
        cv2.imwrite(str(d / f"{i}.png"), np.dstack([big, big, big]))
    rng = np.random.default_rng(7)
    (root / "x").mkdir()
    for i in range(6):
        cv2.imwrite(str(root / "x" / f"{i}.png"), rng.integers(0, 255, (32, 32, 3), dtype=np.uint8))
    return root


@pytest.fixture(scope="module")
def evaluated(db, ids, homemade):
    return invoke("evaluate", ids["a-mlp@digits"], "--dataset", f"folder:{homemade}", "--db", db)


def test_evaluate_with_an_extra_class_is_not_square(evaluated, homemade):
    code, out, err = evaluated
    assert code == 0, err
    assert "classes matched by name" in out and "unknown to the model: x" in out
    path = out.strip().splitlines()[-1].split("stored in ", 1)[1].split(" (shown", 1)[0]
    ev = json.loads(Path(path).read_text())
    cm = np.array(ev["confusion"])
    assert cm.shape == (11, 10) and cm.sum() == 66 and cm[10].sum() == 6
    assert ev["class_names"][-1] == "x" and ev["mapping"][-1] is None
    assert ev["split"] == "all" and ev["model_input_shape"] == [1, 8, 8]
    correct = sum(cm[i, i] for i in range(10))
    assert ev["accuracy"] == pytest.approx(correct / 66)
    assert ev["accuracy_known"] == pytest.approx(correct / 60)
    assert correct / 60 > 0.6


def test_evaluate_says_what_it_converted(evaluated, homemade):
    """The digits model (1x8x8 gray) on 32x32 RGB folders: the images were made gray and
    resized, and the command says so instead of doing it silently."""
    code, out, err = evaluated
    assert code == 0, err
    flat = " ".join(out.split())
    assert (
        f"images converted: folder:{homemade} is 3x32x32 RGB, the model was trained on "
        "1x8x8 gray: made gray, resized to 8x8 (cv2.INTER_AREA)"
    ) in flat


def test_export_json_carries_evaluations(db, ids, evaluated, tmp_path):
    code, out, err = invoke("export", "--format", "json", "--db", db, "--runs", ids["a-mlp@digits"])
    assert code == 0, err
    (run,) = json.loads(out)["runs"]
    assert run["evaluations"][0]["confusion"] and run["epoch_records"]
    code, out, _ = invoke("export", "--format", "md", "--db", db, "--out", tmp_path / "r.md")
    assert code == 0 and (tmp_path / "r.md").read_text().startswith("| id |")


def test_errors_are_one_line(db, tmp_path):
    code, _, err = invoke("predict", "99", str(tmp_path / "x.png"), "--db", db)
    assert code == 2 and "has no run 99" in err
    synthetic = make_db(tmp_path / "s.sqlite")
    code, _, err = invoke("predict", "1", str(tmp_path / "x.png"), "--db", synthetic)
    assert code == 2 and "--no-save" in err
    code, _, err = invoke("export", "--format", "xml", "--db", synthetic)
    assert code == 2 and "unknown format" in err


def test_predict_unreadable_image(db, ids, tmp_path, trained_db):
    bad = tmp_path / "bad.png"
    bad.write_text("not an image")
    code, _, err = invoke("predict", ids["a-mlp@digits"], bad, "--db", db)
    assert code == 2 and "not an image" in err
    assert trained_db.folder.exists()


FRAMEWORK_MODULES = ("torch", "keras", "tensorflow", "jax")
_FRESH = """
import json, sys
from dlbench.cli import main

db, out = sys.argv[1], sys.argv[2]
for args in (["report", "--db", db, "--out", out], ["results", "--db", db]):
    try:
        main(args)
    except SystemExit as exc:  # the CLI's main() ends with sys.exit(code)
        assert exc.code in (0, None), exc.code
print("IMPORTED " + json.dumps([m for m in %r if m in sys.modules]))
"""


def test_report_shows_evaluations_feature_maps_and_samples_and_imports_no_framework(
    db, evaluated, featuremaps_out, tmp_path
):
    """`dlbench report` and `dlbench results`, in a fresh interpreter: the report holds the
    evaluations, feature maps and sample grids (their models predict in a child process), and
    torch, keras, tensorflow and jax are left unimported. One report, built once for both."""
    import os
    import subprocess
    import sys

    out_html = tmp_path / "report.html"
    code = _FRESH % (FRAMEWORK_MODULES,)
    proc = subprocess.run(
        [sys.executable, "-c", code, str(db), str(out_html)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2] / "src")},
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    imported = json.loads(proc.stdout.split("IMPORTED ", 1)[1])
    assert imported == []
    html = out_html.read_text()
    assert "counts as wrong" in html and "rows are the dataset&#39;s 11 classes" in html
    assert "featuremaps-run-" in html and "samples-digits" in html
    listed = [ln.strip() for ln in proc.stdout.splitlines() if ln.startswith("  ")]
    listed = [p for p in listed if p.endswith((".png", ".svg"))]  # the figures report wrote
    assert listed and all(Path(p).exists() for p in listed)
    assert len(listed) == 2 * html.count("<figure ")
    assert "a-mlp" in proc.stdout.split("IMPORTED ", 1)[0]  # the results table


def test_sample_grid_without_weights_says_why_and_the_others_stay(trained_db, ids, tmp_path):
    """The digits run's weights deleted: its grid is a note saying so, and the other datasets'
    grids, predicted in the same torch process, are still drawn (the report's sample section,
    rendered on its own: the rest of the report is the test above)."""
    from dlbench.report.html import render
    from dlbench.report.page import Figures
    from dlbench.report.sections.models import samples_section
    from dlbench.report.select import select_runs
    from dlbench.store.artifacts import find_run, weights_file
    from dlbench.store.db import Store

    copy = writable_copy(trained_db, tmp_path)
    run = ids["a-mlp@digits"]
    weights_file(find_run(copy, run), copy).unlink()
    with Store(copy, readonly=True) as store:
        rows = select_runs(store.runs(), None)
    (tmp_path / "report_files").mkdir()
    figs = Figures(tmp_path / "report_files")
    section = samples_section(rows, copy, figs, None, True)
    html = render([section], title="t", subtitle="s", files_dir="report_files", files=figs.files)
    assert f"digits: no grid (run {run}: run {run}: its weights" in html
    assert "are gone" in html and "samples-digits" not in html
    assert "samples-folder" in html  # the hostile folder's grid, from the same process
