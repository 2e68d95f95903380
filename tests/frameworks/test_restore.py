"""Restoring a stored run: class mapping, evaluation records, image fitting, Keras backends."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest

from dlbench.errors import UserError
from dlbench.frameworks import restore


def test_map_classes_by_name_then_by_index():
    digits = tuple(str(i) for i in range(10))
    assert restore.map_classes((*digits, "x"), digits) == ([*range(10), None], "name")
    assert restore.map_classes(("Cat ", "dog"), ("dog", "cat")) == ([1, 0], "name")
    assert restore.map_classes(("a", "b", "c"), ("0", "1")) == ([0, 1, None], "index")


def test_evaluation_record_counts_unknown_classes_as_wrong():
    y_true = np.array([0, 0, 1, 1, 2, 2])  # dataset classes: 0, 1, x
    y_pred = np.array([0, 1, 1, 1, 0, 1])  # model classes: 0, 1
    ev = restore.evaluation_record(y_true, y_pred, ("0", "1", "x"), ("0", "1"))
    assert ev["confusion"] == [[1, 1], [0, 2], [1, 1]]
    assert ev["unknown_classes"] == ["x"] and ev["mapping"] == [0, 1, None]
    assert ev["accuracy"] == pytest.approx(3 / 6)
    assert ev["accuracy_known"] == pytest.approx(3 / 4) and ev["known_samples"] == 4


def test_fit_images_makes_the_training_shape():
    rgb = np.random.default_rng(0).integers(0, 255, (40, 30, 3), dtype=np.uint8)
    gray = np.full((8, 8, 1), 200, np.uint8)
    out = restore.fit_images([rgb, gray], (1, 16, 16))
    assert out.shape == (2, 16, 16, 1) and out.dtype == np.uint8
    assert (out[1] == 200).all()
    assert restore.fit_images([gray], (3, 8, 8)).shape == (1, 8, 8, 3)


def test_keras_backend_is_set_before_import_or_refused(monkeypatch):
    import dlbench.frameworks as fw

    monkeypatch.setattr(fw, "adapter", lambda name: f"adapter:{name}")
    monkeypatch.delitem(sys.modules, "keras", raising=False)
    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    assert restore.import_adapter("keras-jax") == "adapter:keras-jax"
    assert restore.import_adapter("torch") == "adapter:torch"
    import os

    assert os.environ["KERAS_BACKEND"] == "jax"
    fake = types.SimpleNamespace(config=types.SimpleNamespace(backend=lambda: "jax"))
    monkeypatch.setitem(sys.modules, "keras", fake)
    assert restore.import_adapter("keras-jax") == "adapter:keras-jax"
    with pytest.raises(UserError, match="tensorflow backend.*already imported Keras with the jax"):
        restore.import_adapter("keras-tf")


def test_runs_without_weights_say_why(synthetic_rows, synthetic_db):
    with pytest.raises(UserError, match="--no-save"):
        restore.weights_file(synthetic_rows[0], synthetic_db)
    with pytest.raises(UserError, match="failed"):
        restore.weights_file(synthetic_rows[7], synthetic_db)
    with pytest.raises(UserError, match="has no run 99"):
        restore.find_run(synthetic_db, 99)


def test_moved_artifacts_are_found_beside_the_database(tmp_path):
    from dlbench.store.db import RunRow

    moved = tmp_path / "r-artifacts" / "abc-123"
    moved.mkdir(parents=True)
    (moved / "weights.pt").write_bytes(b"x")
    row = RunRow(
        1, {"status": "finished", "weights_path": "/gone/r-artifacts/abc-123/weights.pt"}, []
    )
    assert restore.artifacts_dir(row, tmp_path / "r.sqlite") == moved
    assert restore.weights_file(row, tmp_path / "r.sqlite") == moved / "weights.pt"


def test_dataset_slug_is_a_safe_unique_file_name():
    a = restore.dataset_slug("folder:/x/<script>alert(1)</script>?size=28")
    b = restore.dataset_slug("folder:/x/<script>alert(1)</script>?size=32")
    assert a != b and "/" not in a and "<" not in a
